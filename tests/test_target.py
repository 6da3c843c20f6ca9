"""target.py: the key-mode guard reads each provider's declaration and fails closed."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import types
from pathlib import Path

import pytest

from rehearsal import providers
from rehearsal.errors import RehearsalError, SafetyRefusal, UsageError
from rehearsal.providers.base import Callbacks
from rehearsal.providers.config import http_timeout_from_env, parse_webhook_secrets
from rehearsal.providers.declaration import KeyVariable, LiveRefusal, ProviderDeclaration
from rehearsal.session.target import open_target

# A stand-in API base: every refusal below comes before anything is reached.
NOWHERE = "http://127.0.0.1:9"


def provider_env(
    monkeypatch: pytest.MonkeyPatch, declared: ProviderDeclaration, secret_key: str
) -> None:
    for key in declared.keys:
        monkeypatch.delenv(key.variable, raising=False)
    monkeypatch.setenv(declared.api_base_variable, NOWHERE)
    monkeypatch.setenv(declared.secret_key.variable, secret_key)
    monkeypatch.setenv(declared.webhook_secret_variable, "whsec_x")


def open_(provider: str, tmp_path: Path, *, live: bool) -> None:
    target = open_target(provider, live=live, force_simulator=False, state_dir=tmp_path)
    target.close()  # not reached in these tests


@pytest.mark.parametrize("name", providers.names())
def test_every_registered_provider_declares_both_modes_of_every_key(name: str) -> None:
    declared = providers.declaration_of(name)
    assert declared.name == name
    assert declared.missing_key_modes() == []


@pytest.mark.parametrize("name", providers.names())
@pytest.mark.parametrize(("key_mode", "live"), [("live", False), ("test", True)])
def test_a_key_of_the_other_mode_is_refused_for_every_provider(
    name: str, key_mode: str, live: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = providers.declaration_of(name)
    key = declared.secret_key.prefixes[key_mode] + "abc123"  # type: ignore[index]
    provider_env(monkeypatch, declared, key)
    with pytest.raises(SafetyRefusal) as refused:
        open_(name, tmp_path, live=live)
    assert refused.value.exit_code == 4
    if live and declared.live_refused is not None:  # refused before its keys are read
        assert "not rehearsed in live mode" in refused.value.message
    else:
        assert declared.secret_key.variable in refused.value.message
    assert key not in refused.value.message + str(refused.value.hint)


@pytest.mark.parametrize("name", providers.names())
@pytest.mark.parametrize("key", ["pk_test_abc", "sk_abc", "abc", "SK_TEST_abc", " sk_test_abc"])
def test_an_unknown_prefix_is_refused_for_every_provider(
    name: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = providers.declaration_of(name)
    provider_env(monkeypatch, declared, key)
    with pytest.raises(UsageError) as refused:
        open_(name, tmp_path, live=False)
    assert refused.value.exit_code == 2
    assert f"{declared.secret_key.variable} has an unknown prefix" in refused.value.message
    assert key not in refused.value.message + str(refused.value.hint)


def register(monkeypatch: pytest.MonkeyPatch, declaration: object | None) -> None:
    """A third provider, 'fakepay', whose package holds `declaration` (None: no attribute)."""
    module = types.ModuleType("fakepay_package")
    if declaration is not None:
        module.DECLARATION = declaration  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fakepay_package", module)
    monkeypatch.setitem(providers.REGISTRY, "fakepay", "fakepay_package")
    monkeypatch.setenv("FAKEPAY_API_BASE", NOWHERE)
    monkeypatch.setenv("FAKEPAY_SECRET_KEY", "fk_live_abc")  # a live key, in test mode
    monkeypatch.setenv("FAKEPAY_WEBHOOK_SECRET", "whsec_x")


def fakepay(prefixes: dict[str, str]) -> ProviderDeclaration:
    return ProviderDeclaration(
        name="fakepay",
        adapter="fakepay_package.adapter:from_config",
        secret_key=KeyVariable("FAKEPAY_SECRET_KEY", prefixes),  # type: ignore[arg-type]
        api_base_variable="FAKEPAY_API_BASE",
        webhook_secret_variable="FAKEPAY_WEBHOOK_SECRET",
    )


@pytest.mark.parametrize(
    "declaration",
    [
        None,  # registered, but its package declares nothing
        "not a declaration",
        fakepay({}),  # a declaration without key-mode info
        fakepay({"test": "fk_test_"}),  # only one mode declared
        fakepay({"test": "fk_", "live": "fk_"}),  # both modes alike
    ],
    ids=["none", "wrong-type", "no-prefixes", "test-only", "same-prefix"],
)
def test_a_provider_registered_without_key_modes_cannot_be_opened(
    declaration: object | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, declaration)
    with pytest.raises(SafetyRefusal) as refused:
        open_("fakepay", tmp_path, live=False)  # not silently passed
    assert "fakepay" in refused.value.message and "refusing" in refused.value.message
    assert "fk_live_abc" not in refused.value.message + str(refused.value.hint)
    with pytest.raises(SafetyRefusal):
        providers.create("fakepay", None)  # type: ignore[arg-type]


def test_a_declared_third_provider_is_guarded_like_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, fakepay({"test": "fk_test_", "live": "fk_live_"}))
    with pytest.raises(SafetyRefusal, match="FAKEPAY_SECRET_KEY is a live key, in test mode"):
        open_("fakepay", tmp_path, live=False)
    monkeypatch.setenv("FAKEPAY_SECRET_KEY", "xx_test_abc")
    with pytest.raises(UsageError, match="FAKEPAY_SECRET_KEY has an unknown prefix"):
        open_("fakepay", tmp_path, live=False)


def test_a_provider_whose_terms_forbid_live_testing_is_refused_before_its_keys_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = dataclasses.replace(
        fakepay({"test": "fk_test_", "live": "fk_live_"}),
        live_refused=LiveRefusal("its terms forbid it (source)", "rehearse in its sandbox"),
    )
    register(monkeypatch, declared)
    monkeypatch.setenv("FAKEPAY_SECRET_KEY", "fk_live_abc")
    with pytest.raises(SafetyRefusal) as refused:
        open_("fakepay", tmp_path, live=True)
    assert refused.value.message == (
        "fakepay is not rehearsed in live mode: its terms forbid it (source)"
    )
    assert refused.value.hint == "rehearse in its sandbox"
    assert refused.value.exit_code == 4
    # Test mode is untouched by the live policy: the key's mode is what refuses here.
    with pytest.raises(SafetyRefusal, match="is a live key, in test mode"):
        open_("fakepay", tmp_path, live=False)


def test_the_longest_declared_prefix_decides() -> None:
    key = KeyVariable("K", {"test": "sk_", "live": "sk_live_"})
    assert key.mode_of("sk_live_abc") == "live"
    assert key.mode_of("sk_abc") == "test"
    assert key.mode_of("pk_live_abc") is None


def test_stripe_restricted_keys_have_the_mode_of_their_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rk_test_` is a test-mode key (least privilege, as Stripe advises); `rk_live_` is
    refused in test mode like `sk_live_`, with the variable named and the key not shown."""
    declared = providers.declaration_of("stripe")
    assert declared.secret_key.mode_of("rk_test_51abc") == "test"
    assert declared.secret_key.mode_of("rk_live_51abc") == "live"
    assert "rk_test_… (test mode)" in declared.secret_key.expected()
    assert declared.missing_key_modes() == []
    provider_env(monkeypatch, declared, "rk_live_51abcdefgh")
    with pytest.raises(SafetyRefusal) as refused:
        open_("stripe", tmp_path, live=False)
    assert refused.value.message == "STRIPE_SECRET_KEY is a live key, in test mode"
    assert "rk_live_51abcdefgh" not in refused.value.message + str(refused.value.hint)
    provider_env(monkeypatch, declared, "rk_test_51abcdefgh")
    with pytest.raises(RehearsalError) as past_the_keys:  # refused later, for its address
        open_("stripe", tmp_path, live=False)
    assert "STRIPE_SECRET_KEY" not in past_the_keys.value.message


def test_a_prefix_declared_for_both_modes_is_a_gap() -> None:
    key = KeyVariable("K", {"test": "k_test_", "live": "k_live_"}, also={"live": ("k_test_",)})
    declared = dataclasses.replace(fakepay({}), secret_key=key)
    assert declared.missing_key_modes() == ["K has the same prefix in both modes"]


def test_declarations_import_neither_httpx_nor_an_adapter() -> None:
    """`rehearsal --help` stays quick: reading every declaration loads no HTTP stack."""
    code = (
        "import sys\n"
        "from rehearsal import providers\n"
        "for n in providers.names(): providers.declaration_of(n)\n"
        "heavy = [m for m in sys.modules if m == 'httpx' or m.endswith('.adapter')]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("whsec_a", ["whsec_a"]),
        ("whsec_a, whsec_b", ["whsec_a", "whsec_b"]),  # a space after the comma: rotation works
        (" whsec_a ,\twhsec_b\n", ["whsec_a", "whsec_b"]),
    ],
)
def test_webhook_secret_entries_are_trimmed(value: str, expected: list[str]) -> None:
    assert parse_webhook_secrets("MINTCASH_WEBHOOK_SECRET", value) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("whsec_a1b2,", "an empty entry at position 2 of 2"),
        (",whsec_a1b2", "an empty entry at position 1 of 2"),
        ("whsec_a1b2, ,whsec_c3d4", "an empty entry at position 2 of 3"),
        (",", "holds no secret"),
        ("  ", "holds no secret"),
    ],
)
def test_an_empty_webhook_secret_entry_is_refused_by_position(value: str, says: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_webhook_secrets("MINTCASH_WEBHOOK_SECRET", value)
    text = refused.value.message + str(refused.value.hint)
    assert says in refused.value.message and "MINTCASH_WEBHOOK_SECRET" in text
    assert "a1b2" not in text and "c3d4" not in text


def test_api_only_opens_a_remote_provider_without_a_public_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = providers.declaration_of("mintcash")
    provider_env(monkeypatch, declared, "sk_test_abc")
    monkeypatch.setenv(declared.api_base_variable, "https://api.mintcash.invalid")
    with pytest.raises(UsageError, match="cannot reach a receiver"):
        open_("mintcash", tmp_path, live=False)  # a run needs a public path for webhooks
    monkeypatch.setenv(declared.api_base_variable, NOWHERE)
    target = open_target(
        "mintcash", live=False, force_simulator=False, state_dir=tmp_path, api_only=True
    )
    try:
        assert not target.simulated and target.control is None
        assert target.description == f"mintcash at {NOWHERE} (test mode, API only)"
    finally:
        target.close()


@pytest.mark.parametrize(
    ("value", "expected"), [("", 15.0), ("2.5", 2.5), (" 30 ", 30.0), ("1e-1", 0.1)]
)
def test_http_timeout_from_the_environment(
    value: str, expected: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REHEARSAL_HTTP_TIMEOUT", value)
    assert http_timeout_from_env() == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("abc", "is not a number"),
        ("15s", "is not a number"),
        ("0", "must be finite and greater than 0"),
        ("-3", "must be finite and greater than 0"),
        ("nan", "must be finite and greater than 0"),
        ("inf", "must be finite and greater than 0"),
    ],
)
def test_a_bad_http_timeout_is_refused_for_every_target(
    value: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REHEARSAL_HTTP_TIMEOUT", value)
    with pytest.raises(UsageError) as refused:
        open_target("mintcash", live=False, force_simulator=True, state_dir=tmp_path)
    assert refused.value.message == f"REHEARSAL_HTTP_TIMEOUT {says}"
    assert "seconds greater than 0" in str(refused.value.hint)


def test_the_http_timeout_bounds_each_call_to_a_standalone_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call held longer than REHEARSAL_HTTP_TIMEOUT times out and is retried with the
    same key: the fault suite's held calls without waiting the default 15 s."""
    from rehearsal.providers.base import ApiCall
    from rehearsal.simulator.faults import Faults
    from rehearsal.simulator.server import Simulator

    sim = Simulator(
        tmp_path / "books.sqlite",
        faults=Faults.parse(["hold:POST /payments=1x1"]),
        time_scale=0.01,
    )
    base = sim.start()
    monkeypatch.setenv("MINTCASH_API_BASE", base)
    monkeypatch.setenv("MINTCASH_SECRET_KEY", sim.keys.test_secret)
    monkeypatch.setenv("MINTCASH_WEBHOOK_SECRET", sim.keys.webhook_secret)
    monkeypatch.setenv("REHEARSAL_HTTP_TIMEOUT", "0.3")
    calls: list[ApiCall] = []
    try:
        target = open_target(
            "mintcash",
            live=False,
            force_simulator=False,
            state_dir=tmp_path,
            observer=Callbacks(on_call=calls.append),
        )
        try:
            assert target.config.http_timeout == 0.3
            payment = target.provider.create_payment(
                idempotency_key="rh-timeout-charge", amount=500, currency="USD", card="pm_card_visa"
            )
        finally:
            target.close()
    finally:
        sim.stop()
    assert payment.status == "succeeded"
    assert [c.status for c in calls if c.method == "POST"][:1] == [None]  # timed out
    assert calls[0].duration_ms < 900  # not the 1 s hold, let alone 15 s

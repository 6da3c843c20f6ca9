"""The simulator is written from the providers' documentation, not from our adapters: no
simulator module imports rehearsal.providers (and no adapter imports the simulator). The two
independent halves are then checked against each other and against the documented examples:
signatures, test cards, paths."""

from __future__ import annotations

import ast
import hashlib
import hmac
from pathlib import Path

import pytest

from rehearsal.providers import signatures
from rehearsal.providers.mintcash import contract as mintcash_contract
from rehearsal.providers.paymongo import contract as paymongo_contract
from rehearsal.providers.paymongo import signature as paymongo_signature
from rehearsal.simulator.mintcash import wire as mintcash_wire
from rehearsal.simulator.paymongo import cards as paymongo_cards
from rehearsal.simulator.paymongo import signing as paymongo_signing
from rehearsal.simulator.paymongo import spec as paymongo_spec

ROOT = Path(__file__).resolve().parents[1] / "rehearsal"


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def offenders(folder: str, forbidden: str) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        hits = sorted(
            m for m in imported_modules(path) if m == forbidden or m.startswith(forbidden + ".")
        )
        if hits:
            bad[str(path.relative_to(ROOT.parent))] = hits
    return bad


def test_no_simulator_module_imports_the_adapters() -> None:
    assert offenders("simulator", "rehearsal.providers") == {}


def test_no_adapter_imports_the_simulator() -> None:
    assert offenders("providers", "rehearsal.simulator") == {}


def test_the_import_check_sees_every_spelling(tmp_path: Path) -> None:
    """The check must catch `import x`, `from x import y`, `from rehearsal import providers`
    and a relative `from ..providers import contract`."""
    folder = tmp_path / "rehearsal" / "simulator"
    folder.mkdir(parents=True)
    spellings = [
        "import rehearsal.providers.paymongo.contract\n",
        "from rehearsal.providers.paymongo import contract\n",
        "from rehearsal import providers\n",
        "from ..providers.paymongo import signature\n",
    ]
    for text in spellings:
        path = folder / "probe.py"
        path.write_text(text)
        found = imported_modules(path, tmp_path / "rehearsal")
        assert any(m.startswith("rehearsal.providers") for m in found), text
    path.write_text("from rehearsal.simulator.books import Books\nimport json\n")
    found = imported_modules(path, tmp_path / "rehearsal")
    assert not any(m.startswith("rehearsal.providers") for m in found)


# --- PayMongo signatures: the simulator signs, the adapter verifies -------------------------

# No full example is published by PayMongo (its securing-webhook page truncates the header).
# A third party's known answer (theYahia/paymongo-mcp src/tools/__tests__/new-tools.test.ts),
# recomputed below with hmac, stands in for one.
SECRET = "whsk_test_secret"
BODY = b'{"data":{"id":"evt_test","type":"event"}}'
T = 1700000000
KNOWN = "c9a9caba4e490f2713f1cb47300eadb9b073b893b293fc3057c69d1cb4edea42"


def test_both_paymongo_implementations_give_the_known_answer() -> None:
    signed = f"{T}.".encode() + BODY
    assert hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest() == KNOWN
    assert paymongo_signing.sign(SECRET, BODY, livemode=False, timestamp=T) == (
        f"t={T},te={KNOWN},li="
    )
    assert paymongo_signing.sign(SECRET, BODY, livemode=True, timestamp=T) == (
        f"t={T},te=,li={KNOWN}"
    )
    assert paymongo_signature.sign(SECRET, BODY, livemode=False, timestamp=T) == (
        paymongo_signing.sign(SECRET, BODY, livemode=False, timestamp=T)
    )


@pytest.mark.parametrize(("livemode", "environment"), [(False, "test"), (True, "live")])
def test_the_adapter_verifies_the_simulators_signatures(livemode: bool, environment: str) -> None:
    body = b'{"data":{"attributes":{"type":"payment.paid","livemode":%s}}}' % (
        b"true" if livemode else b"false"
    )
    header = paymongo_signing.sign(SECRET, body, livemode=livemode, timestamp=T)
    assert paymongo_signature.verify(header, body, [SECRET], environment=environment, now=T) == T
    other = "live" if environment == "test" else "test"
    with pytest.raises(signatures.SignatureError):
        paymongo_signature.verify(header, body, [SECRET], environment=other, now=T)
    with pytest.raises(signatures.SignatureError):
        paymongo_signature.verify(header, body + b" ", [SECRET], environment=environment, now=T)
    with pytest.raises(signatures.SignatureError):
        paymongo_signature.verify(header, body, ["whsk_other"], environment=environment, now=T)


def test_the_adapter_verifies_the_simulators_mintcash_signatures() -> None:
    header = mintcash_wire.sign("whsec_x", BODY, timestamp=T)
    assert signatures.verify(header, BODY, ["whsec_x"], now=T) == T
    assert header == signatures.sign("whsec_x", BODY, timestamp=T)
    with pytest.raises(signatures.SignatureError):
        signatures.verify(header, BODY, ["whsec_y"], now=T)


# --- the rest of what both sides say ---------------------------------------------------------


def test_every_card_a_plan_can_name_is_in_the_simulators_table_with_the_same_outcome() -> None:
    for name, card in paymongo_contract.TEST_CARDS.items():
        sim = paymongo_cards.TEST_CARD_BY_NUMBER.get(card.number)
        assert sim is not None, name
        assert (sim.failure_code, sim.authentication) == (card.failure_code, card.three_ds), name
    numbers = {card.number for card in paymongo_contract.TEST_CARDS.values()}
    assert numbers == set(paymongo_cards.TEST_CARD_BY_NUMBER), "a documented card has no name"


def test_the_paymongo_paths_and_limits_agree() -> None:
    shared = [
        "IDEMPOTENCY_HEADER", "MAX_IDEMPOTENCY_KEY", "PAYMENT_INTENTS", "PAYMENT_INTENT",
        "ATTACH", "PAYMENT_METHODS", "PAYMENT", "REFUNDS", "REFUND", "PLANS", "CUSTOMERS",
        "SUBSCRIPTIONS", "SUBSCRIPTION", "CANCEL", "TEST_CYCLE", "INVOICES", "WEBHOOKS",
        "WEBHOOK", "WEBHOOK_ENABLE", "WEBHOOK_DISABLE", "MIN_AMOUNT", "REFUND_REASONS",
        "CANCELLATION_REASONS", "THREE_DS_STATUS",
    ]  # fmt: skip
    for name in shared:
        assert getattr(paymongo_spec, name) == getattr(paymongo_contract, name), name
    assert paymongo_signing.HEADER == paymongo_signature.HEADER


def test_the_mintcash_wire_agrees() -> None:
    shared = [
        "AUTH_HEADER", "REQUEST_ID_HEADER", "IDEMPOTENT_REPLAY_HEADER", "SIGNATURE_HEADER",
        "PAYMENTS", "PAYMENT", "REFUND", "REFUNDS", "REFUND_ONE", "SUBSCRIPTIONS",
        "SUBSCRIPTION", "CANCEL", "EVENTS", "ADVANCE", "INTERVALS",
    ]  # fmt: skip
    for name in shared:
        assert getattr(mintcash_wire, name) == getattr(mintcash_contract, name), name
    assert {(c.token, c.number, c.failure_code) for c in mintcash_wire.TEST_CARDS} == {
        (c.token, c.number, c.failure_code) for c in mintcash_contract.TEST_CARDS.values()
    }

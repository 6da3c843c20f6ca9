"""The environment as CI templates write it, through the CLI: MINTCASH_WEBHOOK_SECRET's
entries trimmed for a rotation, an empty entry refused before any money moves (it would be
an empty HMAC key), and REHEARSAL_HTTP_TIMEOUT checked before any call."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_run_cli import rehearsal


def payments(standalone: dict[str, str]) -> list[dict[str, object]]:
    books = httpx.get(
        f"{standalone['MINTCASH_API_BASE']}/_sim/books",
        headers={"Authorization": f"Bearer {standalone['MINTCASH_SECRET_KEY']}"},
    ).json()
    return list(books["payments"])


@pytest.mark.parametrize(
    ("template", "position"),
    [("{secret},", "2 of 2"), (",{secret}", "1 of 2"), ("{secret}, ,whsec_old", "2 of 3")],
)
def test_an_empty_entry_is_refused_before_any_call(
    tmp_path: Path, standalone: dict[str, str], template: str, position: str
) -> None:
    secret = standalone["MINTCASH_WEBHOOK_SECRET"]
    env = {**standalone, "MINTCASH_WEBHOOK_SECRET": template.format(secret=secret)}
    result = rehearsal("run", state=tmp_path / "s", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"MINTCASH_WEBHOOK_SECRET has an empty entry at position {position}" in result.stderr
    assert "Traceback" not in result.stderr
    assert secret not in result.stdout + result.stderr
    assert standalone["MINTCASH_SECRET_KEY"] not in result.stdout + result.stderr
    assert payments(standalone) == []


def test_a_rotation_with_spaces_after_the_commas_verifies(
    tmp_path: Path, standalone: dict[str, str]
) -> None:
    secret = standalone["MINTCASH_WEBHOOK_SECRET"]
    env = {**standalone, "MINTCASH_WEBHOOK_SECRET": f"whsec_retired_one, {secret} "}
    result = rehearsal("run", state=tmp_path / "s", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout  # every webhook verified with the trimmed secret
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["fifteen", "0", "-1", "nan"])
def test_a_bad_http_timeout_is_refused_before_any_call(
    tmp_path: Path, standalone: dict[str, str], value: str
) -> None:
    env = {**standalone, "REHEARSAL_HTTP_TIMEOUT": value}
    result = rehearsal("run", state=tmp_path / "s", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "REHEARSAL_HTTP_TIMEOUT" in result.stderr and "greater than 0" in result.stderr
    assert "Traceback" not in result.stderr
    for secret in (standalone["MINTCASH_SECRET_KEY"], standalone["MINTCASH_WEBHOOK_SECRET"]):
        assert secret not in result.stdout + result.stderr
    assert payments(standalone) == []

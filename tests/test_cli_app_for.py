"""`rehearsal NAME ...` builds only NAME's command (cli.launch.app_for): its help, usage lines and
errors must read exactly as the whole app's, for every command and group."""

from __future__ import annotations

import pytest
from typer.main import get_command_name
from typer.testing import CliRunner

from rehearsal.cli import app as cli
from rehearsal.cli.launch import app_for

NAMES = sorted(
    {
        c.name or get_command_name(c.callback.__name__)
        for c in cli.app.registered_commands
        if c.callback
    }
    | {g.name for g in cli.app.registered_groups if g.name}
)


def test_every_command_and_group_is_found() -> None:
    assert {"run", "status", "cleanup", "audit", "simulator"} <= set(NAMES)
    for name in NAMES:
        slim = app_for(cli.app, [name])
        assert slim is not cli.app
        built = len(slim.registered_commands) + len(slim.registered_groups)
        assert built == 1, name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tail", [["--help"], ["--no-such-option"]])
def test_help_and_errors_read_as_the_whole_apps(name: str, tail: list[str]) -> None:
    runner = CliRunner()
    whole = runner.invoke(cli.app, [name, *tail], prog_name="rehearsal")
    slim = runner.invoke(app_for(cli.app, [name, *tail]), [name, *tail], prog_name="rehearsal")
    assert (slim.exit_code, slim.output) == (whole.exit_code, whole.output)
    assert whole.exit_code in (0, 2)


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version"], ["no-such-command"], ["-h"]])
def test_anything_but_a_command_gets_the_whole_app(argv: list[str]) -> None:
    assert app_for(cli.app, argv) is cli.app


def test_shell_completion_gets_the_whole_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_REHEARSAL_COMPLETE", "complete_bash")
    assert app_for(cli.app, ["run"]) is cli.app

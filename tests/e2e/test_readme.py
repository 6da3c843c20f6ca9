"""README.md works as printed: every fenced `sh` block is pasted into bash, as a newcomer
would, in a fresh folder against the simulator (this source tree on PYTHONPATH, behind a
stand-in `.venv`), and each command's exit code is what the README says (0 unless its
comment says `exits N`). Only the two fresh-machine setup lines are skipped (.ci/run runs
the test one itself). Blocks that need a real provider or a tunnel are fenced `shell` and
introduced as not runnable offline; nothing else may hold a command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from rehearsal.plan.load import load_plan

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SETUP = (
    "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/rehearsal run",
    "python3 -m venv .venv && .venv/bin/pip install -q '.[dev]' && .venv/bin/pytest",
)
NOT_OFFLINE = "Not runnable offline"
PLACEHOLDER = re.compile(r"…|\.\.\.|<[A-Za-z_ -]+>|\b(RUN|PLAN|STEP|PATH)\b")


def blocks(path: Path) -> list[tuple[str, list[str], str]]:
    """(language, lines, the paragraph before it) for each fenced block."""
    found: list[tuple[str, list[str], str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(`{3,})(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.groups()
        before = []
        j = i - 1
        while j >= 0 and (lines[j].strip() or not before):
            if lines[j].strip():
                before.insert(0, lines[j])
            j -= 1
        end = next(k for k in range(i + 1, len(lines)) if lines[k].strip() == fence)
        found.append((lang, lines[i + 1 : end], " ".join(before)))
        i = end + 1
    return found


def runnable() -> list[str]:
    return [
        line
        for lang, body, _ in blocks(README)
        if lang == "sh"
        for line in body
        if line.strip() and not line.lstrip().startswith("#") and line not in SETUP
    ]


def test_setup_lines_are_kept_verbatim_and_ci_runs_the_test_one() -> None:
    sh = [line for lang, body, _ in blocks(README) if lang == "sh" for line in body]
    for line in SETUP:
        assert line in sh
    assert SETUP[1] in (REPO / ".ci" / "run").read_text()


def test_every_command_block_is_runnable_or_marked_not_runnable_offline() -> None:
    found = blocks(README)
    assert {lang for lang, _, _ in found} <= {"sh", "shell", "text", "yaml", "json"}
    for lang, body, before in found:
        if lang == "shell":
            assert NOT_OFFLINE in before, body
        if lang == "sh":
            for line in body:
                assert not PLACEHOLDER.search(line.split("#")[0]), line
    assert len(runnable()) >= 10
    # The first lines say which providers are supported, and what the simulator is.
    head = README.read_text(encoding="utf-8")[:1500]
    for said in ("MintCash", "PayMongo", "Stripe", "simulator", "127.0.0.1"):
        assert said in head


def test_readme_commands_run_as_printed(tmp_path: Path) -> None:
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    shim = venv_bin / "rehearsal"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rehearsal "$@"\n')
    shim.chmod(0o755)
    (venv_bin / "activate").write_text(f'export PATH="{venv_bin}:$PATH"\n')
    rcs = tmp_path / "rcs"
    commands = runnable()
    script = "".join(f'{line}\necho "$?" >> "{rcs}"\n' for line in commands)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MINTCASH_", "PAYMONGO_", "REHEARSAL_", "GITHUB_"))
    }
    env |= {"REHEARSAL_STATE_DIR": str(tmp_path / "state"), "NO_COLOR": "1"}
    env["PATH"] = os.pathsep.join(  # no real `rehearsal` until the README activates the venv
        p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "rehearsal").exists()
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    got = [int(x) for x in rcs.read_text().split()]
    wanted = [int(m.group(1)) if (m := re.search(r"# exits (\d+)", c)) else 0 for c in commands]
    assert list(zip(commands, got, strict=True)) == list(zip(commands, wanted, strict=True)), (
        done.stdout[-4000:] + done.stderr[-4000:]
    )
    assert (tmp_path / "run.json").exists() and (tmp_path / "run.xml").exists()


def test_the_plans_reference_example_is_a_valid_plan(tmp_path: Path) -> None:
    (example,) = [body for lang, body, _ in blocks(REPO / "docs" / "plans.md") if lang == "yaml"]
    path = tmp_path / "example.yaml"
    path.write_text("\n".join(example) + "\n")
    plan = load_plan(path)
    documented = (REPO / "docs" / "plans.md").read_text()
    # Every field of every model is in the reference.
    from rehearsal.plan import model as models

    for model in (
        models.Plan,
        models.Expect,
        models.ChargeStep,
        models.RefundStep,
        models.SubscribeStep,
        models.AwaitRenewalStep,
        models.CancelStep,
        models.ManualStep,
    ):
        for name in model.model_fields:
            assert f"`{name}`" in documented, f"{model.__name__}.{name}"
    assert {s.action for s in plan.steps} == {
        "charge",
        "refund",
        "subscribe",
        "await_renewal",
        "cancel",
        "manual",
    }

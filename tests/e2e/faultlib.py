"""A fault harness judged by the provider's books, not by our ledger (issue 11).

It starts a standalone MintCash simulator (or uses the one a run embeds in its state
folder), runs the CLI as a user does (a subprocess, no terminal), kills it with SIGKILL or
SIGTERM at a seeded random moment, runs `rehearsal cleanup` until it exits 0 (killing that
too, if asked), and then compares three things for the run:

- the simulator's SQLite books, read directly (MintCash or PayMongo dialect): what was
  charged, refunded and left outstanding, which subscriptions are still active, and any
  double charge;
- `rehearsal status RUN --json`'s `money`;
- what the run was meant to do (its plan's shape).

Used by tests/e2e/test_fault_suite.py, tests/e2e/test_money_regressions.py and
bench/fault_suite.py. Only loopback, only subprocesses, no mocks.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
RUN_LINE = re.compile(r"\brun (\d{8}-\d{6}-[0-9a-zA-Z]+)\b")


# --- processes ------------------------------------------------------------------------------


def cli_env(state: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a CI job gives the CLI: no provider or rehearsal variables of ours,
    this source tree first on PYTHONPATH, unbuffered output (a killed process loses none)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MINTCASH_", "PAYMONGO_", "STRIPE_", "REHEARSAL_"))
    }
    path = os.environ.get("PYTHONPATH", "")
    env.update(
        REHEARSAL_STATE_DIR=str(state),
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), path) if p),
        # A cleanup waits until a call with no answer can no longer land: its last send,
        # plus the client's timeout, plus the landing window (300 s by default, for real
        # providers). The simulator answers in milliseconds: seconds are enough here.
        REHEARSAL_HTTP_TIMEOUT="5",
        REHEARSAL_LANDING_WINDOW="1",
    )
    env.update(extra or {})
    return env


def cli(
    *args: str, state: Path, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """`rehearsal ARGS` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "rehearsal", *args],
        cwd=REPO,
        env=cli_env(state, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class Spawned:
    """A CLI process whose output goes to a file (a pipe could fill and block it)."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    started: float

    def lines(self) -> list[str]:
        return self.out.read_text(errors="replace").splitlines()

    def text(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(
                f"{self.proc.args!r} still running after {timeout}s:\n{self.text()[-3000:]}"
            ) from None


def spawn(*args: str, state: Path, logs: Path, env: dict[str, str] | None = None) -> Spawned:
    logs.mkdir(parents=True, exist_ok=True)
    stem = f"{args[0]}-{time.monotonic_ns()}"
    out, err = logs / f"{stem}.out", logs / f"{stem}.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rehearsal", *args],
            cwd=REPO,
            env=cli_env(state, env),
            stdout=o,
            stderr=e,
            stdin=subprocess.DEVNULL,
        )
    return Spawned(proc, out, err, time.monotonic())


@dataclass(frozen=True)
class Kill:
    """When and how to kill a process: after it printed `lines` lines, `extra` seconds
    later (or after `after` seconds from its start when lines is 0)."""

    signal: signal.Signals
    lines: int = 0
    extra: float = 0.0
    after: float = 0.0

    @property
    def kind(self) -> str:
        return self.signal.name

    def describe(self) -> str:
        where = f"after line {self.lines}" if self.lines else f"at {self.after:.2f}s"
        return f"{self.kind} {where} (+{self.extra * 1000:.0f} ms)"


def random_kill(rng: random.Random, signals: Sequence[signal.Signals], max_lines: int) -> Kill:
    return Kill(rng.choice(list(signals)), rng.randint(1, max_lines), rng.uniform(0.0, 0.03))


def kill_at(spawned: Spawned, kill: Kill, deadline: float = 30.0) -> bool:
    """Kill `spawned` at `kill`'s moment; False when it ended before that moment."""
    end = time.monotonic() + deadline
    while spawned.proc.poll() is None and time.monotonic() < end:
        if kill.lines and len(spawned.lines()) >= kill.lines:
            break
        if not kill.lines and time.monotonic() - spawned.started >= kill.after:
            break
        time.sleep(0.005)
    else:
        if spawned.proc.poll() is not None:
            return False
    time.sleep(kill.extra)  # the seeded moment itself, not a wait for something
    if spawned.proc.poll() is not None:
        return False
    spawned.proc.send_signal(kill.signal)
    return True


# --- a standalone simulator -----------------------------------------------------------------


@dataclass
class StandaloneSimulator:
    """`rehearsal simulator` as its own process, killable and restartable on the same port
    and books."""

    folder: Path
    faults: list[str] = field(default_factory=list)
    provider: str = "mintcash"
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def db(self) -> Path:
        return self.folder / "books.sqlite"

    @property
    def base(self) -> str:
        return self.env[f"{self.provider.upper()}_API_BASE"]

    @property
    def secret(self) -> str:
        return self.env[f"{self.provider.upper()}_SECRET_KEY"]

    def start(self, deadline: float = 20.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = self.folder / f"simulator-{self.starts}.out"
        args = ["simulator", "--provider", self.provider, "--port", str(self.port)]
        args += ["--db", str(self.db), "--time-scale", "0.01"]
        for spec in self.faults:
            args += ["--fault", spec]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rehearsal", *args],
                cwd=REPO,
                env=cli_env(self.folder / "state"),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        end = time.monotonic() + deadline
        while True:  # the banner ends with the books line, printed once the server listens
            text = log.read_text(errors="replace")
            if "# books:" in text:
                break
            assert self.proc.poll() is None, f"the simulator exited {self.proc.returncode}:\n{text}"
            assert time.monotonic() < end, f"no simulator banner within {deadline}s:\n{text}"
            time.sleep(0.02)
        for line in text.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                self.env[name] = value
        self.port = httpx.URL(self.base).port or 0
        httpx.get(f"{self.base}/_sim/info", timeout=5).raise_for_status()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start again on the same port and books (the keys live in the books)."""
        end = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except AssertionError:  # the port may linger a moment after the kill
                if time.monotonic() > end:
                    raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def set_faults(self, specs: list[str]) -> None:
        """Arm faults through the control route; a spec the simulator does not know fails
        here, saying so (rate:, rate-after:, seed: and garble: are being added)."""
        r = httpx.put(
            f"{self.base}/_sim/faults",
            json={"faults": specs},
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=10,
        )
        assert r.status_code == 200, f"the simulator refused faults {specs}: {r.text}"

    def cli_env(self) -> dict[str, str]:
        return {k: v for k, v in self.env.items() if k.startswith(self.provider.upper())}


@contextmanager
def standalone_simulator(
    folder: Path, faults: Sequence[str] = (), provider: str = "mintcash"
) -> Iterator[StandaloneSimulator]:
    sim = StandaloneSimulator(folder, list(faults), provider)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


# --- the provider's books -------------------------------------------------------------------


@dataclass(frozen=True)
class PlanShape:
    """What a plan may create: more than this at the provider is a double charge."""

    charges: int = 1
    subscriptions: int = 1
    renewals: int = 1  # per subscription


DEFAULT_PLAN = PlanShape()


@dataclass
class BooksMoney:
    """One run's money as the simulator's books hold it (MintCash or PayMongo dialect)."""

    charged: int = 0
    refunded: int = 0
    active_subscriptions: list[str] = field(default_factory=list)
    double_charges: list[str] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    # PayMongo refunds live payments only: its test-mode money cannot be given back by
    # anyone, so it is counted apart (as `status --json` does), never as stranded.
    not_refundable_in_test: int = 0
    dialect: str = "mintcash"

    @property
    def outstanding(self) -> int:
        return self.charged - self.refunded

    @property
    def stranded(self) -> int:
        """Money left at the provider that a refund could still give back."""
        return self.outstanding - self.not_refundable_in_test

    def describe(self) -> str:
        test = (
            f" (of which {self.not_refundable_in_test} test money {self.dialect} refuses to refund)"
            if self.not_refundable_in_test
            else ""
        )
        return (
            f"charged {self.charged}, refunded {self.refunded}, outstanding {self.outstanding}"
            f"{test}, active subscriptions {self.active_subscriptions}"
        )


def _read_books(db: Path) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The books' dialect, payments and subscriptions. PayMongo's payments carry no key of
    ours: a one-off payment is the run's when its intent's metadata `rehearsal_key` is (the
    key goes in `external_id` here, as MintCash's does)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        payments = [dict(r) for r in con.execute("SELECT * FROM payments ORDER BY created_at")]
        subs = [dict(r) for r in con.execute("SELECT * FROM subscriptions ORDER BY created_at")]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        intents = (
            [dict(r) for r in con.execute("SELECT metadata, payment_ids FROM pm_intents")]
            if "pm_intents" in tables
            else []
        )
        stripe_subs = (
            [
                json.loads(r[0])
                for r in con.execute("SELECT body FROM st_objects WHERE kind = 'subscription'")
            ]
            if "st_objects" in tables
            else []
        )
    finally:
        con.close()
    if "st_objects" in tables:
        # Stripe's subscriptions live in the dialect's own objects (kept, marked deleted,
        # when their test clock is deleted); the run's key is in their metadata. Stripe
        # spells it `canceled`.
        subs = [
            {
                "id": b["id"],
                "external_id": (b.get("metadata") or {}).get("rehearsal_key"),
                "status": "cancelled" if b["status"] == "canceled" else b["status"],
            }
            for b in stripe_subs
        ]
        return "stripe", payments, subs
    if "pm_intents" not in tables:
        return "mintcash", payments, subs
    key_of: dict[str, str] = {}
    for intent in intents:
        key = (json.loads(intent["metadata"] or "null") or {}).get("rehearsal_key")
        for payment_id in json.loads(intent["payment_ids"] or "[]"):
            if key:
                key_of[payment_id] = str(key)
    for p in payments:
        p["external_id"] = p["external_id"] or key_of.get(p["id"])
    return "paymongo", payments, subs


def books_money(db: Path, run_id: str | None, shape: PlanShape = DEFAULT_PLAN) -> BooksMoney:
    """The run's objects in the books: payments whose externalId starts with `rh-RUN-`,
    subscriptions likewise, and every payment of those subscriptions (first period and
    renewals). With run_id None: everything in the books (a run killed before its id was
    known)."""
    if not db.exists():
        return BooksMoney()
    dialect, payments, subs = _read_books(db)
    prefix = f"rh-{run_id}-" if run_id else ""

    def ours(external_id: str | None) -> bool:
        return bool(external_id) and str(external_id).startswith(prefix)

    my_subs = [s for s in subs if ours(s["external_id"])]
    sub_ids = {s["id"] for s in my_subs}
    mine = [p for p in payments if ours(p["external_id"]) or p["subscription_id"] in sub_ids]
    taken = [p for p in mine if p["status"] != "failed"]
    money = BooksMoney(
        charged=sum(int(p["amount"]) for p in taken),
        refunded=sum(int(p["amount_refunded"]) for p in taken),
        active_subscriptions=sorted(s["id"] for s in my_subs if s["status"] != "cancelled"),
        payments=mine,
        subscriptions=my_subs,
        not_refundable_in_test=sum(
            int(p["amount"]) - int(p["amount_refunded"])
            for p in taken
            if dialect == "paymongo" and p["env"] == "test"
        ),
        dialect=dialect,
    )
    one_off = [p for p in taken if p["subscription_id"] is None]
    if run_id and len(one_off) > shape.charges:
        money.double_charges.append(
            f"{len(one_off)} one-off payments for {shape.charges} charge step(s): "
            + ", ".join(f"{p['id']} ({p['external_id']}, {p['amount']})" for p in one_off)
        )
    if run_id and len(my_subs) > shape.subscriptions:
        money.double_charges.append(
            f"{len(my_subs)} subscriptions for {shape.subscriptions} subscribe step(s): "
            + ", ".join(f"{s['id']} ({s['external_id']})" for s in my_subs)
        )
    for sub in my_subs:
        paid = [p for p in taken if p["subscription_id"] == sub["id"]]
        if len(paid) > 1 + shape.renewals:
            money.double_charges.append(
                f"subscription {sub['id']}: {len(paid)} payments for a first period and "
                f"{shape.renewals} renewal(s)"
            )
    return money


# --- what the tool says ---------------------------------------------------------------------


def status_json(run_id: str, state: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`rehearsal status RUN --json`, parsed; {"error": ...} when it is not JSON."""
    result = cli("status", run_id, "--json", state=state, env=env, timeout=60)
    try:
        doc: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        return {"error": f"exit {result.returncode}: {(result.stdout + result.stderr)[-800:]}"}
    return doc


def disagreements(books: BooksMoney, status: dict[str, Any]) -> list[str]:
    """Where `status --json`'s money differs from the books, each naming both sides."""
    if "error" in status:
        return [f"status --json failed: {status['error']}"]
    money = status.get("money") or {}
    expected = {
        "charged": books.charged,
        "refunded": books.refunded,
        "outstanding": books.stranded,
        "not_refundable_in_test": books.not_refundable_in_test,
    }
    found = []
    for name, want in expected.items():
        said = money.get(name)
        if name == "not_refundable_in_test" and said is None:
            said = 0  # a provider that refunds test money need not name the figure
        if said != want:
            found.append(f"status says {name} {said!r}, the books hold {want}")
    said = sorted(money.get("active_subscriptions") or [])
    if said != books.active_subscriptions:
        found.append(
            f"status says active subscriptions {said}, the books hold {books.active_subscriptions}"
        )
    return found


# --- one rehearsal, killed, settled and judged -----------------------------------------------


@dataclass
class Attempt:
    command: str
    exit: int | None
    kill: str | None
    seconds: float
    tail: str


@dataclass
class RunRecord:
    """One run from start to judgement."""

    label: str
    run_id: str | None
    attempts: list[Attempt]
    settled: bool  # cleanup (or the run itself) exited 0 within the deadline
    books: BooksMoney
    status: dict[str, Any]
    disagreements: list[str]
    seconds: float

    @property
    def kills(self) -> list[str]:
        return [a.kill.split()[0] for a in self.attempts if a.kill]

    @property
    def verdict(self) -> str | None:
        return self.status.get("verdict")

    @property
    def unknown_outcomes(self) -> list[Any]:
        return list((self.status.get("money") or {}).get("unknown_outcomes") or [])

    def problems(self) -> list[str]:
        """Everything the fault suite forbids, each saying what the books hold."""
        found = [f"double charge: {d}" for d in self.books.double_charges]
        if self.books.stranded:
            found.append(f"money left at the provider: the books hold {self.books.describe()}")
        elif self.books.active_subscriptions:
            found.append(
                f"subscriptions left active at the provider: {self.books.active_subscriptions}"
            )
        if not self.settled:
            found.append("cleanup never exited 0 within its deadline")
        if self.settled and self.unknown_outcomes:
            found.append(f"settled, yet status lists unknown outcomes {self.unknown_outcomes}")
        if self.verdict == "passed" and (self.books.stranded or self.books.active_subscriptions):
            found.append(f"verdict 'passed' while the books hold {self.books.describe()}")
        found += self.disagreements
        return found

    def report(self) -> str:
        steps = " → ".join(
            f"{a.command}:{a.exit}{' ' + a.kill if a.kill else ''}" for a in self.attempts
        )
        lines = [f"[{self.label}] run {self.run_id} ({steps})"]
        money = self.status.get("money")
        lines.append(f"    books : {self.books.describe()}")
        lines.append(f"    status: verdict {self.verdict!r}, money {money}")
        lines += [f"    ✗ {p}" for p in self.problems()]
        if self.problems():
            lines.append(f"    last output: {self.attempts[-1].tail[-600:]!r}")
        return "\n".join(lines)


def find_run_id(text: str, state: Path, env: dict[str, str]) -> str | None:
    if m := RUN_LINE.search(text):
        return m.group(1)
    listed = cli("runs", state=state, env=env, timeout=60).stdout.splitlines()[1:]
    ids = [line.split()[0] for line in listed if line.strip() and line[0].isdigit()]
    return ids[0] if ids else None


def rehearse(
    label: str,
    *,
    state: Path,
    books: Path,
    env: dict[str, str] | None = None,
    run_args: Sequence[str] = ("run", "--plain"),
    kill: Kill | None = None,
    cleanup_kills: Sequence[Kill] = (),
    shape: PlanShape = DEFAULT_PLAN,
    settle_deadline: float = 60.0,
    during: Callable[[Spawned], None] | None = None,
    between: Callable[[], None] | None = None,
) -> RunRecord:
    """Run, maybe kill (`kill`), settle with `cleanup` until it exits 0 (killing the first
    cleanups with `cleanup_kills`), then judge by `books` and `status --json`.
    `during(spawned)`, if given, runs while the run process is alive (e.g. kill the
    simulator); `between()` once the run has ended, before any cleanup (e.g. clear the
    simulator's faults, so the cleanup is not itself faulted)."""
    started = time.monotonic()
    logs = state.parent / "logs"
    attempts: list[Attempt] = []
    run = spawn(*run_args, state=state, logs=logs, env=env)
    if during is not None:
        during(run)
    killed = kill_at(run, kill) if kill else False
    code = run.wait(timeout=120)
    attempts.append(
        Attempt(
            "run",
            code,
            kill.describe() if kill and killed else None,
            time.monotonic() - run.started,
            run.text()[-2000:],
        )
    )
    if between is not None:
        between()
    run_id = find_run_id(run.text(), state, env or {})
    settled = code == 0
    if run_id and not settled:
        settled = settle(run_id, state, logs, env, cleanup_kills, attempts, settle_deadline)
    status = status_json(run_id, state, env) if run_id else {"error": "no run was recorded"}
    money = books_money(books, run_id, shape)
    return RunRecord(
        label,
        run_id,
        attempts,
        settled,
        money,
        status,
        disagreements(money, status) if run_id else [],
        time.monotonic() - started,
    )


def settle(
    run_id: str,
    state: Path,
    logs: Path,
    env: dict[str, str] | None,
    kills: Sequence[Kill],
    attempts: list[Attempt],
    deadline: float,
) -> bool:
    """`rehearsal cleanup RUN` until it exits 0, killing the first len(kills) attempts at
    their moments. Where the provider cannot look a key up (PayMongo), a plain cleanup
    exits 1 and names `rehearsal cleanup RUN --replay`: from then on the loop replays.
    False when the deadline passes first."""
    end = time.monotonic() + deadline
    pending = list(kills)
    replay = False
    while time.monotonic() < end:
        args = ("cleanup", run_id, "--replay") if replay else ("cleanup", run_id)
        job = spawn(*args, state=state, logs=logs, env=env)
        kill = pending.pop(0) if pending else None
        killed = kill_at(job, kill) if kill else False
        code = job.wait(timeout=max(5.0, end - time.monotonic()) + 30)
        attempts.append(
            Attempt(
                " ".join(args[:1] + args[2:]),
                code,
                kill.describe() if kill and killed else None,
                time.monotonic() - job.started,
                job.text()[-2000:],
            )
        )
        if code == 0 and not killed:
            return True
        if code == 2 and not killed and "pid" not in job.text():
            return False  # a usage error, not "locked by a live process": no retry helps
        if code == 1 and not killed and not replay and f"{run_id} --replay" in job.text():
            replay = True  # the operator's next step, as the message says
            continue
        if not killed:
            time.sleep(0.25)  # "try again later": poll within the deadline
    return False


def judge(records: Sequence[RunRecord]) -> str:
    """A failure message for every run with a problem (empty when all are clean)."""
    bad = [r for r in records if r.problems()]
    if not bad:
        return ""
    head = f"{len(bad)} of {len(records)} runs broke the money promise:\n"
    return head + "\n".join(r.report() for r in bad)


# --- a relay that misbehaves where the simulator has no switch ------------------------------

JsonEdit = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Rule:
    """What the relay does to calls matching METHOD and a path glob: answer 400 with a
    string `error` (garble), or edit the JSON request or response on the way."""

    method: str
    path: str
    garble: bool = False
    edit_request: JsonEdit | None = None
    edit_response: JsonEdit | None = None

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and fnmatch.fnmatchcase(path.split("?")[0], self.path)


class MisbehavingRelay:
    """An HTTP relay on 127.0.0.1 in front of a standalone simulator (it forwards
    /_sim/info too, so the CLI still knows it for a simulator)."""

    def __init__(self, upstream: str, rules: Sequence[Rule]) -> None:
        target = httpx.URL(upstream)
        host, port = target.host, target.port or 80

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = next((r for r in rules if r.matches(self.command, self.path)), None)
                if rule and rule.garble:
                    self._answer(400, b'{"error": "boom"}', {"content-type": "application/json"})
                    return
                if rule and rule.edit_request and body:
                    body = json.dumps(rule.edit_request(json.loads(body))).encode()
                skip = {"host", "content-length", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                conn = http.client.HTTPConnection(host, port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = {
                        k: v
                        for k, v in resp.getheaders()
                        if k.lower() not in ("content-length", "connection", "transfer-encoding")
                    }
                    status = resp.status
                except OSError:
                    self._answer(502, b"upstream unreachable", {"content-type": "text/plain"})
                    return
                finally:
                    conn.close()
                if rule and rule.edit_response and status < 300:
                    data = json.dumps(rule.edit_response(json.loads(data))).encode()
                self._answer(status, data, out)

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- waiting on the books -------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], bool], deadline: float) -> None:
    """Poll `check` until it holds; fail naming `what` after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"{what}: not within {deadline}s"
        time.sleep(0.05)


def faults_left(sim: StandaloneSimulator) -> list[int]:
    r = httpx.get(
        f"{sim.base}/_sim/faults", headers={"Authorization": f"Bearer {sim.secret}"}, timeout=10
    )
    return [int(f["left"]) for f in r.json()["api_faults"]]

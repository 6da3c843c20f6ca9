"""The receiver's acknowledgement throughput and latency, against a bare app on the same server.

Three endpoints run in this process, each on 127.0.0.1:

- a trivial asyncio server that answers every request with a fixed 200 (the load
  generator's own ceiling: what it can drive when the server does nothing at all);
- a bare Starlette app on rehearsal's uvicorn (rehearsal/net/server.py) that reads the body
  and answers 200 with no work (the baseline);
- the real Receiver on the same uvicorn: signature verified on the raw bytes, environment
  checked, de-duplicated, stored in a real SQLite state file before the answer, published.

The load comes from another process: `wrk` (Debian/Ubuntu: `apt-get install wrk`) with
bench/wrk_cycle.lua, sending pre-signed, distinct MintCash events over keep-alive
connections. Every endpoint gets the same requests. Each round measures each endpoint at
saturation (every connection sends its next request as soon as the answer arrives) and then
at half of that endpoint's saturation rate (connections paced); figures are medians over
the rounds.

    python bench/bench_receiver.py [--rounds 3] [--seconds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's rehearsal

from rehearsal.cli import launch

launch.prepare()  # the process as `rehearsal run` sets itself up (its collector policy)

from rehearsal.ledger.db import StateDB  # noqa: E402
from rehearsal.net.server import ServerThread  # noqa: E402
from rehearsal.providers import signatures  # noqa: E402
from rehearsal.providers.mintcash import contract  # noqa: E402
from rehearsal.providers.mintcash.adapter import MintCash  # noqa: E402
from rehearsal.receiver.endpoint import Receiver  # noqa: E402
from rehearsal.receiver.hub import EventHub  # noqa: E402

SECRET = "whsec_bench_not_a_real_secret_0123456789abcdef"
LUA = Path(__file__).with_name("wrk_cycle.lua")
FIXED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n"
    b'{"received":true}'
)


class FixedServer:
    """The generator's ceiling: an asyncio protocol that answers each request with FIXED."""

    class _Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
                if len(self.buf) < end + 4 + length:
                    return
                self.buf = self.buf[end + 4 + length :]
                self.transport.write(FIXED)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fixed", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(self._Protocol, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._up.set()
        self.loop.run_forever()
        server.close()

    def start(self) -> FixedServer:
        self._thread.start()
        if not self._up.wait(10):
            sys.exit("the fixed-answer server did not start")
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def bare_app(path: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"received": True})

    return Starlette(routes=[Route(path, ok, methods=["POST"])])


def write_requests(file: Path, host: str, path: str, count: int, prefix: str) -> None:
    """`count` distinct MintCash payment.succeeded events, signed now, as raw HTTP/1.1."""
    with file.open("wb") as out:
        for i in range(count):
            body = json.dumps(
                {
                    "eventId": f"evt_{prefix}_{i}",
                    "type": "payment.succeeded",
                    "environment": "test",
                    "createdAt": "2026-11-27T10:00:00Z",
                    "data": {
                        "object": {
                            "id": f"pay_{prefix}_{i}",
                            "object": "payment",
                            "amount": 500,
                            "currency": "USD",
                            "status": "succeeded",
                        }
                    },
                }
            ).encode()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                f"{contract.SIGNATURE_HEADER}: {signatures.sign(SECRET, body)}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            out.write(b"%d\n" % (len(head) + len(body)) + head + body)


def wrk(
    port: int, requests: Path, connections: int, seconds: float, pause_ms: float = 0
) -> dict[str, Any]:
    env = dict(os.environ, WRK_REQUESTS=str(requests), WRK_PAUSE_MS=f"{pause_ms:.3f}")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "5s"]
    done = subprocess.run(
        [*command, "-s", str(LUA), f"http://127.0.0.1:{port}/"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    result["rate"] = result["requests"] / result["seconds"]
    if any(result["errors"].values()):
        sys.exit(f"wrk saw errors against port {port}: {result['errors']}\n{done.stdout}")
    return result


def half_pause(connections: int, saturated: dict[str, Any]) -> float:
    """The per-connection pause (ms) that brings the rate to about half of saturation."""
    target = saturated["rate"] / 2
    return max(1.0, connections * 1000 / target - saturated["p50"] / 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("this bench drives the load with wrk: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="rehearsal-bench-"))
    store = StateDB(work / "rehearsal.sqlite")
    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_bench",
        webhook_secrets=[SECRET],
        environment="test",
    )
    receiver = Receiver(adapter.verify_webhook, environment="test", store=store, run_id="bench")
    receiver.start()
    path = receiver.path
    fixed = FixedServer().start()
    bare = ServerThread(bare_app("/webhooks/{token}"), name="bare").start()
    rport = int(receiver.url.split(":")[2].split("/")[0])
    ports = {"generator ceiling": fixed.port, "bare Starlette": bare.port, "receiver": rport}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"saturated": [], "half": []} for name in ports
    }
    conns, secs = args.connections, args.seconds
    try:
        shared = work / "shared.req"
        write_requests(shared, "127.0.0.1", path, 20000, "shared")
        for r in range(args.rounds):
            for name, port in ports.items():
                for phase in ("saturated", "half"):
                    requests = shared
                    if name == "receiver":  # distinct events every time: no duplicates
                        bare_rate = runs["bare Starlette"]["saturated"][-1]["rate"]
                        requests = work / "receiver.req"
                        count = int(bare_rate * secs * 1.5) + 1000
                        write_requests(requests, "127.0.0.1", path, count, f"r{r}{phase}")
                    if name == "generator ceiling" and phase == "half":
                        continue
                    pause = 0.0
                    if phase == "half":
                        pause = half_pause(conns, runs[name]["saturated"][-1])
                    before = dict(receiver.counts)
                    # A fresh event hub each measurement: a run's hub holds its own events
                    # (about ten); tens of thousands held make the collector's full passes
                    # long (35-85 ms measured), which a run never sees.
                    receiver.hub = EventHub()
                    res = wrk(port, requests, conns, secs, pause)
                    runs[name][phase].append(res)
                    if name == "receiver":
                        accepted = receiver.counts["accepted"] - before["accepted"]
                        others = {k: receiver.counts[k] - before[k] for k in before}
                        del others["accepted"]
                        if accepted < res["requests"] or any(others.values()):
                            sys.exit(f"receiver counts {receiver.counts} after {res['requests']}")
                    print(
                        f"round {r + 1} {name:18} {phase:9} {res['rate']:8.0f}/s "
                        f"p50 {res['p50']:6.2f} ms  p99 {res['p99']:6.2f} ms",
                        flush=True,
                    )
        commits = getattr(receiver, "_commits", None)  # absent before group commit
        if commits is not None and commits.batches:
            print(f"group commit: {commits.written / commits.batches:.1f} deliveries a transaction")
    finally:
        receiver.stop()
        bare.stop()
        fixed.stop()
    stored = store._rows("SELECT count(*) AS n FROM deliveries WHERE verdict = 'accepted'")[0]["n"]
    if stored != receiver.counts["accepted"]:
        sys.exit(f"stored {stored} deliveries, accepted {receiver.counts['accepted']}")

    def med(name: str, phase: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[name][phase])

    print()
    print(
        f"wrk -t1 -c{conns}, {secs:g} s a measurement, medians of {args.rounds} rounds; "
        f"{receiver.counts['accepted']} distinct signed events stored by the receiver"
    )
    print(f"{'endpoint':20} {'phase':>10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ports:
        for phase in ("saturated", "half"):
            if runs[name][phase]:
                print(
                    f"{name:20} {phase:>10} {med(name, phase, 'rate'):9.0f} "
                    f"{med(name, phase, 'p50'):8.2f} {med(name, phase, 'p99'):8.2f}"
                )
    base = med("bare Starlette", "saturated", "rate")
    ceiling = med("generator ceiling", "saturated", "rate")
    print(f"generator ceiling / bare: x{ceiling / base:.1f}")
    ratio = med("receiver", "saturated", "rate") / base
    print(f"receiver / bare (events/s at saturation): x{ratio:.2f}")


if __name__ == "__main__":
    main()

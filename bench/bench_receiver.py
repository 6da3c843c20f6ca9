"""The receiver's acknowledgement latency under a burst of signed webhooks.

The receiver runs here (uvicorn on 127.0.0.1, a real SQLite state file); a second process
sends a burst of distinct, signed MintCash events over keep-alive connections and times each
answer. The baseline is a bare Starlette endpoint answering 200 on the same server stack, in
the same run, so the ratio shows what verifying, de-duplicating and storing cost.

    python bench/bench_receiver.py [--events 2000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from rehearsal.httpserver import ServerThread
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.receiver import Receiver
from rehearsal.state import StateDB

SECRET = "whsec_bench_not_a_real_secret_0123456789abcdef"

SENDER = textwrap.dedent("""
    import json, sys, time, threading, httpx
    sys.path.insert(0, sys.argv[4])
    from rehearsal import signatures
    url, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    secret = sys.argv[5]
    lat, lock = [], threading.Lock()
    def worker(k):
        with httpx.Client() as c:
            for i in range(k, n, conc):
                body = json.dumps({"eventId": f"evt_{i}", "type": "payment.succeeded",
                    "environment": "test", "createdAt": "2026-11-23T10:00:00Z",
                    "data": {"object": {"id": f"pay_{i}", "object": "payment",
                    "amount": 500, "currency": "USD", "status": "succeeded"}}}).encode()
                h = {"MintCash-Signature": signatures.sign(secret, body),
                     "Content-Type": "application/json"}
                t = time.perf_counter()
                r = c.post(url, content=body, headers=h)
                d = (time.perf_counter() - t) * 1000
                assert r.status_code == 200, r.status_code
                with lock:
                    lat.append(d)
    start = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(conc)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(json.dumps({"lat": lat, "wall": time.perf_counter() - start}))
""")


def burst(url: str, events: int, concurrency: int) -> dict[str, float]:
    root = str(Path(__file__).resolve().parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", SENDER, url, str(events), str(concurrency), root, SECRET],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    lat = sorted(data["lat"])
    return {
        "median": statistics.median(lat),
        "p99": lat[int(len(lat) * 0.99) - 1],
        "rate": len(lat) / data["wall"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(request):  # type: ignore[no-untyped-def]
        await request.body()
        return JSONResponse({"received": True})

    bare = ServerThread(Starlette(routes=[Route("/hook", ok, methods=["POST"])])).start()
    store = StateDB(Path(tempfile.mkdtemp()) / "rehearsal.sqlite")
    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_bench",
        webhook_secrets=[SECRET],
        environment="test",
    )
    receiver = Receiver(adapter.verify_webhook, environment="test", store=store, run_id="bench")
    url = receiver.start()
    try:
        base = burst(f"{bare.url}/hook", args.events, args.concurrency)
        real = burst(url, args.events, args.concurrency)
    finally:
        receiver.stop()
        bare.stop()
    assert receiver.counts["accepted"] == args.events, receiver.counts
    print(
        f"{args.events} signed webhooks, {args.concurrency} keep-alive connections, "
        "from a second process on loopback"
    )
    print(f"{'endpoint':34} {'median ms':>10} {'p99 ms':>8} {'events/s':>9}")
    for name, r in (("bare Starlette 200 (baseline)", base), ("rehearsal receiver", real)):
        print(f"{name:34} {r['median']:10.2f} {r['p99']:8.2f} {r['rate']:9.0f}")
    print(
        f"receiver / baseline: median x{real['median'] / base['median']:.2f}, "
        f"p99 x{real['p99'] / base['p99']:.2f}"
    )


if __name__ == "__main__":
    main()

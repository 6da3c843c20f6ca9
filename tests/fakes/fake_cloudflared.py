"""A fake `cloudflared` for offline tests of `--tunnel cloudflared`.

`cloudflared tunnel --url http://127.0.0.1:PORT ...` logs on stderr, as the real one does
(cloudflare/cloudflared: cmd/cloudflared/tunnel/quick_tunnel.go prints the URL in an ASCII
box; connection/observer.go logs "Registered tunnel connection"). The URL in the box is a
relay on 127.0.0.1 that forwards to the upstream and dies with this process.

Switches: FAKE_CLOUDFLARED_HANG=1 (print the disclaimer, then nothing), and those of
relay.py (FAKE_TUNNEL_PIDFILE, FAKE_TUNNEL_DROP, FAKE_TUNNEL_DIE_ON, FAKE_TUNNEL_DIE_ONCE).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime

from relay import Relay, record_pid


def inf(text: str) -> None:
    t = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{t} INF {text}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print("cloudflared version 2026.11.0-fake (built fake)")
        return 0
    if argv[:1] != ["tunnel"] or "--url" not in argv:
        print(f"fake cloudflared: unsupported arguments {argv}", file=sys.stderr)
        return 2
    record_pid()
    upstream = argv[argv.index("--url") + 1]
    inf(
        "Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare account, is a "
        "quick way to experiment and try it out. However, be aware that these account-less "
        "Tunnels have no uptime guarantee."
    )
    inf("Requesting new quick Tunnel on trycloudflare.com...")
    if os.environ.get("FAKE_CLOUDFLARED_HANG") == "1":
        while True:
            time.sleep(3600)
    relay = Relay(upstream)
    title = (
        "Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):"
    )
    width = len(title) + 4
    inf("+" + "-" * width + "+")
    inf(f"|  {title}  |")
    inf(f"|  {relay.url:<{len(title)}}  |")
    inf("+" + "-" * width + "+")
    inf("Starting metrics server on 127.0.0.1:20241/metrics")
    inf(
        "Registered tunnel connection connIndex=0 connection=00000000-fake event=0 "
        "ip=198.41.200.13 location=fake01 protocol=quic"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    signal.signal(signal.SIGINT, lambda s, f: stop.set())
    stop.wait()
    inf("Initiating graceful shutdown due to signal terminated ...")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A fake `ngrok` agent (v3) for offline tests of the real pyngrok code path.

It does what pyngrok relies on (pyngrok 9.x process.py/ngrok.py): `start --none --log stdout
[--config P] [--authtoken T]` prints logfmt lines on stdout, among them "starting web
service" with `addr=`, "client session established" and "tunnel session started", once its
agent API listens; the API answers GET /api/endpoints|tunnels (pyngrok's health probe),
POST (create: 201 with `url`/`public_url`, `uri`), DELETE (204). Each endpoint is a relay on
127.0.0.1 that forwards to the upstream, so the "public URL" really reaches the receiver and
dies with this process. `--version` and `config add-authtoken` answer as the agent does.

The auth token must come from the config file (agent.authtoken) or NGROK_AUTHTOKEN, or it
fails like the agent does (ERR_NGROK_4018). Switches, from the environment:
  FAKE_NGROK_HANG=1            print the web-service line, then nothing, forever
  FAKE_NGROK_ALREADY_ONLINE=1  refuse to create the endpoint: ERR_NGROK_334 "already online"
  FAKE_TUNNEL_PIDFILE=FILE     append this process's pid (see relay.py for more switches)
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from relay import Relay, record_pid


def log(lvl: str, msg: str, **fields: str) -> None:
    t = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")

    def show(v: str) -> str:
        return json.dumps(v) if (" " in v or "\n" in v or not v) else v

    extra = "".join(f" {k}={show(v)}" for k, v in fields.items())
    print(f't={t} lvl={lvl} msg="{msg}"{extra}', flush=True)


def authtoken(config: str | None) -> str | None:
    if config and os.path.exists(config):
        with open(config) as f:
            m = re.search(r"^\s*authtoken:\s*['\"]?([^'\"\s]+)", f.read(), re.M)
            if m:
                return m.group(1)
    return os.environ.get("NGROK_AUTHTOKEN")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"] or argv[:1] == ["version"]:
        print("ngrok version 3.99.0-fake")
        return 0
    if argv[:2] == ["config", "add-authtoken"]:
        print("Authtoken saved to configuration file: fake")
        return 0
    if argv[:1] != ["start"]:
        print(f"fake ngrok: unsupported arguments {argv}", file=sys.stderr)
        return 2
    record_pid()
    config = argv[argv.index("--config") + 1] if "--config" in argv else None
    token = argv[argv.index("--authtoken") + 1] if "--authtoken" in argv else authtoken(config)
    log("info", "open config file", path=config or "none", err="nil")
    if not token:
        log(
            "eror",
            "session closing",
            obj="tunnels.session",
            err="authentication failed: Usage of ngrok requires a verified account and "
            "authtoken.\n\nERR_NGROK_4018",
        )
        return 1

    endpoints: dict[str, dict[str, object]] = {}
    relays: dict[str, Relay] = {}

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _json(self, status: int, data: object | None) -> None:
            body = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path in ("/api/endpoints", "/api/tunnels"):
                key = self.path.rsplit("/", 1)[1]
                self._json(200, {key: list(endpoints.values()), "uri": self.path})
            elif self.path == "/api/status":
                self._json(200, {"status": "online"})
            elif self.path == "/":
                self._json(200, {"inspector": "fake"})
            else:
                self._json(404, {"status_code": 404, "msg": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            req = json.loads(self.rfile.read(length) or b"{}")
            kind = self.path.rsplit("/", 1)[1]
            name = req.get("name") or str(uuid.uuid4())
            if os.environ.get("FAKE_NGROK_ALREADY_ONLINE") == "1":
                url = req.get("url") or "https://fake-dev-domain.ngrok-free.app"
                err = (
                    f"The endpoint '{url}' is already online. Either\n1. stop your existing "
                    "endpoint first, or\n2. start both endpoints with `--pooling-enabled` to "
                    "load balance between them.\n\nERR_NGROK_334\n"
                )
                log("eror", "failed to start tunnel", obj="tunnels", err=err)
                self._json(
                    502,
                    {
                        "error_code": 103,
                        "status_code": 502,
                        "msg": "failed to start tunnel",
                        "details": {"err": err},
                    },
                )
                return
            upstream = (req.get("upstream") or {}).get("url") or req.get("addr") or "80"
            relay = Relay(str(upstream))
            relays[name] = relay
            data = {
                "id": "ep_" + uuid.uuid4().hex[:20],
                "name": name,
                "uri": f"/api/{kind}/{name}",
                "url": relay.url,
                "public_url": relay.url,
                "requested_url": req.get("url"),
                "upstream": {"url": upstream, "protocol": "http1"},
                "proto": "http",
            }
            endpoints[name] = data
            log(
                "info",
                "started tunnel",
                obj="tunnels",
                name=name,
                addr=str(upstream),
                url=relay.url,
            )
            self._json(201, data)

        def do_DELETE(self) -> None:
            name = self.path.rsplit("/", 1)[1]
            if name not in endpoints:
                self._json(404, {"status_code": 404, "msg": "tunnel not found"})
                return
            endpoints.pop(name)
            relays.pop(name).close()
            self._json(204, None)

    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    api.daemon_threads = True
    threading.Thread(target=api.serve_forever, daemon=True).start()
    addr = f"127.0.0.1:{api.server_address[1]}"
    log("info", "starting web service", obj="web", addr=addr, allow_hosts="[]")
    if os.environ.get("FAKE_NGROK_HANG") == "1":
        while True:  # silent: pyngrok's readline() blocks, its own timeout never fires
            time.sleep(3600)
    log("info", "client session established", obj="tunnels.session")
    log("info", "tunnel session started", obj="tunnels.session")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    signal.signal(signal.SIGINT, lambda s, f: stop.set())
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

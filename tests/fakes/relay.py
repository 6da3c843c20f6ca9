"""A tiny HTTP relay for the fake tunnels: the "public URL" is a 127.0.0.1 port that forwards
every request to the upstream (the receiver), the way a tunnel's edge does.

Switches, from the environment, to misbehave like real relays do:
  FAKE_TUNNEL_DROP=1          answer 200 without forwarding (a relay that swallows requests)
  FAKE_TUNNEL_DIE_ON=TEXT     the whole process exits when a request body contains TEXT
  FAKE_TUNNEL_DIE_ONCE=FILE   ... only the first time (FILE marks that it happened)
"""

from __future__ import annotations

import http.client
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


def _should_die(body: bytes) -> bool:
    marker = os.environ.get("FAKE_TUNNEL_DIE_ON")
    if not marker or marker.encode() not in body:
        return False
    once = os.environ.get("FAKE_TUNNEL_DIE_ONCE")
    if once:
        if os.path.exists(once):
            return False
        with open(once, "w") as f:
            f.write(str(os.getpid()))
    return True


class Relay:
    def __init__(self, upstream: str, bind: str = "127.0.0.1") -> None:
        target = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        host, port = target.hostname or "127.0.0.1", target.port or 80

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if _should_die(body):
                    os._exit(1)  # the tunnel process dies mid-request, like a crash
                if os.environ.get("FAKE_TUNNEL_DROP") == "1":
                    self._answer(200, b"{}", {"content-type": "application/json"})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                try:
                    conn = http.client.HTTPConnection(host, port, timeout=10)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP}
                    conn.close()
                    self._answer(resp.status, data, out)
                except OSError:
                    # ngrok answers 502 ERR_NGROK_8012 when the upstream is down
                    self._answer(502, b"upstream unreachable", {"content-type": "text/plain"})

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

        self.server = ThreadingHTTPServer((bind, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{bind}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def record_pid() -> None:
    """Append this process's pid to $FAKE_TUNNEL_PIDFILE, so tests can check it is gone."""
    path = os.environ.get("FAKE_TUNNEL_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        # The names (never the values) of the environment the agent was given.
        with open(f"{path}.env-{os.getpid()}", "w") as f:
            f.write("\n".join(sorted(os.environ)))

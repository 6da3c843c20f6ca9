"""A uvicorn server on 127.0.0.1 in a background thread, with a real readiness signal.

Used by the webhook receiver and the embedded simulator. The socket is bound before the
thread starts (port 0 picks a free port), and `start()` waits on an Event set by uvicorn's
own startup, with a deadline, instead of sleeping and hoping.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from rehearsal.errors import ProviderError

START_DEADLINE = 10.0


class ServerThread:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "http"):
        import uvicorn

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.name = name
        ready = threading.Event()

        class _Server(uvicorn.Server):  # type: ignore[misc]
            async def startup(self, sockets: Any = None) -> None:
                try:
                    await super().startup(sockets=sockets)
                finally:
                    ready.set()

        config = uvicorn.Config(
            app, log_level="error", access_log=False, lifespan="off",
            timeout_graceful_shutdown=2, timeout_keep_alive=5,
        )
        self._server = _Server(config)
        self._ready = ready
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(START_DEADLINE) or not self._server.started:
            self.stop()
            raise ProviderError(f"the {self.name} server did not start within {START_DEADLINE}s")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

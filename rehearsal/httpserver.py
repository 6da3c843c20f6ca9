"""A uvicorn server on 127.0.0.1 in a background thread, with a real readiness signal.

Used by the webhook receiver and the embedded simulator. uvicorn binds the socket itself
(port 0 picks a free port; a socket handed in through `sockets=` answered keep-alive
requests 40 ms late here), and `start()` waits on an Event set by uvicorn's own startup,
with a deadline, instead of sleeping and hoping.
"""

from __future__ import annotations

import threading
from typing import Any

from rehearsal.errors import ProviderError

START_DEADLINE = 10.0


class ServerThread:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "http"):
        import uvicorn

        self.host, self.port = host, port
        self.name = name
        ready = threading.Event()

        class _Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                try:
                    await super().startup(sockets=sockets)
                finally:
                    ready.set()

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="error",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=5,
        )
        self._server = _Server(config)
        self._ready = ready
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(START_DEADLINE) or not self._server.started:
            self.stop()
            raise ProviderError(
                f"the {self.name} server did not start on {self.host}:"
                f"{self.port} within {START_DEADLINE}s"
            )
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def request_stop(self) -> None:
        """Ask the server to stop without waiting: several servers then stop in parallel."""
        self._server.should_exit = True

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A uvicorn server on 127.0.0.1 in a background thread, with a real readiness signal.

Used by the webhook receiver and the embedded simulator. uvicorn binds the socket itself
(port 0 picks a free port; a socket handed in through `sockets=` answered keep-alive
requests 40 ms late here), and `start()` waits on an Event set by uvicorn's own startup,
with a deadline, instead of sleeping and hoping.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

from rehearsal.errors import ProviderError
from rehearsal.net import ready

START_DEADLINE = 10.0
SHUTDOWN_STEP = 0.005  # seconds between looks at the connections still closing


class ServerThread:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, name: str = "http"):
        import uvicorn

        self.host, self.port = host, port
        self.name = name
        ready = threading.Event()

        class _Server(uvicorn.Server):
            """uvicorn's server, stopping as soon as it is asked instead of at its next
            0.1 s tick and after a fixed 0.1 s pause (two of them were most of a run's
            stop time: bench/README.md)."""

            wake: asyncio.Event | None = None
            loop: asyncio.AbstractEventLoop | None = None

            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                self.loop = asyncio.get_running_loop()
                self.wake = asyncio.Event()
                try:
                    await super().startup(sockets=sockets)
                finally:
                    ready.set()

            async def main_loop(self) -> None:
                assert self.wake is not None
                counter = 0
                while not await self.on_tick(counter):
                    # on_tick renews the Date header when counter % 10 == 0: once a second
                    counter = (counter + 10) % 864000
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), 1.0)

            async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
                """uvicorn's shutdown (lifespan is off), waiting on its connections and
                tasks at a finer step, with the same graceful deadline."""
                for server in self.servers:
                    server.close()
                for connection in list(self.server_state.connections):
                    connection.shutdown()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
                state = self.server_state
                while (state.connections or state.tasks) and loop.time() < deadline:
                    await asyncio.sleep(SHUTDOWN_STEP)
                for task in state.tasks:
                    task.cancel(msg="the server is stopping")
                for server in self.servers:
                    await server.wait_closed()

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="error",
            access_log=False,
            lifespan="off",
            # Nothing served here reads the client's address: uvicorn's middleware that
            # takes it from X-Forwarded-For (one more ASGI layer a request) is left out,
            # and so is its `server: uvicorn` header (two more checks an answer).
            proxy_headers=False,
            server_header=False,
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
        ready.serving()  # e.g. start-up is over: the collector as usual (rehearsal/cli/launch.py)
        return self

    def request_stop(self) -> None:
        """Ask the server to stop without waiting: several servers then stop in parallel."""
        self._server.should_exit = True
        loop, wake = self._server.loop, self._server.wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed: it has stopped
                loop.call_soon_threadsafe(wake.set)

    def stop(self) -> None:
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

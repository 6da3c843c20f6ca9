"""The simulator as a running thing: books + dialect app + deliverer + an HTTP server.

`Simulator(...).start()` runs it on 127.0.0.1 in background threads: embedded in a
rehearsal, or as its own process (`rehearsal simulator`, which then waits for a signal).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Protocol

from starlette.applications import Starlette

from rehearsal.simulator.books import Books, Keys, Row
from rehearsal.simulator.delivery import Deliverer
from rehearsal.simulator.faults import Faults


class Dialect(Protocol):
    """What a provider's dialect gives the simulator: its HTTP app over the books, and how
    it renders and signs an event. Each lives in `rehearsal/simulator/<name>/dialect.py` as
    `DIALECT`, so a new provider's dialect is one new module, found by its name."""

    def app(self, books: Books, faults: Faults) -> Starlette: ...

    def render_event(
        self, event_id: str, kind: str, obj: Row, env: str, created: float
    ) -> bytes: ...

    def signature_headers(self, body: bytes) -> dict[str, str]: ...


# One registry, the rule of every plug-in kind here: a name to the module that holds it,
# imported only when that dialect is asked for.
DIALECTS = {
    "mintcash": "rehearsal.simulator.mintcash.dialect",
    "paymongo": "rehearsal.simulator.paymongo.dialect",
    "stripe": "rehearsal.simulator.stripe.dialect",
}


def dialect_names() -> list[str]:
    """The providers the simulator speaks: one `<name>/dialect.py` module each."""
    return sorted(DIALECTS)


def speaks(name: str) -> bool:
    return name in dialect_names()


def load_dialect(name: str) -> Dialect:
    if not speaks(name):
        raise KeyError(name)
    dialect: Dialect = import_module(DIALECTS[name]).DIALECT()
    return dialect


class Simulator:
    def __init__(
        self,
        db_path: Path | str,
        *,
        dialect: str = "mintcash",
        faults: Faults | None = None,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.dialect = load_dialect(dialect)
        if hasattr(self.dialect, "time_scale"):  # clocks that advance on it (Stripe's)
            self.dialect.time_scale = time_scale
        self.faults = faults or Faults()
        self.books = Books(db_path, self.dialect.render_event)
        self.app = self.dialect.app(self.books, self.faults)
        self.deliverer = Deliverer(
            self.books, self.dialect.signature_headers, self.faults, time_scale=time_scale
        )
        self.host, self.port = host, port
        self._server: object | None = None

    @property
    def keys(self) -> Keys:
        return self.books.keys

    def start(self) -> str:
        """Start in background threads; return the base URL."""
        from rehearsal.net.server import ServerThread

        server = ServerThread(self.app, host=self.host, port=self.port, name="simulator")
        self._server = server
        server.start()
        self.deliverer.start()
        self.port = server.port
        return server.url

    def stop(self) -> None:
        from rehearsal.net.server import ServerThread

        if isinstance(self._server, ServerThread):
            self._server.request_stop()
        self.deliverer.stop()  # meanwhile the server winds down
        if isinstance(self._server, ServerThread):
            self._server.stop()
        self.books.close()

"""The simulator as a running thing: books + dialect app + deliverer + an HTTP server.

`Simulator(...).start()` runs it on 127.0.0.1 in background threads: embedded in a
rehearsal, or as its own process (`rehearsal simulator`, which then waits for a signal).
"""

from __future__ import annotations

from pathlib import Path

from rehearsal.simulator.books import Books, Keys
from rehearsal.simulator.delivery import Deliverer
from rehearsal.simulator.faults import Faults
from rehearsal.simulator.mintcash_dialect import MintCashDialect
from rehearsal.simulator.paymongo_dialect import PayMongoDialect
from rehearsal.simulator.stripe_dialect import StripeDialect

DIALECTS: dict[str, type[MintCashDialect] | type[PayMongoDialect] | type[StripeDialect]] = {
    "mintcash": MintCashDialect,
    "paymongo": PayMongoDialect,
    "stripe": StripeDialect,
}


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
        self.dialect = DIALECTS[dialect]()
        if isinstance(self.dialect, StripeDialect):  # its clocks advance on the time scale
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
        from rehearsal.httpserver import ServerThread

        server = ServerThread(self.app, host=self.host, port=self.port, name="simulator")
        self._server = server
        server.start()
        self.deliverer.start()
        self.port = server.port
        return server.url

    def stop(self) -> None:
        from rehearsal.httpserver import ServerThread

        if isinstance(self._server, ServerThread):
            self._server.request_stop()
        self.deliverer.stop()  # meanwhile the server winds down
        if isinstance(self._server, ServerThread):
            self._server.stop()
        self.books.close()

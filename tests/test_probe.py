"""The tunnel probe against a real receiver (uvicorn on 127.0.0.1, a real SQLite store):
it arrives, it is never mistaken for a provider event, a forged or stale one is refused,
and a relay that swallows requests fails it; the session's watch reports a dead path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rehearsal.ledger.db import StateDB
from rehearsal.providers.mintcash.adapter import MintCash
from rehearsal.receiver.endpoint import Receiver
from rehearsal.tunnels import TunnelSpec
from rehearsal.tunnels.base import TunnelError
from rehearsal.tunnels.probe import PROBE_HEADER, SIGNATURE_HEADER, send_probe
from rehearsal.tunnels.public_path import TunnelSession
from tests.conftest import WEBHOOK_SECRET
from tests.fakes.relay import Relay


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=[WEBHOOK_SECRET],
        environment="test",
    )
    store = StateDB(tmp_path / "state.sqlite")
    rec = Receiver(adapter.verify_webhook, environment="test", store=store, run_id="run_probe")
    rec.start()
    yield rec
    rec.stop()
    store.close()
    adapter.close()


def test_probe_arrives_and_is_not_a_provider_event(receiver: Receiver) -> None:
    seconds = send_probe(receiver.url, receiver.probes, within=5, shown="here")
    assert 0 <= seconds < 5
    assert receiver.counts == {"accepted": 0, "duplicate": 0, "rejected": 0, "ignored": 0}
    assert receiver.hub.events() == []
    assert receiver.store.deliveries("run_probe") == []


def test_forged_and_stale_probes_are_refused(receiver: Receiver) -> None:
    nonce, headers = receiver.probes.headers()
    forged = {**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER][:-4] + "0000"}
    assert httpx.post(receiver.url, headers=forged, content=b"{}").status_code == 400
    stale_t = int(time.time()) - 3600
    stale = {**headers, SIGNATURE_HEADER: receiver.probes.sign(nonce, stale_t)}
    assert httpx.post(receiver.url, headers=stale, content=b"{}").status_code == 400
    unsigned = {PROBE_HEADER: nonce}
    assert httpx.post(receiver.url, headers=unsigned, content=b"{}").status_code == 400
    assert receiver.probes.rejected == 3
    assert receiver.probes.wait(nonce, time.monotonic()) is None  # none of them counted
    # The path's token still guards the probe too.
    wrong = receiver.url.rsplit("/", 1)[0] + "/not-the-token"
    assert httpx.post(wrong, headers=headers, content=b"{}").status_code == 404


def test_relay_that_swallows_requests_fails_the_probe(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = receiver.url[: -len(receiver.path)]
    relay = Relay(base)
    try:
        assert send_probe(relay.url + receiver.path, receiver.probes, within=5, shown="x") < 5
        monkeypatch.setenv("FAKE_TUNNEL_DROP", "1")  # answers 200, forwards nothing
        with pytest.raises(TunnelError) as err:
            send_probe(relay.url + receiver.path, receiver.probes, within=0.3, shown="relay")
        assert (
            "did not reach the receiver within 0.3s (sent 1 time(s) to relay; last: HTTP 200)"
            in (str(err.value))
        )
        assert err.value.exit_code == 3
    finally:
        relay.close()


def test_a_tunnel_still_settling_is_probed_again_until_it_forwards(receiver: Receiver) -> None:
    """A fresh quick tunnel answers 502 (or does not resolve) for a moment: the probe is
    sent again until the deadline, not failed on its first try."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[int] = []

    class Edge(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append(1)
            if len(seen) <= 2:  # the first two: the tunnel is not up yet
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            r = httpx.post(receiver.url, headers=dict(self.headers), content=body)
            self.send_response(r.status_code)
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

    edge = ThreadingHTTPServer(("127.0.0.1", 0), Edge)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{edge.server_address[1]}/hook"
        assert send_probe(url, receiver.probes, within=10, shown="edge") < 10
        assert len(seen) == 3
    finally:
        edge.shutdown()
        edge.server_close()


def test_watch_reports_a_dead_public_url(tmp_path: Path) -> None:
    adapter = MintCash(
        api_base="http://127.0.0.1:9",
        secret_key="sk_test_x",
        webhook_secrets=["w"],
        environment="test",
    )
    store = StateDB(tmp_path / "state.sqlite")
    rec = Receiver(adapter.verify_webhook, environment="test", store=store, run_id="r")
    port = 0
    relay = None
    registered: list[str] = []
    try:
        rec.start()
        port = int(rec.url.split(":")[2].split("/")[0])
        rec.stop()
        relay = Relay(f"http://127.0.0.1:{port}")
        spec = TunnelSpec("public-url", public_url=relay.url, listen=("127.0.0.1", port))
        said: list[str] = []
        session = TunnelSession(
            spec,
            rec,
            register=lambda u: registered.append(u) or True,
            say=said.append,
            probe_within=2,
        )
        url = session.open()
        assert registered == [url] and url.startswith(f"{relay.url}/webhooks/")
        session.prove()
        session.watch()  # alive: nothing to say
        assert not any("DEAD" in s for s in said)
        relay.close()
        relay = None
        with pytest.raises(TunnelError) as err:
            session.watch()
        assert "stopped forwarding webhooks" in err.value.message
        assert "not a payment failure" in err.value.message
        assert any(s.startswith("tunnel: DEAD: ") for s in said)
        session.close()
    finally:
        if relay is not None:
            relay.close()
        rec.stop()
        store.close()
        adapter.close()

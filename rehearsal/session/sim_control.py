"""A client for the simulator's own control routes (`/_sim/...`), for a simulator running
elsewhere (`rehearsal simulator`) or embedded: register webhook endpoints, set faults,
read the books. Not part of any provider's API.

On this machine (always, in practice) it speaks through rehearsal/net/plain.py, as the
adapters do, so a rehearsal on the simulator does not import httpx; a simulator elsewhere
is reached through httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rehearsal.net import tls
from rehearsal.net.plain import NetworkError, PlainHttp, Reply, is_plain, origin_and_target

if TYPE_CHECKING:
    import httpx

TIMEOUT = 10.0


class SimulatorControlError(Exception):
    """The simulator refused a control call (its status, never the key)."""


class SimulatorControl:
    def __init__(self, base_url: str, secret_key: str) -> None:
        headers = {"Authorization": f"Bearer {secret_key}"}
        self._plain: PlainHttp | None = None
        self._httpx: httpx.Client | None = None
        if is_plain(base_url):
            self._plain = PlainHttp(base_url, headers=headers, auth=None, timeout=TIMEOUT)
        else:
            import httpx

            self._httpx = httpx.Client(
                base_url=base_url.rstrip("/"),
                headers=headers,
                timeout=TIMEOUT,
                verify=tls.for_url(base_url),  # loaded once per process (rehearsal/net/tls.py)
            )

    @staticmethod
    def is_simulator(base_url: str) -> bool:
        """True when `base_url` answers as a rehearsal simulator (loopback hosts only)."""
        if not SimulatorControl.may_be_simulator(base_url):
            return False
        try:
            answer = get(base_url.rstrip("/") + "/_sim/info", 2.0)
        except NetworkError:
            return False
        return SimulatorControl.answers_as_simulator(answer)

    @staticmethod
    def may_be_simulator(base_url: str) -> bool:
        """Only these hosts are asked whether they are the simulator (not all of 127/8:
        a test stands a provider in on 127.0.0.2, as a remote one)."""
        from urllib.parse import urlsplit

        try:
            host = urlsplit(base_url.strip()).hostname
        except ValueError:
            return False
        return host in ("127.0.0.1", "localhost", "::1")

    @staticmethod
    def answers_as_simulator(answer: Reply) -> bool:
        """True when `answer` (to `GET /_sim/info`) is a rehearsal simulator's."""
        data = answer.json()
        return (
            answer.status == 200 and isinstance(data, dict) and data.get("simulator") == "rehearsal"
        )

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Reply:
        if self._plain is not None:
            return self._plain.request(method, path, json_body=body)
        assert self._httpx is not None
        r = self._httpx.request(method, path, json=body)
        return Reply(r.status_code, r.headers, r.content)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self._send(method, path, body)
        if r.status >= 400:
            raise SimulatorControlError(f"the simulator answered {method} {path}: HTTP {r.status}")
        return r.json()

    def register_webhook(self, url: str, events: list[str], environment: str | None) -> str:
        data = self._call(
            "POST",
            "/_sim/webhook_endpoints",
            {"url": url, "events": events, "environment": environment},
        )
        return str(data["id"])

    def repoint_webhook(self, endpoint_id: str, url: str) -> bool:
        """Send an endpoint's pending retries and future events to `url`; False if it is gone."""
        path = f"/_sim/webhook_endpoints/{endpoint_id}"
        r = self._send("PATCH", path, {"url": url})
        if r.status == 404:
            return False
        if r.status >= 400:
            raise SimulatorControlError(f"the simulator answered PATCH {path}: HTTP {r.status}")
        return True

    def remove_webhook(self, endpoint_id: str) -> None:
        self._call("DELETE", f"/_sim/webhook_endpoints/{endpoint_id}")

    def set_faults(self, specs: list[str]) -> list[str]:
        return list(self._call("PUT", "/_sim/faults", {"faults": specs})["faults"])

    def books(self) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", "/_sim/books")
        return data

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
        if self._httpx is not None:
            self._httpx.close()


def get(url: str, timeout: float) -> Reply:
    """`GET url`, whatever its answer; NetworkError (with httpx's name for the failure)
    when there is none. On this machine through plainhttp, elsewhere through httpx."""
    if is_plain(url):
        origin, target = origin_and_target(url)
        client = PlainHttp(origin, headers={}, auth=None, timeout=timeout)
        try:
            return client.send("GET", target, b"", {})
        finally:
            client.close()
    import httpx

    try:
        r = httpx.get(url, timeout=timeout, verify=tls.for_url(url))
    except httpx.HTTPError as exc:
        raise NetworkError(type(exc).__name__, str(exc) or None) from None
    return Reply(r.status_code, r.headers, r.content)

"""A client for the simulator's own control routes (`/_sim/...`), for a simulator running
elsewhere (`rehearsal simulator`) or embedded: register webhook endpoints, set faults,
read the books. Not part of any provider's API.
"""

from __future__ import annotations

from typing import Any

import httpx

from rehearsal import tls


class SimulatorControl:
    def __init__(self, base_url: str, secret_key: str) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {secret_key}"},
            timeout=10.0,
            verify=tls.for_url(base_url),  # loaded once per process (rehearsal/tls.py)
        )

    @staticmethod
    def is_simulator(base_url: str) -> bool:
        """True when `base_url` answers as a rehearsal simulator (loopback hosts only)."""
        if not SimulatorControl.may_be_simulator(base_url):
            return False
        try:
            r = httpx.get(
                base_url.rstrip("/") + "/_sim/info", timeout=2.0, verify=tls.for_url(base_url)
            )
        except httpx.HTTPError:
            return False
        return SimulatorControl.answers_as_simulator(r)

    @staticmethod
    def may_be_simulator(base_url: str) -> bool:
        """Only these hosts are asked whether they are the simulator (not all of 127/8:
        a test stands a provider in on 127.0.0.2, as a remote one)."""
        return httpx.URL(base_url).host in ("127.0.0.1", "localhost", "::1")

    @staticmethod
    def answers_as_simulator(answer: httpx.Response) -> bool:
        """True when `answer` (to `GET /_sim/info`) is a rehearsal simulator's."""
        try:
            info = answer.json()
        except ValueError:
            return False
        return (
            answer.status_code == 200
            and isinstance(info, dict)
            and info.get("simulator") == "rehearsal"
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self._client.request(method, path, json=body)
        r.raise_for_status()
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
        r = self._client.patch(f"/_sim/webhook_endpoints/{endpoint_id}", json={"url": url})
        if r.status_code == 404:
            return False
        r.raise_for_status()
        return True

    def remove_webhook(self, endpoint_id: str) -> None:
        self._call("DELETE", f"/_sim/webhook_endpoints/{endpoint_id}")

    def set_faults(self, specs: list[str]) -> list[str]:
        return list(self._call("PUT", "/_sim/faults", {"faults": specs})["faults"])

    def books(self) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", "/_sim/books")
        return data

    def close(self) -> None:
        self._client.close()

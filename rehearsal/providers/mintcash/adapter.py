"""The MintCash adapter: the Provider interface over MintCash's HTTP API (httpx).

Every POST that moves money carries an `externalId` the runner derives from the run and the
step, so a retry (here, on 429/5xx/network errors, with tenacity) or a resumed run gets the
original object back instead of moving money twice. The secret key lives only in the
client's default headers: never in a message, a log line or an ApiCall.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from rehearsal.errors import ProviderError, UsageError
from rehearsal.net.transport import transport_for
from rehearsal.providers import signatures
from rehearsal.providers.base import (
    Authorize,
    Environment,
    KeyedKind,
    MalformedEvent,
    NormalizedEvent,
    ObjectKind,
    ProviderObject,
    ProviderObserver,
    reports_objects,
)
from rehearsal.providers.errorbody import CODE_LIMIT, one_line
from rehearsal.providers.http import HttpCore, Wire
from rehearsal.providers.jsonwire import Body, JSONObject, JSONValue
from rehearsal.providers.mintcash import contract as c

if TYPE_CHECKING:
    from rehearsal.providers.config import TargetConfig

_PATHS: dict[ObjectKind, str] = {
    "payment": c.PAYMENT,
    "refund": c.REFUND_ONE,
    "subscription": c.SUBSCRIPTION,
}


class MintCash(HttpCore):
    name = "mintcash"

    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        webhook_secrets: list[str],
        environment: Environment,
        http_timeout: float = 15.0,
        attempts: int = 4,
        backoff: float = 0.25,
        observer: ProviderObserver | None = None,
    ) -> None:
        self.environment: Environment = environment
        self.can_advance_clock = environment == "test"
        self.idempotency_window: float | None = None  # the runbook sets no expiry for externalId
        self.needs_operator = False  # a live card is a saved payment method: no browser step
        self._webhook_secrets = list(webhook_secrets)
        super().__init__(
            WIRE,
            transport_for(
                api_base, headers={c.AUTH_HEADER: f"Bearer {secret_key}"}, timeout=http_timeout
            ),
            attempts=attempts,
            backoff=backoff,
            observer=observer,
        )

    # --- money ------------------------------------------------------------------------------

    def resolve_card(self, card: str) -> str:
        if card in c.TEST_CARDS:
            if self.environment == "live":
                raise UsageError(
                    f"test card {card!r} in live mode",
                    hint="live mode needs your own card: card: env:VARIABLE holding its token",
                )
            return c.TEST_CARDS[card].token
        if card.startswith("pm_"):
            return card
        raise UsageError(
            f"unknown card {card!r} for MintCash",
            hint=f"test cards: {', '.join(c.TEST_CARDS)}; or env:VARIABLE with a pm_ token",
        )

    @reports_objects
    def create_payment(
        self,
        *,
        idempotency_key: str,
        amount: int,
        currency: str,
        card: str,
        description: str | None = None,
    ) -> ProviderObject:
        body: dict[str, JSONValue] = {
            "externalId": idempotency_key,
            "amount": amount,
            "currency": currency,
            "paymentMethod": card,
        }
        if description:
            body["description"] = description
        return self._object("POST", c.PAYMENTS, body)

    @reports_objects
    def refund(
        self,
        *,
        idempotency_key: str,
        payment_id: str,
        amount: int | None,
        reason: str | None = None,
    ) -> ProviderObject:
        body: dict[str, JSONValue] = {"externalId": idempotency_key, "paymentId": payment_id}
        if amount is not None:
            body["amount"] = amount
        if reason:
            body["reason"] = reason
        return self._object("POST", c.REFUND, body)

    @reports_objects
    def subscribe(
        self,
        *,
        idempotency_key: str,
        amount: int,
        currency: str,
        card: str,
        interval: str,
    ) -> ProviderObject:
        body: dict[str, JSONValue] = {
            "externalId": idempotency_key,
            "amount": amount,
            "currency": currency,
            "interval": interval,
            "paymentMethod": card,
        }
        return self._object("POST", c.SUBSCRIPTIONS, body)

    def cancel(self, *, subscription_id: str, reason: str | None = None) -> ProviderObject:
        body: dict[str, JSONValue] = {"reason": reason} if reason else {}
        return self._object("POST", c.CANCEL.format(id=subscription_id), body)

    @reports_objects
    def retrieve(self, kind: ObjectKind, object_id: str) -> ProviderObject:
        return self._object("GET", _PATHS[kind].format(id=object_id), None)

    @reports_objects
    def subscription_payments(self, subscription_id: str) -> list[ProviderObject]:
        path = f"{c.PAYMENTS}?subscriptionId={subscription_id}"
        data, request_id = self._request("GET", path, None)
        try:
            return [c.parse_object(item, request_id) for item in data["data"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderError(
                f"MintCash GET {path} answered with an unexpected body", request_id=request_id
            ) from None

    @reports_objects
    def find_by_idempotency_key(self, kind: KeyedKind, key: str) -> ProviderObject | None:
        base = {"payment": c.PAYMENTS, "refund": c.REFUNDS, "subscription": c.SUBSCRIPTIONS}[kind]
        path = f"{base}?externalId={quote(key, safe='')}"
        data, request_id = self._request("GET", path, None)
        try:
            found = [c.parse_object(item, request_id) for item in data["data"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderError(
                f"MintCash GET {path} answered with an unexpected body", request_id=request_id
            ) from None
        return found[0] if found else None

    def advance_clock(self, subscription_id: str, *, idempotency_key: str) -> bool:
        if not self.can_advance_clock:
            return False
        # The advance charges a renewal, so it carries an externalId like every POST that
        # moves money: a retry after a lost answer replays it instead of renewing twice.
        body: dict[str, JSONValue] = {"externalId": idempotency_key}
        try:
            self._request("POST", c.ADVANCE.format(id=subscription_id), body)
        except ProviderError as exc:
            if exc.status == 404:
                self.can_advance_clock = False  # this MintCash has no test clock: wait instead
                return False
            raise
        return True

    # --- webhooks ---------------------------------------------------------------------------

    def parse_event(self, body: bytes) -> NormalizedEvent:
        return parse_event(body)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> NormalizedEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        signatures.verify(
            lowered.get(c.SIGNATURE_HEADER.lower()),
            body,
            self._webhook_secrets,
            tolerance=c.SIGNATURE_TOLERANCE,
        )
        return parse_event(body)

    # --- HTTP -------------------------------------------------------------------------------

    def _object(self, method: str, path: str, body: JSONObject | None) -> ProviderObject:
        data, request_id = self._request(method, path, body)
        try:
            return c.parse_object(data, request_id)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderError(
                f"MintCash {method} {path} answered with an unexpected body",
                request_id=request_id,
            ) from None

    def _request(self, method: str, path: str, body: JSONObject | None) -> tuple[Body, str | None]:
        answer = self.exchange(method, path, json=body)
        return answer.data, answer.request_id


def _refusal(
    method: str, route: str, status: int, data: object, request_id: str | None
) -> ProviderError:
    code, message = _error_fields(data)
    return ProviderError(
        f"MintCash refused {method} {route}: HTTP {status}"
        + (f" {code}" if code else "")
        + (f": {message}" if message else "")
        + (f" (request {request_id})" if request_id else ""),
        status=status,
        code=code,
        request_id=request_id,
    )


WIRE = Wire(
    provider="MintCash",
    refusal=_refusal,
    retry_hint="the provider or the network is failing; the same externalId makes a "
    "later retry safe",
    request_id_header=c.REQUEST_ID_HEADER,
    replay_header=c.IDEMPOTENT_REPLAY_HEADER,
)


def _error_fields(data: object) -> tuple[str | None, str]:
    """The code and message of MintCash's `{"error": {"code", "message"}}`, from whatever
    shape the body has: a string `error` is the message; anything else quotes nothing."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return one_line(error.get("code"), CODE_LIMIT) or None, one_line(error.get("message"))
    return None, one_line(error)


def parse_event(body: bytes) -> NormalizedEvent:
    """A verified MintCash event body to a NormalizedEvent; MalformedEvent if it isn't one."""
    try:
        payload = json.loads(body)
        event_id = str(payload["eventId"])
        event_type = str(payload["type"])
        environment = str(payload["environment"])
        created = datetime.fromisoformat(str(payload["createdAt"])).timestamp()
        data = payload["data"]["object"]
    except (ValueError, KeyError, TypeError):
        raise MalformedEvent(
            "not a MintCash event (eventId, type, environment, createdAt, data.object)"
        ) from None
    normalized = c.NORMALIZED_EVENT.get(event_type)
    obj = None
    if normalized is not None:
        try:
            obj = c.parse_object(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MalformedEvent(f"{event_type} carries no valid object") from None
    return NormalizedEvent(
        event_id=event_id,
        type=normalized or event_type,
        provider_type=event_type,
        environment=environment,
        object=obj,
        created_at=created,
        payload=payload,
    )


def from_config(
    config: TargetConfig,
    *,
    observer: ProviderObserver | None = None,
    authorize: Authorize | None = None,  # no 3-D Secure: a saved payment method
) -> MintCash:
    return MintCash(
        observer=observer,
        api_base=config.api_base,
        secret_key=config.secret_key,
        webhook_secrets=config.webhook_secrets,
        environment=config.environment,
        backoff=config.backoff,
        http_timeout=config.http_timeout,
    )

"""The simulator's one endpoint wrapper: what every dialect's route does around its handler.

In one order for every provider: start the call (a request id, answer headers), open it
(authenticate, read the body, the dialect's own gate: a rate limit, an idempotent replay),
take the API fault switch (hold, garble, fail, fail-after; not on the `/_sim/...` control
routes), run the handler, and answer in the dialect's shape. What differs by provider (its
auth scheme, its error shape, its request ids and idempotency) is passed in as callbacks.
This module knows no provider: it must never import a dialect, nor `rehearsal.providers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from rehearsal.simulator.books import Row
from rehearsal.simulator.faults import Faults

Endpoint = Callable[[Request], Awaitable[Response]]
Answer = tuple[int, Row]


@dataclass
class Call:
    """One request on its way through the wrapper; the dialect's callbacks read and fill it."""

    request: Request
    request_id: str = ""  # empty for a provider that sends none
    env: str = ""  # "test" or "live", once authenticated
    body: Row = field(default_factory=dict)  # the decoded JSON or form
    headers: dict[str, str] = field(default_factory=dict)  # the answer's headers
    began: bool = False  # the handler has begun its work (a dialect's `run` sets it)


C = TypeVar("C", bound=Call)
H = TypeVar("H")


def _same(call: Call, status: int, data: Row) -> Row:
    return data


def _nothing(call: Call) -> None:
    return None


@dataclass(frozen=True)
class Endpoints(Generic[C, H]):
    """A provider's way of wrapping handlers (of type H): `api(handler)` is a route endpoint.

    `start(request)` makes the call; `open(call, control)` authenticates and reads the body,
    returning a Response to answer at once (None: go on); `run(call, handler)` does the work;
    `garbled`, `failed` and `failed_after` are the fault switches' answers for a status (a
    Response is sent as it is, an exception is refused like any other); `refused(call, exc)`
    is the provider's error shape for an exception it knows (None: not ours, re-raised);
    `finish` shapes a successful answer after the fail-after switch; `close` runs whatever
    happened; `answer(call, status, data)` is the Response."""

    faults: Faults
    start: Callable[[Request], C]
    open: Callable[[C, bool], Awaitable[Response | None]]
    run: Callable[[C, H], Answer]
    refused: Callable[[C, Exception], Answer | None]
    answer: Callable[[C, int, Row], Response]
    garbled: Callable[[C, int], Response]
    failed: Callable[[C, int], Exception | Response]
    failed_after: Callable[[C], Exception]
    finish: Callable[[C, int, Row], Row] = _same
    close: Callable[[C], None] = _nothing

    def __call__(self, handler: H, *, control: bool = False) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            call = self.start(request)
            try:
                try:
                    early = await self.open(call, control)
                    if early is not None:
                        return early
                    early, (status, data) = await self._work(call, handler, control)
                    if early is not None:
                        return early
                    data = self.finish(call, status, data)
                except Exception as exc:
                    refusal = self.refused(call, exc)
                    if refusal is None:
                        raise
                    status, data = refusal
            finally:
                self.close(call)
            return self.answer(call, status, data)

        return endpoint

    async def _work(self, call: C, handler: H, control: bool) -> tuple[Response | None, Answer]:
        """The handler's answer under the fault switch (a control route takes none)."""
        request = call.request
        fault = None if control else self.faults.take_api_fault(request.method, request.url.path)
        if fault and fault.kind == "hold":
            await asyncio.sleep(fault.value)
        elif fault and fault.kind == "garble":
            return self.garbled(call, int(fault.value)), (0, {})
        elif fault and fault.kind == "fail":
            failure = self.failed(call, int(fault.value))
            if isinstance(failure, Response):
                return failure, (0, {})
            raise failure
        answer = self.run(call, handler)
        if fault and fault.kind == "fail-after":  # the work is done; the answer is lost
            raise self.failed_after(call)
        return None, answer


def app(
    routes: Sequence[BaseRoute], unknown: Callable[[Request, Exception], Awaitable[Response]]
) -> Starlette:
    """The dialect's Starlette app; `unknown` answers an unknown route and any exception
    no endpoint refused, in the provider's shape."""
    return Starlette(
        routes=list(routes), exception_handlers={HTTPException: unknown, Exception: unknown}
    )

"""The gateway's fault injection: which request gets which scripted fault, and how.

A :class:`~._faults.Fault` says what goes wrong with one answer; :class:`FaultPlan` says
which requests it hits; :func:`inject_faults` is the middleware that applies it.

Rules:

1. Faults act in front of the routes, before authentication, as a gateway would: a
   ``Fault.status(503)`` reaches a client without a token too.
2. Scripted faults are tried in injection order; the first that matches and is not used
   up is taken, and one use of it is counted at once (so concurrent requests never share
   the last use).
3. A fault aimed at no route (``route=None``) hits the API routes, never the OAuth
   endpoints: a test that breaks the API should not break sign-in by accident. A fault
   aimed at a ``method`` hits only requests of that method (``"POST"`` breaks the
   creates of a route, not its listing).
4. Random faults are drawn only for requests no scripted fault took, from their own
   seeded generator, so a seed gives the same faults for the same request order.
5. Unknown paths get no faults: they answer 404 whatever is scripted.
6. Faults that need the normal answer (``drop`` mid-body, ``stall``) get it from the
   routes behind and send it with its full ``Content-Length`` but only half its body
   before cutting or stalling, so the client sees a short body, not a short answer.
7. ``drop(mid_body=False, after_applying=True)`` lets the route carry the request out
   (its write reaches the state), then cuts before any byte: the ambiguous failure a
   client must not repeat blindly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final, Literal

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._faults import API_ROUTES, LISTING_ROUTES, ROUTES, Fault, FaultKind, RouteName
from ._replies import body_bytes, error_reply, reply, retry_after_header
from ._request_log import LOG_ENTRY, LogEntry

__all__ = ["RANDOM_FAULT_KINDS", "FaultPlan", "RandomFaultKind", "inject_faults"]

RandomFaultKind = Literal["503", "429", "drop_mid_body", "drop_before_headers", "slow"]
"""The transient faults :meth:`FakeService.random_faults` picks from."""

RANDOM_FAULT_KINDS: Final[tuple[RandomFaultKind, ...]] = (
    "503",
    "429",
    "drop_mid_body",
    "drop_before_headers",
    "slow",
)


_METHODS: Final = frozenset({"GET", "POST", "PATCH", "DELETE"})


def _aims_at(wanted: str | None, route: RouteName) -> bool:
    """Whether a fault aimed at ``wanted`` hits ``route`` (rule 3)."""
    return route in API_ROUTES if wanted is None else wanted == route


def _check_route(route: str | None) -> None:
    if route is not None and (route not in ROUTES or route == "other"):
        raise ValueError(f"unknown route {route!r}")


@attrs.define
class _Injection:
    fault: Fault
    route: str | None
    page_index: int | None
    method: str | None
    remaining: int | None  # None: forever

    def matches(self, route: RouteName, page_index: int | None, method: str) -> bool:
        return (
            _aims_at(self.route, route)
            and (self.page_index is None or self.page_index == page_index)
            and (self.method is None or self.method == method)
        )


@attrs.frozen
class _RandomFaults:
    rate: float
    rng: random.Random
    kinds: tuple[str, ...]
    route: RouteName | None
    faults: Mapping[str, Fault]


class FaultPlan:
    """The scripted and random faults of one fake service."""

    def __init__(self) -> None:
        self._injections: list[_Injection] = []
        self._random: _RandomFaults | None = None
        self.random_fault_counts: dict[str, int] = {}

    def inject(
        self,
        fault: Fault,
        *,
        route: RouteName | None,
        page_index: int | None,
        times: int | None,
        method: str | None = None,
    ) -> None:
        """Script ``fault`` for the next ``times`` matching requests (``None``: all)."""
        _check_route(route)
        if page_index is not None:
            if route is not None and route not in LISTING_ROUTES:
                raise ValueError(
                    f"page_index only applies to the listings {sorted(LISTING_ROUTES)}"
                )
            if page_index < 0:
                raise ValueError(f"page_index must be >= 0, got {page_index!r}")
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times!r}")
        if method is not None and method.upper() not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)} or None, got {method!r}")
        upper = None if method is None else method.upper()
        self._injections.append(_Injection(fault, route, page_index, upper, times))

    def pending(self) -> list[Fault]:
        """The scripted faults not used up yet, in injection order."""
        return [injection.fault for injection in self._injections]

    def clear(self) -> None:
        """Remove every scripted fault."""
        self._injections.clear()

    def randomize(
        self,
        rate: float,
        *,
        seed: int,
        kinds: Iterable[RandomFaultKind],
        route: RouteName | None,
        slow_seconds: float,
        retry_after: float,
    ) -> None:
        """Hit a random ``rate`` of requests with one of ``kinds`` (``rate=0``: off)."""
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in 0..1, got {rate!r}")
        chosen = tuple(kinds)
        if not chosen or any(kind not in RANDOM_FAULT_KINDS for kind in chosen):
            raise ValueError(f"kinds must be some of {RANDOM_FAULT_KINDS}, got {chosen!r}")
        _check_route(route)
        faults: dict[str, Fault] = {
            "503": Fault.status(503),
            "429": Fault.status(429, retry_after=retry_after),
            "drop_mid_body": Fault.drop(),
            "drop_before_headers": Fault.drop(mid_body=False),
            "slow": Fault.delay(slow_seconds),
        }
        self._random = (
            _RandomFaults(rate, random.Random(seed), chosen, route, faults)  # noqa: S311
            if rate
            else None
        )

    def take(self, route: RouteName, page_index: int | None, method: str) -> Fault | None:
        """The fault for a request that just arrived, if any (rules 2 to 5)."""
        if route == "other":
            return None
        for injection in self._injections:
            if injection.matches(route, page_index, method):
                if injection.remaining is not None:
                    injection.remaining -= 1
                    if injection.remaining == 0:
                        self._injections.remove(injection)
                return injection.fault
        chance = self._random
        if chance is None or not _aims_at(chance.route, route):
            return None
        if chance.rng.random() >= chance.rate:
            return None
        kind = chance.rng.choice(chance.kinds)
        self.random_fault_counts[kind] = self.random_fault_counts.get(kind, 0) + 1
        return chance.faults[kind]


# -- applying a fault ------------------------------------------------------------------------


def inject_faults(plan: FaultPlan) -> Middleware:
    """The middleware that applies ``plan`` to each request (after the request log)."""

    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        entry = request[LOG_ENTRY]
        fault = plan.take(entry.route, entry.page_index, entry.method)
        if fault is None:
            return await handler(request)
        return await _APPLY[fault.kind](fault, request, handler, entry)

    return faults


_Apply = Callable[[Fault, web.Request, Handler, LogEntry], Awaitable[web.StreamResponse]]


async def _delay(
    fault: Fault, request: web.Request, handler: Handler, entry: LogEntry
) -> web.StreamResponse:
    # A client that hangs up meanwhile cancels this wait (FakeServer cancels handlers).
    await asyncio.sleep(fault.seconds)
    return await handler(request)


async def _status(
    fault: Fault, request: web.Request, handler: Handler, entry: LogEntry
) -> web.StreamResponse:
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = retry_after_header(fault.retry_after)
    return error_reply(fault.status_code, fault.message, **headers)


async def _body(
    fault: Fault, request: web.Request, handler: Handler, entry: LogEntry
) -> web.StreamResponse:
    return reply(fault.status_code, fault.raw, content_type=fault.content_type)


async def _drop(
    fault: Fault, request: web.Request, handler: Handler, entry: LogEntry
) -> web.StreamResponse:
    if fault.mid_body:
        return await _stall(fault, request, handler, entry)
    if fault.after_applying:
        await handler(request)  # rule 7: the write is applied, its answer never sent
    entry.status = -1
    _cut_connection(request)
    return web.Response()  # never sent: aiohttp finds the connection closed


async def _stall(
    fault: Fault, request: web.Request, handler: Handler, entry: LogEntry
) -> web.StreamResponse:
    """Headers with the full Content-Length and half the body, then cut or wait (rule 6)."""
    normal = await handler(request)
    body = body_bytes(normal)
    cut = len(body) // 2
    headers = {k: v for k, v in normal.headers.items() if k.lower() != "transfer-encoding"}
    response = web.StreamResponse(status=normal.status, headers=headers)
    response.content_length = len(body)
    try:
        await response.prepare(request)
        if fault.kind == "drop":
            entry.status = -1
            if cut:
                await response.write(body[:cut])
            _cut_connection(request)
            return response
        entry.status = normal.status
        if cut:
            await response.write(body[:cut])
        await asyncio.sleep(fault.seconds)
        await response.write(body[cut:])
        await response.write_eof()
    except ConnectionError:
        pass  # the client hung up; aiohttp finishes the request quietly
    return response


_APPLY: Final[dict[FaultKind, _Apply]] = {
    "delay": _delay,
    "status": _status,
    "body": _body,
    "drop": _drop,
    "stall": _stall,
}


def _cut_connection(request: web.BaseRequest) -> None:
    # close(), not abort(): buffered bytes go out, then a FIN, which aiohttp's client
    # reports as ServerDisconnectedError (no headers yet) or ClientPayloadError (mid-body).
    transport = request.transport
    if transport is not None:
        transport.close()

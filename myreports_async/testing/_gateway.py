"""The gateway in front of the fake's routes: a chain of aiohttp.web middlewares.

A real service sits behind a gateway (a load balancer, an API management layer) that
logs, throttles and breaks requests before the service sees them. The fake has the same
shape; the first middleware is the outermost::

    request -> record -> rate limit -> faults -> route (billing, Enterprise, OAuth, or 404)

1. record (here): the request is logged at once, so the log is in arrival order, with its
   route, its ``pageIndex``, the verdict on its credentials (checked once, here; the
   routes reuse the verdict), its ``accept-charges`` header and the JSON body of an API
   write (read here; aiohttp keeps it for the route). The entry is put on the request
   (``LOG_ENTRY``) for the layers behind, and gets the status of the answer that comes
   back, or -1 if the client hung up before it.
2. rate limit (``_rate_limit``): API requests beyond the token bucket are refused.
3. faults (``_fault_injection``): the first matching scripted (or random) fault is
   applied, before authentication.
4. Without a refusal or a fault (or after a ``delay``) the route answers like the real
   service: 401 without accepted credentials, 400 for malformed input, 404 for unknown
   ids and paths.

A new gateway behaviour is one more middleware in its own module, put into
:func:`gateway_middlewares` where a real gateway would act; a behaviour of an existing
layer (another way of refusing, say) goes into that layer's module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._fault_injection import FaultPlan, inject_faults
from ._faults import API_ROUTES, LISTING_ROUTES, ROUTES, RouteName, route_group
from ._rate_limit import TokenBucket, rate_limit
from ._replies import charges_accepted, int_param
from ._request_log import LOG_ENTRY, LogEntry, RequestLog, redacted

__all__ = ["CallerCheck", "gateway_middlewares", "record"]

CallerCheck = Callable[[web.Request, RouteName], Awaitable[bool]]
"""Whether a request's credentials are good for its route."""


def route_name(request: web.Request) -> RouteName:
    """The name the route that matched the request was added with (``"other"``: none)."""
    name = route_group(request.match_info.route.name)
    return cast(RouteName, name) if name in ROUTES else "other"


def listing_page_index(request: web.Request, route: RouteName) -> int | None:
    """The valid ``pageIndex`` of a listing's GET (0 when absent), else ``None``."""
    if route not in LISTING_ROUTES or request.method != "GET":
        return None
    if request.match_info.route.name != route:  # one item of the group, not its listing
        return None
    parsed = int_param(request.query, "pageIndex", 0, 0)
    return parsed if isinstance(parsed, int) else None


async def json_body(request: web.Request, route: RouteName) -> object | None:
    """The parsed JSON body of a write to an API route, secrets redacted; else ``None``."""
    if (
        route not in API_ROUTES
        or request.method not in ("POST", "PATCH")
        or not request.can_read_body
    ):
        return None
    try:
        return redacted(msgspec.json.decode(await request.read()))
    except (msgspec.DecodeError, web.HTTPException):
        return None  # not JSON, or too large: the route answers that


def record(log: RequestLog, caller_accepted: CallerCheck) -> Middleware:
    """The middleware that logs each request as it arrives and its status as it leaves."""

    @web.middleware
    async def recording(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_name(request)
        entry = LogEntry(
            method=request.method,
            path=request.path,
            query=dict(request.query.items()),
            route=route,
            page_index=listing_page_index(request, route),
            authorized=await caller_accepted(request, route),
            accept_charges=charges_accepted(request.headers),
            json=await json_body(request, route),
        )
        log.append(entry)
        request[LOG_ENTRY] = entry
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            # The client hung up (aiohttp then cancels the handler) or the server stops.
            if entry.status == 0:
                entry.status = -1
            raise
        if entry.status == 0:  # a fault that sent or cut the answer itself set it already
            entry.status = response.status
        return response

    return recording


def gateway_middlewares(
    log: RequestLog, caller_accepted: CallerCheck, bucket: TokenBucket, faults: FaultPlan
) -> list[Middleware]:
    """The gateway's layers, outermost first (see the module's docstring)."""
    return [record(log, caller_accepted), rate_limit(bucket), inject_faults(faults)]

"""The gateway's rate limit: a token bucket in front of the API routes.

Rules:

1. Only the API routes are limited; the OAuth endpoints and unknown paths never are, so
   a throttled client can still refresh its token.
2. The bucket holds up to ``burst`` requests (at least one) and refills at ``rate``
   requests per second; it starts full. A request that finds a whole request in it takes
   one and passes.
3. A request that finds less is refused (:func:`refusal`) and takes nothing, so a client
   that retries at once does not push the next free moment further away. The refusal
   is the bucket's ``status`` (429, or 503 as nginx answers) with its ``retry_after``:
   the exact wait as a fraction, a fixed number of seconds, or no header.
4. ``rate=None`` switches the limit off and forgets the bucket: switched on again, it
   starts full.
5. The limit acts after the request is logged and before faults, as a gateway in front
   of the service would: a refused request is in the log, and uses up no fault.

How a refusal is written (status, ``Retry-After``) is decided in :func:`refusal` alone;
other gateway styles of refusing belong there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._faults import API_ROUTES
from ._replies import error_reply, retry_after_header
from ._request_log import LOG_ENTRY

__all__ = ["TokenBucket", "rate_limit", "refusal"]


class TokenBucket:
    """Requests per second with a burst (rules 2 to 4); ``clock`` is monotonic seconds.

    ``rate``, ``burst``, ``status`` and ``retry_after`` (how a refusal is answered: see
    :func:`refusal`) are plain attributes that tests change between requests.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float = 1.0,
        status: int = 429,
        retry_after: float | str | None = "exact",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate_limit must be > 0 or None, got {rate!r}")
        self.rate = rate
        self.burst = burst
        self.status = status
        self.retry_after = retry_after
        self._clock = clock
        self._state: tuple[float, float] | None = None  # (requests held, at clock time)

    def take(self) -> float | None:
        """Take a request from the bucket: ``None`` if it may pass, else the seconds until
        one may."""
        rate = self.rate
        if rate is None:
            self._state = None
            return None
        burst = max(1.0, self.burst)
        now = self._clock()
        held, then = self._state if self._state is not None else (burst, now)
        held = min(burst, held + (now - then) * rate)
        if held >= 1:
            self._state = (held - 1, now)
            return None
        self._state = (held, now)
        return (1 - held) / rate


def refusal(
    wait: float, *, status: int = 429, retry_after: float | str | None = "exact"
) -> web.Response:
    """The answer to a refused request: ``status`` (429) with a ``Retry-After`` header.

    ``retry_after="exact"`` (the default) sends the wait rounded up to the millisecond as
    a fraction (``0.125``), which real gateways never send but lets fast tests wait no
    longer than needed. A number is sent as that many seconds whatever the wait, as real
    gateways send ``1`` or ``0``; ``None`` sends no header (nginx's ``limit_req``).
    """
    if retry_after is None:
        return error_reply(status)
    if retry_after == "exact":
        retry_after = math.ceil(wait * 1000) / 1000
    return error_reply(status, None, **{"Retry-After": retry_after_header(retry_after)})


def rate_limit(bucket: TokenBucket) -> Middleware:
    """The middleware that refuses API requests beyond ``bucket`` (rules 1 and 5)."""

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request[LOG_ENTRY].route in API_ROUTES:
            wait = bucket.take()
            if wait is not None:
                return refusal(wait, status=bucket.status, retry_after=bucket.retry_after)
        return await handler(request)

    return limit

"""The API session: bearer token, rate limiter and retries around the one HTTP path.

What it hands up is bytes (or a body streamed into a sink); parsing happens above it,
outside the retry loop, so a decode error is never retried. The exchange itself, the
retry loop and the translation of aiohttp's errors are :mod:`._http`'s, shared with the
token endpoint.

Layers, each with one job::

    request(url, read)                  _http.retrying: cool-down, backoff, give up
      └─ attempt(n)                     the token; one forced refresh and repeat on a 401
           └─ _attempt_in_window(...)   holds a slot of the rate limiter (_concurrency)
                └─ HttpConnection.send  one exchange (_http)

Rule (401): the first 401 of a request asks the provider for a replacement of the
        refused token (:func:`._auth.replacement_token`) and repeats at once, without
        counting a failed attempt; a second 401, or a provider that hands back the same
        token, raises ``AuthenticationError``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Final, TypeVar

from yarl import URL

from . import _protocol
from ._auth import TokenProvider, replacement_token
from ._codec import error_message
from ._concurrency import Outcome, RateLimiter
from ._errors import AuthenticationError, DecodeError
from ._http import ClientSession, ErrorAnswer, HttpConnection, Reader, Response, retrying
from ._retry import RetryPolicy, Sleep
from ._transport import BodyTooLarge, TransportFailure, read_capped

__all__ = ["DEFAULT_MAX_JSON_BYTES", "ApiSession"]

T = TypeVar("T")

#: The answers that say "too fast": 429, and 503 (an overloaded service, or a gateway's
#: default refusal: nginx's ``limit_req`` answers 503 without ``Retry-After``).
THROTTLING_STATUSES: Final = frozenset({429, 503})

logger = logging.getLogger("myreports_async")

#: The largest JSON answer (a page, an invoice) read by default: 64 MiB. A larger (or
#: endless) body raises :class:`DecodeError`, not retried; ``Content-Length`` is checked
#: before reading and the count while reading.
DEFAULT_MAX_JSON_BYTES: Final = 64 * 1024 * 1024


class ApiSession:
    """Sends API requests with the bearer token, retries and error translation.

    Not public: :class:`~myreports_async.MyReportsClient` composes it.
    """

    def __init__(
        self,
        *,
        auth: TokenProvider,
        retry: RetryPolicy,
        timeout: float,
        session: ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
        rate_limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._auth = auth
        self._retry = retry
        self.connection = HttpConnection(
            timeout=timeout,
            session=session,
            ssl_context=ssl_context,
            closed_message="the MyReportsClient is closed",
        )
        self._max_json_bytes = max_json_bytes
        self._sleep = sleep
        self._rand = rand
        self._now = now
        # The service's rate limit as this client sees it: the pace and the number of
        # attempts out, and the Retry-After pause (_concurrency); shared when given.
        self.limiter = (
            rate_limiter if rate_limiter is not None else RateLimiter(clock=clock, sleep=sleep)
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self.connection.closed

    async def close(self) -> None:
        """Close the session if this object created it; a borrowed one is left open."""
        await self.connection.close()

    async def get_bytes(
        self, url: URL, *, params: Mapping[str, str] | None = None, accept: str = "application/json"
    ) -> bytes:
        """GET a whole JSON body (at most ``max_json_bytes``), with retries."""
        limit = self._max_json_bytes

        async def read(resp: Response) -> bytes:
            try:
                return await read_capped(resp, limit)
            except BodyTooLarge as exc:
                size = f" ({exc.size:,} bytes)" if exc.size is not None else ""
                shown = _protocol.redact_url(resp.url)
                raise DecodeError(
                    f"response body{size} exceeds the {limit:,}-byte limit for a JSON "
                    f"answer: {shown}",
                    url=shown,
                ) from None

        return await self.request(url, read, params=params, accept=accept)

    async def request(
        self,
        url: URL,
        read: Reader[T],
        *,
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
        before_retry: Callable[[], None] | None = None,
    ) -> T:
        """GET ``url`` and hand a 2xx answer to ``read``, retrying transient failures.

        ``read`` only does I/O (reads or streams the body); a ``ClientPayloadError`` or
        timeout inside it is retried like any other transport failure. ``before_retry``
        runs before every repeat of the request (a download rewinds its file there; it
        may raise to stop the retry).
        """
        shown_url = _protocol.redact_url(url.update_query(params) if params else url)
        refreshed = False
        sent = 0

        async def attempt(number: int) -> T | ErrorAnswer | TransportFailure:
            nonlocal refreshed, sent
            # Asked for every attempt, so a token refreshed meanwhile is used at once.
            token = await self._auth.get_token()
            while True:
                sent += 1
                outcome = await self._attempt_in_window(
                    url, read, params=params, accept=accept, token=token, shown=(shown_url, sent)
                )
                if not (isinstance(outcome, ErrorAnswer) and outcome.status == 401):
                    return outcome
                token = await self._after_401(outcome, token, refreshed=refreshed, url=shown_url)
                refreshed = True
                if before_retry is not None:
                    before_retry()

        return await retrying(
            attempt,
            policy=self._retry,
            shown_url=shown_url,
            error_for=lambda answer, retry_after: _protocol.build_api_error(
                answer.status, answer.message, url=shown_url, retry_after=retry_after
            ),
            transport_error_for=lambda failure, failed: failure.to_error(
                failed=failed, url=shown_url
            ),
            cool_down=self.limiter.request_pause(),  # Rule 9 of _concurrency
            before_retry=before_retry,
            sleep=self._sleep,
            rand=self._rand,
            now=self._now,
        )

    async def _attempt_in_window(
        self,
        url: URL,
        read: Reader[T],
        *,
        params: Mapping[str, str] | None,
        accept: str,
        token: str,
        shown: tuple[str, int],
    ) -> T | ErrorAnswer | TransportFailure:
        """One attempt holding a slot of the client's concurrency window."""
        limiter = self.limiter
        # The slot comes after the Retry-After pause and at the limiter's pace.
        ticket = await limiter.acquire()
        result = Outcome.NEUTRAL  # also what a cancellation or an exception reports
        asked: float | None = None
        try:
            # The header is set per request, not by a session middleware: aiohttp runs
            # middlewares again on every redirect hop, which would hand the token to a
            # storage host; a plain header is dropped by aiohttp when the origin changes.
            outcome = await self.connection.send(
                "GET",
                url,
                read,
                shown=shown,
                message_of=error_message,
                headers={"Authorization": f"Bearer {token}", "Accept": accept},
                params=params,
            )
            if not isinstance(outcome, (ErrorAnswer, TransportFailure)):
                result = Outcome.SUCCESS
            elif isinstance(outcome, ErrorAnswer) and outcome.status in THROTTLING_STATUSES:
                result = Outcome.THROTTLED
                asked = self._retry.honoured_retry_after(outcome.retry_after, now=self._now())
            return outcome
        finally:
            limiter.release(ticket, result, asked)

    async def _after_401(
        self, outcome: ErrorAnswer, refused: str, *, refreshed: bool, url: str
    ) -> str:
        """The token for the one repeat after a 401, or raise ``AuthenticationError``."""
        if not refreshed:
            fresh = await replacement_token(self._auth, refused)
            if fresh != refused:
                logger.info("401 from %s: repeating once with a refreshed access token", url)
                return fresh
        # A second 401, or a provider that cannot mint a new token: repeating must fail.
        raise AuthenticationError(outcome.message, status=401, url=url)

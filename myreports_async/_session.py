"""The HTTP layer: the only module that talks to aiohttp for API calls.

It owns (or borrows) the ``ClientSession``, puts the bearer token on each request,
runs the retry loop, and translates aiohttp's exceptions exactly once, here. What it
hands up is bytes (or a body streamed into a sink); parsing happens above it, outside
the retry loop, so a decode error is never retried.

Layers, each with one job::

    request(url, read)               the retry loop: cool-down, backoff, 401 refresh, give up
      └─ _attempt_in_window(...)     holds a slot of the AIMD window (_concurrency)
           └─ _attempt(url, token)   one HTTP exchange; every aiohttp error becomes an outcome
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Final, TypeVar

import aiohttp
import attrs
from yarl import URL

from . import _protocol
from ._auth import TokenProvider, replacement_token
from ._codec import error_message
from ._concurrency import AdaptiveConcurrency, Outcome
from ._errors import AuthenticationError, DecodeError
from ._retry import CoolDown, RetryPolicy, Sleep
from ._transport import (
    BodyTooLarge,
    EnvironmentProxies,
    TransportFailure,
    read_capped,
    read_limited,
)

__all__ = ["ApiSession"]

logger = logging.getLogger("myreports_async")
#: Each attempt at DEBUG (method, URL without secrets, status, duration, attempt number)
#: and each retry at INFO, marked ``retry=True`` for handlers that show only retries.
http_logger = logging.getLogger("myreports_async.http")

T = TypeVar("T")

#: An error body is only read for its message: never more than this.
MAX_ERROR_BODY: Final = 64 * 1024

MAX_JSON_BODY = 64 * 1024 * 1024
"""The largest JSON answer (a page, an invoice) the client reads: 64 MiB.

``Content-Length`` is checked before reading and the count while reading; a larger (or
endless) body raises :class:`DecodeError`, not retried. A module attribute, not
``Final``, so a test (or a user expecting larger pages) can change it.
"""

#: How one attempt's body is read once the status is a success (I/O only, no parsing).
Reader = Callable[[aiohttp.ClientResponse], Awaitable[T]]


@attrs.frozen
class _ErrorAnswer:
    """A non-2xx answer, read and released."""

    status: int
    message: str
    retry_after: str | None


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
        session: aiohttp.ClientSession | None = None,
        user_agent: str,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._auth = auth
        self._retry = retry
        # sock_connect and sock_read bound each wait, not the whole transfer, so a
        # large download on a slow link is never cut off while bytes keep coming.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=timeout, sock_read=timeout
        )
        self._session = session
        self._owns_session = session is None
        self._user_agent = user_agent
        # True: aiohttp's default verification against the system's trust store.
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        # Proxies from the environment only for a session of our own: a borrowed
        # session keeps its owner's proxy settings.
        self._proxies = EnvironmentProxies() if session is None else None
        self._sleep = sleep
        self._rand = rand
        self._now = now
        self.cool_down = CoolDown(clock=clock, sleep=sleep)
        # Attempts in flight: halved on a 429, grown again on success (_concurrency).
        self.concurrency = AdaptiveConcurrency(clock=clock, sleep=sleep)
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def _client_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the MyReportsClient is closed")
        if self._session is None:
            # Created on first use: aiohttp needs a running event loop for it.
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the session if this object created it; a borrowed one is left open."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def get_bytes(
        self, url: URL, *, params: Mapping[str, str] | None = None, accept: str = "application/json"
    ) -> bytes:
        """GET a whole body, with retries."""

        async def read(resp: aiohttp.ClientResponse) -> bytes:
            limit = MAX_JSON_BODY
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
        failed = 0
        refreshed = False
        token: str | None = None
        attempt = 0
        while True:
            await self.cool_down.wait()
            if token is None:
                # Asked for every attempt, so a token refreshed meanwhile is used at once.
                token = await self._auth.get_token()
            attempt += 1
            outcome = await self._attempt_in_window(
                url, read, params=params, accept=accept, token=token, shown=(shown_url, attempt)
            )
            if not isinstance(outcome, (_ErrorAnswer, TransportFailure)):
                return outcome
            if isinstance(outcome, _ErrorAnswer) and outcome.status == 401:
                token = await self._after_401(outcome, token, refreshed=refreshed, url=shown_url)
                refreshed = True
            else:
                token = None
                failed += 1
                delay = self._retry_delay(outcome, failed=failed, url=shown_url)
                http_logger.info(
                    "attempt %d of %d for %s failed (%s); retrying in %.3fs",
                    failed,
                    self._retry.max_attempts,
                    shown_url,
                    _describe_outcome(outcome),
                    max(delay, self.cool_down.remaining),
                    extra={"retry": True},
                )
                if delay > 0:
                    await self._sleep(delay)
            if before_retry is not None:
                before_retry()

    async def _attempt_in_window(
        self,
        url: URL,
        read: Reader[T],
        *,
        params: Mapping[str, str] | None,
        accept: str,
        token: str,
        shown: tuple[str, int],
    ) -> T | _ErrorAnswer | TransportFailure:
        """One attempt holding a slot of the client's concurrency window."""
        ticket = await self.concurrency.acquire()
        result = Outcome.NEUTRAL  # also what a cancellation or an exception reports
        try:
            # A 429 seen while this attempt waited for its slot set a pause: honour it.
            await self.cool_down.wait()
            outcome = await self._attempt(
                url, read, params=params, accept=accept, token=token, shown=shown
            )
            if not isinstance(outcome, (_ErrorAnswer, TransportFailure)):
                result = Outcome.SUCCESS
            elif isinstance(outcome, _ErrorAnswer) and outcome.status == 429:
                result = Outcome.THROTTLED
            return outcome
        finally:
            self.concurrency.release(ticket, result)

    async def _after_401(
        self, outcome: _ErrorAnswer, refused: str, *, refreshed: bool, url: str
    ) -> str:
        """The token for the one repeat after a 401, or raise ``AuthenticationError``."""
        if not refreshed:
            fresh = await replacement_token(self._auth, refused)
            if fresh != refused:
                logger.info("401 from %s: repeating once with a refreshed access token", url)
                return fresh
        # A second 401, or a provider that cannot mint a new token: repeating must fail.
        raise AuthenticationError(outcome.message, status=401, url=url)

    def _retry_delay(
        self, outcome: _ErrorAnswer | TransportFailure, *, failed: int, url: str
    ) -> float:
        """Seconds to wait before the next attempt, or raise the final error."""
        policy = self._retry
        if isinstance(outcome, TransportFailure):
            delay = policy.failure_delay(
                transient=outcome.transient, failed=failed, rand=self._rand
            )
            if delay is None:
                raise outcome.to_error(failed=failed, url=url)
            return delay
        retry_after = policy.honoured_retry_after(outcome.retry_after, now=self._now())
        delay = policy.status_delay(outcome.status, retry_after, failed=failed, rand=self._rand)
        if delay is None:
            raise _protocol.build_api_error(
                outcome.status, outcome.message, url=url, retry_after=retry_after
            )
        if retry_after is not None or outcome.status == 429:
            # One pause for every request of this client, not a wave of retries.
            self.cool_down.extend(delay)
            return 0.0
        return delay

    async def _attempt(
        self,
        url: URL,
        read: Reader[T],
        *,
        params: Mapping[str, str] | None,
        accept: str,
        token: str,
        shown: tuple[str, int],
    ) -> T | _ErrorAnswer | TransportFailure:
        """One exchange. Success is ``read``'s result; anything else is an outcome value.

        ``shown`` (the URL without secrets, the attempt number) is for the DEBUG line.
        """
        # The header is set per request, not by a session middleware: aiohttp runs
        # middlewares again on every redirect hop, which would hand the token to a
        # storage host; a plain header is dropped by aiohttp when the origin changes.
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": accept,
            "User-Agent": self._user_agent,
        }
        session = self._client_session()
        proxy, proxy_headers = self._proxies.for_url(url) if self._proxies else (None, None)
        started = time.perf_counter()
        status: int | None = None
        try:
            async with session.get(
                url,
                params=params,
                headers=headers,
                timeout=self._timeout,
                ssl=self._ssl,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as resp:
                status = resp.status
                if 200 <= resp.status < 300:
                    result = await read(resp)
                    _log_attempt(shown, f"HTTP {status}", started)
                    return result
                body = await read_limited(resp, MAX_ERROR_BODY)
                message = error_message(body) or resp.reason or _reason_phrase(resp.status)
                _log_attempt(shown, f"HTTP {status}", started)
                return _ErrorAnswer(resp.status, message, resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = TransportFailure.of(exc)
            after = f"HTTP {status}, then " if status is not None else ""
            _log_attempt(shown, f"{after}failed ({failure.description})", started)
            return failure
        except asyncio.CancelledError:
            # A read-ahead request the listing no longer needs, or a consumer that left.
            _log_attempt(shown, "cancelled", started)
            raise


def _log_attempt(shown: tuple[str, int], result: str, started: float) -> None:
    if http_logger.isEnabledFor(logging.DEBUG):
        seconds = time.perf_counter() - started
        url, attempt = shown
        http_logger.debug("GET %s -> %s in %.3fs (attempt %d)", url, result, seconds, attempt)


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _describe_outcome(outcome: _ErrorAnswer | TransportFailure) -> str:
    if isinstance(outcome, _ErrorAnswer):
        return f"HTTP {outcome.status}: {outcome.message}"
    return outcome.description

"""The one HTTP path: one attempt for any method, and one retry loop around it.

Every request of the package goes through here, the API's and the token endpoint's
alike, so the user agent, timeouts, TLS, proxies, the translation of aiohttp's errors
and the request log are set in one place::

    retrying(send, ...)                 the retry loop: cool-down, backoff, give up
      └─ send(attempt)                  the caller's attempt (auth, concurrency slot...)
           └─ HttpConnection.send(...)  one exchange; every aiohttp error becomes an outcome

Rule 1 (outcomes, not exceptions): an attempt returns the reader's result for a 2xx
        answer, an :class:`ErrorAnswer` (read and released) for any other status, or a
        :class:`TransportFailure` when no usable answer came. The loop needs no
        try/except; an exception from the reader (a decode error) is never retried.
Rule 2 (what is retried): transport failures the policy calls transient, and the
        policy's ``retry_statuses``, until ``max_attempts``; ``Retry-After`` replaces
        the backoff. With a shared :class:`CoolDown`, any ``Retry-After``, and a 429 or
        503 without one (a rate limit, an overloaded service), pauses every request of
        the client together instead of this one alone.
Rule 3 (timeouts): ``timeout`` bounds connecting and each wait for data (aiohttp's
        ``sock_connect`` and ``sock_read``), never a whole transfer.
Rule 4 (proxies): a connection that creates its own session takes ``HTTPS_PROXY`` and
        ``NO_PROXY`` from the environment (never ``~/.netrc``); a borrowed session keeps
        its owner's settings.
Rule 5 (the log): each attempt is one DEBUG record on ``myreports_async.http`` (method,
        URL without secrets, status or failure, duration, attempt number); each retry
        one INFO record there, marked ``retry=True``. Never a header, never a body.

aiohttp is imported here, in :mod:`._transport` (its error table and body readers) and
in :mod:`._login` (the loopback listener of the sign-in), nowhere else outside
``testing/``.
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
from typing import Any, Final, TypeVar

import aiohttp
import attrs
from yarl import URL

from ._retry import CoolDown, RetryPolicy, Sleep
from ._transport import EnvironmentProxies, TransportFailure, read_limited
from ._version import __version__

__all__ = [
    "SHARED_PAUSE_STATUSES",
    "USER_AGENT",
    "ClientSession",
    "ClientTimeout",
    "ErrorAnswer",
    "HttpConnection",
    "Reader",
    "Response",
    "reason_phrase",
    "retrying",
]

http_logger = logging.getLogger("myreports_async.http")

T = TypeVar("T")

#: Re-exported for the type annotations of the layers above, which do not import aiohttp.
ClientSession = aiohttp.ClientSession
ClientTimeout = aiohttp.ClientTimeout
Response = aiohttp.ClientResponse

USER_AGENT: Final = f"myreports-async/{__version__} aiohttp/{aiohttp.__version__}"

#: Answers that pause every request together even without ``Retry-After`` (Rule 2): a
#: rate limit (429) and an overloaded service or a gateway's refusal (503); each page
#: retrying on its own schedule would keep the service overloaded.
SHARED_PAUSE_STATUSES: Final = frozenset({429, 503})

#: How one attempt's 2xx body is read (I/O only, no parsing).
Reader = Callable[[aiohttp.ClientResponse], Awaitable[T]]


@attrs.frozen
class ErrorAnswer:
    """A non-2xx answer, read (up to a limit) and released.

    ``message`` is what the caller's ``message_of`` made of the body: the service's own
    message, else the reason phrase.
    """

    status: int
    message: str
    body: bytes
    retry_after: str | None

    def describe(self) -> str:
        """``HTTP 503: Service Unavailable``: for log lines."""
        return f"HTTP {self.status}: {self.message}"


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (``HTTP 599`` for an unknown one)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _describe(outcome: object) -> str:
    if isinstance(outcome, (ErrorAnswer, TransportFailure)):
        return outcome.describe() if isinstance(outcome, ErrorAnswer) else outcome.description
    return "done"


class HttpConnection:
    """One ``aiohttp.ClientSession`` (owned or borrowed) and the options of every request.

    Args:
        timeout: seconds for connecting and for each wait for data (Rule 3).
        session: a session to borrow (never closed here); ``None``: one is created on
            first use (aiohttp needs a running loop) and closed by :meth:`close`.
        ssl_context: the certificate verification to use; ``None``: the system's.
        closed_message: the ``RuntimeError`` text once closed ("the MyReportsClient is
            closed").
    """

    def __init__(
        self,
        *,
        timeout: float,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        closed_message: str = "the connection is closed",
    ) -> None:
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=timeout, sock_read=timeout
        )
        self._session = session
        self._owns_session = session is None
        # True: aiohttp's default verification against the system's trust store.
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._proxies = EnvironmentProxies() if session is None else None  # Rule 4
        self._closed = False
        self._closed_message = closed_message

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use; ``RuntimeError`` once closed."""
        if self._closed:
            raise RuntimeError(self._closed_message)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        """Close the session if this object created it; a borrowed one is left open."""
        self._closed = True
        session, self._session = self._session, None
        if self._owns_session and session is not None:
            await session.close()

    async def send(
        self,
        method: str,
        url: URL,
        read: Reader[T],
        *,
        shown: tuple[str, int],
        message_of: Callable[[bytes], str | None],
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None,
        json: Any = None,
        allow_redirects: bool = True,
        error_body_limit: int = 64 * 1024,
    ) -> T | ErrorAnswer | TransportFailure:
        """One exchange (Rule 1). ``shown`` is (URL without secrets, attempt number)."""
        proxy, proxy_headers = self._proxies.for_url(url) if self._proxies else (None, None)
        started = time.perf_counter()
        status: int | None = None
        try:
            async with self.session().request(
                method,
                url,
                params=params,
                data=data,
                json=json,
                headers={"User-Agent": USER_AGENT, **(headers or {})},
                timeout=self.timeout,
                allow_redirects=allow_redirects,
                ssl=self._ssl,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as resp:
                status = resp.status
                if 200 <= status < 300:
                    result = await read(resp)
                    _log_attempt(method, shown, f"HTTP {status}", started)
                    return result
                body = await read_limited(resp, error_body_limit)
                message = message_of(body) or resp.reason or reason_phrase(status)
                _log_attempt(method, shown, f"HTTP {status}", started)
                return ErrorAnswer(status, message, body, resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failure = TransportFailure.of(exc)
            after = f"HTTP {status}, then " if status is not None else ""
            _log_attempt(method, shown, f"{after}failed ({failure.description})", started)
            return failure
        except asyncio.CancelledError:
            # A read-ahead request the listing no longer needs, or a caller that left.
            _log_attempt(method, shown, "cancelled", started)
            raise


def _log_attempt(method: str, shown: tuple[str, int], result: str, started: float) -> None:
    if http_logger.isEnabledFor(logging.DEBUG):
        seconds = time.perf_counter() - started
        url, attempt = shown
        http_logger.debug(
            "%s %s -> %s in %.3fs (attempt %d)", method, url, result, seconds, attempt
        )


async def retrying(
    send: Callable[[int], Awaitable[T | ErrorAnswer | TransportFailure]],
    *,
    policy: RetryPolicy,
    shown_url: str,
    error_for: Callable[[ErrorAnswer, float | None], Exception],
    transport_error_for: Callable[[TransportFailure, int], Exception],
    cool_down: CoolDown | None = None,
    before_retry: Callable[[], None] | None = None,
    sleep: Sleep = asyncio.sleep,
    rand: Callable[[], float] = random.random,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    label: str = "attempt",
) -> T:
    """Call ``send(attempt_number)`` until it succeeds or the policy gives up (Rule 2).

    ``error_for(answer, retry_after)`` and ``transport_error_for(failure, attempts)``
    build the exception raised when an outcome is final. ``before_retry`` runs before
    every repeat (a download rewinds its file there; it may raise to stop).
    """
    failed = 0
    while True:
        if cool_down is not None:
            await cool_down.wait()
        outcome = await send(failed + 1)
        if not isinstance(outcome, (ErrorAnswer, TransportFailure)):
            return outcome
        failed += 1
        if isinstance(outcome, TransportFailure):
            delay = policy.failure_delay(transient=outcome.transient, failed=failed, rand=rand)
            if delay is None:
                raise transport_error_for(outcome, failed)
        else:
            retry_after = policy.honoured_retry_after(outcome.retry_after, now=now())
            delay = policy.status_delay(outcome.status, retry_after, failed=failed, rand=rand)
            if delay is None:
                raise error_for(outcome, retry_after)
            if cool_down is not None and (
                retry_after is not None or outcome.status in SHARED_PAUSE_STATUSES
            ):
                # One pause for every request of this client, not a wave of retries.
                cool_down.extend(delay)
                delay = 0.0
        http_logger.info(
            "%s %d of %d for %s failed (%s); retrying in %.3fs",
            label,
            failed,
            policy.max_attempts,
            shown_url,
            _describe(outcome),
            max(delay, cool_down.remaining if cool_down is not None else 0.0),
            extra={"retry": True},
        )
        if delay > 0:
            await sleep(delay)
        if before_retry is not None:
            before_retry()

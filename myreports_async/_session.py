"""The API session: bearer token, rate limiter and retries around the one HTTP path.

What it hands up is bytes (or a body streamed into a sink); parsing happens above it,
outside the retry loop, so a decode error is never retried. The exchange itself, the
retry loop and the translation of aiohttp's errors are :mod:`._http`'s, shared with the
token endpoint. Reads and writes (any method, with a JSON body and extra headers) take
the same path, the same limiter and the same loop; what differs is which outcomes a
write may repeat, decided here and handed to the loop as a policy.

Layers, each with one job::

    request(url, read)                  _http.retrying: cool-down, backoff, give up
      └─ attempt(n)                     the token; one forced refresh and repeat on a 401
           └─ _attempt_in_window(...)   holds a slot of the rate limiter (_concurrency)
                └─ HttpConnection.send  one exchange (_http)

Rule 1 (401): the first 401 of a request asks the provider for a replacement of the
        refused token (:func:`._auth.replacement_token`) and repeats at once, without
        counting a failed attempt; a second 401, or a provider that hands back the same
        token, raises ``AuthenticationError``. Safe for writes too: a 401 means the
        service did not act.
Rule 2 (402): a 402 raises ``PaymentRequiredError`` at once, whatever the retry policy
        says: the service did not act, and only the caller may accept charges (the
        ``accept-charges`` header is the caller's, never added here).
Rule 3 (POST is repeated only when the service cannot have acted): a POST (a create, an
        activation e-mail) is repeated after a failure before the request left
        (:func:`._transport.never_sent`: refused, unreachable, connect timeout) and
        after a 429 or 503 (the limiter's pause, as for reads): nothing was created. Any
        other failure is ambiguous: a timeout or a connection dropped once the request
        was sent, or another 5xx, may come after the record was made, and a repeat
        would make a second one. It raises at once (``TransportError``,
        ``ServerError``) saying the write may have been applied and how to check.
        aiohttp itself only re-sends idempotent methods after a dropped connection,
        never a POST or a PATCH (and a DELETE not either: ``_http``, Rule 6).
Rule 4 (PATCH and DELETE are retried like reads): a PATCH of ``replace`` operations
        sets the same values however often it is applied, and a DELETE removes the
        same record, so repeating either after any transient failure is safe.
Rule 5 (a DELETE's 404 after an ambiguous failure is success): when an earlier attempt
        of the same call failed ambiguously (Rule 3's list), that attempt may have
        removed the record, so the 404 of a repeat means it is gone: done. A 404 on a
        call with no such failure raises ``NotFoundError``: there was nothing to delete.
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

import attrs
from yarl import URL

from . import _protocol
from ._auth import TokenProvider, replacement_token
from ._codec import error_message
from ._concurrency import Outcome, RateLimiter
from ._errors import AuthenticationError, DecodeError
from ._http import ClientSession, ErrorAnswer, HttpConnection, Reader, Response, retrying
from ._retry import RetryPolicy, Sleep
from ._transport import BodyTooLarge, TransportFailure, read_capped
from ._values import dumps

__all__ = ["DEFAULT_MAX_JSON_BYTES", "ApiSession"]

T = TypeVar("T")

#: The answers that say "too fast": 429, and 503 (an overloaded service, or a gateway's
#: default refusal: nginx's ``limit_req`` answers 503 without ``Retry-After``).
THROTTLING_STATUSES: Final = frozenset({429, 503})

#: Methods whose repeat could apply a write twice (Rule 3).
UNREPEATABLE_METHODS: Final = frozenset({"POST"})

PAYMENT_REQUIRED: Final = 402


def _may_have_been_applied(outcome: ErrorAnswer | TransportFailure) -> bool:
    """Whether a failed attempt may come after the service acted on it (Rule 3)."""
    if isinstance(outcome, TransportFailure):
        return not outcome.unsent
    return outcome.status >= 500 and outcome.status not in THROTTLING_STATUSES


def _unsure_write_note(method: str) -> str:
    return (
        f"; the {method} may have been applied: check whether it was (list the records "
        "by reference or e-mail, or get the record) before repeating it"
    )


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
        # Rule 2: never a 402, whatever the policy lists; Rule 3: a POST only the statuses
        # that say the service did not act.
        self._read_policy = attrs.evolve(
            retry, retry_statuses=retry.retry_statuses - {PAYMENT_REQUIRED}
        )
        self._post_policy = attrs.evolve(
            retry, retry_statuses=retry.retry_statuses & THROTTLING_STATUSES
        )
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
        return await self.request(url, self._read_json, params=params, accept=accept)

    async def send_json(
        self,
        method: str,
        url: URL,
        *,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> bytes:
        """A write (``POST``, ``PATCH``, ``DELETE``) with an optional JSON ``body``; the
        answer's body (at most ``max_json_bytes``). Retried by Rules 2 to 5.

        ``body`` that JSON cannot hold raises ``TypeError`` before any request.
        """

        def gone() -> bytes:
            logger.info("%s %s: 404 after an unsure attempt: already done", method, url)
            return b""

        return await self.request(
            url,
            self._read_json,
            method=method,
            params=params,
            body=None if body is None else dumps(body),
            headers=headers,
            on_gone=gone if method == "DELETE" else None,
        )

    async def _read_json(self, resp: Response) -> bytes:
        limit = self._max_json_bytes
        try:
            return await read_capped(resp, limit)
        except BodyTooLarge as exc:
            size = f" ({exc.size:,} bytes)" if exc.size is not None else ""
            shown = _protocol.redact_url(resp.url)
            raise DecodeError(
                f"response body{size} exceeds the {limit:,}-byte limit for a JSON answer: {shown}",
                url=shown,
            ) from None

    async def request(
        self,
        url: URL,
        read: Reader[T],
        *,
        method: str = "GET",
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: str = "application/json",
        before_retry: Callable[[], None] | None = None,
        on_gone: Callable[[], T] | None = None,
    ) -> T:
        """Send ``method`` to ``url`` and hand a 2xx answer to ``read``, retrying
        transient failures (Rules 1 to 5).

        ``read`` only does I/O (reads or streams the body); a ``ClientPayloadError`` or
        timeout inside it is retried like any other transport failure. ``body`` is sent
        as ``application/json``. ``before_retry`` runs before every repeat of the request
        (a download rewinds its file there; it may raise to stop the retry).
        ``on_gone`` gives the result of a 404 after an ambiguous failure (Rule 5).
        """
        shown_url = _protocol.redact_url(url.update_query(params) if params else url)
        unrepeatable = method in UNREPEATABLE_METHODS
        extra = {"Accept": accept, **(headers or {})}
        if body is not None:
            extra["Content-Type"] = "application/json"
        refreshed = False
        unsure = False  # an attempt of this call failed after the service may have acted
        sent = 0
        pause = self.limiter.request_pause()  # Rule 9 of _concurrency; its place in line

        async def attempt(number: int) -> T | ErrorAnswer | TransportFailure:
            nonlocal refreshed, sent, unsure
            # Asked for every attempt, so a token refreshed meanwhile is used at once.
            token = await self._auth.get_token()
            while True:
                sent += 1
                outcome = await self._attempt_in_window(
                    method,
                    url,
                    read,
                    params=params,
                    body=body,
                    headers={"Authorization": f"Bearer {token}", **extra},
                    shown=(shown_url, sent),
                    order=pause.order,
                )
                if not (isinstance(outcome, ErrorAnswer) and outcome.status == 401):
                    break
                token = await self._after_401(outcome, token, refreshed=refreshed, url=shown_url)
                refreshed = True
                if before_retry is not None:
                    before_retry()
            if not isinstance(outcome, (ErrorAnswer, TransportFailure)):
                return outcome
            gone = isinstance(outcome, ErrorAnswer) and outcome.status == 404
            if gone and unsure and on_gone is not None:
                return on_gone()  # Rule 5
            if _may_have_been_applied(outcome):
                unsure = True
                if unrepeatable and isinstance(outcome, TransportFailure):
                    return attrs.evolve(outcome, transient=False)  # Rule 3
            return outcome

        def error_for(answer: ErrorAnswer, retry_after: float | None) -> Exception:
            message = answer.message
            if unrepeatable and _may_have_been_applied(answer):
                message += _unsure_write_note(method)
            return _protocol.build_api_error(
                answer.status, message, url=shown_url, retry_after=retry_after, body=answer.body
            )

        def transport_error_for(failure: TransportFailure, failed: int) -> Exception:
            note = _unsure_write_note(method) if unrepeatable and not failure.unsent else ""
            return failure.to_error(failed=failed, url=shown_url, note=note)

        return await retrying(
            attempt,
            policy=self._post_policy if unrepeatable else self._read_policy,
            shown_url=shown_url,
            error_for=error_for,
            transport_error_for=transport_error_for,
            cool_down=pause,
            before_retry=before_retry,
            sleep=self._sleep,
            rand=self._rand,
            now=self._now,
        )

    async def _attempt_in_window(
        self,
        method: str,
        url: URL,
        read: Reader[T],
        *,
        params: Mapping[str, str] | None,
        body: bytes | None,
        headers: Mapping[str, str],
        shown: tuple[str, int],
        order: int,
    ) -> T | ErrorAnswer | TransportFailure:
        """One attempt holding a slot of the client's concurrency window; ``order``: the
        request's place in the limiter's queue."""
        limiter = self.limiter
        # The slot comes after the Retry-After pause and at the limiter's pace.
        ticket = await limiter.acquire(order)
        result = Outcome.NEUTRAL  # also what a cancellation or an exception reports
        asked: float | None = None
        try:
            # The header is set per request, not by a session middleware: aiohttp runs
            # middlewares again on every redirect hop, which would hand the token to a
            # storage host; a plain header is dropped by aiohttp when the origin changes.
            outcome = await self.connection.send(
                method,
                url,
                read,
                shown=shown,
                message_of=error_message,
                headers=headers,
                params=params,
                data=body,
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

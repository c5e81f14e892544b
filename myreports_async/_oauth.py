"""The OAuth2 token endpoint: building grants, reading answers, one exchange with retries.

The pure part (URL check, answer parsing, error mapping) has no I/O; :class:`TokenEndpoint`
does the POST and its retry loop, and translates aiohttp's exceptions with the same
descriptions as the API session.

Rule 1: the token URL is ``https://``, or ``http://`` only to a loopback host, exactly like
        the client's ``base_url``: the client secret and the tokens never travel in clear
        text.
Rule 2: the client secret travels only in the form-encoded POST body, never in a URL, a
        log record or an error; redirects are not followed (a 307 would re-send the body
        to wherever it points).
Rule 3: ``invalid_grant``, ``invalid_client`` and ``unauthorized_client`` (and any 401)
        raise ``AuthenticationError`` carrying the endpoint's ``error_description``; any
        other 4xx raises the exception of its status. Connection failures, timeouts and
        the policy's ``retry_statuses`` are retried like API calls (``Retry-After``
        honoured up to the policy's cap).
Rule 4: a 2xx answer that is not a token answer (not JSON, no ``access_token``, a
        ``token_type`` other than Bearer, a bad ``expires_in``) raises ``DecodeError``
        and is not retried.
Rule 5: an answer without ``expires_in`` is taken to live ``DEFAULT_EXPIRES_IN_S``
        (5 minutes): renewing early costs one request, trusting a long life would cost a
        401 and a forced refresh.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Final

import attrs
import msgspec
from yarl import URL

from . import _protocol
from ._auth import TokenSet
from ._errors import APIError, AuthenticationError, DecodeError
from ._http import ErrorAnswer, HttpConnection, Response, reason_phrase, retrying
from ._retry import RetryPolicy, Sleep
from ._transport import TransportFailure, read_limited
from ._validate import check_credential_url

__all__ = [
    "DEFAULT_AUTHORIZE_URL",
    "DEFAULT_EXPIRES_IN_S",
    "DEFAULT_SCOPES",
    "DEFAULT_TOKEN_URL",
    "IssuedTokens",
    "TokenEndpoint",
    "check_endpoint_url",
    "oauth_error",
    "parse_token_answer",
]


DEFAULT_TOKEN_URL: Final = "https://login.xarios.cloud/connect/token"  # noqa: S105 (a URL)
DEFAULT_AUTHORIZE_URL: Final = "https://login.xarios.cloud/connect/authorize"
DEFAULT_SCOPES: Final = ("openid", "offline_access", "onboarding")
DEFAULT_EXPIRES_IN_S: Final = 300.0

#: A token answer is a few kilobytes; never read more than this of one.
MAX_TOKEN_BODY: Final = 256 * 1024

#: OAuth error codes that mean "these credentials will not work": no retry, re-authorize.
_REFUSALS: Final = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------
# Rule 1: where credentials may go


def check_endpoint_url(url: object, *, name: str) -> URL:
    """``url`` as a :class:`yarl.URL` if credentials may be sent to it, else ``ValueError``.

    ``https://`` anywhere, ``http://`` only to a loopback host (127.0.0.0/8, ::1,
    localhost); no user info, no fragment (:func:`._validate.check_credential_url`).
    """
    return check_credential_url(url, name=name, example=DEFAULT_TOKEN_URL)


# ---------------------------------------------------------------------------
# Rules 3 and 4: reading answers


@attrs.frozen
class IssuedTokens:
    """A token answer, with what the renewal rule needs besides the :class:`TokenSet`.

    ``issued_at`` is the monotonic clock when the successful request was sent: the token
    cannot have been issued earlier, so counting its life from then errs on the safe side.
    """

    token_set: TokenSet
    lifetime_s: float
    issued_at: float


def _decode_error(message: str, *, path: str | None, url: str) -> DecodeError:
    return DecodeError(f"{message} (token endpoint {url})", path=path, url=url)


def parse_token_answer(
    body: bytes,
    *,
    url: str,
    sent_at: datetime,
    previous_refresh_token: str | None,
) -> tuple[TokenSet, float]:
    """The :class:`TokenSet` and lifetime in seconds of a 2xx token answer.

    ``sent_at`` is when the request left (the expiry counts from then). An answer without
    a ``refresh_token`` keeps ``previous_refresh_token`` (the server did not rotate it);
    with neither, it raises ``DecodeError``. Values are never echoed in messages.
    """
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise _decode_error("the token answer is not JSON", path=None, url=url) from None
    if not isinstance(payload, dict):
        raise _decode_error("the token answer is not a JSON object", path=None, url=url)

    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not _usable_token(access_token):
        raise _decode_error(
            "the token answer has no usable access_token", path="access_token", url=url
        )

    token_type = payload.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise _decode_error(
            "the token answer's token_type is not Bearer", path="token_type", url=url
        )

    refresh_token = payload.get("refresh_token")
    if refresh_token is None:
        refresh_token = previous_refresh_token
        if refresh_token is None:
            raise _decode_error(
                "the token answer has no refresh_token (was the offline_access scope asked?)",
                path="refresh_token",
                url=url,
            )
    elif not isinstance(refresh_token, str) or not _usable_token(refresh_token):
        raise _decode_error(
            "the token answer's refresh_token is not usable", path="refresh_token", url=url
        )

    lifetime = _expires_in(payload.get("expires_in"), url=url)
    token_set = TokenSet(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=sent_at + timedelta(seconds=lifetime),
    )
    return token_set, lifetime


def _usable_token(value: str) -> bool:
    return bool(value.strip()) and not any(ch in value for ch in "\r\n\x00")


def _expires_in(raw: object, *, url: str) -> float:
    if raw is None:
        return DEFAULT_EXPIRES_IN_S
    value: float | None = None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        # Some servers send the number as a string.
        try:
            value = float(raw.strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise _decode_error(
            "the token answer's expires_in is not a positive number", path="expires_in", url=url
        )
    return value


def oauth_error(body: bytes) -> tuple[str | None, str | None]:
    """``(error, error_description)`` of an OAuth2 error body; ``None`` for what is absent."""
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    error, description = payload.get("error"), payload.get("error_description")
    if not isinstance(error, str) or not error.strip():
        error = None
    if not isinstance(description, str) or not description.strip():
        # The API's own envelope ({"message": ...}) in front of the token endpoint.
        message = payload.get("message")
        description = message if isinstance(message, str) and message.strip() else None
    return error, description


def error_for_answer(
    status: int, body: bytes, *, reason: str | None, url: str, retry_after: float | None
) -> APIError:
    """The exception for a final non-2xx token answer (Rule 3)."""
    error, description = oauth_error(body)
    parts = [part for part in (error, description) if part]
    message = ": ".join(_printable(part) for part in parts) or reason or reason_phrase(status)
    if status == 401 or (status == 400 and error in _REFUSALS):
        return AuthenticationError(message, status=status, url=url)
    return _protocol.build_api_error(status, message, url=url, retry_after=retry_after)


def _printable(text: str) -> str:
    shown = "".join(ch if ch.isprintable() else " " for ch in text.strip())
    return shown[:500]


# ---------------------------------------------------------------------------
# The exchange


def _oauth_message(body: bytes) -> str | None:
    error, description = oauth_error(body)
    parts = [_printable(part) for part in (error, description) if part]
    return ": ".join(parts) or None


class TokenEndpoint:
    """POSTs grants to one token endpoint for one OAuth client, with retries.

    The exchange goes through the package's one HTTP path (:mod:`._http`): the same
    attempt, retry loop and error translation as the API's requests.

    Not public: :class:`~myreports_async.RefreshTokenAuth` and
    :func:`~myreports_async.authorize_with_browser` use it.
    """

    def __init__(
        self,
        url: URL,
        *,
        client_id: str,
        client_secret: str,
        retry: RetryPolicy,
        connection: HttpConnection,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self.shown_url = _protocol.redact_url(url)
        self._client_id = client_id
        self._client_secret = client_secret
        self._retry = retry
        self._connection = connection
        self._clock = clock
        self._now = now
        self._sleep = sleep
        self._rand = rand

    def __repr__(self) -> str:
        return f"TokenEndpoint(url={self.shown_url!r}, client_id={self._client_id!r})"

    async def exchange(
        self, grant: Mapping[str, str], *, previous_refresh_token: str | None = None
    ) -> IssuedTokens:
        """POST ``grant`` (plus the client credentials) and read the token answer."""
        form = {**grant, "client_id": self._client_id, "client_secret": self._client_secret}
        shown = f"{self.shown_url} ({grant.get('grant_type', '?')})"
        issued_at, sent_at = self._clock(), self._now()
        # Rule 2's companion: once an attempt was cut off after it may have been sent, a
        # rotating server may already have spent the refresh token.
        cut_after_sending = False

        async def attempt(number: int) -> bytes | ErrorAnswer | TransportFailure:
            nonlocal issued_at, sent_at, cut_after_sending
            issued_at, sent_at = self._clock(), self._now()
            outcome = await self._connection.send(
                "POST",
                self.url,
                _read_token_answer,
                shown=(shown, number),
                message_of=_oauth_message,
                headers={"Accept": "application/json"},
                data=form,
                allow_redirects=False,  # Rule 2: a 307 would re-send the secret
                error_body_limit=MAX_TOKEN_BODY,
            )
            if isinstance(outcome, TransportFailure):
                cut_after_sending = True
            return outcome

        def final_error(answer: ErrorAnswer, retry_after: float | None) -> APIError:
            error = error_for_answer(
                answer.status,
                answer.body,
                reason=answer.message,
                url=self.shown_url,
                retry_after=retry_after,
            )
            if cut_after_sending and isinstance(error, AuthenticationError):
                error = AuthenticationError(
                    f"{error.message} (an earlier attempt was cut off after it was sent; "
                    "the server may have rotated the refresh token then)",
                    status=error.status,
                    url=error.url,
                )
            return error

        body = await retrying(
            attempt,
            policy=self._retry,
            shown_url=self.shown_url,
            error_for=final_error,
            transport_error_for=lambda failure, failed: failure.to_error(
                failed=failed, url=self.shown_url, what="token request failed: "
            ),
            sleep=self._sleep,
            rand=self._rand,
            now=self._now,
            label="token request",
        )
        token_set, lifetime = parse_token_answer(
            body,
            url=self.shown_url,
            sent_at=sent_at,
            previous_refresh_token=previous_refresh_token,
        )
        return IssuedTokens(token_set, lifetime, issued_at)


async def _read_token_answer(resp: Response) -> bytes:
    return await read_limited(resp, MAX_TOKEN_BODY)

"""The fake service's credentials: bearer tokens, OAuth clients, refresh tokens and codes.

This room keeps the books; the OAuth routes (``_oauth_routes``) speak the protocol.

Rules:

1. A request's credentials are checked once, on arrival (the gateway asks, to log the
   verdict), and that verdict holds for the whole request: a route asking again gets the
   same answer, so a request uses up an access token's uses at most once and a token
   expiring while a ``delay`` fault holds the request does not change its answer.
2. Static tokens never expire; they are revoked for good by
   ``expire_access_tokens(revoke_static=True)``.
3. An issued access token works until its lifetime ends, until ``access_token_uses``
   requests have used it, or until :meth:`Credentials.expire_access_tokens`; then it is
   forgotten, so it stays refused.
4. A refresh token works once (rotation): each grant issues a new one.
5. An authorization code works once, for the client and redirect URI it was issued to,
   within :data:`CODE_LIFETIME` seconds.
6. Secrets are compared in constant time; no secret is ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Final
from urllib.parse import unquote_plus

import attrs
import msgspec
from aiohttp import web

from ._faults import RouteName

__all__ = ["CODE_LIFETIME", "SCOPE", "AuthorizationCode", "Credentials", "b64url", "same"]

SCOPE = "openid offline_access onboarding"
CODE_LIFETIME = 300.0
"""Seconds an authorization code may wait for its exchange."""

_BEARER_VERDICT: Final = web.RequestKey("myreports_fake_bearer_verdict", bool)


def same(given: str, expected: str) -> bool:
    """Whether two secrets are equal, compared in constant time (rule 6)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs and PKCE use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_access_token(lifetime: float) -> str:
    """A random token shaped like the real service's JWTs (the signature is random)."""
    header = b64url(msgspec.json.encode({"alg": "RS256", "typ": "JWT"}))
    claims = {
        "iss": "https://login.xarios.cloud",
        "exp": int(time.time() + lifetime),
        "scope": SCOPE,
        "jti": secrets.token_hex(16),
    }
    return f"{header}.{b64url(msgspec.json.encode(claims))}.{secrets.token_urlsafe(32)}"


@attrs.frozen
class AuthorizationCode:
    """What an authorization code was issued for (rule 5)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    expires: float  # on the credentials' clock


class Credentials:
    """Who may call the fake service, and the tokens it issued.

    ``token_lifetime``, ``access_token_uses`` and ``approve_authorization`` are plain
    attributes that tests change between requests. ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        static_tokens: Iterable[str],
        *,
        token_lifetime: float,
        access_token_uses: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token_lifetime > 0:
            raise ValueError(f"token_lifetime must be > 0, got {token_lifetime!r}")
        if access_token_uses is not None and access_token_uses < 1:
            raise ValueError(f"access_token_uses must be >= 1 or None, got {access_token_uses!r}")
        tokens = (static_tokens,) if isinstance(static_tokens, str) else tuple(static_tokens)
        if not all(tokens):
            raise ValueError("access tokens must be non-empty strings")
        self.static_tokens = tokens
        self.token_lifetime = token_lifetime
        self.access_token_uses = access_token_uses
        self.approve_authorization = True
        self._clock = clock
        self._static_revoked = False
        # The dicts below are only ever changed in place: the service hands them out.
        self.issued: dict[str, float] = {}  # access token -> expiry on the clock
        self._token_uses: dict[str, int] = {}  # issued access token -> requests served
        self._client_secrets: dict[str, str] = {}
        self.refresh_owners: dict[str, str] = {}  # live refresh token -> client id
        self._redirect_uris: dict[str, frozenset[str]] = {}  # client id -> registered
        self._codes: dict[str, AuthorizationCode] = {}

    # -- clients and tokens ----------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str | None,
        redirect_uris: Iterable[str] | None,
    ) -> None:
        """Register (or update) an OAuth client, and one live refresh token of it."""
        if not client_id or refresh_token == "":
            raise ValueError("client_id and refresh_token must be non-empty")
        self._client_secrets[client_id] = client_secret
        if refresh_token is not None:
            self.refresh_owners[refresh_token] = client_id
        if redirect_uris is None:
            self._redirect_uris.pop(client_id, None)
        else:
            self._redirect_uris[client_id] = frozenset(redirect_uris)

    def expire_access_tokens(self, *, revoke_static: bool) -> None:
        """Forget every issued access token; revoke the static ones too if asked (rule 2)."""
        self.issued.clear()
        self._token_uses.clear()
        if revoke_static:
            self._static_revoked = True

    def issue_tokens(self, client_id: str) -> tuple[str, str]:
        """A new access token and a new refresh token for ``client_id``."""
        access_token = _new_access_token(self.token_lifetime)
        refresh_token = secrets.token_urlsafe(32)
        self.issued[access_token] = self._clock() + self.token_lifetime
        self.refresh_owners[refresh_token] = client_id
        return access_token, refresh_token

    def spend_refresh_token(self, refresh_token: str, client_id: str) -> bool:
        """Whether ``refresh_token`` is live and ``client_id``'s; it is spent if so (rule 4)."""
        if self.refresh_owners.get(refresh_token) != client_id:
            return False
        del self.refresh_owners[refresh_token]
        return True

    # -- authorization codes -----------------------------------------------------------------

    def is_client(self, client_id: str) -> bool:
        """Whether ``client_id`` is a registered OAuth client."""
        return client_id in self._client_secrets

    def redirect_uris(self, client_id: str) -> frozenset[str] | None:
        """The redirect URIs the client registered; ``None``: it registered none."""
        return self._redirect_uris.get(client_id)

    def issue_code(self, client_id: str, redirect_uri: str, code_challenge: str) -> str:
        """A new authorization code for this client, redirect URI and PKCE challenge."""
        code = secrets.token_urlsafe(24)
        expires = self._clock() + CODE_LIFETIME
        self._codes[code] = AuthorizationCode(client_id, redirect_uri, code_challenge, expires)
        return code

    def spend_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The grant ``code`` stands for, if live and ``client_id``'s; spent either way."""
        grant = self._codes.pop(code, None)  # rule 5: one use only, whatever happens next
        if grant is None or grant.client_id != client_id or self._clock() >= grant.expires:
            return None
        return grant

    # -- checking a request --------------------------------------------------------------------

    async def caller_accepted(self, request: web.Request, route: RouteName) -> bool:
        """Whether the caller's credentials are good for ``route``.

        The token endpoint asks for client credentials, the authorization endpoint for a
        registered ``client_id``; every other route for a bearer token.
        """
        if route == "token":
            return await self.client_id(request) is not None
        if route == "authorize":
            return self.is_client(request.query.get("client_id", ""))
        return self.bearer_accepted(request)

    def bearer_accepted(self, request: web.Request) -> bool:
        """Whether the request carries an accepted bearer token (checked once: rule 1)."""
        verdict = request.get(_BEARER_VERDICT)
        if verdict is None:
            verdict = request[_BEARER_VERDICT] = self._check_bearer(request)
        return verdict

    def _check_bearer(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        if not self._static_revoked and any(same(token, t) for t in self.static_tokens):
            return True
        expiry = self.issued.get(token)
        if expiry is None:
            return False
        if self._clock() >= expiry:
            del self.issued[token]
            return False
        uses = self._token_uses.get(token, 0) + 1
        if self.access_token_uses is not None and uses > self.access_token_uses:
            del self.issued[token]
            self._token_uses.pop(token, None)
            return False
        self._token_uses[token] = uses
        return True

    async def client_id(self, request: web.Request) -> str | None:
        """The OAuth client whose credentials (HTTP Basic, else form fields) are valid."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, colon, secret = decoded.partition(":")
            if not colon:
                return None
            # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        else:
            form = await request.post()
            form_id, form_secret = form.get("client_id"), form.get("client_secret")
            if not isinstance(form_id, str) or not isinstance(form_secret, str):
                return None
            client_id, secret = form_id, form_secret
        expected = self._client_secrets.get(client_id)
        if expected is None or not same(secret, expected):
            return None
        return client_id

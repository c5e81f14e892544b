"""The fake's OAuth2 endpoints: ``/connect/token`` and ``/connect/authorize``.

::

    POST /connect/token       refresh_token and authorization_code grants
    GET  /connect/authorize   authorization with PKCE (S256): redirects at once with a code

The books (clients, tokens, codes) are kept by :class:`~._credentials.Credentials`;
this room speaks the protocol.

Rules:

1. Client credentials come as HTTP Basic or as form fields; bad ones answer 401
   ``invalid_client`` with a ``WWW-Authenticate`` challenge (RFC 6749 section 5.2).
2. Every grant issues a new access token and a new refresh token; the one used stops
   working.
3. ``/connect/authorize`` answers a bad client or redirect URI itself (400), never by
   redirecting to a URI it cannot trust (RFC 6749 section 4.1.2.1); every other outcome
   goes back to the redirect URI, with ``state`` echoed when there is one.
4. Without registered redirect URIs a client may use any ``http`` loopback URI (any port,
   RFC 8252 section 7.3) or any ``https`` URI; none may carry a fragment.
5. The user "signs in" at once unless ``approve_authorization`` is false: then the
   answer is ``access_denied``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from ._credentials import SCOPE, Credentials, b64url, same
from ._replies import json_reply, oauth_error, reply

__all__ = ["OAuthRoutes"]


def _loopback_or_https(uri: str) -> bool:
    """Whether a redirect URI is acceptable without registration (rule 4)."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError:
        return False
    if parts.fragment or not host:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OAuthRoutes:
    """The token and authorization endpoints of the fake, over ``credentials``."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def route_table(self) -> list[web.RouteDef]:
        """The routes, each named with its :data:`~._faults.RouteName`."""
        return [
            web.post("/connect/token", self.token, name="token"),
            web.get("/connect/authorize", self.authorize, name="authorize", allow_head=False),
        ]

    # -- /connect/token ------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.StreamResponse:
        """Exchange a refresh token or an authorization code for new tokens."""
        client_id = await self._credentials.client_id(request)
        if client_id is None:
            return oauth_error(
                401,
                "invalid_client",
                "Unknown client or wrong client secret.",
                **{"WWW-Authenticate": 'Basic realm="myreports-async fake"'},
            )
        form = await request.post()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(client_id, form)
        if grant_type != "refresh_token":
            if not grant_type:
                return oauth_error(400, "invalid_request", "grant_type is required.")
            return oauth_error(
                400,
                "unsupported_grant_type",
                "Only refresh_token and authorization_code are supported.",
            )
        refresh_token = form.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            return oauth_error(400, "invalid_request", "refresh_token is required.")
        if not self._credentials.spend_refresh_token(refresh_token, client_id):
            return oauth_error(
                400, "invalid_grant", "The refresh token is invalid, expired or already used."
            )
        return self._tokens(client_id)

    def _code_grant(self, client_id: str, form: Mapping[str, object]) -> web.Response:
        code = form.get("code")
        if not isinstance(code, str) or not code:
            return oauth_error(400, "invalid_request", "code is required.")
        grant = self._credentials.spend_code(code, client_id)
        if grant is None:
            return oauth_error(
                400, "invalid_grant", "The authorization code is invalid, expired or already used."
            )
        if form.get("redirect_uri") != grant.redirect_uri:
            return oauth_error(
                400, "invalid_grant", "redirect_uri does not match the authorization request."
            )
        verifier = form.get("code_verifier")
        if not isinstance(verifier, str) or not verifier:
            return oauth_error(400, "invalid_request", "code_verifier is required.")
        computed = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not same(computed, grant.code_challenge):
            return oauth_error(400, "invalid_grant", "The code_verifier does not match.")
        return self._tokens(client_id)

    def _tokens(self, client_id: str) -> web.Response:
        access_token, refresh_token = self._credentials.issue_tokens(client_id)
        payload = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": self._credentials.token_lifetime,
            "token_type": "Bearer",
            "scope": SCOPE,
        }
        return json_reply(200, payload, **{"Cache-Control": "no-store", "Pragma": "no-cache"})

    # -- /connect/authorize ----------------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        """Sign the user in at once and redirect back with a code (or an error)."""
        query = request.query
        client_id = query.get("client_id", "")
        redirect_uri = query.get("redirect_uri", "")
        credentials = self._credentials
        if not credentials.is_client(client_id):
            return oauth_error(400, "invalid_client", "Unknown client_id.")
        registered = credentials.redirect_uris(client_id)
        if not (
            redirect_uri in registered
            if registered is not None
            else _loopback_or_https(redirect_uri)
        ):
            return oauth_error(400, "invalid_request", "redirect_uri is not registered.")

        def back(**params: str) -> web.Response:
            separator = "&" if "?" in redirect_uri else "?"
            location = redirect_uri + separator + urlencode(params)
            return reply(302, headers={"Location": location, "Cache-Control": "no-store"})

        state = query.get("state")
        echo = {"state": state} if state is not None else {}
        if query.get("response_type") != "code":
            return back(
                error="unsupported_response_type",
                error_description="Only response_type=code is supported.",
                **echo,
            )
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or not challenge:
            return back(
                error="invalid_request",
                error_description="PKCE with code_challenge_method=S256 is required.",
                **echo,
            )
        if not state:
            return back(error="invalid_request", error_description="state is required.")
        if not credentials.approve_authorization:
            return back(
                error="access_denied", error_description="The user declined the sign-in.", **echo
            )
        code = credentials.issue_code(client_id, redirect_uri, challenge)
        return back(code=code, state=state)

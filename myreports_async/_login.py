"""The OAuth2 authorization-code flow with PKCE, for signing in once from a browser.

How one sign-in runs::

    1. make a PKCE pair (verifier, S256 challenge) and a random state
    2. listen on the loopback redirect URI (one sign-in answer only)
    3. show the authorize URL (open a browser, or print it)
    4. the browser signs in and is redirected to  redirect_uri?code=...&state=...
    5. check the state; answer the browser once the code is exchanged
    6. POST grant_type=authorization_code (code, redirect_uri, code_verifier, client)
    7. return the TokenSet (with the refresh token from the offline_access scope)

Rule 1: the redirect URI is ``http://`` to a loopback host (RFC 8252 section 7.3): the
        code reaches only this machine, and no TLS certificate is needed.
Rule 2: an answer whose ``state`` differs from this sign-in's is refused, and ends the
        sign-in with ``AuthenticationError`` (it is stale, or forged by another page).
Rule 3: the listener answers only GET on the redirect path; anything else (a favicon
        request) gets a 404 and does not end the sign-in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import inspect
import logging
import secrets
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterable
from typing import Any, Final

import aiohttp
from aiohttp import web
from yarl import URL

from ._auth import TokenSet
from ._errors import AuthenticationError, TransportError
from ._http import HttpConnection
from ._oauth import (
    DEFAULT_AUTHORIZE_URL,
    DEFAULT_SCOPES,
    DEFAULT_TOKEN_URL,
    TokenEndpoint,
    check_endpoint_url,
)
from ._retry import RetryPolicy
from ._transport import check_http_options
from ._validate import is_loopback_host

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "authorization_url",
    "authorize_with_browser",
    "check_redirect_uri",
    "open_in_browser",
    "pkce_pair",
]

logger = logging.getLogger("myreports_async")

DEFAULT_REDIRECT_URI: Final = "http://127.0.0.1:8000"

#: Seconds the browser's request waits for the code exchange before it is answered.
_EXCHANGE_WAIT_S: Final = 120.0
#: Seconds an async ``open_browser`` may run on after the sign-in is decided.
_OPENER_GRACE_S: Final = 5.0


# ---------------------------------------------------------------------------
# pure parts


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE ``(code_verifier, code_challenge)`` for ``code_challenge_method=S256``.

    The verifier is 64 URL-safe characters (RFC 7636 asks for 43 to 128); the challenge
    is ``BASE64URL(SHA256(verifier))`` without padding.
    """
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def check_redirect_uri(redirect_uri: object) -> URL:
    """``redirect_uri`` as a URL if this machine can receive it (Rule 1), else ``ValueError``."""
    if not isinstance(redirect_uri, str) or not redirect_uri.strip():
        raise ValueError("redirect_uri must be a non-empty URL such as http://127.0.0.1:8000")
    try:
        url = URL(redirect_uri.strip())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"redirect_uri is not a valid URL: {exc}") from None
    if url.scheme.lower() != "http" or not is_loopback_host(url.host):
        raise ValueError(
            "redirect_uri must be http:// to a loopback host (127.0.0.1, [::1] or "
            f"localhost), where this process can listen; got {redirect_uri!r}"
        )
    if url.user is not None or url.password is not None or url.query_string or url.fragment:
        raise ValueError("redirect_uri must not carry credentials, a query or a fragment")
    return url


def authorization_url(
    authorize_url: str | URL,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str],
    state: str,
    code_challenge: str,
) -> str:
    """The URL the user opens to sign in (``response_type=code``, PKCE S256)."""
    url = authorize_url if isinstance(authorize_url, URL) else URL(authorize_url)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    return str(url.update_query(query))


def open_in_browser(url: str) -> None:
    """Print ``url`` to stderr and ask the system's web browser to open it.

    The browser is started from a background thread: a text-mode browser that runs
    until it exits must not stop the loopback listener from receiving the answer.
    """
    print(
        f"Sign in to MyReports in your browser. If it does not open, visit:\n\n    {url}\n",
        file=sys.stderr,
    )
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


# ---------------------------------------------------------------------------
# the one-shot listener


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>{title}</h1><p>{text}</p></body></html>
"""


def _page(status: int, title: str, text: str) -> web.Response:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text))
    return web.Response(
        status=status,
        text=body,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


class _Callback:
    """Receives the one sign-in answer; tells the browser how the exchange went."""

    def __init__(self, *, path: str, state: str, shown_url: str) -> None:
        loop = asyncio.get_running_loop()
        self.path = path
        self.state = state
        self.shown_url = shown_url
        self.code: asyncio.Future[str] = loop.create_future()
        self.finished: asyncio.Future[str | None] = loop.create_future()  # None: success

    def finish(self, error: str | None) -> None:
        if not self.finished.done():
            self.finished.set_result(error)

    def _fail(self, message: str) -> None:
        if not self.code.done():
            self.code.set_exception(AuthenticationError(message, status=401, url=self.shown_url))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET" or request.path != self.path:
            return _page(404, "Not found", "This address only receives the sign-in answer.")
        if self.code.done():
            return _page(
                409,
                "Sign-in already handled",
                "This sign-in has already received its answer. Close this tab.",
            )
        query = request.query
        if not secrets.compare_digest(query.get("state", "").encode(), self.state.encode()):
            self._fail(
                "the sign-in answer's state does not match this sign-in (a stale or "
                "forged answer): sign-in refused"
            )
            return _page(
                400,
                "Sign-in refused",
                "This answer does not belong to the sign-in in progress (its state does "
                "not match), so it was refused. Start the sign-in again.",
            )
        error = query.get("error")
        if error is not None:
            description = query.get("error_description")
            detail = f"{error}: {description}" if description else error
            self._fail(f"sign-in was not completed: {_printable(detail)}")
            return _page(
                200,
                "Sign-in not completed",
                f"The sign-in ended without access ({detail}). You can close this tab.",
            )
        code = query.get("code")
        if not code:
            self._fail("the sign-in answer carries no code")
            return _page(400, "Sign-in failed", "The answer carried no code. Start again.")
        self.code.set_result(code)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(self.finished), _EXCHANGE_WAIT_S)
        except asyncio.TimeoutError:
            outcome = "the token exchange did not finish in time"
        if outcome is None:
            return _page(200, "Signed in", "You are signed in. You can close this tab.")
        return _page(
            502, "Sign-in failed", f"The code could not be exchanged for tokens: {outcome}"
        )


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)[:500]


# ---------------------------------------------------------------------------
# the flow


async def authorize_with_browser(
    *,
    client_id: str,
    client_secret: str,
    authorize_url: str = DEFAULT_AUTHORIZE_URL,
    token_url: str = DEFAULT_TOKEN_URL,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    open_browser: Callable[[str], object] | None = None,
    timeout: float = 300.0,
    session: aiohttp.ClientSession | None = None,
    retry: RetryPolicy | None = None,
) -> TokenSet:
    """Sign in once in a browser (authorization code + PKCE) and return the tokens.

    Listens on ``redirect_uri`` (``http://`` to a loopback host; port 0 picks a free
    port, which works only where the server accepts any loopback port), hands the
    authorize URL to ``open_browser`` (default :func:`open_in_browser`: print it and open
    the system browser; an async callable is awaited), waits up to ``timeout`` seconds
    for the browser to come back with a code (an async ``open_browser`` runs meanwhile,
    and may itself follow the redirect), checks ``state``, and exchanges the code
    (with the PKCE verifier and the client credentials) at ``token_url``. The
    ``redirect_uri`` must be one registered for your API client.

    Raises ``AuthenticationError`` when the sign-in is declined (``access_denied``), the
    answer's state does not match, no answer comes in time, or the token endpoint
    refuses the code; ``TransportError`` when the listener cannot bind its port.

    Example::

        tokens = await authorize_with_browser(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        FileTokenStore("~/.config/myreports/tokens.json").save(tokens)
    """
    for name, value in (("client_id", client_id), ("client_secret", client_secret)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty str")
    authorize = check_endpoint_url(authorize_url, name="authorize_url")
    token_endpoint_url = check_endpoint_url(token_url, name="token_url")
    redirect = check_redirect_uri(redirect_uri)
    scope_list = (scopes,) if isinstance(scopes, str) else tuple(scopes)
    if not scope_list or not all(isinstance(s, str) and s for s in scope_list):
        raise ValueError("scopes must be non-empty strings")
    timeout = check_http_options(timeout=timeout, session=session)

    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    callback = _Callback(path=redirect.path, state=state, shown_url=str(authorize))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", callback.handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    connection = HttpConnection(timeout=30.0, session=session)
    opener: asyncio.Future[object] | None = None
    try:
        site = web.TCPSite(runner, redirect.host, redirect.port)
        try:
            await site.start()
        except OSError as exc:
            raise TransportError(
                f"cannot listen on {redirect} for the sign-in answer: {exc.strerror or exc}"
            ) from None
        # Sent exactly as given: servers compare it to the registered one as a string.
        redirect_text = redirect_uri.strip()
        if redirect.port == 0:
            redirect_text = str(redirect.with_port(int(runner.addresses[0][1])))
        url = authorization_url(
            authorize,
            client_id=client_id,
            redirect_uri=redirect_text,
            scopes=scope_list,
            state=state,
            code_challenge=challenge,
        )
        logger.info("waiting for the sign-in answer on %s", redirect_text)
        opened = (open_browser or open_in_browser)(url)
        if inspect.isawaitable(opened):
            # Run beside the wait: it may follow the redirect to the end itself.
            opener = asyncio.ensure_future(opened)
        code = await _wait_for_code(callback, opener, timeout=timeout, where=redirect_text)

        endpoint = TokenEndpoint(
            token_endpoint_url,
            client_id=client_id,
            client_secret=client_secret,
            retry=retry or RetryPolicy(),
            connection=connection,
        )
        try:
            issued = await endpoint.exchange(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_text,
                    "code_verifier": verifier,
                }
            )
        except Exception as exc:
            # Told to the browser without the secret: errors never carry it.
            callback.finish(str(exc))
            raise
        callback.finish(None)
        logger.info("signed in; access token valid for %.0f s", issued.lifetime_s)
        return issued.token_set
    finally:
        callback.finish("the sign-in was abandoned")
        if not callback.code.done():
            callback.code.cancel()
        elif not callback.code.cancelled():
            callback.code.exception()  # retrieved: it is raised above or superseded
        await runner.cleanup()
        await connection.close()  # a borrowed session is left open
        if opener is not None:
            await _settle(opener)


async def _wait_for_code(
    callback: _Callback, opener: asyncio.Future[object] | None, *, timeout: float, where: str
) -> str:
    """The code of the sign-in answer; an opener that fails first raises its error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    waiting: set[asyncio.Future[Any]] = {callback.code}
    if opener is not None:
        waiting.add(opener)
    while not callback.code.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AuthenticationError(
                f"no sign-in answer reached {where} within {timeout:g} s",
                status=401,
                url=callback.shown_url,
            )
        done, _ = await asyncio.wait(
            waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        if opener is not None and opener in done:
            waiting.discard(opener)
            opener.result()  # an opener that failed ends the sign-in with its error
    return callback.code.result()


async def _settle(opener: asyncio.Future[object]) -> None:
    """Give an async opener a moment to finish after the answer, then stop it."""
    if not opener.done():
        await asyncio.wait([opener], timeout=_OPENER_GRACE_S)
    if not opener.done():
        opener.cancel()
        await asyncio.wait([opener])
    if not opener.cancelled():
        opener.exception()  # retrieved: the sign-in's outcome is already decided

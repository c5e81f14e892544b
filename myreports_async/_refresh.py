"""``RefreshTokenAuth``: a token provider that renews its access token with a refresh token.

State, and how ``get_token`` moves it::

    no access token / renewal due ──get_token()────────────► refresh in flight
    token fresh                    ──get_token()────────────► token returned at once
    refresh in flight              ──get_token(any)─────────► joins it (same token or error)
    refresh in flight              ──done───────────────────► token fresh (on_refresh called)
    token fresh, a forced refresh  ──get_token(force=True)──► token returned at once
      finished < 5 s ago                                       (the 401 was for the old token)
    otherwise                      ──get_token(force=True)──► refresh in flight

Rule 1 (single flight): at most one token request is in flight, however many callers
        wait; every waiter gets its result or its exception. The refresh runs in its own
        task, so a waiter that is cancelled does not cancel it: an answer that rotated
        the refresh token is never thrown away.
Rule 2 (forced refresh dedup): the client asks for ``force_refresh`` after a 401. When
        several requests in flight were refused with the same old token, the first forced
        call refreshes and the others join it; a forced call that arrives within
        ``FORCED_REFRESH_REUSE_S`` seconds after a refresh that was itself forced gets the
        token that refresh produced, instead of spending another refresh token. (Only a
        *forced* refresh counts: after a refresh made because the token was due, a 401 is
        news, and is answered with a new refresh.) If that token is the one the server
        just refused, the client sees the same token come back and raises
        ``AuthenticationError`` rather than loop.
Rule 3 (rotation): the refresh token of each answer replaces the held one *before*
        ``on_refresh`` runs, so even if persisting fails this process keeps working.
Rule 4: ``on_refresh`` may be sync or async. An exception from it is not swallowed: it
        propagates to every caller waiting for that refresh (persisting failed, and the
        saved refresh token is now spent). The new tokens are already in use, so the next
        ``get_token`` returns them without another refresh.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import ssl as _ssl
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Final

import aiohttp

from ._auth import TokenSet, renewal_margin
from ._oauth import DEFAULT_TOKEN_URL, IssuedTokens, TokenEndpoint, check_endpoint_url
from ._retry import RetryPolicy, Sleep
from ._transport import EnvironmentProxies, check_http_options
from ._version import __version__

if TYPE_CHECKING:
    from ._token_store import TokenStore

__all__ = ["FORCED_REFRESH_REUSE_S", "OnRefresh", "RefreshTokenAuth"]

logger = logging.getLogger("myreports_async")

#: Seconds after a forced refresh during which another forced refresh returns its token.
FORCED_REFRESH_REUSE_S: Final = 5.0

OnRefresh = Callable[[TokenSet], Awaitable[None] | None]
"""What ``on_refresh`` may be: a function or a coroutine function taking a TokenSet."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError(f"{name} must not contain line breaks or NUL")
    return value


class RefreshTokenAuth:
    """A :class:`TokenProvider` that keeps an access token fresh with an OAuth2 refresh token.

    It posts ``grant_type=refresh_token`` (form-encoded, with the client id and secret in
    the body) to ``token_url``, keeps the access token until less than 60 s of its life
    remains (half its life for tokens issued for under 2 minutes), refreshes at most once
    at a time however many requests wait, keeps the rotated refresh token, and hands
    every new :class:`TokenSet` to ``on_refresh`` so you can persist it.

    Args:
        client_id: the OAuth client id of your registered API client.
        client_secret: its secret (sent only in the POST body to ``token_url``).
        refresh_token: the current refresh token.
        token_url: the token endpoint; ``https://``, or ``http://`` to a loopback host.
        on_refresh: called (or awaited) with every new :class:`TokenSet`. An exception
            from it reaches the callers waiting for that refresh.
        session: an ``aiohttp.ClientSession`` to borrow (never closed here); without one,
            a session is created on first use and closed by :meth:`aclose`.
        retry: how transient token-endpoint failures are retried (``None``:
            ``RetryPolicy()``).
        timeout: seconds allowed for connecting and for each wait for data.
        access_token: an access token to start with (e.g. loaded from a store), with
            ``expires_at``; without one, the first :meth:`get_token` refreshes.
        expires_at: when ``access_token`` expires (timezone-aware).
        ssl: an :class:`ssl.SSLContext` to verify the token endpoint's certificate with
            (a corporate proxy's CA, say); ``None``: the system's trust store.
        clock, now, sleep, rand: a monotonic clock, the wall clock (aware datetimes), the
            sleep used between retries and the jitter source; inject them in tests.

    A forced refresh (the client's reaction to a 401) that arrives within 5 s after an
    earlier *forced* refresh returns that refresh's token instead of refreshing again, so
    a wave of 401s for one expired token costs one token request.

    Example::

        store = FileTokenStore("~/.config/myreports/tokens.json")
        async with RefreshTokenAuth(
            client_id=os.environ["MYREPORTS_CLIENT_ID"],
            client_secret=os.environ["MYREPORTS_CLIENT_SECRET"],
            refresh_token=os.environ["MYREPORTS_REFRESH_TOKEN"],
            on_refresh=store.save,
        ) as auth:
            async with MyReportsClient(auth, region="eu") as client:
                async for invoice in client.iter_invoices():
                    ...
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_url: str = DEFAULT_TOKEN_URL,
        on_refresh: OnRefresh | None = None,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        access_token: str | None = None,
        expires_at: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        ssl: _ssl.SSLContext | None = None,
    ) -> None:
        _check_str("client_id", client_id)
        _check_str("client_secret", client_secret)
        _check_str("refresh_token", refresh_token)
        url = check_endpoint_url(token_url, name="token_url")
        if on_refresh is not None and not callable(on_refresh):
            raise TypeError("on_refresh must be callable or None")
        timeout = check_http_options(timeout=timeout, session=session, retry=retry, ssl_context=ssl)
        if (access_token is None) != (expires_at is None):
            raise ValueError("access_token and expires_at go together: give both or neither")
        self._clock = clock
        self._now = now
        self._on_refresh = on_refresh
        self._session = session
        self._owns_session = session is None
        self._closed = False  # no new get_token
        self._session_closed = False  # not even a refresh in flight may go on
        self._endpoint = TokenEndpoint(
            url,
            client_id=client_id,
            client_secret=client_secret,
            retry=retry or RetryPolicy(),
            timeout=float(timeout),
            session=self._client_session,
            user_agent=f"myreports-async/{__version__} aiohttp/{aiohttp.__version__}",
            clock=clock,
            now=now,
            sleep=sleep,
            rand=rand,
            ssl_context=ssl,
            proxies=EnvironmentProxies() if session is None else None,
        )
        self._client_id = client_id
        self._refresh_token = refresh_token
        self._tokens: TokenSet | None = None
        self._expires_mono = -math.inf  # monotonic deadline of the access token
        self._lifetime_s: float | None = None  # None: unknown (a token given at start)
        if access_token is not None and expires_at is not None:
            self._tokens = TokenSet(access_token, refresh_token, expires_at)
            self._expires_mono = clock() + (expires_at - now()).total_seconds()
        self._inflight: asyncio.Task[str] | None = None
        self._inflight_forced = False
        self._forced_done_at: float | None = None  # monotonic end of the last forced refresh

    @classmethod
    def from_store(
        cls,
        store: TokenStore,
        *,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        on_refresh: OnRefresh | None = None,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        ssl: _ssl.SSLContext | None = None,
    ) -> RefreshTokenAuth:
        """A provider that starts from the tokens in ``store`` and saves every new set to it.

        The saved access token is used while it is fresh, so a restart costs no token
        request. Each new :class:`TokenSet` is saved with ``store.save`` first, then
        handed to ``on_refresh`` if you give one. Raises ``ValueError`` when the store
        holds no tokens yet (sign in first: ``myreports login`` or
        :func:`authorize_with_browser`).

        Example::

            store = FileTokenStore("/var/lib/billing-sync/tokens.json")
            auth = RefreshTokenAuth.from_store(
                store, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
            )
        """
        tokens = store.load()
        if tokens is None:
            raise ValueError(
                f"{store!r} holds no tokens: sign in first (myreports login, or "
                "authorize_with_browser() and save the result)"
            )

        def persist(new: TokenSet) -> Awaitable[None] | None:
            store.save(new)
            return on_refresh(new) if on_refresh is not None else None

        return cls(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=tokens.refresh_token,
            token_url=token_url,
            on_refresh=persist,
            session=session,
            retry=retry,
            timeout=timeout,
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            ssl=ssl,
        )

    # -- public state ------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return self._endpoint.shown_url

    @property
    def client_id(self) -> str:
        """The OAuth client id."""
        return self._client_id

    @property
    def token_set(self) -> TokenSet | None:
        """The tokens in use now (``None`` before the first access token)."""
        return self._tokens

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    def __repr__(self) -> str:
        expires = self._tokens.expires_at.isoformat() if self._tokens else None
        return (
            f"RefreshTokenAuth(client_id={self._client_id!r}, token_url={self.token_url!r}, "
            f"expires_at={expires!r})"
        )

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("RefreshTokenAuth cannot be pickled: it holds secrets")

    # -- tokens --------------------------------------------------------------------------

    async def get_token(self, *, force_refresh: bool = False) -> str:
        """The access token, refreshed first when it is due (or when forced, see Rule 2).

        Raises ``AuthenticationError`` when the token endpoint refuses the refresh token
        or the client, ``TransportError``/``ServerError`` when it cannot be reached after
        retries, ``DecodeError`` for an answer that is not a token answer.
        """
        if self._closed:
            raise RuntimeError("the RefreshTokenAuth is closed")
        task = self._inflight
        if task is None:
            current = self._tokens
            if current is not None:
                if force_refresh:
                    if self._recently_forced():
                        return current.access_token
                elif not self._renewal_due():
                    return current.access_token
            task = asyncio.get_running_loop().create_task(self._refresh())
            self._inflight = task
            self._inflight_forced = False
        if force_refresh:
            self._inflight_forced = True
        # shield: a cancelled waiter must not cancel the refresh others wait for (Rule 1).
        return await asyncio.shield(task)

    def _renewal_due(self) -> bool:
        remaining = self._expires_mono - self._clock()
        return remaining < renewal_margin(self._lifetime_s)

    def _recently_forced(self) -> bool:
        done = self._forced_done_at
        return done is not None and self._clock() - done < FORCED_REFRESH_REUSE_S

    async def _refresh(self) -> str:
        try:
            issued = await self._endpoint.exchange(
                {"grant_type": "refresh_token", "refresh_token": self._refresh_token},
                previous_refresh_token=self._refresh_token,
            )
            self._adopt(issued)
            try:
                logger.info(
                    "access token refreshed at %s; it is valid for %.0f s",
                    self.token_url,
                    issued.lifetime_s,
                )
                if self._on_refresh is not None:
                    result = self._on_refresh(issued.token_set)
                    if inspect.isawaitable(result):
                        await result
            finally:
                # Read last: a forced caller may have joined while on_refresh ran.
                self._forced_done_at = self._clock() if self._inflight_forced else None
            return issued.token_set.access_token
        finally:
            self._inflight = None

    def _adopt(self, issued: IssuedTokens) -> None:
        """Make a new answer current (Rule 3: before anyone else sees it)."""
        self._tokens = issued.token_set
        self._refresh_token = issued.token_set.refresh_token
        self._lifetime_s = issued.lifetime_s
        self._expires_mono = issued.issued_at + issued.lifetime_s

    # -- lifecycle -----------------------------------------------------------------------

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session_closed:
            raise RuntimeError("the RefreshTokenAuth is closed")
        if self._session is None:
            # Created on first use: aiohttp needs a running event loop for it.
            self._session = aiohttp.ClientSession()
        return self._session

    async def aclose(self) -> None:
        """Wait for a refresh in flight, then close the session if this object created it.

        The refresh is waited for, not cancelled, so a rotated refresh token reaches
        ``on_refresh``. A borrowed session is left open. Safe to call twice.
        """
        self._closed = True
        task = self._inflight
        if task is not None:
            # wait() does not raise the task's error: its waiters have it.
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved, so asyncio does not log it as lost
        self._session_closed = True
        session, self._session = self._session, None
        if self._owns_session and session is not None:
            await session.close()

    async def __aenter__(self) -> RefreshTokenAuth:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

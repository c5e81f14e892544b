"""``RefreshTokenAuth``: a token provider that renews its access token with a refresh token.

State, and how the calls move it::

    no access token / renewal due ──get_token()──────────────► refresh in flight
    token fresh                    ──get_token()──────────────► token returned at once
    refresh in flight              ──any call─────────────────► joins it (same token or error)
    refresh in flight              ──done─────────────────────► token fresh (on_refresh called)
    token fresh                    ──get_token(force=True)────► refresh in flight
    token T current                ──renew_refused(T)─────────► refresh in flight
    token T current                ──renew_refused(older)─────► T returned at once

Rule 1 (single flight): at most one token request is in flight, however many callers
        wait; every waiter gets its result or its exception. The refresh runs in its own
        task, so a waiter that is cancelled does not cancel it: an answer that rotated
        the refresh token is never thrown away.
Rule 2 (a refusal is decided by the token, not by the clock): after a 401 the client
        calls :meth:`RefreshTokenAuth.renew_refused` with the token the service refused.
        If that token is still the current one, a new one is fetched (or the refresh in
        flight is joined); if it is no longer current, another request already replaced
        it and the current token is returned without a token request. So N requests
        refused at once for the same token cost one token request, and a token revoked
        a second after the last refresh is still replaced: a new token is never withheld
        because another refresh happened recently. ``get_token(force_refresh=True)``,
        which cannot say which token was refused, always refreshes (or joins the
        refresh in flight).
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
from typing import TYPE_CHECKING

from ._auth import TokenSet, renewal_margin
from ._http import ClientSession, HttpConnection
from ._oauth import DEFAULT_TOKEN_URL, IssuedTokens, TokenEndpoint, check_endpoint_url
from ._retry import RetryPolicy, Sleep
from ._transport import check_http_options
from ._validate import check_secret

if TYPE_CHECKING:
    from ._token_store import TokenStore

__all__ = ["OnRefresh", "RefreshTokenAuth"]

logger = logging.getLogger("myreports_async")

OnRefresh = Callable[[TokenSet], Awaitable[None] | None]
"""What ``on_refresh`` may be: a function or a coroutine function taking a TokenSet."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


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

    After a 401 the client calls :meth:`renew_refused` with the refused token: a wave of
    401s for one token costs one token request, and a token revoked at any time is
    replaced (see the module's Rule 2).

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
        session: ClientSession | None = None,
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
        check_secret(client_id, name="client_id")
        check_secret(client_secret, name="client_secret")
        check_secret(refresh_token, name="refresh_token")
        url = check_endpoint_url(token_url, name="token_url")
        if on_refresh is not None and not callable(on_refresh):
            raise TypeError("on_refresh must be callable or None")
        timeout = check_http_options(timeout=timeout, session=session, retry=retry, ssl_context=ssl)
        if (access_token is None) != (expires_at is None):
            raise ValueError("access_token and expires_at go together: give both or neither")
        self._clock = clock
        self._now = now
        self._on_refresh = on_refresh
        self._connection = HttpConnection(
            timeout=float(timeout),
            session=session,
            ssl_context=ssl,
            closed_message="the RefreshTokenAuth is closed",
        )
        self._closed = False  # no new get_token
        self._endpoint = TokenEndpoint(
            url,
            client_id=client_id,
            client_secret=client_secret,
            retry=retry or RetryPolicy(),
            connection=self._connection,
            clock=clock,
            now=now,
            sleep=sleep,
            rand=rand,
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

    @classmethod
    def from_store(
        cls,
        store: TokenStore,
        *,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        on_refresh: OnRefresh | None = None,
        session: ClientSession | None = None,
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
        """The access token, refreshed first when it is due or when ``force_refresh``.

        A forced call refreshes even if a refresh has just finished (it joins one in
        flight): use :meth:`renew_refused` after a 401, which knows which token failed.

        Raises ``AuthenticationError`` when the token endpoint refuses the refresh token
        or the client, ``TransportError``/``ServerError`` when it cannot be reached after
        retries, ``DecodeError`` for an answer that is not a token answer.
        """
        self._check_open()
        if self._inflight is None:
            current = self._tokens
            if current is not None and not force_refresh and not self._renewal_due():
                return current.access_token
        return await self._join_or_start()

    async def renew_refused(self, refused_token: str) -> str:
        """A token to repeat a request with, after the service refused ``refused_token``.

        Decided by the token (Rule 2): when ``refused_token`` is still the current token,
        a new one is fetched (one token request however many callers were refused with
        it at once); when it has already been replaced, the current token is returned
        at once. :class:`~myreports_async.MyReportsClient` calls it after a 401; call it
        yourself only when you send requests with the token on your own. Raises like
        :meth:`get_token`.
        """
        self._check_open()
        if self._inflight is None:
            current = self._tokens
            if current is not None and current.access_token != refused_token:
                return current.access_token
            return await self._join_or_start()
        fresh = await self._join_or_start()
        if fresh != refused_token:
            return fresh
        # The refresh joined had handed out this very token before it finished (its
        # on_refresh was still running when the request left): fetch a new one.
        return await self._join_or_start()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the RefreshTokenAuth is closed")

    async def _join_or_start(self) -> str:
        task = self._inflight
        if task is None:
            task = asyncio.get_running_loop().create_task(self._refresh())
            self._inflight = task
        # shield: a cancelled waiter must not cancel the refresh others wait for (Rule 1).
        return await asyncio.shield(task)

    def _renewal_due(self) -> bool:
        remaining = self._expires_mono - self._clock()
        return remaining < renewal_margin(self._lifetime_s)

    async def _refresh(self) -> str:
        try:
            issued = await self._endpoint.exchange(
                {"grant_type": "refresh_token", "refresh_token": self._refresh_token},
                previous_refresh_token=self._refresh_token,
            )
            self._adopt(issued)
            logger.info(
                "access token refreshed at %s; it is valid for %.0f s",
                self.token_url,
                issued.lifetime_s,
            )
            if self._on_refresh is not None:
                result = self._on_refresh(issued.token_set)
                if inspect.isawaitable(result):
                    await result
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
        await self._connection.close()

    async def __aenter__(self) -> RefreshTokenAuth:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

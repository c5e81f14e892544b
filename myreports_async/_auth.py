"""Token providers: the only code that knows a bearer token.

The client asks its provider for a token before every request, so a refreshed token is
used at once. After a 401 it asks once for a replacement: with
``renew_refused(refused_token)`` when the provider has that method (it can then tell a
token already replaced from the current one, see :class:`RenewsRefusedTokens`), else with
``get_token(force_refresh=True)``. A provider that cannot mint a new token returns the
same one, and the client then gives up with ``AuthenticationError`` instead of repeating
a request that must fail again.

This module holds what needs no I/O: the provider protocol, the static token, the
:class:`TokenSet` record and the renewal rule. The refreshing provider, which talks to
the token endpoint, is :class:`~myreports_async.RefreshTokenAuth` (``_refresh.py``).

Rule (renewal): an access token is renewed once less than ``RENEW_MARGIN_S`` (60 s) of
its life remains, or less than half its life for a token issued for under
``SHORT_LIFETIME_S`` (2 minutes), so a request never leaves with a token about to lapse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from ._validate import check_secret

__all__ = [
    "RENEW_MARGIN_S",
    "SHORT_LIFETIME_S",
    "RenewsRefusedTokens",
    "StaticToken",
    "TokenProvider",
    "TokenSet",
    "renewal_margin",
    "replacement_token",
]

#: Seconds of remaining life below which an access token is renewed.
RENEW_MARGIN_S: Final = 60.0
#: Tokens issued for less than this many seconds are renewed at half their life instead.
SHORT_LIFETIME_S: Final = 120.0


@runtime_checkable
class TokenProvider(Protocol):
    """Anything that hands out bearer tokens for the API.

    Example of a custom provider::

        class VaultToken:
            async def get_token(self, *, force_refresh: bool = False) -> str:
                return await vault.read("myreports/token", fresh=force_refresh)
    """

    async def get_token(self, *, force_refresh: bool = False) -> str:
        """Return a bearer token; with ``force_refresh`` a fresh one if the provider can."""
        ...


@runtime_checkable
class RenewsRefusedTokens(Protocol):
    """A provider that can replace the token the service refused (optional).

    The client prefers ``renew_refused`` to ``get_token(force_refresh=True)`` after a 401:
    knowing which token was refused, the provider can skip the token request when that
    token was already replaced by a concurrent request, and never withhold a new one
    otherwise. :class:`~myreports_async.RefreshTokenAuth` implements it.
    """

    async def renew_refused(self, refused_token: str) -> str:
        """Return a token other than ``refused_token`` if the provider can mint one."""
        ...


async def replacement_token(provider: TokenProvider, refused_token: str) -> str:
    """The token to repeat a request with after the service refused ``refused_token``."""
    if isinstance(provider, RenewsRefusedTokens):
        return await provider.renew_refused(refused_token)
    return await provider.get_token(force_refresh=True)


class StaticToken:
    """A fixed bearer token; it cannot be refreshed, so a 401 is final.

    Example::

        client = MyReportsClient(StaticToken(os.environ["MYREPORTS_TOKEN"]))
        # the same as MyReportsClient(os.environ["MYREPORTS_TOKEN"])
    """

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = check_secret(token, name="token").strip()

    async def get_token(self, *, force_refresh: bool = False) -> str:
        """Return the token (the same one whatever ``force_refresh`` says)."""
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(token=***)"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("StaticToken cannot be pickled: it holds a secret")


def renewal_margin(lifetime_s: float | None) -> float:
    """Seconds before expiry at which a token issued for ``lifetime_s`` is renewed.

    ``None`` (the lifetime is unknown, e.g. a token loaded from a store) uses the 60 s rule.
    """
    if lifetime_s is not None and lifetime_s < SHORT_LIFETIME_S:
        return lifetime_s / 2
    return RENEW_MARGIN_S


def _checked_secret(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_secret(value, name=attribute.name)


def _aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{attribute.name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be timezone-aware")


@attrs.frozen
class TokenSet:
    """An access token, the refresh token that renews it, and when the access token expires.

    :class:`~myreports_async.RefreshTokenAuth` hands every new set to its ``on_refresh``
    callback; persist it (for example with :class:`~myreports_async.FileTokenStore`) so
    the next run continues with the latest refresh token. Its ``repr()`` and ``str()``
    hide both tokens.

    Attributes:
        access_token: the bearer token for the API.
        refresh_token: the token that obtains the next access token (it may rotate).
        expires_at: when the access token expires (timezone-aware).

    Example::

        def save(tokens: TokenSet) -> None:
            vault.write("myreports", tokens.refresh_token)
            log.info("new access token valid until %s", tokens.expires_at)
    """

    access_token: str = attrs.field(validator=_checked_secret, repr=False)
    refresh_token: str = attrs.field(validator=_checked_secret, repr=False)
    expires_at: datetime = attrs.field(validator=_aware)

    def __repr__(self) -> str:
        return f"TokenSet(access_token=***, refresh_token=***, expires_at={self.expires_at!r})"

    def __str__(self) -> str:
        return f"TokenSet(access_token=***, refresh_token=***, expires_at={self.expires_at})"

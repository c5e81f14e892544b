"""Token providers: the only code that knows a bearer token.

The client asks its provider for a token before every request, so a refreshed token is
used at once. After a 401 it asks once more with ``force_refresh=True``; a provider that
cannot mint a new token returns the same one, and the client then gives up with
``AuthenticationError`` instead of repeating a request that must fail again.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["StaticToken", "TokenProvider"]


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


class StaticToken:
    """A fixed bearer token; it cannot be refreshed, so a 401 is final.

    Example::

        client = MyReportsClient(StaticToken(os.environ["MYREPORTS_TOKEN"]))
        # the same as MyReportsClient(os.environ["MYREPORTS_TOKEN"])
    """

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not isinstance(token, str):
            raise TypeError("token must be a str")
        token = token.strip()
        if not token:
            raise ValueError("token must not be empty")
        if any(ch in token for ch in "\r\n\x00"):
            raise ValueError("token must not contain line breaks or NUL")
        self._token = token

    async def get_token(self, *, force_refresh: bool = False) -> str:
        """Return the token (the same one whatever ``force_refresh`` says)."""
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(token=***)"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("StaticToken cannot be pickled: it holds a secret")

"""Where the command line's credentials come from, and the token store's default place.

Rule (which credentials, first match wins):

1. ``MYREPORTS_CLIENT_ID`` + ``MYREPORTS_CLIENT_SECRET`` + ``MYREPORTS_REFRESH_TOKEN``
   (or their options): a ``RefreshTokenAuth`` from that refresh token. Rotated refresh
   tokens are not saved anywhere, so with a server that rotates them this suits one run.
2. A token store file that exists (``--token-store``, ``MYREPORTS_TOKEN_STORE``, else the
   default path), with the client id and secret from the options or the environment:
   ``RefreshTokenAuth.from_store``, saving every rotation back to the file.
3. ``MYREPORTS_TOKEN`` / ``--token``: a static bearer token.

A refresh token without the client id and secret, or a store without them and no static
token, is a usage error that names what is missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import attrs
import click

from myreports_async import (
    DecodeError,
    FileTokenStore,
    MyReportsClient,
    RefreshTokenAuth,
    RetryPolicy,
    StaticToken,
    TokenProvider,
)
from myreports_async._oauth import DEFAULT_TOKEN_URL

from ._run import CommandError

__all__ = [
    "DEFAULT_TOKEN_URL",
    "Credentials",
    "OwningClient",
    "client_credentials",
    "default_token_store",
    "load_provider",
]


def default_token_store() -> Path:
    """``$XDG_CONFIG_HOME/myreports/tokens.json`` (``~/.config``; ``%APPDATA%`` on Windows)."""
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    elif os.environ.get("XDG_CONFIG_HOME"):
        base = Path(os.environ["XDG_CONFIG_HOME"])
    else:
        base = Path.home() / ".config"
    return base / "myreports" / "tokens.json"


@attrs.frozen
class Credentials:
    """What the options and the environment say about credentials. Secrets stay out of repr."""

    token: str | None = attrs.field(repr=False)
    client_id: str | None
    client_secret: str | None = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(repr=False)
    token_store: str | None
    token_url: str | None

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values a log line must never show."""
        return tuple(s for s in (self.token, self.client_secret, self.refresh_token) if s)

    def store(self) -> FileTokenStore:
        """The token store: the one named, else the default path."""
        return FileTokenStore(self.token_store or default_token_store())


def client_credentials(creds: Credentials, needed_by: str) -> tuple[str, str]:
    """``(client id, client secret)``, or a usage error naming what ``needed_by`` lacks."""
    missing = [
        name
        for name, value in (
            ("MYREPORTS_CLIENT_ID (--client-id)", creds.client_id),
            ("MYREPORTS_CLIENT_SECRET (--client-secret)", creds.client_secret),
        )
        if not value
    ]
    if missing:
        raise click.UsageError(f"{needed_by} needs {' and '.join(missing)}")
    return creds.client_id or "", creds.client_secret or ""


def load_provider(creds: Credentials, *, timeout: float) -> TokenProvider:
    """The token provider the Rule picks; ``click.UsageError`` when none can be built."""
    token_url = creds.token_url or DEFAULT_TOKEN_URL
    try:
        if creds.refresh_token:
            client_id, client_secret = client_credentials(creds, "MYREPORTS_REFRESH_TOKEN")
            return RefreshTokenAuth(
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=creds.refresh_token,
                token_url=token_url,
                timeout=timeout,
            )
        store = creds.store()
        if store.path.is_file() and (creds.client_id or creds.client_secret or not creds.token):
            client_id, client_secret = client_credentials(creds, f"the token store {store.path}")
            return RefreshTokenAuth.from_store(
                store,
                client_id=client_id,
                client_secret=client_secret,
                token_url=token_url,
                timeout=timeout,
            )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except (DecodeError, OSError) as exc:
        raise CommandError(f"cannot use the token store: {exc}") from None
    if not creds.token:
        raise click.UsageError(
            "no access token: pass --token or set MYREPORTS_TOKEN (or sign in with "
            "`myreports login`, or set MYREPORTS_CLIENT_ID, MYREPORTS_CLIENT_SECRET and "
            "MYREPORTS_REFRESH_TOKEN)"
        )
    try:
        return StaticToken(creds.token)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--token' / MYREPORTS_TOKEN") from None


class OwningClient(MyReportsClient):
    """The command line's client: it also closes the token provider it was built with.

    (A library client never closes a provider it was handed; the command line builds the
    provider for this one client, so the client is its only owner.)
    """

    def __init__(
        self,
        auth: TokenProvider,
        *,
        region: str,
        base_url: str | None,
        retry: RetryPolicy,
        timeout: float,
    ) -> None:
        super().__init__(auth, region=region, base_url=base_url, retry=retry, timeout=timeout)
        self._owned_provider = auth

    async def close(self) -> None:
        """Close the client, then its token provider (which waits for a refresh in flight)."""
        try:
            await super().close()
        finally:
            if isinstance(self._owned_provider, RefreshTokenAuth):
                await self._owned_provider.aclose()

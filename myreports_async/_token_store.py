"""Keeping a :class:`TokenSet` between runs, so a rotated refresh token is never lost.

Rule 1: the file is written atomically: a temporary file in the same directory, flushed
        and fsynced, then ``os.replace``d over the old one (and the directory fsynced).
        A crash or a full disk mid-write leaves the previous file intact.
Rule 2: the file is created with mode 0600 (``os.open(..., 0o600)``, so it is never
        readable by others, not even for a moment); a missing directory is created 0700.
Rule 3: the tokens never appear in a repr, a log record or an error message.

File format (JSON, UTF-8)::

    {"version": 1, "access_token": "...", "refresh_token": "...",
     "expires_at": "2025-01-31T10:00:00+00:00"}
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import msgspec

from ._auth import TokenSet
from ._errors import DecodeError

__all__ = ["FileTokenStore", "TokenStore"]

logger = logging.getLogger("myreports_async")

FORMAT_VERSION: Final = 1
#: A token file is a few kilobytes; a bigger one is not ours.
MAX_FILE_SIZE: Final = 1024 * 1024


@runtime_checkable
class TokenStore(Protocol):
    """Where a :class:`TokenSet` is kept between runs (see :class:`FileTokenStore`).

    Implement it to keep tokens elsewhere (a secrets manager, a database row); then
    :meth:`RefreshTokenAuth.from_store` works with yours too.

    Example::

        class VaultStore:
            def load(self) -> TokenSet | None: ...
            def save(self, tokens: TokenSet) -> None: ...
    """

    def load(self) -> TokenSet | None:
        """The saved tokens, or ``None`` when nothing has been saved yet."""
        ...

    def save(self, tokens: TokenSet) -> None:
        """Keep ``tokens``, replacing what was saved before."""
        ...


class FileTokenStore:
    """A :class:`TokenSet` in a JSON file, written atomically with 0600 permissions.

    Use ``store.save`` as :class:`RefreshTokenAuth`'s ``on_refresh`` (or build the
    provider with :meth:`RefreshTokenAuth.from_store`), so a restarted process continues
    with the latest refresh token. ``~`` in the path is expanded.

    Only one process should refresh with one store's tokens at a time: each refresh spends
    the refresh token the other processes hold.

    Example::

        store = FileTokenStore("~/.config/myreports/tokens.json")
        tokens = store.load()          # None before the first save
        auth = RefreshTokenAuth.from_store(store, client_id=..., client_secret=...)
    """

    __slots__ = ("_path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(os.path.expanduser(os.fspath(path)))

    @property
    def path(self) -> Path:
        """The token file."""
        return self._path

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self._path)!r})"

    def load(self) -> TokenSet | None:
        """The saved tokens, or ``None`` when the file does not exist.

        Raises ``DecodeError`` for a file that is not a token file (it is never
        overwritten silently), ``OSError`` when it cannot be read.
        """
        try:
            with open(self._path, "rb") as file:
                mode = os.fstat(file.fileno()).st_mode
                raw = file.read(MAX_FILE_SIZE + 1)
        except FileNotFoundError:
            return None
        if sys.platform != "win32" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning(
                "token file %s is readable by other users (mode %o): chmod 600 it",
                self._path,
                stat.S_IMODE(mode),
            )
        return _decode(raw, where=str(self._path))

    def save(self, tokens: TokenSet) -> None:
        """Replace the file's content with ``tokens``, atomically (Rules 1 and 2)."""
        if not isinstance(tokens, TokenSet):
            raise TypeError("tokens must be a TokenSet")
        data = _encode(tokens)
        directory = self._path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = directory / f".{self._path.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags, 0o600)
        try:
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o600)  # exact, whatever the umask
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    if sys.platform == "win32":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _encode(tokens: TokenSet) -> bytes:
    payload = {
        "version": FORMAT_VERSION,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
    }
    return msgspec.json.format(msgspec.json.encode(payload), indent=2) + b"\n"


def _decode(raw: bytes, *, where: str) -> TokenSet:
    def bad(what: str, path: str | None = None) -> DecodeError:
        return DecodeError(f"token file {where} {what}", path=path)

    if len(raw) > MAX_FILE_SIZE:
        raise bad("is too large to be a token file")
    try:
        payload: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise bad("is not JSON") from None
    if not isinstance(payload, dict):
        raise bad("is not a JSON object")
    if payload.get("version") != FORMAT_VERSION:
        raise bad(f"has an unknown format version (expected {FORMAT_VERSION})", "version")
    for key in ("access_token", "refresh_token", "expires_at"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            raise bad(f"has no usable {key}", key)
    try:
        expires_at = datetime.fromisoformat(payload["expires_at"])
    except ValueError:
        raise bad("has an unreadable expires_at", "expires_at") from None
    if expires_at.tzinfo is None:
        raise bad("has an expires_at without a timezone", "expires_at")
    try:
        return TokenSet(payload["access_token"], payload["refresh_token"], expires_at)
    except ValueError:
        raise bad("holds a token with line breaks or blanks only") from None

"""Where a downloaded body goes: a path, a file object or a spool, each able to restart.

Rule 1: a path gets a temporary file beside it (same directory, so the final
        ``os.replace`` is atomic), renamed into place only when the body is complete and
        checked; any failure or cancellation removes it (:func:`replacing`).
Rule 2: a retry restarts the body, so what was written is truncated: a temporary file
        or a seekable file object is rewound to where it started; a file object that
        cannot seek and already received bytes makes the download raise
        ``TransportError`` (:meth:`FileTarget.restart`).
Rule 3: a body that is only read back (the detail ZIP the client decodes itself) goes
        to a :class:`Spool`, in memory up to a size, then to a file with no name, so
        nothing is left behind even if the process is killed.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tempfile
from collections.abc import Iterator
from typing import IO, BinaryIO, Protocol

from ._errors import TransportError

__all__ = ["FileTarget", "Spool", "Target", "file_target", "replacing"]


class Target(Protocol):
    """A sink for one body that can start again from nothing."""

    def write(self, data: bytes) -> None:
        """Take the next bytes of the body."""

    def restart(self) -> None:
        """Forget what was written (before a retry), or raise ``TransportError``."""


def _write_all(file: IO[bytes], data: bytes) -> None:
    """``file.write`` until every byte is taken (a raw file may take fewer at a time)."""
    view = memoryview(data)
    while view:
        taken = file.write(view)
        if taken is None or taken >= len(view):  # None: a file-like object that returns nothing
            return
        view = view[taken:]


def _start_position(file: IO[bytes]) -> int | None:
    """Where a seekable file object stands now, or ``None`` when it cannot seek."""
    try:
        return file.tell() if file.seekable() else None
    except (AttributeError, OSError):
        return None


class FileTarget:
    """A binary file object, from the position it had when the download started."""

    def __init__(self, file: IO[bytes], *, url: str) -> None:
        self._file = file
        self._url = url
        self._start = _start_position(file)
        self._written = 0

    def write(self, data: bytes) -> None:
        _write_all(self._file, data)
        self._written += len(data)

    def restart(self) -> None:
        if not self._written:
            return
        written, self._written = self._written, 0
        if self._start is None:
            raise TransportError(
                f"the download was interrupted after {written} bytes had gone to a file "
                f"object that cannot seek, so it cannot be restarted: {self._url}",
                url=self._url,
            )
        try:
            self._file.seek(self._start)
            self._file.truncate()
        except OSError as exc:
            raise TransportError(
                f"the download was interrupted and the file object cannot be rewound to "
                f"restart it ({exc}): {self._url}",
                url=self._url,
            ) from None

    def flush(self) -> None:
        flush = getattr(self._file, "flush", None)
        if callable(flush):
            flush()


def file_target(destination: BinaryIO, *, url: str) -> FileTarget:
    """A caller's binary file object as a target; ``TypeError``/``ValueError`` otherwise."""
    if isinstance(destination, io.TextIOBase):
        raise TypeError("destination file must be opened in binary mode ('wb')")
    if not callable(getattr(destination, "write", None)):
        raise TypeError(
            "destination must be a path (str or os.PathLike) or a binary file object, not "
            f"{type(destination).__name__}"
        )
    if getattr(destination, "closed", False):
        raise ValueError("destination file is closed")
    return FileTarget(destination, url=url)


class Spool:
    """A temporary binary file: in memory up to ``max_memory`` bytes, then on disk.

    On disk it is a :func:`tempfile.TemporaryFile`, which has no name on POSIX systems,
    so nothing is ever left behind in a directory, even if the process is killed. (Not
    :class:`tempfile.SpooledTemporaryFile`: on Python 3.10 it lacks ``seekable()``,
    which :mod:`zipfile` calls.)
    """

    def __init__(self, max_memory: int) -> None:
        self.file: IO[bytes] = io.BytesIO()
        self._max_memory = max_memory
        self._in_memory = True
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._in_memory and self._size + len(data) > self._max_memory:
            self._move_to_disk()
        self.file.write(data)
        self._size += len(data)

    def _move_to_disk(self) -> None:
        memory = self.file
        assert isinstance(memory, io.BytesIO)
        disk = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        try:
            with memory.getbuffer() as view:
                disk.write(view)
        except BaseException:
            disk.close()
            raise
        self.file, self._in_memory = disk, False
        memory.close()

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self._size = 0

    def close(self) -> None:
        self.file.close()

    @property
    def closed(self) -> bool:
        return self.file.closed


def _open_beside(target: str) -> tuple[BinaryIO, str]:
    """Create and open a new, empty temporary file in ``target``'s directory.

    Returns the open file and its path. Created with mode 0o666 like any new file, so the
    umask decides the final file's permissions (``mkstemp`` would make every download
    0o600). Fails before any request if the directory is missing or not writable.
    """
    if os.path.isdir(target):
        raise IsADirectoryError(f"destination is a directory: {target!r}")
    directory, name = os.path.split(os.path.abspath(target))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp = os.path.join(directory, f".{name[:200]}.{secrets.token_hex(4)}.part")
        try:
            fd = os.open(temp, flags, 0o666)
        except FileExistsError:
            continue
        return os.fdopen(fd, "wb"), temp
    raise FileExistsError(f"cannot create a temporary file beside {target!r}")


@contextlib.contextmanager
def replacing(path: str, *, url: str) -> Iterator[FileTarget]:
    """A target that becomes the file at ``path`` when the block completes (Rule 1).

    The temporary file is created before the block runs, so a missing or read-only
    directory fails before any request.
    """
    file, temp = _open_beside(path)
    try:
        with file:
            yield FileTarget(file, url=url)
        os.replace(temp, path)
    except BaseException:  # cancellation included: never leave the temporary file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise

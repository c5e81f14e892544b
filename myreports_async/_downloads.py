"""Invoice downloads: the summary PDF and the detail ZIP, streamed, never whole in memory.

Rule 1: a body goes to its destination as it arrives, ``STREAM_CHUNK_SIZE`` bytes at a
        time. A path gets a temporary file beside it (same directory, so the final
        ``os.replace`` is atomic) that is renamed into place only when the body is
        complete and checked; any failure or cancellation removes it.
Rule 2: a retry restarts the body. What was written is truncated: a temporary file or a
        seekable file object is rewound to where it started; a file object that cannot
        seek and already received bytes makes the download raise ``TransportError``.
Rule 3: a body is checked as it streams, and a bad one is a ``DecodeError`` (never
        retried): a summary starts with ``%PDF``; a detail starts with ``PK\\x03\\x04``
        and ends with a ZIP end-of-central-directory record. A body shorter than its
        ``Content-Length`` is a cut connection (retried), never a success.
Rule 4: nothing from an archive is ever extracted to a path. The detail's one JSON
        member is read with a size limit (``MAX_DETAIL_JSON_BYTES``), checked against the
        archive's header and enforced again while inflating, so a zip bomb costs at most
        the limit.
Rule 5: ``iter_invoice_items`` never parses the JSON whole: a small forward-only scanner
        finds where each element of ``invoiceItems`` ends and the codec parses that one
        element (numbers exact, as written) and builds the item from the same table as
        :func:`decode_invoice_detail`.

Layers, each with one job::

    download(...)              path or file object -> a _Target; the id was checked above
      └─ _download(...)        ApiSession.request with a reader and a before_retry hook
           └─ _CheckedBody     magic, end record, byte count, progress, restart
    fetch_detail(...)          _download into a _Spool, then (in a thread) zip -> JSON
    iter_items(...)            _download into a _Spool, then _scan_items in small batches
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import re
import secrets
import tempfile
import zipfile
import zlib
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from typing import IO, TYPE_CHECKING, BinaryIO, Final, Protocol

import attrs
import orjson
from yarl import URL

from ._codec import JSON_ERRORS, decode_invoice_detail, parse_json, structure_invoice_item
from ._errors import DecodeError, TransportError
from ._models import InvoiceDetail, InvoiceItem
from ._session import ApiSession
from ._transport import body_length, stream_body

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DETAIL",
    "ITEMS_SPOOL_MEMORY_BYTES",
    "ITEM_BATCH_SIZE",
    "MAX_DETAIL_JSON_BYTES",
    "SPOOL_MEMORY_BYTES",
    "SUMMARY",
    "BodyKind",
    "Progress",
    "download",
    "fetch_detail",
    "iter_items",
]

MAX_DETAIL_JSON_BYTES = 512 * 1024 * 1024
"""The largest uncompressed JSON member a detail ZIP may hold (zip-bomb guard).

Checked against the archive's header before reading, and enforced again while inflating.
A module attribute, not ``Final``, so that tests (or a user who really expects larger
invoices) can change it.
"""

SPOOL_MEMORY_BYTES: Final = 8 * 1024 * 1024
"""How much of a detail ZIP ``get_invoice_detail`` keeps in memory before moving it to an
unnamed file on disk (the decoded invoice is far larger than its ZIP anyway)."""

ITEMS_SPOOL_MEMORY_BYTES: Final = 1024 * 1024
"""The same for ``iter_invoice_items``, whose point is to hold little: 1 MiB."""

ITEM_BATCH_SIZE: Final = 256
"""Items decoded between two yields to the event loop by ``iter_invoice_items``."""

_MEMBER_READ_SIZE: Final = 256 * 1024  # inflated bytes the item scanner asks for at a time
_OCTET_STREAM: Final = "application/octet-stream"

#: ``progress(bytes_received, total_or_None)``; ``bytes_received`` starts again at 0 when a
#: retry restarts the body.
Progress = Callable[[int, int | None], object]


# --- what a body must look like -------------------------------------------------------

_ZIP_END_RECORD: Final = b"PK\x05\x06"
_ZIP_END_RECORD_SIZE: Final = 22
_ZIP_MAX_COMMENT: Final = 0xFFFF


@attrs.frozen
class BodyKind:
    """What a download must be: its name in messages, its magic bytes, its end check."""

    name: str
    description: str
    magic: bytes
    zip_end: bool = False  # must end with a ZIP end-of-central-directory record


SUMMARY: Final = BodyKind("summary", "a PDF", b"%PDF")
DETAIL: Final = BodyKind("detail", "a ZIP archive", b"PK\x03\x04", zip_end=True)


def _size_text(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


# --- where a body goes ----------------------------------------------------------------


class _Target(Protocol):
    """A sink for one body that can start again from nothing."""

    def write(self, data: bytes) -> None: ...

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


class _FileTarget:
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


class _Spool:
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


# --- streaming one body ---------------------------------------------------------------


class _CheckedBody:
    """Receives one body chunk by chunk: checks it, counts it, hands it to the target."""

    def __init__(
        self, kind: BodyKind, target: _Target, *, url: str, progress: Progress | None
    ) -> None:
        self._kind = kind
        self._target = target
        self._url = url
        self._progress = progress
        self._expected: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._head = b""  # held back until the magic bytes are checked
        self._checked = False
        self._tail = bytearray()  # the last bytes, for the ZIP end record
        self.received = 0

    def begin(self, expected: int | None) -> None:
        self._expected = expected
        if self._progress is not None:
            self._progress(0, expected)

    def write(self, chunk: bytes) -> None:
        if not self._checked:
            self._head += chunk
            if len(self._head) < len(self._kind.magic):
                return
            self._check_magic()
            chunk, self._head, self._checked = self._head, b"", True
        self._target.write(chunk)
        self.received += len(chunk)
        if self._kind.zip_end:
            self._tail += chunk
            del self._tail[: -(_ZIP_END_RECORD_SIZE + _ZIP_MAX_COMMENT)]
        if self._progress is not None:
            self._progress(self.received, self._expected)

    def finish(self) -> int:
        """The body ended whole (the session checked its length): check its end."""
        if not self._checked:
            self._check_magic()  # a body shorter than the magic bytes: always raises
        if self._kind.zip_end:
            record = self._tail.rfind(_ZIP_END_RECORD)
            if record < 0 or len(self._tail) - record < _ZIP_END_RECORD_SIZE:
                raise self._error(
                    f"{self._kind.name} ZIP is incomplete: it has no end-of-central-directory "
                    "record"
                )
        return self.received

    def restart(self) -> None:
        """Before a retry: the next attempt starts the body from its first byte."""
        self._target.restart()
        self._reset()

    def _check_magic(self) -> None:
        head, kind = self._head, self._kind
        if head.startswith(kind.magic):
            return
        if not head:
            raise self._error(f"{kind.name} is not {kind.description} (the body is empty)")
        raise self._error(f"{kind.name} is not {kind.description} (starts with {head[:16]!r})")

    def _error(self, message: str) -> DecodeError:
        return DecodeError(message, url=self._url)


async def _download(
    http: ApiSession,
    url: URL,
    target: _Target,
    *,
    kind: BodyKind,
    progress: Progress | None = None,
) -> int:
    """GET ``url`` into ``target`` with retries; return the byte count."""
    body = _CheckedBody(kind, target, url=str(url), progress=progress)

    async def read(resp: aiohttp.ClientResponse) -> int:
        body.begin(body_length(resp))
        await stream_body(resp, body.write)
        return body.finish()

    return await http.request(url, read, accept=_OCTET_STREAM, before_retry=body.restart)


async def download(
    http: ApiSession,
    url: URL,
    destination: str | os.PathLike[str] | BinaryIO,
    *,
    kind: BodyKind,
    progress: Progress | None = None,
) -> int:
    """Stream ``url`` to a path (through a temporary file beside it) or a file object."""
    if isinstance(destination, (str, os.PathLike)):
        path = os.fspath(destination)
        if not isinstance(path, str):
            raise TypeError("a destination path must be a str or os.PathLike[str]")
        return await _download_to_path(http, url, path, kind=kind, progress=progress)
    if isinstance(destination, io.TextIOBase):
        raise TypeError("destination file must be opened in binary mode ('wb')")
    if not callable(getattr(destination, "write", None)):
        raise TypeError(
            "destination must be a path (str or os.PathLike) or a binary file object, not "
            f"{type(destination).__name__}"
        )
    if getattr(destination, "closed", False):
        raise ValueError("destination file is closed")
    target = _FileTarget(destination, url=str(url))
    size = await _download(http, url, target, kind=kind, progress=progress)
    target.flush()
    return size


async def _download_to_path(
    http: ApiSession, url: URL, path: str, *, kind: BodyKind, progress: Progress | None
) -> int:
    file, temp = _open_beside(path)
    try:
        with file:
            size = await _download(
                http, url, _FileTarget(file, url=str(url)), kind=kind, progress=progress
            )
        os.replace(temp, path)
    except BaseException:  # cancellation included: never leave the temporary file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return size


# --- the detail ZIP -------------------------------------------------------------------


class _MemberReader:
    """Reads a ZIP member, inflating at most ``limit`` bytes; corruption is a DecodeError."""

    def __init__(self, member: IO[bytes], *, name: str, limit: int, url: str) -> None:
        self._member = member
        self._name = name
        self._limit = limit
        self._url = url
        self._total = 0

    def read(self, size: int) -> bytes:
        try:
            data = self._member.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DecodeError(
                f"detail ZIP member {self._name!r} is corrupt ({exc})", url=self._url
            ) from None
        self._total += len(data)
        if self._total > self._limit:
            raise _too_large(self._limit, url=self._url)
        return data

    def read_all(self) -> bytes:
        # One read of limit + 1: zipfile inflates no more than asked, so a bomb stops here.
        return self.read(self._limit + 1)


def _too_large(limit: int, *, url: str, size: int | None = None) -> DecodeError:
    stated = f" ({size} bytes uncompressed)" if size is not None else ""
    return DecodeError(f"detail JSON member exceeds the {_size_text(limit)} limit{stated}", url=url)


def _names(infos: list[zipfile.ZipInfo]) -> str:
    shown = ", ".join(repr(info.filename[:100]) for info in infos[:5])
    return shown + (", ..." if len(infos) > 5 else "")


def _json_member_info(archive: zipfile.ZipFile, *, limit: int, url: str) -> zipfile.ZipInfo:
    """The archive's one ``.json`` member, checked before a byte of it is inflated."""
    infos = archive.infolist()
    members = [i for i in infos if not i.is_dir() and i.filename.lower().endswith(".json")]
    if not members:
        held = f" (it holds {_names(infos)})" if infos else " (it is empty)"
        raise DecodeError(f"detail ZIP holds no JSON file{held}", url=url)
    if len(members) > 1:
        raise DecodeError(
            f"detail ZIP holds {len(members)} JSON files ({_names(members)}); expected one",
            url=url,
        )
    info = members[0]
    if info.flag_bits & 0x1:
        raise DecodeError(f"detail JSON member {info.filename[:100]!r} is encrypted", url=url)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise DecodeError(
            f"detail JSON member {info.filename[:100]!r} uses an unsupported compression "
            f"method ({info.compress_type})",
            url=url,
        )
    if info.file_size > limit:
        raise _too_large(limit, url=url, size=info.file_size)
    return info


@contextlib.contextmanager
def _json_member(file: IO[bytes], *, url: str) -> Iterator[_MemberReader]:
    """Open the detail ZIP in ``file`` and its JSON member, for reading only."""
    limit = MAX_DETAIL_JSON_BYTES
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise DecodeError(f"detail is not a readable ZIP archive ({exc})", url=url) from None
    with archive:
        info = _json_member_info(archive, limit=limit, url=url)
        try:
            member = archive.open(info)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DecodeError(
                f"detail ZIP member {info.filename[:100]!r} is corrupt ({exc})", url=url
            ) from None
        with member:
            yield _MemberReader(member, name=info.filename[:100], limit=limit, url=url)


def _decode_detail_spool(spool: _Spool, url: str) -> InvoiceDetail:
    """The detail from a downloaded ZIP; closes ``spool``. Runs in a worker thread."""
    with contextlib.closing(spool), _json_member(spool.file, url=url) as member:
        body = member.read_all()
    return decode_invoice_detail(body, url=url)


async def fetch_detail(http: ApiSession, url: URL) -> InvoiceDetail:
    """Download a detail ZIP (spooled) and decode its JSON member."""
    spool = _Spool(SPOOL_MEMORY_BYTES)
    try:
        await _download(http, url, spool, kind=DETAIL)
    except BaseException:
        spool.close()
        raise
    # Inflating and decoding a large invoice takes seconds: not on the event loop. The
    # thread owns the spool from here and closes it; the future is shielded so that a
    # cancelled caller never closes the spool under a running thread.
    future = asyncio.get_running_loop().run_in_executor(None, _decode_detail_spool, spool, str(url))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_consume_result)
        raise


def _consume_result(future: asyncio.Future[InvoiceDetail]) -> None:
    """Mark a result nobody awaits any more as retrieved (no 'never retrieved' log)."""
    if not future.cancelled():
        future.exception()


# --- the item scanner -----------------------------------------------------------------

_WHITESPACE: Final = re.compile(rb"[ \t\n\r]*")
_BRACKET: Final = re.compile(rb"[{}\[\]]")
# Skips strings and every other byte up to the next bracket outside a string, in one C
# call. Group 1 is that bracket; group 2 a quote that opens a string not yet complete in
# the buffer. The repeat never backtracks: the optional tail always matches.
_UP_TO_BRACKET: Final = re.compile(
    rb'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^"{}\[\]]+)*(?:([{}\[\]])|("))?', re.DOTALL
)
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SCALAR: Final = re.compile(rb'[^ \t\n\r,:{}\[\]"]+')  # a number, true, false or null

_MIN_FAST_WINDOW: Final = 4 * 1024
_OPENERS: Final = frozenset(b"{[")
_JSON_TYPES: Final = {ord("{"): "object", ord("["): "array", ord('"'): "string"}
_JSON_TYPES.update({ord("t"): "boolean", ord("f"): "boolean", ord("n"): "null"})


class _Scanner:
    """Reads one JSON document from a byte stream, forward only, a value at a time.

    It finds where values end; it never builds a large one. The buffer holds the value
    being read and what is left of the last read, so memory follows the largest single
    item, not the document. Positions are indexes into ``self._buf``; :meth:`_more` drops
    the bytes before ``self._pos`` and returns by how much indexes moved.
    """

    def __init__(self, read: Callable[[int], bytes], *, url: str) -> None:
        self._read = read
        self._url = url
        self._buf = bytearray()
        self._pos = 0
        self._dropped = 0  # bytes of the document before self._buf[0]
        self._eof = False
        self._fast_window = _MIN_FAST_WINDOW  # bytes the fast path may look ahead
        self._fast_skips = 0  # items to read the exact way before trying the fast path again

    # -- input -------------------------------------------------------------------------

    def _more(self) -> int | None:
        """Read more input; the shift of every index, or ``None`` at the end of the input."""
        if self._eof:
            return None
        data = self._read(_MEMBER_READ_SIZE)
        if not data:
            self._eof = True
            return None
        shift = self._pos
        del self._buf[:shift]
        self._buf += data
        self._pos = 0
        self._dropped += shift
        return shift

    def error(self, expected: str, at: int | None = None) -> DecodeError:
        offset = self._dropped + (self._pos if at is None else at)
        return DecodeError(
            f"detail JSON is malformed at byte {offset}: expected {expected}", url=self._url
        )

    # -- tokens ------------------------------------------------------------------------

    def peek(self) -> int | None:
        """The next byte that is not whitespace (consumed up to it), or ``None`` at the end."""
        while True:
            spaces = _WHITESPACE.match(self._buf, self._pos)
            assert spaces is not None  # the pattern matches the empty string
            self._pos = spaces.end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if self._more() is None:
                return None

    def accept(self, char: bytes) -> bool:
        if self.peek() == char[0]:
            self._pos += 1
            return True
        return False

    def expect(self, char: bytes, expected: str) -> None:
        if not self.accept(char):
            raise self.error(expected)

    def expect_end(self) -> None:
        if self.peek() is not None:
            raise self.error("the end of the document after the top-level object")

    def json_type(self) -> str:
        """The JSON type name of the next value, from its first byte."""
        first = self.peek()
        return "nothing" if first is None else _JSON_TYPES.get(first, "number")

    # -- values ------------------------------------------------------------------------

    def string(self, expected: str) -> str:
        """The next value, which must be a string, decoded."""
        if self.peek() != ord('"'):
            raise self.error(expected)
        end = self._string_end()
        raw = bytes(self._buf[self._pos : end])
        self._pos = end
        try:
            text = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self.error("a valid string") from None
        assert isinstance(text, str)
        return text

    def skip_value(self) -> None:
        """Pass over the next value without keeping it (a big one costs no memory)."""
        self._pos = self._value_end(keep=False)

    def item(self) -> object:
        """The next value, parsed: meant for one element of a large array."""
        if self.peek() == ord("{"):
            if self._fast_skips:
                self._fast_skips -= 1
            else:
                parsed = self._parse_buffered_object()
                if parsed is _MISGUESSED:
                    # Brackets in strings: likely in the next items too. Try again later.
                    self._fast_skips = _FAST_SKIPS_AFTER_MISGUESS
                elif parsed is not _INCOMPLETE:
                    return parsed
        end = self._value_end(keep=True)
        start, raw = self._pos, bytes(self._buf[self._pos : end])
        self._pos = end
        self._fast_window = max(_MIN_FAST_WINDOW, 4 * len(raw))
        try:
            return parse_json(raw)
        except JSON_ERRORS as exc:
            raise self.error(f"a valid JSON value ({exc})", at=start) from None

    def _parse_buffered_object(self) -> object:
        """Fast path: the object at ``self._pos``, if the buffer holds it whole.

        Brackets are counted without minding strings; the parser then proves the guess. A
        wrong guess (a bracket inside a string) is never valid JSON, because the slice
        would end inside a string or hold more than one value: the exact scan decides.
        The count looks no further than a few times the last item's size, and after a
        wrong guess the next items are read the exact way: items with unbalanced brackets
        in their strings cost a bounded detour, never a scan of the whole buffer each.
        """
        depth = 0
        buf = self._buf
        start = self._pos
        window = min(len(buf), start + self._fast_window)
        for match in _BRACKET.finditer(buf, start, window):
            if buf[match.start()] in _OPENERS:
                depth += 1
                continue
            depth -= 1
            if depth:
                continue
            end = match.end()
            try:
                parsed = parse_json(bytes(buf[start:end]))
            except JSON_ERRORS:
                return _MISGUESSED
            self._pos = end
            self._fast_window = max(_MIN_FAST_WINDOW, 4 * (end - start))
            return parsed
        return _INCOMPLETE if window == len(buf) else _MISGUESSED

    def _value_end(self, *, keep: bool) -> int:
        """Index just after the next value, which starts at ``self._pos`` once it returns."""
        first = self.peek()
        if first is None:
            raise self.error("a value")
        if first in _OPENERS:
            return self._container_end(keep=keep)
        if first == ord('"'):
            return self._string_end()
        while True:
            match = _SCALAR.match(self._buf, self._pos)
            if match is None:
                raise self.error("a value")
            if match.end() < len(self._buf) or self._more() is None:
                return match.end()

    def _string_end(self) -> int:
        while True:
            match = _STRING.match(self._buf, self._pos)
            if match is not None:
                return match.end()
            if self._more() is None:
                raise self.error("the end of a string before the end of the document")

    def _container_end(self, *, keep: bool) -> int:
        depth = 0
        index = self._pos
        while True:
            match = _UP_TO_BRACKET.match(self._buf, index)
            assert match is not None  # the pattern matches the empty string
            if match.lastindex == 1:
                index = match.end()
                if self._buf[index - 1] in _OPENERS:
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        return index
                continue
            # The buffer ends inside this value: read on from the unfinished string, or
            # from the end. A value being skipped needs none of its bytes kept.
            index = match.start(2) if match.lastindex == 2 else match.end()
            if not keep:
                self._pos = index
            shift = self._more()
            if shift is None:
                raise self.error("the end of an object or array before the end of the document")
            index -= shift


_INCOMPLETE: Final = object()  # the fast path ran out of buffered bytes
_MISGUESSED: Final = object()  # the fast path's guess was wrong (brackets inside strings)
_FAST_SKIPS_AFTER_MISGUESS: Final = 15


def _scan_items(read: Callable[[int], bytes], *, url: str) -> Generator[InvoiceItem, None, None]:
    """The items of a detail JSON document, one at a time, from a byte stream.

    The rest of the document is checked for well-formedness (brackets, strings, commas)
    but not decoded: the head fields are not needed for items.
    """
    scanner = _Scanner(read, url=url)
    scanner.expect(b"{", "the detail JSON to be an object")
    seen_items = False
    if not scanner.accept(b"}"):
        while True:
            key = scanner.string("a key string")
            scanner.expect(b":", "':' after a key")
            if key == "invoiceItems":
                if seen_items:
                    raise DecodeError(
                        "invoiceItems: the key appears twice", path="invoiceItems", url=url
                    )
                seen_items = True
                yield from _scan_item_array(scanner, url=url)
            else:
                scanner.skip_value()
            if not scanner.accept(b","):
                scanner.expect(b"}", "',' or '}' after a value of the detail object")
                break
    scanner.expect_end()


def _scan_item_array(scanner: _Scanner, *, url: str) -> Iterator[InvoiceItem]:
    if not scanner.accept(b"["):
        kind = scanner.json_type()
        raise DecodeError(
            f"invoiceItems: expected an array, got {kind}", path="invoiceItems", url=url
        )
    if scanner.accept(b"]"):
        return
    index = 0
    while True:
        if scanner.peek() is None:
            raise scanner.error("an item before the end of the document")
        obj = scanner.item()
        try:
            yield structure_invoice_item(obj, path=f"invoiceItems[{index}]")
        except DecodeError as exc:
            raise DecodeError(exc.message, path=exc.path, url=url) from None
        index += 1
        if not scanner.accept(b","):
            scanner.expect(b"]", "',' or ']' after an item of invoiceItems")
            return


async def iter_items(http: ApiSession, url: URL) -> AsyncGenerator[InvoiceItem, None]:
    """Download a detail ZIP (spooled), then yield its items one at a time.

    Decoding happens on the event loop, ``ITEM_BATCH_SIZE`` items at a time (a few
    milliseconds), with a yield to the loop between batches: no thread ever holds the
    spool, so stopping early closes it at once.
    """
    shown = str(url)
    spool = _Spool(ITEMS_SPOOL_MEMORY_BYTES)
    with contextlib.closing(spool):
        await _download(http, url, spool, kind=DETAIL)
        with (
            _json_member(spool.file, url=shown) as member,
            contextlib.closing(_scan_items(member.read, url=shown)) as items,
        ):
            while batch := list(itertools.islice(items, ITEM_BATCH_SIZE)):
                for item in batch:
                    yield item
                await asyncio.sleep(0)

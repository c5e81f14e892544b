"""Where the listing commands write, and what they show meanwhile: the line sink, the
tally, the progress lines and the retry lines on stderr.

The formats themselves (ndjson, CSV, table) are ``_formats``'s.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TextIO

import attrs

from myreports_async import Invoice

from ._run import CommandError

__all__ = [
    "DownloadProgress",
    "LineSink",
    "OutputError",
    "Progress",
    "RetryLines",
    "Tally",
]

# -- where lines go ------------------------------------------------------------------------


class OutputError(CommandError):
    """Writing the output failed (disk full, permission denied, ...): exit code 1."""

    def __init__(self, target: str, exc: OSError) -> None:
        super().__init__(f"cannot write {target}: {exc.strerror or exc}")


class LineSink:
    """Whole lines to a file or to standard output, each flushed at once (Rule 1).

    The file is opened (created or truncated) at the first line, or on a successful
    :meth:`close` when there was nothing to write: a command that fails before its first
    invoice (a refused token, an unreachable host) leaves an existing file as it was.
    Standard output is reopened as UTF-8 whatever the locale (a Windows pipe is not) and
    without newline translation, so ndjson and CSV bytes are the same everywhere.

    ``BrokenPipeError`` (the reader went away, as ``| head`` does) passes through for the
    command to end quietly; any other ``OSError`` becomes an :class:`OutputError`.

    Example::

        with LineSink("out.ndjson") as sink:
            sink.write('{"invoice_id": "..."}\n')
    """

    def __init__(self, path: str | None) -> None:
        self._path = None if path in (None, "-") else path
        self.name = self._path or "standard output"
        self._stream: TextIO | None = None
        self._owned = False  # whether close() closes the stream

    def write(self, line: str) -> None:
        try:
            stream = self._stream or self._open()
            stream.write(line)
            stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(self.name, exc) from exc

    def close(self, *, complete: bool) -> None:
        """Close the output; ``complete`` (the command succeeded) creates an empty file."""
        try:
            if complete and self._stream is None:
                self._open()
            stream, self._stream = self._stream, None
            if stream is not None and self._owned:
                stream.close()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(self.name, exc) from exc

    def __enter__(self) -> LineSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(complete=exc_type is None)

    def _open(self) -> TextIO:
        if self._path is not None:
            self._stream = open(self._path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            self._owned = True
            return self._stream
        try:
            fileno = sys.stdout.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):
            # Not a real file (pytest's capture, click's CliRunner): write to it as it is.
            self._stream = sys.stdout
            return self._stream
        sys.stdout.flush()
        self._stream = open(fileno, "w", encoding="utf-8", newline="", closefd=False)  # noqa: SIM115
        self._owned = True
        return self._stream


# -- counting and progress -----------------------------------------------------------------


@attrs.define
class Tally:
    """What has been written so far: invoices, their total value, pages."""

    count: int = 0
    total: Decimal = attrs.field(factory=Decimal)
    pages: int = 0

    def add(self, invoice: Invoice) -> None:
        self.count += 1
        if invoice.invoice_value is not None:
            self.total += invoice.invoice_value


class _StatusLine:
    """A line on stderr redrawn in place, at most once per ``interval_s``.

    A ``None`` stream makes every method a no-op (stderr is not a terminal). Subclasses
    say what the line reads (:meth:`_text`) and whether a line never drawn is still shown
    when it is kept at the end (``_KEEP_UNDRAWN``).
    """

    _KEEP_UNDRAWN = True
    #: The line on screen now, if any: a message printed meanwhile erases it first.
    _on_screen: _StatusLine | None = None

    def __init__(
        self,
        stream: TextIO | None,
        *,
        interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._interval_s = interval_s
        self._clock = clock
        self._start = clock()
        self._next = self._start + interval_s
        self._width = 0  # of the line on screen; 0 when nothing is drawn

    def _tick(self) -> None:
        """Redraw if the interval has passed since the last drawing."""
        if self._stream is None:
            return
        now = self._clock()
        if now >= self._next:
            self._next = now + self._interval_s
            self._draw(now)

    def _end(self, *, keep: bool) -> None:
        """End the line: keep it (final figures, then a newline) or erase it."""
        if self._stream is None:
            return
        if keep and (self._width or self._KEEP_UNDRAWN):
            self._draw(self._clock())
            self._stream.write("\n")
        elif self._width:
            self._stream.write("\r" + " " * self._width + "\r")
        self._stream.flush()
        self._stream = None
        if _StatusLine._on_screen is self:
            _StatusLine._on_screen = None

    @classmethod
    def make_room(cls) -> None:
        """Erase the line on screen so a message can take its place; redrawn next tick."""
        line = cls._on_screen
        if line is not None and line._stream is not None and line._width:
            line._stream.write("\r" + " " * line._width + "\r")
            line._stream.flush()
            line._width = 0
            line._next = line._clock()  # redraw below the message at the next update

    def _draw(self, now: float) -> None:
        assert self._stream is not None
        text = self._text(now - self._start)
        # Pad over the previous line rather than rely on ANSI erase codes.
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = len(text)
        _StatusLine._on_screen = self

    def _text(self, elapsed: float) -> str:
        raise NotImplementedError


class Progress(_StatusLine):
    """The ``12,345 invoices  3.1 s  3,982/s`` line on stderr, redrawn in place.

    Redrawn at most once per ``interval_s`` so a fast stream does not spend its time on the
    terminal. A ``None`` stream makes every method a no-op (stderr is not a terminal).
    """

    _count = 0

    def update(self, count: int) -> None:
        self._count = count
        self._tick()

    def finish(self, count: int, *, keep: bool) -> None:
        """End the line: keep it (final figures, then a newline) or erase it."""
        self._count = count
        self._end(keep=keep)

    def _text(self, elapsed: float) -> str:
        rate = self._count / elapsed if elapsed > 0 else 0.0
        return f"{self._count:,} invoices  {elapsed:.1f} s  {rate:,.0f}/s"


class DownloadProgress(_StatusLine):
    """The ``[######------]  42%  2.1 of 5.0 MiB  3.2 MiB/s`` line of a download on stderr.

    Redrawn in place at most once per ``interval_s``. A download that ends within the first
    interval draws nothing (a small file needs no bar). Without a total (no Content-Length)
    it shows the bytes received and the rate. A ``None`` stream makes it a no-op. Its
    :meth:`update` is the ``progress`` callback of the client's download methods; a retry
    that restarts the body simply redraws from 0.
    """

    BAR_WIDTH = 24
    _KEEP_UNDRAWN = False
    _received = 0
    _total: int | None = None

    def update(self, received: int, total: int | None) -> None:
        self._received, self._total = received, total
        self._tick()

    def finish(self, *, keep: bool) -> None:
        """End the line, if one is drawn: keep it (final figures, a newline) or erase it."""
        self._end(keep=keep)

    def _text(self, elapsed: float) -> str:
        mib = 1024 * 1024
        rate = self._received / elapsed / mib if elapsed > 0 else 0.0
        done = f"{self._received / mib:,.1f}"
        if self._total:
            fraction = min(1.0, self._received / self._total)
            filled = int(fraction * self.BAR_WIDTH)
            bar = "#" * filled + "-" * (self.BAR_WIDTH - filled)
            return (
                f"[{bar}] {fraction:4.0%}  {done} of {self._total / mib:,.1f} MiB  "
                f"{rate:,.1f} MiB/s"
            )
        return f"{done} MiB  {elapsed:.1f} s  {rate:,.1f} MiB/s"


class RetryLines(logging.Handler):
    """Each retry the client logs, as one line on ``stream``: what failed, attempt n of m,
    the wait. The client marks those records ``retry=True`` (logger
    ``myreports_async.http``, INFO); other records are not shown. A progress line on the
    same terminal is erased first and redrawn below."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(logging.INFO)
        self._stream = stream

    def filter(self, record: logging.LogRecord) -> bool:
        return bool(getattr(record, "retry", False))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            _StatusLine.make_room()
            self._stream.write(text + "\n")
            self._stream.flush()
        except Exception:  # noqa: BLE001 (logging's own contract: report, never raise)
            self.handleError(record)

"""What the invoice commands write: the record encoding, the three formats, the progress line.

Rule 1: every format is written in whole lines, each flushed at once. A reader of a pipe
sees each invoice as soon as it arrives, and a file cut short by Ctrl-C (or by a kill)
holds only complete lines.

Rule 2: values are never lost in formatting. Money is written as the exact decimal
(``format(value, "f")``: no binary float, no exponent); datetimes keep their offset.
"""

from __future__ import annotations

import csv
import io
import logging
import operator
import sys
import time
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TextIO

import attrs
import msgspec

from myreports_async import Invoice

from ._run import CommandError

__all__ = [
    "FIELDS",
    "FORMATS",
    "DownloadProgress",
    "InvoiceWriter",
    "LineSink",
    "OutputError",
    "Progress",
    "RetryLines",
    "Tally",
    "invoice_json",
    "invoice_record",
    "make_writer",
]

FIELDS = tuple(attribute.name for attribute in attrs.fields(Invoice))
"""The keys of an ndjson record and the columns of the CSV header, in order: every field
of :class:`Invoice`, so a new field shows up here without an edit."""

FORMATS = ("ndjson", "csv", "table")


# -- encoding ------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    """A field's value as text; ``None`` stays ``None``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        # A JSON string, not a number: a JSON number is a float to most readers (jq,
        # JavaScript, pandas), which would turn 0.1 + 0.2 into 0.30000000000000004.
        return format(value, "f")
    return str(value)


def invoice_record(invoice: Invoice) -> dict[str, str | None]:
    """The invoice as a JSON-ready dict with snake_case keys (``None`` for a missing field).

    Example::

        >>> invoice_record(Invoice("0123", invoice_value=Decimal("17.50")))["invoice_value"]
        '17.50'
    """
    return {name: _text(getattr(invoice, name)) for name in FIELDS}


def invoice_json(invoice: Invoice) -> str:
    """One line of ndjson (without the newline): the :func:`invoice_record` as JSON."""
    return msgspec.json.encode(invoice_record(invoice)).decode("utf-8")


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


# -- formats -------------------------------------------------------------------------------


class InvoiceWriter(Protocol):
    """One output format: ``write`` each invoice, then ``finish`` once.

    ``finish(complete=False)`` (the stream failed or was interrupted) writes what is
    held back but nothing else, so a failure before the first invoice writes nothing.
    """

    def write(self, invoice: Invoice) -> None: ...

    def finish(self, *, complete: bool) -> None: ...


class NdjsonWriter:
    """One JSON object per line (see :func:`invoice_record`)."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink

    def write(self, invoice: Invoice) -> None:
        self._sink.write(invoice_json(invoice) + "\n")

    def finish(self, *, complete: bool) -> None:
        pass


class CsvWriter:
    """A header of :data:`FIELDS`, then one row per invoice (``\\n`` line ends, UTF-8)."""

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self._started = False

    def _row(self, values: tuple[str | None, ...]) -> None:
        # Rendered in memory first so the sink gets the whole row in one write.
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(values)
        self._sink.write(self._buffer.getvalue())

    def write(self, invoice: Invoice) -> None:
        if not self._started:
            self._started = True
            self._row(FIELDS)
        self._row(tuple(invoice_record(invoice).values()))

    def finish(self, *, complete: bool) -> None:
        if complete and not self._started:  # no invoices: the header alone
            self._started = True
            self._row(FIELDS)


def _date(value: datetime | None) -> str:
    return "" if value is None else value.date().isoformat()


@attrs.frozen
class _Column:
    title: str
    cell: Callable[[Invoice], str]
    right: bool = False
    max_width: int | None = None  # only free text is cut; ids and money never are


# The table for people: every field of Invoice but those left out, titled by its name in
# capitals unless renamed here, shown by its type (dates without the time, money with
# thousands separators, right-aligned). Only the fields named here are cut to fit.
_TABLE_LEAVES_OUT = frozenset({"tenant_id"})  # a UUID: use ndjson or CSV for data
_TABLE_TITLES = {
    "invoice_number": "NUMBER",
    "customer_name": "CUSTOMER",
    "billing_period_start": "PERIOD START",
    "billing_period_end": "PERIOD END",
    "invoice_value": "VALUE",
}
_TABLE_CUT = {"customer_name": 32}


def _column(name: str, hint: object) -> _Column:
    title = _TABLE_TITLES.get(name, name.replace("_", " ").upper())
    read = operator.attrgetter(name)
    if hint in (datetime, datetime | None):
        return _Column(title, lambda i: _date(read(i)))
    if hint in (Decimal, Decimal | None):
        return _Column(title, lambda i: "" if read(i) is None else format(read(i), ",f"), True)
    return _Column(title, lambda i: _text(read(i)) or "", max_width=_TABLE_CUT.get(name))


_INVOICE_HINTS = typing.get_type_hints(Invoice)
_TABLE_COLUMNS = tuple(
    _column(name, _INVOICE_HINTS[name]) for name in FIELDS if name not in _TABLE_LEAVES_OUT
)


class TableWriter:
    """Aligned columns for people, streamed with bounded memory.

    The first ``sample`` rows are held back to size the columns; later rows are padded to
    those widths (a longer customer name is cut with "…"; a longer id or value just
    pushes its row out of line rather than lose characters).
    """

    def __init__(self, sink: LineSink, *, sample: int = 100) -> None:
        self._sink = sink
        self._sample = sample
        self._held: list[tuple[str, ...]] | None = []
        self._widths: tuple[int, ...] = ()

    def write(self, invoice: Invoice) -> None:
        cells = tuple(column.cell(invoice) for column in _TABLE_COLUMNS)
        if self._held is None:
            self._line(cells)
            return
        self._held.append(cells)
        if len(self._held) >= self._sample:
            self._release()

    def finish(self, *, complete: bool) -> None:
        if self._held is not None and (complete or self._held):
            self._release()

    def _release(self) -> None:
        held, self._held = self._held or [], None
        widths = []
        for position, column in enumerate(_TABLE_COLUMNS):
            width = max([len(column.title), *(len(cells[position]) for cells in held)])
            if column.max_width is not None:
                width = min(width, column.max_width)
            widths.append(width)
        self._widths = tuple(widths)
        self._line(tuple(column.title for column in _TABLE_COLUMNS))
        for cells in held:
            self._line(cells)

    def _line(self, cells: tuple[str, ...]) -> None:
        parts = []
        for cell, width, column in zip(cells, self._widths, _TABLE_COLUMNS, strict=True):
            if column.max_width is not None and len(cell) > width:
                cell = cell[: width - 1] + "…"
            parts.append(cell.rjust(width) if column.right else cell.ljust(width))
        self._sink.write("  ".join(parts).rstrip() + "\n")


def make_writer(fmt: str, sink: LineSink) -> InvoiceWriter:
    """The writer for ``fmt``, one of :data:`FORMATS`."""
    if fmt == "ndjson":
        return NdjsonWriter(sink)
    if fmt == "csv":
        return CsvWriter(sink)
    if fmt == "table":
        return TableWriter(sink)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")


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

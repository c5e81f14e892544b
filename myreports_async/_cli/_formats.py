"""How the listing commands write records: ndjson, CSV and a table, for any record class.

A :class:`RecordFormat` is one record class's encoding. Its fields are the class's attrs
fields, in order, so a new field shows up in every format without an edit here.

Rule 1: every format is written in whole lines, each flushed at once (``LineSink``). A
reader of a pipe sees each record as soon as it arrives, and a file cut short by Ctrl-C
(or by a kill) holds only complete lines.

Rule 2: values are never lost in formatting. Money is written as the exact decimal
(``format(value, "f")``: no binary float, no exponent, and a JSON string in ndjson: a
JSON number is a float to most readers); datetimes keep their offset.

Rule 3: nested values (a user's roles, a customer's features, a metrics record's
customers) stay JSON in ndjson (an array, an object); in CSV and in the table, where a
cell holds text, they are that JSON written compactly.

Rule 4: a field that holds a secret (a PBX connection's API key or licence key: the
record leaves it out of its repr) is left out of every format. A listing on a terminal
or in a CSV file is no place for a credential.
"""

from __future__ import annotations

import csv
import io
import operator
import typing
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

import attrs
import msgspec

from myreports_async import Invoice

from ._output import LineSink

__all__ = ["FORMATS", "INVOICES", "RecordFormat", "RecordWriter", "make_writer"]

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)

FORMATS = ("ndjson", "csv", "table")

JsonValue = str | bool | int | None | list[Any] | dict[str, Any]


def _json_value(value: object) -> JsonValue:
    """A field's value as JSON data (Rules 2 and 3); ``None`` stays ``None``."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json_value(item) for item in value]
    if attrs.has(type(value)):
        return {name: _json_value(getattr(value, name)) for name in _shown_fields(type(value))}
    return str(value)


def _shown_fields(record_class: type) -> tuple[str, ...]:
    """The names of an attrs class's fields, but those it keeps out of its repr (Rule 4)."""
    return tuple(field.name for field in attrs.fields(record_class) if field.repr is not False)


def _text(value: object) -> str | None:
    """A field's value as the text of one cell; ``None`` stays ``None`` (Rule 3)."""
    data = _json_value(value)
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, int):
        return str(data)
    return msgspec.json.encode(data).decode("utf-8")


def _date(value: datetime | None) -> str:
    return "" if value is None else value.date().isoformat()


@attrs.frozen
class _Column(Generic[R]):
    title: str
    cell: Callable[[R], str]
    right: bool = False
    max_width: int | None = None  # only free text is cut; ids and money never are


class RecordFormat(Generic[R]):
    """The encoding of one record class in the three formats.

    Args:
        record_class: an attrs class; its fields are the keys and columns, in order.
        table_titles: column titles in the table (default: the field's name in capitals).
        table_leaves_out: fields the table does not show (ids too long for people; they
            are in ndjson and CSV).
        table_cut: free-text fields cut to so many characters in the table.
    """

    def __init__(
        self,
        record_class: type[R],
        *,
        table_titles: Mapping[str, str] | None = None,
        table_leaves_out: Collection[str] = (),
        table_cut: Mapping[str, int] | None = None,
    ) -> None:
        # Rule 4: a field left out of the repr holds a secret.
        self.fields = _shown_fields(record_class)
        hints = typing.get_type_hints(record_class)
        titles = table_titles or {}
        cuts = table_cut or {}
        self.columns = tuple(
            self._column(name, hints[name], titles, cuts)
            for name in self.fields
            if name not in table_leaves_out
        )

    @staticmethod
    def _column(
        name: str, hint: object, titles: Mapping[str, str], cuts: Mapping[str, int]
    ) -> _Column[R]:
        title = titles.get(name, name.replace("_", " ").upper())
        read = operator.attrgetter(name)
        if hint in (datetime, datetime | None):
            return _Column(title, lambda r: _date(read(r)))
        if hint in (Decimal, Decimal | None):
            return _Column(title, lambda r: "" if read(r) is None else format(read(r), ",f"), True)
        return _Column(title, lambda r: _text(read(r)) or "", max_width=cuts.get(name))

    def record(self, record: R) -> dict[str, JsonValue]:
        """The record as JSON data with snake_case keys (``None`` for a missing field)."""
        return {name: _json_value(getattr(record, name)) for name in self.fields}

    def json(self, record: R) -> str:
        """One line of ndjson (without the newline): the :meth:`record` as JSON."""
        return msgspec.json.encode(self.record(record)).decode("utf-8")

    def row(self, record: R) -> tuple[str | None, ...]:
        """The record's CSV cells, in :attr:`fields` order."""
        return tuple(_text(getattr(record, name)) for name in self.fields)


class RecordWriter(Protocol[R_contra]):
    """One output format: ``write`` each record, then ``finish`` once.

    ``finish(complete=False)`` (the stream failed or was interrupted) writes what is
    held back but nothing else, so a failure before the first record writes nothing.
    """

    def write(self, record: R_contra) -> None: ...

    def finish(self, *, complete: bool) -> None: ...


class NdjsonWriter(Generic[R]):
    """One JSON object per line (see :meth:`RecordFormat.record`)."""

    def __init__(self, sink: LineSink, encoding: RecordFormat[R]) -> None:
        self._sink = sink
        self._encoding = encoding

    def write(self, record: R) -> None:
        self._sink.write(self._encoding.json(record) + "\n")

    def finish(self, *, complete: bool) -> None:
        pass


class CsvWriter(Generic[R]):
    """A header of the fields, then one row per record (``\\n`` line ends, UTF-8)."""

    def __init__(self, sink: LineSink, encoding: RecordFormat[R]) -> None:
        self._sink = sink
        self._encoding = encoding
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")
        self._started = False

    def _row(self, values: tuple[str | None, ...]) -> None:
        # Rendered in memory first so the sink gets the whole row in one write.
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(values)
        self._sink.write(self._buffer.getvalue())

    def write(self, record: R) -> None:
        if not self._started:
            self._started = True
            self._row(self._encoding.fields)
        self._row(self._encoding.row(record))

    def finish(self, *, complete: bool) -> None:
        if complete and not self._started:  # no records: the header alone
            self._started = True
            self._row(self._encoding.fields)


class TableWriter(Generic[R]):
    """Aligned columns for people, streamed with bounded memory.

    The first ``sample`` rows are held back to size the columns; later rows are padded to
    those widths (a longer free-text cell is cut with "…"; a longer id or value just
    pushes its row out of line rather than lose characters).
    """

    def __init__(self, sink: LineSink, encoding: RecordFormat[R], *, sample: int = 100) -> None:
        self._sink = sink
        self._columns = encoding.columns
        self._sample = sample
        self._held: list[tuple[str, ...]] | None = []
        self._widths: tuple[int, ...] = ()

    def write(self, record: R) -> None:
        cells = tuple(column.cell(record) for column in self._columns)
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
        for position, column in enumerate(self._columns):
            width = max([len(column.title), *(len(cells[position]) for cells in held)])
            if column.max_width is not None:
                width = min(width, column.max_width)
            widths.append(width)
        self._widths = tuple(widths)
        self._line(tuple(column.title for column in self._columns))
        for cells in held:
            self._line(cells)

    def _line(self, cells: tuple[str, ...]) -> None:
        parts = []
        for cell, width, column in zip(cells, self._widths, self._columns, strict=True):
            if column.max_width is not None and len(cell) > width:
                cell = cell[: width - 1] + "…"
            parts.append(cell.rjust(width) if column.right else cell.ljust(width))
        self._sink.write("  ".join(parts).rstrip() + "\n")


def make_writer(fmt: str, sink: LineSink, encoding: RecordFormat[R]) -> RecordWriter[R]:
    """The writer for ``fmt``, one of :data:`FORMATS`."""
    if fmt == "ndjson":
        return NdjsonWriter(sink, encoding)
    if fmt == "csv":
        return CsvWriter(sink, encoding)
    if fmt == "table":
        return TableWriter(sink, encoding)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")


INVOICES: RecordFormat[Invoice] = RecordFormat(
    Invoice,
    table_titles={
        "invoice_number": "NUMBER",
        "customer_name": "CUSTOMER",
        "billing_period_start": "PERIOD START",
        "billing_period_end": "PERIOD END",
        "invoice_value": "VALUE",
    },
    table_leaves_out={"tenant_id"},  # a UUID: use ndjson or CSV for data
    table_cut={"customer_name": 32},
)
"""The invoice commands' encoding (``invoices``, ``invoice``, ``demo``)."""

"""The wire format: JSON decoding, from one field table per record.

Records (``_models``) know nothing about JSON. This module owns the mapping, and writes
it down once per record (:class:`_RecordCodec`): each attribute's JSON key is its name in
camelCase (``billing_period_start`` -> ``billingPeriodStart``) unless ``_RENAMES`` says
otherwise, and how its value is read follows from its annotation (``_KINDS``). Everything
else is derived from that table: the typed shape msgspec decodes a body into, the
generated loop that turns those shapes into records, the field-by-field reading that
names a bad JSON path, and (through ``attrs.fields``) the CLI's columns.

Rule 1: numbers are read as their literal text (``_values``, Rule 1), so money keeps the
scale the service wrote (``17.50`` -> ``Decimal("17.50")``) and every digit.

Rule 2: the common case pays nothing for error paths. A body is decoded once, typed, in
C; a generated loop (``_record_builder``) turns the result into records. Only
when that fails is the body parsed again, untyped, and read field by field with the
strict hooks, which name the first bad JSON path (``data[3].invoiceValue``) or accept a
second spelling of a key (``invoiceId`` for ``invoiceid``).

Rule 3: the value readers of ``_values`` are strict, and datetimes timezone-aware.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import attrs
import msgspec

from ._enterprise_models import Customer, PbxConnection
from ._errors import DecodeError
from ._models import Invoice, InvoiceDetail, InvoiceItem, Page
from ._record_builder import compile_converter
from ._values import (
    _SHAPE_ERRORS,
    JSON_ERRORS,
    _check_value,
    _expected,
    _InvalidValue,
    _json_type,
    _named_values_hook,
    _structure_datetime,
    _structure_decimal,
    _structure_int,
    _structure_int_mapping,
    _structure_optional_bool,
    _structure_optional_datetime,
    _structure_optional_decimal,
    _structure_optional_int,
    _structure_optional_int_mapping,
    _structure_optional_int_or_digits,
    _structure_optional_str,
    _structure_optional_str_tuple,
    _structure_str,
    _structure_str_tuple,
    error_message,
    loads,
    parse_datetime,
    parse_json,
)

__all__ = [
    "JSON_ERRORS",
    "Envelopes",
    "decode_invoice",
    "decode_invoice_detail",
    "decode_invoice_page",
    "error_message",
    "json_keys",
    "loads",
    "parse_datetime",
    "parse_json",
    "structure_invoice",
    "structure_invoice_item",
]

_R = TypeVar("_R", bound=attrs.AttrsInstance)
_V = TypeVar("_V")

# A strict hook: a parsed JSON value in, a Python value out, or _InvalidValue.
_Hook = Callable[[Any], Any]


# --- kinds: how an annotation is read ----------------------------------------------


@attrs.frozen
class _Kind:
    """How the values of one annotation are read.

    ``wire`` is what msgspec decodes the JSON value into, as strictly as ``hook`` reads an
    untyped one; ``hook`` reads an untyped JSON value (the error path, single objects).
    ``fast`` says how the generated loop turns the ``wire`` value into the attribute:
    ``copy`` (msgspec already checked it), ``money`` (the float hook's ``Decimal``, any
    other value through ``hook``), ``datetime`` (the cache, else ``hook``) or ``hook``
    (``wire_hook``, or else ``hook``, unless the value is the attribute's default).
    """

    wire: Any
    hook: _Hook
    fast: str
    wire_hook: _Hook | None = None


# Money is decoded untyped: msgspec's own Decimal type would accept a JSON string too.
_KINDS: dict[object, _Kind] = {
    str: _Kind(str, _structure_str, "copy"),
    str | None: _Kind(str | None, _structure_optional_str, "copy"),
    int: _Kind(int, _structure_int, "copy"),
    int | None: _Kind(int | None, _structure_optional_int, "copy"),
    Decimal: _Kind(Any, _structure_decimal, "money"),
    Decimal | None: _Kind(Any, _structure_optional_decimal, "money"),
    datetime: _Kind(str, _structure_datetime, "datetime"),
    datetime | None: _Kind(str | None, _structure_optional_datetime, "datetime"),
    tuple[str, ...]: _Kind(tuple[str, ...], _structure_str_tuple, "copy"),
    Mapping[str, str]: _Kind(Any, _named_values_hook(_structure_str), "hook"),
    Mapping[str, Decimal]: _Kind(Any, _named_values_hook(_structure_decimal), "hook"),
    # The Enterprise records' (_enterprise_models): "true" read as a boolean, as the
    # service's own examples write it; counts per role or feature as a JSON object.
    bool | None: _Kind(bool | None, _structure_optional_bool, "copy"),
    tuple[str, ...] | None: _Kind(tuple[str, ...] | None, _structure_optional_str_tuple, "copy"),
    Mapping[str, int]: _Kind(Any, _structure_int_mapping, "hook"),
    Mapping[str, int] | None: _Kind(Any, _structure_optional_int_mapping, "hook"),
}

# Fields read otherwise than their annotation says: the documented quirks of one field.
_FIELD_KINDS: dict[tuple[type, str], _Kind] = {
    # The Create Customer example sends "trialduration": "0", a string.
    (Customer, "trial_duration"): _Kind(int | None, _structure_optional_int_or_digits, "copy"),
}

# The JSON keys that are not the attribute's name in camelCase, each with a second
# spelling the service also uses (tried when the first is absent), or None.
_RENAMES: dict[tuple[type, str], tuple[str, str | None]] = {
    (Invoice, "invoice_id"): ("invoiceid", "invoiceId"),  # sic: the list payload's spelling
    (InvoiceDetail, "invoice_id"): ("invoiceId", "invoiceid"),
    (InvoiceDetail, "items"): ("invoiceItems", None),
    (PbxConnection, "type"): ("_type", None),
    (Customer, "trial_duration"): ("trialDuration", "trialduration"),  # sic: the example's
}


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


@attrs.frozen
class _Field:
    """One row of a record's table: attribute, JSON key(s), how its value is read."""

    attribute: str
    key: str
    alias: str | None
    kind: _Kind
    default: object  # attrs.NOTHING for a required field

    @property
    def required(self) -> bool:
        return self.default is attrs.NOTHING


# --- records -----------------------------------------------------------------------


# Every record type the codec reads, and its table (for json_keys).
_CODECS: dict[type, _RecordCodec[Any]] = {}


class _RecordCodec(Generic[_R]):
    """The JSON mapping of one record type, and everything derived from it.

    ``wire`` is a msgspec Struct with the record's attributes under their JSON keys, and
    ``convert_list`` the generated loop that turns a list of them into records in place.
    :meth:`structure` reads one untyped JSON object field by field with the hooks.
    """

    def __init__(
        self, cls: type[_R], *, nested: Mapping[type, _RecordCodec[Any]] | None = None
    ) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        fields: list[_Field] = []
        for attribute in attrs.fields(cls):
            hint = hints[attribute.name]
            kind = (
                _FIELD_KINDS.get((cls, attribute.name))
                or _KINDS.get(hint)
                or _record_tuple_kind(hint, nested or {})
            )
            if kind is None:
                raise TypeError(f"no JSON reading for {cls.__name__}.{attribute.name}")
            key, alias = _RENAMES.get((cls, attribute.name), (_camel_case(attribute.name), None))
            fields.append(_Field(attribute.name, key, alias, kind, attribute.default))
        self.fields = tuple(fields)
        # An optional field's second spelling is a trap: a value under it fails the
        # typed route (only UNSET is allowed, which JSON cannot write), so the slow
        # route reads it, instead of the field being taken as absent.
        traps = {f"_{f.attribute}_alias": f.alias for f in fields if f.alias and not f.required}
        self.wire: type[msgspec.Struct] = msgspec.defstruct(
            f"_{cls.__name__}Wire",
            [
                (f.attribute, f.kind.wire)
                if f.required
                # None and () are held as they are; a mapping default by identity, so
                # the generated loop can tell "absent" from a value to read.
                else (f.attribute, f.kind.wire, f.default)
                for f in fields
            ]
            + [(trap, msgspec.UnsetType, msgspec.UNSET) for trap in traps],
            rename={**{f.attribute: f.key for f in fields}, **traps},
            # Tracked by the garbage collector (msgspec's default) on purpose: each
            # record built then frees its struct, so building a page leaves the
            # collector's allocation count where decoding left it (see the loop below).
        )
        self.convert_list: Callable[[list[Any]], tuple[_R, ...]] = compile_converter(
            cls, self.fields
        )
        _CODECS[cls] = self

    def structure(self, obj: object) -> _R:
        """One record from an untyped JSON object; errors are relative to the object."""
        if type(obj) is dict:
            try:
                # The typed route first: the same checks, in C, and the generated loop.
                return self.convert_list([msgspec.convert(obj, self.wire)])[0]
            except _SHAPE_ERRORS:
                pass
        return self.read_fields(obj)

    def read_fields(self, obj: object) -> _R:
        """:meth:`structure` the slow way: field by field with the hooks, in table order,
        trying the second spelling of a key when the first is absent."""
        if type(obj) is not dict:
            raise _InvalidValue(_expected("an object", obj))
        values = []
        for field in self.fields:
            key = field.key
            if key not in obj and field.alias is not None and field.alias in obj:
                key = field.alias
            if key in obj:
                values.append(_check_value(obj[key], field.kind.hook, key))
            elif field.required:
                raise _InvalidValue("required field is missing", (key,))
            else:
                values.append(field.default)
        return self.cls(*values)

    def structure_list(self, values: object) -> tuple[_R, ...]:
        """Records from an untyped JSON array; errors start at the record's index."""
        if type(values) is not list:
            raise _InvalidValue(_expected("an array", values))
        return tuple([_check_value(obj, self.structure, i) for i, obj in enumerate(values)])


def _record_tuple_kind(hint: object, nested: Mapping[type, _RecordCodec[Any]]) -> _Kind | None:
    """``tuple[Record, ...]`` of a record type with a codec in ``nested``."""
    if typing.get_origin(hint) is not tuple:
        return None
    args = typing.get_args(hint)
    if len(args) != 2 or args[1] is not Ellipsis or args[0] not in nested:
        return None
    codec = nested[args[0]]
    wire = list.__class_getitem__(codec.wire)
    return _Kind(wire, codec.structure_list, "hook", codec.convert_list)


_INVOICE: _RecordCodec[Invoice] = _RecordCodec(Invoice)
_INVOICE_ITEM: _RecordCodec[InvoiceItem] = _RecordCodec(InvoiceItem)
_INVOICE_DETAIL: _RecordCodec[InvoiceDetail] = _RecordCodec(
    InvoiceDetail, nested={InvoiceItem: _INVOICE_ITEM}
)


def json_keys(cls: type[attrs.AttrsInstance]) -> dict[str, str]:
    """``{attribute: JSON key}`` of a record type the codec reads."""
    codec = _CODECS[cls]
    return {field.attribute: field.key for field in codec.fields}


# --- typed decoders ----------------------------------------------------------------


def _load_object(body: bytes, url: str | None) -> dict[str, object]:
    parsed = loads(body, url=url)
    if not isinstance(parsed, dict):
        raise DecodeError(
            f"response body is not a JSON object ({_json_type(parsed)})",
            url=url,
        )
    return parsed


def _member(envelope: Mapping[str, object], key: str, url: str | None) -> object:
    if key not in envelope:
        raise DecodeError(f"{key}: required field is missing", path=key, url=url)
    return envelope[key]


def _not_json(exc: Exception, url: str | None) -> DecodeError:
    reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
    return DecodeError(f"response body is not valid JSON: {reason}", url=url)


class Envelopes(Generic[_R]):
    """The service's envelopes around one record type: a Get All page
    ``{"page_size": n, "data": [record, ...], "timestamp": ...}`` and a single record
    ``{"data": record, "status": "success", ...}``.

    Only ``data`` and ``timestamp`` are read: ``page_size`` (a count, sometimes written
    as a string) and ``page_index`` (often absent) say nothing the request did not.
    """

    def __init__(self, codec: _RecordCodec[_R]) -> None:
        self.codec = codec
        name = codec.cls.__name__
        page_wire = msgspec.defstruct(
            f"_{name}PageWire",
            [("data", list.__class_getitem__(codec.wire)), ("timestamp", Any, None)],
        )
        single_wire = msgspec.defstruct(f"_{name}EnvelopeWire", [("data", codec.wire)])
        self._page_decoder = msgspec.json.Decoder(page_wire, float_hook=Decimal)
        self._single_decoder = msgspec.json.Decoder(single_wire, float_hook=Decimal)

    def page(self, body: bytes, *, index: int, url: str | None = None) -> Page[_R]:
        """A Get All page; ``index`` is the requested page index, which the page records
        whatever the body says."""
        try:
            wire: Any = self._page_decoder.decode(body)
            items = self.codec.convert_list(wire.data)
            timestamp = wire.timestamp
        except _SHAPE_ERRORS:
            items, timestamp = self._page_slowly(body, url)
        except JSON_ERRORS as exc:
            raise _not_json(exc, url) from None
        return Page(index=index, items=items, timestamp=_page_timestamp(timestamp, url))

    def _page_slowly(self, body: bytes, url: str | None) -> tuple[tuple[_R, ...], object]:
        envelope = _load_object(body, url)
        data = _member(envelope, "data", url)
        if type(data) is not list:
            raise DecodeError(f"data: {_expected('an array', data)}", path="data", url=url)
        try:
            items = self.codec.structure_list(data)
        except _InvalidValue as exc:
            raise exc.to_decode_error("data", url) from None
        return items, envelope.get("timestamp")

    def single(self, body: bytes, *, url: str | None = None) -> _R:
        """A single record's envelope."""
        try:
            envelope: Any = self._single_decoder.decode(body)
            record: _R = self.codec.convert_list([envelope.data])[0]
            return record
        except _SHAPE_ERRORS:
            pass
        except JSON_ERRORS as exc:
            raise _not_json(exc, url) from None
        data = _member(_load_object(body, url), "data", url)
        try:
            return self.codec.structure(data)
        except _InvalidValue as exc:
            raise exc.to_decode_error("data", url) from None


def _page_timestamp(value: object, url: str | None) -> datetime | None:
    """The envelope's timestamp, parsed without the cache: every page has its own, and
    remembering them would only push the billing periods out of it."""
    if value is None:
        return None
    if type(value) is not str:
        raise DecodeError(
            f"timestamp: {_expected('a date-time string', value)}", path="timestamp", url=url
        )
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise DecodeError(f"timestamp: {exc}", path="timestamp", url=url) from None


_INVOICES: Envelopes[Invoice] = Envelopes(_INVOICE)
_DETAIL_DECODER = msgspec.json.Decoder(_INVOICE_DETAIL.wire, float_hook=Decimal)


# --- public-in-package entry points ------------------------------------------------


def structure_invoice(obj: object, *, path: str = "") -> Invoice:
    """One :class:`Invoice` from an untyped JSON object (exact numbers, see
    :func:`parse_json`); ``path`` prefixes error paths."""
    try:
        return _INVOICE.structure(obj)
    except _InvalidValue as exc:
        raise exc.to_decode_error(path, None) from None


def structure_invoice_item(obj: object, *, path: str = "") -> InvoiceItem:
    """One :class:`InvoiceItem` from an untyped JSON object; ``path`` prefixes error paths."""
    try:
        return _INVOICE_ITEM.structure(obj)
    except _InvalidValue as exc:
        raise exc.to_decode_error(path, None) from None


#: A Get All billing page (see :meth:`Envelopes.page`).
decode_invoice_page = _INVOICES.page
#: A Get Invoice body ``{"data": invoice, "status": "success", ...}``.
decode_invoice = _INVOICES.single


def decode_invoice_detail(body: bytes, *, url: str | None = None) -> InvoiceDetail:
    """The detailed JSON file of an invoice's detail ZIP (no envelope)."""
    try:
        detail: InvoiceDetail = _INVOICE_DETAIL.convert_list([_DETAIL_DECODER.decode(body)])[0]
        return detail
    except _SHAPE_ERRORS:
        pass
    except JSON_ERRORS as exc:
        raise _not_json(exc, url) from None
    obj = _load_object(body, url)
    try:
        return _INVOICE_DETAIL.structure(obj)
    except _InvalidValue as exc:
        raise exc.to_decode_error("", url) from None

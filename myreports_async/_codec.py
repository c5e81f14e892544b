"""The wire format: JSON decoding and the one configured cattrs converter.

Records (``_models``) know nothing about JSON. This module owns the mapping: the JSON key
of every field, strict hooks for the scalar types, and the translation of a bad value
into :class:`DecodeError` naming the offending JSON path (``data[3].invoiceValue``).

Rule 1: the common case pays nothing for error paths. Each record type gets a cattrs
structure function generated once, without detailed validation; only when it fails is
the record checked again field by field to find the first bad JSON path.

Rule 2: hooks are strict. JSON ``null`` is accepted only for optional fields, numbers
never become strings, strings and booleans never become numbers.

Rule 3: money and quantities are ``Decimal`` in the number's shortest decimal form
(what ``repr`` of the float prints: 17.50 -> 17.5, 0.1 -> 0.1; see :func:`_float_decimal`);
datetimes are timezone-aware, naive service values being UTC.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeVar

import attrs
import orjson
from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, override

from ._errors import DecodeError
from ._models import Invoice, InvoiceDetail, InvoiceItem, Page

__all__ = [
    "decode_invoice",
    "decode_invoice_detail",
    "decode_invoice_page",
    "error_message",
    "loads",
    "parse_datetime",
    "structure_invoice",
    "structure_invoice_item",
]

_R = TypeVar("_R", bound=attrs.AttrsInstance)
_V = TypeVar("_V")

# A structure hook as cattrs calls it: (JSON value, target type) -> Python value.
_Hook = Callable[[Any, Any], Any]


# --- JSON --------------------------------------------------------------------------


def loads(body: bytes, *, url: str | None = None) -> object:
    """Parse a JSON body; anything unparseable raises :class:`DecodeError`."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"response body is not valid JSON: {exc}", url=url) from None


def error_message(body: bytes) -> str | None:
    """The service's ``message`` from an error body, or ``None`` if the body is not one.

    Error bodies look like ``{"error": 404, "message": "Not Found", "status": "error"}``.
    Never raises.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    message = parsed.get("message")
    if isinstance(message, str) and message.strip():
        return message
    return None


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _expected(what: str, value: object) -> str:
    return f"expected {what}, got {_json_type(value)}"


# --- error paths -------------------------------------------------------------------

_Segment = str | int


class _InvalidValue(Exception):
    """A bad value, with its path relative to the record (or list) being structured.

    Internal: hooks raise it; the decode functions turn it into a :class:`DecodeError`
    with the full path.
    """

    def __init__(self, reason: str, path: tuple[_Segment, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def within(self, *segments: _Segment) -> _InvalidValue:
        """The same error seen from a container ``segments`` above it."""
        return _InvalidValue(self.reason, (*segments, *self.path))

    def to_decode_error(self, prefix: str, url: str | None) -> DecodeError:
        path = _join_path(prefix, self.path)
        if not path:
            return DecodeError(self.reason, url=url)
        return DecodeError(f"{path}: {self.reason}", path=path, url=url)


# What a generated structure function raises on bad data: KeyError for a missing required
# key, TypeError for a record that is not an object, and _InvalidValue, which every hook
# raises on purpose for a bad value. A bug in a hook raises something else, or is raised
# again unchanged when the field-by-field search finds no bad value.
_STRUCTURE_ERRORS = (KeyError, TypeError, _InvalidValue)


def _join_path(prefix: str, segments: Sequence[_Segment]) -> str:
    """``("data", 3, "invoiceValue")`` -> ``data[3].invoiceValue``."""
    path = prefix
    for segment in segments:
        if isinstance(segment, int):
            path = f"{path}[{segment}]"
        else:
            path = f"{path}.{segment}" if path else segment
    return path


def _check_value(value: object, hook: Callable[[Any, Any], _V], *segments: _Segment) -> _V:
    """Run a hook, turning its failure into an :class:`_InvalidValue` at ``segments``."""
    try:
        return hook(value, None)
    except _InvalidValue as exc:
        raise exc.within(*segments) from None


# --- datetimes ---------------------------------------------------------------------

# The accepted grammar, the same on every Python: an extended ISO 8601 date and time with
# seconds, any number of fractional digits, and an optional `Z` or +HH:MM / +HHMM offset.
_ISO_DATETIME = re.compile(
    r"(?P<base>[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>Z|[+-][0-9]{2}:?[0-9]{2})?"
)

# 3.11+ reads every string the pattern admits as it is (cutting fractions to microseconds);
# 3.10 reads only 3 or 6 fractional digits and +HH:MM offsets, so the text is rewritten.
_FROMISOFORMAT_READS_ISO_8601 = sys.version_info >= (3, 11)


def _rewrite_for_python310(match: re.Match[str]) -> str:
    text, fraction, offset = match.group("base", "fraction", "offset")
    if fraction:
        text = f"{text}.{fraction[:6].ljust(6, '0')}"
    if offset == "Z":
        text += "+00:00"
    elif offset is not None:
        text += offset if len(offset) == 6 else f"{offset[:3]}:{offset[3:]}"
    return text


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 date-time into a timezone-aware ``datetime``.

    Accepts an offset or ``Z``, any number of fractional digits (cut to microseconds) and
    naive values, which are read as UTC. Raises ``ValueError`` on anything else.

    Example::

        >>> parse_datetime("2019-05-01T10:00:00.2890319Z")
        datetime.datetime(2019, 5, 1, 10, 0, 0, 289031, tzinfo=datetime.timezone.utc)
    """
    match = _ISO_DATETIME.fullmatch(value)
    if match is None:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    text = value if _FROMISOFORMAT_READS_ISO_8601 else _rewrite_for_python310(match)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a valid date-time: {value!r} ({exc})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


# Billing periods repeat across the invoices of a page (and the items of an invoice), so
# parsed values are remembered: a dict look-up is several times cheaper than a parse.
# datetimes are immutable, so sharing them is safe. The cache is emptied when full.
_DATETIME_CACHE: dict[str, datetime] = {}
_DATETIME_CACHE_SIZE = 4096


# --- scalar hooks ------------------------------------------------------------------
# Exact type checks (not isinstance) on purpose: JSON yields exactly these types, and a
# bool must not pass as an int.


def _structure_str(value: object, _type: object = None) -> str:
    if type(value) is str:
        return value
    raise _InvalidValue(_expected("a string", value))


def _structure_optional_str(value: object, _type: object = None) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _InvalidValue(_expected("a string", value))


def _structure_int(value: object, _type: object = None) -> int:
    if type(value) is int:
        return value
    raise _InvalidValue(_expected("an integer", value))


def _structure_optional_int(value: object, _type: object = None) -> int | None:
    if value is None or type(value) is int:
        return value
    raise _InvalidValue(_expected("an integer", value))


def _float_decimal(value: float, _decimal: type[Decimal] = Decimal) -> Decimal:
    """A finite float's shortest decimal form, exactly: ``Decimal(repr(value))``.

    Written by orjson, whose float formatting (Ryu) gives the same shortest round-trip
    digits as ``repr`` (Python's dtoa) at about half the cost: 0.17 µs instead of 0.31,
    once per invoice. The spelling differs only in exponents (``1e16``, ``1e+16``), which
    ``Decimal`` reads alike; a test checks the two agree digit for digit and exponent for
    exponent on random doubles.
    """
    return _decimal(orjson.dumps(value).decode())


def _structure_decimal(value: object, _type: object = None) -> Decimal:
    if type(value) is float:
        if math.isfinite(value):
            return _float_decimal(value)
        raise _InvalidValue(f"expected a finite number, got {value!r}")
    if type(value) is int:
        return Decimal(value)
    raise _InvalidValue(_expected("a number", value))


def _structure_optional_decimal(value: object, _type: object = None) -> Decimal | None:
    # The float case is repeated here, not delegated: this hook runs for every invoice.
    if type(value) is float and math.isfinite(value):
        return _float_decimal(value)
    if value is None:
        return None
    return _structure_decimal(value)


def _structure_datetime(value: object, _type: object = None) -> datetime:
    if type(value) is not str:
        raise _InvalidValue(_expected("a date-time string", value))
    parsed = _DATETIME_CACHE.get(value)
    if parsed is None:
        try:
            parsed = parse_datetime(value)
        except ValueError as exc:
            raise _InvalidValue(str(exc)) from None
        if len(_DATETIME_CACHE) >= _DATETIME_CACHE_SIZE:
            _DATETIME_CACHE.clear()
        _DATETIME_CACHE[value] = parsed
    return parsed


def _structure_optional_datetime(value: object, _type: object = None) -> datetime | None:
    # The cache hit is repeated here, not delegated: this hook runs twice per invoice.
    if type(value) is str:
        parsed = _DATETIME_CACHE.get(value)
        if parsed is not None:
            return parsed
    elif value is None:
        return None
    return _structure_datetime(value)


# --- records -----------------------------------------------------------------------


class _Field(NamedTuple):
    attribute: str
    key: str  # the JSON key
    hook: _Hook
    alias: str | None = None  # a second spelling of the key, tried when `key` is absent


class _RecordCodec(Generic[_R]):
    """Structures one record type from a parsed JSON object.

    The fast path is a cattrs function generated once (field renames, strict hooks, no
    detailed validation). When it fails, :meth:`_find_error` checks the fields one by one
    with the same hooks to name the first bad JSON key.
    """

    def __init__(
        self,
        converter: Converter,
        cls: type[_R],
        fields: Sequence[_Field],
        *,
        fast: Callable[[Any], _R] | None = None,
        fast_list: Callable[[list[Any], Callable[[Any], _R]], tuple[_R, ...]] | None = None,
    ) -> None:
        attributes = attrs.fields(cls)
        if {field.attribute for field in fields} != {a.name for a in attributes}:
            raise TypeError(f"the JSON mapping of {cls.__name__} must name every attribute")
        required = {a.name for a in attributes if a.default is attrs.NOTHING}
        self._fields = tuple(fields)
        self._required = frozenset(required)
        self._aliases = tuple((f.key, f.alias) for f in fields if f.alias is not None)
        # Typed Any only because mypy matches ** against make_dict_structure_fn's flags.
        overrides: dict[str, Any] = {
            f.attribute: override(rename=f.key, struct_hook=f.hook) for f in fields
        }
        self.generated: Callable[[Any], _R] = make_dict_structure_fn(
            cls,
            converter,
            _cattrs_forbid_extra_keys=False,
            _cattrs_detailed_validation=False,
            **overrides,
        )
        self._fast = fast or self.generated
        self._fast_list = fast_list

    def structure(self, obj: object) -> _R:
        """One record; a bad value raises :class:`_InvalidValue` relative to the record."""
        try:
            return self._fast(obj)  # type: ignore[arg-type]
        except _STRUCTURE_ERRORS as exc:
            failure = exc
        respelled = self._apply_aliases(obj)
        if respelled is not None:
            try:
                return self._fast(respelled)
            except _STRUCTURE_ERRORS as exc:
                failure = exc
        error = self._find_error(obj)
        if error is None:  # the hooks accept every field: the failure is a bug, not data
            raise failure
        raise error

    def structure_list(self, values: list[object]) -> tuple[_R, ...]:
        """A list of records; a bad one raises :class:`_InvalidValue` starting at its index.

        With a list function (invoices), ``values`` is consumed: each entry is replaced
        by its record.
        """
        if self._fast_list is not None:
            return self._fast_list(values, self.structure)
        fast = self._fast
        try:
            return tuple([fast(value) for value in values])  # type: ignore[arg-type]
        except (*_STRUCTURE_ERRORS, AttributeError):
            pass  # find which record, and why, the slow way
        return tuple([_structure_at(self.structure, value, i) for i, value in enumerate(values)])

    def _apply_aliases(self, obj: object) -> dict[str, object] | None:
        """A copy of ``obj`` with alias keys copied to the main keys, if any apply."""
        if not isinstance(obj, dict):
            return None
        missing = [(key, alias) for key, alias in self._aliases if key not in obj and alias in obj]
        if not missing:
            return None
        return {**obj, **{key: obj[alias] for key, alias in missing}}

    def _find_error(self, obj: object) -> _InvalidValue | None:
        if not isinstance(obj, Mapping):
            return _InvalidValue(_expected("an object", obj))
        for field in self._fields:
            key = field.key
            if key not in obj and field.alias is not None and field.alias in obj:
                key = field.alias
            if key not in obj:
                if field.attribute in self._required:
                    return _InvalidValue("required field is missing", (key,))
                continue
            try:
                _check_value(obj[key], field.hook, key)
            except _InvalidValue as exc:
                return exc
        return None


# --- collection hooks --------------------------------------------------------------


def _structure_str_tuple(value: object, _type: object = None) -> tuple[str, ...]:
    if type(value) is not list:
        raise _InvalidValue(_expected("an array", value))
    return tuple([_check_value(item, _structure_str, index) for index, item in enumerate(value)])


def _named_values_hook(
    value_hook: Callable[[object, object], _V],
) -> Callable[[object, object], Mapping[str, _V]]:
    """A hook reading ``[{"name": ..., "value": ...}, ...]`` into a read-only mapping."""

    def structure_named_values(value: object, _type: object = None) -> Mapping[str, _V]:
        if type(value) is not list:
            raise _InvalidValue(_expected("an array", value))
        mapping: dict[str, _V] = {}
        for index, entry in enumerate(value):
            if type(entry) is not dict:
                raise _InvalidValue(_expected("an object", entry), (index,))
            for key in ("name", "value"):
                if key not in entry:
                    raise _InvalidValue("required field is missing", (index, key))
            name = _check_value(entry["name"], _structure_str, index, "name")
            item = _check_value(entry["value"], value_hook, index, "value")
            # A repeated name with the same value is harmless; another value would be lost.
            if mapping.setdefault(name, item) != item:
                raise _InvalidValue(f"name {name!r} repeated with another value", (index, "name"))
        return MappingProxyType(mapping)

    return structure_named_values


def _record_tuple_hook(codec: _RecordCodec[_R]) -> Callable[[object, object], tuple[_R, ...]]:
    def structure_records(value: object, _type: object = None) -> tuple[_R, ...]:
        if type(value) is not list:
            raise _InvalidValue(_expected("an array", value))
        return codec.structure_list(value)

    return structure_records


# --- the converter -----------------------------------------------------------------


def _make_converter() -> Converter:
    """The converter the record functions are generated from.

    The records name their hooks field by field (below), which keeps each JSON key next to
    its hook; the scalar hooks are registered too, so that the converter is just as strict
    for anything else it is asked to structure.
    """
    converter = Converter(detailed_validation=False, forbid_extra_keys=False)
    hooks: list[tuple[Any, _Hook]] = [
        (str, _structure_str),
        (int, _structure_int),
        (Decimal, _structure_decimal),
        (datetime, _structure_datetime),
        (str | None, _structure_optional_str),
        (int | None, _structure_optional_int),
        (Decimal | None, _structure_optional_decimal),
        (datetime | None, _structure_optional_datetime),
    ]
    for target, hook in hooks:
        converter.register_structure_hook(target, hook)
    return converter


_converter = _make_converter()


def _structure_invoice_fast(obj: Any) -> Invoice:
    """One invoice, with the same rules as the generated function (and tested against
    it), spelled out by hand: single invoices (``get_invoice``), and the records a page's
    list loop (:func:`_structure_invoices_fast`) leaves to the full rules.

    Calling the frozen class positionally, with the hooks' checks inline, costs about
    1.1 µs a record where the cattrs-generated function (keyword call through an
    intermediate dict) costs 1.5 µs. Anything unusual (another id spelling, a bad value,
    not an object) raises, and the codec falls back to the generated function and its
    error search.
    """
    invoice_id = obj["invoiceid"]
    get = obj.get
    tenant_id = get("tenantId")
    invoice_number = get("invoiceNumber")
    customer_name = get("customerName")
    if (
        type(invoice_id) is not str
        or (tenant_id is not None and type(tenant_id) is not str)
        or (invoice_number is not None and type(invoice_number) is not str)
        or (customer_name is not None and type(customer_name) is not str)
    ):
        raise _InvalidValue("a field has the wrong type")  # the slow path names it
    value = get("invoiceValue")
    if type(value) is float and math.isfinite(value):
        value = _float_decimal(value)
    elif value is not None:
        value = _structure_optional_decimal(value)
    # Billing periods are nearly always in the cache: look there before calling the hook.
    # (An unhashable value raises TypeError here, and the slow path names it.)
    start = get("billingPeriodStart")
    start = _DATETIME_CACHE.get(start) or _structure_optional_datetime(start)
    end = get("billingPeriodEnd")
    end = _DATETIME_CACHE.get(end) or _structure_optional_datetime(end)
    return Invoice(invoice_id, tenant_id, invoice_number, customer_name, start, end, value)


def _record_builder(cls: type[Any]) -> type[Any]:
    """A mutable class with the slots of the frozen, slotted attrs class ``cls``.

    The page loop fills one of these with plain attribute stores and then sets its
    ``__class__`` to ``cls``: about 0.11 µs a record, where the attrs ``__init__`` (an
    ``object.__setattr__`` call a field) costs 0.37 and the slot descriptors' setters
    0.28. The object is then exactly what ``cls(...)`` builds, as long as the attrs
    ``__init__`` does nothing but store the fields. Anything that would make it do more (a
    validator, a converter, a pre- or post-init hook) is refused here, at import, rather
    than skipped in silence; so is a class whose layout Python will not switch (tried on
    one object). ``cls`` must declare ``__weakref__`` in a base (see ``_WeakRefSlot``).
    """
    for attribute in attrs.fields(cls):
        if attribute.validator is not None or attribute.converter is not None:
            raise TypeError(f"{cls.__name__}.{attribute.name} validates or converts")
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        raise TypeError(f"{cls.__name__} has an __attrs_post_init__ or __attrs_pre_init__")
    names = tuple(attribute.name for attribute in attrs.fields(cls))
    base = cls.__base__ or object
    builder = type(f"_{cls.__name__}Builder", (base,), {"__slots__": names})
    trial: Any = object.__new__(builder)
    for name in names:
        setattr(trial, name, name)
    try:
        trial.__class__ = cls
    except TypeError as exc:
        message = f"{cls.__name__} objects cannot be built through a mutable twin: {exc}"
        raise TypeError(message) from exc
    if attrs.astuple(trial, recurse=False) != names:
        raise TypeError(f"{cls.__name__}'s slots do not line up with its fields")
    return builder


_INVOICE_BUILDER = _record_builder(Invoice)


def _structure_invoices_fast(
    values: list[Any],
    structure_one: Callable[[Any], Invoice],
    *,
    _new: Callable[[type[Any]], Any] = object.__new__,
    _builder: type[Any] = _INVOICE_BUILDER,
    _cls: type[Invoice] = Invoice,
    _decimal: type[Decimal] = Decimal,
    _dumps: Callable[[Any], bytes] = orjson.dumps,
    _cache: dict[str, datetime] = _DATETIME_CACHE,
) -> tuple[Invoice, ...]:
    """A page of invoices, built in place: ``values[i]`` is replaced by its record.

    Why: a listing spends most of its CPU here. One loop with everything in locals (the
    keyword defaults are bound once, at definition), subscripts instead of ``get`` calls,
    a single combined type test, and records built through a mutable twin
    (:func:`_record_builder`): about 0.66 µs a record once parsed, where the per-record
    path (:func:`_structure_invoice_fast`, calling ``Invoice(...)``) costs 1.07 and the
    cattrs-generated function 1.5.

    Why in place: each parsed dict is dropped as soon as its record exists, so a page
    never holds both at once. That keeps the garbage collector's allocation count flat
    while a page is built, and young records are not swept along into the older
    generations, whose full collections otherwise cost about 15% of a listing.

    A record the combined test does not pass (an absent key, an absent or ``null``
    billing period, a date not yet in the cache, an integer value, a wrong type, not an
    object) goes through ``structure_one``, which applies every rule and names the bad
    field; its error is raised with the record's index. orjson refuses ``NaN``,
    ``Infinity`` and numbers that overflow a double, so every float here is finite.
    """
    for index, obj in enumerate(values):
        try:
            invoice_id = obj["invoiceid"]
            tenant_id = obj["tenantId"]
            invoice_number = obj["invoiceNumber"]
            customer_name = obj["customerName"]
            value = obj["invoiceValue"]
            start = _cache[obj["billingPeriodStart"]]
            end = _cache[obj["billingPeriodEnd"]]
            usual = (
                type(invoice_id) is str
                and (type(tenant_id) is str or tenant_id is None)
                and (type(invoice_number) is str or invoice_number is None)
                and (type(customer_name) is str or customer_name is None)
                and type(value) is float
            )
        except (KeyError, TypeError):
            usual = False
        if not usual:
            values[index] = _structure_at(structure_one, obj, index)
            continue
        record = _new(_builder)
        record.invoice_id = invoice_id
        record.tenant_id = tenant_id
        record.invoice_number = invoice_number
        record.customer_name = customer_name
        record.billing_period_start = start
        record.billing_period_end = end
        record.invoice_value = _decimal(_dumps(value).decode())  # _float_decimal, inlined
        record.__class__ = _cls
        values[index] = record
    return tuple(values)


def _structure_at(structure_one: Callable[[Any], _R], obj: object, index: int) -> _R:
    """``structure_one(obj)``, its error placed at ``index`` of the list."""
    try:
        return structure_one(obj)
    except _InvalidValue as exc:
        raise exc.within(index) from None


_INVOICE = _RecordCodec(
    _converter,
    Invoice,
    [
        _Field("invoice_id", "invoiceid", _structure_str, alias="invoiceId"),
        _Field("tenant_id", "tenantId", _structure_optional_str),
        _Field("invoice_number", "invoiceNumber", _structure_optional_str),
        _Field("customer_name", "customerName", _structure_optional_str),
        _Field("billing_period_start", "billingPeriodStart", _structure_optional_datetime),
        _Field("billing_period_end", "billingPeriodEnd", _structure_optional_datetime),
        _Field("invoice_value", "invoiceValue", _structure_optional_decimal),
    ],
    fast=_structure_invoice_fast,
    fast_list=_structure_invoices_fast,
)

_INVOICE_ITEM = _RecordCodec(
    _converter,
    InvoiceItem,
    [
        _Field("id", "id", _structure_str),
        _Field("quantity", "quantity", _structure_decimal),
        _Field("value", "value", _structure_decimal),
        _Field("from_date", "fromDate", _structure_optional_datetime),
        _Field("to_date", "toDate", _structure_optional_datetime),
        _Field("calculation_order", "calculationOrder", _structure_optional_int),
        _Field("operator_used", "operatorUsed", _structure_optional_str),
        _Field("operator_value_used", "operatorValueUsed", _structure_optional_decimal),
        _Field("product_tag_name", "productTagName", _structure_optional_str),
        _Field("billing_output_tags", "billingOutputTags", _structure_str_tuple),
        _Field("string_values", "stringValues", _named_values_hook(_structure_str)),
        _Field("numeric_values", "numericValues", _named_values_hook(_structure_decimal)),
    ],
)

_INVOICE_DETAIL = _RecordCodec(
    _converter,
    InvoiceDetail,
    [
        _Field("invoice_id", "invoiceId", _structure_str, alias="invoiceid"),
        _Field("tenant_id", "tenantId", _structure_optional_str),
        _Field("invoice_number", "invoiceNumber", _structure_optional_str),
        _Field("account_name", "accountName", _structure_optional_str),
        _Field("billing_period_start", "billingPeriodStart", _structure_optional_datetime),
        _Field("billing_period_end", "billingPeriodEnd", _structure_optional_datetime),
        _Field("invoice_date", "invoiceDate", _structure_optional_datetime),
        _Field("invoice_value", "invoiceValue", _structure_optional_decimal),
        _Field("items", "invoiceItems", _record_tuple_hook(_INVOICE_ITEM)),
    ],
)


# --- public-in-package entry points ------------------------------------------------


def structure_invoice(obj: object, *, path: str = "") -> Invoice:
    """One :class:`Invoice` from a parsed JSON object; ``path`` prefixes error paths."""
    try:
        return _INVOICE.structure(obj)
    except _InvalidValue as exc:
        raise exc.to_decode_error(path, None) from None


def structure_invoice_item(obj: object, *, path: str = "") -> InvoiceItem:
    """One :class:`InvoiceItem` from a parsed JSON object; ``path`` prefixes error paths."""
    try:
        return _INVOICE_ITEM.structure(obj)
    except _InvalidValue as exc:
        raise exc.to_decode_error(path, None) from None


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


def decode_invoice_page(body: bytes, *, index: int, url: str | None = None) -> Page[Invoice]:
    """A Get All page ``{"page_size": n, "data": [invoice, ...], "timestamp": ...}``.

    ``index`` is the requested page index, which the page records whatever the body says.
    """
    envelope = _load_object(body, url)
    data = _member(envelope, "data", url)
    if type(data) is not list:
        raise DecodeError(f"data: {_expected('an array', data)}", path="data", url=url)
    try:
        items = _INVOICE.structure_list(data)
    except _InvalidValue as exc:
        raise exc.to_decode_error("data", url) from None
    timestamp = _page_timestamp(envelope.get("timestamp"), url)
    return Page(index=index, items=items, timestamp=timestamp)


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


def decode_invoice(body: bytes, *, url: str | None = None) -> Invoice:
    """A Get Invoice body ``{"data": invoice, "status": "success", ...}``."""
    data = _member(_load_object(body, url), "data", url)
    try:
        return _INVOICE.structure(data)
    except _InvalidValue as exc:
        raise exc.to_decode_error("data", url) from None


def decode_invoice_detail(body: bytes, *, url: str | None = None) -> InvoiceDetail:
    """The detailed JSON file of an invoice's detail ZIP (no envelope)."""
    obj = _load_object(body, url)
    try:
        return _INVOICE_DETAIL.structure(obj)
    except _InvalidValue as exc:
        raise exc.to_decode_error("", url) from None

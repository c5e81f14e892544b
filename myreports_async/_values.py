"""JSON values: parsing with exact numbers, and the strict readers of each value kind.

Rule 1: numbers are read as their literal text: msgspec hands every JSON number with a
        fraction or an exponent to ``Decimal`` as written (``float_hook``); no binary
        float is ever built. A number is rejected only if it is not valid JSON.
Rule 2: readers are strict: JSON ``null`` only where a field is optional, numbers never
        become strings, strings and booleans never become numbers.
Rule 3: datetimes are timezone-aware (naive service values are UTC); fractions beyond
        microseconds are cut, on every supported Python (3.10's ``fromisoformat`` needs
        the value rewritten first).
Rule 4: a value that fails raises :class:`_InvalidValue` with what was expected; the
        caller adds the JSON path (:func:`_check_value`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

import attrs
import msgspec

from ._errors import DecodeError

__all__ = ["JSON_ERRORS", "dumps", "error_message", "loads", "parse_datetime", "parse_json"]

_R = TypeVar("_R", bound=attrs.AttrsInstance)
_V = TypeVar("_V")

# A strict hook: a parsed JSON value in, a Python value out, or _InvalidValue.
_Hook = Callable[[Any], Any]


# --- JSON --------------------------------------------------------------------------

# Untyped parsing with exact numbers: integers stay int, every other number is the
# Decimal of its text (Rule 1).
_UNTYPED = msgspec.json.Decoder(float_hook=Decimal)

JSON_ERRORS = (msgspec.DecodeError, RecursionError)
"""What :func:`parse_json` raises on bytes that are not one JSON value (or nest deeper
than Python's recursion limit)."""


# Decimals go out as JSON numbers, as written (Rule 1 the other way round).
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def dumps(value: object) -> bytes:
    """A request body: ``value`` as JSON (``TypeError`` for what JSON cannot hold)."""
    return _ENCODER.encode(value)


def parse_json(raw: bytes) -> Any:
    """One JSON value with exact numbers (Rule 1); raises one of :data:`JSON_ERRORS`."""
    return _UNTYPED.decode(raw)


def loads(body: bytes, *, url: str | None = None) -> object:
    """Parse a JSON body (Rule 1); anything unparseable raises :class:`DecodeError`."""
    try:
        return _UNTYPED.decode(body)
    except RecursionError:
        raise DecodeError("response body is not valid JSON: nested too deeply", url=url) from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"response body is not valid JSON: {exc}", url=url) from None


def error_message(body: bytes) -> str | None:
    """The service's ``message`` from an error body, or ``None`` if the body is not one.

    Error bodies look like ``{"error": 404, "message": "Not Found", "status": "error"}``.
    Never raises.
    """
    try:
        parsed = _UNTYPED.decode(body)
    except JSON_ERRORS:
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
    if isinstance(value, (int, Decimal)):
        return "number"
    if isinstance(value, float):
        return "float (money is read from the JSON text, never from a float)"
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
    """A bad value, with its path relative to the record (or list) being read.

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


# What the typed route raises when the body is valid JSON of another shape (or the
# generated loop meets a value it leaves to the hooks): the slow route then names it.
_SHAPE_ERRORS = (msgspec.ValidationError, _InvalidValue)


def _join_path(prefix: str, segments: Sequence[_Segment]) -> str:
    """``("data", 3, "invoiceValue")`` -> ``data[3].invoiceValue``."""
    path = prefix
    for segment in segments:
        if isinstance(segment, int):
            path = f"{path}[{segment}]"
        else:
            path = f"{path}.{segment}" if path else segment
    return path


def _check_value(value: object, hook: Callable[[Any], _V], *segments: _Segment) -> _V:
    """Run a hook, turning its failure into an :class:`_InvalidValue` at ``segments``."""
    try:
        return hook(value)
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


def _structure_str(value: object) -> str:
    if type(value) is str:
        return value
    raise _InvalidValue(_expected("a string", value))


def _structure_optional_str(value: object) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _InvalidValue(_expected("a string", value))


def _structure_int(value: object) -> int:
    if type(value) is int:
        return value
    raise _InvalidValue(_expected("an integer", value))


def _structure_optional_int(value: object) -> int | None:
    if value is None or type(value) is int:
        return value
    raise _InvalidValue(_expected("an integer", value))


def _structure_decimal(value: object) -> Decimal:
    # A Decimal comes from the parser's float_hook: the number exactly as written.
    if type(value) is Decimal:
        return value
    if type(value) is int:
        return Decimal(value)
    raise _InvalidValue(_expected("a number", value))


def _structure_optional_decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    return _structure_decimal(value)


def _structure_datetime(value: object) -> datetime:
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


def _structure_optional_datetime(value: object) -> datetime | None:
    if value is None:
        return None
    return _structure_datetime(value)


def _structure_str_tuple(value: object) -> tuple[str, ...]:
    if type(value) is not list:
        raise _InvalidValue(_expected("an array", value))
    return tuple([_check_value(item, _structure_str, index) for index, item in enumerate(value)])


def _structure_optional_str_tuple(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    return _structure_str_tuple(value)


def _named_values_hook(value_hook: Callable[[Any], _V]) -> Callable[[Any], Mapping[str, _V]]:
    """A hook reading ``[{"name": ..., "value": ...}, ...]`` into a read-only mapping."""

    def structure_named_values(value: object) -> Mapping[str, _V]:
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


# --- lenient readers for the Enterprise records' documented quirks -------------------
# The service's examples send a boolean as "true" (a PBX patch) and an integer as "0"
# (a customer's trial duration). Only those exact spellings are accepted: anything else
# is still an error, so nothing is guessed.

_BOOLEAN_WORDS: Mapping[str, bool] = MappingProxyType({"true": True, "false": False})


def _structure_optional_bool(value: object) -> bool | None:
    if value is None or type(value) is bool:
        return value
    if type(value) is str and value.lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[value.lower()]
    raise _InvalidValue(_expected("a boolean", value))


def _structure_optional_int_or_digits(value: object) -> int | None:
    if value is None or type(value) is int:
        return value
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    raise _InvalidValue(_expected("an integer", value))


def _structure_int_mapping(value: object) -> Mapping[str, int]:
    """A JSON object of integers (``{"customer.user.pbx": 25}``), read-only."""
    if type(value) is not dict:
        raise _InvalidValue(_expected("an object", value))
    return MappingProxyType(
        {key: _check_value(item, _structure_int, key) for key, item in value.items()}
    )


def _structure_optional_int_mapping(value: object) -> Mapping[str, int] | None:
    if value is None:
        return None
    return _structure_int_mapping(value)

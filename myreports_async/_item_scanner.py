"""The items of a detail JSON document, one at a time, from a byte stream.

Rule 1: the document is never parsed whole. A forward-only scanner finds where each
        element of ``invoiceItems`` ends; the codec parses that one element (numbers
        exact, as written) and :func:`~myreports_async._codec.structure_invoice_item`
        (the same field table as the whole-document decoder) builds the item. Memory
        follows the largest single item, not the document.
Rule 2: the rest of the document is checked for well-formedness (brackets, strings,
        commas, one top-level object) but not decoded: the head fields are not needed.
        A value that is skipped is never held whole, however large.
Rule 3: malformed JSON is a ``DecodeError`` naming the byte offset and what was
        expected there; a bad item is a ``DecodeError`` naming its JSON path, exactly
        as the whole-document decoder reports it. Items before a bad one have already
        been handed out.
Rule 4: the scanner only tracks strings and brackets; the codec's parser does the
        parsing. A fast path guesses an item's end by counting brackets without minding strings and
        lets the parser prove the guess (:meth:`ItemScanner._parse_buffered_object`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from typing import Final

from ._codec import JSON_ERRORS, parse_json, structure_invoice_item
from ._errors import DecodeError
from ._models import InvoiceItem

__all__ = ["READ_SIZE", "ItemScanner", "scan_items"]

READ_SIZE: Final = 256 * 1024
"""Bytes the scanner asks its ``read`` for at a time."""

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


class ItemScanner:
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
        data = self._read(READ_SIZE)
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
            text = parse_json(raw)
        except JSON_ERRORS:
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


def scan_items(read: Callable[[int], bytes], *, url: str) -> Generator[InvoiceItem, None, None]:
    """The items of a detail JSON document, one at a time, from a byte stream.

    The rest of the document is checked for well-formedness (brackets, strings, commas)
    but not decoded: the head fields are not needed for items.
    """
    scanner = ItemScanner(read, url=url)
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


def _scan_item_array(scanner: ItemScanner, *, url: str) -> Iterator[InvoiceItem]:
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

"""The detail JSON item scanner, driven directly over byte streams."""

from __future__ import annotations

import io
from collections.abc import Callable

import msgspec
import pytest

from myreports_async import DecodeError, InvoiceItem, _item_scanner
from myreports_async._codec import decode_invoice_detail

from .detail_samples import detail_json, item_json

URL = "https://api.na.myreports.cloud/api/v1.0/billingdata/abc/detail"


def reader(data: bytes, size: int | None = None) -> Callable[[int], bytes]:
    """A ``read(n)`` over ``data``; ``size`` forces every read to that many bytes."""
    stream = io.BytesIO(data)
    return lambda n: stream.read(size or n)


def scan(data: bytes, size: int | None = None) -> list[InvoiceItem]:
    return list(_item_scanner.scan_items(reader(data, size), url=URL))


def expected_items(data: bytes) -> list[InvoiceItem]:
    return list(decode_invoice_detail(data).items)


# --- the scanner ------------------------------------------------------------------------

AWKWARD_ITEMS = [
    item_json(0),
    # brackets, braces, quotes and backslashes inside strings
    item_json(1, productTagName='a {b} [c] "d" \\ e \\" }]', operatorUsed="}"),
    # unknown keys with nested values, before and after the known ones
    {"extra": {"deep": [[{"x": "]"}], {}]}, **item_json(2), "tail": [1, 2, {"y": None}]},
    item_json(3, productTagName="\u00e9\u4e2d \U0001f600 \\u00e9"),
]


@pytest.mark.parametrize("size", [None, 1, 2, 3, 7, 64])
def test_scanner_reads_every_item_at_any_read_size(size: int | None) -> None:
    data = msgspec.json.encode(detail_json(AWKWARD_ITEMS, unknownHead={"a": "[{"}))
    assert scan(data, size) == expected_items(data)


def test_scanner_accepts_pretty_printed_json_with_items_first() -> None:
    document = {"invoiceItems": AWKWARD_ITEMS, "invoiceId": "x", "other": [1, "]"]}
    data = msgspec.json.format(msgspec.json.encode(document), indent=2).replace(b"\n", b"\r\n\t ")
    assert scan(data, 5) == expected_items(data)
    assert len(scan(data)) == len(AWKWARD_ITEMS)


def test_scanner_reads_an_example_with_no_items_and_no_array() -> None:
    assert scan(msgspec.json.encode(detail_json([]))) == []
    assert scan(b'{"invoiceId": "x"}') == []
    assert scan(b" { } ") == []


def test_scanner_reports_a_bad_item_by_its_json_path() -> None:
    data = msgspec.json.encode(detail_json([item_json(0), item_json(1, quantity="1")]))
    with pytest.raises(DecodeError) as caught:
        scan(data)
    assert caught.value.path == "invoiceItems[1].quantity"
    assert str(caught.value) == "invoiceItems[1].quantity: expected a number, got string"
    assert caught.value.url == URL
    with pytest.raises(DecodeError) as whole:
        decode_invoice_detail(data)
    assert whole.value.message == caught.value.message


def test_scanner_yields_the_good_items_before_a_bad_one() -> None:
    data = msgspec.json.encode(detail_json([item_json(0), 42]))
    items = _item_scanner.scan_items(reader(data), url=URL)
    assert next(items).id == "item-0"
    with pytest.raises(DecodeError, match=r"invoiceItems\[1\]: expected an object, got number"):
        next(items)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "expected the detail JSON to be an object"),
        (b"[]", "expected the detail JSON to be an object"),
        (b'{"invoiceItems": null}', "invoiceItems: expected an array, got null"),
        (b'{"invoiceItems": {"a": 1}}', "invoiceItems: expected an array, got object"),
        (b'{"invoiceItems": [', "expected an item before the end of the document"),
        (b'{"invoiceItems": [{"id": "x"', "expected the end of an object or array"),
        (b'{"invoiceItems": [{"id": "x}', "expected the end of an object or array"),
        (b'{"invoiceItems": [{"id": ]}]}', "expected a valid JSON value"),
        (b'{"invoiceItems": [] "x": 1}', "expected ',' or '}' after a value"),
        (
            b'{"invoiceItems": [' + msgspec.json.encode(item_json(0)) + b"{}]}",
            "expected ',' or ']' after an item",
        ),
        (b'{"a": 1} trailing', "expected the end of the document after the top-level object"),
        (b'{"a": "unterminated', "expected the end of a string before the end"),
        (b'{"a" 1}', "expected ':' after a key"),
        (b"{1: 2}", "expected a key string"),
        (b'{"a": }', "expected a value"),
        (b'{"invoiceItems": [], "invoiceItems": []}', "invoiceItems: the key appears twice"),
    ],
)
def test_scanner_rejects_malformed_documents(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message.replace("[", r"\[")):
        scan(data, 3)


def test_scanner_error_names_the_byte_offset() -> None:
    data = b'{"invoiceItems": [], "x": 1,, }'
    with pytest.raises(DecodeError, match="malformed at byte 28: expected a key string"):
        scan(data, 4)


def test_scanner_skips_a_large_unknown_value_without_keeping_it() -> None:
    big = [{"n": i, "s": "[" * (i % 7)} for i in range(60_000)]
    data = msgspec.json.encode({"huge": big, "invoiceItems": [item_json(0)]})
    reads: list[int] = []
    stream = io.BytesIO(data)

    def read(n: int) -> bytes:
        reads.append(n)
        return stream.read(n)

    scanner = _item_scanner.ItemScanner(read, url=URL)
    scanner.expect(b"{", "an object")
    assert scanner.string("a key") == "huge"
    scanner.expect(b":", "a colon")
    scanner.skip_value()
    # The skipped value was never held whole: the buffer is at most about one read.
    assert len(scanner._buf) <= 2 * _item_scanner.READ_SIZE
    assert len(data) > 2 * _item_scanner.READ_SIZE


# --- chunk boundaries -------------------------------------------------------------------


def two_chunks(data: bytes, cut: int) -> Callable[[int], bytes]:
    """A ``read`` that returns ``data[:cut]``, then the rest, then nothing."""
    chunks = [data[:cut], data[cut:], b""]
    return lambda n: chunks.pop(0) if chunks else b""


def test_an_item_split_at_any_byte_is_read_whole() -> None:
    data = msgspec.json.encode(detail_json(AWKWARD_ITEMS[:2]))
    expected = expected_items(data)
    for cut in range(1, len(data)):
        items = list(_item_scanner.scan_items(two_chunks(data, cut), url=URL))
        assert items == expected, f"split at byte {cut}"


def test_a_chunk_boundary_inside_an_escape_sequence_is_read_whole() -> None:
    data = msgspec.json.encode(detail_json([item_json(0, productTagName='x\\"]}\\\\"{[')]))
    escape = data.index(b'\\"')
    for cut in (escape, escape + 1, escape + 2, escape + 3):
        assert list(_item_scanner.scan_items(two_chunks(data, cut), url=URL)) == expected_items(
            data
        )


# --- strings and nesting -----------------------------------------------------------------

TRICKY_STRINGS = [
    '"',
    '\\"',
    "}",
    "]",
    "{[",
    '"}]"',
    "\\",
    "\\\\",
    '\\\\"}',
    '{"not": "an object"}',
    "\u0000\u001f\t\n",
]


@pytest.mark.parametrize("size", [None, 1, 5])
def test_strings_with_escaped_quotes_and_brackets_never_end_an_item(size: int | None) -> None:
    # More items than the fast path's detour after a misguess, so it is left and re-entered.
    items = [
        item_json(n, productTagName=TRICKY_STRINGS[n % len(TRICKY_STRINGS)], operatorUsed="]")
        for n in range(40)
    ]
    data = msgspec.json.encode(detail_json(items))
    scanned = scan(data, size)
    assert scanned == expected_items(data)
    assert [item.product_tag_name for item in scanned[: len(TRICKY_STRINGS)]] == TRICKY_STRINGS


def test_a_key_with_brackets_and_quotes_is_skipped_like_any_other() -> None:
    items = [{'x"]}': {'y[{"': "]"}, **item_json(0)}, item_json(1)]
    data = msgspec.json.encode(detail_json(items, **{'head"[': '}"'}))
    assert scan(data, 3) == expected_items(data)


def nested(depth: int) -> object:
    value: object = {"leaf": "]}"}
    for level in range(depth):
        value = [value, {"level": level}] if level % 2 else {"inner": value, "s": "[{"}
    return value


@pytest.mark.parametrize("size", [None, 7])
def test_deeply_nested_values_inside_items_and_the_head_are_passed_over(size: int | None) -> None:
    items = [{**item_json(n), "extra": nested(60)} for n in range(3)]
    data = msgspec.json.encode(detail_json(items, headExtra=nested(60), tail=[nested(10)]))
    assert scan(data, size) == expected_items(data)


def test_the_items_array_may_come_anywhere_among_nested_head_fields() -> None:
    document = {"a": nested(5), "invoiceItems": [item_json(0)], "z": {"invoiceItems": "no"}}
    data = msgspec.json.encode(document)
    assert [item.id for item in scan(data, 2)] == ["item-0"]


# --- truncated and invalid input ----------------------------------------------------------


def test_a_document_cut_anywhere_raises_after_a_prefix_of_its_items() -> None:
    data = msgspec.json.encode(detail_json(AWKWARD_ITEMS[:3]))
    expected = expected_items(data)
    for end in range(len(data)):
        got: list[InvoiceItem] = []
        with pytest.raises(DecodeError) as caught:
            got.extend(_item_scanner.scan_items(reader(data[:end], 4), url=URL))
        assert got == expected[: len(got)], f"cut at byte {end}"
        assert caught.value.url == URL


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (b'{"id": "x",}', "malformed at byte 18: expected a valid JSON value"),
        (b"{'id': 'x'}", "expected a valid JSON value"),
        (b'{"id": nope}', "expected a valid JSON value"),
        (b'{"id": "x"]', "expected a valid JSON value"),
        (b'{"id": "x" "quantity": 1}', "expected a valid JSON value"),
        (b'{"id": "\x01"}', "expected a valid JSON value"),
        (b'{"id": "x", "quantity": NaN}', "expected a valid JSON value"),
    ],
)
def test_an_invalid_item_is_malformed_json_at_its_offset(item: bytes, message: str) -> None:
    data = b'{"invoiceItems": [' + item + b"]}"
    for size in (None, 2):
        with pytest.raises(DecodeError, match=message):
            scan(data, size)


def test_invalid_utf8_in_a_key_is_malformed_json() -> None:
    with pytest.raises(DecodeError, match="expected a valid string"):
        scan(b'{"\xff": 1}')


# --- limits ------------------------------------------------------------------------------


def counting_reader(data: bytes) -> tuple[Callable[[int], bytes], list[int]]:
    stream = io.BytesIO(data)
    asked: list[int] = []

    def read(n: int) -> bytes:
        asked.append(n)
        return stream.read(n)

    return read, asked


def test_reads_ask_for_read_size_bytes_and_memory_follows_one_item() -> None:
    items = [item_json(n) for n in range(4000)]
    data = msgspec.json.encode(detail_json(items))
    assert len(data) > 4 * _item_scanner.READ_SIZE
    read, asked = counting_reader(data)
    scanner = _item_scanner.ItemScanner(read, url=URL)
    scanner.expect(b"{", "an object")
    largest_buffer = 0
    while scanner.string("a key") != "invoiceItems":
        scanner.expect(b":", "a colon")
        scanner.skip_value()
        scanner.expect(b",", "a comma")
    scanner.expect(b":", "a colon")
    scanner.expect(b"[", "an array")
    count = 0
    while True:
        scanner.item()
        count += 1
        largest_buffer = max(largest_buffer, len(scanner._buf))
        if not scanner.accept(b","):
            break
    assert count == len(items)
    assert set(asked) == {_item_scanner.READ_SIZE}
    assert largest_buffer <= 2 * _item_scanner.READ_SIZE


def test_an_item_larger_than_one_read_after_small_ones_is_read_whole() -> None:
    big = item_json(5, productTagName="[" * (3 * _item_scanner.READ_SIZE))
    items = [item_json(n) for n in range(5)] + [big, item_json(6)]
    data = msgspec.json.encode(detail_json(items))
    scanned = scan(data)
    assert scanned == expected_items(data)
    assert len(scanned[5].product_tag_name or "") == 3 * _item_scanner.READ_SIZE


def test_an_empty_read_is_the_end_of_the_input_and_is_not_asked_again() -> None:
    read, asked = counting_reader(b'{"invoiceItems": [')
    with pytest.raises(DecodeError, match="expected an item before the end of the document"):
        list(_item_scanner.scan_items(read, url=URL))
    assert asked.count(_item_scanner.READ_SIZE) == 2

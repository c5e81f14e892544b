"""The pure parts of downloads: body checks, the spool, the ZIP member limit, the scanner."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from myreports_async import DecodeError, InvoiceItem, TransportError, _downloads
from myreports_async._codec import decode_invoice_detail
from myreports_async._transport import stream_body

URL = "https://api.na.myreports.cloud/api/v1.0/billingdata/abc/detail"


def item_json(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"item-{n}",
        "quantity": 1.0 + n,
        "value": 17.5 + n / 100,
        "fromDate": "2020-04-01T00:00:00.000+00:00",
        "toDate": "2020-04-30T23:59:59.000+00:00",
        "calculationOrder": n,
        "operatorUsed": "PRICE",
        "operatorValueUsed": 0.1,
        "productTagName": "Essential User #XDM00001",
        "billingOutputTags": ["PurchaseResult"],
        "stringValues": [{"name": "Role", "value": "customer.user.pbx"}],
        "numericValues": [{"name": "customer_licence_count", "value": n}],
        **extra,
    }


def detail_json(items: list[Any], **head: Any) -> dict[str, Any]:
    return {
        "tenantId": "t",
        "invoiceId": "00000000000000000000000a",
        "invoiceValue": 17.5,
        "invoiceItems": items,
        **head,
    }


def reader(data: bytes, size: int | None = None) -> Callable[[int], bytes]:
    """A ``read(n)`` over ``data``; ``size`` forces every read to that many bytes."""
    stream = io.BytesIO(data)
    return lambda n: stream.read(size or n)


def scan(data: bytes, size: int | None = None) -> list[InvoiceItem]:
    return list(_downloads._scan_items(reader(data, size), url=URL))


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
    data = orjson.dumps(detail_json(AWKWARD_ITEMS, unknownHead={"a": "[{"}))
    assert scan(data, size) == expected_items(data)


def test_scanner_accepts_pretty_printed_json_with_items_first() -> None:
    document = {"invoiceItems": AWKWARD_ITEMS, "invoiceId": "x", "other": [1, "]"]}
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2).replace(b"\n", b"\r\n\t ")
    assert scan(data, 5) == expected_items(data)
    assert len(scan(data)) == len(AWKWARD_ITEMS)


def test_scanner_reads_an_example_with_no_items_and_no_array() -> None:
    assert scan(orjson.dumps(detail_json([]))) == []
    assert scan(b'{"invoiceId": "x"}') == []
    assert scan(b" { } ") == []


def test_scanner_reports_a_bad_item_by_its_json_path() -> None:
    data = orjson.dumps(detail_json([item_json(0), item_json(1, quantity="1")]))
    with pytest.raises(DecodeError) as caught:
        scan(data)
    assert caught.value.path == "invoiceItems[1].quantity"
    assert str(caught.value) == "invoiceItems[1].quantity: expected a number, got string"
    assert caught.value.url == URL
    with pytest.raises(DecodeError) as whole:
        decode_invoice_detail(data)
    assert whole.value.message == caught.value.message


def test_scanner_yields_the_good_items_before_a_bad_one() -> None:
    data = orjson.dumps(detail_json([item_json(0), 42]))
    items = _downloads._scan_items(reader(data), url=URL)
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
            b'{"invoiceItems": [' + orjson.dumps(item_json(0)) + b"{}]}",
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
    data = orjson.dumps({"huge": big, "invoiceItems": [item_json(0)]})
    reads: list[int] = []
    stream = io.BytesIO(data)

    def read(n: int) -> bytes:
        reads.append(n)
        return stream.read(n)

    scanner = _downloads._Scanner(read, url=URL)
    scanner.expect(b"{", "an object")
    assert scanner.string("a key") == "huge"
    scanner.expect(b":", "a colon")
    scanner.skip_value()
    # The skipped value was never held whole: the buffer is at most about one read.
    assert len(scanner._buf) <= 2 * _downloads._MEMBER_READ_SIZE
    assert len(data) > 2 * _downloads._MEMBER_READ_SIZE


# --- checked bodies ---------------------------------------------------------------------


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()
        self.restarts = 0

    def write(self, data: bytes) -> None:
        self.data += data

    def restart(self) -> None:
        self.restarts += 1
        self.data.clear()


def test_magic_bytes_split_across_chunks_are_checked_and_kept() -> None:
    target = Collect()
    body = _downloads._CheckedBody(_downloads.SUMMARY, target, url=URL, progress=None)
    body.begin(None)
    for chunk in (b"%", b"P", b"DF-1.7\n", b"rest"):
        body.write(chunk)
    assert body.finish() == len(b"%PDF-1.7\nrest")
    assert bytes(target.data) == b"%PDF-1.7\nrest"


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([b"<htm", b"l>"], "summary is not a PDF (starts with b'<htm')"),
        ([], "summary is not a PDF (the body is empty)"),
        ([b"%P"], "summary is not a PDF (starts with b'%P')"),
    ],
)
def test_a_body_that_is_not_a_pdf_is_refused_before_any_byte_is_written(
    chunks: list[bytes], message: str
) -> None:
    target = Collect()
    body = _downloads._CheckedBody(_downloads.SUMMARY, target, url=URL, progress=None)
    body.begin(None)

    def receive() -> None:
        for chunk in chunks:
            body.write(chunk)
        body.finish()

    with pytest.raises(DecodeError) as caught:
        receive()
    assert str(caught.value) == message
    assert caught.value.url == URL
    assert target.data == b""


def test_a_zip_without_its_end_record_is_incomplete() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.json", b"{}")
    whole = archive.getvalue()
    for data, ok in ((whole, True), (whole[:-1], False), (whole[:-30], False)):
        body = _downloads._CheckedBody(_downloads.DETAIL, Collect(), url=URL, progress=None)
        body.begin(len(data))
        body.write(data)
        if ok:
            assert body.finish() == len(data)
        else:
            with pytest.raises(DecodeError, match="detail ZIP is incomplete"):
                body.finish()


def test_progress_is_reported_and_starts_again_on_restart() -> None:
    seen: list[tuple[int, int | None]] = []
    body = _downloads._CheckedBody(
        _downloads.SUMMARY,
        Collect(),
        url=URL,
        progress=lambda received, total: seen.append((received, total)),
    )
    body.begin(12)
    body.write(b"%PDF")
    body.write(b"12345678")
    body.restart()
    body.begin(12)
    assert seen == [(0, 12), (4, 12), (12, 12), (0, 12)]


# --- targets ----------------------------------------------------------------------------


def test_file_target_rewinds_to_its_start_position() -> None:
    file = io.BytesIO(b"kept:")
    file.seek(0, io.SEEK_END)
    target = _downloads._FileTarget(file, url=URL)
    target.write(b"partial")
    target.restart()
    target.write(b"whole body")
    assert file.getvalue() == b"kept:whole body"


class AppendOnly:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += bytes(data)
        return len(data)

    def seekable(self) -> bool:
        return False


def test_file_target_that_cannot_seek_restarts_only_while_empty() -> None:
    sink = AppendOnly()
    target = _downloads._FileTarget(sink, url=URL)  # type: ignore[arg-type]
    target.restart()  # nothing written yet: a retry is harmless
    target.write(b"abc")
    with pytest.raises(TransportError, match="cannot seek, so it cannot be restarted"):
        target.restart()


class Trickle(io.RawIOBase):
    """A raw file that takes at most 3 bytes per write."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        taken = bytes(data[:3])
        self.data += taken
        return len(taken)


def test_file_target_writes_everything_to_a_raw_file_taking_little_at_a_time() -> None:
    sink = Trickle()
    _downloads._FileTarget(sink, url=URL).write(b"0123456789")  # type: ignore[arg-type]
    assert bytes(sink.data) == b"0123456789"


def test_spool_moves_to_disk_past_its_memory_size_and_restarts_empty() -> None:
    spool = _downloads._Spool(max_memory=10)
    spool.write(b"12345")
    assert isinstance(spool.file, io.BytesIO)
    spool.write(b"678901")
    assert not isinstance(spool.file, io.BytesIO)
    spool.file.seek(0)
    assert spool.file.read() == b"12345678901"
    spool.restart()
    spool.write(b"ab")
    spool.file.seek(0)
    assert spool.file.read() == b"ab"
    spool.close()
    assert spool.closed


# --- the JSON member --------------------------------------------------------------------


def make_zip(members: dict[str, bytes]) -> io.BytesIO:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    archive.seek(0)
    return archive


def test_member_over_the_limit_by_its_header_is_refused_before_inflating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_downloads, "MAX_DETAIL_JSON_BYTES", 1024)
    archive = make_zip({"d.json": b" " * 1025})
    with pytest.raises(DecodeError) as caught, _downloads._json_member(archive, url=URL):
        pass
    assert (
        str(caught.value) == "detail JSON member exceeds the 1 KiB limit (1025 bytes uncompressed)"
    )


def test_member_reader_enforces_the_limit_whatever_the_header_says() -> None:
    member = _downloads._MemberReader(io.BytesIO(b"x" * 100), name="d.json", limit=64, url=URL)
    assert member.read(64) == b"x" * 64
    with pytest.raises(DecodeError, match="exceeds the 64 bytes limit"):
        member.read(1)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "detail ZIP holds no JSON file (it is empty)"),
        ({"d.csv": b"a,b"}, "detail ZIP holds no JSON file (it holds 'd.csv')"),
        ({"a.json": b"{}", "b.JSON": b"{}"}, "detail ZIP holds 2 JSON files ('a.json', 'b.JSON')"),
    ],
)
def test_zip_must_hold_exactly_one_json_file(members: dict[str, bytes], message: str) -> None:
    with pytest.raises(DecodeError) as caught, _downloads._json_member(make_zip(members), url=URL):
        pass
    assert str(caught.value).startswith(message)


def test_corrupt_member_data_is_a_decode_error() -> None:
    raw = bytearray(make_zip({"d.json": orjson.dumps(detail_json([item_json(0)] * 50))}).getvalue())
    raw[60:80] = b"\xff" * 20  # inside the deflated data
    with (
        pytest.raises(DecodeError, match=r"detail ZIP member 'd\.json' is corrupt"),
        _downloads._json_member(io.BytesIO(bytes(raw)), url=URL) as member,
    ):
        member.read_all()


def test_not_a_zip_is_a_decode_error() -> None:
    with (
        pytest.raises(DecodeError, match="detail is not a readable ZIP archive"),
        _downloads._json_member(io.BytesIO(b"PK\x03\x04 but nothing else"), url=URL),
    ):
        pass


# --- streaming a body (the session's helper) ----------------------------------------------


class StubContent:
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class StubResponse:
    """The parts of ``aiohttp.ClientResponse`` that ``stream_body`` reads."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str]) -> None:
        self.content = StubContent(chunks)
        self.headers = headers
        length = headers.get("Content-Length")
        self.content_length = None if length is None else int(length)


async def test_stream_body_hands_over_every_chunk_and_counts_them() -> None:
    received: list[bytes] = []
    resp = StubResponse([b"ab", b"cde"], {"Content-Length": "5"})
    assert await stream_body(resp, received.append) == 5  # type: ignore[arg-type]
    assert received == [b"ab", b"cde"]


async def test_stream_body_short_of_its_content_length_is_a_cut_connection() -> None:
    resp = StubResponse([b"ab"], {"Content-Length": "5"})
    with pytest.raises(aiohttp.ClientPayloadError, match="ended after 2 of its 5 bytes"):
        await stream_body(resp, lambda chunk: None)  # type: ignore[arg-type]


async def test_stream_body_ignores_the_length_of_a_content_coding() -> None:
    # aiohttp hands over decoded bytes; Content-Length counts the gzip stream.
    resp = StubResponse([b"a" * 100], {"Content-Length": "20", "Content-Encoding": "gzip"})
    assert await stream_body(resp, lambda chunk: None) == 100  # type: ignore[arg-type]

"""The pure parts of downloads: body checks, destinations, the ZIP member limit."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from myreports_async import DecodeError, TransportError, _body_checks, _destinations, _zip_member
from myreports_async._transport import stream_body

from .detail_samples import detail_json, item_json

URL = "https://api.na.myreports.cloud/api/v1.0/billingdata/abc/detail"
LIMIT = _zip_member.DEFAULT_MAX_DETAIL_JSON_BYTES


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
    body = _body_checks.CheckedBody(_body_checks.SUMMARY, target, url=URL, progress=None)
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
    body = _body_checks.CheckedBody(_body_checks.SUMMARY, target, url=URL, progress=None)
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
        body = _body_checks.CheckedBody(_body_checks.DETAIL, Collect(), url=URL, progress=None)
        body.begin(len(data))
        body.write(data)
        if ok:
            assert body.finish() == len(data)
        else:
            with pytest.raises(DecodeError, match="detail ZIP is incomplete"):
                body.finish()


def test_progress_is_reported_and_starts_again_on_restart() -> None:
    seen: list[tuple[int, int | None]] = []
    body = _body_checks.CheckedBody(
        _body_checks.SUMMARY,
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
    target = _destinations.FileTarget(file, url=URL)
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
    target = _destinations.FileTarget(sink, url=URL)  # type: ignore[arg-type]
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
    _destinations.FileTarget(sink, url=URL).write(b"0123456789")  # type: ignore[arg-type]
    assert bytes(sink.data) == b"0123456789"


def test_spool_moves_to_disk_past_its_memory_size_and_restarts_empty() -> None:
    spool = _destinations.Spool(max_memory=10)
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


def test_member_over_the_limit_by_its_header_is_refused_before_inflating() -> None:
    archive = make_zip({"d.json": b" " * 1025})
    with (
        pytest.raises(DecodeError) as caught,
        _zip_member.json_member(archive, limit=1024, url=URL),
    ):
        pass
    assert (
        str(caught.value) == "detail JSON member exceeds the 1 KiB limit (1025 bytes uncompressed)"
    )


def test_member_reader_enforces_the_limit_whatever_the_header_says() -> None:
    member = _zip_member.MemberReader(io.BytesIO(b"x" * 100), name="d.json", limit=64, url=URL)
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
    with (
        pytest.raises(DecodeError) as caught,
        _zip_member.json_member(make_zip(members), limit=LIMIT, url=URL),
    ):
        pass
    assert str(caught.value).startswith(message)


def test_corrupt_member_data_is_a_decode_error() -> None:
    raw = bytearray(
        make_zip({"d.json": msgspec.json.encode(detail_json([item_json(0)] * 50))}).getvalue()
    )
    raw[60:80] = b"\xff" * 20  # inside the deflated data
    with (
        pytest.raises(DecodeError, match=r"detail ZIP member 'd\.json' is corrupt"),
        _zip_member.json_member(io.BytesIO(bytes(raw)), limit=LIMIT, url=URL) as member,
    ):
        member.read_all()


def test_not_a_zip_is_a_decode_error() -> None:
    with (
        pytest.raises(DecodeError, match="detail is not a readable ZIP archive"),
        _zip_member.json_member(io.BytesIO(b"PK\x03\x04 but nothing else"), limit=LIMIT, url=URL),
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

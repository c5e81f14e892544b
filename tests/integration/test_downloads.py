"""Summary and detail downloads against the fake service, over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from myreports_async import (
    DecodeError,
    InvoiceItem,
    MyReportsClient,
    NotFoundError,
    TransportError,
    _destinations,
    _downloads,
)
from myreports_async.testing import FakeService, Fault

ClientFactory = Callable[..., MyReportsClient]

UNKNOWN_ID = "f" * 24  # well formed, but no invoice of the fake has it


def make_zip(members: dict[str, bytes]) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return archive.getvalue()


def serve_detail(service: FakeService, body: bytes) -> None:
    service.inject(Fault.body(body, content_type="application/octet-stream"), route="detail")


def requests_to(service: FakeService, route: str) -> list[int]:
    """The statuses the fake answered on ``route``, in order (-1: connection dropped)."""
    return [r.status for r in service.requests if r.route == route]


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def part_sizes(directory: Path) -> list[int]:
    """Sizes of the temporary ``.part`` files of downloads in ``directory``."""
    return [p.stat().st_size for p in directory.glob(".*.part")]


def expected_item(obj: dict[str, Any]) -> dict[str, Any]:
    """What an InvoiceItem must hold for one item object of the fake's detail JSON."""
    return {
        "id": obj["id"],
        "quantity": Decimal(repr(obj["quantity"])),
        "value": Decimal(repr(obj["value"])),
        "calculation_order": obj["calculationOrder"],
        "product_tag_name": obj["productTagName"],
        "billing_output_tags": tuple(obj["billingOutputTags"]),
        "string_values": {e["name"]: e["value"] for e in obj["stringValues"]},
        "numeric_values": {e["name"]: Decimal(e["value"]) for e in obj["numericValues"]},
    }


def actual_item(item: InvoiceItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "quantity": item.quantity,
        "value": item.value,
        "calculation_order": item.calculation_order,
        "product_tag_name": item.product_tag_name,
        "billing_output_tags": item.billing_output_tags,
        "string_values": dict(item.string_values),
        "numeric_values": dict(item.numeric_values),
    }


class NonSeekable:
    """A write-only sink, like a pipe or a socket."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def seekable(self) -> bool:
        return False


@pytest.fixture
def spools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Any]]:
    """Every spool the client makes, forced to disk, with temporary files under tmp_path."""
    made: list[Any] = []

    class RecordedSpool(_destinations.Spool):
        def __init__(self, max_memory: int) -> None:
            super().__init__(0)
            made.append(self)

    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    monkeypatch.setattr(_downloads, "Spool", RecordedSpool)
    monkeypatch.setattr("tempfile.tempdir", str(spool_dir))
    yield made
    assert listing(spool_dir) == []


# --- summary --------------------------------------------------------------------------


async def test_large_summary_downloads_byte_exact_to_a_path(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    service.summary_size = 5_000_000
    target = tmp_path / "invoice.pdf"
    size = await client.download_invoice_summary(service.invoice_id(4), target)
    expected = service.summary_pdf(4)
    assert len(expected) >= 5_000_000
    assert size == len(expected)
    assert target.read_bytes() == expected
    assert listing(tmp_path) == ["invoice.pdf"]


async def test_large_summary_downloads_byte_exact_to_a_file_object(
    client: MyReportsClient, service: FakeService
) -> None:
    service.summary_size = 5_000_000
    sink = io.BytesIO()
    size = await client.download_invoice_summary(service.invoice_id(4), sink)
    assert size == len(sink.getvalue())
    assert sink.getvalue() == service.summary_pdf(4)


async def test_a_path_given_as_str_replaces_an_existing_file(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    target = tmp_path / "invoice.pdf"
    target.write_bytes(b"old")
    await client.download_invoice_summary(service.invoice_id(1), str(target))
    assert target.read_bytes() == service.summary_pdf(1)


async def test_progress_reports_bytes_against_the_content_length(
    client: MyReportsClient, service: FakeService
) -> None:
    service.summary_size = 300_000
    seen: list[tuple[int, int | None]] = []
    size = await client.download_invoice_summary(
        service.invoice_id(0), io.BytesIO(), progress=lambda n, total: seen.append((n, total))
    )
    assert seen[0] == (0, size)
    assert seen[-1] == (size, size)
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)


async def test_dropped_connection_mid_body_is_retried_into_a_whole_file(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    service.summary_size = 1_000_000
    service.inject(Fault.drop(mid_body=True), route="summary")
    target = tmp_path / "invoice.pdf"
    size = await client.download_invoice_summary(service.invoice_id(2), target)
    assert target.read_bytes() == service.summary_pdf(2)
    assert size == target.stat().st_size
    assert requests_to(service, "summary") == [-1, 200]
    assert listing(tmp_path) == ["invoice.pdf"]


async def test_retry_rewinds_a_file_object_to_where_it_started(
    client: MyReportsClient, service: FakeService
) -> None:
    service.summary_size = 1_000_000
    service.inject(Fault.drop(mid_body=True), route="summary")
    sink = io.BytesIO()
    sink.write(b"header written by the caller\n")
    await client.download_invoice_summary(service.invoice_id(2), sink)
    assert sink.getvalue() == b"header written by the caller\n" + service.summary_pdf(2)
    assert requests_to(service, "summary") == [-1, 200]


async def test_file_object_that_cannot_seek_is_not_retried_after_bytes_reached_it(
    client: MyReportsClient, service: FakeService
) -> None:
    service.summary_size = 1_000_000
    service.inject(Fault.drop(mid_body=True), route="summary")
    sink = NonSeekable()
    with pytest.raises(TransportError, match="cannot be restarted"):
        await client.download_invoice_summary(service.invoice_id(2), sink)  # type: ignore[arg-type]
    assert 0 < len(sink.data) < len(service.summary_pdf(2))
    assert requests_to(service, "summary") == [-1]


async def test_file_object_that_cannot_seek_is_retried_before_any_byte(
    client: MyReportsClient, service: FakeService
) -> None:
    service.inject(Fault.status(503), route="summary")
    sink = NonSeekable()
    await client.download_invoice_summary(service.invoice_id(2), sink)  # type: ignore[arg-type]
    assert bytes(sink.data) == service.summary_pdf(2)
    assert requests_to(service, "summary") == [503, 200]


async def test_download_failing_after_retries_leaves_no_file(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    service.summary_size = 200_000
    service.inject(Fault.drop(mid_body=True), route="summary", times=None)
    target = tmp_path / "invoice.pdf"
    with pytest.raises(TransportError, match="after 5 attempts"):
        await client.download_invoice_summary(service.invoice_id(2), target)
    assert listing(tmp_path) == []
    assert requests_to(service, "summary") == [-1] * 5


async def test_download_failing_leaves_an_existing_file_untouched(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    service.inject(Fault.status(500), route="summary", times=None)
    target = tmp_path / "invoice.pdf"
    target.write_bytes(b"the previous version")
    with pytest.raises(Exception, match="500"):
        await client.download_invoice_summary(service.invoice_id(2), target)
    assert target.read_bytes() == b"the previous version"
    assert listing(tmp_path) == ["invoice.pdf"]


async def test_cancelled_download_leaves_no_temporary_file(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    service.summary_size = 1_000_000
    service.inject(Fault.stall(30), route="summary")
    target = tmp_path / "invoice.pdf"
    task = asyncio.create_task(client.download_invoice_summary(service.invoice_id(2), target))
    for _ in range(500):  # until the first half of the body is in the temporary file
        if any(size > 0 for size in part_sizes(tmp_path)):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the download never started writing")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert listing(tmp_path) == []


async def test_unknown_invoice_raises_not_found_and_writes_nothing(
    client: MyReportsClient, tmp_path: Path
) -> None:
    target = tmp_path / "invoice.pdf"
    with pytest.raises(NotFoundError):
        await client.download_invoice_summary(UNKNOWN_ID, target)
    with pytest.raises(NotFoundError):
        await client.download_invoice_detail(UNKNOWN_ID, tmp_path / "detail.zip")
    with pytest.raises(NotFoundError):
        await client.get_invoice_detail(UNKNOWN_ID)
    assert listing(tmp_path) == []


async def test_body_that_is_not_a_pdf_is_a_decode_error_and_not_retried(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    page = b"<html><body>Service unavailable</body></html>"
    service.inject(Fault.body(page, content_type="text/html"), route="summary")
    target = tmp_path / "invoice.pdf"
    with pytest.raises(DecodeError) as caught:
        await client.download_invoice_summary(service.invoice_id(2), target)
    assert str(caught.value) == "summary is not a PDF (starts with b'<html><body>Serv')"
    assert caught.value.url == f"{client.api_root}/billingdata/{service.invoice_id(2)}/summary"
    assert listing(tmp_path) == []
    assert requests_to(service, "summary") == [200]


async def test_malformed_ids_are_refused_before_any_request(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    for bad in ("", "../x", "a/b", "a?b"):
        with pytest.raises(ValueError, match="invoice_id"):
            await client.download_invoice_summary(bad, tmp_path / "x.pdf")
        with pytest.raises(ValueError, match="invoice_id"):
            await client.download_invoice_detail(bad, io.BytesIO())
        with pytest.raises(ValueError, match="invoice_id"):
            await client.get_invoice_detail(bad)
        with pytest.raises(ValueError, match="invoice_id"):
            client.iter_invoice_items(bad)
    assert service.requests == []
    assert listing(tmp_path) == []


async def test_missing_directory_fails_before_any_request(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        await client.download_invoice_summary(service.invoice_id(0), tmp_path / "no" / "x.pdf")
    with pytest.raises(IsADirectoryError):
        await client.download_invoice_summary(service.invoice_id(0), tmp_path)
    with pytest.raises(TypeError, match="binary mode"):
        await client.download_invoice_summary(service.invoice_id(0), io.StringIO())  # type: ignore[arg-type]
    assert service.requests == []


# --- detail download ------------------------------------------------------------------


async def test_detail_downloads_byte_exact(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    service.detail_items = 2_000
    target = tmp_path / "detail.zip"
    size = await client.download_invoice_detail(service.invoice_id(3), target)
    assert target.read_bytes() == service.detail_zip(3)
    assert size == target.stat().st_size
    with zipfile.ZipFile(target) as archive:
        assert sorted(Path(n).suffix for n in archive.namelist()) == [".csv", ".json"]


async def test_detail_that_is_not_a_zip_is_a_decode_error(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    body = b'{"error": 200, "message": "OK"}'
    serve_detail(service, body)
    with pytest.raises(DecodeError, match=r"detail is not a ZIP archive \(starts with b'\{\"error"):
        await client.download_invoice_detail(service.invoice_id(0), tmp_path / "d.zip")
    serve_detail(service, body)
    with pytest.raises(DecodeError, match="detail is not a ZIP archive"):
        await client.get_invoice_detail(service.invoice_id(0))
    serve_detail(service, body)
    with pytest.raises(DecodeError, match="detail is not a ZIP archive"):
        [item async for item in client.iter_invoice_items(service.invoice_id(0))]
    assert listing(tmp_path) == []


async def test_detail_cut_before_its_end_record_is_a_decode_error(
    client: MyReportsClient, service: FakeService, tmp_path: Path
) -> None:
    serve_detail(service, service.detail_zip(0)[:-200])
    with pytest.raises(DecodeError, match="detail ZIP is incomplete"):
        await client.download_invoice_detail(service.invoice_id(0), tmp_path / "d.zip")
    assert listing(tmp_path) == []


async def test_detail_dropped_mid_body_is_retried(
    client: MyReportsClient, service: FakeService
) -> None:
    service.inject(Fault.drop(mid_body=True), route="detail")
    detail = await client.get_invoice_detail(service.invoice_id(5))
    assert detail.invoice_id == service.invoice_id(5)
    assert requests_to(service, "detail") == [-1, 200]


# --- get_invoice_detail ---------------------------------------------------------------


async def test_get_invoice_detail_matches_the_served_json(
    client: MyReportsClient, service: FakeService
) -> None:
    service.detail_items = 40
    detail = await client.get_invoice_detail(service.invoice_id(7))
    source = service.detail_json(7)
    assert detail.invoice_id == source["invoiceId"] == service.invoice_id(7)
    assert detail.invoice_number == source["invoiceNumber"]
    assert detail.account_name == source["accountName"]
    assert detail.invoice_value == Decimal(repr(source["invoiceValue"]))
    assert detail.invoice_value == sum(item.value for item in detail.items)
    assert detail.billing_period_start is not None
    assert detail.billing_period_start.tzinfo is not None
    assert [actual_item(i) for i in detail.items] == [
        expected_item(o) for o in source["invoiceItems"]
    ]
    assert all(isinstance(i.quantity, Decimal) for i in detail.items)
    with pytest.raises(TypeError):
        detail.items[0].string_values["Role"] = "x"  # type: ignore[index]


async def test_documented_example_parses(
    client: MyReportsClient, service: FakeService, examples: Path
) -> None:
    document = (examples / "billingdata_invoice_detail.json").read_bytes()
    body = make_zip({"invoice_9000004_detail.json": document, "invoice_9000004.csv": b"a,b\r\n"})
    serve_detail(service, body)
    detail = await client.get_invoice_detail(service.invoice_id(0))
    assert detail.invoice_id == "00000000000000000000000a"
    assert detail.account_name == "Example Tenant 1"
    assert detail.invoice_value == Decimal("17.5")
    assert detail.invoice_date == datetime(2020, 4, 9, tzinfo=timezone.utc)
    [item] = detail.items
    assert item.id == "000000000000000000000001"
    assert item.quantity == Decimal("1.0")
    assert item.value == Decimal("1.25")
    assert item.operator_value_used == Decimal("1.25")
    assert item.calculation_order == 1
    assert item.billing_output_tags == ("PurchaseResult",)
    assert item.string_values["UserName"] == "user1@example.com"
    assert item.numeric_values == {"customer_licence_count": Decimal(1)}
    serve_detail(service, body)
    assert [i async for i in client.iter_invoice_items(service.invoice_id(0))] == [item]


async def test_zip_without_json_is_a_decode_error(
    client: MyReportsClient, service: FakeService
) -> None:
    serve_detail(service, make_zip({"invoice_1_detail.csv": b"a,b\r\n1,2\r\n"}))
    with pytest.raises(DecodeError) as caught:
        await client.get_invoice_detail(service.invoice_id(0))
    assert str(caught.value) == "detail ZIP holds no JSON file (it holds 'invoice_1_detail.csv')"


async def test_zip_bomb_is_a_decode_error(make_client: ClientFactory, service: FakeService) -> None:
    client = make_client(max_detail_json_bytes=1 << 20)
    bomb = b'{"invoiceId": "x", "pad": "' + b" " * (8 << 20) + b'"}'
    body = make_zip({"detail.json": bomb})
    assert len(body) < 64 * 1024  # deflate shrinks it over a hundredfold
    serve_detail(service, body)
    with pytest.raises(DecodeError) as caught:
        await client.get_invoice_detail(service.invoice_id(0))
    assert str(caught.value).startswith("detail JSON member exceeds the 1 MiB limit")
    serve_detail(service, body)
    with pytest.raises(DecodeError, match="exceeds the 1 MiB limit"):
        [item async for item in client.iter_invoice_items(service.invoice_id(0))]


async def test_bad_item_is_reported_by_its_path_by_both_readers(
    client: MyReportsClient, service: FakeService
) -> None:
    source = service.detail_json(0)
    source["invoiceItems"][1]["value"] = "12.50"
    body = make_zip({"d.json": msgspec.json.encode(source)})
    serve_detail(service, body)
    with pytest.raises(DecodeError) as whole:
        await client.get_invoice_detail(service.invoice_id(0))
    serve_detail(service, body)
    with pytest.raises(DecodeError) as streamed:
        [item async for item in client.iter_invoice_items(service.invoice_id(0))]
    assert whole.value.path == streamed.value.path == "invoiceItems[1].value"
    assert whole.value.message == streamed.value.message


async def test_cancelled_get_invoice_detail_closes_its_spool(
    client: MyReportsClient, service: FakeService, spools: list[Any]
) -> None:
    service.inject(Fault.stall(30), route="detail")
    task = asyncio.create_task(client.get_invoice_detail(service.invoice_id(1)))
    for _ in range(500):  # until the first half of the body is in the spool
        if spools and spools[0].file.tell() > 0:
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the download never started writing")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [spool.closed for spool in spools] == [True]


# --- iter_invoice_items ---------------------------------------------------------------


async def test_items_stream_equals_get_invoice_detail(
    client: MyReportsClient, service: FakeService, spools: list[Any]
) -> None:
    service.detail_items = 1_500
    streamed = [item async for item in client.iter_invoice_items(service.invoice_id(9))]
    detail = await client.get_invoice_detail(service.invoice_id(9))
    assert streamed == list(detail.items)
    assert len(streamed) == 1_500
    assert len(spools) == 2
    assert all(spool.closed for spool in spools)


async def test_items_of_a_100k_item_invoice_stream_through(
    client: MyReportsClient, service: FakeService, spools: list[Any]
) -> None:
    service.detail_items = lambda index: 100_000 if index == 11 else 3
    count = 0
    first = last = None
    async with contextlib.aclosing(client.iter_invoice_items(service.invoice_id(11))) as items:
        async for item in items:
            first = first or item
            last = item
            count += 1
    source = service.detail_json(11)["invoiceItems"]
    assert count == len(source) == 100_000
    assert first is not None
    assert last is not None
    assert actual_item(first) == expected_item(source[0])
    assert actual_item(last) == expected_item(source[-1])
    assert [spool.closed for spool in spools] == [True]


async def test_breaking_out_of_the_items_closes_the_temporary_file(
    client: MyReportsClient, service: FakeService, spools: list[Any]
) -> None:
    service.detail_items = 5_000
    async with contextlib.aclosing(client.iter_invoice_items(service.invoice_id(3))) as items:
        async for item in items:
            assert item.id
            break
    assert [spool.closed for spool in spools] == [True]


async def test_items_download_failing_closes_the_temporary_file(
    client: MyReportsClient, service: FakeService, spools: list[Any]
) -> None:
    service.inject(Fault.drop(mid_body=True), route="detail", times=None)
    with pytest.raises(TransportError):
        [item async for item in client.iter_invoice_items(service.invoice_id(3))]
    assert [spool.closed for spool in spools] == [True]

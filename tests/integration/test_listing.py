"""Listing every invoice from the fake service over a real socket, with faults."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from myreports_async import (
    AuthenticationError,
    BadRequestError,
    DecodeError,
    Invoice,
    MyReportsClient,
    RateLimiter,
    RateLimitError,
    ResumePoint,
    RetryPolicy,
    ServerError,
    TransportError,
)
from myreports_async.testing import FakeServer, FakeService, Fault

ClientFactory = Callable[..., MyReportsClient]


async def ids_of(
    client: MyReportsClient, *, page_size: int = 1000, start_page: int = 0, prefetch: int = 4
) -> list[str]:
    stream = client.iter_invoices(page_size=page_size, start_page=start_page, prefetch=prefetch)
    return [invoice.invoice_id async for invoice in stream]


def pages_requested(service: FakeService) -> list[int | None]:
    return [r.page_index for r in service.list_requests()]


@pytest.mark.parametrize("prefetch", [1, 4, 8])
async def test_lists_every_invoice_in_server_order(
    service: FakeService, client: MyReportsClient, prefetch: int
) -> None:
    assert await ids_of(client, page_size=40, prefetch=prefetch) == service.invoice_ids()


async def test_records_carry_the_service_fields(
    service: FakeService, client: MyReportsClient
) -> None:
    invoices = [i async for i in client.iter_invoices(page_size=100)]
    first = service.invoice_json(0)
    assert invoices[0].invoice_id == first["invoiceid"]
    assert invoices[0].customer_name == first["customerName"]
    assert str(invoices[0].invoice_value) == repr(first["invoiceValue"])
    assert invoices[0].billing_period_start is not None
    assert invoices[0].billing_period_start.tzinfo is not None


async def test_requests_carry_page_index_and_size(
    service: FakeService, client: MyReportsClient
) -> None:
    await ids_of(client, page_size=100, prefetch=1)
    assert [(r.query["pageIndex"], r.query["pageSize"]) for r in service.list_requests()] == [
        ("0", "100"),
        ("1", "100"),
        ("2", "100"),
    ]
    assert all(r.authorized for r in service.requests)


async def test_capped_page_size_does_not_end_the_stream(
    service: FakeService, client: MyReportsClient
) -> None:
    service.max_page_size = 30  # the server quietly serves 30 where 100 were asked
    assert await ids_of(client, page_size=100, prefetch=1) == service.invoice_ids()
    # 250 = 8 pages of 30 and one of 10; the page of 10 is shorter than 30: the end.
    assert pages_requested(service) == list(range(9))


async def test_short_first_page_is_followed_by_a_request_for_the_next(
    make_client: ClientFactory, server: FakeServer, service: FakeService
) -> None:
    service.invoice_count = 7
    client = make_client()
    assert await ids_of(client, page_size=100, prefetch=1) == service.invoice_ids()
    assert pages_requested(service) == [0, 1]


async def test_exact_multiple_of_the_page_size_ends_on_an_empty_page(
    service: FakeService, client: MyReportsClient
) -> None:
    service.invoice_count = 200
    assert await ids_of(client, page_size=50, prefetch=1) == service.invoice_ids()
    assert pages_requested(service) == [0, 1, 2, 3, 4]


async def test_empty_collection_yields_nothing(
    service: FakeService, client: MyReportsClient
) -> None:
    service.invoice_count = 0
    assert await ids_of(client) == []
    assert [p async for p in client.iter_invoice_pages()] == []


async def test_pages_carry_index_and_service_timestamp(client: MyReportsClient) -> None:
    pages = [page async for page in client.iter_invoice_pages(page_size=100)]
    assert [(p.index, len(p.items)) for p in pages] == [(0, 100), (1, 100), (2, 50)]
    assert all(p.timestamp is not None and p.timestamp.tzinfo is not None for p in pages)


async def test_page_index_absent_from_answers_is_fine(
    service: FakeService, client: MyReportsClient
) -> None:
    service.include_page_index = False
    assert await ids_of(client, page_size=100) == service.invoice_ids()


async def test_start_page_resumes_a_listing(service: FakeService, client: MyReportsClient) -> None:
    assert await ids_of(client, page_size=100, start_page=2) == service.invoice_ids()[200:]


async def test_burst_of_503_is_retried(service: FakeService, client: MyReportsClient) -> None:
    service.inject(Fault.status(503), route="list", page_index=1, times=3)
    assert await ids_of(client, page_size=100) == service.invoice_ids()
    assert [r.status for r in service.list_requests() if r.page_index == 1] == [503] * 3 + [200]


async def test_429_with_retry_after_is_retried(
    service: FakeService, client: MyReportsClient
) -> None:
    service.inject(Fault.status(429, retry_after=0.05), route="list", page_index=0)
    assert await ids_of(client, page_size=100) == service.invoice_ids()
    assert [r.status for r in service.list_requests() if r.page_index == 0] == [429, 200]


async def test_connection_dropped_mid_body_is_retried(
    service: FakeService, client: MyReportsClient
) -> None:
    service.inject(Fault.drop(mid_body=True), route="list", page_index=1)
    service.inject(Fault.drop(mid_body=False), route="list", page_index=2)
    assert await ids_of(client, page_size=100) == service.invoice_ids()
    assert [r.status for r in service.list_requests() if r.page_index in (1, 2)].count(-1) == 2


async def test_read_timeout_is_retried(service: FakeService, make_client: ClientFactory) -> None:
    client = make_client(timeout=0.2)
    service.inject(Fault.delay(5), route="list", page_index=1)
    service.inject(Fault.stall(5), route="list", page_index=2)
    assert await ids_of(client, page_size=100) == service.invoice_ids()
    assert len([r for r in service.list_requests() if r.page_index in (1, 2)]) == 4


async def test_failure_after_retries_raises_after_an_exact_prefix(
    service: FakeService, make_client: ClientFactory
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=3, initial_backoff=0.001))
    service.inject(Fault.status(503, message="maintenance"), route="list", page_index=2, times=3)
    seen: list[str] = []

    async def consume() -> None:
        async for invoice in client.iter_invoices(page_size=50, prefetch=4):
            seen.append(invoice.invoice_id)

    with pytest.raises(ServerError, match="maintenance") as caught:
        await consume()
    assert caught.value.status == 503
    assert "pageIndex=2" in str(caught.value.url)
    assert seen == service.invoice_ids()[:100]


async def test_dropped_connections_after_retries_raise_transport_error(
    service: FakeService, make_client: ClientFactory
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2, initial_backoff=0.001))
    service.inject(Fault.drop(), route="list", page_index=1, times=2)
    seen: list[str] = []

    async def consume() -> None:
        async for invoice in client.iter_invoices(page_size=100):
            seen.append(invoice.invoice_id)

    with pytest.raises(TransportError, match="connection was cut"):
        await consume()
    assert seen == service.invoice_ids()[:100]


async def test_invalid_body_raises_decode_error(
    service: FakeService, client: MyReportsClient, examples: object
) -> None:
    from pathlib import Path

    assert isinstance(examples, Path)
    documented = (examples / "billingdata_get_all_as_documented.txt").read_bytes()
    service.inject(Fault.body(documented), route="list", page_index=1)
    seen: list[str] = []

    async def consume() -> None:
        async for invoice in client.iter_invoices(page_size=100):
            seen.append(invoice.invoice_id)

    with pytest.raises(DecodeError) as caught:
        await consume()
    assert "pageIndex=1" in str(caught.value.url)
    assert seen == service.invoice_ids()[:100]
    # A decode error is not retried: the same body would come back.
    assert [r.status for r in service.list_requests() if r.page_index == 1] == [200]


async def test_wrong_field_type_names_the_json_path(
    service: FakeService, client: MyReportsClient
) -> None:
    bad = b'{"data": [{"invoiceid": "a"}, {"invoiceid": "b", "invoiceValue": "12"}]}'
    service.inject(Fault.body(bad), route="list", page_index=0)
    with pytest.raises(DecodeError, match=r"data\[1\]\.invoiceValue") as caught:
        await ids_of(client)
    assert caught.value.path == "data[1].invoiceValue"


async def test_rate_limit_beyond_the_cap_raises_rate_limit_error(
    service: FakeService, make_client: ClientFactory
) -> None:
    client = make_client(retry=RetryPolicy(max_retry_after=1.0))
    service.inject(Fault.status(429, retry_after=3600), route="list", page_index=0)
    with pytest.raises(RateLimitError) as caught:
        await ids_of(client)
    assert caught.value.retry_after == 3600.0
    assert len(service.list_requests()) <= 4  # page 0, plus read-ahead already in flight


async def test_bad_token_raises_authentication_error(
    service: FakeService, make_client: ClientFactory
) -> None:
    client = make_client("not-the-token")
    with pytest.raises(AuthenticationError) as caught:
        await ids_of(client, prefetch=1)
    assert caught.value.status == 401
    assert "not-the-token" not in f"{caught.value} {caught.value!r}"
    assert [r.status for r in service.list_requests()] == [401]


async def test_page_size_out_of_range_is_refused_before_any_request(
    service: FakeService, client: MyReportsClient
) -> None:
    bad: list[dict[str, int]] = [
        {"page_size": 0}, {"page_size": 10_001}, {"start_page": -1}, {"prefetch": 0},
        {"prefetch": 65}, {"prefetch": 10**9},
    ]  # fmt: skip
    for kwargs in bad:
        with pytest.raises(ValueError, match="must be"):
            client.iter_invoices(**kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="must be"):
            client.iter_invoice_pages(**kwargs)
    assert service.requests == []


async def test_server_rejecting_page_size_is_a_bad_request(
    service: FakeService, client: MyReportsClient
) -> None:
    # On page 0, the page the stream needs first: read-ahead requests leave together and
    # may reach the server in any order (they do on uvloop), so "the first list request"
    # could be a speculative page the stream never needs.
    service.inject(
        Fault.status(400, message="The value 'x' is not valid."), route="list", page_index=0
    )
    with pytest.raises(BadRequestError, match="is not valid"):
        await ids_of(client)


def client_tasks() -> set[asyncio.Task[object]]:
    """Tasks of this loop but the test's own and the fake server's request handlers."""
    return {
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
        and not task.get_coro().__qualname__.startswith("RequestHandler.")  # type: ignore[union-attr]
    }


async def test_breaking_out_cancels_eight_pages_in_flight(
    service: FakeService, make_client: ClientFactory
) -> None:
    # All eight at once: the limiter's slow start would send two, then four.
    client = make_client(rate_limiter=RateLimiter(adaptive=False))
    service.invoice_count = 10_000
    for index in range(1, 9):
        service.inject(Fault.delay(30), route="list", page_index=index)
    first: Invoice | None = None
    async with contextlib.aclosing(client.iter_invoices(page_size=10, prefetch=8)) as invoices:
        async for invoice in invoices:
            first = invoice
            break
    assert first is not None
    assert first.invoice_id == service.invoice_ids()[0]
    assert client_tasks() == set()
    await client.close()
    # Pages 1-7 (and perhaps 8, topped up as page 0 was handed out) had reached the
    # server; none was answered.
    assert set(range(8)) <= set(pages_requested(service)) <= set(range(9))
    assert all(r.status != 200 for r in service.list_requests() if r.page_index)


async def test_cancelling_the_consumer_cancels_requests_in_flight(
    service: FakeService, make_client: ClientFactory
) -> None:
    client = make_client(rate_limiter=RateLimiter(adaptive=False))  # all eight at once
    service.invoice_count = 10_000
    for index in range(1, 9):
        service.inject(Fault.delay(30), route="list", page_index=index)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _invoice in client.iter_invoices(page_size=10, prefetch=8):
            got_first.set()

    consumer = asyncio.create_task(consume())
    await got_first.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert client_tasks() == set()


async def test_resume_points_continue_after_the_last_saved_record(
    service: FakeService, client: MyReportsClient
) -> None:
    saved: ResumePoint | None = None
    done: list[str] = []
    async with contextlib.aclosing(client.iter_invoices_resumable(page_size=40)) as stream:
        async for invoice, point in stream:
            done.append(invoice.invoice_id)
            saved = point
            if len(done) == 97:
                break  # the run dies here
    assert saved == ResumePoint(page_index=2, offset=17, page_size=40)
    restored = ResumePoint.from_dict(saved.to_dict())
    rest = [i.invoice_id async for i in client.iter_invoices(page_size=40, resume=restored)]
    assert done + rest == service.invoice_ids()


async def test_resume_point_after_the_last_record_yields_nothing_more(
    service: FakeService, client: MyReportsClient
) -> None:
    points = [p async for _i, p in client.iter_invoices_resumable(page_size=100)]
    assert points[-1] == ResumePoint(page_index=2, offset=50, page_size=100)
    assert [i async for i in client.iter_invoices(page_size=100, resume=points[-1])] == []


async def test_resume_with_another_page_size_is_refused(client: MyReportsClient) -> None:
    with pytest.raises(ValueError, match="page_size=40"):
        client.iter_invoices(page_size=100, resume=ResumePoint(1, 3, 40))

"""Listing against the fake service's token-bucket rate limit: the limiter learns the rate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from myreports_async import MyReportsClient, RateLimiter, RateLimitError, RetryPolicy, ServerError
from myreports_async.testing import FakeServer, FakeService

ClientFactory = Callable[..., MyReportsClient]

#: Enough attempts that a page never runs out while the window finds the limit.
PATIENT_RETRY = RetryPolicy(max_attempts=30, initial_backoff=0.001, max_backoff=0.005)


async def test_requests_beyond_the_rate_answer_429_with_retry_after(
    service: FakeService, server: FakeServer
) -> None:
    service.rate_limit = 0.5  # one request every 2 s: the second one at once is refused
    single = RetryPolicy(max_attempts=1)
    async with MyReportsClient("test-token", base_url=server.url, retry=single) as client:
        await client.get_invoice(service.invoice_id(0))
        with pytest.raises(RateLimitError) as info:
            await client.get_invoice(service.invoice_id(1))

    assert [r.status for r in service.requests] == [200, 429]
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 2


async def test_listing_under_a_rate_limit_is_exact_and_paced(
    service: FakeService, make_client: ClientFactory
) -> None:
    service.rate_limit = 400.0
    limiter = RateLimiter()
    client = make_client(retry=PATIENT_RETRY, rate_limiter=limiter)

    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=8)]

    assert ids == service.invoice_ids()
    throttled = [r for r in service.list_requests() if r.status == 429]
    assert throttled, "eight requests at once into a bucket of one must be refused"
    assert limiter.rate is not None  # the limit was seen: attempts are paced to a rate
    assert limiter.in_flight == 0


async def test_after_the_first_refusals_every_page_arrives_once(
    service: FakeService, make_client: ClientFactory
) -> None:
    service.rate_limit = 400.0
    client = make_client(retry=PATIENT_RETRY)

    async for page in client.iter_invoice_pages(page_size=10, prefetch=8):
        assert len(page.items) == 10

    served = [r.page_index for r in service.list_requests() if r.status == 200]
    assert sorted(p for p in served if p is not None and p < 25) == list(range(25))


@pytest.mark.parametrize("retry_after", [0, None])
async def test_gateway_refusals_with_whole_or_no_retry_after_are_waited_out(
    service: FakeService, make_client: ClientFactory, retry_after: float | None
) -> None:
    service.rate_limit = 200.0
    service.rate_limit_burst = 5
    service.rate_limit_retry_after = retry_after
    client = make_client(retry=PATIENT_RETRY)

    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=8)]

    assert ids == service.invoice_ids()
    refusals = [r for r in service.list_requests() if r.status == 429]
    assert refusals


async def test_nginx_style_503_without_retry_after_slows_every_page_down_together(
    service: FakeService, make_client: ClientFactory
) -> None:
    # 64 pages asked at once into a bucket of 5: each page has the default 5 attempts,
    # and the listing must not run out of them.
    service.invoice_count = 640
    service.rate_limit = 200.0
    service.rate_limit_burst = 5
    service.rate_limit_status = 503
    service.rate_limit_retry_after = None
    client = make_client(retry=RetryPolicy(initial_backoff=0.01, max_backoff=0.05))

    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=64)]

    assert ids == service.invoice_ids()
    assert any(r.status == 503 for r in service.list_requests())


async def test_a_503_after_the_attempts_still_raises(
    service: FakeService, make_client: ClientFactory
) -> None:
    service.rate_limit = 0.01  # one request, then nothing for 100 s
    service.rate_limit_status = 503
    service.rate_limit_retry_after = None
    client = make_client(retry=RetryPolicy(max_attempts=2, initial_backoff=0.001))
    await client.get_invoice(service.invoice_id(0))

    with pytest.raises(ServerError) as info:
        await client.get_invoice(service.invoice_id(1))

    assert info.value.status == 503
    assert [r.status for r in service.requests] == [200, 503, 503]


async def test_two_clients_with_one_limiter_share_the_limit_and_its_pause(
    service: FakeService, server: FakeServer
) -> None:
    service.rate_limit = 400.0
    service.rate_limit_burst = 4
    limiter = RateLimiter()
    clients = [
        MyReportsClient(
            "test-token", base_url=server.url, retry=PATIENT_RETRY, rate_limiter=limiter
        )
        for _ in range(2)
    ]
    try:

        async def listing(client: MyReportsClient) -> list[str]:
            return [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=8)]

        first, second = await asyncio.gather(*(listing(c) for c in clients))
    finally:
        for client in clients:
            await client.close()

    assert first == second == service.invoice_ids()
    # One limit seen by both: the refusals of either one set the pace of both.
    assert limiter.rate is not None
    assert limiter.in_flight == 0
    assert clients[0]._http.limiter is clients[1]._http.limiter is limiter


def test_rate_limiter_must_be_a_rate_limiter() -> None:
    with pytest.raises(TypeError, match="RateLimiter"):
        MyReportsClient("t", rate_limiter=object())  # type: ignore[arg-type]


async def test_no_rate_limit_means_no_429_and_a_full_window(
    service: FakeService, make_client: ClientFactory
) -> None:
    client = make_client()

    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=8)]

    assert ids == service.invoice_ids()
    assert all(r.status == 200 for r in service.list_requests())
    assert client._http.limiter.rate is None  # no limit seen: nothing paced

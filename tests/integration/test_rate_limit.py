"""Listing against the fake service's token-bucket rate limit: the AIMD window backs off."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from myreports_async import MyReportsClient, RateLimitError, RetryPolicy
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


async def test_listing_under_a_rate_limit_is_exact_and_halves_the_window(
    service: FakeService, make_client: ClientFactory
) -> None:
    service.rate_limit = 400.0
    client = make_client(retry=PATIENT_RETRY)

    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=8)]

    assert ids == service.invoice_ids()
    throttled = [r for r in service.list_requests() if r.status == 429]
    assert throttled, "eight requests at once into a bucket of one must be refused"
    # Without adaptation 8 would stay in flight; after the 429s it is at most half of it.
    assert client._http.concurrency.window <= 8
    assert client._http.concurrency.in_flight == 0


async def test_window_shrinks_after_429s_and_every_page_arrives_once(
    service: FakeService, make_client: ClientFactory
) -> None:
    service.rate_limit = 400.0
    client = make_client(retry=PATIENT_RETRY)
    windows: list[float] = []

    async for page in client.iter_invoice_pages(page_size=10, prefetch=8):
        windows.append(client._http.concurrency.window)
        assert len(page.items) == 10

    served = [r.page_index for r in service.list_requests() if r.status == 200]
    assert sorted(p for p in served if p is not None and p < 25) == list(range(25))
    assert min(windows) <= 4  # halved at least once from the 8 really in flight
    assert max(windows[1:]) <= 8  # and never grew past the read-ahead


async def test_no_rate_limit_means_no_429_and_a_full_window(
    service: FakeService, make_client: ClientFactory
) -> None:
    client = make_client()

    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=8)]

    assert ids == service.invoice_ids()
    assert all(r.status == 200 for r in service.list_requests())
    assert client._http.concurrency.window >= 8

"""Users' own mocks: plain ``aioresponses`` (as the ``test`` extra installs it) and the
``mock_invoice_listing`` helper, with whatever aiohttp pip resolved."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from myreports_async import MyReportsClient, RetryPolicy, TransportError
from myreports_async.testing import mock_invoice_listing

NO_RETRY = RetryPolicy(max_attempts=1)


def invoices(count: int) -> list[dict[str, Any]]:
    return [
        {"invoiceid": f"inv-{i:04d}", "customerName": f"Customer {i}", "invoiceValue": 17.50}
        for i in range(count)
    ]


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


def pages_asked(mock: aioresponses) -> list[int]:
    return sorted(
        int(url.query["pageIndex"])
        for (_, url), calls in (mock.requests or {}).items()
        for _ in calls
    )


async def test_plain_aioresponses_mock_works_with_the_installed_aiohttp(
    mock: aioresponses,
) -> None:
    # What a user writes by hand: page 0 with data, page 1 empty. Under aioresponses 0.7.9
    # and aiohttp 3.14 every mocked answer raised TypeError (stream_writer).
    base = "https://api.eu.myreports.cloud/api/v1.0/billingdata"
    first = {"page_size": 2, "data": invoices(2), "status": "success"}
    mock.get(f"{base}?pageIndex=0&pageSize=2", payload=first)
    mock.get(f"{base}?pageIndex=1&pageSize=2", payload={"page_size": 0, "data": []})
    async with MyReportsClient("t0k3n", region="eu", retry=NO_RETRY) as client:
        got = [i async for i in client.iter_invoices(page_size=2, prefetch=1)]
    assert [i.invoice_id for i in got] == ["inv-0000", "inv-0001"]
    assert got[0].invoice_value == Decimal("17.5")
    assert aiohttp.__version__  # the version pip resolved, whatever it is


async def test_mocking_only_page_0_leaves_the_client_asking_for_page_1(
    mock: aioresponses,
) -> None:
    # The pitfall the helper exists for: a full first page is not the end of a listing.
    base = "https://api.na.myreports.cloud/api/v1.0/billingdata"
    mock.get(f"{base}?pageIndex=0&pageSize=2", payload={"page_size": 2, "data": invoices(2)})
    async with MyReportsClient("t0k3n", retry=NO_RETRY) as client:
        with pytest.raises(TransportError, match=r"pageIndex=1"):
            [i async for i in client.iter_invoices(page_size=2, prefetch=1)]


@pytest.mark.parametrize("count", [0, 1, 9, 10, 25, 30])
@pytest.mark.parametrize("prefetch", [1, 4])
async def test_helper_serves_the_whole_listing(
    mock: aioresponses, count: int, prefetch: int
) -> None:
    data = invoices(count)
    urls = mock_invoice_listing(mock, data, page_size=10)
    async with MyReportsClient("t0k3n", retry=NO_RETRY) as client:
        ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=prefetch)]
    assert ids == [d["invoiceid"] for d in data]
    with_data = -(-count // 10)
    assert len(urls) == with_data + 1  # every page with data, and the empty one after
    assert urls[0] == "https://api.na.myreports.cloud/api/v1.0/billingdata?pageIndex=0&pageSize=10"
    # The stream ends on a short page after a full one, else on the empty page.
    needed = with_data if count % 10 and with_data > 1 else with_data + 1
    asked = pages_asked(mock)
    assert asked[:needed] == list(range(needed))
    if prefetch == 1:
        assert len(asked) == needed  # strictly sequential: nothing past the end


async def test_helper_follows_base_url_and_the_default_page_size(mock: aioresponses) -> None:
    data = invoices(1500)
    mock_invoice_listing(mock, data, base_url="https://gateway.example.com/myreports/")
    async with MyReportsClient(
        "t0k3n", base_url="https://gateway.example.com/myreports", retry=NO_RETRY
    ) as client:
        pages = [p async for p in client.iter_invoice_pages()]
        again = [i.invoice_id async for i in client.iter_invoices()]
    assert [len(p.items) for p in pages] == [1000, 500]
    assert [p.index for p in pages] == [0, 1]
    assert again == [d["invoiceid"] for d in data]  # the mock repeats


def test_helper_refuses_what_the_client_would_refuse(mock: aioresponses) -> None:
    with pytest.raises(ValueError, match="page_size must be between 1 and 10000"):
        mock_invoice_listing(mock, invoices(1), page_size=0)
    with pytest.raises(ValueError, match="unknown region 'mars'"):
        mock_invoice_listing(mock, invoices(1), region="mars")
    with pytest.raises(TypeError, match="sequence of invoice JSON objects"):
        mock_invoice_listing(mock, {"invoiceid": "x"})  # type: ignore[arg-type]
    assert not mock.requests  # nothing was requested

"""Testing your own code against the fake MyReports service (docs/testing.md).

These are real tests: the project's own suite collects and runs this file. They use the
fixtures of the pytest plugin that installing myreports-async registers
(``myreports_service``, ``myreports_server``, ``myreports_client``) and assume
pytest-asyncio with ``asyncio_mode = "auto"``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from myreports_async import MyReportsClient, RetryPolicy, ServerError, TransportError
from myreports_async.testing import FakeServer, FakeService, Fault


# --8<-- [start:code]
async def total_billed(client: MyReportsClient, customer: str) -> Decimal:
    """The code under test: the sum of one customer's invoices."""
    total = Decimal(0)
    async for invoice in client.iter_invoices(page_size=500):
        if invoice.customer_name == customer and invoice.invoice_value is not None:
            total += invoice.invoice_value
    return total


# --8<-- [end:code]


# --8<-- [start:override]
# In conftest.py: every test of the directory gets this service (and the server and
# client fixtures serve it).
@pytest.fixture
def myreports_service() -> FakeService:
    return FakeService(invoice_count=1200, max_page_size=500, seed=3)


# --8<-- [end:override]


# --8<-- [start:basic]
async def test_total_billed(
    myreports_client: MyReportsClient, myreports_service: FakeService
) -> None:
    invoices = [myreports_service.invoice_json(i) for i in range(1200)]
    customer = invoices[0]["customerName"]
    expected = sum(
        (Decimal(repr(i["invoiceValue"])) for i in invoices if i["customerName"] == customer),
        Decimal(0),
    )

    assert await total_billed(myreports_client, customer) == expected
    # The request log: three pages of 500 (the last one short), with a valid token. The
    # client reads ahead, and requests sent together may arrive in any order: sort them.
    pages = sorted(r.page_index or 0 for r in myreports_service.list_requests())
    assert pages[:3] == [0, 1, 2]
    assert all(r.authorized for r in myreports_service.requests)


# --8<-- [end:basic]


# --8<-- [start:faults]
async def test_total_billed_survives_a_flaky_page(
    myreports_client: MyReportsClient, myreports_service: FakeService
) -> None:
    customer = myreports_service.invoice_json(0)["customerName"]
    myreports_service.inject(Fault.status(503), route="list", page_index=1, times=2)
    myreports_service.inject(Fault.status(429, retry_after=0.01), route="list", page_index=2)

    total = await total_billed(myreports_client, customer)

    assert total > 0
    page_1 = [r.status for r in myreports_service.list_requests() if r.page_index == 1]
    assert page_1 == [503, 503, 200]


async def test_total_billed_reports_a_failure_instead_of_a_short_sum(
    myreports_client: MyReportsClient, myreports_service: FakeService
) -> None:
    myreports_service.inject(Fault.status(503), route="list", page_index=2, times=None)

    with pytest.raises(ServerError) as failure:
        await total_billed(myreports_client, "anyone")

    assert failure.value.status == 503


# --8<-- [end:faults]


# --8<-- [start:timeout]
async def test_a_slow_service_times_out(myreports_server: FakeServer) -> None:
    myreports_server.service.inject(Fault.delay(1.0), route="invoice", times=None)
    async with MyReportsClient(
        "test-token",
        base_url=myreports_server.url,
        timeout=0.05,  # seconds to connect, and for each wait for data
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001),
    ) as client:
        with pytest.raises(TransportError):
            await client.get_invoice(myreports_server.service.invoice_id(0))


# --8<-- [end:timeout]


# --8<-- [start:no-plugin]
async def test_without_the_plugin_fixtures() -> None:
    service = FakeService(invoice_count=30)
    async with (
        FakeServer(service) as server,  # a free port on 127.0.0.1
        MyReportsClient("test-token", base_url=server.url) as client,
    ):
        ids = [invoice.invoice_id async for invoice in client.iter_invoices()]
    assert ids == service.invoice_ids()


# --8<-- [end:no-plugin]

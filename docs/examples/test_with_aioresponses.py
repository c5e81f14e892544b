"""Unit-testing your own code with aioresponses (docs/testing.md, "Mocking with aioresponses").

These are real tests: the project's own suite collects and runs this file. They need the
``test`` extra (``pip install 'myreports-async[test]'``), which installs
``aioresponses-ng``, the maintained fork imported as ``aioresponses``.
"""

from __future__ import annotations

# --8<-- [start:listing]
from decimal import Decimal

import pytest
from aioresponses import aioresponses

from myreports_async import MyReportsClient, NotFoundError, RetryPolicy
from myreports_async.testing import mock_invoice_listing


async def total_billed(client: MyReportsClient, customer: str) -> Decimal:
    """The code under test: the sum of one customer's invoices."""
    total = Decimal(0)
    async for invoice in client.iter_invoices(page_size=500):
        if invoice.customer_name == customer and invoice.invoice_value is not None:
            total += invoice.invoice_value
    return total


async def test_total_billed_with_a_mocked_listing() -> None:
    invoices = [
        {"invoiceid": f"inv-{i}", "customerName": "Acme" if i % 2 else "Other",
         "invoiceValue": 10.25}
        for i in range(1200)
    ]  # fmt: skip
    with aioresponses() as mock:
        # Every page of 500 at its exact URL, the empty page after the last one, and an
        # empty answer for any page the read-ahead asks for past the end.
        mock_invoice_listing(mock, invoices, page_size=500)
        async with MyReportsClient("test-token", region="na") as client:
            assert await total_billed(client, "Acme") == Decimal("6150.00")


# --8<-- [end:listing]


# --8<-- [start:single]
async def test_unknown_invoice_with_a_mocked_answer() -> None:
    url = "https://api.na.myreports.cloud/api/v1.0/billingdata/inv-404"
    with aioresponses() as mock:
        mock.get(url, status=404, payload={"error": 404, "message": "Not Found"})
        async with MyReportsClient("test-token", retry=RetryPolicy(max_attempts=1)) as client:
            with pytest.raises(NotFoundError, match="Not Found") as caught:
                await client.get_invoice("inv-404")
    assert caught.value.status == 404


# --8<-- [end:single]

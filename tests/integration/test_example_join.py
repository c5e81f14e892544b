"""docs/examples/join_invoices_to_customers.py: every invoice, joined in one pass.

Run against the fake service over a real socket, whose invoices belong to its customers:
the CSV must hold every invoice once, in the service's order, each with the reference of
the customer the fake's directory says it belongs to; and the requests must be the
listings only (one pass: nothing asked per invoice).
"""

from __future__ import annotations

import csv
import io

import join_invoices_to_customers as join
import pytest

from myreports_async.testing import FakeService

from .conftest import ClientFactory


@pytest.fixture
def service() -> FakeService:
    # 600 invoices over the customers they name, dealt round-robin over 3 accounts.
    return FakeService(600, seed=3, accounts=3)


def references(service: FakeService) -> dict[str, str]:
    directory = service.directory
    return {
        customer["id"]: customer["reference"]
        for account in directory.accounts()
        for customer in directory.customers(account["id"])
    }


async def test_every_invoice_gets_its_customers_reference_in_one_pass(
    service: FakeService, make_client: ClientFactory
) -> None:
    out = io.StringIO()

    result = await join.join_invoices(make_client(), out)

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["invoice_id"] for row in rows] == service.invoice_ids()
    expected = references(service)
    assert [row["customer_reference"] for row in rows] == [
        expected[service.invoice_json(i)["tenantId"]] for i in range(service.invoice_count)
    ]
    assert (result.invoices, result.unmatched, result.customers) == (600, 0, len(expected))
    # One pass: the three listings and nothing per invoice or per customer.
    assert {r.route for r in service.requests} == {"accounts", "customers", "list"}
    assert len([r for r in service.requests if r.route == "list"]) <= 1 + 4  # page 0, read-ahead


async def test_an_invoice_of_an_unknown_tenant_is_written_and_counted_not_dropped(
    service: FakeService, make_client: ClientFactory
) -> None:
    account = service.directory.accounts()[0]["id"]
    gone = service.directory.customers(account)[0]["id"]
    service.directory.delete_customer(gone)
    orphans = sum(
        1 for i in range(service.invoice_count) if service.invoice_json(i)["tenantId"] == gone
    )
    out = io.StringIO()

    result = await join.join_invoices(make_client(), out)

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == service.invoice_count
    assert orphans > 0
    assert result.unmatched == orphans
    assert {row["customer_reference"] for row in rows if row["tenant_id"] == gone} == {""}

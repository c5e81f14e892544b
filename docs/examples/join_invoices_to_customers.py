"""Join every invoice to its customer's ERP reference, in one streaming pass.

An invoice names its tenant (``tenant_id``); the customer record holds the ``reference``
the reseller's ERP knows it by. The customers of every account are listed once into a
dict (small: one short record per customer), then the invoices are streamed through it
and written as CSV rows as they arrive. Memory holds the dict and one page of invoices,
however many invoices there are.

An invoice whose tenant is not a customer (an account's own invoice, or a customer
created after the dict was made) is written with an empty reference and counted, never
dropped. Run it with::

    MYREPORTS_TOKEN=... python docs/examples/join_invoices_to_customers.py invoices.csv

This file is tested by tests/integration/test_example_join.py against the fake service,
and measured by benchmarks/bench_join.py (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import csv
import os
import sys
from collections.abc import Mapping
from typing import TextIO

import attrs

from myreports_async import MyReportsClient

COLUMNS = ("invoice_id", "invoice_number", "tenant_id", "customer_reference", "invoice_value")


@attrs.define
class JoinResult:
    """What one run wrote: invoices, and those whose tenant is no known customer."""

    invoices: int = 0
    unmatched: int = 0
    customers: int = 0


# --8<-- [start:join]
async def customer_references(client: MyReportsClient) -> dict[str, str | None]:
    """Every customer of every account: its tenant id -> its reference."""
    references: dict[str, str | None] = {}
    async for account in client.accounts.iter():
        async for customer in client.customers(account.id).iter():
            references[customer.id] = customer.reference
    return references


async def join_invoices(client: MyReportsClient, out: TextIO) -> JoinResult:
    """Write one CSV row per invoice, with its customer's reference."""
    references = await customer_references(client)
    result = JoinResult(customers=len(references))
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(COLUMNS)
    async for invoice in client.iter_invoices():
        reference = references.get(invoice.tenant_id or "")
        if reference is None:
            result.unmatched += 1
        rows.writerow(
            (
                invoice.invoice_id,
                invoice.invoice_number,
                invoice.tenant_id,
                reference or "",
                "" if invoice.invoice_value is None else format(invoice.invoice_value, "f"),
            )
        )
        result.invoices += 1
    return result


# --8<-- [end:join]


def client_from_env(environ: Mapping[str, str] = os.environ) -> MyReportsClient:
    """A client from ``MYREPORTS_TOKEN`` and ``MYREPORTS_REGION`` or ``MYREPORTS_BASE_URL``."""
    return MyReportsClient(
        environ["MYREPORTS_TOKEN"],
        region=environ.get("MYREPORTS_REGION", "na"),
        base_url=environ.get("MYREPORTS_BASE_URL") or None,
    )


async def join_with_client_from_env(out: TextIO) -> JoinResult:
    async with client_from_env() as client:
        return await join_invoices(client, out)


def main(path: str) -> None:
    # Opened outside the event loop; the rows are buffered, so writing them does not
    # stall the loop the way opening a file can.
    with open(path, "w", encoding="utf-8", newline="") as out:
        result = asyncio.run(join_with_client_from_env(out))
    print(
        f"{result.invoices:,} invoices joined to {result.customers:,} customers; "
        f"{result.unmatched:,} without a known customer",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(sys.argv[1])

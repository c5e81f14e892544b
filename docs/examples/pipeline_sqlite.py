"""Copy every invoice into SQLite, resumably and idempotently.

Invoices are written in batches with an upsert keyed by the invoice id, and the listing's
resume point is saved in the same transaction as each batch. So:

- a run killed at any moment leaves the database at the end of a whole batch, with the
  resume point that matches it exactly; the next run carries on from there;
- a run that completes deletes the resume point (in the transaction of its last batch),
  so the next run is a full refresh that updates rows in place and adds no duplicates.

Money is stored as TEXT (``str(Decimal)``): a REAL column would round it. Run it with::

    MYREPORTS_TOKEN=... python docs/examples/pipeline_sqlite.py invoices.db

This file is tested by tests/integration/test_example_pipeline.py against the fake
service, with a run killed in the middle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import aiosqlite
import attrs

from myreports_async import Invoice, MyReportsClient, ResumePoint

# --8<-- [start:schema]
SCHEMA = """
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id           TEXT PRIMARY KEY,
    tenant_id            TEXT,
    invoice_number       TEXT,
    customer_name        TEXT,
    billing_period_start TEXT,  -- ISO 8601 with offset
    billing_period_end   TEXT,
    invoice_value        TEXT   -- exact decimal, e.g. '3271.35'
);
CREATE TABLE IF NOT EXISTS sync_state (
    name         TEXT PRIMARY KEY,
    resume_point TEXT NOT NULL  -- ResumePoint.to_dict() as JSON
);
"""

UPSERT = """
INSERT INTO invoices (invoice_id, tenant_id, invoice_number, customer_name,
                      billing_period_start, billing_period_end, invoice_value)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(invoice_id) DO UPDATE SET
    tenant_id = excluded.tenant_id,
    invoice_number = excluded.invoice_number,
    customer_name = excluded.customer_name,
    billing_period_start = excluded.billing_period_start,
    billing_period_end = excluded.billing_period_end,
    invoice_value = excluded.invoice_value
"""

STATE = "invoices"  # the sync_state row of this listing

Row = tuple[str | None, ...]


def invoice_row(invoice: Invoice) -> Row:
    """The SQL parameters of one invoice: text for money and datetimes."""
    value = invoice.invoice_value
    return (
        invoice.invoice_id,
        invoice.tenant_id,
        invoice.invoice_number,
        invoice.customer_name,
        _iso(invoice.billing_period_start),
        _iso(invoice.billing_period_end),
        None if value is None else str(value),
    )


# --8<-- [end:schema]


@attrs.frozen
class SyncResult:
    """What one run did."""

    written: int  # invoices upserted by this run
    resumed_from: ResumePoint | None  # None: the run started at the first invoice


# --8<-- [start:sync]
async def sync_invoices(
    client: MyReportsClient,
    database: str | Path,
    *,
    page_size: int = 1000,
    batch_size: int = 500,
    prefetch: int = 4,
) -> SyncResult:
    """Upsert every invoice into ``database``, resuming an interrupted run."""
    # isolation_level=None: no implicit transactions; each batch is one explicit
    # BEGIN ... COMMIT below.
    async with aiosqlite.connect(database, isolation_level=None) as db:
        await db.executescript(SCHEMA)
        saved = await load_resume_point(db)
        if saved is not None:
            page_size = saved.page_size  # a point is only valid with its own page size
        written = 0
        batch: list[Row] = []
        stream = client.iter_invoices_resumable(
            page_size=page_size, prefetch=prefetch, resume=saved
        )
        async with contextlib.aclosing(stream) as invoices:
            async for invoice, point in invoices:
                batch.append(invoice_row(invoice))
                if len(batch) == batch_size:
                    await write_batch(db, batch, point)
                    written += len(batch)
                    batch.clear()
        # The listing has ended on proof that nothing is left: the last batch and the
        # removal of the resume point go together, so the next run starts afresh.
        await write_batch(db, batch, None)
        written += len(batch)
    return SyncResult(written=written, resumed_from=saved)


async def write_batch(
    db: aiosqlite.Connection, rows: Sequence[Row], point: ResumePoint | None
) -> None:
    """Upsert ``rows`` and save ``point`` (None: forget it) in one transaction."""
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.executemany(UPSERT, rows)
        if point is None:
            await db.execute("DELETE FROM sync_state WHERE name = ?", (STATE,))
        else:
            await db.execute(
                "INSERT INTO sync_state (name, resume_point) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET resume_point = excluded.resume_point",
                (STATE, json.dumps(point.to_dict())),
            )
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


async def load_resume_point(db: aiosqlite.Connection) -> ResumePoint | None:
    """The point saved by an interrupted run, if any."""
    async with db.execute("SELECT resume_point FROM sync_state WHERE name = ?", (STATE,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else ResumePoint.from_dict(json.loads(row[0]))


# --8<-- [end:sync]


# --8<-- [start:main]
def client_from_env(environ: Mapping[str, str] = os.environ) -> MyReportsClient:
    """A client configured from MYREPORTS_TOKEN and MYREPORTS_BASE_URL or MYREPORTS_REGION."""
    token = environ.get("MYREPORTS_TOKEN")
    if not token:
        raise SystemExit("set MYREPORTS_TOKEN to the API's bearer token")
    return MyReportsClient(
        token,
        base_url=environ.get("MYREPORTS_BASE_URL") or None,
        region=environ.get("MYREPORTS_REGION") or "na",
    )


async def main(database: str) -> None:
    async with client_from_env() as client:
        result = await sync_invoices(client, database)
    start = "the start" if result.resumed_from is None else f"{result.resumed_from}"
    print(f"{result.written} invoices written to {database}, from {start}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "invoices.db"))
# --8<-- [end:main]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()

"""docs/examples/pipeline_sqlite.py: a killed run resumes exactly, a rerun adds nothing.

Each test runs the example against the fake service over a real socket and then reads the
SQLite file back with the standard library: the database must hold exactly the service's
invoices (or, after a kill, exactly a prefix of them matching the saved resume point).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("aiosqlite", reason="the examples extra is not installed")

import pipeline_sqlite

from myreports_async import (
    MyReportsClient,
    ResumePoint,
    RetryPolicy,
    ServerError,
    TransportError,
)
from myreports_async.testing import FakeServer, FakeService, Fault

from .conftest import ClientFactory

PAGE_SIZE = 50
BATCH_SIZE = 40  # not a divisor of the page size: batches straddle page boundaries
GIVE_UP_FAST = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001)


@pytest.fixture
def service() -> FakeService:
    return FakeService(1030, seed=11)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "invoices.db"


async def sync(client: MyReportsClient, database: Path) -> pipeline_sqlite.SyncResult:
    return await pipeline_sqlite.sync_invoices(
        client, database, page_size=PAGE_SIZE, batch_size=BATCH_SIZE, prefetch=3
    )


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``condition()`` holds; fail after ``timeout`` seconds."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 (the states polled have no event)
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


def pages_requested(service: FakeService) -> list[int]:
    """The page of every list request the service received (in arrival order)."""
    return [r.page_index for r in service.list_requests() if r.page_index is not None]


def stored_ids(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return [row[0] for row in db.execute("SELECT invoice_id FROM invoices")]


def saved_point(database: Path) -> ResumePoint | None:
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT resume_point FROM sync_state").fetchall()
    assert len(rows) <= 1
    return ResumePoint.from_dict(json.loads(rows[0][0])) if rows else None


def assert_consistent(database: Path, service: FakeService) -> int:
    """The database holds exactly the prefix of the service's invoices that its resume
    point says were written (none without a point, unless the run had completed).
    Returns how many invoices it holds."""
    ids = stored_ids(database)
    assert len(ids) == len(set(ids))
    point = saved_point(database)
    if point is None:
        assert ids == [] or sorted(ids) == sorted(service.invoice_ids())
        return len(ids)
    done = point.page_index * point.page_size + point.offset
    assert sorted(ids) == sorted(service.invoice_ids()[:done])
    return done


def assert_complete(database: Path, service: FakeService) -> None:
    ids = stored_ids(database)
    assert len(ids) == service.invoice_count
    assert sorted(ids) == sorted(service.invoice_ids())
    assert saved_point(database) is None


async def test_full_run_stores_every_invoice_exactly(
    service: FakeService, make_client: ClientFactory, database: Path
) -> None:
    result = await sync(make_client(), database)

    assert result == pipeline_sqlite.SyncResult(written=service.invoice_count, resumed_from=None)
    assert_complete(database, service)
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = {row[0]: row for row in db.execute("SELECT * FROM invoices")}
    for index in (0, 1, 517, service.invoice_count - 1):
        source = service.invoice_json(index)
        row = rows[source["invoiceid"]]
        assert row[3] == source["customerName"]
        # Money is TEXT holding the number's exact decimal form, never a rounded REAL.
        assert isinstance(row[6], str)
        assert Decimal(row[6]) == Decimal(repr(source["invoiceValue"]))
        assert row[4].startswith(source["billingPeriodStart"][:19])


async def test_rerun_from_scratch_adds_no_duplicates(
    service: FakeService, make_client: ClientFactory, database: Path
) -> None:
    client = make_client()
    await sync(client, database)
    service.clear_requests()

    again = await sync(client, database)

    assert again.resumed_from is None  # a completed run leaves no point: a full refresh
    # Read-ahead requests reach the server in any order: page 0 is the lowest one asked.
    assert min(pages_requested(service)) == 0
    assert again.written == service.invoice_count
    assert_complete(database, service)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(503), ServerError),
        (Fault.drop(), TransportError),
    ],
    ids=["503-forever", "dropped-connection"],
)
async def test_run_killed_by_a_failing_page_resumes_where_it_stopped(
    service: FakeService,
    make_client: ClientFactory,
    database: Path,
    fault: Fault,
    error: type[Exception],
) -> None:
    service.inject(fault, route="list", page_index=9, times=None)

    with pytest.raises(error):
        await sync(make_client(retry=GIVE_UP_FAST), database)

    done = assert_consistent(database, service)
    # Everything before page 9 was yielded; whole batches of it were committed.
    assert 9 * PAGE_SIZE - BATCH_SIZE < done <= 9 * PAGE_SIZE
    point = saved_point(database)
    assert point is not None

    service.clear_faults()  # the service heals
    service.clear_requests()
    resumed = await sync(make_client(), database)

    assert resumed.resumed_from == point
    assert resumed.written == service.invoice_count - done
    assert min(pages_requested(service)) == point.page_index  # not page 0
    assert_complete(database, service)


@pytest.mark.parametrize("after_requests", [1, 4, 9, 15])
async def test_run_cancelled_at_any_moment_resumes_exactly(
    service: FakeService, make_client: ClientFactory, database: Path, after_requests: int
) -> None:
    """A kill from outside (cancellation) at various moments: whatever it interrupted,
    the file is consistent and the next run completes it."""
    client = make_client()
    run = asyncio.create_task(sync(client, database))
    await wait_until(lambda: len(service.list_requests()) >= after_requests or run.done())
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert_consistent(database, service)

    await sync(client, database)
    assert_complete(database, service)


async def test_resume_keeps_the_page_size_of_the_saved_point(
    service: FakeService, make_client: ClientFactory, database: Path
) -> None:
    service.inject(Fault.status(503), route="list", page_index=4, times=None)
    with pytest.raises(ServerError):
        await sync(make_client(retry=GIVE_UP_FAST), database)
    service.clear_faults()

    # Another page size would make the saved point meaningless: the saved one is used.
    await pipeline_sqlite.sync_invoices(make_client(), database, page_size=300)

    assert_complete(database, service)


async def test_main_reads_its_configuration_from_the_environment(
    service: FakeService,
    server: FakeServer,
    database: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MYREPORTS_TOKEN", "test-token")
    monkeypatch.setenv("MYREPORTS_BASE_URL", server.url)

    await pipeline_sqlite.main(str(database))

    assert f"{service.invoice_count} invoices written" in capsys.readouterr().out
    assert_complete(database, service)


def test_client_from_env_needs_a_token() -> None:
    with pytest.raises(SystemExit, match="MYREPORTS_TOKEN"):
        pipeline_sqlite.client_from_env({})

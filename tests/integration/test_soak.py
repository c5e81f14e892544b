"""Fault soak: stream many invoices while the fake service injects ~5% transient faults.

The normal suite streams 100,000 invoices; ``nox -s soak`` sets
``MYREPORTS_SOAK_INVOICES=1000000``. The result must be exactly the service's ids in
order: no loss, no duplicate, whatever the faults.
"""

from __future__ import annotations

import collections
import os
import time

import attrs

from myreports_async import MyReportsClient, RetryPolicy
from myreports_async.testing import RANDOM_FAULT_KINDS, FakeServer, FakeService

SOAK_INVOICES = int(os.environ.get("MYREPORTS_SOAK_INVOICES", "100000"))
SOAK_SEED = int(os.environ.get("MYREPORTS_SOAK_SEED", "20261125"))
FAULT_RATE = 0.05
CLIENT_TIMEOUT_S = 0.2  # the "slow" faults wait longer than this
SLOW_FAULT_S = 0.4


@attrs.frozen
class SoakReport:
    invoices: int
    requests: int
    retries: int
    faults: dict[str, int]
    lost: int
    duplicates: int
    out_of_order: bool
    seconds: float

    def __str__(self) -> str:
        faults = ", ".join(f"{kind} {self.faults.get(kind, 0)}" for kind in RANDOM_FAULT_KINDS)
        return (
            f"soak: {self.invoices:,} invoices in {self.seconds:.1f}s; {self.requests:,} list "
            f"requests, {self.retries:,} retries; faults injected: {faults} "
            f"(total {sum(self.faults.values())}); lost {self.lost}, duplicates "
            f"{self.duplicates}, order {'WRONG' if self.out_of_order else 'exact'}"
        )


async def soak(
    invoice_count: int, *, page_size: int, prefetch: int = 8, seed: int = SOAK_SEED
) -> SoakReport:
    service = FakeService(invoice_count, seed=seed)
    service.random_faults(FAULT_RATE, seed=seed, slow_seconds=SLOW_FAULT_S, retry_after=0.01)
    retry = RetryPolicy(max_attempts=10, initial_backoff=0.001, max_backoff=0.01)
    started = time.perf_counter()
    ids: list[str] = []
    async with (
        FakeServer(service) as server,
        MyReportsClient(
            "test-token", base_url=server.url, retry=retry, timeout=CLIENT_TIMEOUT_S
        ) as client,
    ):
        async for invoice in client.iter_invoices(page_size=page_size, prefetch=prefetch):
            ids.append(invoice.invoice_id)
    seconds = time.perf_counter() - started
    expected = service.invoice_ids()
    requests = service.list_requests()
    pages = {r.page_index for r in requests}
    seen = collections.Counter(ids)
    return SoakReport(
        invoices=len(ids),
        requests=len(requests),
        retries=len(requests) - len(pages),
        faults=dict(service.random_fault_counts),
        lost=len(set(expected) - set(seen)),
        duplicates=sum(count - 1 for count in seen.values()),
        out_of_order=ids != expected,
        seconds=seconds,
    )


async def test_soak_streams_every_invoice_exactly_once_through_random_faults() -> None:
    # Page size 100 in the normal suite: 1,000 pages, so about 50 faults of all kinds.
    page_size = 100 if SOAK_INVOICES <= 200_000 else 500
    report = await soak(SOAK_INVOICES, page_size=page_size)
    print(f"\n{report}")
    assert report.lost == 0
    assert report.duplicates == 0
    assert not report.out_of_order
    assert report.invoices == SOAK_INVOICES
    assert set(report.faults) == set(RANDOM_FAULT_KINDS), report
    assert report.retries >= sum(report.faults.values()) - report.faults["drop_before_headers"]

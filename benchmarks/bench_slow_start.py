"""What the limiter's slow start costs a listing with no rate limit.

Usage::

    python benchmarks/bench_slow_start.py                # 7 runs of each, 0 and 20 ms
    python benchmarks/bench_slow_start.py --repeats 3

The client lists 200,000 invoices (pages of 1,000, prefetch 8) from the listing
benchmark's server (``_server.py``, in its own process), alternating two limiters in the
same minutes: the default ``RateLimiter()``, which starts with 2 attempts in flight and
doubles per round trip until a refusal (Rule 3 of ``myreports_async._concurrency``), and
``RateLimiter(adaptive=False)``, which sends the whole read-ahead at once. The server
never refuses, so the difference is the slow start's. Reported: invoices per second,
median and range, at 0 and 20 ms per answer. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench_listing import TOKEN, server_process

from myreports_async import MyReportsClient, RateLimiter, RetryPolicy

INVOICES = 200_000
PAGE_SIZE = 1000
PREFETCH = 8


async def listing(base_url: str, *, adaptive: bool) -> float:
    """Seconds to list every invoice once; raises if one is missing."""
    limiter = RateLimiter(adaptive=adaptive)
    retry = RetryPolicy(max_attempts=1)  # a failure must show, not be retried away
    count = 0
    start = time.perf_counter()
    async with MyReportsClient(
        TOKEN, base_url=base_url, retry=retry, rate_limiter=limiter
    ) as client:
        async for _ in client.iter_invoices(page_size=PAGE_SIZE, prefetch=PREFETCH):
            count += 1
    seconds = time.perf_counter() - start
    if count != INVOICES:
        raise RuntimeError(f"listed {count} invoices, not {INVOICES}")
    return seconds


def line(latency_ms: int, name: str, seconds: list[float]) -> str:
    rates = sorted(INVOICES / s for s in seconds)
    return (
        f"| {latency_ms} ms | {name} | {INVOICES / statistics.median(seconds):,.0f} "
        f"| {rates[0]:,.0f} to {rates[-1]:,.0f} |"
    )


async def main_async(repeats: int) -> str:
    rows = [
        "| latency | limiter | invoices/s (median) | min to max |",
        "| ---: | --- | ---: | ---: |",
    ]
    with server_process(INVOICES, PAGE_SIZE) as server:
        for latency_ms in (20, 0):
            base = server.base_url(latency_ms, INVOICES)
            await listing(base, adaptive=True)  # a warm-up, not counted
            runs: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(repeats):
                for adaptive in (True, False):
                    runs[adaptive].append(await listing(base, adaptive=adaptive))
            rows.append(line(latency_ms, "`RateLimiter()` (slow start)", runs[True]))
            rows.append(line(latency_ms, "`RateLimiter(adaptive=False)`", runs[False]))
    header = (
        f"{INVOICES:,} invoices, pages of {PAGE_SIZE:,}, prefetch {PREFETCH}, no rate limit, "
        f"{repeats} alternated runs of each:"
    )
    return header + "\n\n" + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each limiter (7)")
    args = parser.parse_args()
    print(asyncio.run(main_async(args.repeats)))


if __name__ == "__main__":
    main()

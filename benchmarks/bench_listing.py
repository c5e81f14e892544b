"""Listing throughput, decoding, rate limits and memory: the client against plain loops.

Usage (``nox -s bench`` runs the first with ``--write-docs``)::

    python benchmarks/bench_listing.py                 # the full run (200,000 invoices)
    python benchmarks/bench_listing.py --quick         # a small smoke run
    python benchmarks/bench_listing.py --profile       # plus a cProfile of the client
    python benchmarks/bench_listing.py --write-docs    # also docs/performance.md and .png

A local server process (``_server.py``) serves pre-serialized pages, immediately or after
a per-request delay, selected by a path prefix of the base URL, so every configuration is
measured side by side in one run against one server. Measured:

1. invoices/s for (a) a plain aiohttp loop, sequential pages, ``await resp.json()`` into
   dicts, (b) the same loop validating each page into pydantic v2 models
   (``TypeAdapter.validate_json``), (c) a plain httpx loop into dicts, and (d)
   ``MyReportsClient.iter_invoices`` (typed records) at prefetch 1, 4 and 8, each at 0 ms
   and 20 ms; every configuration runs ``--repeats`` times, interleaved, and the median is
   reported;
2. peak memory of streaming N and 5N invoices through the client (prefetch 4), each in a
   fresh subprocess: peak RSS above the peak after imports (the highest of
   ``--memory-repeats`` processes), and tracemalloc's peak (one process);
3. a rate limit: 20 requests/s (token bucket, burst 1, 429 with Retry-After) at 20 ms,
   the client at prefetch 8 with its adaptive window against the same with a fixed window
   of 8: time against the ideal (pages / rate) and the share of requests answered 429;
4. the decode cost of one page body, side by side: the client's codec, pydantic v2 and
   msgspec (the practical floor) into equivalent classes;
5. the targets, PASS/FAIL (informative: the exit status is 0 either way).

Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import _server
import aiohttp
import attrs
import httpx
import msgspec
import orjson
import pydantic
from _memory import measure_peak
from _process import server_child

import myreports_async
from myreports_async import MyReportsClient, RateLimiter, RetryPolicy
from myreports_async._codec import decode_invoice_page as decode_page

HERE = Path(__file__).resolve().parent
TOKEN = "benchmark-token"  # noqa: S105 - the loopback server accepts any bearer token
LATENCIES_MS = (0, 20)
PREFETCHES = (1, 4, 8)
MEMORY_PREFETCH = 4
DEFAULT_PREFETCH = 4  # iter_invoices' default
# The package modules a listing runs through (their hash is printed with the report).
LISTING_MODULES = (
    "_client.py",
    "_codec.py",
    "_concurrency.py",
    "_models.py",
    "_paginate.py",
    "_paging.py",
    "_protocol.py",
    "_retry.py",
    "_session.py",
)

# The targets the numbers are checked against.
TARGET_PREFETCH8_AT_20MS = 7.0  # prefetch 8 vs the plain sequential loop, at 20 ms
TARGET_MEMORY_GROWTH = 0.10  # peak memory at 5N within 10% of N
TARGET_CLIENT_AT_0MS = 1.2  # the client at prefetch 1 vs the plain loop, at 0 ms
TARGET_PREFETCH_AT_0MS = 1  # the prefetch that target is about
TARGET_RATE_TIME = 1.25  # adaptive listing time vs the ideal (pages / rate)
TARGET_RATE_429 = 0.10  # share of requests answered 429, adaptive

# The rate-limit scenario.
RATE_LIMIT = 20.0  # requests per second
RATE_LATENCY_MS = 20
RATE_PREFETCH = 8
RATE_BURST = 5  # requests the bucket holds: a quarter of a second at 20 requests/s


# --- the server process --------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    port: int
    body_bytes: int

    def base_url(self, delay_ms: int, count: int) -> str:
        return f"http://127.0.0.1:{self.port}/d/{delay_ms}/n/{count}"


@contextmanager
def server_process(total: int, page_size: int) -> Iterator[Server]:
    """Start ``_server.py`` in its own process; it stops when its stdin is closed."""
    argv = [sys.executable, str(HERE / "_server.py"), "--invoices", str(total)]
    argv += ["--page-size", str(page_size)]
    with server_child(argv, fields=2, what="the benchmark server") as ready:
        yield Server(port=int(ready[0]), body_bytes=int(ready[1]))


# --- the two consumers ---------------------------------------------------------------


async def plain_loop(base_url: str, page_size: int) -> int:
    """The baseline: sequential pages with plain aiohttp, ``resp.json()`` into dicts.

    It stops on an empty page or one shorter than the largest seen, like the client.
    """
    url = f"{base_url}/api/v1.0/billingdata"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    count = 0
    largest = 0
    index = 0
    last_id = None
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            params = {"pageIndex": str(index), "pageSize": str(page_size)}
            async with session.get(url, params=params) as resp:
                resp.raise_for_status()
                body = await resp.json()
            data = body["data"]
            for item in data:
                last_id = item["invoiceid"]
                count += 1
            if not data or len(data) < largest:
                break
            largest = max(largest, len(data))
            index += 1
    _check_last(last_id, count)
    return count


async def client_loop(base_url: str, page_size: int, prefetch: int) -> int:
    """The client: typed ``Invoice`` records, ``prefetch`` pages in flight."""
    count = 0
    last_id = None
    retry = RetryPolicy(max_attempts=1)  # a failure must show, not be retried away
    async with MyReportsClient(TOKEN, base_url=base_url, retry=retry) as client:
        async for invoice in client.iter_invoices(page_size=page_size, prefetch=prefetch):
            last_id = invoice.invoice_id
            count += 1
    _check_last(last_id, count)
    return count


# The parse floor: the plain loop with a faster parser, still into plain dicts.
MSGSPEC_DICTS = msgspec.json.Decoder(float_hook=Decimal)  # exact numbers, as the client


async def _dict_loop(base_url: str, page_size: int, parse: Callable[[bytes], Any]) -> int:
    """The plain aiohttp loop, each body parsed into dicts by ``parse``."""
    url = f"{base_url}/api/v1.0/billingdata"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    count = largest = index = 0
    last_id = None
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            params = {"pageIndex": str(index), "pageSize": str(page_size)}
            async with session.get(url, params=params) as resp:
                resp.raise_for_status()
                body = await resp.read()
            data = parse(body)["data"]
            for item in data:
                last_id = item["invoiceid"]
                count += 1
            if not data or len(data) < largest:
                break
            largest = max(largest, len(data))
            index += 1
    _check_last(last_id, count)
    return count


async def msgspec_dict_loop(base_url: str, page_size: int) -> int:
    """The parse floor with exact numbers: msgspec dicts, ``float_hook=Decimal``."""
    return await _dict_loop(base_url, page_size, MSGSPEC_DICTS.decode)


async def orjson_dict_loop(base_url: str, page_size: int) -> int:
    """The parse floor with floats: orjson dicts."""
    return await _dict_loop(base_url, page_size, orjson.loads)


class PydanticInvoice(pydantic.BaseModel):
    """The same record as ``Invoice``, as a frozen pydantic v2 model."""

    model_config = pydantic.ConfigDict(frozen=True)

    invoice_id: str = pydantic.Field(alias="invoiceid")
    tenant_id: str | None = pydantic.Field(None, alias="tenantId")
    invoice_number: str | None = pydantic.Field(None, alias="invoiceNumber")
    customer_name: str | None = pydantic.Field(None, alias="customerName")
    billing_period_start: datetime | None = pydantic.Field(None, alias="billingPeriodStart")
    billing_period_end: datetime | None = pydantic.Field(None, alias="billingPeriodEnd")
    invoice_value: Decimal | None = pydantic.Field(None, alias="invoiceValue")


class PydanticPage(pydantic.BaseModel):
    data: list[PydanticInvoice]
    timestamp: datetime | None = None


PYDANTIC_PAGE = pydantic.TypeAdapter(PydanticPage)


@attrs.frozen
class MsgspecInvoice:
    """The same attrs record, with the JSON keys as attribute names: msgspec decodes attrs
    classes by attribute name and has no rename for them."""

    invoiceid: str
    tenantId: str | None = None
    invoiceNumber: str | None = None
    customerName: str | None = None
    billingPeriodStart: datetime | None = None
    billingPeriodEnd: datetime | None = None
    invoiceValue: Decimal | None = None


class MsgspecPage(msgspec.Struct):
    data: list[MsgspecInvoice]
    timestamp: datetime | None = None


MSGSPEC_PAGE = msgspec.json.Decoder(MsgspecPage)


async def pydantic_loop(base_url: str, page_size: int) -> int:
    """The plain aiohttp loop, each page validated into pydantic models from its bytes."""
    url = f"{base_url}/api/v1.0/billingdata"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    count = largest = index = 0
    last_id = None
    async with aiohttp.ClientSession(headers=headers) as session:
        while True:
            params = {"pageIndex": str(index), "pageSize": str(page_size)}
            async with session.get(url, params=params) as resp:
                resp.raise_for_status()
                body = await resp.read()
            data = PYDANTIC_PAGE.validate_json(body).data
            for item in data:
                last_id = item.invoice_id
                count += 1
            if not data or len(data) < largest:
                break
            largest = max(largest, len(data))
            index += 1
    _check_last(last_id, count)
    return count


async def httpx_loop(base_url: str, page_size: int) -> int:
    """A plain httpx loop: sequential pages, ``resp.json()`` into dicts."""
    url = f"{base_url}/api/v1.0/billingdata"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    count = largest = index = 0
    last_id = None
    async with httpx.AsyncClient(headers=headers) as session:
        while True:
            params = {"pageIndex": str(index), "pageSize": str(page_size)}
            resp = await session.get(url, params=params)
            resp.raise_for_status()
            data = resp.json()["data"]
            for item in data:
                last_id = item["invoiceid"]
                count += 1
            if not data or len(data) < largest:
                break
            largest = max(largest, len(data))
            index += 1
    _check_last(last_id, count)
    return count


def _check_last(last_id: str | None, count: int) -> None:
    expected = f"{count - 1:024x}" if count else None
    if last_id != expected:
        raise RuntimeError(f"stream out of order: last id {last_id!r} after {count} invoices")


# --- throughput ----------------------------------------------------------------------


@dataclass
class Config:
    name: str
    latency_ms: int
    prefetch: int | None  # None: one of the plain loops
    loop: Callable[[str, int], Awaitable[int]] | None = None  # the plain loop, if one
    rates: list[float] = field(default_factory=list)
    gc_us: list[float] = field(default_factory=list)  # collector time, µs per invoice
    full_collections: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


PLAIN = "plain aiohttp, sequential, resp.json() dicts"
PYDANTIC = "plain aiohttp, sequential, pydantic v2 models"
HTTPX = "plain httpx, sequential, resp.json() dicts"
MSGSPEC_FLOOR = "plain aiohttp, sequential, msgspec dicts (exact numbers)"
ORJSON_FLOOR = "plain aiohttp, sequential, orjson dicts (floats)"


def configurations() -> list[Config]:
    configs: list[Config] = []
    for latency in LATENCIES_MS:
        configs.append(Config(PLAIN, latency, None, plain_loop))
        configs.append(Config(PYDANTIC, latency, None, pydantic_loop))
        configs.append(Config(HTTPX, latency, None, httpx_loop))
        configs.append(Config(MSGSPEC_FLOOR, latency, None, msgspec_dict_loop))
        configs.append(Config(ORJSON_FLOOR, latency, None, orjson_dict_loop))
        configs.extend(
            Config(f"client, typed records, prefetch {p}", latency, p) for p in PREFETCHES
        )
    return configs


def _runner(config: Config, server: Server, count: int, page_size: int) -> Awaitable[int]:
    base = server.base_url(config.latency_ms, count)
    if config.loop is not None:
        return config.loop(base, page_size)
    assert config.prefetch is not None
    return client_loop(base, page_size, config.prefetch)


class GcMeter:
    """Time in the garbage collector, and collections per generation, while entered."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcMeter:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)


async def _timed(run: Awaitable[int], expected: int, config: Config) -> float:
    """Invoices per second of one run (``run`` is a coroutine not yet started); the
    collector's share goes to ``config``."""
    gc.collect()
    with GcMeter() as meter:
        start = time.perf_counter()
        count = await run
        elapsed = time.perf_counter() - start
    if count != expected:
        raise RuntimeError(f"streamed {count} invoices, expected {expected}")
    config.gc_us.append(meter.seconds / count * 1e6)
    config.full_collections.append(meter.collections[2])
    return count / elapsed


async def measure_throughput(
    server: Server, *, invoices: int, page_size: int, repeats: int
) -> list[Config]:
    configs = configurations()
    # Warm up both paths (imports, connection pools, the codec) on a few pages.
    warm = min(invoices, 5 * page_size)
    for config in configs:
        if config.latency_ms == 0:
            await _runner(config, server, warm, page_size)
    for repeat in range(repeats):
        # Interleaved, starting at a different configuration each round, so that a slow
        # spell of the machine does not land on one configuration only.
        shift = repeat % len(configs)
        for config in configs[shift:] + configs[:shift]:
            rate = await _timed(_runner(config, server, invoices, page_size), invoices, config)
            config.rates.append(rate)
            print(
                f"  run {repeat + 1}/{repeats}  {config.latency_ms:>2} ms  "
                f"{config.name:<46} {rate:>10,.0f} invoices/s",
                file=sys.stderr,
                flush=True,
            )
    return configs


def plain_for(configs: Sequence[Config], latency_ms: int, name: str = PLAIN) -> Config:
    return next(c for c in configs if c.latency_ms == latency_ms and c.name == name)


def throughput_table(configs: Sequence[Config]) -> str:
    rows = [
        "| latency | configuration | invoices/s (median) | min to max | x plain "
        "| GC µs/invoice | full GCs |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for config in configs:
        plain = plain_for(configs, config.latency_ms)
        ratio = config.median / plain.median
        rows.append(
            f"| {config.latency_ms} ms | {config.name} | {config.median:,.0f} "
            f"| {min(config.rates):,.0f} to {max(config.rates):,.0f} | {ratio:.2f}x "
            f"| {statistics.median(config.gc_us):.3f} "
            f"| {statistics.median(config.full_collections):g} |"
        )
    return "\n".join(rows)


# --- the rate limit ------------------------------------------------------------------


@dataclass
class RateRun:
    """One listing against the rate-limited route."""

    seconds: float
    requests: int
    throttled: int


@dataclass
class RateConfig:
    name: str
    adaptive: bool
    runs: list[RateRun] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def median_429_share(self) -> float:
        return statistics.median(r.throttled / r.requests for r in self.runs)


async def rate_limited_listing(base_url: str, page_size: int, *, adaptive: bool) -> RateRun:
    """The client at prefetch 8 against the token bucket, counting every answer's status."""
    statuses: list[int] = []

    async def on_request_end(
        session: aiohttp.ClientSession, context: object, params: aiohttp.TraceRequestEndParams
    ) -> None:
        statuses.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    # Enough attempts that no page gives up while the window looks for the limit.
    retry = RetryPolicy(max_attempts=1000, initial_backoff=0.01, max_backoff=0.1)
    count = 0
    last_id = None
    start = time.perf_counter()
    # Not adaptive: a fixed window of 8, what the client did before it adapted.
    limiter = None if adaptive else RateLimiter(max_concurrency=RATE_PREFETCH, adaptive=False)
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        MyReportsClient(
            TOKEN, base_url=base_url, retry=retry, session=session, rate_limiter=limiter
        ) as client,
    ):
        async for invoice in client.iter_invoices(page_size=page_size, prefetch=RATE_PREFETCH):
            last_id = invoice.invoice_id
            count += 1
    elapsed = time.perf_counter() - start
    _check_last(last_id, count)
    return RateRun(elapsed, len(statuses), statuses.count(429))


async def measure_rate_limit(
    server: Server, *, invoices: int, page_size: int, repeats: int
) -> list[RateConfig]:
    configs = [
        RateConfig(f"client prefetch {RATE_PREFETCH}, adaptive window", adaptive=True),
        RateConfig(f"client prefetch {RATE_PREFETCH}, fixed window of 8", adaptive=False),
    ]
    for repeat in range(repeats):
        for config in configs if repeat % 2 == 0 else configs[::-1]:
            # A fresh bucket for every run: each starts from the same (full) bucket.
            base = (
                f"{server.base_url(RATE_LATENCY_MS, invoices)}/r/{RATE_LIMIT:g}/{RATE_BURST}/"
                f"{'a' if config.adaptive else 'f'}{repeat}"
            )
            run = await rate_limited_listing(base, page_size, adaptive=config.adaptive)
            config.runs.append(run)
            print(
                f"  rate run {repeat + 1}/{repeats}  {config.name:<40} {run.seconds:6.2f} s  "
                f"{run.throttled}/{run.requests} answered 429",
                file=sys.stderr,
                flush=True,
            )
    return configs


def rate_ideal_seconds(invoices: int, page_size: int) -> float:
    """Pages (the last, empty one included) divided by the rate."""
    return (invoices // page_size + 1) / RATE_LIMIT


def rate_table(configs: Sequence[RateConfig], invoices: int, page_size: int) -> str:
    ideal = rate_ideal_seconds(invoices, page_size)
    rows = [
        f"| {RATE_LIMIT:g} requests/s (burst {RATE_BURST}), {RATE_LATENCY_MS} ms, "
        f"{invoices:,} invoices (ideal {ideal:.2f} s) | seconds (median) | x ideal "
        "| requests | answered 429 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for c in configs:
        requests = statistics.median(r.requests for r in c.runs)
        rows.append(
            f"| {c.name} | {c.median_seconds:.2f} | {c.median_seconds / ideal:.2f}x "
            f"| {requests:,.0f} | {c.median_429_share:.1%} |"
        )
    return "\n".join(rows)


# --- memory (each measurement in a fresh subprocess) ---------------------------------


async def _memory_child(base_url: str, count: int, page_size: int, mode: str) -> dict[str, float]:
    return await measure_peak(
        lambda: client_loop(base_url, page_size, MEMORY_PREFETCH),
        expected=count,
        mode=mode,
        what="invoices",
    )


def memory_in_subprocess(base_url: str, count: int, page_size: int, mode: str) -> dict[str, float]:
    # Fixed argv: this interpreter and this very script.
    out = subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--memory-child",
            mode,
            "--child-url",
            base_url,
            "--invoices",
            str(count),
            "--page-size",
            str(page_size),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


@dataclass(frozen=True)
class Memory:
    """Peak memory of streaming N and 5N invoices, one figure per fresh process.

    The figure compared is the highest of the processes: a peak varies from run to run
    by about a page's worth of records (how many page bodies and decoded pages happen to
    be alive at the same instant), and a bound is about the worst case.
    """

    mode: str
    small: list[float]  # peak KiB of each process at N
    large: list[float]  # peak KiB of each process at 5N

    @property
    def ratio(self) -> float:
        return max(self.large) / max(self.small) if max(self.small) > 0 else float("inf")


def measure_memory(server: Server, *, invoices: int, page_size: int, repeats: int) -> list[Memory]:
    """Peak RSS (``repeats`` fresh processes each) and tracemalloc's peak (one each)."""
    results = []
    for mode, runs in (("rss", repeats), ("tracemalloc", 1)):
        small: list[float] = []
        large: list[float] = []
        for _ in range(runs):
            for n, into in ((invoices, small), (5 * invoices, large)):
                child = memory_in_subprocess(server.base_url(0, n), n, page_size, mode)
                into.append(child["peak_kib"])
        results.append(Memory(mode, small, large))
        print(f"  memory ({mode}) N: {small} KiB, 5N: {large} KiB", file=sys.stderr, flush=True)
    return results


def _mib(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0] / 1024:,.2f} MiB"
    return (
        f"{max(values) / 1024:,.2f} MiB (runs {min(values) / 1024:,.2f} "
        f"to {max(values) / 1024:,.2f})"
    )


def memory_table(results: Sequence[Memory], invoices: int) -> str:
    rows = [
        f"| measure (prefetch {MEMORY_PREFETCH}, 0 ms) | N = {invoices:,} "
        f"| 5N = {5 * invoices:,} | 5N / N |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.mode == "rss":
            what = (
                "peak RSS above the peak after imports (VmHWM), "
                f"highest of {len(r.small)} processes"
            )
        else:
            what = f"tracemalloc peak (Python allocations), {len(r.small)} process"
        rows.append(f"| {what} | {_mib(r.small)} | {_mib(r.large)} | {r.ratio:.3f} |")
    return "\n".join(rows)


# --- decode cost, in-process ---------------------------------------------------------


CLIENT_DECODE = "client page decode (msgspec typed, exact money, to attrs records)"
MSGSPEC_DICTS_DECODE = "msgspec json.decode, dicts, float_hook=Decimal"
PYDANTIC_DECODE = "pydantic v2 TypeAdapter(page model).validate_json"
MSGSPEC_DECODE = "msgspec json.decode into an equivalent attrs class"


def decode_costs(page_size: int, rounds: int = 5, number: int = 20) -> dict[str, float]:
    """µs per record of turning one page body into records, without any I/O.

    Each step runs ``number`` times per round, rounds interleaved across the steps, and
    the median of the ``rounds`` is kept (the same page bytes for every step). Uses a
    private module of the package: it is a diagnosis, not the contract.
    """
    body = _server.page_body(0, [_server.invoice_dict(i) for i in range(page_size)])
    steps: dict[str, Callable[[], object]] = {
        "json.loads (stdlib; what resp.json() runs)": lambda: json.loads(body),
        "orjson.loads (dicts only)": lambda: orjson.loads(body),
        MSGSPEC_DICTS_DECODE: lambda: MSGSPEC_DICTS.decode(body),
        CLIENT_DECODE: lambda: decode_page(body, index=0),
        PYDANTIC_DECODE: lambda: PYDANTIC_PAGE.validate_json(body),
        MSGSPEC_DECODE: lambda: MSGSPEC_PAGE.decode(body),
    }
    for step in steps.values():
        step()  # warm: caches, lazily built validators
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                step()
            samples[name].append((time.perf_counter() - start) / number / page_size * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def decode_table(costs: dict[str, float], page_size: int) -> str:
    client = costs[CLIENT_DECODE]
    rows = [
        f"| one page of {page_size} invoices, bytes to records | µs per record (median) "
        "| client / this |",
        "| --- | ---: | ---: |",
    ]
    for name, cost in costs.items():
        rows.append(f"| {name} | {cost:.2f} | {client / cost:.2f} |")
    return "\n".join(rows)


# --- profile -------------------------------------------------------------------------


async def profile_client(server: Server, *, invoices: int, page_size: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    await client_loop(server.base_url(0, invoices), page_size, 4)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(20)
    return text.getvalue()


# --- the report ----------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, {platform.system()} {platform.release()}"
    )


def code_fingerprint() -> str:
    """A short hash of the modules on the listing path: the code this benchmark measures."""
    digest = hashlib.sha256()
    root = Path(myreports_async.__file__).resolve().parent
    for name in LISTING_MODULES:
        path = root / name
        if path.exists():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


@dataclass
class Results:
    invoices: int
    page_size: int
    repeats: int
    memory_n: int
    rate_invoices: int
    configs: list[Config]
    memory: list[Memory]
    rates: list[RateConfig]
    decode: dict[str, float]


def _ratio(configs: Sequence[Config], latency_ms: int, prefetch: int) -> float:
    client = next(c for c in configs if c.latency_ms == latency_ms and c.prefetch == prefetch)
    return client.median / plain_for(configs, latency_ms).median


def targets(r: Results) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    at0 = {p: _ratio(r.configs, 0, p) for p in PREFETCHES}
    others = ", ".join(f"prefetch {p}: {x:.2f}x" for p, x in at0.items())
    floor = plain_for(r.configs, 0, MSGSPEC_FLOOR).median / plain_for(r.configs, 0).median
    checks.append(
        (
            at0[TARGET_PREFETCH_AT_0MS] >= TARGET_CLIENT_AT_0MS,
            f"0 ms: client (typed, exact records, prefetch {TARGET_PREFETCH_AT_0MS}) >= "
            f"{TARGET_CLIENT_AT_0MS:g}x the plain dict loop ({others}; the msgspec dict "
            f"loop, the parse floor: {floor:.2f}x)",
        )
    )
    pydantic0 = plain_for(r.configs, 0, PYDANTIC).median
    client0 = next(c for c in r.configs if c.latency_ms == 0 and c.prefetch == DEFAULT_PREFETCH)
    checks.append(
        (
            client0.median > pydantic0,
            f"0 ms: client (prefetch {DEFAULT_PREFETCH}) ahead of the pydantic loop "
            f"({client0.median / pydantic0:.2f}x it)",
        )
    )
    p8 = _ratio(r.configs, 20, 8)
    checks.append(
        (
            p8 >= TARGET_PREFETCH8_AT_20MS,
            f"20 ms: client prefetch 8 >= {TARGET_PREFETCH8_AT_20MS:g}x the plain sequential "
            f"loop ({p8:.2f}x; prefetch 4: {_ratio(r.configs, 20, 4):.2f}x)",
        )
    )
    for m in r.memory:
        checks.append(
            (
                m.ratio <= 1 + TARGET_MEMORY_GROWTH,
                f"peak memory at 5N within {TARGET_MEMORY_GROWTH:.0%} of N, {m.mode} "
                f"({m.ratio:.3f})",
            )
        )
    ideal = rate_ideal_seconds(r.rate_invoices, r.page_size)
    adaptive, fixed = r.rates
    checks.append(
        (
            adaptive.median_seconds <= TARGET_RATE_TIME * ideal,
            f"rate limit: adaptive listing within {TARGET_RATE_TIME:g}x the ideal time "
            f"({adaptive.median_seconds / ideal:.2f}x; fixed window "
            f"{fixed.median_seconds / ideal:.2f}x)",
        )
    )
    checks.append(
        (
            adaptive.median_429_share < TARGET_RATE_429
            and fixed.median_429_share > adaptive.median_429_share,
            f"rate limit: adaptive under {TARGET_RATE_429:.0%} answered 429 "
            f"({adaptive.median_429_share:.1%}; fixed window {fixed.median_429_share:.1%})",
        )
    )
    client = r.decode[CLIENT_DECODE]
    checks.append(
        (
            client < r.decode[PYDANTIC_DECODE],
            f"decode: client per record below pydantic's ({client:.2f} vs "
            f"{r.decode[PYDANTIC_DECODE]:.2f} µs; msgspec, the floor: "
            f"{r.decode[MSGSPEC_DECODE]:.2f} µs: client = "
            f"{client / r.decode[MSGSPEC_DECODE]:.1f}x msgspec)",
        )
    )
    return checks


def plot(r: Results, path: Path) -> None:
    """Three panels, one above the other so they stay readable at the page's width:
    invoices/s at 0 ms and at 20 ms, and the rate-limit scenario. Every figure is in a
    bar's label or an axis label, never inside the plot area where a line could cross it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11})
    rows_per_panel = len([c for c in r.configs if c.latency_ms == LATENCIES_MS[0]])
    fig, axes = plt.subplots(
        3, 1, figsize=(9, 12), gridspec_kw={"height_ratios": [rows_per_panel] * 2 + [2.5]}
    )
    for ax, latency in zip(axes[:2], LATENCIES_MS, strict=True):
        rows = [c for c in r.configs if c.latency_ms == latency]
        labels = [c.name.replace(", sequential", "").replace("typed records, ", "") for c in rows]
        values = [c.median / 1000 for c in rows]
        colors = ["#999999" if c.prefetch is None else "#1f77b4" for c in rows]
        bars = ax.barh(labels[::-1], values[::-1], color=colors[::-1])
        plain = plain_for(r.configs, latency).median
        for bar, c in zip(bars, rows[::-1], strict=True):
            ax.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {c.median / plain:.2f}x",
                va="center",
            )
        ax.set_title(f"{latency} ms per request")
        ax.set_xlabel("thousand invoices per second (label: x the resp.json() dict loop)")
        ax.set_xlim(0, max(values) * 1.2)
    ax = axes[2]
    ideal = rate_ideal_seconds(r.rate_invoices, r.page_size)
    times = [c.median_seconds / ideal for c in r.rates]
    names = [
        f"{name}\n{t:.2f}x ideal, {c.median_429_share:.0%} refused (429)"
        for name, t, c in zip(["adaptive window", "fixed window of 8"], times, r.rates, strict=True)
    ]
    ax.barh(names[::-1], times[::-1], color=["#999999", "#1f77b4"])
    ax.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlim(0, max(1.3, *(t * 1.1 for t in times)))
    ax.set_title(f"Rate limit: {RATE_LIMIT:g} requests/s, {RATE_LATENCY_MS} ms per request")
    ax.set_xlabel("listing time / ideal time (dashed line: the ideal)")
    fig.suptitle(f"Listing benchmark, pages of {r.page_size}: {machine()}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(r: Results, *, command: str, header: str, total_s: float) -> str:
    """The markdown report (also the generated part of docs/performance.md)."""
    at0 = _ratio(r.configs, 0, TARGET_PREFETCH_AT_0MS)
    at0_default = _ratio(r.configs, 0, DEFAULT_PREFETCH)
    plain0 = plain_for(r.configs, 0).median
    pyd0 = plain_for(r.configs, 0, PYDANTIC).median / plain0
    floor0 = plain_for(r.configs, 0, MSGSPEC_FLOOR).median / plain0
    orjson0 = plain_for(r.configs, 0, ORJSON_FLOOR).median / plain0
    ideal = rate_ideal_seconds(r.rate_invoices, r.page_size)
    adaptive, fixed = r.rates
    headline = (
        f"- **0 ms:** the client (typed records, exact money, prefetch "
        f"{TARGET_PREFETCH_AT_0MS}) runs at **{at0:.2f}x** a plain aiohttp loop that only "
        f"builds dicts with `resp.json()` (prefetch {DEFAULT_PREFETCH}: {at0_default:.2f}x); "
        f"the same loop parsing with msgspec (exact numbers, the parse floor) runs at "
        f"{floor0:.2f}x, with orjson {orjson0:.2f}x, with pydantic models {pyd0:.2f}x.\n"
        f"- **20 ms:** prefetch 8 is **{_ratio(r.configs, 20, 8):.2f}x** the plain sequential "
        f"loop, prefetch 4 {_ratio(r.configs, 20, 4):.2f}x.\n"
        f"- **Rate limit ({RATE_LIMIT:g} requests/s, {RATE_LATENCY_MS} ms):** the adaptive "
        f"window lists in **{adaptive.median_seconds / ideal:.2f}x** the ideal time with "
        f"**{adaptive.median_429_share:.1%}** of requests answered 429; a fixed window of 8: "
        f"{fixed.median_seconds / ideal:.2f}x with {fixed.median_429_share:.1%}.\n"
        f"- **Decoding:** {r.decode[CLIENT_DECODE]:.2f} µs per record from bytes, against "
        f"pydantic's {r.decode[PYDANTIC_DECODE]:.2f} "
        f"({r.decode[CLIENT_DECODE] / r.decode[PYDANTIC_DECODE]:.2f}x) and msgspec's "
        f"{r.decode[MSGSPEC_DECODE]:.2f} "
        f"({r.decode[CLIENT_DECODE] / r.decode[MSGSPEC_DECODE]:.1f}x).\n"
        f"- **Memory:** peak at 5N / N = "
        + ", ".join(f"{m.ratio:.2f} ({m.mode})" for m in r.memory)
        + "."
    )
    parts = [
        "## Headline\n",
        headline,
        "\n![Throughput at 0 and 20 ms, and the rate-limit scenario](performance.png)\n",
        f"```console\n$ {command}\n```\n",
        header,
        f"{r.invoices:,} invoices, pages of {r.page_size}, median of {r.repeats} interleaved "
        "runs per configuration; x plain is the ratio to the plain aiohttp dict loop at the "
        "same latency; GC µs/invoice is the time spent in the garbage collector (all "
        "generations) and full GCs the number of full (generation 2) collections, medians "
        "of the same runs.\n",
        throughput_table(r.configs),
        "",
        rate_table(r.rates, r.rate_invoices, r.page_size),
        "",
        memory_table(r.memory, r.memory_n),
        "",
        decode_table(r.decode, r.page_size),
        "\n### Targets\n",
        "\n".join(f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in targets(r)),
        f"\n(total {total_s:.0f} s)",
    ]
    return "\n".join(parts) + "\n"


BEGIN = "<!-- bench:begin (generated by benchmarks/bench_listing.py --write-docs) -->"
END = "<!-- bench:end -->"


def write_docs(text: str) -> None:
    """Replace the generated part of docs/performance.md (the rest is written by hand)."""
    path = HERE.parent / "docs" / "performance.md"
    current = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n\n{text}\n{END}"
    if BEGIN in current and END in current:
        before, rest = current.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        path.write_text(f"{before}{block}{after}")
    else:
        path.write_text(f"# Performance: invoice listing\n\n{block}\n{current}")


async def run(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    load_before = load_average()
    code_before = code_fingerprint()
    invoices: int = args.invoices
    page_size: int = args.page_size
    memory_n: int = args.memory_invoices or invoices
    total = max(invoices, 5 * memory_n, args.rate_invoices)
    print(f"machine: {machine()}", file=sys.stderr)
    print(f"starting the server ({total:,} invoices, pages of {page_size})…", file=sys.stderr)
    with server_process(total, page_size) as server:
        print(
            f"server on 127.0.0.1:{server.port}, {server.body_bytes / 2**20:,.0f} MiB of pages",
            file=sys.stderr,
        )
        decode = decode_costs(page_size)
        configs = await measure_throughput(
            server, invoices=invoices, page_size=page_size, repeats=args.repeats
        )
        rates = await measure_rate_limit(
            server, invoices=args.rate_invoices, page_size=page_size, repeats=args.rate_repeats
        )
        memory = measure_memory(
            server, invoices=memory_n, page_size=page_size, repeats=args.memory_repeats
        )
        profile = (
            await profile_client(server, invoices=invoices, page_size=page_size)
            if args.profile
            else None
        )
    results = Results(
        invoices,
        page_size,
        args.repeats,
        memory_n,
        args.rate_invoices,
        configs,
        memory,
        rates,
        decode,
    )
    command = " ".join(["python", "benchmarks/bench_listing.py", *sys.argv[1:]])
    if os.environ.get("NOX_SESSION_NAME") == "bench" or args.nox:
        command = "nox -s bench"
    code_after = code_fingerprint()
    changed = "" if code_after == code_before else f" (CHANGED during the run: {code_before})"
    header = (
        f"Machine: {machine()}; pydantic {pydantic.VERSION}, msgspec {msgspec.__version__}, "
        f"httpx {httpx.__version__}. The server process and the client share the machine.\n\n"
        f"Package sources sha256 {code_after}{changed}; load average (1/5/15 min) "
        f"{load_before} before, {load_average()} after.\n"
    )
    text = report(results, command=command, header=header, total_s=time.perf_counter() - began)
    print(text)
    if args.write_docs:
        plot(results, HERE.parent / "docs" / "performance.png")
        write_docs(text)
        print("wrote docs/performance.md and docs/performance.png", file=sys.stderr)
    if profile is not None:
        print(f"\n### cProfile, client prefetch 4 at 0 ms (top 20 by tottime)\n\n{profile}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Listing throughput and memory benchmark.")
    parser.add_argument("--invoices", type=int, default=None, help="invoices (default 200000)")
    parser.add_argument("--page-size", type=int, default=1000, help="page size (default 1000)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per configuration (3)")
    parser.add_argument(
        "--memory-invoices", type=int, default=None, help="N of the memory test (--invoices)"
    )
    parser.add_argument(
        "--memory-repeats", type=int, default=None, help="processes per memory figure (5)"
    )
    parser.add_argument(
        "--rate-invoices", type=int, default=None, help="invoices of the rate-limit runs (100000)"
    )
    parser.add_argument("--rate-repeats", type=int, default=None, help="rate-limit runs each (3)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--profile", action="store_true", help="cProfile the client at 0 ms")
    parser.add_argument(
        "--write-docs", action="store_true", help="write docs/performance.md and .png"
    )
    parser.add_argument("--nox", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", choices=["rss", "tracemalloc"], help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        result = asyncio.run(
            _memory_child(args.child_url, args.invoices, args.page_size, args.memory_child)
        )
        print(json.dumps(result))
        return
    if args.invoices is None:
        args.invoices = 20_000 if args.quick else 200_000
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.memory_repeats is None:
        args.memory_repeats = 2 if args.quick else 5
    if args.rate_invoices is None:
        args.rate_invoices = 20_000 if args.quick else 100_000
    if args.rate_repeats is None:
        args.rate_repeats = 1 if args.quick else 3
    if (
        min(args.invoices, args.repeats, args.memory_repeats, args.rate_invoices) < 1
        or args.rate_repeats < 1
        or not 1 <= args.page_size <= 10_000
    ):
        parser.error("--invoices and the repeats must be positive, --page-size 1..10000")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

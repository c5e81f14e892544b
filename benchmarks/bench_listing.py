"""Listing throughput and memory: the client against a plain aiohttp loop, over loopback.

Usage::

    python benchmarks/bench_listing.py                 # the full run (200,000 invoices)
    python benchmarks/bench_listing.py --quick         # a small smoke run
    python benchmarks/bench_listing.py --profile       # plus a cProfile of the client

A local server process (``_server.py``) serves pre-serialized pages, immediately or after
a per-request delay, selected by a path prefix of the base URL, so every configuration is
measured side by side in one run against one server. Measured:

1. invoices/s for (a) a plain aiohttp loop, sequential pages, ``await resp.json()`` into
   dicts, and (b) ``MyReportsClient.iter_invoices`` (typed records) at prefetch 1, 4 and
   8, each at 0 ms and 20 ms; every configuration runs ``--repeats`` times, interleaved,
   and the median is reported;
2. peak memory of streaming N and 5N invoices through the client (prefetch 4), each in a
   fresh subprocess: peak RSS above the peak after imports (the highest of
   ``--memory-repeats`` processes), and tracemalloc's peak (one process);
3. the targets, PASS/FAIL (informative: the exit status is 0 either way).

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
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import _server
import aiohttp
import orjson

import myreports_async
from myreports_async import MyReportsClient, RetryPolicy
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
    "_models.py",
    "_paginate.py",
    "_protocol.py",
    "_retry.py",
    "_session.py",
)

# The targets the numbers are checked against.
TARGET_PREFETCH4_AT_20MS = 3.0  # prefetch 4 vs the plain sequential loop, at 20 ms
TARGET_MEMORY_GROWTH = 0.10  # peak memory at 5N within 10% of N
TARGET_CLIENT_AT_0MS = 0.5  # the client at its default prefetch vs the plain loop, at 0 ms


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
    # Fixed argv: this interpreter and the server script beside this file.
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            str(HERE / "_server.py"),
            "--invoices",
            str(total),
            "--page-size",
            str(page_size),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline().decode().split()
        if len(line) != 3 or line[0] != "READY":
            raise RuntimeError(f"the benchmark server did not start (exit {proc.wait()})")
        yield Server(port=int(line[1]), body_bytes=int(line[2]))
    finally:
        proc.stdin.close()  # end of file: the server shuts down
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def _check_last(last_id: str | None, count: int) -> None:
    expected = f"{count - 1:024x}" if count else None
    if last_id != expected:
        raise RuntimeError(f"stream out of order: last id {last_id!r} after {count} invoices")


# --- throughput ----------------------------------------------------------------------


@dataclass
class Config:
    name: str
    latency_ms: int
    prefetch: int | None  # None: the plain loop
    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def configurations() -> list[Config]:
    configs: list[Config] = []
    for latency in LATENCIES_MS:
        configs.append(Config("plain aiohttp, sequential, resp.json() dicts", latency, None))
        configs.extend(
            Config(f"client, typed records, prefetch {p}", latency, p) for p in PREFETCHES
        )
    return configs


def _runner(config: Config, server: Server, count: int, page_size: int) -> Awaitable[int]:
    base = server.base_url(config.latency_ms, count)
    if config.prefetch is None:
        return plain_loop(base, page_size)
    return client_loop(base, page_size, config.prefetch)


async def _timed(run: Awaitable[int], expected: int) -> float:
    """Invoices per second of one run (``run`` is a coroutine not yet started)."""
    gc.collect()
    start = time.perf_counter()
    count = await run
    elapsed = time.perf_counter() - start
    if count != expected:
        raise RuntimeError(f"streamed {count} invoices, expected {expected}")
    return count / elapsed


async def measure_throughput(
    server: Server, *, invoices: int, page_size: int, repeats: int
) -> list[Config]:
    configs = configurations()
    # Warm up both paths (imports, connection pools, the codec) on a few pages.
    warm = min(invoices, 5 * page_size)
    for config in configs[: 1 + len(PREFETCHES)]:
        await _runner(config, server, warm, page_size)
    for repeat in range(repeats):
        # Interleaved, starting at a different configuration each round, so that a slow
        # spell of the machine does not land on one configuration only.
        shift = repeat % len(configs)
        for config in configs[shift:] + configs[:shift]:
            rate = await _timed(_runner(config, server, invoices, page_size), invoices)
            config.rates.append(rate)
            print(
                f"  run {repeat + 1}/{repeats}  {config.latency_ms:>2} ms  "
                f"{config.name:<46} {rate:>10,.0f} invoices/s",
                file=sys.stderr,
                flush=True,
            )
    return configs


def plain_for(configs: Sequence[Config], latency_ms: int) -> Config:
    return next(c for c in configs if c.latency_ms == latency_ms and c.prefetch is None)


def throughput_table(configs: Sequence[Config]) -> str:
    rows = [
        "| latency | configuration | invoices/s (median) | min to max | x plain |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for config in configs:
        plain = plain_for(configs, config.latency_ms)
        ratio = config.median / plain.median
        rows.append(
            f"| {config.latency_ms} ms | {config.name} | {config.median:,.0f} "
            f"| {min(config.rates):,.0f} to {max(config.rates):,.0f} | {ratio:.2f}x |"
        )
    return "\n".join(rows)


# --- memory (each measurement in a fresh subprocess) ---------------------------------


def _peak_rss_kib() -> int:
    """This process's peak resident set size so far, in KiB.

    On Linux it is ``VmHWM`` from ``/proc/self/status``: the high-water mark of this
    process's own address space. ``getrusage().ru_maxrss`` is not usable in a child: Linux
    carries the parent's high-water mark over ``fork``/``exec`` into it, so a child of a
    large parent reports the parent's peak. Elsewhere ``ru_maxrss`` is the fallback.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS


async def _memory_child(base_url: str, count: int, page_size: int, mode: str) -> dict[str, float]:
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
        tracemalloc.reset_peak()
    baseline = _peak_rss_kib()
    start = time.perf_counter()
    streamed = await client_loop(base_url, page_size, MEMORY_PREFETCH)
    elapsed = time.perf_counter() - start
    if streamed != count:
        raise RuntimeError(f"streamed {streamed} invoices, expected {count}")
    if mode == "tracemalloc":
        peak_kib = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
        return {"peak_kib": peak_kib, "seconds": elapsed}
    return {"peak_kib": _peak_rss_kib() - baseline, "baseline_kib": baseline, "seconds": elapsed}


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


def decode_costs(page_size: int, rounds: int = 20) -> str:
    """Per-record cost of turning one page body into records, without any I/O.

    Best of ``rounds``: stdlib ``json.loads`` (what ``resp.json()`` runs), ``orjson.loads``,
    and the client's page decoder (orjson plus the cattrs/attrs records). Uses a private
    module of the package: it is a diagnosis, not the contract.
    """
    body = _server.page_body(0, [_server.invoice_dict(i) for i in range(page_size)])
    steps: list[tuple[str, Callable[[], object]]] = [
        ("json.loads (stdlib; what resp.json() runs)", lambda: json.loads(body)),
        ("orjson.loads", lambda: orjson.loads(body)),
        ("client page decode (orjson + typed records)", lambda: decode_page(body, index=0)),
    ]
    rows = [
        f"| step, one page of {page_size} ({len(body) / 1024:,.0f} KiB) | µs per record "
        "| records/s, one core |",
        "| --- | ---: | ---: |",
    ]
    for name, step in steps:
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - start)
        rows.append(f"| {name} | {best / page_size * 1e6:.2f} | {page_size / best:,.0f} |")
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


def targets(configs: Sequence[Config], memory: Sequence[Memory]) -> list[tuple[bool, str]]:
    checks: list[tuple[bool, str]] = []
    plain20 = plain_for(configs, 20).median
    p4 = next(c for c in configs if c.latency_ms == 20 and c.prefetch == 4).median
    checks.append(
        (
            p4 >= TARGET_PREFETCH4_AT_20MS * plain20,
            f"20 ms: client prefetch 4 >= {TARGET_PREFETCH4_AT_20MS:g}x plain sequential "
            f"({p4 / plain20:.2f}x)",
        )
    )
    for m in memory:
        checks.append(
            (
                m.ratio <= 1 + TARGET_MEMORY_GROWTH,
                f"peak memory at 5N within {TARGET_MEMORY_GROWTH:.0%} of N, {m.mode} "
                f"({m.ratio:.3f})",
            )
        )
    plain0 = plain_for(configs, 0).median
    at0 = {c.prefetch: c.median / plain0 for c in configs if c.latency_ms == 0 and c.prefetch}
    others = ", ".join(f"prefetch {p}: {r:.2f}x" for p, r in at0.items())
    checks.append(
        (
            at0[DEFAULT_PREFETCH] >= TARGET_CLIENT_AT_0MS,
            f"0 ms: client (typed records, default prefetch {DEFAULT_PREFETCH}) >= "
            f"{TARGET_CLIENT_AT_0MS:g}x plain dict loop ({others})",
        )
    )
    return checks


async def run(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    load_before = load_average()
    code_before = code_fingerprint()
    invoices: int = args.invoices
    page_size: int = args.page_size
    memory_n: int = args.memory_invoices or invoices
    total = max(invoices, 5 * memory_n)
    print(f"machine: {machine()}", file=sys.stderr)
    print(f"starting the server ({total:,} invoices, pages of {page_size})…", file=sys.stderr)
    with server_process(total, page_size) as server:
        print(
            f"server on 127.0.0.1:{server.port}, {server.body_bytes / 2**20:,.0f} MiB of pages",
            file=sys.stderr,
        )
        configs = await measure_throughput(
            server, invoices=invoices, page_size=page_size, repeats=args.repeats
        )
        memory = measure_memory(
            server, invoices=memory_n, page_size=page_size, repeats=args.memory_repeats
        )
        profile = (
            await profile_client(server, invoices=invoices, page_size=page_size)
            if args.profile
            else None
        )
    command = " ".join(["python", "benchmarks/bench_listing.py", *sys.argv[1:]])
    print(f"## Listing benchmark\n\n`{command}`\n\n{machine()}\n")
    code_after = code_fingerprint()
    changed = "" if code_after == code_before else f" (CHANGED during the run: {code_before})"
    print(
        f"package sources sha256 {code_after}{changed}; load average (1/5/15 min) "
        f"{load_before} before, {load_average()} after\n"
    )
    print(
        f"{invoices:,} invoices, pages of {page_size}, median of {args.repeats} "
        "interleaved runs per configuration; x plain is the ratio to the plain aiohttp "
        "loop at the same latency.\n"
    )
    print(throughput_table(configs))
    print()
    print(memory_table(memory, memory_n))
    print()
    print(decode_costs(page_size))
    print("\n### Targets\n")
    for ok, text in targets(configs, memory):
        print(f"- {'PASS' if ok else 'FAIL'}: {text}")
    print(f"\n(total {time.perf_counter() - began:.0f} s)")
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
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--profile", action="store_true", help="cProfile the client at 0 ms")
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
    if (
        min(args.invoices, args.repeats, args.memory_repeats) < 1
        or not 1 <= args.page_size <= 10_000
    ):
        parser.error("--invoices and the repeats must be positive, --page-size 1..10000")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

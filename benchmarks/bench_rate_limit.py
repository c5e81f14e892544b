"""Rate limits like real gateways: the client against a naive loop and botocore's limiter.

Usage (``nox -s bench`` runs it with ``--write-docs``)::

    python benchmarks/bench_rate_limit.py                # every variant, report on stdout
    python benchmarks/bench_rate_limit.py --repeats 3    # three runs of each
    python benchmarks/bench_rate_limit.py --only 5/s     # the variants whose name holds "5/s"
    python benchmarks/bench_rate_limit.py --write-docs   # also the last section of
                                                         # docs/performance.md and its plot

Each run starts a fresh :class:`myreports_async.testing.FakeService` in its own process
(``--serve``), so every run meets a full bucket, behind the gateway knobs real gateways
have: a token bucket with a burst, a refusal status (429 or nginx's 503), and a
``Retry-After`` of whole seconds (``1``, ``0``) or none. Every answer takes 20 ms (a
middleware behind the gateway: a refusal is answered at once, as a gateway does). Three
loops list the same pages:

- the client: ``MyReportsClient.iter_invoices`` at the variant's prefetch, default
  ``RetryPolicy``;
- naive: as many workers as the prefetch, each taking the next page and sleeping what
  ``Retry-After`` says (or the client's default backoff without one) after a refusal;
- botocore: the same workers behind botocore's own adaptive limiter
  (``botocore.retries.adaptive.ClientRateLimiter``: a CUBIC rate and a client token
  bucket), its blocking ``acquire`` run in a thread so the event loop never blocks.

Measured, client side (an aiohttp trace): the time against the ideal (requests needed /
rate), the share of requests refused, and the longest gap between two requests. Every
run checks it got every invoice, in order. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import platform
import random
import statistics
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _process import latency_middleware, serve_until_stdin_eof, server_child

import myreports_async
from myreports_async import MyReportsClient, RateLimiter
from myreports_async.testing import FakeService

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
TOKEN = "test-token"  # noqa: S105 - the fake service's static token
LATENCY = 0.020  # seconds per answer behind the gateway
PAGE_SIZE = 1000
SECTION = "## Rate limits like real gateways"

# The targets (issue 15).
TARGET_TIME_RA1 = 1.10
TARGET_REFUSED_RA1 = 0.03
TARGET_TIME = 1.10
TARGET_REFUSED = 0.05
TARGET_TIME_503 = 1.5


@dataclass(frozen=True)
class Variant:
    name: str
    rate: float | None  # requests per second; None: no limit
    burst: int
    retry_after: float | None  # None: no header
    status: int
    pages: int
    prefetch: int
    latency: float = LATENCY

    @property
    def ideal(self) -> float:
        """Requests needed (the pages and the empty one that ends the listing) / rate."""
        return (self.pages + 1) / self.rate if self.rate else 0.0

    def header(self) -> str:
        if self.rate is None:
            return f"no limit, {self.latency * 1000:g} ms"
        ra = "no Retry-After" if self.retry_after is None else f"Retry-After: {self.retry_after:g}"
        return f"{self.rate:g}/s burst {self.burst}, {self.status} {ra}"


VARIANTS = (
    Variant("20/s, 429 Retry-After: 1", 20, 20, 1, 429, 200, 8),
    Variant("5/s, 429 Retry-After: 1", 5, 5, 1, 429, 50, 8),
    Variant("20/s, 429 Retry-After: 0", 20, 20, 0, 429, 200, 8),
    Variant("20/s, 429 without Retry-After", 20, 20, None, 429, 200, 8),
    Variant("20/s, 503 without Retry-After, prefetch 64", 20, 5, None, 503, 200, 64),
    Variant("no limit, 0 ms", None, 1, None, 429, 200, 8, latency=0.0),
    Variant("no limit, 20 ms", None, 1, None, 429, 200, 8),
)
LOOPS = ("client", "naive", "botocore")


# --- the server process ----------------------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    retry_after: float | None = None if args.retry_after == "none" else float(args.retry_after)
    service = FakeService(
        args.invoices,
        rate_limit=None if args.rate == 0 else args.rate,
        rate_limit_burst=args.burst,
        rate_limit_status=args.status,
        rate_limit_retry_after=retry_after,
    )
    # Behind the gateway: a refused request is answered at once, an accepted one later.
    service.app.middlewares.append(latency_middleware(args.latency))
    await serve_until_stdin_eof(service)


@contextmanager
def fake_service(v: Variant) -> Iterator[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve"]
    argv += ["--invoices", str(v.pages * PAGE_SIZE), "--rate", str(v.rate or 0)]
    argv += ["--burst", str(v.burst), "--status", str(v.status), "--latency", str(v.latency)]
    argv += ["--retry-after", "none" if v.retry_after is None else str(v.retry_after)]
    with server_child(argv, fields=1, what="the fake service") as ready:
        yield ready[0]


# --- the loops -------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    requests: int
    refused: int
    longest_gap: float

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0


class Recorder:
    """Every request's start time and every answer's status, from an aiohttp trace."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.statuses: list[int] = []
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._start)
        self.config.on_request_end.append(self._end)

    async def _start(self, *_: object) -> None:
        self.starts.append(time.perf_counter())

    async def _end(self, _s: object, _c: object, params: aiohttp.TraceRequestEndParams) -> None:
        self.statuses.append(params.response.status)

    def run(self, seconds: float) -> Run:
        gaps = [b - a for a, b in zip(self.starts, self.starts[1:], strict=False)]
        refused = sum(1 for s in self.statuses if s in (429, 503))
        return Run(seconds, len(self.statuses), refused, max(gaps, default=0.0))


def check_ids(ids: Sequence[str], expected: int) -> None:
    # The fake's ids are deterministic; what matters here: all of them, once each, in order.
    if len(ids) != expected or len(set(ids)) != expected:
        raise RuntimeError(f"listed {len(ids)} invoices ({len(set(ids))} distinct), not {expected}")


async def client_loop(url: str, v: Variant, rec: Recorder) -> list[str]:
    async with (
        aiohttp.ClientSession(trace_configs=[rec.config]) as session,
        MyReportsClient(TOKEN, base_url=url, session=session) as client,
    ):
        pages = client.iter_invoices(page_size=PAGE_SIZE, prefetch=v.prefetch)
        return [invoice.invoice_id async for invoice in pages]


Gate = Callable[[], Awaitable[None]]
Report = Callable[[bool], None]


async def worker_loop(
    url: str, v: Variant, rec: Recorder, gate: Gate | None = None, report: Report | None = None
) -> list[str]:
    """``v.prefetch`` workers over the pages; each refusal sleeps ``Retry-After`` (or the
    client's default backoff without one) and tries again, however often."""
    endpoint = f"{url}/api/v1.0/billingdata"
    results: dict[int, list[str]] = {}
    next_page = 0
    done = asyncio.Event()
    end: int | None = None

    async def work(session: aiohttp.ClientSession) -> None:
        nonlocal next_page, end
        while end is None or next_page <= end:
            index = next_page
            next_page += 1
            failed = 0
            while True:
                if gate is not None:
                    await gate()
                params = {"pageIndex": str(index), "pageSize": str(PAGE_SIZE)}
                async with session.get(endpoint, params=params) as resp:
                    if resp.status in (429, 503):
                        header = resp.headers.get("Retry-After")
                        await resp.read()
                        if report is not None:
                            report(True)
                        failed += 1
                        wait = float(header) if header is not None else None
                        if wait is None:
                            wait = random.random() * min(30.0, 0.5 * 2 ** (failed - 1))
                        await asyncio.sleep(wait)
                        continue
                    resp.raise_for_status()
                    body = await resp.json()
                if report is not None:
                    report(False)
                results[index] = [item["invoiceid"] for item in body["data"]]
                if not body["data"]:
                    end = index if end is None else min(end, index)
                    done.set()
                break

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers, trace_configs=[rec.config]) as session:
        await asyncio.gather(*(work(session) for _ in range(v.prefetch)))
    assert end is not None
    return [i for index in range(end) for i in results[index]]


async def botocore_loop(url: str, v: Variant, rec: Recorder) -> list[str]:
    """The workers behind botocore's adaptive limiter, wired as botocore wires it."""
    from botocore.retries import adaptive, bucket, throttling

    class Detector:
        def is_throttling_error(self, **kwargs: Any) -> bool:
            return bool(kwargs["throttled"])

    clock = bucket.Clock()
    limiter = adaptive.ClientRateLimiter(
        rate_adjustor=throttling.CubicCalculator(
            starting_max_rate=0, start_time=clock.current_time()
        ),
        rate_clocker=adaptive.RateClocker(clock),
        token_bucket=bucket.TokenBucket(max_rate=1, clock=clock),
        throttling_detector=Detector(),
        clock=clock,
    )
    # botocore's acquire blocks its thread until a token is there: one thread per worker,
    # so the event loop never waits on it.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=v.prefetch)
    loop = asyncio.get_running_loop()

    async def gate() -> None:
        await loop.run_in_executor(pool, lambda: limiter.on_sending_request(request=None))

    def report(throttled: bool) -> None:
        limiter.on_receiving_response(throttled=throttled)

    try:
        return await worker_loop(url, v, rec, gate, report)
    finally:
        pool.shutdown(wait=True)


async def naive_loop(url: str, v: Variant, rec: Recorder) -> list[str]:
    return await worker_loop(url, v, rec)


async def client_fixed_loop(url: str, v: Variant, rec: Recorder) -> list[str]:
    """The client with the limiter's adaptation off (no limit variants only)."""
    limiter = RateLimiter(adaptive=False)
    async with (
        aiohttp.ClientSession(trace_configs=[rec.config]) as session,
        MyReportsClient(TOKEN, base_url=url, session=session, rate_limiter=limiter) as client,
    ):
        pages = client.iter_invoices(page_size=PAGE_SIZE, prefetch=v.prefetch)
        return [invoice.invoice_id async for invoice in pages]


LOOP_FUNCS = {
    "client": client_loop,
    "naive": naive_loop,
    "botocore": botocore_loop,
    "client, adaptive=False": client_fixed_loop,
}


def loops_for(v: Variant) -> tuple[str, ...]:
    return ("client", "client, adaptive=False") if v.rate is None else LOOPS


async def one_run(v: Variant, loop_name: str) -> Run:
    with fake_service(v) as url:
        rec = Recorder()
        start = time.perf_counter()
        ids = await LOOP_FUNCS[loop_name](url, v, rec)
        elapsed = time.perf_counter() - start
    check_ids(ids, v.pages * PAGE_SIZE)
    return rec.run(elapsed)


# --- the report ------------------------------------------------------------------------


@dataclass
class Result:
    variant: Variant
    loop: str
    runs: list[Run] = field(default_factory=list)

    def median(self, what: Callable[[Run], float]) -> float:
        return statistics.median(what(r) for r in self.runs)

    def spread(self, what: Callable[[Run], float], fmt: str) -> str:
        values = [what(r) for r in self.runs]
        if len(values) == 1:
            return format(values[0], fmt)
        return f"{format(min(values), fmt)} to {format(max(values), fmt)}"


def x_ideal(v: Variant) -> Callable[[Run], float]:
    return lambda r: r.seconds / v.ideal


def table(results: Sequence[Result]) -> str:
    rows = [
        "| variant | loop | seconds | x ideal | requests | refused | longest gap |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for res in results:
        v = res.variant
        ratio = res.spread(x_ideal(v), ".2f") + "x" if v.rate else "-"
        rows.append(
            f"| {v.name} ({v.header()}, prefetch {v.prefetch}) | {res.loop} "
            f"| {res.spread(lambda r: r.seconds, '.2f')} | {ratio} "
            f"| {res.spread(lambda r: r.requests, 'd')} "
            f"| {res.spread(lambda r: r.refused_share, '.1%')} "
            f"| {res.spread(lambda r: r.longest_gap, '.2f')} s |"
        )
    return "\n".join(rows)


def targets(results: Sequence[Result]) -> list[str]:
    by = {(r.variant.name, r.loop): r for r in results}
    lines = []

    def check(ok: bool, text: str) -> None:
        lines.append(f"- {'PASS' if ok else 'FAIL'}: {text}")

    for res in results:
        if res.loop != "client" or res.variant.rate is None:
            continue
        v = res.variant
        worst_time = max(x_ideal(v)(r) for r in res.runs)
        worst_refused = max(r.refused_share for r in res.runs)
        if v.status == 503:
            check(
                worst_time <= TARGET_TIME_503,
                f"{v.name}: completes exactly in <= {TARGET_TIME_503}x ideal "
                f"(worst run {worst_time:.2f}x)",
            )
            continue
        if v.retry_after is None:
            continue  # reported, no target of its own
        limit_t, limit_r = (
            (TARGET_TIME_RA1, TARGET_REFUSED_RA1)
            if v.retry_after == 1 and v.rate == 20
            else (TARGET_TIME, TARGET_REFUSED)
        )
        check(
            worst_time <= limit_t and worst_refused <= limit_r,
            f"{v.name}: <= {limit_t}x ideal and <= {limit_r:.0%} refused "
            f"(worst run {worst_time:.2f}x, {worst_refused:.1%})",
        )
        boto = by.get((v.name, "botocore"))
        if boto is not None and v.retry_after == 1 and v.rate == 20:
            # Strict: the client's worst run against botocore's best, as shares.
            worst = max(res.runs, key=lambda r: r.refused_share)
            best = min(boto.runs, key=lambda r: r.refused_share)
            check(
                worst.refused_share <= best.refused_share,
                f"{v.name}: never more refused than botocore's limiter "
                f"(client worst {worst.refused_share:.2%}, {worst.refused} of "
                f"{worst.requests}; botocore best {best.refused_share:.2%}, "
                f"{best.refused} of {best.requests})",
            )
    return lines


def plot(results: Sequence[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limited = [r for r in results if r.variant.rate is not None]
    names = list(dict.fromkeys(r.variant.name for r in limited))
    colors = {"client": "#1f77b4", "naive": "#999999", "botocore": "#ff7f0e"}
    # One chart above the other, each the full width: side by side, five groups of
    # three-line labels overlapped at any readable size.
    fig, (ax_t, ax_r) = plt.subplots(2, 1, figsize=(11, 8.5))
    width = 0.27
    for i, loop in enumerate(LOOPS):
        rs = [next(r for r in limited if r.variant.name == n and r.loop == loop) for n in names]
        xs = [k + (i - 1) * width for k in range(len(names))]
        ax_t.bar(
            xs, [r.median(x_ideal(r.variant)) for r in rs], width, label=loop, color=colors[loop]
        )
        ax_r.bar(xs, [100 * r.median(lambda run: run.refused_share) for r in rs], width,
                 label=loop, color=colors[loop])  # fmt: skip
    labels = [textwrap.fill(n.replace(",", ""), 16, break_on_hyphens=False) for n in names]
    for ax, title in ((ax_t, "time / ideal (median)"), (ax_r, "% of requests refused (median)")):
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(labels, fontsize=9)
        ax.set_title(title)
        ax.legend(fontsize=8)
    ax_t.axhline(1.0, color="black", linewidth=0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results: Sequence[Result], args: argparse.Namespace, seconds: float) -> str:
    command = "python benchmarks/bench_rate_limit.py" + "".join(f" {a}" for a in args.argv)
    return "\n".join(
        [
            SECTION,
            "",
            "Generated by `benchmarks/bench_rate_limit.py --write-docs` (`nox -s bench`): the "
            "client against a naive Retry-After loop and botocore's adaptive limiter "
            "(`ClientRateLimiter`, CUBIC + a client token bucket), each run against a fresh "
            "`FakeService` whose gateway refuses like a real one (a burst, whole-second or "
            "no `Retry-After`, nginx's 503). Every answer takes 20 ms; ideal = requests "
            "needed / rate; refused = 429 and 503 answers / all answers; the longest gap "
            "is between two requests of the run. Ranges are min to max over the runs.",
            "",
            f"Command: `{command}`; {args.repeats} run(s) per row; "
            f"{seconds:.0f} s in all; Python {platform.python_version()}, "
            f"myreports-async {myreports_async.__version__}, 2 shared CPUs.",
            "",
            table(results),
            "",
            "![Time and refusals under gateway rate limits: the client, a naive loop, "
            "botocore's limiter](performance-rate-limits.png)",
            "",
            "### Targets",
            "",
            *targets(results),
            "",
        ]
    )


#: Where the hand-written part after the generated section starts (the nginx results).
KEPT = "<!-- bench_rate_limit: kept -->"


def write_docs(text: str) -> None:
    path = DOCS / "performance.md"
    old = path.read_text()
    head = old.split(SECTION, 1)[0].rstrip("\n")
    kept = KEPT + old.split(KEPT, 1)[1] if KEPT in old else ""
    path.write_text(f"{head}\n\n{text}\n{kept}")


async def main_async(args: argparse.Namespace) -> None:
    variants = [v for v in VARIANTS if not args.only or any(o in v.name for o in args.only)]
    results = [Result(v, loop) for v in variants for loop in loops_for(v)]
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for res in results:
            run = await one_run(res.variant, res.loop)
            res.runs.append(run)
            ratio = f"{run.seconds / res.variant.ideal:.2f}x" if res.variant.rate else "-"
            print(
                f"  run {repeat + 1}/{args.repeats} {res.variant.name:<44} {res.loop:<22} "
                f"{run.seconds:6.2f} s {ratio:>6} {run.refused}/{run.requests} refused "
                f"gap {run.longest_gap:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    text = report(results, args, time.perf_counter() - started)
    print(text)
    if args.write_docs:
        plot(results, DOCS / "performance-rate-limits.png")
        write_docs(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant and loop (1)")
    parser.add_argument("--only", action="append", help="variants whose name holds this")
    parser.add_argument("--write-docs", action="store_true", help="write docs/performance.md")
    parser.add_argument("--nox", action="store_true", help=argparse.SUPPRESS)
    serve_args = parser.add_argument_group("the server child (internal)")
    serve_args.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    serve_args.add_argument("--invoices", type=int, default=0, help=argparse.SUPPRESS)
    serve_args.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    serve_args.add_argument("--burst", type=float, default=1, help=argparse.SUPPRESS)
    serve_args.add_argument("--status", type=int, default=429, help=argparse.SUPPRESS)
    serve_args.add_argument("--latency", type=float, default=LATENCY, help=argparse.SUPPRESS)
    serve_args.add_argument("--retry-after", default="none", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--nox"]
    if args.serve:
        asyncio.run(serve(args))
        return
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

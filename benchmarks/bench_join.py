"""The cost of joining every invoice to its customer's reference, in one streaming pass.

Usage (``nox -s bench`` runs it with ``--write-docs``)::

    python benchmarks/bench_join.py                  # report on stdout
    python benchmarks/bench_join.py --invoices 20000 --repeats 1
    python benchmarks/bench_join.py --write-docs     # also docs/performance.md's section

It runs ``docs/examples/join_invoices_to_customers.py`` (the customers of every account
listed once into a dict, then the invoices streamed through it, written as CSV rows)
against the fake service in a child process, and the same invoice listing written as the
same CSV rows without the join, in the same run, at 0 ms and at 20 ms per answer (a
middleware behind the fake, as a service across a network answers). Reported: the time of
each, what the join adds, the requests of the customers phase, and the memory the dict of
references holds (``tracemalloc``, in a run of its own, since tracing slows everything).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from _process import latency_middleware, serve_until_stdin_eof, server_child

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "docs" / "examples"))

import join_invoices_to_customers as join  # noqa: E402

import myreports_async  # noqa: E402
from myreports_async import MyReportsClient  # noqa: E402
from myreports_async.testing import FakeService  # noqa: E402

DOCS = ROOT / "docs"
TOKEN = "test-token"  # noqa: S105 - the fake service's static token
BEGIN = "<!-- bench_join:begin -->"
END = "<!-- bench_join:end -->"


class CountingSink:
    """A text file that keeps only the count of characters written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


# -- the server child ----------------------------------------------------------------------


async def serve(args: argparse.Namespace) -> None:
    service = FakeService(args.invoices, seed=7, accounts=args.accounts)
    service.app.middlewares.append(latency_middleware(args.latency))
    await serve_until_stdin_eof(service)


@contextmanager
def fake_service(invoices: int, accounts: int, latency: float) -> Iterator[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve"]
    argv += ["--invoices", str(invoices), "--accounts", str(accounts)]
    argv += ["--latency", str(latency)]
    with server_child(argv, fields=1, what="the fake service") as ready:
        yield ready[0]


# -- the measured loops --------------------------------------------------------------------


async def listing_only(client: MyReportsClient, out: CountingSink) -> int:
    """The same CSV rows as the example writes, without the reference."""
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(join.COLUMNS)
    count = 0
    async for invoice in client.iter_invoices():
        rows.writerow(
            (
                invoice.invoice_id,
                invoice.invoice_number,
                invoice.tenant_id,
                "",
                "" if invoice.invoice_value is None else format(invoice.invoice_value, "f"),
            )
        )
        count += 1
    return count


class Requests:
    """Counts the client's requests by path (an aiohttp trace)."""

    def __init__(self) -> None:
        self.customers = 0
        self.accounts = 0
        self.invoices = 0

    def config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def started(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
            path = params.url.path
            if "/customers" in path:
                self.customers += 1
            elif "/accounts" in path:
                self.accounts += 1
            else:
                self.invoices += 1

        trace.on_request_start.append(started)
        return trace


async def measure(url: str) -> dict[str, Any]:
    requests = Requests()
    async with (
        aiohttp.ClientSession(trace_configs=[requests.config()]) as session,
        MyReportsClient(TOKEN, base_url=url, session=session) as client,
    ):
        started = time.perf_counter()
        plain = await listing_only(client, CountingSink())
        listing_s = time.perf_counter() - started
        plain_requests = requests.invoices

        started = time.perf_counter()
        references = await join.customer_references(client)
        customers_s = time.perf_counter() - started

        started = time.perf_counter()
        result = await join.join_invoices(client, CountingSink())  # type: ignore[arg-type]
        join_s = time.perf_counter() - started
    if result.invoices != plain or result.unmatched:
        wrote = f"{result.invoices} ({result.unmatched} unmatched)"
        raise RuntimeError(f"the join wrote {wrote} of {plain} invoices")
    return {
        "invoices": plain,
        "customers": len(references),
        "listing_s": listing_s,
        "customers_s": customers_s,
        "join_s": join_s,
        "customer_requests": requests.customers // 2,  # listed twice: alone, then in the join
        "account_requests": requests.accounts // 2,
        "invoice_requests": plain_requests,
    }


async def dict_bytes(url: str) -> tuple[int, int]:
    """The bytes the dict of references holds (and its entries), traced on its own."""
    async with MyReportsClient(TOKEN, base_url=url) as client:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        references = await join.customer_references(client)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    return held, len(references)


# -- the report ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    lines = [
        f"{args.invoices:,} invoices over {args.accounts} accounts, pages of 1,000, prefetch 4; "
        f"the median of {args.repeats} runs; Python {platform.python_version()}, "
        f"myreports-async {myreports_async.__version__}, {sys.platform}.",
        "",
        "| per answer | customers | listing alone | join (customers + listing) | the join adds "
        "| requests of the customers phase |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    memory = ""
    for latency in (0.0, 0.020):
        with fake_service(args.invoices, args.accounts, latency) as url:
            runs = [asyncio.run(measure(url)) for _ in range(args.repeats)]
            if latency == 0.0:
                held, entries = asyncio.run(dict_bytes(url))
                memory = (
                    f"The dict of references holds {held / 1024:,.0f} KiB for {entries:,} "
                    f"customers ({held / max(entries, 1):,.0f} bytes each), whatever the "
                    "number of invoices; the invoices themselves stream."
                )
        first = runs[0]
        listing = statistics.median(r["listing_s"] for r in runs)
        joined = statistics.median(r["join_s"] for r in runs)
        added = joined - listing
        lines.append(
            f"| {latency * 1000:.0f} ms | {first['customers']:,} | {listing:.2f} s "
            f"| {joined:.2f} s | {added:+.2f} s ({added / listing:+.0%}) "
            f"| {first['account_requests']} for accounts + {first['customer_requests']} for "
            f"customers (invoices: {first['invoice_requests']}) |"
        )
    lines += ["", memory]
    return "\n".join(lines)


def write_docs(report: str) -> None:
    page = DOCS / "performance.md"
    text = page.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise RuntimeError(f"docs/performance.md lacks {BEGIN} ... {END}")
    page.write_text(f"{head}{BEGIN}\n{report}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args))
        return
    report = run(args)
    print(report)
    if args.write_docs:
        write_docs(report)


if __name__ == "__main__":
    main()

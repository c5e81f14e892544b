"""Memory of ``iter_invoice_items`` on a large invoice, against the size of its detail JSON.

Usage::

    python benchmarks/bench_items.py                  # 100,000 items
    python benchmarks/bench_items.py --items 20000    # a smaller run

The fake service (``myreports_async.testing``) runs in its own process and serves one
invoice with ``--items`` items (its detail ZIP is built as a stream, so the server holds
none of it whole). Each measurement runs in a fresh process, so the figures are not
blurred by what an earlier run left allocated:

1. ``iter_invoice_items``: peak RSS above the RSS after start-up (the highest of
   ``--repeats`` processes), and tracemalloc's peak of Python allocations (one process);
2. for comparison, ``get_invoice_detail``, which holds the whole invoice: the same two
   figures (one process each);
3. the detail JSON's uncompressed size and the ZIP's size.

Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _memory import measure_peak
from _process import server_child, stop_at_stdin_eof

from myreports_async import MyReportsClient, RetryPolicy
from myreports_async.testing import FakeServer, FakeService

TOKEN = "test-token"  # noqa: S105 - the fake service's default static token
SEED = 11


# --- the server process ---------------------------------------------------------------


async def serve(items: int) -> None:
    service = FakeService(1, seed=SEED, detail_items=items)
    archive = service.detail_zip(0)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        [info] = [i for i in zf.infolist() if i.filename.endswith(".json")]
    del archive
    stop = stop_at_stdin_eof()
    async with FakeServer(service) as server:
        print(
            f"READY {server.url} {service.invoice_id(0)} {info.file_size} {info.compress_size}",
            flush=True,
        )
        await stop.wait()


@dataclass(frozen=True)
class Server:
    url: str
    invoice_id: str
    json_bytes: int
    zip_member_bytes: int


@contextmanager
def server_process(items: int) -> Iterator[Server]:
    """Start the fake service in its own process; it stops when its stdin is closed."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve", "--items", str(items)]
    with server_child(argv, fields=4, what="the fake service") as ready:
        yield Server(ready[0], ready[1], int(ready[2]), int(ready[3]))


# --- one measurement (in a fresh process) ---------------------------------------------


async def _consume(url: str, invoice_id: str, reader: str) -> int:
    retry = RetryPolicy(max_attempts=1)  # a failure must show, not be retried away
    async with MyReportsClient(TOKEN, base_url=url, retry=retry) as client:
        if reader == "detail":
            detail = await client.get_invoice_detail(invoice_id)
            return len(detail.items)
        count = 0
        async with contextlib.aclosing(client.iter_invoice_items(invoice_id)) as items:
            async for _item in items:
                count += 1
        return count


async def _child(url: str, invoice_id: str, items: int, reader: str, mode: str) -> dict[str, float]:
    return await measure_peak(
        lambda: _consume(url, invoice_id, reader), expected=items, mode=mode, what="items"
    )


def measure(server: Server, items: int, reader: str, mode: str) -> dict[str, float]:
    # Fixed argv: this interpreter and this very script.
    out = subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            mode,
            "--reader",
            reader,
            "--url",
            server.url,
            "--invoice-id",
            server.invoice_id,
            "--items",
            str(items),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


# --- the report -----------------------------------------------------------------------


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def run(items: int, repeats: int) -> None:
    began = time.perf_counter()
    print(f"## iter_invoice_items memory, {items:,} items\n")
    with server_process(items) as server:
        json_kib = server.json_bytes / 1024
        print(f"- detail JSON, uncompressed: {_mib(json_kib)} ({server.json_bytes:,} bytes)")
        print(f"- detail JSON, compressed in the ZIP: {_mib(server.zip_member_bytes / 1024)}\n")
        rows: list[tuple[str, str, float, float]] = []
        for reader, runs in (("items", repeats), ("detail", 1)):
            rss = [measure(server, items, reader, "rss") for _ in range(runs)]
            traced = measure(server, items, reader, "tracemalloc")
            worst = max(r["peak_kib"] for r in rss)
            name = "iter_invoice_items" if reader == "items" else "get_invoice_detail"
            seconds = min(r["seconds"] for r in rss)
            rows.append((name, f"peak RSS growth, worst of {runs}", worst, seconds))
            rows.append((name, "tracemalloc peak", traced["peak_kib"], traced["seconds"]))
    print("| reader | figure | peak | vs JSON size | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for name, figure, kib, seconds in rows:
        print(f"| {name} | {figure} | {_mib(kib)} | {kib / json_kib:.1%} | {seconds:.2f} |")
    print(f"\n(total {time.perf_counter() - began:.0f} s)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="iter_invoice_items memory benchmark.")
    parser.add_argument("--items", type=int, default=100_000, help="items (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="RSS processes (default 3)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["rss", "tracemalloc"], help=argparse.SUPPRESS)
    parser.add_argument("--reader", choices=["items", "detail"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--invoice-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.items < 1 or args.repeats < 1:
        parser.error("--items and --repeats must be positive")
    if args.serve:
        asyncio.run(serve(args.items))
        return
    if args.child:
        result = asyncio.run(_child(args.url, args.invoice_id, args.items, args.reader, args.child))
        print(json.dumps(result))
        return
    run(args.items, args.repeats)


if __name__ == "__main__":
    main()

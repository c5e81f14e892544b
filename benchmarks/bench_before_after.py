"""The listing with no rate limit: this tree's client against an earlier commit's, paired.

Usage::

    python benchmarks/bench_before_after.py                   # against BASE (below), 9 rounds
    python benchmarks/bench_before_after.py --base HEAD~3 --rounds 5

On a shared machine the listing's absolute figures move with the machine (the pure decode
of a page went from 1.36 to 2.3 µs a record between two quiet hours, nothing of ours
running), so "unchanged" is measured as a ratio taken in the same minutes: the package
as it is in ``--base`` (``git archive`` into a temporary folder) and as it is in this
tree, each listing 200,000 invoices (pages of 1,000) from the listing benchmark's server
(``_server.py``, its own process) in a fresh child process, the two alternating in every
round, at 0 ms with prefetch 1 and at 20 ms with prefetch 8 (the headline's figures).
Reported: invoices per second (median and range of the rounds) and this tree against the
base. Everything stays on 127.0.0.1; the child prints which package it imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from bench_listing import server_process

ROOT = Path(__file__).resolve().parent.parent
INVOICES = 200_000
PAGE_SIZE = 1000
#: Main just before the limiter that learns rates was merged (issue 15).
BASE = "5b0e9d1^1"
#: (latency in ms, prefetch): the headline's two listing figures.
CONFIGS = [(0, 1), (20, 8)]

CHILD = """
import asyncio, json, sys, time
import myreports_async
from myreports_async import MyReportsClient

async def main(base_url, prefetch, expected):
    count = 0
    start = time.perf_counter()
    async with MyReportsClient("bench-token", base_url=base_url) as client:
        async for _ in client.iter_invoices(page_size=1000, prefetch=prefetch):
            count += 1
    seconds = time.perf_counter() - start
    if count != expected:
        raise SystemExit(f"listed {count} invoices, not {expected}")
    print(json.dumps({"seconds": seconds, "package": myreports_async.__file__}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def git(*args: str) -> bytes:
    """What git prints for ``args`` in this repository."""
    command = [shutil.which("git") or "git", "-C", str(ROOT), *args]
    return subprocess.run(command, check=True, capture_output=True).stdout  # noqa: S603


def extract(rev: str, into: Path) -> Path:
    """The package as it is at ``rev``, unpacked under ``into``."""
    archive = git("archive", rev, "myreports_async")
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_child(tree: Path, base_url: str, prefetch: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(  # noqa: S603 - this interpreter, our own child code
        [sys.executable, "-c", CHILD, base_url, str(prefetch), str(INVOICES)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,  # ``-c`` puts the working folder first on the path
    ).stdout
    result = json.loads(out)
    package = Path(result["package"]).resolve()
    if not package.is_relative_to(tree.resolve()):
        raise RuntimeError(f"the child imported {package}, not the package under {tree}")
    return float(result["seconds"])


def rate_range(seconds: list[float]) -> tuple[float, float, float]:
    rates = sorted(INVOICES / s for s in seconds)
    return INVOICES / statistics.median(seconds), rates[0], rates[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", default=BASE, help=f"the commit to compare with ({BASE})")
    parser.add_argument("--rounds", type=int, default=9, help="runs of each (9)")
    args = parser.parse_args()
    base_sha = git("rev-parse", "--short", args.base).decode().strip()
    with tempfile.TemporaryDirectory() as tmp, server_process(INVOICES, PAGE_SIZE) as server:
        trees = {"base": extract(args.base, Path(tmp)), "this tree": ROOT}
        times: dict[tuple[str, int, int], list[float]] = {}
        for round_ in range(args.rounds):
            for latency, prefetch in CONFIGS:
                order = list(trees) if round_ % 2 == 0 else list(trees)[::-1]
                for name in order:
                    url = server.base_url(latency, INVOICES)
                    seconds = run_child(trees[name], url, prefetch)
                    times.setdefault((name, latency, prefetch), []).append(seconds)
                    print(
                        f"  round {round_ + 1}/{args.rounds} {latency} ms prefetch {prefetch} "
                        f"{name:<9} {INVOICES / seconds:>9,.0f} invoices/s",
                        file=sys.stderr,
                        flush=True,
                    )
    print(
        f"{INVOICES:,} invoices, pages of {PAGE_SIZE}, {args.rounds} alternated rounds, "
        f"base {args.base} ({base_sha}):\n"
    )
    print(
        "| latency | prefetch | base: invoices/s (median, range) "
        "| this tree: invoices/s (median, range) | this tree / base |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for latency, prefetch in CONFIGS:
        before = rate_range(times[("base", latency, prefetch)])
        after = rate_range(times[("this tree", latency, prefetch)])
        print(
            f"| {latency} ms | {prefetch} | {before[0]:,.0f} ({before[1]:,.0f} to "
            f"{before[2]:,.0f}) | {after[0]:,.0f} ({after[1]:,.0f} to {after[2]:,.0f}) "
            f"| {after[0] / before[0]:.2f}x |"
        )


if __name__ == "__main__":
    main()

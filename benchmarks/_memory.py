"""Peak-memory measurement shared by the benchmarks: run in a fresh child process."""

from __future__ import annotations

import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path


def peak_rss_kib() -> int:
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


async def measure_peak(
    work: Callable[[], Awaitable[int]], *, expected: int, mode: str, what: str
) -> dict[str, float]:
    """Run ``work`` (which returns how many things it read) and report its peak memory.

    ``mode`` is ``"tracemalloc"`` (Python allocations) or ``"rss"`` (peak RSS growth above
    the peak before the work).
    """
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
        tracemalloc.reset_peak()
    baseline = peak_rss_kib()
    start = time.perf_counter()
    count = await work()
    elapsed = time.perf_counter() - start
    if count != expected:
        raise RuntimeError(f"read {count} {what}, expected {expected}")
    if mode == "tracemalloc":
        peak_kib = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
        return {"peak_kib": peak_kib, "seconds": elapsed}
    return {"peak_kib": peak_rss_kib() - baseline, "baseline_kib": baseline, "seconds": elapsed}

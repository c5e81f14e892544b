"""Open file descriptors (sockets, files) and tasks return to where they started.

Counted from ``/proc/self/fd``: every socket and file the process holds, whoever
opened it. The fake server runs in the same process, so its listening socket is part
of the baseline, and its side of each connection must close too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from myreports_async import MyReportsClient, RetryPolicy, TransportError
from myreports_async._cli._app import cli as cli_main
from myreports_async.testing import FakeServer, FakeService, Fault

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)"
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def describe_fds() -> list[str]:
    targets = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            targets.append(f"{name} -> {os.readlink(f'/proc/self/fd/{name}')}")
    return sorted(targets)


def other_tasks() -> set[asyncio.Task[object]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


async def settled(baseline_fds: int, baseline_tasks: set[asyncio.Task[object]]) -> None:
    """Wait (briefly) until fds and tasks are back at their baselines, else fail.

    Fewer descriptors than the baseline is fine: something opened before the test (a
    pooled connection of an earlier test, say) may close meanwhile. More is a leak.
    """
    for _ in range(300):
        if open_fds() <= baseline_fds and other_tasks() <= baseline_tasks:
            return
        await asyncio.sleep(0.01)
    assert open_fds() <= baseline_fds, describe_fds()
    assert other_tasks() <= baseline_tasks, other_tasks() - baseline_tasks


@pytest.fixture
async def running() -> AsyncIterator[FakeServer]:
    service = FakeService(20_000, seed=9)
    async with FakeServer(service) as server:
        yield server


async def test_cancelling_a_prefetching_stream_leaks_nothing(running: FakeServer) -> None:
    fds, tasks = open_fds(), other_tasks()
    seen = 0
    started = asyncio.Event()

    async def consume() -> None:
        nonlocal seen
        async with MyReportsClient("test-token", base_url=running.url) as client:
            async for _ in client.iter_invoices(page_size=100, prefetch=8):
                seen += 1
                if seen == 1500:
                    started.set()
                await asyncio.sleep(0)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    assert open_fds() > fds  # connections were open mid-stream
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await settled(fds, tasks)


async def test_a_failed_download_leaks_nothing(running: FakeServer, tmp_path: Path) -> None:
    running.service.inject(Fault.drop(), route="summary", times=None)
    target = tmp_path / "summary.pdf"
    fds, tasks = open_fds(), other_tasks()
    retry = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.002)
    async with MyReportsClient("test-token", base_url=running.url, retry=retry) as client:
        with pytest.raises(TransportError):
            await client.download_invoice_summary(running.service.invoice_id(0), target)
    await settled(fds, tasks)
    assert os.listdir(tmp_path) == []  # no temporary file left behind


async def test_a_cli_run_leaks_nothing(running: FakeServer, tmp_path: Path) -> None:
    # In process (CliRunner, in a worker thread: the command runs its own event loop), so
    # the descriptors it opens are this process's to count.
    output = tmp_path / "out.ndjson"
    env = {"MYREPORTS_BASE_URL": running.url, "MYREPORTS_TOKEN": "test-token"}
    runner = CliRunner()
    args = ["invoices", "--page-size", "500", "--prefetch", "8", "--output", str(output)]
    await asyncio.to_thread(runner.invoke, cli_main, args, env=env)  # warm imports
    fds, tasks = open_fds(), other_tasks()
    result = await asyncio.to_thread(runner.invoke, cli_main, args, env=env)
    assert result.exit_code == 0, result.output
    assert output.read_text().count("\n") == 20_000
    failed = await asyncio.to_thread(
        runner.invoke, cli_main, ["invoice", "0" * 24], env={**env, "MYREPORTS_TOKEN": "wrong"}
    )
    assert failed.exit_code == 3, failed.output
    await settled(fds, tasks)
    assert sys.exc_info() == (None, None, None)

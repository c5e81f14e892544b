"""What the library logs and what the CLI shows while it waits: requests at DEBUG,
retries at INFO and, without -v, one line per retry on a terminal's stderr."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import re

import pytest

from myreports_async import MyReportsClient
from myreports_async.testing import FakeService, Fault

from .cli_support import CLI, TOKEN, WAIT_S, run_cli
from .conftest import ClientFactory

HTTP_LOGGER = "myreports_async.http"
ATTEMPT_LINE = re.compile(
    r"^GET http://127\.0\.0\.1:\d+/api/v1\.0/billingdata\?pageIndex=(\d+)&pageSize=10"
    r" -> (HTTP \d{3}(?:, then failed \(.+\))?|failed \(.+\)) in \d+\.\d{3}s \(attempt (\d)\)$"
)


async def test_each_attempt_is_logged_at_debug_and_each_retry_at_info(
    make_client: ClientFactory, service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=HTTP_LOGGER)
    service.inject(Fault.status(503, retry_after=0), route="list", page_index=1)
    service.inject(Fault.drop(), route="list", page_index=2)
    client: MyReportsClient = make_client()
    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=1)]
    assert len(ids) == service.invoice_count

    records = [r for r in caplog.records if r.name == HTTP_LOGGER]
    attempts = [ATTEMPT_LINE.match(r.getMessage()) for r in records if r.levelno == logging.DEBUG]
    assert all(attempts), [r.getMessage() for r in records]
    seen = [(int(m[1]), m[2].split(" (")[0], int(m[3])) for m in attempts if m]
    assert seen[:6] == [
        (0, "HTTP 200", 1),
        (1, "HTTP 503", 1),
        (1, "HTTP 200", 2),
        (2, "HTTP 200, then failed", 1),
        (2, "HTTP 200", 2),
        (3, "HTTP 200", 1),
    ]
    retries = [r for r in records if r.levelno == logging.INFO]
    assert [getattr(r, "retry", False) for r in retries] == [True, True]
    assert retries[0].getMessage().startswith("attempt 1 of 5 for http://127.0.0.1:")
    assert "failed (HTTP 503: Service Unavailable); retrying in 0.000s" in retries[0].getMessage()
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


# -- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli_service() -> FakeService:
    return FakeService(23, seed=11, max_page_size=10, access_tokens=(TOKEN,))


@pytest.fixture
def faulty(cli_service: FakeService) -> FakeService:
    cli_service.inject(Fault.status(503, retry_after=0), route="list", page_index=0, times=2)
    return cli_service


async def test_show_retries_prints_one_line_per_retry(
    faulty: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("--show-retries", "invoices", "--format", "csv", env=env)

    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err
    for attempt, line in enumerate(lines, 1):
        assert line.startswith(f"retrying: attempt {attempt} of 5 for http://127.0.0.1:")
        assert line.endswith("failed (HTTP 503: Service Unavailable); retrying in 0.000s")
    assert len(result.out.splitlines()) == faulty.invoice_count + 1  # header and every row


async def test_hide_retries_and_a_pipe_by_default_print_nothing(
    faulty: FakeService, env: dict[str, str]
) -> None:
    hidden = await run_cli("--hide-retries", "invoices", env=env)
    faulty.inject(Fault.status(503, retry_after=0), route="list", page_index=0, times=2)
    piped = await run_cli("invoices", env=env)  # stderr is a pipe here, not a terminal

    assert (hidden.code, hidden.err) == (0, "")
    assert (piped.code, piped.err) == (0, "")


async def test_verbose_twice_logs_every_request(faulty: FakeService, env: dict[str, str]) -> None:
    result = await run_cli("-vv", "invoices", "--prefetch", "1", env=env)

    assert result.code == 0, result.err
    requests = re.findall(r"DEBUG myreports_async\.http: GET (\S+) -> (HTTP \d+)", result.err)
    first_page = [status for url, status in requests if "pageIndex=0&" in url]
    assert first_page == ["HTTP 503", "HTTP 503", "HTTP 200"]
    assert len(requests) == len(faulty.list_requests()) == 5  # 3 for page 0, then 1 and 2
    assert "INFO myreports_async.http: attempt 1 of 5 for" in result.err
    assert TOKEN not in result.err


async def test_retries_show_by_default_when_stderr_is_a_terminal(
    faulty: FakeService, env: dict[str, str]
) -> None:
    leader, follower = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "invoices",
            "--output",
            os.devnull,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=follower,
            env=env,
        )
        os.close(follower)
        follower = -1
        code = await asyncio.wait_for(proc.wait(), WAIT_S)
        screen = _read_all(leader).decode("utf-8", "replace")
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)

    assert code == 0, screen
    retries = re.findall(r"retrying: attempt (\d) of 5 for \S+ failed \(HTTP 503", screen)
    assert retries == ["1", "2"]
    # The progress line was erased for each retry line and drawn again below it.
    assert screen.rstrip().endswith("/s")
    assert f"{faulty.invoice_count:,} invoices" in screen


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed (Linux)
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)

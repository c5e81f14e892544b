"""``myreports summary ID`` and ``myreports detail ID``, run through the real entry point.

As in ``test_cli.py``, the fake service runs on the test's own event loop and each CLI
run is a child process, so the loop keeps serving while the test waits for the child.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from myreports_async._cli._output import DownloadProgress
from myreports_async.testing import FakeService, Fault

from .cli_support import CLI, TOKEN, WAIT_S, Result, run_cli


def assert_one_error_line(result: Result, starts: str) -> None:
    assert result.raw == b""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(starts), result.err
    assert "Traceback" not in result.err


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def part_sizes(directory: Path) -> list[int]:
    """Sizes of the temporary ``.part`` files of downloads in ``directory``."""
    return [p.stat().st_size for p in directory.glob(".*.part")]


@pytest.fixture
def cli_service() -> FakeService:
    return FakeService(5, seed=11, access_tokens=(TOKEN,), summary_size=300_000)


# -- success -------------------------------------------------------------------------------


async def test_summary_writes_the_pdf_to_the_file(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "invoice.pdf"

    result = await run_cli("summary", cli_service.invoice_id(1), "--output", str(target), env=env)

    assert result.code == 0, result.err
    assert (result.raw, result.err) == (b"", "")
    assert target.read_bytes() == cli_service.summary_pdf(1)
    assert listing(tmp_path) == ["invoice.pdf"]


async def test_detail_writes_the_zip_to_the_file(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    cli_service.detail_items = 500
    target = tmp_path / "detail.zip"

    result = await run_cli("detail", cli_service.invoice_id(2), "-o", str(target), env=env)

    assert result.code == 0, result.err
    assert target.read_bytes() == cli_service.detail_zip(2)


async def test_dash_writes_the_file_to_standard_output(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("summary", cli_service.invoice_id(3), "-o", "-", env=env)

    assert result.code == 0, result.err
    assert result.raw == cli_service.summary_pdf(3)


async def test_a_dropped_connection_is_retried(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    cli_service.inject(Fault.drop(mid_body=True), route="summary")
    target = tmp_path / "invoice.pdf"

    result = await run_cli("summary", cli_service.invoice_id(0), "-o", str(target), env=env)

    assert result.code == 0, result.err
    assert target.read_bytes() == cli_service.summary_pdf(0)
    assert [r.status for r in cli_service.requests] == [-1, 200]


# -- failures ------------------------------------------------------------------------------


async def test_unknown_invoice_exits_4_and_leaves_the_file_alone(
    env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "invoice.pdf"
    target.write_bytes(b"last month's")

    result = await run_cli("summary", "0" * 24, "-o", str(target), env=env)

    assert result.code == 4
    assert_one_error_line(result, "error: not found: HTTP 404")
    assert target.read_bytes() == b"last month's"
    assert listing(tmp_path) == ["invoice.pdf"]


async def test_malformed_invoice_id_is_a_usage_error(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    result = await run_cli("detail", "a/b", "-o", str(tmp_path / "d.zip"), env=env)

    assert result.code == 2
    assert "Invalid value for 'ID'" in result.err
    assert "Traceback" not in result.err
    assert cli_service.requests == []
    assert listing(tmp_path) == []


async def test_output_is_required(cli_service: FakeService, env: dict[str, str]) -> None:
    result = await run_cli("summary", cli_service.invoice_id(0), env=env)

    assert result.code == 2
    assert "Missing option '-o' / '--output'" in result.err


async def test_a_body_that_is_not_a_pdf_exits_7(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    cli_service.inject(Fault.body(b"<html>maintenance</html>"), route="summary")

    result = await run_cli(
        "summary", cli_service.invoice_id(0), "-o", str(tmp_path / "x.pdf"), env=env
    )

    assert result.code == 7
    assert_one_error_line(
        result, "error: unexpected answer from the service: summary is not a PDF (starts with"
    )
    assert listing(tmp_path) == []


async def test_a_missing_directory_exits_1(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "x.pdf"

    result = await run_cli("summary", cli_service.invoice_id(0), "-o", str(target), env=env)

    assert result.code == 1
    assert_one_error_line(result, f"error: cannot write {target}: No such file or directory")
    assert cli_service.requests == []


async def test_ctrl_c_mid_download_exits_130_and_leaves_no_file(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    cli_service.inject(Fault.stall(60), route="summary")
    target = tmp_path / "invoice.pdf"
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "summary",
        cli_service.invoice_id(0),
        "-o",
        str(target),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        for _ in range(int(WAIT_S / 0.01)):  # until half the body is in the temporary file
            if any(part_sizes(tmp_path)):
                break
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()

    assert proc.returncode == 130
    assert err.decode().splitlines() == ["interrupted"]
    assert listing(tmp_path) == []


# -- the progress bar ----------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
async def test_progress_bar_shows_when_stderr_is_a_terminal(
    cli_service: FakeService, env: dict[str, str], tmp_path: Path
) -> None:
    import pty

    cli_service.inject(Fault.stall(0.5), route="summary")  # slow enough to draw the bar
    target = tmp_path / "invoice.pdf"
    controller, terminal = pty.openpty()
    screen = bytearray()

    def read_screen() -> None:
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # the terminal side is closed
                return
            if not data:
                return
            screen.extend(data)

    reader = threading.Thread(target=read_screen, daemon=True)
    reader.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "summary",
            cli_service.invoice_id(0),
            "-o",
            str(target),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        code = await asyncio.wait_for(proc.wait(), WAIT_S)
        await asyncio.to_thread(reader.join, WAIT_S)
    finally:
        os.close(controller)

    assert code == 0
    assert target.read_bytes() == cli_service.summary_pdf(0)
    last = screen.decode().replace("\r\n", "\n").split("\r")[-1]
    assert last.startswith("[########################] 100%  0.3 of 0.3 MiB"), screen
    assert last.endswith("MiB/s\n"), screen


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_download_progress_draws_a_bar_at_most_once_per_interval() -> None:
    clock, screen = FakeClock(), io.StringIO()
    progress = DownloadProgress(screen, interval_s=0.5, clock=clock)
    mib = 1024 * 1024

    for received, now in [(mib, 100.25), (2 * mib, 100.5), (3 * mib, 100.75), (4 * mib, 101.0)]:
        clock.now = now
        progress.update(received, 8 * mib)
    progress.finish(keep=True)

    assert screen.getvalue().split("\r")[1:] == [
        "[######------------------]  25%  2.0 of 8.0 MiB  4.0 MiB/s",
        "[############------------]  50%  4.0 of 8.0 MiB  4.0 MiB/s",
        "[############------------]  50%  4.0 of 8.0 MiB  4.0 MiB/s\n",
    ]


def test_download_progress_without_a_total_shows_bytes_and_rate() -> None:
    clock, screen = FakeClock(), io.StringIO()
    progress = DownloadProgress(screen, clock=clock)
    clock.now += 2
    progress.update(3 * 1024 * 1024, None)
    progress.finish(keep=False)

    drawn = "3.0 MiB  2.0 s  1.5 MiB/s"
    assert screen.getvalue() == "\r" + drawn + "\r" + " " * len(drawn) + "\r"


def test_download_progress_of_a_quick_download_draws_nothing() -> None:
    clock, screen = FakeClock(), io.StringIO()
    progress = DownloadProgress(screen, clock=clock)
    progress.update(2048, 2048)
    progress.finish(keep=True)

    assert screen.getvalue() == ""

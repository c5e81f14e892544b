"""The ``myreports`` command line, run through its real entry point in a subprocess.

The fake service runs on the test's own event loop; each CLI run is a child process
started with ``asyncio.create_subprocess_exec``, so the loop keeps serving while the test
waits for the child's output or exit.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shlex
import signal
import socket
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from myreports_async import MyReportsClient
from myreports_async._cli._output import Progress
from myreports_async.testing import FakeServer, FakeService, Fault

from .cli_support import CLI, TOKEN, WAIT_S, assert_one_error_line, cli_env, run_cli

CSV_HEADER = [
    "invoice_id",
    "tenant_id",
    "invoice_number",
    "customer_name",
    "billing_period_start",
    "billing_period_end",
    "invoice_value",
]


def expected_record(service: FakeService, index: int) -> dict[str, Any]:
    """What an ndjson line must hold for invoice ``index`` of the service."""
    raw = service.invoice_json(index)
    return {
        "invoice_id": raw["invoiceid"],
        "tenant_id": raw["tenantId"],
        "invoice_number": raw["invoiceNumber"],
        "customer_name": raw["customerName"],
        "billing_period_start": datetime.fromisoformat(raw["billingPeriodStart"]).isoformat(),
        "billing_period_end": datetime.fromisoformat(raw["billingPeriodEnd"]).isoformat(),
        # The exact decimal of the JSON number, as a string: 17.5 -> "17.5".
        "invoice_value": format(Decimal(repr(raw["invoiceValue"])), "f"),
    }


def expected_records(service: FakeService) -> list[dict[str, Any]]:
    return [expected_record(service, i) for i in range(service.invoice_count)]


@pytest.fixture
def cli_service() -> FakeService:
    # 23 invoices in pages capped at 10: three pages, the last one short.
    return FakeService(23, seed=11, max_page_size=10, access_tokens=(TOKEN,))


# -- invoices ------------------------------------------------------------------------------


async def test_invoices_ndjson_is_every_invoice_in_order(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("invoices", "--format", "ndjson", env=env)

    assert result.code == 0, result.err
    assert result.err == ""
    assert [json.loads(line) for line in result.out.splitlines()] == expected_records(cli_service)


async def test_invoices_csv_is_a_header_then_every_invoice(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("invoices", "--format", "csv", env=env)

    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == CSV_HEADER
    assert rows[1:] == [list(record.values()) for record in expected_records(cli_service)]


async def test_invoices_table_lists_every_invoice_in_aligned_columns(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("invoices", "--format", "table", env=env)

    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    assert re.split(r"\s{2,}", header) == [
        "INVOICE ID",
        "NUMBER",
        "CUSTOMER",
        "PERIOD START",
        "PERIOD END",
        "VALUE",
    ]
    assert [row.split()[0] for row in rows] == cli_service.invoice_ids()
    assert len({len(line) for line in [header, *rows]}) == 1  # values right-aligned
    for index, row in enumerate(rows):
        value = Decimal(repr(cli_service.invoice_json(index)["invoiceValue"]))
        assert row.endswith(f"  {value:,f}")


async def test_invoices_output_writes_the_file_not_stdout(
    cli_service: FakeService, env: dict[str, str], tmp_path: Any
) -> None:
    target = tmp_path / "invoices.ndjson"

    result = await run_cli("invoices", "--output", str(target), env=env)

    assert result.code == 0, result.err
    assert result.out == ""
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == expected_records(cli_service)


async def test_failure_before_the_first_invoice_leaves_the_file_alone(
    cli_server: FakeServer, tmp_path: Any
) -> None:
    target = tmp_path / "invoices.csv"
    target.write_text("yesterday's export\n", encoding="utf-8")
    env = cli_env(MYREPORTS_BASE_URL=cli_server.url, MYREPORTS_TOKEN="expired")

    result = await run_cli("invoices", "--format", "csv", "--output", str(target), env=env)

    assert result.code == 3
    assert target.read_text(encoding="utf-8") == "yesterday's export\n"


async def test_an_empty_collection_still_writes_the_csv_header(
    cli_service: FakeService, env: dict[str, str], tmp_path: Any
) -> None:
    cli_service.invoice_count = 0
    target = tmp_path / "invoices.csv"

    result = await run_cli("invoices", "--format", "csv", "--output", str(target), env=env)

    assert result.code == 0, result.err
    assert target.read_text(encoding="utf-8") == ",".join(CSV_HEADER) + "\n"


async def test_ctrl_c_during_invoices_exits_130_with_whole_lines(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    # Page 1 hangs, so the listing is stuck after the 10 invoices of page 0.
    cli_service.inject(Fault.delay(60), route="list", page_index=1, times=None)
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "invoices",
        "--page-size",
        "10",
        "--prefetch",
        "1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        first = [await asyncio.wait_for(proc.stdout.readline(), WAIT_S) for _ in range(10)]
        proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()

    assert proc.returncode == 130
    assert err.decode().splitlines() == ["interrupted after 10 invoices"]
    lines = b"".join(first).decode().splitlines() + rest.decode().splitlines()
    assert [json.loads(line) for line in lines] == expected_records(cli_service)[:10]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX shell")
async def test_closed_stdout_ends_quietly(cli_server: FakeServer, env: dict[str, str]) -> None:
    cli_server.service.invoice_count = 3000  # far more than a pipe buffer holds
    command = shlex.join([*CLI, "invoices"]) + ' | head -n 1 >/dev/null; echo "${PIPESTATUS[0]}"'
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)

    assert out.decode().strip() == "141"
    assert err.decode() == ""


# -- invoice ID ----------------------------------------------------------------------------


async def test_invoice_prints_one_json_object(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("invoice", cli_service.invoice_id(4), env=env)

    assert result.code == 0, result.err
    assert result.out.count("\n") == 1
    assert json.loads(result.out) == expected_record(cli_service, 4)


async def test_unknown_invoice_exits_4(env: dict[str, str]) -> None:
    result = await run_cli("invoice", "0" * 24, env=env)

    assert result.code == 4
    assert_one_error_line(result, "error: not found: HTTP 404")


async def test_malformed_invoice_id_is_a_usage_error(env: dict[str, str]) -> None:
    result = await run_cli("invoice", "a/b", env=env)

    assert result.code == 2
    assert "Invalid value for 'ID'" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("prefetch", ["0", "65", "1000000000"])
async def test_prefetch_out_of_range_is_a_usage_error_before_any_request(
    cli_server: FakeServer, env: dict[str, str], prefetch: str
) -> None:
    result = await run_cli("invoices", "--prefetch", prefetch, env=env)

    assert result.code == 2
    assert f"Invalid value for '--prefetch': {prefetch} is not in the range 1<=x<=64" in (
        result.err
    )
    assert cli_server.service.requests == []


# -- failures ------------------------------------------------------------------------------


async def test_bad_token_exits_3_and_never_shows_it(cli_server: FakeServer) -> None:
    secret = "not-the-token-s3cret"
    env = cli_env(MYREPORTS_BASE_URL=cli_server.url, MYREPORTS_TOKEN=secret)

    result = await run_cli("-vv", "invoices", env=env)

    assert result.code == 3
    # -vv logs each request (lines that start with a timestamp), then the one error line.
    logged: list[str] = []
    errors: list[str] = []
    for line in result.err.splitlines():
        (logged if re.match(r"\d{4}-\d\d-\d\d ", line) else errors).append(line)
    assert any("-> HTTP 401" in line for line in logged)
    assert_one_error_line(attrs.evolve(result, err="\n".join(errors)), "error: authentication")
    assert secret not in result.err


@pytest.mark.parametrize(
    ("fault", "code", "starts"),
    [
        (Fault.status(403), 3, "error: permission denied: HTTP 403"),
        (Fault.status(503), 6, "error: service error: HTTP 503"),
        (Fault.status(429), 6, "error: rate limited: HTTP 429"),
        (Fault.body(b"<html>oops</html>"), 7, "error: unexpected answer from the service"),
    ],
)
async def test_service_failures_exit_with_their_code(
    cli_service: FakeService, env: dict[str, str], fault: Fault, code: int, starts: str
) -> None:
    cli_service.inject(fault, route="invoice", times=None)

    result = await run_cli("--max-attempts", "1", "invoice", cli_service.invoice_id(0), env=env)

    assert result.code == code
    assert_one_error_line(result, starts)


async def test_unreachable_host_exits_5() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = cli_env(MYREPORTS_BASE_URL=f"http://127.0.0.1:{port}", MYREPORTS_TOKEN=TOKEN)

    result = await run_cli("--max-attempts", "1", "--timeout", "2", "invoices", env=env)

    assert result.code == 5
    assert_one_error_line(result, "error: cannot reach the service")


async def test_http_base_url_off_loopback_is_a_usage_error() -> None:
    env = cli_env(MYREPORTS_TOKEN=TOKEN)

    result = await run_cli("--base-url", "http://billing.example.com", "invoices", env=env)

    assert result.code == 2
    assert "Invalid value for '--base-url'" in result.err
    assert "https://" in result.err
    assert "Traceback" not in result.err
    assert TOKEN not in result.err


async def test_missing_token_names_the_variable() -> None:
    result = await run_cli("invoices", env=cli_env(MYREPORTS_BASE_URL="http://127.0.0.1:9"))

    assert result.code == 2
    assert "no access token: pass --token or set MYREPORTS_TOKEN" in result.err
    assert "Traceback" not in result.err


async def test_help_lists_the_exit_codes() -> None:
    result = await run_cli("--help", env=cli_env())

    assert result.code == 0
    for line in ["3    authentication", "4    not found", "5    transport", "130  interrupted"]:
        assert line in result.out


# -- demo and fake-server ------------------------------------------------------------------


async def test_demo_prints_the_invoices_and_a_summary() -> None:
    result = await run_cli("demo", env=cli_env())

    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    assert header.startswith("INVOICE ID")
    assert len(rows) == 1000
    assert len({row.split()[0] for row in rows}) == 1000
    summary = result.err.splitlines()
    assert len(summary) == 1
    assert summary[0].startswith("demo: 1,000 invoices, total value ")
    assert "4 pages (the server capped pages at 250; 1,000 asked)" in summary[0]


async def test_demo_ndjson_has_the_requested_count() -> None:
    result = await run_cli("demo", "--invoices", "37", "--format", "ndjson", env=cli_env())

    assert result.code == 0, result.err
    ids = [json.loads(line)["invoice_id"] for line in result.out.splitlines()]
    assert len(set(ids)) == 37
    assert result.err.startswith("demo: 37 invoices")


async def test_fake_server_serves_until_sigint() -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "fake-server",
        "--port",
        "0",
        "--invoices",
        "7",
        "--token",
        "local-token",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdout is not None
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), WAIT_S)).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        url = match.group(0)
        assert match.group(1) != "0"
        async with MyReportsClient("local-token", base_url=url) as client:
            listed = [invoice async for invoice in client.iter_invoices()]
        proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()

    assert len(listed) == 7
    assert f"MYREPORTS_BASE_URL={url} MYREPORTS_TOKEN=local-token myreports invoices" in (
        rest.decode()
    )
    assert proc.returncode == 0
    assert err.decode().splitlines() == ["fake service stopped"]


async def test_fake_server_refuses_a_public_host() -> None:
    result = await run_cli("fake-server", "--host", "0.0.0.0", env=cli_env())  # noqa: S104

    assert result.code == 2
    assert "not a loopback address" in result.err


# -- the progress line ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_redraws_at_most_once_per_interval() -> None:
    clock, screen = FakeClock(), io.StringIO()
    progress = Progress(screen, interval_s=0.5, clock=clock)

    for count, now in enumerate([100.25, 100.5, 100.75, 101.0, 101.25], start=1):
        clock.now = now
        progress.update(count)

    assert screen.getvalue().split("\r")[1:] == [
        "2 invoices  0.5 s  4/s",
        "4 invoices  1.0 s  4/s",
    ]


def test_progress_keeps_the_final_figures_or_erases_itself() -> None:
    clock, kept, erased = FakeClock(), io.StringIO(), io.StringIO()
    first = Progress(kept, clock=clock)
    second = Progress(erased, clock=clock)
    clock.now += 2
    second.update(10)

    first.finish(50, keep=True)
    second.finish(10, keep=False)

    assert kept.getvalue() == "\r50 invoices  2.0 s  25/s\n"
    assert erased.getvalue().endswith("\r" + " " * len("10 invoices  2.0 s  5/s") + "\r")


def test_progress_without_a_terminal_writes_nothing() -> None:
    progress = Progress(None)
    progress.update(1)
    progress.finish(1, keep=True)  # no stream, no error

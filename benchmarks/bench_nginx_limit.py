"""The listing behind a real nginx ``limit_req``: time against the best possible, refusals, gaps.

Usage (nginx must be installed: ``apt-get install nginx-light`` on Debian)::

    python benchmarks/bench_nginx_limit.py              # every variant once
    python benchmarks/bench_nginx_limit.py --repeats 3

A :class:`myreports_async.testing.FakeService` (no limit of its own, 20 ms per answer) runs
in a child process on 127.0.0.1; nginx runs in the foreground from a temporary prefix,
listening on 127.0.0.1 only, in front of it with ``limit_req zone=... burst=5`` at 20
requests/s (requests within the burst are delayed, as nginx does by default). Variants:

- ``429 + Retry-After: 1``: ``limit_req_status 429`` and ``add_header Retry-After 1 always``;
- ``429, no Retry-After``: ``limit_req_status 429`` alone;
- ``503 (nginx's default)``: no ``limit_req_status``: 503 without ``Retry-After``.

The client lists 20,000 invoices at ``page_size=100`` (201 requests) at prefetch 8 and 64,
default ``RetryPolicy``. Measured, client side: the time against the best possible (the
first request and the burst at once, then one request per 1/20 s: 200 - 5 requests at 20/s),
the share of requests refused, and the longest gap between two requests. Every run checks
it got every invoice once, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from bench_rate_limit import PAGE_SIZE, TOKEN, Recorder, Run, Variant, fake_service

from myreports_async import MyReportsClient
from myreports_async._errors import MyReportsError

RATE = 20
BURST = 5
INVOICES = 20_000
PAGE = 100
BEST = (INVOICES // PAGE - BURST) / RATE  # 201 requests: 1 + 5 at once, then 195 at 20/s
TARGET = 1.3
TARGET_GAP = 2.0

CONFIG = """
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    limit_req_zone $server_port zone=api:1m rate={rate}r/s;
    upstream fake {{ server {upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            limit_req zone=api burst={burst};
            {status}
            {header}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://fake;
        }}
    }}
}}
"""

VARIANTS = {
    "429 + Retry-After: 1": ("limit_req_status 429;", "add_header Retry-After 1 always;"),
    "429, no Retry-After": ("limit_req_status 429;", ""),
    "503 (nginx's default)": ("", ""),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def nginx(upstream: str, status: str, header: str) -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        conf = Path(prefix, "nginx.conf")
        conf.write_text(
            CONFIG.format(
                prefix=prefix,
                rate=RATE,
                burst=BURST,
                upstream=upstream,
                port=port,
                status=status,
                header=header,
            )
        )
        # Fixed argv: the nginx binary, a temporary prefix and the config written above.
        proc = subprocess.Popen(  # noqa: S603
            [binary, "-p", prefix, "-c", str(conf), "-e", f"{prefix}/error.log"]
        )
        try:
            for _ in range(100):
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.05)
            else:
                raise RuntimeError("nginx did not start")
            time.sleep(1.0)  # a quiet second: the zone starts with its burst
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def listing(url: str, prefetch: int) -> tuple[Run, str | None]:
    rec = Recorder()
    ids: list[str] = []
    error = None
    start = time.perf_counter()
    try:
        async with (
            aiohttp.ClientSession(trace_configs=[rec.config]) as session,
            MyReportsClient(TOKEN, base_url=url, session=session) as client,
        ):
            async for invoice in client.iter_invoices(page_size=PAGE, prefetch=prefetch):
                ids.append(invoice.invoice_id)
    except MyReportsError as exc:
        error = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - start
    if error is None and (len(ids) != INVOICES or len(set(ids)) != INVOICES):
        error = f"listed {len(ids)} invoices, not {INVOICES}"
    return rec.run(elapsed), error


@dataclass
class Row:
    variant: str
    prefetch: int
    runs: list[Run] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def main_async(repeats: int) -> list[Row]:
    # The service behind nginx: no limit of its own, 20 ms per answer.
    upstream_variant = Variant("upstream", None, 1, None, 429, INVOICES // PAGE_SIZE, 8)
    rows = [Row(name, p) for name in VARIANTS for p in (8, 64)]
    with fake_service(upstream_variant) as upstream_url:
        upstream = upstream_url.removeprefix("http://")
        for repeat in range(repeats):
            for row in rows:
                status, header = VARIANTS[row.variant]
                with nginx(upstream, status, header) as url:
                    run, error = await listing(url, row.prefetch)
                row.runs.append(run)
                if error:
                    row.errors.append(error)
                print(
                    f"  run {repeat + 1}/{repeats} {row.variant:<24} prefetch {row.prefetch:>2} "
                    f"{run.seconds:6.2f} s {run.seconds / BEST:.2f}x best "
                    f"{run.refused}/{run.requests} refused gap {run.longest_gap:.2f} s"
                    f"{'  FAILED: ' + error if error else ''}",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


def report(rows: list[Row], repeats: int) -> str:
    lines = [
        f"nginx `limit_req` {RATE} r/s, burst {BURST}, {INVOICES:,} invoices at page_size "
        f"{PAGE} (best possible {BEST:.2f} s), {repeats} run(s) each, min to max:",
        "",
        "| nginx answer | prefetch | seconds | x best | refused | longest gap | failed runs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        secs = [r.seconds for r in row.runs]
        shares = [r.refused_share for r in row.runs]
        gaps = [r.longest_gap for r in row.runs]
        lines.append(
            f"| {row.variant} | {row.prefetch} | {min(secs):.2f} to {max(secs):.2f} "
            f"| {min(secs) / BEST:.2f}x to {max(secs) / BEST:.2f}x "
            f"| {min(shares):.1%} to {max(shares):.1%} | {max(gaps):.2f} s "
            f"| {len(row.errors)} |"
        )
    lines += ["", "Targets (429 with and without Retry-After):", ""]
    for row in rows:
        if row.variant.startswith("503"):
            continue
        worst = max(r.seconds for r in row.runs) / BEST
        gap = max(r.longest_gap for r in row.runs)
        ok = worst <= TARGET and gap <= TARGET_GAP and not row.errors
        lines.append(
            f"- {'PASS' if ok else 'FAIL'}: {row.variant}, prefetch {row.prefetch}: "
            f"<= {TARGET}x best and no gap over {TARGET_GAP:g} s (worst {worst:.2f}x, "
            f"gap {gap:.2f} s, {len(row.errors)} failed)"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant (1)")
    args = parser.parse_args()
    rows = asyncio.run(main_async(args.repeats))
    print(report(rows, args.repeats))


if __name__ == "__main__":
    main()

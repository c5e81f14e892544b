"""A loopback billing-data server for the benchmarks, run as its own process.

It serves ``GET /api/v1.0/billingdata?pageIndex=N&pageSize=M`` from page bodies that are
serialized once, at start, so the server spends as little CPU per request as possible and
the measurement is about the client. Two path prefixes select, in the same process, the
answer delay and how many invoices the collection holds (the client accepts a base URL
with a path prefix)::

    /api/v1.0/billingdata                             no delay, every invoice
    /d/{delay_ms}/n/{count}/api/v1.0/billingdata      delay, then the first `count` invoices
    /d/{delay_ms}/n/{count}/r/{rps}/{burst}/{bucket}/api/v1.0/billingdata
                                                      the same behind a token bucket of
                                                      `rps` requests/s holding `burst`, one
                                                      bucket per `bucket` name: beyond it,
                                                      429 with a fractional Retry-After

``count`` must be a multiple of the page size it is read with to be served from the
pre-serialized pages; other combinations are built on demand (and remembered), which is
correct but not what the benchmark measures. Pages past the end are empty. Any bearer
token is accepted (a request without one gets 401).

Usage (the benchmark does this)::

    python benchmarks/_server.py --invoices 1000000 --page-size 1000

It prints ``READY <port>`` on stdout once it listens on 127.0.0.1 (a free port), and stops
when its stdin reaches end of file, so it never outlives the process that started it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import socket
import time
from datetime import date, timedelta

import orjson
from _process import stop_at_stdin_eof
from aiohttp import web

__all__ = ["PagedCollection", "TokenBucket", "base_path", "invoice_dict", "page_body", "serve"]

_PATH = "/api/v1.0/billingdata"
_TENANTS = 40
_CUSTOMERS = 1500
_PERIODS = 36  # 2020-01 .. 2022-12


def _month_bounds(month_index: int) -> tuple[str, str]:
    year, month = 2020 + month_index // 12, month_index % 12 + 1
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return (
        f"{first.isoformat()}T00:00:00.000+00:00",
        f"{last.isoformat()}T23:59:59.999+00:00",
    )


_BOUNDS = [_month_bounds(i) for i in range(_PERIODS)]


def invoice_dict(i: int) -> dict[str, object]:
    """The ``i``-th invoice, shaped like the service's list payload (deterministic)."""
    start, end = _BOUNDS[i % _PERIODS]
    # Cents from a multiplicative hash: values like 17.5, 0.1 or 1234.56 all occur.
    cents = (i * 2654435761) % 10_000_000
    return {
        "tenantId": f"{(i % _TENANTS) * 7919 + 1:08x}-0000-4000-8000-{i % _TENANTS:012x}",
        "invoiceid": f"{i:024x}",
        "invoiceNumber": f"INV-{i:09d}",
        "customerName": f"Customer {i % _CUSTOMERS}",
        "billingPeriodStart": start,
        "billingPeriodEnd": end,
        "invoiceValue": cents / 100,
    }


def _timestamp(index: int) -> str:
    """A server timestamp with 7 fractional digits, distinct per page."""
    seconds = index % 60
    minutes = (index // 60) % 60
    return f"2024-05-01T10:{minutes:02d}:{seconds:02d}.{(index * 7919) % 10_000_000:07d}Z"


def page_body(index: int, items: list[dict[str, object]]) -> bytes:
    return orjson.dumps(
        {
            "page_size": len(items),
            "page_index": index,
            "data": items,
            "status": "success",
            "timestamp": _timestamp(index),
        }
    )


class PagedCollection:
    """``total`` invoices as pre-serialized pages of ``page_size``."""

    def __init__(self, total: int, page_size: int) -> None:
        self.total = total
        self.page_size = page_size
        self._pages: list[bytes] = []
        for index in range((total + page_size - 1) // page_size):
            first = index * page_size
            last = min(first + page_size, total)
            self._pages.append(page_body(index, [invoice_dict(i) for i in range(first, last)]))
        self._other: dict[tuple[int, int, int], bytes] = {}

    @property
    def nbytes(self) -> int:
        return sum(len(page) for page in self._pages)

    def page(self, index: int, size: int, count: int) -> bytes:
        """The body of page ``index`` of size ``size`` in a collection of ``count``."""
        count = min(count, self.total)
        if size == self.page_size and count % size == 0 and index < count // size:
            return self._pages[index]
        key = (index, size, count)
        body = self._other.get(key)
        if body is None:
            first = min(index * size, count)
            last = min(first + size, count)
            body = page_body(index, [invoice_dict(i) for i in range(first, last)])
            if len(self._other) > 10_000:
                self._other.clear()
            self._other[key] = body
        return body


def base_path(delay_ms: int, count: int) -> str:
    """The path prefix that selects a delay and a collection size."""
    return f"/d/{delay_ms}/n/{count}"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": status, "message": message, "status": "error", "timestamp": _timestamp(0)},
        status=status,
        headers=headers,
    )


class TokenBucket:
    """``rate`` requests per second, up to ``burst`` at once: a gateway's rate limit."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._held = self.burst
        self._at = time.monotonic()

    def take(self) -> float | None:
        """``None`` if a request may pass now, else the seconds until one may."""
        now = time.monotonic()
        self._held = min(self.burst, self._held + (now - self._at) * self.rate)
        self._at = now
        if self._held >= 1:
            self._held -= 1
            return None
        return (1 - self._held) / self.rate


def make_app(collection: PagedCollection) -> web.Application:
    buckets: dict[tuple[str, str, str], TokenBucket] = {}

    async def billingdata(request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(401, "Unauthorized")
        try:
            index = int(request.query.get("pageIndex", "0"))
            size = int(request.query.get("pageSize", "1000"))
            delay_ms = int(request.match_info.get("delay", "0"))
            count = int(request.match_info.get("count", str(collection.total)))
        except ValueError:
            return _error(400, "Bad Request")
        if index < 0 or not 1 <= size <= 10_000 or delay_ms < 0 or count < 0:
            return _error(400, "Bad Request")
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        rps = request.match_info.get("rps")
        if rps is not None:
            burst = request.match_info["burst"]
            key = (rps, burst, request.match_info["bucket"])
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = TokenBucket(float(rps), float(burst))
            wait = bucket.take()
            if wait is not None:
                retry_after = f"{math.ceil(wait * 1000) / 1000:.3f}"
                return _error(429, "Too Many Requests", {"Retry-After": retry_after})
        return web.Response(
            body=collection.page(index, size, count), content_type="application/json"
        )

    app = web.Application()
    app.router.add_get(_PATH, billingdata)
    app.router.add_get("/d/{delay}/n/{count}" + _PATH, billingdata)
    app.router.add_get("/d/{delay}/n/{count}/r/{rps}/{burst}/{bucket}" + _PATH, billingdata)
    return app


async def serve(total: int, page_size: int) -> None:
    collection = PagedCollection(total, page_size)
    stop = stop_at_stdin_eof()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    runner = web.AppRunner(make_app(collection), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.SockSite(runner, sock, backlog=512).start()
        print(f"READY {port} {collection.nbytes}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--invoices", type=int, required=True, help="invoices in the collection")
    parser.add_argument("--page-size", type=int, required=True, help="size of pre-built pages")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.invoices, args.page_size))


if __name__ == "__main__":
    main()

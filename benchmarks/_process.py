"""Server processes for the benchmarks: started by the parent, stopped by closing stdin.

The child prints one line ``READY <field> ...`` once it listens, then serves until its
standard input reaches end of file: the parent closed it, or died. So no server outlives
a benchmark, whatever way the benchmark ends.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aiohttp import web


def stop_at_stdin_eof() -> asyncio.Event:
    """In the child: an event set once standard input reaches end of file."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(65536):
                pass
        finally:
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, daemon=True).start()
    return stop


@contextmanager
def server_child(argv: Sequence[str], *, fields: int, what: str) -> Iterator[list[str]]:
    """In the parent: run ``argv`` and yield the ``fields`` words after its ``READY``."""
    # Fixed argv built by the benchmarks themselves: this interpreter and a script here.
    proc = subprocess.Popen(  # noqa: S603
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline().decode().split()
        if len(line) != fields + 1 or line[0] != "READY":
            raise RuntimeError(f"{what} did not start (exit {proc.wait()})")
        yield line[1:]
    finally:
        proc.stdin.close()  # end of file: the server shuts down
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def latency_middleware(seconds: float) -> Any:
    """An aiohttp middleware that answers ``seconds`` late, as a service across a network.

    Appended to a fake service's middlewares, it runs behind the gateway's: a refusal of
    the rate limit is still answered at once, as a gateway does.
    """

    @web.middleware
    async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
        if seconds:
            await asyncio.sleep(seconds)
        response: web.StreamResponse = await handler(request)
        return response

    return slow


async def serve_until_stdin_eof(service: Any) -> None:
    """In the child: serve ``service`` (a ``FakeService``), print ``READY <url>``, and
    stop at standard input's end of file."""
    from myreports_async.testing import FakeServer

    stop = stop_at_stdin_eof()
    async with FakeServer(service) as server:
        print(f"READY {server.url}", flush=True)
        await stop.wait()

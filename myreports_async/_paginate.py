"""Ordered read-ahead over numbered pages, generic over the record type.

Up to ``prefetch`` page requests are in flight at once; pages are handed out strictly in
index order. A request only fetches the page's raw answer (``fetch_page``); the page is
decoded into records (``decode_page``) when its turn comes, just before it is handed out.
Memory holds at most ``prefetch`` raw answers plus the records of one page.

Rule 1: the stream ends only on proof (``_protocol.page_ends_stream``): an empty page, or
        a page shorter than one the server already returned in this stream.
Rule 2: a page that fails (after the session's retries), or does not decode, raises;
        what was handed out before it is an exact prefix of the server's order.
Rule 3: whenever the stream stops (end, error, ``break``, cancellation, ``aclose()``),
        every request still in flight is cancelled and awaited before control returns,
        so no task, response or warning outlives the stream.

Why decode at the page's turn, not in the request's task: records then live only while
their page is consumed, and the read-ahead holds bytes (280 KB for a page of 1,000
invoices, against 490 KB as records). Records that wait meet the garbage collector's
sweeps, which promote them to the older generations, whose full collections are the
expensive ones: with a consumer that builds a row per record, decoding in the request's
task gave twice as many full collections and about 0.15 µs a record more of collection
time (docs/performance.md). For the same reason a page is let go as soon as it has been
handed out (``del page``, here and in every generator stacked on this one): a
generator's local would keep it alive until the next one arrives.

Each top-up request is let out onto the event loop (``await asyncio.sleep(0)``) before
the page is handed out. Without it, at 20 ms of latency and prefetch 8, every request
waited for the consumer to finish the page before it was sent, and the listing ran at
5.4-6.7x the sequential loop instead of 7.3-7.9x (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

from ._models import Page
from ._protocol import page_ends_stream

__all__ = ["read_ahead_pages"]

T = TypeVar("T")
R = TypeVar("R")

FetchPage = Callable[[int], Awaitable[R]]
DecodePage = Callable[[int, R], Page[T]]


async def read_ahead_pages(
    fetch_page: FetchPage[R],
    decode_page: DecodePage[R, T],
    *,
    start_page: int,
    prefetch: int,
) -> AsyncGenerator[Page[T], None]:
    """Yield the non-empty pages from ``start_page`` on, in order, ``prefetch`` at a time.

    ``fetch_page(index)`` runs as a task (``prefetch`` of them at once) and returns the
    page's raw answer; ``decode_page(index, raw)`` turns it into a :class:`Page` when the
    page's turn comes.
    """
    in_flight: deque[asyncio.Task[R]] = deque()
    next_index = start_page
    head_index = start_page
    largest_seen = 0
    try:
        while True:
            while len(in_flight) < prefetch:
                in_flight.append(asyncio.ensure_future(fetch_page(next_index)))
                next_index += 1
            # Awaited while still in the deque, so that if this await is cancelled the
            # request is among those unwound below.
            raw = await in_flight[0]
            in_flight.popleft()
            page = decode_page(head_index, raw)
            del raw
            head_index += 1
            ends = page_ends_stream(len(page.items), largest_seen)
            largest_seen = max(largest_seen, len(page.items))
            if not ends:
                # Top up before handing the page out, so `prefetch` requests keep
                # running while the consumer works on it; and let the new request go
                # out now: a task only starts at the event loop's next turn, which would
                # otherwise come after the consumer has gone through the whole page.
                in_flight.append(asyncio.ensure_future(fetch_page(next_index)))
                next_index += 1
                await asyncio.sleep(0)
            if page.items:
                yield page
            del page
            if ends:
                return
    finally:
        await _cancel_all(in_flight)


async def _cancel_all(tasks: deque[asyncio.Task[R]]) -> None:
    """Cancel speculative or abandoned page requests and wait until they have unwound."""
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    # Waiting (not just cancelling) lets each request release its connection before the
    # stream reports that it is done. return_exceptions: their outcome no longer matters,
    # and it keeps "exception was never retrieved" warnings away.
    await asyncio.gather(*tasks, return_exceptions=True)
    tasks.clear()

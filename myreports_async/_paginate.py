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
Rule 4: a generator of the listing holds no page while it waits for the next one: it
        lets go (``del page``, and ``del items`` for the records it was handing out) as
        soon as the page is handed out, here and in every generator over this one
        (``_paging``). A generator's local variable would otherwise keep the page alive
        while the next one is fetched and decoded.

Why decode at the page's turn, not in the request's task, and why Rule 4: records then
live only while their page is consumed, and the read-ahead holds bytes, which are
smaller than the records they decode to. Records that wait meet the garbage collector's
sweeps, which promote them to the older generations, whose full collections are the
expensive ones (measurements in docs/performance.md).

Each top-up request is let out onto the event loop (``await asyncio.sleep(0)``) before
the page is handed out: a task only starts at the loop's next turn, and a consumer going
through a page gives the loop no turn, so without it every request would wait for the
consumer to finish the page (docs/performance.md, "20 ms").
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

from ._models import Page
from ._protocol import page_ends_stream

__all__ = ["DecodePage", "FetchPage", "read_ahead_pages"]

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
            del page  # Rule 4
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

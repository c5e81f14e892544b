"""Ordered read-ahead over numbered pages, generic over the record type.

Up to ``prefetch`` page requests are in flight at once; pages are handed out strictly in
index order. Memory holds at most ``prefetch`` pages plus the one being consumed.

Rule 1: the stream ends only on proof (``_protocol.page_ends_stream``): an empty page, or
        a page shorter than one the server already returned in this stream.
Rule 2: a page that fails (after the session's retries) raises; what was handed out
        before it is an exact prefix of the server's order.
Rule 3: whenever the stream stops (end, error, ``break``, cancellation, ``aclose()``),
        every request still in flight is cancelled and awaited before control returns,
        so no task, response or warning outlives the stream.
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

FetchPage = Callable[[int], Awaitable[Page[T]]]


async def read_ahead_pages(
    fetch_page: FetchPage[T], *, start_page: int, prefetch: int
) -> AsyncGenerator[Page[T], None]:
    """Yield the non-empty pages from ``start_page`` on, in order, ``prefetch`` at a time."""
    in_flight: deque[asyncio.Task[Page[T]]] = deque()
    next_index = start_page
    largest_seen = 0
    try:
        while True:
            while len(in_flight) < prefetch:
                in_flight.append(asyncio.ensure_future(fetch_page(next_index)))
                next_index += 1
            # Awaited while still in the deque, so that if this await is cancelled the
            # request is among those unwound below.
            page = await in_flight[0]
            in_flight.popleft()
            ends = page_ends_stream(len(page.items), largest_seen)
            largest_seen = max(largest_seen, len(page.items))
            if not ends:
                # Top up before handing the page out, so `prefetch` requests keep
                # running while the consumer works on it.
                in_flight.append(asyncio.ensure_future(fetch_page(next_index)))
                next_index += 1
            if page.items:
                yield page
            if ends:
                return
    finally:
        await _cancel_all(in_flight)


async def _cancel_all(tasks: deque[asyncio.Task[Page[T]]]) -> None:
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

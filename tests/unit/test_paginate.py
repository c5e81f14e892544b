"""The ordered read-ahead paginator, driven by a scripted page source (no HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import pytest

from myreports_async import Page
from myreports_async._paginate import read_ahead_pages


class PageSource:
    """Pages of ints from a fixed list; page ``i`` answers after ``i``'s gate opens."""

    def __init__(self, total: int, *, page_cap: int, gated: bool = False) -> None:
        self.total = total
        self.page_cap = page_cap
        self.requested: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.cancelled: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.gated = gated
        self.fail_on: dict[int, Exception] = {}
        self.decode_fails_on: dict[int, Exception] = {}
        self.decoded: list[int] = []
        self.eight_in_flight = asyncio.Event()

    def gate(self, index: int) -> asyncio.Event:
        return self.gates.setdefault(index, asyncio.Event())

    async def fetch(self, index: int) -> Page[int]:
        self.requested.append(index)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight == 8:
            self.eight_in_flight.set()
        try:
            if self.gated:
                await self.gate(index).wait()
            else:
                await asyncio.sleep(0)
            if index in self.fail_on:
                raise self.fail_on[index]
            start = index * self.page_cap
            items = tuple(range(start, min(start + self.page_cap, self.total)))
            return Page(index=index, items=items)
        except asyncio.CancelledError:
            self.cancelled.append(index)
            raise
        finally:
            self.in_flight -= 1

    def pages(self, *, start_page: int, prefetch: int) -> AsyncGenerator[Page[int], None]:
        return read_ahead_pages(self.fetch, self.decode, start_page=start_page, prefetch=prefetch)

    def decode(self, index: int, page: Page[int]) -> Page[int]:
        assert page.index == index
        self.decoded.append(index)
        if index in self.decode_fails_on:
            raise self.decode_fails_on[index]
        return page


async def collect(source: PageSource, *, start_page: int = 0, prefetch: int = 4) -> list[int]:
    out: list[int] = []
    async for page in source.pages(start_page=start_page, prefetch=prefetch):
        out.extend(page.items)
    return out


@pytest.mark.parametrize("prefetch", [1, 2, 4, 8])
@pytest.mark.parametrize("total", [0, 1, 9, 10, 11, 95, 100])
async def test_yields_every_item_once_in_order(prefetch: int, total: int) -> None:
    source = PageSource(total, page_cap=10)
    assert await collect(source, prefetch=prefetch) == list(range(total))


async def test_prefetch_bounds_requests_in_flight() -> None:
    source = PageSource(1000, page_cap=10)
    await collect(source, prefetch=3)
    assert source.most_in_flight == 3


async def test_prefetch_one_is_strictly_sequential() -> None:
    source = PageSource(50, page_cap=10)
    await collect(source, prefetch=1)
    assert source.most_in_flight == 1
    assert source.requested == [0, 1, 2, 3, 4, 5]


async def test_start_page_skips_earlier_pages() -> None:
    source = PageSource(35, page_cap=10)
    assert await collect(source, start_page=2) == list(range(20, 35))
    assert min(source.requested) == 2


async def test_empty_collection_yields_no_page() -> None:
    source = PageSource(0, page_cap=10)
    pages = [p async for p in source.pages(start_page=0, prefetch=4)]
    assert pages == []


async def test_pages_arriving_out_of_order_are_decoded_and_yielded_in_order() -> None:
    source = PageSource(25, page_cap=10, gated=True)
    seen: list[int] = []

    async def consume() -> None:
        async for page in source.pages(start_page=0, prefetch=4):
            seen.append(page.index)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    for index in (3, 2, 1):
        source.gate(index).set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == []  # page 0 holds everything back
    assert source.decoded == []  # pages 1-3 are answered, but kept raw until their turn
    source.gate(0).set()
    await consumer
    assert seen == source.decoded == [0, 1, 2]


async def test_a_page_that_does_not_decode_raises_after_an_exact_prefix() -> None:
    source = PageSource(100, page_cap=10)
    source.decode_fails_on[3] = ValueError("page 3 is not JSON")
    out: list[int] = []

    async def consume() -> None:
        async for page in source.pages(start_page=0, prefetch=4):
            out.extend(page.items)

    with pytest.raises(ValueError, match="page 3 is not JSON"):
        await consume()
    assert out == list(range(30))
    assert source.decoded == [0, 1, 2, 3]
    assert source.in_flight == 0
    assert other_tasks() == set()


async def test_the_top_up_request_is_sent_before_the_page_is_handed_out() -> None:
    source = PageSource(100, page_cap=10)
    requested_when_handed_out: list[list[int]] = []
    async with contextlib.aclosing(source.pages(start_page=0, prefetch=2)) as pages:
        async for _page in pages:
            # No await here: a consumer busy with the page gives the loop no turn.
            requested_when_handed_out.append(list(source.requested))
            if len(requested_when_handed_out) == 2:
                break
    assert requested_when_handed_out == [[0, 1, 2], [0, 1, 2, 3]]


async def test_speculative_requests_past_the_end_are_cancelled() -> None:
    source = PageSource(15, page_cap=10, gated=True)
    for index in (0, 1):
        source.gate(index).set()
    items = await collect(source, prefetch=8)
    assert items == list(range(15))
    # Pages 1-8 were in flight after page 0 (8 is page 0's top-up); page 1 ended the
    # stream, so no top-up followed it and the rest were cancelled.
    assert sorted(source.cancelled) == [2, 3, 4, 5, 6, 7, 8]
    assert source.requested == list(range(9))
    assert source.in_flight == 0


async def test_failed_page_raises_after_an_exact_prefix() -> None:
    source = PageSource(100, page_cap=10)
    source.fail_on[4] = RuntimeError("page 4 failed")
    out: list[int] = []

    async def consume() -> None:
        async for page in source.pages(start_page=0, prefetch=4):
            out.extend(page.items)

    with pytest.raises(RuntimeError, match="page 4 failed"):
        await consume()
    assert out == list(range(40))
    assert source.in_flight == 0


def other_tasks() -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def test_breaking_out_with_aclosing_cancels_everything_in_flight() -> None:
    source = PageSource(10_000, page_cap=10, gated=True)
    source.gate(0).set()
    async with contextlib.aclosing(source.pages(start_page=0, prefetch=8)) as pages:
        async for _page in pages:
            break
    assert other_tasks() == set()
    assert source.in_flight == 0
    # Every request that had started, but page 0's, was cancelled (one may not have
    # started at all: its task was cancelled before its first step).
    assert source.cancelled
    assert set(source.cancelled) == set(source.requested) - {0}


async def test_cancelling_the_consumer_cancels_everything_in_flight() -> None:
    source = PageSource(10_000, page_cap=10, gated=True)

    async def consume() -> None:
        async for _page in source.pages(start_page=0, prefetch=8):
            pass

    consumer = asyncio.create_task(consume())
    await source.eight_in_flight.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert other_tasks() == set()
    assert source.in_flight == 0
    assert sorted(source.cancelled) == list(range(8))

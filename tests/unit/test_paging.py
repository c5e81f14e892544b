"""Listing policy (drift de-duplication, resume points) over a scripted collection.

The records here are not invoices: the policy is generic over the record type and its id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import attrs
import msgspec
import pytest

from myreports_async import Page, ResumePoint
from myreports_async._paging import BoundaryDuplicates, Listing


@attrs.frozen
class Account:
    id: str


def account_ids(accounts: tuple[Account, ...]) -> list[str]:
    return [account.id for account in accounts]


class Collection:
    """A positional listing over a list of ids that a test may change between pages."""

    def __init__(self, ids: list[str], *, page_size: int) -> None:
        self.ids = ids
        self.page_size = page_size
        self.requested: list[int] = []
        self.after_page: dict[int, list[str]] = {}  # inserted at the front once page i is sent

    async def fetch(self, index: int) -> bytes:
        self.requested.append(index)
        await asyncio.sleep(0)
        start = index * self.page_size
        body = msgspec.json.encode(self.ids[start : start + self.page_size])
        self.ids[:0] = self.after_page.pop(index, [])
        return body

    @staticmethod
    def decode(index: int, body: bytes) -> Page[Account]:
        return Page(index=index, items=tuple(Account(i) for i in msgspec.json.decode(body)))

    def listing(self) -> Listing[Account]:
        return Listing(
            self.fetch,
            self.decode,
            page_size=self.page_size,
            page_ids=account_ids,
            noun="account",
        )


def ids(count: int) -> list[str]:
    return [f"a{n}" for n in range(count)]


async def collect(records: AsyncIterator[Account]) -> list[str]:
    return [record.id async for record in records]


def page(index: int, *names: str) -> Page[Account]:
    return Page(index=index, items=tuple(Account(name) for name in names))


# --- drift ---------------------------------------------------------------------------------


def test_a_page_without_repeats_is_kept_as_it_is() -> None:
    drift = BoundaryDuplicates(account_ids, noun="account")
    first = page(0, "a", "b")
    second = page(1, "c", "d")
    assert drift.new_items(first) is first.items
    assert drift.new_items(second) is second.items


def test_repeats_of_the_page_before_are_dropped_by_id_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    drift = BoundaryDuplicates(account_ids, noun="account")
    drift.new_positions(page(0, "a", "b", "c"))
    with caplog.at_level(logging.WARNING, logger="myreports_async"):
        assert list(drift.new_positions(page(1, "b", "c", "d"))) == [2]
    assert caplog.messages == [
        "page 1 repeated 2 account(s) of page 0: accounts were inserted while listing "
        "(offset drift); the repeats were dropped"
    ]


def test_only_the_page_just_before_is_remembered() -> None:
    drift = BoundaryDuplicates(account_ids, noun="account")
    drift.new_items(page(0, "a"))
    drift.new_items(page(1, "b"))
    assert drift.new_items(page(2, "a", "c")) == (Account("a"), Account("c"))


async def test_records_pages_and_points_all_drop_inserted_repeats() -> None:
    def drifting() -> Collection:
        collection = Collection(ids(10), page_size=4)
        collection.after_page[0] = ["new1", "new2"]  # pushes a2, a3 onto page 1
        return collection

    records = await collect(drifting().listing().records(start_page=0, prefetch=1, resume=None))
    assert records == ids(10)

    pages = drifting().listing().pages(start_page=0, prefetch=1)
    assert [[a.id for a in p.items] async for p in pages] == [ids(4), ["a4", "a5"], ids(10)[6:]]

    with_points = drifting().listing().records_with_points(start_page=0, prefetch=1, resume=None)
    pairs = [(record.id, point) async for record, point in with_points]
    assert [name for name, _ in pairs] == ids(10)
    # Offsets stay the server's positions: a4 is the third record page 1 sent.
    assert dict(pairs)["a4"] == ResumePoint(page_index=1, offset=3, page_size=4)


# --- resume points ---------------------------------------------------------------------------


async def test_resuming_from_every_point_gives_exactly_the_rest() -> None:
    collection = Collection(ids(11), page_size=4)
    points = [
        point
        async for _, point in collection.listing().records_with_points(
            start_page=0, prefetch=2, resume=None
        )
    ]
    for done, point in enumerate(points, start=1):
        records = collection.listing().records(start_page=0, prefetch=2, resume=point)
        assert await collect(records) == ids(11)[done:], point


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"resume": {"page_index": 0}}, TypeError, "resume must be a ResumePoint"),
        (
            {"resume": ResumePoint(1, 0, 4), "start_page": 1},
            ValueError,
            "give either start_page or resume, not both",
        ),
        (
            {"resume": ResumePoint(1, 0, 5)},
            ValueError,
            "saved with page_size=5; resuming with page_size=4 would skip or repeat accounts",
        ),
        ({"prefetch": 0}, ValueError, "prefetch"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    collection = Collection(ids(3), page_size=4)
    arguments: dict[str, object] = {"start_page": 0, "prefetch": 2, "resume": None, **kwargs}
    listing = collection.listing()
    with pytest.raises(error, match=message):
        listing.records(**arguments)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        listing.records_with_points(**arguments)  # type: ignore[arg-type]
    assert collection.requested == []

"""Listing policy over the read-ahead paginator, generic over the record type and its id.

A :class:`Listing` is one paged collection (how to fetch and decode page ``index``, and
the ids of a page's records). It hands the collection out three ways, each one generator directly
over :func:`~myreports_async._paginate.read_ahead_pages`: :meth:`Listing.pages`,
:meth:`Listing.records` and :meth:`Listing.records_with_points`.

Rule 1: offset drift is repaired where it can be seen. Paging is by position: records
        inserted before the reader's position while a listing runs shift everything
        back, and the next page starts with records the previous page already held.
        Those are dropped by id, with a WARNING. Only the previous page's ids are kept,
        so memory stays bounded by one page. A deletion shifts records forward past the
        reader, and they are skipped without a trace (see docs/pagination.md).
Rule 2: a resume point names a server position: the page index, the offset within the
        page as the server sent it (repeats dropped by Rule 1 still count), and the page
        size, which must match on resume or records would be skipped or repeated. The
        start page of a stream has no page before it, so Rule 1 never drops anything
        there, and skipping ``offset`` records of it is exact.
Rule 3: arguments (page size, start page, read-ahead, resume point) are checked when the
        listing is asked for, before any request, not at the first iteration.
Rule 4: no work per record beyond handing it out and reading its id: the ids come from
        one function per page (a list comprehension, where a call per record would cost
        as much again), they are compared as sets, and a page with nothing dropped is
        handed out as the paginator decoded it.

Rule 5: a listing of a collection the service does not page (its users, its PBX
        connections: no paging is documented for them) ends when a page repeats the
        page before it in full (``ends_on_repeat``). A service that ignores ``pageIndex``
        answers every page with the whole collection; Rule 1 would drop each repeat, and
        the listing would ask for the next page forever. A page with the very same ids
        as the one before it, in a paged collection, can only come from inserts of
        exactly a page while listing, so nothing is lost where the rule is on.

Every generator here drops its page (``del page``) before it waits for the next, for
the reason given in ``_paginate``'s Rule 4.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Hashable, Sequence
from typing import Generic, TypeVar

import attrs

from ._models import Page, ResumePoint
from ._paginate import DecodePage, FetchPage, read_ahead_pages
from ._validate import validate_paging

__all__ = ["BoundaryDuplicates", "Listing", "PageIds"]

logger = logging.getLogger("myreports_async")

T = TypeVar("T")

#: ``page_ids(records)``: the ids of a page's records, in order, e.g.
#: ``lambda accounts: [account.id for account in accounts]``.
PageIds = Callable[[tuple[T, ...]], Sequence[Hashable]]


class BoundaryDuplicates(Generic[T]):
    """Finds the records a page repeats from the page before it (Rule 1).

    ``page_ids`` gives the ids of a page's records (Rule 4); ``noun`` names the records in
    the warning (``"invoice"``).
    """

    def __init__(self, page_ids: PageIds[T], *, noun: str) -> None:
        self._page_ids = page_ids
        self._noun = noun
        self._previous_ids: frozenset[Hashable] = frozenset()
        self._previous_index: int | None = None

    def new_positions(self, page: Page[T]) -> Sequence[int]:
        """The positions of ``page``'s records that the previous page did not hold."""
        previous = self._previous_ids
        ids = self._page_ids(page.items)
        current = frozenset(ids)
        self._previous_ids = current
        previous_index, self._previous_index = self._previous_index, page.index
        if previous.isdisjoint(current):  # the common case: one set operation in C
            return range(len(ids))
        kept = [i for i, record_id in enumerate(ids) if record_id not in previous]
        dropped = len(ids) - len(kept)
        if dropped:
            logger.warning(
                "page %d repeated %d %s(s) of page %s: %ss were inserted while listing "
                "(offset drift); the repeats were dropped",
                page.index,
                dropped,
                self._noun,
                previous_index,
                self._noun,
            )
        return kept

    def new_items(self, page: Page[T]) -> tuple[T, ...]:
        """``page``'s records without the repeats; ``page.items`` itself when none."""
        kept = self.new_positions(page)
        items = page.items
        return items if len(kept) == len(items) else tuple(items[i] for i in kept)


@attrs.frozen
class Listing(Generic[T]):
    """One paged collection, handed out as pages, records, or records with resume points.

    Attributes:
        fetch_page: ``fetch_page(index)`` returns page ``index``'s raw answer.
        decode_page: ``decode_page(index, raw)`` turns it into a :class:`Page`.
        page_size: the page size the requests use (stored in resume points).
        page_ids: the ids of a page's records, for Rule 1 (see :data:`PageIds`).
        noun: what a record is called in the drift warning, e.g. ``"invoice"``.
        ends_on_repeat: end the listing at a page that repeats the previous one (Rule 5).
    """

    fetch_page: FetchPage[bytes]
    decode_page: DecodePage[bytes, T]
    page_size: int
    page_ids: PageIds[T]
    noun: str
    ends_on_repeat: bool = False

    def pages(self, *, start_page: int, prefetch: int) -> AsyncGenerator[Page[T], None]:
        """Every page from ``start_page`` on that still has records after Rule 1."""
        validate_paging(page_size=self.page_size, start_page=start_page, prefetch=prefetch)
        return self._pages(start_page, prefetch)

    def records(
        self, *, start_page: int, prefetch: int, resume: ResumePoint | None
    ) -> AsyncGenerator[T, None]:
        """Every record, from ``start_page`` or just after ``resume``."""
        start_page, skip = self._start(start_page, prefetch, resume)
        return self._records(start_page, skip, prefetch)

    def records_with_points(
        self, *, start_page: int, prefetch: int, resume: ResumePoint | None
    ) -> AsyncGenerator[tuple[T, ResumePoint], None]:
        """Like :meth:`records`, each with the resume point just after it (Rule 2)."""
        start_page, skip = self._start(start_page, prefetch, resume)
        return self._records_with_points(start_page, skip, prefetch)

    def _start(self, start_page: int, prefetch: int, resume: ResumePoint | None) -> tuple[int, int]:
        """The page to start at and how many of its records to skip (Rules 2 and 3)."""
        validate_paging(page_size=self.page_size, start_page=start_page, prefetch=prefetch)
        if resume is None:
            return start_page, 0
        if not isinstance(resume, ResumePoint):
            raise TypeError("resume must be a ResumePoint (see ResumePoint.from_dict)")
        if start_page != 0:
            raise ValueError("give either start_page or resume, not both")
        if resume.page_size != self.page_size:
            raise ValueError(
                f"resume point was saved with page_size={resume.page_size}; resuming with "
                f"page_size={self.page_size} would skip or repeat {self.noun}s"
            )
        return resume.page_index, resume.offset

    def _read_ahead(self, start_page: int, prefetch: int) -> AsyncGenerator[Page[T], None]:
        decode = self._ending_on_repeat() if self.ends_on_repeat else self.decode_page
        return read_ahead_pages(self.fetch_page, decode, start_page=start_page, prefetch=prefetch)

    def _ending_on_repeat(self) -> DecodePage[bytes, T]:
        """``decode_page`` that decodes a repeat of the previous page as empty (Rule 5),
        which ends the stream (``_paginate``, Rule 1). Pages are decoded in order."""
        previous: frozenset[Hashable] = frozenset()

        def decode(index: int, raw: bytes) -> Page[T]:
            nonlocal previous
            page = self.decode_page(index, raw)
            ids = self.page_ids(page.items)
            current = frozenset(ids)
            if ids and len(ids) == len(previous) and current == previous:
                logger.info(
                    "page %d repeats page %d in full: the service does not page %ss; "
                    "the listing is complete",
                    index,
                    index - 1,
                    self.noun,
                )
                return attrs.evolve(page, items=())
            previous = current
            return page

        return decode

    async def _pages(self, start_page: int, prefetch: int) -> AsyncGenerator[Page[T], None]:
        drift = BoundaryDuplicates(self.page_ids, noun=self.noun)
        async with contextlib.aclosing(self._read_ahead(start_page, prefetch)) as pages:
            async for page in pages:
                items = drift.new_items(page)
                if items:
                    yield page if items is page.items else attrs.evolve(page, items=items)
                del page, items

    async def _records(self, start_page: int, skip: int, prefetch: int) -> AsyncGenerator[T, None]:
        drift = BoundaryDuplicates(self.page_ids, noun=self.noun)
        async with contextlib.aclosing(self._read_ahead(start_page, prefetch)) as pages:
            async for page in pages:
                items = drift.new_items(page)
                if skip and page.index == start_page:
                    items = items[skip:]
                del page
                for record in items:
                    yield record
                del items

    async def _records_with_points(
        self, start_page: int, skip: int, prefetch: int
    ) -> AsyncGenerator[tuple[T, ResumePoint], None]:
        drift = BoundaryDuplicates(self.page_ids, noun=self.noun)
        page_size = self.page_size
        async with contextlib.aclosing(self._read_ahead(start_page, prefetch)) as pages:
            async for page in pages:
                first = skip if page.index == start_page else 0
                for offset in drift.new_positions(page):
                    if offset >= first:
                        yield page.items[offset], ResumePoint(page.index, offset + 1, page_size)
                del page

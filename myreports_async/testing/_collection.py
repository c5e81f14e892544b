"""The fake service's invoice collection: which invoice stands at which position.

Invoices are generated on demand by :class:`~._data.InvoiceFactory` from
``(seed, index)``; the collection only decides which generator index stands at which
position of the list, and how files are sized.

Rules:

1. Without insertions, position ``i`` is generator index ``i``: a collection of millions
   costs nothing until asked.
2. Inserted invoices get generator indexes from :data:`INSERTED_BASE` up, far from the
   seeded ones, so their ids never collide with a seeded invoice's. Once there are any,
   the order is kept as a list of generator indexes.
3. ``invoice_count`` may be raised after inserting: the positions past the list hold the
   seeded invoices that were not yet in the list, in order.
4. An id names an invoice of the collection only if it is a seeded index below the
   current seeded count, or an inserted one: an id of a shrunk collection is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ._data import InvoiceFactory
from ._pdf import render_summary_pdf

__all__ = ["INSERTED_BASE", "InvoiceCollection"]

INSERTED_BASE = 1 << 40
"""The first generator index of inserted invoices (rule 2)."""


class InvoiceCollection:
    """The invoices a fake service serves, and the knobs that shape them.

    ``invoice_count``, ``detail_items`` and ``summary_size`` are plain attributes that
    tests change between requests; they are checked once, here, at construction.
    """

    def __init__(
        self,
        invoice_count: int,
        *,
        seed: int,
        detail_items: int | Callable[[int], int],
        summary_size: int,
    ) -> None:
        if invoice_count < 0:
            raise ValueError(f"invoice_count must be >= 0, got {invoice_count!r}")
        if isinstance(detail_items, int) and detail_items < 0:
            raise ValueError(f"detail_items must be >= 0, got {detail_items!r}")
        if summary_size < 0:
            raise ValueError(f"summary_size must be >= 0, got {summary_size!r}")
        self.invoice_count = invoice_count
        self.detail_items = detail_items
        self.summary_size = summary_size
        self.seed = seed
        self._factory = InvoiceFactory(seed)
        self._order: list[int] | None = None  # rule 2: position -> generator index
        self._inserted: set[int] = set()

    # -- positions -------------------------------------------------------------------------

    def source(self, position: int) -> int:
        """The generator index of the invoice at ``position`` (rules 1 to 3)."""
        order = self._order
        if order is None:
            return position
        if position < len(order):
            return order[position]
        return position - len(self._inserted)  # rule 3

    def checked(self, position: int) -> int:
        """The generator index at ``position``; ``IndexError`` outside the collection."""
        if not 0 <= position < self.invoice_count:
            raise IndexError(f"invoice index {position} out of range 0..{self.invoice_count - 1}")
        return self.source(position)

    def find(self, invoice_id: str) -> int | None:
        """The generator index of the invoice ``invoice_id`` names, if it is served (rule 4)."""
        index = self._factory.index_of(invoice_id)
        if index is None or not (
            index < self.invoice_count - len(self._inserted) or index in self._inserted
        ):
            return None
        return index

    def insert(self, *, at: int, count: int) -> list[str]:
        """Insert ``count`` new invoices at position ``at``; return their ids."""
        if not 0 <= at <= self.invoice_count:
            raise ValueError(f"at must be in 0..{self.invoice_count}, got {at!r}")
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count!r}")
        if self._order is None:
            self._order = list(range(self.invoice_count))
        start = INSERTED_BASE + len(self._inserted)
        new = list(range(start, start + count))
        self._order[at:at] = new
        self._inserted.update(new)
        self.invoice_count += count
        return [self._factory.invoice_id(i) for i in new]

    # -- contents, by generator index --------------------------------------------------------

    def invoice_id(self, source: int) -> str:
        """The id of the invoice with generator index ``source``."""
        return self._factory.invoice_id(source)

    def invoice_json(self, source: int) -> dict[str, Any]:
        """The JSON object of the invoice, as the list and single routes serve it."""
        return self._factory.invoice_json(source)

    def page(self, start: int, stop: int) -> list[dict[str, Any]]:
        """The JSON objects at positions ``start`` to ``stop`` (``stop`` within the count)."""
        if self._order is None:
            return [self._factory.invoice_json(i) for i in range(start, stop)]
        return [self._factory.invoice_json(self.source(i)) for i in range(start, stop)]

    def item_count(self, index: int) -> int:
        """How many items the detail of the invoice at ``index`` holds."""
        count = self.detail_items(index) if callable(self.detail_items) else self.detail_items
        if count < 0:
            raise ValueError(f"detail_items gave {count!r} for invoice {index}")
        return count

    def detail_json(self, source: int, item_count: int) -> dict[str, Any]:
        """The detail JSON object (the JSON file inside the ZIP)."""
        return self._factory.detail_json(source, item_count)

    def detail_zip(self, source: int, item_count: int) -> Iterator[bytes]:
        """The detail ZIP as byte chunks, made while they are read."""
        return self._factory.iter_detail_zip(source, item_count)

    def summary_pdf(self, source: int) -> bytes:
        """The summary PDF, padded to about ``summary_size`` bytes."""
        number, customer, period, value = self._factory.summary_facts(source)
        return render_summary_pdf(
            invoice_number=number,
            customer_name=customer,
            period=period,
            value=value,
            size=self.summary_size,
        )

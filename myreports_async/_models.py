"""Records: frozen, slotted attrs classes that know nothing about the wire format.

``_codec`` owns the mapping from the service's JSON, derived from these classes: a JSON
key is the attribute's name in camelCase unless the codec renames it, and how a value
is read follows from the annotation. A new field is one line here (plus a test).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Generic, TypeVar

import attrs

__all__ = ["Invoice", "InvoiceDetail", "InvoiceItem", "Page", "ResumePoint"]

T = TypeVar("T")

# Read-only empty defaults, one per value type so each default matches its annotation.
_NO_STRING_VALUES: Mapping[str, str] = MappingProxyType({})
_NO_NUMERIC_VALUES: Mapping[str, Decimal] = MappingProxyType({})


class _WeakRefSlot:
    """Gives the records decoded in bulk (:class:`Invoice`, :class:`InvoiceItem`) their
    weak-reference slot from a base class.

    attrs would add ``__weakref__`` after the fields; declared here instead, the slots a
    record adds are its fields alone. The codec builds these records through a mutable
    class with the same slots on the same base and then switches them to the record
    class (``_record_builder.compile_converter``); Python 3.10 and 3.11 only allow that change of
    class when the two layouts differ in nothing but the class.
    """

    __slots__ = ("__weakref__",)


@attrs.frozen
class Invoice(_WeakRefSlot):
    """One invoice of the billing data.

    Only ``invoice_id`` is always present; the service documents that "some fields may
    not always be returned", so every other field may be ``None``.

    Example::

        async for invoice in client.iter_invoices():
            print(invoice.invoice_id, invoice.customer_name, invoice.invoice_value)
    """

    invoice_id: str
    tenant_id: str | None = None
    invoice_number: str | None = None
    customer_name: str | None = None
    billing_period_start: datetime | None = None
    billing_period_end: datetime | None = None
    invoice_value: Decimal | None = None


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing, as the service returned it.

    Attributes:
        index: the 0-based page index that was requested.
        items: the page's records, in server order.
        timestamp: the service's timestamp of the answer, when it sent one.
    """

    index: int
    items: tuple[T, ...]
    timestamp: datetime | None = None


@attrs.frozen
class ResumePoint:
    """Where a listing stands: the next record to read is ``offset`` within page ``page_index``.

    Save it after every record you have processed; pass it back as
    ``iter_invoices(resume=point, page_size=...)`` with the same ``page_size`` to carry on
    with the next record. ``page_size`` is stored so that a resume with another page size
    is refused instead of skipping or repeating records.
    """

    page_index: int
    offset: int
    page_size: int

    def to_dict(self) -> dict[str, int]:
        """A JSON-ready form, for saving next to the records."""
        return {"page_index": self.page_index, "offset": self.offset, "page_size": self.page_size}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ResumePoint:
        """Rebuild a point saved with :meth:`to_dict`; raises ``ValueError`` on a bad shape."""
        values: list[int] = []
        for key in ("page_index", "offset", "page_size"):
            value = data.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"resume point field {key!r} must be a non-negative int")
            values.append(value)
        page_index, offset, page_size = values
        if page_size < 1:
            raise ValueError("resume point field 'page_size' must be at least 1")
        return cls(page_index=page_index, offset=offset, page_size=page_size)


@attrs.frozen
class InvoiceItem(_WeakRefSlot):
    """One transaction line of an invoice's detail file."""

    id: str
    quantity: Decimal
    value: Decimal
    from_date: datetime | None = None
    to_date: datetime | None = None
    calculation_order: int | None = None
    operator_used: str | None = None
    operator_value_used: Decimal | None = None
    product_tag_name: str | None = None
    billing_output_tags: tuple[str, ...] = ()
    string_values: Mapping[str, str] = _NO_STRING_VALUES
    numeric_values: Mapping[str, Decimal] = _NO_NUMERIC_VALUES


@attrs.frozen
class InvoiceDetail:
    """An invoice with every transaction, from the detail ZIP's JSON file."""

    invoice_id: str
    tenant_id: str | None = None
    invoice_number: str | None = None
    account_name: str | None = None
    billing_period_start: datetime | None = None
    billing_period_end: datetime | None = None
    invoice_date: datetime | None = None
    invoice_value: Decimal | None = None
    items: tuple[InvoiceItem, ...] = ()

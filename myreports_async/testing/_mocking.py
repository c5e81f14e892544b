"""Register a whole paged listing on an ``aioresponses`` mock.

Mocking only page 0 leaves the client asking for page 1 (a first page is never proof
of the end, see the contract's pagination rules), and an unmatched request is a
connection error that the client retries, then raises. :func:`mock_invoice_listing`
registers what a real listing needs:

Rule 1: every page of ``invoices`` at its exact URL (``pageIndex`` and ``pageSize`` in
        the query, as the client sends them), in the documented envelope.
Rule 2: the page after the last one answers an empty page, which ends the stream
        whatever the page sizes (a collection that is an exact multiple of the page
        size needs it; a shorter last page ends the stream on its own).
Rule 3: any further page index also answers an empty page: with ``prefetch`` above 1 the
        client asks for pages past the end before it knows where the end is, and those
        speculative requests must find an answer too.

Each registration repeats, so a listing can be run more than once against one mock.
``aioresponses`` is imported by the caller, not here: it is a test dependency (the
``test`` extra installs ``aioresponses-ng``, the maintained fork that works with
aiohttp 3.14), never a runtime one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .._protocol import BILLING_RESOURCE, page_params, resolve_base_url
from .._validate import MAX_PAGE_SIZE, MIN_PAGE_SIZE

__all__ = ["mock_invoice_listing"]

#: The ``timestamp`` of every mocked envelope (the service's 7-digit form).
MOCK_TIMESTAMP = "2024-01-01T00:00:00.0000000Z"


class ResponseRegistry(Protocol):
    """What :func:`mock_invoice_listing` needs of a mock: ``aioresponses`` has it."""

    def get(self, url: Any, **kwargs: Any) -> None:
        """Register an answer for GET requests to ``url`` (a string or a pattern)."""
        ...


def mock_invoice_listing(
    mock: ResponseRegistry,
    invoices: Sequence[Mapping[str, Any]],
    *,
    page_size: int = 1000,
    region: str = "na",
    base_url: str | None = None,
) -> list[str]:
    """Register the pages of ``invoices`` on an ``aioresponses`` mock; return their URLs.

    Args:
        mock: an ``aioresponses`` instance (``with aioresponses() as mock:``).
        invoices: the invoice JSON objects of the whole collection, in server order,
            as the service writes them (``invoiceid``, ``invoiceValue``, ...).
        page_size: the ``page_size`` the code under test lists with (the client's
            default is 1000): the query must match exactly.
        region, base_url: where the client under test points, as given to
            :class:`~myreports_async.MyReportsClient`.

    Example::

        from aioresponses import aioresponses

        async def test_totals() -> None:
            invoices = [{"invoiceid": f"inv-{i}", "invoiceValue": 10.5} for i in range(25)]
            with aioresponses() as mock:
                mock_invoice_listing(mock, invoices, page_size=10)
                async with MyReportsClient("test-token") as client:
                    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10)]
            assert ids == [f"inv-{i}" for i in range(25)]
    """
    if not isinstance(page_size, int) or not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}")
    if isinstance(invoices, (str, bytes, Mapping)):
        raise TypeError("invoices must be a sequence of invoice JSON objects")
    listing = str(resolve_base_url(region, base_url) / BILLING_RESOURCE)
    pages = [list(invoices[i : i + page_size]) for i in range(0, len(invoices), page_size)]
    pages.append([])  # Rule 2
    urls = []
    for index, data in enumerate(pages):
        params = page_params(page_index=index, page_size=page_size)
        url = f"{listing}?" + "&".join(f"{key}={value}" for key, value in params.items())
        mock.get(url, payload=_envelope(index, data), repeat=True)
        urls.append(url)
    # Rule 3: registered last, so the exact pages above are matched first.
    # The service may leave page_index out; one answer serves every index here.
    beyond = re.compile(rf"^{re.escape(listing)}\?pageIndex=\d+&pageSize={page_size}$")
    mock.get(beyond, payload=_envelope(None, []), repeat=True)
    return urls


def _envelope(index: int | None, data: list[Mapping[str, Any]]) -> dict[str, Any]:
    envelope: dict[str, Any] = {"page_size": len(data)}
    if index is not None:
        envelope["page_index"] = index
    envelope.update(data=data, status="success", timestamp=MOCK_TIMESTAMP)
    return envelope

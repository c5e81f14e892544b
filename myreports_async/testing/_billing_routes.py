"""The fake's billing data routes: the invoice list, one invoice, its detail and summary.

::

    GET /api/v1.0/billingdata?pageIndex=N&pageSize=M   a page of invoices
    GET /api/v1.0/billingdata/{id}                     one invoice
    GET /api/v1.0/billingdata/{id}/detail              a ZIP (detail JSON + simplified CSV)
    GET /api/v1.0/billingdata/{id}/summary             a PDF

A resource group of the API is one such room: a class over the state it serves, with a
``route_table()`` of named routes that the service adds to its application.

Rules, in the order a request meets them:

1. Without an accepted bearer token: 401 with ``WWW-Authenticate: Bearer``. The verdict
   is the one the gateway logged (see ``_credentials``, rule 1).
2. ``pageIndex`` (default 0) and ``pageSize`` (default :data:`DEFAULT_PAGE_SIZE`) must
   be integers, at least 0 and 1: else 400 with the service's message.
3. The page size is cut to ``max_page_size``; a page past the end is empty, not an error.
4. An id that is not 24 lowercase hex digits: 400; one the collection does not hold: 404.
5. The detail ZIP is streamed as it is made (chunked), so a huge invoice never sits in
   memory; the summary PDF is one body with a ``Content-Length``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ._collection import InvoiceCollection
from ._credentials import Credentials
from ._data import utc_timestamp
from ._replies import (
    BINARY,
    ChunkedReply,
    error_reply,
    json_reply,
    page_request,
    reply,
    shown,
    unauthorized,
)

__all__ = ["API", "DEFAULT_PAGE_SIZE", "BillingRoutes"]

API = "/api/v1.0/billingdata"
DEFAULT_PAGE_SIZE = 1000
"""The page size the service uses when a list request has no ``pageSize``."""

_INVOICE_ID = re.compile(r"[0-9a-f]{24}")


class BillingRoutes:
    """The billing data routes over ``collection``, guarded by ``credentials``.

    ``max_page_size`` and ``include_page_index`` are plain attributes that tests change
    between requests.
    """

    def __init__(
        self,
        collection: InvoiceCollection,
        credentials: Credentials,
        *,
        max_page_size: int | None,
        include_page_index: bool,
    ) -> None:
        if max_page_size is not None and max_page_size < 1:
            raise ValueError(f"max_page_size must be >= 1 or None, got {max_page_size!r}")
        self._collection = collection
        self._credentials = credentials
        self.max_page_size = max_page_size
        self.include_page_index = include_page_index

    def route_table(self) -> list[web.RouteDef]:
        """The routes, each named with its :data:`~._faults.RouteName`."""
        return [
            web.get(API, self.invoices, name="list", allow_head=False),
            web.get(API + "/{invoice_id}", self.invoice, name="invoice", allow_head=False),
            web.get(API + "/{invoice_id}/detail", self.detail, name="detail", allow_head=False),
            web.get(API + "/{invoice_id}/summary", self.summary, name="summary", allow_head=False),
        ]

    # -- handlers ----------------------------------------------------------------------------

    async def invoices(self, request: web.Request) -> web.StreamResponse:
        """A page of invoices (rules 2 and 3)."""
        if not self._credentials.bearer_accepted(request):
            return unauthorized()
        asked = page_request(request.query, DEFAULT_PAGE_SIZE, self.max_page_size)
        if isinstance(asked, web.Response):
            return asked
        page_index, page_size = asked
        start = page_index * page_size
        data = self._collection.page(start, min(start + page_size, self._collection.invoice_count))
        payload: dict[str, Any] = {"page_size": len(data)}
        if self.include_page_index:
            payload["page_index"] = page_index
        payload.update(data=data, status="success", timestamp=utc_timestamp())
        return json_reply(200, payload)

    async def invoice(self, request: web.Request) -> web.StreamResponse:
        """One invoice, in the list's shape."""
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        payload = {
            "data": self._collection.invoice_json(found),
            "status": "success",
            "timestamp": utc_timestamp(),
        }
        return json_reply(200, payload)

    async def detail(self, request: web.Request) -> web.StreamResponse:
        """The detail ZIP, streamed as it is made (rule 5)."""
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        collection = self._collection
        return ChunkedReply(
            collection.detail_zip(found, collection.item_count(found)),
            content_type=BINARY,
            headers=_attachment(f"invoice_{self._number(found)}_detail.zip"),
        )

    async def summary(self, request: web.Request) -> web.StreamResponse:
        """The summary PDF."""
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        return reply(
            200,
            self._collection.summary_pdf(found),
            content_type=BINARY,
            headers=_attachment(f"invoice_{self._number(found)}.pdf"),
        )

    # -- helpers -----------------------------------------------------------------------------

    def _find(self, request: web.Request) -> int | web.Response:
        """The generator index of the invoice in the path, or the error answer (rules 1, 4)."""
        if not self._credentials.bearer_accepted(request):
            return unauthorized()
        invoice_id = request.match_info["invoice_id"]
        if not _INVOICE_ID.fullmatch(invoice_id):
            return error_reply(400, f"The value '{shown(invoice_id)}' is not valid.")
        source = self._collection.find(invoice_id)
        return error_reply(404) if source is None else source

    def _number(self, source: int) -> str:
        number: str = self._collection.invoice_json(source)["invoiceNumber"]
        return number


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}

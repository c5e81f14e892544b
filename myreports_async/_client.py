"""``MyReportsClient``: one short method per endpoint, composed from the layers below."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import BinaryIO

from . import _downloads, _enterprise, _protocol
from ._auth import StaticToken, TokenProvider
from ._codec import decode_invoice, decode_invoice_page
from ._concurrency import RateLimiter
from ._enterprise import Accounts, Customers, PbxConnections, Users
from ._enterprise_codec import PBX_INSTANCES
from ._enterprise_models import PbxInstance
from ._http import ClientSession
from ._models import Invoice, InvoiceDetail, InvoiceItem, Page, ResumePoint
from ._paging import Listing
from ._retry import RetryPolicy
from ._session import DEFAULT_MAX_JSON_BYTES, ApiSession
from ._transport import check_http_options
from ._validate import check_limit, check_secret
from ._zip_member import DEFAULT_MAX_DETAIL_JSON_BYTES

__all__ = ["MyReportsClient"]


def _invoice_ids(invoices: tuple[Invoice, ...]) -> list[str]:
    return [invoice.invoice_id for invoice in invoices]


def _as_provider(auth: str | TokenProvider) -> TokenProvider:
    if isinstance(auth, str):
        return StaticToken(auth)
    if not callable(getattr(auth, "get_token", None)):
        raise TypeError("auth must be a token string or a TokenProvider (an object with get_token)")
    return auth


class MyReportsClient:
    """Async client for the MyReports billing data API.

    Args:
        auth: a bearer token, or a :class:`TokenProvider` such as :class:`RefreshTokenAuth`.
        region: ``au``, ``eu``, ``na`` or ``uk`` (any case).
        base_url: overrides ``region``, e.g. ``"http://127.0.0.1:8080"``; must be ``https://``,
            or ``http://`` to a loopback host only.
        retry: how transient failures are retried (``None``: ``RetryPolicy()``).
        timeout: seconds allowed for connecting and for each wait for data (not for a
            whole transfer, so a large download on a slow link is not cut off).
        session: an ``aiohttp.ClientSession`` to borrow; it is never closed by the client.
        ssl: an :class:`ssl.SSLContext` to verify the service's certificate with, e.g. one
            that trusts a corporate TLS-inspecting proxy's CA
            (``ssl.create_default_context(cafile="corp-ca.pem")``). ``None``: the
            system's trust store. Certificates are always verified.
        max_json_bytes: the largest JSON answer (a page, an invoice) read, in bytes
            (default 64 MiB); a larger or endless body raises :class:`DecodeError`,
            not retried.
        max_detail_json_bytes: the largest uncompressed JSON file a detail ZIP may hold
            for :meth:`get_invoice_detail` and :meth:`iter_invoice_items` (default 512
            MiB); a larger one, or a zip bomb, is a :class:`DecodeError`, and costs at
            most this many bytes of inflating.
        rate_limiter: the :class:`RateLimiter` that paces this client's requests to the
            service's rate limit and holds its ``Retry-After`` pauses. ``None``: one of
            its own. Clients that share one limit (several tenants' clients of one
            account and region in one process) share it by passing the same limiter.

    Requests go through the proxy named by ``HTTPS_PROXY`` (``NO_PROXY`` lists hosts to
    reach directly; loopback hosts always are) when the client creates its own session.

    Example::

        async with MyReportsClient(token, region="eu") as client:
            async for invoice in client.iter_invoices():
                print(invoice.invoice_id, invoice.invoice_value)
    """

    def __init__(
        self,
        auth: str | TokenProvider,
        *,
        region: str = "na",
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        session: ClientSession | None = None,
        ssl: ssl.SSLContext | None = None,
        max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
        max_detail_json_bytes: int = DEFAULT_MAX_DETAIL_JSON_BYTES,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        provider = _as_provider(auth)
        self._max_detail_json_bytes = check_limit("max_detail_json_bytes", max_detail_json_bytes)
        if rate_limiter is not None and not isinstance(rate_limiter, RateLimiter):
            raise TypeError("rate_limiter must be a RateLimiter")
        timeout = check_http_options(timeout=timeout, session=session, retry=retry, ssl_context=ssl)
        self._api_root = _protocol.resolve_base_url(region, base_url)
        self._auth = provider
        self._http = ApiSession(
            auth=provider,
            retry=retry or RetryPolicy(),
            timeout=float(timeout),
            session=session,
            ssl_context=ssl,
            max_json_bytes=check_limit("max_json_bytes", max_json_bytes),
            rate_limiter=rate_limiter,
        )

    @property
    def api_root(self) -> str:
        """The URL every request path hangs from, e.g. ``https://api.na.myreports.cloud/api/v1.0``."""
        return str(self._api_root)

    def __repr__(self) -> str:
        return f"MyReportsClient(api_root={self.api_root!r}, auth={self._auth!r})"

    async def __aenter__(self) -> MyReportsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the aiohttp session the client created (a borrowed one stays open).

        A token provider handed to the client is not closed: its owner closes it.
        """
        await self._http.close()

    # -- listing -------------------------------------------------------------------

    def iter_invoice_pages(
        self, *, page_size: int = 1000, start_page: int = 0, prefetch: int = 4
    ) -> AsyncGenerator[Page[Invoice], None]:
        """Every non-empty page of invoices from ``start_page`` on, in server order.

        ``prefetch`` pages are requested ahead at once (1 means strictly one at a time);
        pages are still yielded in order. The stream ends only when the server has shown
        there is nothing more, and a page that fails after retries raises. Arguments are
        checked here, before any request (``ValueError``).

        Example::

            async with contextlib.aclosing(client.iter_invoice_pages(page_size=500)) as pages:
                async for page in pages:
                    await store(page.items)
        """
        return self._invoice_listing(page_size).pages(start_page=start_page, prefetch=prefetch)

    def iter_invoices(
        self,
        *,
        page_size: int = 1000,
        start_page: int = 0,
        prefetch: int = 4,
        resume: ResumePoint | None = None,
    ) -> AsyncGenerator[Invoice, None]:
        """Every invoice, in server order, fetched ``prefetch`` pages ahead.

        ``resume`` continues after a record whose :class:`ResumePoint` you saved (see
        :meth:`iter_invoices_resumable`); it replaces ``start_page``.

        Example::

            async for invoice in client.iter_invoices(page_size=1000, prefetch=4):
                print(invoice.invoice_id)
        """
        listing = self._invoice_listing(page_size)
        return listing.records(start_page=start_page, prefetch=prefetch, resume=resume)

    def iter_invoices_resumable(
        self,
        *,
        page_size: int = 1000,
        start_page: int = 0,
        prefetch: int = 4,
        resume: ResumePoint | None = None,
    ) -> AsyncGenerator[tuple[Invoice, ResumePoint], None]:
        """Like :meth:`iter_invoices`, with the resume point *after* each invoice.

        Save the point together with what you did with the invoice (in the same
        transaction, ideally); after a crash, pass the last saved point as ``resume`` (with
        the same ``page_size``) to carry on with the next invoice.

        Example::

            async for invoice, point in client.iter_invoices_resumable(resume=saved):
                await db.save(invoice, resume_point=point.to_dict())
        """
        listing = self._invoice_listing(page_size)
        return listing.records_with_points(start_page=start_page, prefetch=prefetch, resume=resume)

    def _invoice_listing(self, page_size: int) -> Listing[Invoice]:
        """The billing data listing; arguments are checked when a view of it is asked for."""
        url = _protocol.billing_url(self._api_root)

        async def fetch(index: int) -> bytes:
            params = _protocol.page_params(page_index=index, page_size=page_size)
            return await self._http.get_bytes(url, params=params)

        def decode(index: int, body: bytes) -> Page[Invoice]:
            params = _protocol.page_params(page_index=index, page_size=page_size)
            return decode_invoice_page(body, index=index, url=str(url.update_query(params)))

        return Listing(fetch, decode, page_size=page_size, page_ids=_invoice_ids, noun="invoice")

    # -- single invoice ------------------------------------------------------------

    async def get_invoice(self, invoice_id: str) -> Invoice:
        """One invoice by id.

        Raises:
            ValueError: the id is empty or holds ``/``, ``?``, ``#``, ``..`` or a control
                character (checked before any request).
            NotFoundError: the service knows no such invoice.

        Example::

            invoice = await client.get_invoice("00000000000000000000000a")
        """
        url = _protocol.invoice_url(self._api_root, invoice_id)
        body = await self._http.get_bytes(url)
        return decode_invoice(body, url=str(url))

    # -- detail and summary files --------------------------------------------------

    async def download_invoice_summary(
        self,
        invoice_id: str,
        destination: str | os.PathLike[str] | BinaryIO,
        *,
        progress: Callable[[int, int | None], object] | None = None,
    ) -> int:
        """Stream the invoice's summary PDF to a path or a binary file object.

        The body is never held whole in memory. A path gets a temporary file beside it,
        renamed into place only once the PDF is complete (a failure or cancellation
        leaves nothing). A retry restarts the body: a seekable file object is rewound to
        where it stood and truncated; one that cannot seek and already received bytes
        makes the download raise :class:`TransportError`. ``progress(received, total)``
        is called as bytes arrive (``total`` is ``None`` when the server does not say;
        ``received`` starts again at 0 on a retry).

        Returns:
            the number of bytes written.

        Raises:
            ValueError: a malformed id (before any request).
            NotFoundError: no such invoice (nothing is written).
            DecodeError: the body is not a PDF (it does not start with ``%PDF``).
            TransportError: the connection failed after retries, or the download could
                not be restarted.

        Example::

            size = await client.download_invoice_summary(invoice_id, "invoice.pdf")
        """
        url = _protocol.invoice_url(self._api_root, invoice_id, "summary")
        return await _downloads.download(
            self._http, url, destination, kind=_downloads.SUMMARY, progress=progress
        )

    async def download_invoice_detail(
        self,
        invoice_id: str,
        destination: str | os.PathLike[str] | BinaryIO,
        *,
        progress: Callable[[int, int | None], object] | None = None,
    ) -> int:
        """Stream the invoice's detail ZIP (a JSON and a CSV file) to a path or a file object.

        Works like :meth:`download_invoice_summary`; the body must be a whole ZIP archive
        (``PK\\x03\\x04`` first, an end-of-central-directory record last), else
        :class:`DecodeError`. The archive is not opened or extracted.

        Returns:
            the number of bytes written.

        Example::

            with open("detail.zip", "wb") as file:
                await client.download_invoice_detail(invoice_id, file)
        """
        url = _protocol.invoice_url(self._api_root, invoice_id, "detail")
        return await _downloads.download(
            self._http, url, destination, kind=_downloads.DETAIL, progress=progress
        )

    async def get_invoice_detail(self, invoice_id: str) -> InvoiceDetail:
        """The invoice with every transaction, from the detail ZIP's JSON file.

        The ZIP is spooled (in memory up to a few MiB, then in an unnamed temporary
        file); its one ``.json`` member is read with a size limit (the client's
        ``max_detail_json_bytes``) and decoded in a worker thread, so a large invoice does
        not stall the event loop. Nothing is extracted to disk. For invoices too large to
        hold, use :meth:`iter_invoice_items`.

        Raises:
            ValueError: a malformed id (before any request).
            NotFoundError: no such invoice.
            DecodeError: the body is not a ZIP, holds no (or more than one) JSON file, its
                JSON exceeds the size limit, or the JSON is not the documented shape (the
                message names the field, e.g. ``invoiceItems[3].quantity``).

        Example::

            detail = await client.get_invoice_detail(invoice_id)
            total = sum(item.value for item in detail.items)
        """
        url = _protocol.invoice_url(self._api_root, invoice_id, "detail")
        return await _downloads.fetch_detail(
            self._http, url, max_json_bytes=self._max_detail_json_bytes
        )

    def iter_invoice_items(self, invoice_id: str) -> AsyncGenerator[InvoiceItem, None]:
        """The invoice's transactions one at a time, for invoices too large to hold.

        The detail ZIP is downloaded to a temporary file first (in memory up to a few
        MiB); then the items of its JSON file are decoded one by one, so memory stays
        bounded by about one batch of items whatever the invoice's size. They are the
        same items, in the same order, as :meth:`get_invoice_detail` gives. The
        temporary file is removed when the iteration ends, fails or is closed early:
        use ``contextlib.aclosing`` to close it at once when you break out. The id is
        checked here, before any request (``ValueError``).

        Example::

            async with contextlib.aclosing(client.iter_invoice_items(invoice_id)) as items:
                async for item in items:
                    await store(item)
        """
        url = _protocol.invoice_url(self._api_root, invoice_id, "detail")
        return _downloads.iter_items(self._http, url, max_json_bytes=self._max_detail_json_bytes)

    # -- Enterprise resources ------------------------------------------------------

    @property
    def accounts(self) -> Accounts:
        """The enterprise's reseller accounts (:class:`Accounts`).

        Example::

            async for account in client.accounts.iter():
                print(account.id, account.reference)
        """
        return _enterprise.accounts(self._http, self._api_root)

    def account_users(self, account_id: str) -> Users:
        """The users of a reseller account (:class:`Users`); the id is checked here
        (``ValueError``), before any request.

        Example::

            user = await client.account_users(account_id).get(user_id)
        """
        return _enterprise.account_users(self._http, self._api_root, account_id)

    def customers(self, account_id: str) -> Customers:
        """The customers of a reseller account (:class:`Customers`).

        Example::

            async for customer in client.customers(account_id).iter(filter="ERP-1042"):
                print(customer.id, customer.name)
        """
        return _enterprise.customers(self._http, self._api_root, account_id)

    def customer_users(self, account_id: str, customer_id: str) -> Users:
        """The users of a customer (:class:`Users`).

        Example::

            async for user in client.customer_users(account_id, customer_id).iter():
                print(user.email)
        """
        return _enterprise.customer_users(self._http, self._api_root, account_id, customer_id)

    def pbx_connections(self, account_id: str, customer_id: str) -> PbxConnections:
        """The PBX connections of a customer (:class:`PbxConnections`).

        Example::

            await client.pbx_connections(account_id, customer_id).update(pbx_id, {"enabled": False})
        """
        return _enterprise.pbx_connections(self._http, self._api_root, account_id, customer_id)

    async def pbx_instance(self, instance_id: str) -> PbxInstance:
        """Whether a PBX instance (a Kazoo account id, a Microsoft tenant id, a 3CX
        licence key) is already connected to a customer tenant, anywhere.

        The id travels in the query; it is masked in logs and error messages, since a 3CX
        licence key is a secret.

        Example::

            found = await client.pbx_instance(kazoo_account_id)
            if found.exists:
                print("already connected to", found.tenant_id)
        """
        instance_id = check_secret(instance_id, name="instance_id")
        url = _protocol.enterprise_url(self._api_root, "pbxs")
        params = {"instanceId": instance_id}
        body = await self._http.get_bytes(url, params=params)
        return PBX_INSTANCES.single(body, url=_protocol.redact_url(url.update_query(params)))

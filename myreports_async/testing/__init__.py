"""Testing support: a real fake of the MyReports service, and a pytest plugin.

:class:`FakeService` is an :mod:`aiohttp.web` application that implements the billing API
(seeded invoices generated on demand, a page-size cap, bearer-token checks, and OAuth2
token and authorization endpoints), the Enterprise resources (accounts, customers, their
users and PBX connections, kept in a :class:`TenantDirectory`, with the 402 charge rule)
with scripted faults (:class:`Fault`: error statuses with
``Retry-After``, dropped connections, slow and stalled answers, raw bodies).
:class:`FakeServer` serves it on a real TCP socket, so the client's own aiohttp code
(timeouts, connection errors, streaming) runs exactly as in production. Every request is
logged as a :class:`RecordedRequest`.

Example::

    from myreports_async import MyReportsClient
    from myreports_async.testing import FakeServer, FakeService, Fault

    async def test_listing_survives_a_rate_limit() -> None:
        service = FakeService(invoice_count=2500, max_page_size=1000)
        service.inject(Fault.status(429, retry_after=0.01), route="list", page_index=1)
        async with FakeServer(service) as server:
            async with MyReportsClient("test-token", base_url=server.url) as client:
                ids = [invoice.invoice_id async for invoice in client.iter_invoices()]
        assert ids == service.invoice_ids()

For tight unit tests with ``aioresponses``, :func:`mock_invoice_listing` registers a
whole paged listing (every page, and the empty page that ends the stream) on the mock.

With pytest, the fixtures ``myreports_service``, ``myreports_server`` and
``myreports_client`` of :mod:`myreports_async.testing.pytest_plugin` are available as
soon as the package is installed.
"""

from __future__ import annotations

from ._billing_routes import DEFAULT_PAGE_SIZE
from ._directory import TenantDirectory
from ._enterprise import CHARGEABLE_OPERATIONS, DEFAULT_CHARGES
from ._fault_injection import RANDOM_FAULT_KINDS, RandomFaultKind
from ._faults import Fault, RecordedRequest, RouteName
from ._mocking import mock_invoice_listing
from ._server import FakeServer
from ._service import FakeService

__all__ = [
    "CHARGEABLE_OPERATIONS",
    "DEFAULT_CHARGES",
    "DEFAULT_PAGE_SIZE",
    "RANDOM_FAULT_KINDS",
    "FakeServer",
    "FakeService",
    "Fault",
    "RandomFaultKind",
    "RecordedRequest",
    "RouteName",
    "TenantDirectory",
    "mock_invoice_listing",
]

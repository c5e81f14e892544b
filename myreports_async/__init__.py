"""myreports_async: the asyncio client for the MyReports (Dimensions) billing data API.

Example::

    import asyncio
    from myreports_async import MyReportsClient

    async def main() -> None:
        async with MyReportsClient("<access token>", region="eu") as client:
            async for invoice in client.iter_invoices():
                print(invoice.invoice_id, invoice.customer_name, invoice.invoice_value)

    asyncio.run(main())
"""

from ._auth import StaticToken, TokenProvider
from ._client import MyReportsClient
from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    DecodeError,
    MyReportsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from ._models import Invoice, InvoiceDetail, InvoiceItem, Page, ResumePoint
from ._retry import RetryPolicy
from ._version import __version__

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "DecodeError",
    "Invoice",
    "InvoiceDetail",
    "InvoiceItem",
    "MyReportsClient",
    "MyReportsError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "ResumePoint",
    "RetryPolicy",
    "ServerError",
    "StaticToken",
    "TokenProvider",
    "TransportError",
    "__version__",
]

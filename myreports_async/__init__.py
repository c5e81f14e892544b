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

from ._auth import StaticToken, TokenProvider, TokenSet
from ._client import MyReportsClient
from ._concurrency import RateLimiter
from ._enterprise import Accounts, Customers, PbxConnections, Users
from ._enterprise_models import (
    Account,
    AccountMetrics,
    Customer,
    CustomerMetrics,
    PbxConnection,
    PbxInstance,
    PbxProfile,
    User,
)
from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    DecodeError,
    MyReportsError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from ._login import authorize_with_browser
from ._models import Invoice, InvoiceDetail, InvoiceItem, Page, ResumePoint
from ._refresh import RefreshTokenAuth
from ._retry import RetryPolicy
from ._token_store import FileTokenStore, TokenStore
from ._version import __version__

__all__ = [
    "APIError",
    "Account",
    "AccountMetrics",
    "Accounts",
    "AuthenticationError",
    "BadRequestError",
    "Customer",
    "CustomerMetrics",
    "Customers",
    "DecodeError",
    "FileTokenStore",
    "Invoice",
    "InvoiceDetail",
    "InvoiceItem",
    "MyReportsClient",
    "MyReportsError",
    "NotFoundError",
    "Page",
    "PaymentRequiredError",
    "PbxConnection",
    "PbxConnections",
    "PbxInstance",
    "PbxProfile",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "RefreshTokenAuth",
    "ResumePoint",
    "RetryPolicy",
    "ServerError",
    "StaticToken",
    "TokenProvider",
    "TokenSet",
    "TokenStore",
    "TransportError",
    "User",
    "Users",
    "__version__",
    "authorize_with_browser",
]

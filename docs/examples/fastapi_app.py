"""A FastAPI service in front of the MyReports billing API.

One :class:`~myreports_async.MyReportsClient` per application, opened in the lifespan and
shared by every request (one connection pool, one rate-limit cool-down), injected into
the endpoints as a dependency.

    GET /invoices                       every invoice as NDJSON, streamed page by page
    GET /invoices/{invoice_id}          one invoice as JSON
    GET /invoices/{invoice_id}/summary  the invoice's summary PDF

Configuration comes from the environment: ``MYREPORTS_TOKEN`` (required), and
``MYREPORTS_BASE_URL`` or else ``MYREPORTS_REGION`` (``au``, ``eu``, ``na``, ``uk``;
default ``na``). Run it with::

    MYREPORTS_TOKEN=... uvicorn fastapi_app:app --app-dir docs/examples

This file is tested by tests/integration/test_example_fastapi.py under a real uvicorn
server against the fake service.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, BinaryIO

import attrs
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from myreports_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    Invoice,
    MyReportsClient,
    MyReportsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
)

# --8<-- [start:config]
ClientFactory = Callable[[], MyReportsClient]


def client_from_env(
    environ: Mapping[str, str] = os.environ, *, retry: RetryPolicy | None = None
) -> MyReportsClient:
    """A client configured from MYREPORTS_TOKEN and MYREPORTS_BASE_URL or MYREPORTS_REGION."""
    token = environ.get("MYREPORTS_TOKEN")
    if not token:
        raise RuntimeError("set MYREPORTS_TOKEN to the API's bearer token")
    return MyReportsClient(
        token,
        base_url=environ.get("MYREPORTS_BASE_URL") or None,  # wins over the region
        region=environ.get("MYREPORTS_REGION") or "na",
        retry=retry,
    )


def create_app(client_factory: ClientFactory = client_from_env) -> FastAPI:
    """The application; ``client_factory`` is called once, at startup."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client for the whole application, closed when the server stops.
        async with client_factory() as client:
            app.state.myreports = client
            yield

    app = FastAPI(title="Invoices", lifespan=lifespan)
    app.include_router(router)
    app.add_exception_handler(MyReportsError, error_response)
    app.add_exception_handler(InvalidInvoiceId, error_response)
    return app


def get_client(request: Request) -> MyReportsClient:
    """The dependency: the application's shared client."""
    client: MyReportsClient = request.app.state.myreports
    return client


Client = Annotated[MyReportsClient, Depends(get_client)]
router = APIRouter()
# --8<-- [end:config]


# --8<-- [start:stream]
def invoice_json(invoice: Invoice) -> dict[str, str | None]:
    """An invoice as JSON: every field of the record (an attrs class), datetimes in ISO
    8601, money as a string, so that no digit is lost (``17.50`` stays ``"17.50"``)."""
    return attrs.asdict(invoice, value_serializer=_json_value)


def _json_value(instance: object, field: object, value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@router.get("/invoices")
async def list_invoices(
    client: Client, page_size: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> NDJSONResponse:
    """Every invoice, one JSON object per line, straight from the paging generator."""
    invoices = client.iter_invoices(page_size=page_size)
    # Wait for the first page before answering, so that an upstream failure at the
    # start becomes an error status (see error_response), not a 200 with an empty
    # body. A failure later on cuts the response short: never a quiet, short listing.
    try:
        first = await anext(invoices, None)
    except BaseException:
        await invoices.aclose()
        raise
    return NDJSONResponse(_ndjson(first, invoices))


async def _ndjson(
    first: Invoice | None, invoices: AsyncGenerator[Invoice, None]
) -> AsyncGenerator[bytes, None]:
    # Closing this generator closes the paging generator at once, which cancels the
    # page requests in flight.
    async with contextlib.aclosing(invoices) as stream:
        if first is not None:
            yield _line(first)
            async for invoice in stream:
                yield _line(invoice)


class NDJSONResponse(StreamingResponse):
    """Streams the lines of an async generator and closes it however the response
    ends: complete, failed, or cut short because the HTTP client hung up (Starlette
    cancels the stream then, but would leave the generator for the garbage collector)."""

    media_type = "application/x-ndjson"

    def __init__(self, lines: AsyncGenerator[bytes, None]) -> None:
        super().__init__(lines)
        self._lines = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with contextlib.aclosing(self._lines):
            await super().__call__(scope, receive, send)


def _line(invoice: Invoice) -> bytes:
    return json.dumps(invoice_json(invoice)).encode() + b"\n"


# --8<-- [end:stream]


# --8<-- [start:one]
@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: str, client: Client) -> dict[str, str | None]:
    """One invoice; an unknown id is a 404, a malformed one a 422."""
    try:
        invoice = await client.get_invoice(invoice_id)
    except (ValueError, BadRequestError) as exc:
        # ValueError: the client refused the id before sending anything ("/", "..",
        # control characters); BadRequestError: the service refused it (HTTP 400).
        raise InvalidInvoiceId(invoice_id) from exc
    return invoice_json(invoice)


# --8<-- [end:one]


# --8<-- [start:summary]
@router.get("/invoices/{invoice_id}/summary")
async def get_invoice_summary(invoice_id: str, client: Client) -> StreamingResponse:
    """The summary PDF, downloaded to a temporary file, then sent on.

    Downloading it completely before answering means a failure (404, a dropped
    connection) becomes an error status, never a truncated PDF sent as a 200.
    """
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _chunks, or below)
    try:
        try:
            await client.download_invoice_summary(invoice_id, spool)
        except (ValueError, BadRequestError) as exc:
            raise InvalidInvoiceId(invoice_id) from exc
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return StreamingResponse(
        _chunks(spool),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice_id}.pdf"'},
    )


def _chunks(spool: BinaryIO) -> Iterator[bytes]:
    # A plain iterator: Starlette runs it in a worker thread, the file is closed after.
    with spool:
        while chunk := spool.read(64 * 1024):
            yield chunk


# --8<-- [end:summary]


# --8<-- [start:errors]
class InvalidInvoiceId(Exception):
    """The caller's invoice id is malformed."""


def _classify(exc: Exception) -> tuple[int, str, str]:
    """(HTTP status, error code, advice) for a failure that escaped an endpoint."""
    if isinstance(exc, InvalidInvoiceId):
        return 422, "invalid_invoice_id", "That is not a valid invoice id."
    if isinstance(exc, NotFoundError):
        return 404, "not_found", "No such invoice."
    if isinstance(exc, RateLimitError):
        return 503, "rate_limited", "The billing service is rate limiting us; try later."
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return 502, "upstream_auth", "The billing service refused our credentials."
    # ServerError (5xx after retries), TransportError (no answer after retries),
    # DecodeError (an answer we cannot read): the upstream failed, not the caller.
    return 502, "upstream_failed", "The billing service failed; try later."


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The exception handler: a clear JSON body instead of a 500."""
    status, code, detail = _classify(exc)
    body: dict[str, Any] = {"error": code, "detail": detail}
    headers = {}
    if isinstance(exc, APIError) and status >= 500:
        body["upstream_status"] = exc.status  # what the billing service answered
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse(body, status_code=status, headers=headers)


# --8<-- [end:errors]


app = create_app()
"""For ``uvicorn fastapi_app:app``: the client is built from the environment at startup."""

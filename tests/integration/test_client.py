"""The client's own behaviour: lookup, ids, sessions, secrets and redirects."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from myreports_async import (
    BadRequestError,
    MyReportsClient,
    NotFoundError,
    StaticToken,
)
from myreports_async.testing import FakeServer, FakeService

ClientFactory = Callable[..., MyReportsClient]
TOKEN = "test-token"


async def test_get_invoice_returns_the_record(
    service: FakeService, client: MyReportsClient
) -> None:
    wanted = service.invoice_json(17)
    invoice = await client.get_invoice(wanted["invoiceid"])
    assert invoice.invoice_id == wanted["invoiceid"]
    assert invoice.invoice_number == wanted["invoiceNumber"]
    assert invoice.invoice_value == Decimal(repr(wanted["invoiceValue"]))


async def test_unknown_invoice_raises_not_found_with_service_message(
    service: FakeService, client: MyReportsClient, server: FakeServer
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.get_invoice("ffffffffffffffffffffffff")
    assert caught.value.status == 404
    assert caught.value.message == "Not Found"
    assert caught.value.url == f"{server.url}/api/v1.0/billingdata/ffffffffffffffffffffffff"
    assert len(service.requests) == 1  # a 404 is not retried


@pytest.mark.parametrize("bad_id", ["", "a/b", "a?b", "a#b", "..", "a\nb"])
async def test_bad_invoice_id_is_refused_before_any_request(
    service: FakeService, client: MyReportsClient, bad_id: str
) -> None:
    with pytest.raises(ValueError, match="invoice_id"):
        await client.get_invoice(bad_id)
    assert service.requests == []


async def test_invoice_id_is_percent_encoded(service: FakeService, client: MyReportsClient) -> None:
    with pytest.raises(BadRequestError, match="is not valid"):  # not an id of the service's form
        await client.get_invoice("a b%c")
    assert service.requests[0].path == "/api/v1.0/billingdata/a b%c"  # decoded by the server


async def test_borrowed_session_is_left_open(server: FakeServer, service: FakeService) -> None:
    async with aiohttp.ClientSession() as borrowed:
        async with MyReportsClient(TOKEN, base_url=server.url, session=borrowed) as client:
            await client.get_invoice(service.invoice_ids()[0])
        assert not borrowed.closed


async def test_client_can_be_built_outside_a_running_loop_state(server: FakeServer) -> None:
    client = MyReportsClient(TOKEN, base_url=server.url)
    await client.close()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_invoice("abc")


async def test_token_is_not_in_repr_str_or_logs(
    service: FakeService, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(StaticToken(TOKEN))
    with pytest.raises(NotFoundError) as caught:
        await client.get_invoice("0123456789abcdef01234567")
    for text in (repr(client), str(client), str(caught.value), repr(caught.value), caplog.text):
        assert TOKEN not in text


def test_unknown_region_and_plaintext_url_are_refused() -> None:
    with pytest.raises(ValueError, match="expected one of au, eu, na, uk"):
        MyReportsClient(TOKEN, region="mars")
    with pytest.raises(ValueError, match="must use https://"):
        MyReportsClient(TOKEN, base_url="http://billing.example.com")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"timeout": 0}, ValueError, "timeout must be a positive"),
        ({"timeout": float("inf")}, ValueError, "timeout must be a positive"),
        ({"retry": 3}, TypeError, "retry must be a RetryPolicy"),
        ({"session": object()}, TypeError, "session must be an aiohttp.ClientSession"),
    ],
)
def test_bad_construction_arguments_are_refused(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        MyReportsClient(TOKEN, **kwargs)  # type: ignore[arg-type]


def test_auth_must_be_a_token_or_provider() -> None:
    with pytest.raises(TypeError, match="TokenProvider"):
        MyReportsClient(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token must not be empty"):
        MyReportsClient("  ")


def test_region_names_are_case_insensitive() -> None:
    assert MyReportsClient(TOKEN, region="EU").api_root == "https://api.eu.myreports.cloud/api/v1.0"


@contextlib.asynccontextmanager
async def serve(app: web.Application, host: str) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_redirect_to_another_origin_does_not_carry_the_token() -> None:
    storage_seen: list[str | None] = []
    api_seen: list[str | None] = []

    async def storage(request: web.Request) -> web.Response:
        storage_seen.append(request.headers.get("Authorization"))
        return web.json_response({"data": {"invoiceid": "moved"}, "status": "success"})

    storage_app = web.Application()
    storage_app.router.add_get("/{tail:.*}", storage)
    # "localhost" and "127.0.0.1" are different origins, as are two ports.
    async with serve(storage_app, "localhost") as storage_url:

        async def redirect(request: web.Request) -> web.Response:
            api_seen.append(request.headers.get("Authorization"))
            raise web.HTTPFound(f"{storage_url}/files/x")

        api_app = web.Application()
        api_app.router.add_get("/api/v1.0/billingdata/{id}", redirect)
        async with (
            serve(api_app, "127.0.0.1") as api_url,
            MyReportsClient(TOKEN, base_url=api_url) as client,
        ):
            invoice = await client.get_invoice("abc")
    assert invoice.invoice_id == "moved"
    assert api_seen == [f"Bearer {TOKEN}"]
    assert storage_seen == [None]

"""Offset drift, TLS, and size limits against real sockets."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme
from aiohttp import web

from myreports_async import (
    DecodeError,
    MyReportsClient,
    RefreshTokenAuth,
    RetryPolicy,
    TransportError,
)
from myreports_async.testing import FakeServer, FakeService

from .conftest import FAST_RETRY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# -- offset drift -----------------------------------------------------------------------------


def insert_after_page(service: FakeService, page_index: int, count: int) -> None:
    """Insert ``count`` invoices at position 0 once page ``page_index`` has been answered."""

    @web.middleware
    async def inserting(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.query.get("pageIndex") == str(page_index):
            service.insert_invoices(at=0, count=count)
        return response

    service.app.middlewares.append(inserting)


async def test_invoices_inserted_mid_listing_are_not_repeated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = FakeService(1000, seed=3)
    original = service.invoice_ids()
    insert_after_page(service, 2, count=7)
    caplog.set_level(logging.WARNING, logger="myreports_async")
    async with (
        FakeServer(service) as server,
        MyReportsClient("test-token", base_url=server.url, retry=FAST_RETRY) as client,
    ):
        ids = [i.invoice_id async for i in client.iter_invoices(page_size=100, prefetch=1)]

    assert ids == original  # the 7 repeats at page 3's start were dropped
    assert service.invoice_count == 1007
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "page 3 repeated 7 invoice(s) of page 2" in warnings[0]


async def test_drift_is_dropped_from_pages_and_resumable_streams_too() -> None:
    service = FakeService(300, seed=4)
    original = service.invoice_ids()
    insert_after_page(service, 0, count=5)
    async with (
        FakeServer(service) as server,
        MyReportsClient("test-token", base_url=server.url, retry=FAST_RETRY) as client,
    ):
        pages = [p async for p in client.iter_invoice_pages(page_size=50, prefetch=1)]
        # The second run meets the same drift (5 more inserted after its page 0).
        second_run = service.invoice_ids()
        resumed = [
            (invoice.invoice_id, point.offset)
            async for invoice, point in client.iter_invoices_resumable(page_size=50, prefetch=1)
        ]

    assert [i.invoice_id for p in pages for i in p.items] == original
    assert [len(p.items) for p in pages][:2] == [50, 45]
    assert [invoice_id for invoice_id, _ in resumed] == second_run
    # Resume offsets stay the server's positions: page 1's first new invoice sat at 5.
    assert [offset for _, offset in resumed][49:51] == [50, 6]


async def test_drift_with_read_ahead_never_yields_a_duplicate() -> None:
    service = FakeService(2000, seed=5)
    insert_after_page(service, 3, count=11)
    async with (
        FakeServer(service) as server,
        MyReportsClient("test-token", base_url=server.url, retry=FAST_RETRY) as client,
    ):
        ids = [i.invoice_id async for i in client.iter_invoices(page_size=100, prefetch=8)]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(service.invoice_ids())


def test_fake_insert_invoices_shifts_positions() -> None:
    service = FakeService(5, seed=1)
    before = service.invoice_ids()
    new = service.insert_invoices(at=2, count=2)
    assert service.invoice_ids() == [*before[:2], *new, *before[2:]]
    assert service.invoice_id(2) == new[0]
    with pytest.raises(ValueError, match="at must be"):
        service.insert_invoices(at=99)


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def https_server(server_ssl: ssl.SSLContext) -> AsyncIterator[FakeServer]:
    service = FakeService(30, seed=2)
    service.add_oauth_client("tls-app", "tls-secret", "tls-refresh")
    async with FakeServer(service, ssl=server_ssl) as server:
        yield server


async def test_https_with_a_trusted_custom_ca_works(
    https_server: FakeServer, client_ssl: ssl.SSLContext
) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")
    async with MyReportsClient(
        "test-token", base_url=https_server.url, ssl=client_ssl, retry=FAST_RETRY
    ) as client:
        ids = [i.invoice_id async for i in client.iter_invoices(page_size=10)]
    assert ids == https_server.service.invoice_ids()


async def test_an_untrusted_certificate_is_refused_at_once(https_server: FakeServer) -> None:
    # Backoffs of 30 s: a retry would blow the 5 s bound.
    slow_retry = RetryPolicy(initial_backoff=30, jitter=False)
    async with MyReportsClient("test-token", base_url=https_server.url, retry=slow_retry) as c:
        with pytest.raises(TransportError, match="certificate verify failed") as caught:
            await asyncio.wait_for(c.get_invoice(https_server.service.invoice_id(0)), 5)
    assert "TLS failure" in str(caught.value)
    assert "test-token" not in f"{caught.value!r} {caught.value}"
    assert https_server.service.requests == []


async def test_refresh_token_auth_verifies_with_the_given_context(
    https_server: FakeServer, client_ssl: ssl.SSLContext
) -> None:
    auth = RefreshTokenAuth(
        client_id="tls-app",
        client_secret="tls-secret",
        refresh_token="tls-refresh",
        token_url=https_server.token_url,
        ssl=client_ssl,
    )
    async with auth, MyReportsClient(auth, base_url=https_server.url, ssl=client_ssl) as client:
        invoice = await client.get_invoice(https_server.service.invoice_id(1))
    assert invoice.invoice_id == https_server.service.invoice_id(1)


async def test_refresh_token_auth_refuses_an_untrusted_token_endpoint(
    https_server: FakeServer,
) -> None:
    async with RefreshTokenAuth(
        client_id="tls-app",
        client_secret="tls-secret",
        refresh_token="tls-refresh",
        token_url=https_server.token_url,
        retry=RetryPolicy(initial_backoff=30, jitter=False),
    ) as auth:
        with pytest.raises(TransportError, match="certificate verify failed") as caught:
            await asyncio.wait_for(auth.get_token(), 5)
    text = f"{caught.value} {caught.value!r}"
    assert "tls-secret" not in text
    assert "tls-refresh" not in text


def test_ssl_must_be_a_context() -> None:
    with pytest.raises(TypeError, match="ssl must be"):
        MyReportsClient("t", ssl=True)  # type: ignore[arg-type]


# -- proxies from the environment -------------------------------------------------------------


def test_environment_proxies_are_read_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    from yarl import URL

    from myreports_async._transport import EnvironmentProxies

    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.corp")
    proxies = EnvironmentProxies()
    proxy, headers = proxies.for_url(URL("https://api.eu.myreports.cloud/api/v1.0/billingdata"))
    assert proxy == URL("http://proxy.corp:3128")
    assert headers == {"Proxy-Authorization": "Basic dXNlcjpwdw=="}
    assert proxies.for_url(URL("https://api.internal.corp/x")) == (None, None)
    assert proxies.for_url(URL("http://127.0.0.1:8080/x")) == (None, None)


# -- size limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, "max_json_bytes must be at least 1 byte, not 0"),
        (1.5, TypeError, r"max_json_bytes must be an int \(bytes\)"),
        (True, TypeError, r"max_json_bytes must be an int \(bytes\)"),
    ],
)
def test_max_json_bytes_is_checked(value: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        MyReportsClient("test-token", max_json_bytes=value)  # type: ignore[arg-type]


SMALL_JSON_CAP = 64 * 1024


async def test_a_page_larger_than_the_cap_is_refused_before_reading() -> None:
    service = FakeService(1000, seed=1)
    async with (
        FakeServer(service) as server,
        MyReportsClient(
            "test-token", base_url=server.url, retry=FAST_RETRY, max_json_bytes=SMALL_JSON_CAP
        ) as client,
    ):
        with pytest.raises(DecodeError, match=r"exceeds the 65,536-byte limit") as caught:
            await anext(client.iter_invoices(page_size=1000, prefetch=1))
    assert "bytes)" in str(caught.value)  # the Content-Length was named
    assert [r.status for r in service.list_requests()] == [200]  # not retried


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def test_a_body_that_never_ends_is_stopped_by_the_cap() -> None:
    calls = 0

    async def trickle(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"data": [')
        while True:  # whitespace every millisecond: the read timeout never trips
            await response.write(b" " * 1024)
            await asyncio.sleep(0.001)

    runner, url = await serve(trickle)
    try:
        async with MyReportsClient(
            "test-token", base_url=url, retry=FAST_RETRY, timeout=1, max_json_bytes=SMALL_JSON_CAP
        ) as c:
            with pytest.raises(DecodeError, match="exceeds the 65,536-byte limit"):
                await asyncio.wait_for(c.get_invoice("abc"), 10)
    finally:
        await runner.cleanup()
    assert calls == 1


@pytest.mark.parametrize(
    ("headers", "what"),
    [
        ({"X-Flood": "a" * 100_000}, "Got more than 8190 bytes"),
        ({f"X-Flood-{i}": "a" for i in range(500)}, "Too many headers"),
    ],
    ids=["long-header", "many-headers"],
)
async def test_a_header_flood_is_a_clear_transport_error(
    headers: dict[str, str], what: str
) -> None:
    calls = 0

    async def flood(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        return web.Response(text="{}", headers=headers)

    runner, url = await serve(flood)
    try:
        async with MyReportsClient("test-token", base_url=url, retry=FAST_RETRY) as client:
            with pytest.raises(TransportError, match="response head is malformed") as caught:
                await client.get_invoice("abc")
    finally:
        await runner.cleanup()
    assert what in str(caught.value)
    assert len(str(caught.value)) < 400
    assert "test-token" not in repr(caught.value)
    assert calls == 1  # not retried

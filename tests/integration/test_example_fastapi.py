"""docs/examples/fastapi_app.py under a real uvicorn server, in front of the fake service.

The app runs on a loopback port in a task on the test's own loop, with its client
configured from an environment mapping that points at a FakeServer; the tests call it
with httpx.AsyncClient.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal

import pytest

pytest.importorskip("fastapi", reason="the examples extra is not installed")
pytest.importorskip("uvicorn", reason="the examples extra is not installed")
pytest.importorskip("httpx", reason="the examples extra is not installed")

import fastapi_app
import httpx
import uvicorn
from fastapi import FastAPI

from myreports_async import MyReportsClient, RetryPolicy
from myreports_async.testing import FakeServer, FakeService, Fault, RouteName

FAST = RetryPolicy(initial_backoff=0.001, max_backoff=0.005)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``condition()`` holds; fail after ``timeout`` seconds."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 (the states polled have no event)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[uvicorn.Server]:
    """Serve ``app`` with uvicorn on a free loopback port, on this loop; stop it cleanly."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        http="h11",
        ws="none",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done())
        if task.done():
            task.result()  # a startup failure: raise it here
            raise RuntimeError("uvicorn stopped during startup")
        yield server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def port_of(server: uvicorn.Server) -> int:
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


@pytest.fixture
def service() -> FakeService:
    return FakeService(1234, seed=5)


@pytest.fixture
def environ(server: FakeServer) -> Mapping[str, str]:
    return {"MYREPORTS_TOKEN": "test-token", "MYREPORTS_BASE_URL": server.url}


@pytest.fixture
async def app_server(environ: Mapping[str, str]) -> AsyncIterator[uvicorn.Server]:
    factory = functools.partial(fastapi_app.client_from_env, environ, retry=FAST)
    async with running(fastapi_app.create_app(factory)) as server:
        yield server


@pytest.fixture
async def http(app_server: uvicorn.Server) -> AsyncIterator[httpx.AsyncClient]:
    base_url = f"http://127.0.0.1:{port_of(app_server)}"
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


async def read_ids(http: httpx.AsyncClient, url: str, *, into: list[str]) -> None:
    """Stream ``url`` and append each NDJSON line's invoice id to ``into``."""
    async with http.stream("GET", url) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            into.append(json.loads(line)["invoice_id"])


# -- GET /invoices ----------------------------------------------------------------------


async def test_streams_every_invoice_as_ndjson(
    service: FakeService, server: FakeServer, http: httpx.AsyncClient
) -> None:
    response = await http.get("/invoices", params={"page_size": 100})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["invoice_id"] for line in lines] == service.invoice_ids()
    # 1234 invoices in pages of 100: 13 pages, the 13th short (the end), each asked for
    # once, plus at most the read-ahead (prefetch 4) that was cancelled at the end.
    pages = sorted(r.page_index or 0 for r in service.list_requests())
    assert pages[:13] == list(range(13))
    assert len(pages) <= 13 + 3
    async with MyReportsClient("test-token", base_url=server.url) as direct:
        expected = [fastapi_app.invoice_json(i) async for i in direct.iter_invoices()]
    assert lines == expected
    # Checked against the service's own JSON too: money keeps every digit.
    for index in (0, 777):
        source = service.invoice_json(index)
        assert lines[index]["customer_name"] == source["customerName"]
        assert Decimal(lines[index]["invoice_value"]) == Decimal(repr(source["invoiceValue"]))


async def test_an_empty_collection_is_an_empty_stream(
    service: FakeService, http: httpx.AsyncClient
) -> None:
    service.invoice_count = 0
    response = await http.get("/invoices")
    assert response.status_code == 200
    assert response.content == b""


async def test_a_client_that_hangs_up_stops_the_upstream_paging(
    service: FakeService, app_server: uvicorn.Server, http: httpx.AsyncClient
) -> None:
    # Pages 0-2 come at once, every later page only after a minute: the app is waiting
    # on them when the client hangs up.
    for page in range(3, 30):
        service.inject(Fault.delay(60), route="list", page_index=page, times=None)

    async with http.stream("GET", "/invoices", params={"page_size": 40}) as response:
        assert response.status_code == 200
        lines = response.aiter_lines()
        first = [await anext(lines) for _ in range(5)]
        request_tasks = set(app_server.server_state.tasks)
        assert len(request_tasks) == 1  # the app is busy with this request
    # Leaving the block closed the connection after 5 lines.
    assert [json.loads(line)["invoice_id"] for line in first] == service.invoice_ids()[:5]

    # The app notices: Starlette cancels the stream, the paging generator is closed and
    # cancels the delayed requests in flight, and the app's request task ends, and with
    # it every way to ask for more pages.
    _, still_running = await asyncio.wait(request_tasks, timeout=10)
    assert not still_running
    # The fake sees the cancelled requests hang up (status -1 in its log).
    await wait_until(lambda: all(r.status != 0 for r in service.list_requests()))
    requested = service.list_requests()
    assert any(r.status == -1 for r in requested)
    # Read-ahead is bounded: the pages served, plus the default prefetch of 4 at most.
    assert len(requested) <= 3 + 4
    # The request task is over, so nothing more can arrive; none arrived meanwhile.
    assert service.list_requests() == requested


async def test_a_page_that_fails_mid_stream_cuts_the_response_short(
    service: FakeService, http: httpx.AsyncClient
) -> None:
    service.inject(Fault.status(503), route="list", page_index=5, times=None)

    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        await read_ids(http, "/invoices?page_size=50", into=received)

    # Never a quiet, complete-looking end: the body is cut off, a prefix at most.
    assert received == service.invoice_ids()[: len(received)]
    assert len(received) <= 5 * 50


# -- GET /invoices/{invoice_id} ---------------------------------------------------------


async def test_one_invoice(service: FakeService, http: httpx.AsyncClient) -> None:
    invoice_id = service.invoice_id(42)
    response = await http.get(f"/invoices/{invoice_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["invoice_id"] == invoice_id
    assert body["invoice_number"] == service.invoice_json(42)["invoiceNumber"]


async def test_unknown_invoice_is_404(service: FakeService, http: httpx.AsyncClient) -> None:
    response = await http.get("/invoices/ffffffffffffffffffffffff")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "No such invoice."}


@pytest.mark.parametrize(
    ("path", "reaches_service"),
    [
        ("/invoices/bad%3Fid", False),  # "bad?id": refused by the client (ValueError)
        ("/invoices/%2E%2E", False),  # "..": likewise
        ("/invoices/not-hex", True),  # well-formed for the client, refused by the service
    ],
)
async def test_malformed_invoice_id_is_422(
    service: FakeService, http: httpx.AsyncClient, path: str, reaches_service: bool
) -> None:
    response = await http.get(path)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_invoice_id"
    assert any(r.route == "invoice" for r in service.requests) is reaches_service


# -- GET /invoices/{invoice_id}/summary -------------------------------------------------


async def test_summary_pdf_is_passed_through(service: FakeService, http: httpx.AsyncClient) -> None:
    response = await http.get(f"/invoices/{service.invoice_id(7)}/summary")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == service.summary_pdf(7)


async def test_summary_of_unknown_invoice_is_404(
    service: FakeService, http: httpx.AsyncClient
) -> None:
    response = await http.get("/invoices/ffffffffffffffffffffffff/summary")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_summary_cut_off_upstream_is_502_not_a_truncated_pdf(
    service: FakeService, http: httpx.AsyncClient
) -> None:
    service.inject(Fault.drop(), route="summary", times=None)
    response = await http.get(f"/invoices/{service.invoice_id(7)}/summary")
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_failed"


# -- upstream failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "failing_request"),
    [("/invoices", ("list", 0)), ("/invoices/{id}", ("invoice", None))],
)
async def test_upstream_5xx_after_retries_is_502(
    service: FakeService,
    http: httpx.AsyncClient,
    path: str,
    failing_request: tuple[RouteName, int | None],
) -> None:
    service.inject(Fault.status(503), times=None)

    response = await http.get(path.format(id=service.invoice_id(0)))

    assert response.status_code == 502
    assert response.json() == {
        "error": "upstream_failed",
        "detail": "The billing service failed; try later.",
        "upstream_status": 503,
    }
    # The request whose failure was reported was retried first. For the listing that is
    # page 0, the one the stream waits for; the read-ahead pages, which may reach the
    # server before it, are abandoned mid-retry once it fails.
    tried = [(r.route, r.page_index) for r in service.requests]
    assert tried.count(failing_request) == FAST.max_attempts


async def test_upstream_unreachable_is_502(service: FakeService, http: httpx.AsyncClient) -> None:
    service.inject(Fault.drop(), times=None)
    response = await http.get("/invoices")
    assert response.status_code == 502
    assert response.json() == {
        "error": "upstream_failed",
        "detail": "The billing service failed; try later.",
    }


async def test_upstream_rate_limit_is_503_with_retry_after(
    service: FakeService, http: httpx.AsyncClient
) -> None:
    # Longer than the policy's max_retry_after (120 s): raised at once, not waited out.
    service.inject(Fault.status(429, retry_after=600), times=None)

    response = await http.get(f"/invoices/{service.invoice_id(0)}")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "600"
    assert response.json()["error"] == "rate_limited"


async def test_upstream_refusing_our_token_is_502(
    environ: Mapping[str, str], service: FakeService
) -> None:
    factory = functools.partial(
        fastapi_app.client_from_env, {**environ, "MYREPORTS_TOKEN": "wrong"}, retry=FAST
    )
    async with running(fastapi_app.create_app(factory)) as server:
        url = f"http://127.0.0.1:{port_of(server)}/invoices/{service.invoice_id(0)}"
        async with httpx.AsyncClient() as http:
            response = await http.get(url)
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_auth"


# -- configuration ----------------------------------------------------------------------


async def test_configuration_falls_back_to_the_region() -> None:
    async with fastapi_app.client_from_env(
        {"MYREPORTS_TOKEN": "t", "MYREPORTS_REGION": "eu"}
    ) as client:
        assert client.api_root == "https://api.eu.myreports.cloud/api/v1.0"
    async with fastapi_app.client_from_env({"MYREPORTS_TOKEN": "t"}) as client:
        assert client.api_root == "https://api.na.myreports.cloud/api/v1.0"


def test_configuration_needs_a_token() -> None:
    with pytest.raises(RuntimeError, match="MYREPORTS_TOKEN"):
        fastapi_app.client_from_env({})


async def test_one_client_is_shared_and_closed_with_the_app(
    environ: Mapping[str, str], service: FakeService
) -> None:
    made: list[MyReportsClient] = []

    def factory() -> MyReportsClient:
        made.append(fastapi_app.client_from_env(environ, retry=FAST))
        return made[-1]

    app = fastapi_app.create_app(factory)
    async with running(app) as server:
        base_url = f"http://127.0.0.1:{port_of(server)}"
        async with httpx.AsyncClient(base_url=base_url) as http:
            for index in range(3):
                response = await http.get(f"/invoices/{service.invoice_id(index)}")
                assert response.status_code == 200
        assert len(made) == 1
        assert app.state.myreports is made[0]
    with pytest.raises(RuntimeError, match="closed"):  # closed with the app
        await made[0].get_invoice(service.invoice_id(0))

"""The fake service over a real socket, driven with a plain aiohttp.ClientSession.

These tests pin what the fake promises to the client's tests, the demo and users: the
documented payload shapes, paging and its cap, auth, the OAuth2 token endpoint, and that
every fault kind reaches aiohttp's client as the real network failure would.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import logging
import re
import zipfile
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from yarl import URL

from myreports_async.testing import FakeServer, FakeService, Fault, RecordedRequest

API = "/api/v1.0/billingdata"
AUTH = {"Authorization": "Bearer test-token"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
OFFSET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
NAIVE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$")
INVOICE_KEYS = {
    "tenantId",
    "invoiceid",
    "invoiceNumber",
    "customerName",
    "billingPeriodStart",
    "billingPeriodEnd",
    "invoiceValue",
}


@pytest.fixture(autouse=True)
def _no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Faults must look like network failures to the client, never crash a handler."""
    caplog.set_level(logging.WARNING, logger="aiohttp")
    yield
    errors = [r for r in caplog.records if r.name.startswith("aiohttp") and r.levelno >= 40]
    assert not errors, [r.getMessage() for r in errors]


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
async def session(server: FakeServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as client_session:
        yield client_session


async def get_json(
    session: aiohttp.ClientSession,
    path: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with session.get(path, params=params, headers=AUTH if headers is None else headers) as r:
        return r.status, await r.json()


async def get_page(session: aiohttp.ClientSession, index: int, size: int) -> dict[str, Any]:
    status, body = await get_json(
        session, API, params={"pageIndex": str(index), "pageSize": str(size)}
    )
    assert status == 200
    assert isinstance(body, dict)
    return body


def assert_error_body(body: Any, status: int, message: str | None = None) -> None:
    assert set(body) == {"error", "message", "status", "timestamp"}
    assert body["error"] == status
    assert body["status"] == "error"
    assert TIMESTAMP.match(body["timestamp"])
    if message is not None:
        assert body["message"] == message


# -- paging --------------------------------------------------------------------------------


async def test_list_page_has_the_documented_shape(session: aiohttp.ClientSession) -> None:
    body = await get_page(session, 0, 10)
    assert list(body) == ["page_size", "page_index", "data", "status", "timestamp"]
    assert body["page_size"] == 10
    assert body["page_index"] == 0
    assert body["status"] == "success"
    assert TIMESTAMP.match(body["timestamp"])
    assert len(body["data"]) == 10
    for invoice in body["data"]:
        assert set(invoice) == INVOICE_KEYS
        assert OFFSET_TIME.match(invoice["billingPeriodStart"])
        assert OFFSET_TIME.match(invoice["billingPeriodEnd"])
        assert isinstance(invoice["invoiceValue"], float)


async def test_pages_concatenate_to_every_invoice_in_order(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    pages = [await get_page(session, index, 100) for index in range(4)]
    assert [page["page_size"] for page in pages] == [100, 100, 50, 0]
    ids = [invoice["invoiceid"] for page in pages for invoice in page["data"]]
    assert ids == service.invoice_ids()
    assert pages[1]["data"][0] == service.invoice_json(100)


async def test_default_page_size_is_1000(session: aiohttp.ClientSession) -> None:
    service = FakeService(invoice_count=1500)
    async with FakeServer(service) as server:
        status, body = await get_json(session, server.url + API)
    assert status == 200
    assert body["page_size"] == 1000
    assert body["page_index"] == 0


async def test_page_size_cap_shortens_every_page(session: aiohttp.ClientSession) -> None:
    service = FakeService(invoice_count=100, max_page_size=40)
    async with FakeServer(service) as server:
        status, first = await get_json(
            session, server.url + API, params={"pageIndex": "0", "pageSize": "100"}
        )
        status2, second = await get_json(
            session, server.url + API, params={"pageIndex": "1", "pageSize": "100"}
        )
    assert (status, status2) == (200, 200)
    assert first["page_size"] == second["page_size"] == 40
    assert second["data"][0]["invoiceid"] == service.invoice_id(40)


async def test_pages_past_the_end_are_empty(session: aiohttp.ClientSession) -> None:
    body = await get_page(session, 1_000_000, 1000)
    assert body["page_size"] == 0
    assert body["data"] == []
    assert body["status"] == "success"


async def test_page_index_can_be_left_out(session: aiohttp.ClientSession) -> None:
    service = FakeService(invoice_count=5, include_page_index=False)
    async with FakeServer(service) as server:
        status, body = await get_json(session, server.url + API, params={"pageIndex": "0"})
    assert status == 200
    assert "page_index" not in body
    assert body["page_size"] == 5


@pytest.mark.parametrize(
    "params",
    [
        {"pageIndex": "-1"},
        {"pageIndex": "abc"},
        {"pageIndex": "1.5"},
        {"pageSize": "0"},
        {"pageSize": "-5"},
        {"pageSize": ""},
    ],
)
async def test_bad_paging_parameters_answer_400(
    session: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    status, body = await get_json(session, API, params=params)
    assert status == 400
    assert_error_body(body, 400)


async def test_empty_collection_has_only_empty_pages(session: aiohttp.ClientSession) -> None:
    async with FakeServer(FakeService(invoice_count=0)) as server:
        status, body = await get_json(session, server.url + API)
    assert (status, body["page_size"], body["data"]) == (200, 0, [])


# -- generated data ------------------------------------------------------------------------


def test_same_seed_gives_the_same_invoices() -> None:
    first, again = FakeService(50, seed=3), FakeService(50, seed=3)
    assert [first.invoice_json(i) for i in range(50)] == [again.invoice_json(i) for i in range(50)]
    # An invoice does not depend on the size of the collection.
    assert FakeService(10_000, seed=3).invoice_json(42) == first.invoice_json(42)


def test_other_seed_gives_other_ids() -> None:
    assert not set(FakeService(50, seed=1).invoice_ids()) & set(
        FakeService(50, seed=2).invoice_ids()
    )


def test_ids_are_distinct_24_hex_digits() -> None:
    ids = FakeService(20_000, seed=9).invoice_ids()
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{24}", invoice_id) for invoice_id in ids)


def test_invoices_look_real() -> None:
    service = FakeService(500)
    invoices = [service.invoice_json(i) for i in range(500)]
    assert len({invoice["customerName"] for invoice in invoices}) > 20
    assert len({invoice["invoiceNumber"] for invoice in invoices}) == 500
    for invoice in invoices:
        start, end = invoice["billingPeriodStart"], invoice["billingPeriodEnd"]
        assert start[8:] == "01T00:00:00.000+00:00"
        assert start[:7] == end[:7]  # one calendar month
        assert end.endswith("T23:59:59.999+00:00")
        value = Decimal(repr(invoice["invoiceValue"]))
        assert value >= 0
        assert value == value.quantize(Decimal("0.01"))
    assert sum(invoice["invoiceValue"] > 0 for invoice in invoices) > 450


def test_a_huge_collection_costs_nothing_until_asked() -> None:
    service = FakeService(invoice_count=50_000_000)
    last = service.invoice_json(49_999_999)
    assert last["invoiceid"] == service.invoice_id(49_999_999)


# -- auth and errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "test-token"},
        {"Authorization": "Basic dGVzdC10b2tlbg=="},
        {"Authorization": "Bearer "},
    ],
)
async def test_api_without_an_accepted_token_answers_401(
    service: FakeService, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    status, body = await get_json(session, API, headers=headers)
    assert status == 401
    assert_error_body(body, 401, "Unauthorized")
    status, body = await get_json(session, f"{API}/{service.invoice_id(0)}", headers=headers)
    assert status == 401
    assert [r.authorized for r in service.requests] == [False, False]


async def test_get_invoice_answers_the_invoice(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    status, body = await get_json(session, f"{API}/{service.invoice_id(7)}")
    assert status == 200
    assert list(body) == ["data", "status", "timestamp"]
    assert body["data"] == service.invoice_json(7)
    assert body["status"] == "success"
    assert TIMESTAMP.match(body["timestamp"])


async def test_unknown_invoice_answers_404(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    beyond = FakeService(service.invoice_count + 1).invoice_id(service.invoice_count)
    for invoice_id in (beyond, FakeService(seed=1).invoice_id(0), "0" * 24):
        for suffix in ("", "/detail", "/summary"):
            status, body = await get_json(session, f"{API}/{invoice_id}{suffix}")
            assert status == 404
            assert_error_body(body, 404, "Not Found")


@pytest.mark.parametrize("invoice_id", ["abc", "X" * 24, "0" * 25, "%20", "a%2Fb"])
async def test_malformed_invoice_id_answers_400(
    session: aiohttp.ClientSession, invoice_id: str
) -> None:
    async with session.get(URL(f"{API}/{invoice_id}", encoded=True), headers=AUTH) as response:
        assert response.status == 400
        assert_error_body(await response.json(), 400)


async def test_unknown_path_answers_404(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    status, body = await get_json(session, "/api/v1.0/workspaces")
    assert status == 404
    assert_error_body(body, 404, "Not Found")
    async with session.post(API, headers=AUTH) as response:
        assert response.status == 404
    assert [r.route for r in service.requests] == ["other", "other"]


# -- faults --------------------------------------------------------------------------------


async def test_drop_mid_body_raises_payload_error(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.drop(), route="list")
    async with session.get(API, headers=AUTH) as response:
        assert response.status == 200
        assert response.content_length is not None
        assert response.content_length > 100
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert service.requests[0].status == -1
    status, _ = await get_json(session, API)  # the next request gets a fresh connection
    assert status == 200


async def test_drop_mid_body_of_a_streamed_zip_raises_payload_error(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.drop(), route="detail")
    async with session.get(f"{API}/{service.invoice_id(0)}/detail", headers=AUTH) as response:
        assert response.content_length == len(service.detail_zip(0))
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_drop_before_headers_raises_server_disconnected(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    # aiohttp's session silently repeats an idempotent request once after a disconnect
    # before the headers, so a GET needs two drops to fail.
    service.inject(Fault.drop(mid_body=False), times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.get(f"{API}/{service.invoice_id(0)}", headers=AUTH):
            pass
    assert [(r.route, r.status) for r in service.requests] == [("invoice", -1)] * 2


async def test_one_drop_before_headers_is_repeated_by_aiohttp(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.drop(mid_body=False))
    status, _ = await get_json(session, f"{API}/{service.invoice_id(0)}")
    assert status == 200
    assert [r.status for r in service.requests] == [-1, 200]


async def test_status_fault_answers_the_error_body_with_retry_after(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.status(429, retry_after=2), route="list")
    service.inject(Fault.status(503, retry_after=0.25, message="Busy"), route="list")
    service.inject(Fault.status(500, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    service.inject(Fault.status(502))
    expected = [
        (429, "2", "Too Many Requests"),
        (503, "0.25", "Busy"),
        (500, "Wed, 21 Oct 2015 07:28:00 GMT", "Internal Server Error"),
        (502, None, "Bad Gateway"),
    ]
    for status, retry_after, message in expected:
        async with session.get(API, headers=AUTH) as response:
            assert response.status == status
            assert response.headers.get("Retry-After") == retry_after
            assert_error_body(await response.json(), status, message)


async def test_status_fault_applies_before_authentication(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.status(503))
    status, _ = await get_json(session, API, headers={})
    assert status == 503
    status, _ = await get_json(session, API, headers={})
    assert status == 401


async def test_delay_trips_a_read_timeout(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.delay(30), route="list")
    with pytest.raises(aiohttp.SocketTimeoutError):
        async with session.get(
            API, headers=AUTH, timeout=aiohttp.ClientTimeout(sock_read=0.05)
        ) as response:
            await response.read()
    status, _ = await get_json(session, API)
    assert status == 200


async def test_delay_then_answers_normally(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.delay(0.01))
    status, body = await get_json(session, f"{API}/{service.invoice_id(3)}")
    assert (status, body["data"]) == (200, service.invoice_json(3))


async def test_stall_trips_a_read_timeout_mid_body(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.stall(30), route="summary")
    async with session.get(
        f"{API}/{service.invoice_id(0)}/summary",
        headers=AUTH,
        timeout=aiohttp.ClientTimeout(sock_read=0.05),
    ) as response:
        assert response.status == 200
        assert response.content_length == len(service.summary_pdf(0))
        with pytest.raises(aiohttp.SocketTimeoutError):
            await response.read()


async def test_short_stall_delivers_the_whole_body(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.stall(0.01), route="list")
    status, body = await get_json(session, API, params={"pageSize": "3"})
    assert (status, body["page_size"]) == (200, 3)


async def test_body_fault_answers_raw_bytes(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.body(b'{"page_size": 4, "data": ['), route="list")
    service.inject(Fault.body(b"<html>oops</html>", status=502, content_type="text/html"))
    async with session.get(API, headers=AUTH) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        with pytest.raises(ValueError, match="Expecting"):
            await response.json()
    async with session.get(API, headers=AUTH) as response:
        assert (response.status, response.content_type) == (502, "text/html")
        assert await response.read() == b"<html>oops</html>"


async def test_fault_is_used_up_after_times(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.status(503), route="list", times=2)
    statuses = [(await get_json(session, API))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert service.pending_faults() == []


async def test_fault_with_times_none_never_runs_out(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.status(500), route="invoice", times=None)
    path = f"{API}/{service.invoice_id(0)}"
    assert [(await get_json(session, path))[0] for _ in range(4)] == [500] * 4
    service.clear_faults()
    assert (await get_json(session, path))[0] == 200


async def test_faults_match_route_and_page_in_injection_order(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.status(502), route="list", page_index=1)
    service.inject(Fault.status(503), route="list")
    service.inject(Fault.status(504), route="list")
    service.inject(Fault.status(500), route="detail")
    statuses = []
    for index in (0, 0, 1, 1):
        status, _ = await get_json(session, API, params={"pageIndex": str(index)})
        statuses.append(status)
    assert statuses == [503, 504, 502, 200]
    assert service.pending_faults() == [Fault.status(500)]


async def test_faults_reach_the_token_endpoint_only_when_aimed_at_it(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.add_oauth_client("app", "secret", "refresh-1")
    service.inject(Fault.status(503))
    service.inject(Fault.status(429, retry_after=1), route="token")
    form = {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    form |= {"client_id": "app", "client_secret": "secret"}
    async with session.post("/connect/token", data=form) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
    async with session.post("/connect/token", data=form) as response:
        assert response.status == 200
    assert [f.status_code for f in service.pending_faults()] == [503]


def test_inject_refuses_nonsense() -> None:
    service = FakeService()
    with pytest.raises(ValueError, match="route"):
        service.inject(Fault.drop(), route="lists")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="page_index"):
        service.inject(Fault.drop(), route="invoice", page_index=1)
    with pytest.raises(ValueError, match="times"):
        service.inject(Fault.drop(), times=0)
    with pytest.raises(ValueError, match="status"):
        Fault.status(42)
    with pytest.raises(ValueError, match="seconds"):
        Fault.delay(-1)


# -- request log ---------------------------------------------------------------------------


async def test_request_log_records_every_request_without_the_token(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.drop(), route="list", page_index=1)
    await get_json(session, API, params={"pageIndex": "0", "pageSize": "2"})
    with pytest.raises(aiohttp.ClientPayloadError):
        await get_json(session, API, params={"pageIndex": "1", "pageSize": "2"})
    await get_json(session, f"{API}/{service.invoice_id(1)}", headers={})
    await get_json(session, API, params={"pageIndex": "x"})
    assert service.requests == [
        RecordedRequest(
            method="GET",
            path=API,
            query={"pageIndex": "0", "pageSize": "2"},
            route="list",
            page_index=0,
            status=200,
            authorized=True,
        ),
        RecordedRequest(
            method="GET",
            path=API,
            query={"pageIndex": "1", "pageSize": "2"},
            route="list",
            page_index=1,
            status=-1,
            authorized=True,
        ),
        RecordedRequest(
            method="GET",
            path=f"{API}/{service.invoice_id(1)}",
            query={},
            route="invoice",
            page_index=None,
            status=401,
            authorized=False,
        ),
        RecordedRequest(
            method="GET",
            path=API,
            query={"pageIndex": "x"},
            route="list",
            page_index=None,
            status=400,
            authorized=True,
        ),
    ]
    assert [r.page_index for r in service.list_requests()] == [0, 1, None]
    assert "test-token" not in repr(service.requests)
    service.clear_requests()
    assert service.requests == []


async def test_request_log_marks_a_request_whose_client_hung_up(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.delay(30))
    with pytest.raises(aiohttp.SocketTimeoutError):
        await session.get(API, headers=AUTH, timeout=aiohttp.ClientTimeout(sock_read=0.02))

    async def hang_up_seen() -> None:
        # The server sees the hang-up a few loop turns later; it has no event to wait on.
        while service.requests[0].status == 0:  # noqa: ASYNC110
            await asyncio.sleep(0)

    await asyncio.wait_for(hang_up_seen(), timeout=5)
    assert service.requests[0].status == -1


# -- downloads -----------------------------------------------------------------------------


async def download(
    session: aiohttp.ClientSession, path: str
) -> tuple[aiohttp.ClientResponse, bytes]:
    async with session.get(path, headers=AUTH) as response:
        return response, await response.read()


async def test_detail_is_a_zip_of_json_and_csv(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.detail_items = 7
    response, data = await download(session, f"{API}/{service.invoice_id(5)}/detail")
    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    assert data == service.detail_zip(5)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    (json_name,) = [name for name in archive.namelist() if name.endswith(".json")]
    (csv_name,) = [name for name in archive.namelist() if name.endswith(".csv")]
    detail = json.loads(archive.read(json_name))
    assert detail == service.detail_json(5)
    invoice = service.invoice_json(5)
    assert detail["invoiceId"] == invoice["invoiceid"]
    assert detail["invoiceNumber"] == invoice["invoiceNumber"]
    assert detail["accountName"] == invoice["customerName"]
    for key in ("billingPeriodStart", "billingPeriodEnd", "invoiceDate"):
        assert NAIVE_TIME.match(detail[key])
    items = detail["invoiceItems"]
    assert len(items) == 7
    total = sum(Decimal(repr(item["value"])) for item in items)
    assert total == Decimal(repr(detail["invoiceValue"])) == Decimal(repr(invoice["invoiceValue"]))
    for item in items:
        assert {
            "id",
            "quantity",
            "value",
            "fromDate",
            "toDate",
            "calculationOrder",
            "operatorUsed",
            "operatorValueUsed",
            "productTagName",
            "billingOutputTags",
            "stringValues",
            "numericValues",
        } <= set(item)
        assert all(set(pair) == {"name", "value"} for pair in item["stringValues"])
        assert all(set(pair) == {"name", "value"} for pair in item["numericValues"])
    rows = list(csv.DictReader(io.StringIO(archive.read(csv_name).decode())))
    assert [row["ItemId"] for row in rows] == [item["id"] for item in items]
    assert sum(Decimal(row["Value"]) for row in rows) == total


async def test_detail_streams_a_large_invoice(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.detail_items = lambda index: 20_000 if index == 1 else 2
    response, data = await download(session, f"{API}/{service.invoice_id(1)}/detail")
    assert response.status == 200
    assert response.headers.get("Transfer-Encoding") == "chunked"
    archive = zipfile.ZipFile(io.BytesIO(data))
    json_name = next(name for name in archive.namelist() if name.endswith(".json"))
    assert len(json.loads(archive.read(json_name))["invoiceItems"]) == 20_000


async def test_summary_is_a_valid_pdf_of_about_the_asked_size(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.summary_size = 3_000_000
    response, data = await download(session, f"{API}/{service.invoice_id(2)}/summary")
    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    assert response.content_length == len(data)
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert b"xref" in data
    assert abs(len(data) - 3_000_000) < 100
    assert f"Invoice {service.invoice_json(2)['invoiceNumber']}".encode() in data
    # startxref points at the cross-reference table.
    startxref = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[startxref:].startswith(b"xref")


def test_default_summary_is_about_2kb() -> None:
    assert abs(len(FakeService().summary_pdf(0)) - 2048) < 50


# -- token endpoint ------------------------------------------------------------------------


def token_form(refresh_token: str, secret: str = "secret") -> dict[str, str]:  # noqa: S107
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": "app",
        "client_secret": secret,
    }


async def post_token(
    session: aiohttp.ClientSession, form: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with session.post("/connect/token", data=form, headers=headers) as response:
        return response.status, await response.json()


async def test_token_grant_issues_and_rotates(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.token_lifetime = 900
    service.add_oauth_client("app", "secret", "refresh-1")
    status, grant = await post_token(session, token_form("refresh-1"))
    assert status == 200
    assert set(grant) == {"access_token", "refresh_token", "expires_in", "token_type", "scope"}
    assert grant["expires_in"] == 900
    assert grant["token_type"] == "Bearer"
    assert grant["scope"] == "openid offline_access onboarding"
    assert grant["refresh_token"] != "refresh-1"
    assert grant["access_token"].count(".") == 2  # shaped like a JWT
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    assert (await get_json(session, API, headers=bearer))[0] == 200

    status, reused = await post_token(session, token_form("refresh-1"))
    assert status == 400
    assert reused["error"] == "invalid_grant"
    assert reused["error_description"]

    status, second = await post_token(session, token_form(grant["refresh_token"]))
    assert status == 200
    assert second["access_token"] != grant["access_token"]
    assert [r.authorized for r in service.requests if r.route == "token"] == [True] * 3
    assert grant["access_token"] not in repr(service.requests)


async def test_token_grant_accepts_http_basic_client_auth(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.add_oauth_client("my app", "s3cret:+", "refresh-1")
    # RFC 6749 2.3.1: form-encode each part, then base64 "id:secret".
    basic = base64.b64encode(b"my+app:s3cret%3A%2B").decode()
    form = {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    status, grant = await post_token(session, form, {"Authorization": f"Basic {basic}"})
    assert status == 200
    assert grant["access_token"]


@pytest.mark.parametrize(("client_id", "secret"), [("app", "wrong"), ("stranger", "secret")])
async def test_token_grant_refuses_a_bad_client(
    service: FakeService, session: aiohttp.ClientSession, client_id: str, secret: str
) -> None:
    service.add_oauth_client("app", "secret", "refresh-1")
    form = token_form("refresh-1", secret) | {"client_id": client_id}
    status, body = await post_token(session, form)
    assert status == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"]
    assert service.requests[-1].authorized is False
    # The refresh token was not spent by the failed attempt.
    assert (await post_token(session, token_form("refresh-1")))[0] == 200


async def test_token_grant_refuses_another_clients_refresh_token(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.add_oauth_client("app", "secret", "refresh-app")
    service.add_oauth_client("other", "other-secret", "refresh-other")
    status, body = await post_token(session, token_form("refresh-other"))
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_token_grant_refuses_other_grant_types(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.add_oauth_client("app", "secret", "refresh-1")
    form = token_form("refresh-1") | {"grant_type": "client_credentials"}
    status, body = await post_token(session, form)
    assert (status, body["error"]) == (400, "unsupported_grant_type")


async def test_expired_access_tokens_answer_401(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.add_oauth_client("app", "secret", "refresh-1")
    _, grant = await post_token(session, token_form("refresh-1"))
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    service.expire_access_tokens()
    status, body = await get_json(session, API, headers=bearer)
    assert status == 401
    assert_error_body(body, 401, "Unauthorized")
    assert (await get_json(session, API))[0] == 200  # the static token still works
    status, renewed = await post_token(session, token_form(grant["refresh_token"]))
    assert status == 200
    fresh = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert (await get_json(session, API, headers=fresh))[0] == 200
    service.expire_access_tokens(revoke_static=True)
    assert (await get_json(session, API))[0] == 401


# -- server and plugin ---------------------------------------------------------------------


async def test_server_reports_its_urls_and_closes_twice(service: FakeService) -> None:
    server = FakeServer(service)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    await server.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.token_url == server.url + "/connect/token"
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
    finally:
        await server.close()
    await server.close()


async def test_plugin_server_serves_the_plugin_service(
    myreports_server: FakeServer, myreports_service: FakeService
) -> None:
    assert myreports_server.service is myreports_service
    async with aiohttp.ClientSession() as session:
        status, body = await get_json(session, myreports_server.url + API)
    assert (status, body["page_size"]) == (200, myreports_service.invoice_count)


async def test_plugin_client_reads_the_fake(
    myreports_client: Any, myreports_service: FakeService
) -> None:
    invoice = await myreports_client.get_invoice(myreports_service.invoice_id(4))
    assert invoice.invoice_id == myreports_service.invoice_id(4)
    assert invoice.customer_name == myreports_service.invoice_json(4)["customerName"]


# --- the gateway's rate limit, as real gateways refuse ------------------------------------


async def _statuses_and_retry_after(
    service: FakeService, count: int
) -> list[tuple[int, str | None]]:
    async with FakeServer(service) as server, aiohttp.ClientSession() as session:
        answers = []
        for index in range(count):
            async with session.get(
                f"{server.url}/api/v1.0/billingdata/{service.invoice_id(index)}",
                headers={"Authorization": "Bearer test-token"},
            ) as resp:
                await resp.read()
                answers.append((resp.status, resp.headers.get("Retry-After")))
        return answers


async def test_rate_limit_burst_lets_that_many_through_at_once() -> None:
    service = FakeService(10, rate_limit=0.01, rate_limit_burst=3, rate_limit_retry_after=1)

    answers = await _statuses_and_retry_after(service, 5)

    assert answers == [(200, None)] * 3 + [(429, "1")] * 2


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0, "0"), (1, "1"), (2.5, "2.5"), (None, None)]
)
async def test_rate_limit_retry_after_is_sent_as_set(
    retry_after: float | None, header: str | None
) -> None:
    service = FakeService(10, rate_limit=0.01, rate_limit_retry_after=retry_after)

    answers = await _statuses_and_retry_after(service, 2)

    assert answers == [(200, None), (429, header)]


async def test_rate_limit_like_nginx_answers_503_without_retry_after() -> None:
    service = FakeService(10, rate_limit=0.01, rate_limit_status=503, rate_limit_retry_after=None)

    answers = await _statuses_and_retry_after(service, 2)

    assert answers == [(200, None), (503, None)]
    assert [r.status for r in service.requests] == [200, 503]


async def test_rate_limit_exact_retry_after_is_the_default() -> None:
    service = FakeService(10, rate_limit=0.3)  # the next request in 3.33 s

    _, (status, header) = await _statuses_and_retry_after(service, 2)

    assert status == 429
    assert header is not None
    assert 3 < float(header) <= 3.334
    assert "." in header  # the exact wait, as a fraction


def test_rate_limit_retry_after_must_be_exact_seconds_or_none() -> None:
    with pytest.raises(ValueError, match="rate_limit_retry_after"):
        FakeService(rate_limit=1, rate_limit_retry_after="soon")
    with pytest.raises(ValueError, match="rate_limit_retry_after"):
        FakeService(rate_limit=1, rate_limit_retry_after=-1)

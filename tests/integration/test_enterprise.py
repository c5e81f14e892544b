"""The Enterprise resources against the fake service over a real socket: every endpoint
the reference shows reachable through a typed method, and the write-safety rules
(``_session``, Rules 2 to 5) checked on the fake's request log."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest

from myreports_async import (
    AccountMetrics,
    MyReportsClient,
    NotFoundError,
    PaymentRequiredError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from myreports_async.testing import FakeService, Fault, RecordedRequest

from .conftest import ClientFactory

MAYBE_APPLIED = "may have been applied"


@pytest.fixture
def service() -> FakeService:
    return FakeService(
        30, seed=5, accounts=2, customers_per_account=3, users_per_tenant=2, pbxs_per_customer=1
    )


@pytest.fixture
def ids(service: FakeService) -> dict[str, str]:
    """An account, one of its customers, a user of each, and the customer's PBX."""
    directory = service.directory
    account = directory.accounts()[0]["id"]
    customer = directory.customers(account)[0]["id"]
    return {
        "account": account,
        "customer": customer,
        "account_user": directory.users(account)[0]["id"],
        "customer_user": directory.users(customer)[0]["id"],
        "pbx": directory.pbxs(customer)[0]["id"],
    }


def posts(service: FakeService, route: str) -> list[RecordedRequest]:
    return [r for r in service.requests if r.route == route and r.method == "POST"]


def names(records: list[dict[str, Any]]) -> list[str]:
    return [record["name"] for record in records]


# -- every endpoint marked seen, through its typed method ----------------------------


async def test_accounts_end_to_end(client: MyReportsClient, service: FakeService) -> None:
    directory = service.directory
    listed = [account async for account in client.accounts.iter(page_size=1, prefetch=2)]
    assert [a.id for a in listed] == [a["id"] for a in directory.accounts()]
    first = await client.accounts.get(listed[0].id)
    assert (first.id, first.name, first.reference) == (
        listed[0].id,
        listed[0].name,
        listed[0].reference,
    )
    assert first.timezone is not None  # a single account has fields a listed one lacks
    assert listed[0].timezone is None
    made = await client.accounts.create(
        name="Acme Reseller", reference="ERP-77", country_code="GB", accept_charges=True
    )
    assert directory.account(made.id)["reference"] == "ERP-77"
    await client.accounts.update(made.id, {"enabled": True, "description": "New"})
    assert directory.account(made.id)["enabled"] is True
    metrics = await client.accounts.metrics(first.id)
    assert isinstance(metrics, AccountMetrics)
    assert metrics.account_tenant_id == first.id
    assert {c.tenant_id for c in metrics.customers} == {
        c["id"] for c in directory.customers(first.id)
    }
    await client.accounts.delete(made.id)
    with pytest.raises(NotFoundError):
        await client.accounts.get(made.id)


async def test_customers_end_to_end(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    directory = service.directory
    customers = client.customers(ids["account"])
    expected = directory.customers(ids["account"])
    assert [c.id async for c in customers.iter()] == [c["id"] for c in expected]
    reference = expected[1]["reference"]
    found = [c async for c in customers.iter(filter=reference)]
    assert [c.id for c in found] == [expected[1]["id"]]
    assert (await customers.get(expected[1]["id"])).reference == reference
    made = await customers.create(name="Acme Dental", reference="ERP-9", accept_charges=True)
    assert names(directory.customers(ids["account"]))[-1] == "Acme Dental"
    await customers.update(made.id, {"name": "Acme Dental Ltd"})
    assert directory.customer(made.id)["name"] == "Acme Dental Ltd"
    await customers.delete(made.id)
    assert made.id not in [c["id"] for c in directory.customers(ids["account"])]


@pytest.mark.parametrize("level", ["account", "customer"])
async def test_users_end_to_end(
    client: MyReportsClient, service: FakeService, ids: dict[str, str], level: str
) -> None:
    directory = service.directory
    tenant = ids[level]
    users = (
        client.account_users(tenant)
        if level == "account"
        else client.customer_users(ids["account"], tenant)
    )
    assert [u.id async for u in users.iter()] == [u["id"] for u in directory.users(tenant)]
    user = await users.get(ids[f"{level}_user"])
    assert user.roles  # a single user comes with its roles
    made = await users.create(email="ann@example.com", display_name="Ann", accept_charges=True)
    assert made.email == "ann@example.com"
    await users.update(made.id, {"display_name": "Ann B."})
    assert (await users.get(made.id)).display_name == "Ann B."
    await users.send_activation_email(made.id)
    assert directory.activation_emails[-1] == made.id
    await users.delete(made.id)
    assert made.id not in [u["id"] for u in directory.users(tenant)]


async def test_pbx_connections_end_to_end(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    directory = service.directory
    pbxs = client.pbx_connections(ids["account"], ids["customer"])
    assert [p.id async for p in pbxs.iter()] == [p["id"] for p in directory.pbxs(ids["customer"])]
    assert (await pbxs.get(ids["pbx"])).type is not None
    made = await pbxs.create(
        "KazooPbxConnectionProfile",
        name="Main PBX",
        host_rest="https://rest.example.com",
        host_websocket="wss://ws.example.com",
        account_id="kazoo-account-42",
        api_key="KEY-NOT-FOR-LOGS",
        accept_charges=True,
    )
    assert made.enabled is False
    (logged,) = posts(service, "pbxs")
    assert "KEY-NOT-FOR-LOGS" not in repr(made)
    assert logged.accept_charges is True
    await pbxs.update(made.id, {"enabled": True})
    assert directory.pbx(made.id)["enabled"] is True
    found = await client.pbx_instance("kazoo-account-42")
    assert (found.exists, found.id, found.tenant_id) == (True, made.id, ids["customer"])
    assert (await client.pbx_instance("nobody")).exists is False
    await pbxs.delete(made.id)
    assert made.id not in [p["id"] for p in directory.pbxs(ids["customer"])]


# -- Rule 2: charges -----------------------------------------------------------------


async def test_a_chargeable_create_without_consent_makes_nothing(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    before = service.directory.customers(ids["account"])
    with pytest.raises(PaymentRequiredError) as caught:
        await client.customers(ids["account"]).create(name="Acme Dental")
    assert caught.value.status == 402
    assert isinstance(caught.value.echoed, dict)
    assert caught.value.echoed["name"] == "Acme Dental"
    (logged,) = posts(service, "customers")
    assert logged.accept_charges is False
    assert service.directory.customers(ids["account"]) == before


# -- Rule 3: a create is repeated only when nothing can have been made ----------------


async def test_create_answered_500_is_not_repeated(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    service.inject(Fault.status(500), route="customers", method="POST")
    with pytest.raises(ServerError, match=MAYBE_APPLIED):
        await client.customers(ids["account"]).create(name="Acme", accept_charges=True)
    assert len(posts(service, "customers")) == 1


async def test_create_timing_out_after_sending_is_not_repeated(
    make_client: ClientFactory, service: FakeService, ids: dict[str, str]
) -> None:
    client = make_client(timeout=0.2)
    service.inject(Fault.delay(5.0), route="accounts", method="POST")
    with pytest.raises(TransportError, match=f"timed out.*{MAYBE_APPLIED}"):
        await client.accounts.create(name="Acme", accept_charges=True)
    assert len(posts(service, "accounts")) == 1


async def test_create_whose_answer_is_lost_is_not_repeated(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    service.inject(
        Fault.drop(mid_body=False, after_applying=True), route="customer_users", method="POST"
    )
    users = client.customer_users(ids["account"], ids["customer"])
    with pytest.raises(TransportError, match=MAYBE_APPLIED):
        await users.create(email="ann@example.com", display_name="Ann", accept_charges=True)
    assert len(posts(service, "customer_users")) == 1
    made = [u for u in service.directory.users(ids["customer"]) if u["email"] == "ann@example.com"]
    assert len(made) == 1  # applied once, as the error warned


@pytest.mark.parametrize("status", [429, 503])
async def test_create_refused_as_too_fast_is_repeated_and_made_once(
    client: MyReportsClient, service: FakeService, status: int
) -> None:
    service.inject(Fault.status(status, retry_after=0.01), route="accounts", method="POST")
    made = await client.accounts.create(name="Acme", reference="ERP-1", accept_charges=True)
    assert len(posts(service, "accounts")) == 2
    assert [a["id"] for a in service.directory.accounts() if a["reference"] == "ERP-1"] == [made.id]


async def test_create_to_a_refusing_port_is_repeated() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    retry = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.002)
    async with MyReportsClient("t", base_url=f"http://127.0.0.1:{port}", retry=retry) as client:
        with pytest.raises(TransportError, match=r"cannot connect.*after 3 attempts") as caught:
            await client.accounts.create(name="Acme")
    assert MAYBE_APPLIED not in str(caught.value)


# -- Rules 4 and 5: PATCH and DELETE ---------------------------------------------------


async def test_patch_whose_answer_is_lost_is_repeated(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    service.inject(Fault.drop(mid_body=False, after_applying=True), route="pbxs", method="PATCH")
    pbxs = client.pbx_connections(ids["account"], ids["customer"])
    await pbxs.update(ids["pbx"], {"name": "Renamed"})
    patches = [r for r in service.requests if r.route == "pbxs" and r.method == "PATCH"]
    assert len(patches) == 2
    assert service.directory.pbx(ids["pbx"])["name"] == "Renamed"


async def test_delete_whose_answer_is_lost_is_done(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    service.inject(
        Fault.drop(mid_body=False, after_applying=True), route="customers", method="DELETE"
    )
    await client.customers(ids["account"]).delete(ids["customer"])  # no NotFoundError
    deletes = [r for r in service.requests if r.method == "DELETE"]
    assert [r.status for r in deletes] == [-1, 404]
    assert ids["customer"] not in [c["id"] for c in service.directory.customers(ids["account"])]


async def test_delete_of_an_unknown_record_raises_not_found(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    with pytest.raises(NotFoundError):
        await client.pbx_connections(ids["account"], ids["customer"]).delete(
            "00000000-0000-0000-0000-000000000000"
        )


async def test_writes_follow_the_client_s_retry_policy(
    make_client: ClientFactory, service: FakeService, ids: dict[str, str]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2, initial_backoff=0.001))
    service.inject(Fault.status(502), route="account_users", method="PATCH", times=None)
    with pytest.raises(ServerError, match="Bad Gateway"):
        await client.account_users(ids["account"]).update(ids["account_user"], {"email": "x"})
    patches = [r for r in service.requests if r.method == "PATCH"]
    assert len(patches) == 2


# -- resume points ---------------------------------------------------------------------


async def test_a_customer_listing_resumes_after_the_saved_point_with_its_filter(
    client: MyReportsClient, service: FakeService, ids: dict[str, str]
) -> None:
    customers = client.customers(ids["account"])
    for number in range(7):  # 3 of the 7 new customers are named "Branch"
        await customers.create(
            name=f"{'Branch' if number % 2 else 'Site'} {number}", accept_charges=True
        )
    wanted = [c["id"] for c in service.directory.customers(ids["account"]) if "Branch" in c["name"]]
    assert len(wanted) == 3

    first: list[str] = []
    async for customer, point in customers.iter_resumable(filter="branch", page_size=2):
        first.append(customer.id)
        saved = point
        if len(first) == 1:
            break
    rest = [c.id async for c in customers.iter(filter="branch", page_size=2, resume=saved)]

    assert first + rest == wanted
    resumed = [r for r in service.requests if r.route == "customers" and r.method == "GET"]
    assert {r.query["filter"] for r in resumed} == {"branch"}


async def test_a_resume_point_of_another_page_size_is_refused_before_any_request(
    client: MyReportsClient, service: FakeService
) -> None:
    async with contextlib.aclosing(client.accounts.iter_resumable(page_size=1)) as listed:
        _, point = await anext(listed)
    service.clear_requests()

    with pytest.raises(ValueError, match="page_size=1"):
        client.accounts.iter(page_size=2, resume=point)
    assert service.requests == []

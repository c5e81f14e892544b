"""The fake's Enterprise resources over a real socket, driven with a plain aiohttp.ClientSession.

These pin what the client's tests and users' provisioning tests rely on: the documented
envelopes and paging, the 402 charge rule, writes that change the state the
``service.directory`` shows, the errors, and the gateway (log, faults) on these routes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from myreports_async.testing import DEFAULT_CHARGES, FakeServer, FakeService, Fault
from tests.integration import test_fake_service as billing
from tests.integration.test_fake_service import AUTH, TIMESTAMP, assert_error_body

# The billing routes' fixtures: a session on the fake, and no handler error whatever the
# client sees (a handler that raises would be a bug of the fake).
session = billing.session
_no_server_errors = billing._no_server_errors

API = "/api/v1.0"
CHARGES_OK = {**AUTH, "accept-charges": "true"}
NAIVE_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")
GUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
TENANT_KEYS = ["id", "name", "description", "enabled", "parentTenantId", "reference", "dateCreated"]
KAZOO = {
    "_type": "KazooPbxConnectionProfile",
    "name": "Main PBX",
    "hostRest": "https://rest.example.com",
    "hostWebsocket": "wss://ws.example.com",
    "accountId": "a1b2c3",
    "apiKey": "SECRET-API-KEY",
}


async def call(
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    body: object = None,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request; the status and the JSON body (``None`` when there is none)."""
    data = None if body is None else json.dumps(body)
    sent = {**(AUTH if headers is None else headers), "Content-Type": "application/json"}
    async with session.request(method, path, data=data, headers=sent, params=params) as r:
        raw = await r.read()
        return r.status, json.loads(raw) if raw else None


def first_account(service: FakeService) -> str:
    account_id: str = service.directory.accounts()[0]["id"]
    return account_id


def first_customer(service: FakeService) -> tuple[str, str]:
    account_id = first_account(service)
    customer_id: str = service.directory.customers(account_id)[0]["id"]
    return account_id, customer_id


# -- listings ------------------------------------------------------------------------------


async def test_accounts_listing_has_the_documented_shape(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, "GET", f"{API}/accounts")
    assert status == 200
    assert list(body) == ["page_size", "page_index", "data", "status", "timestamp"]
    assert body["page_size"] == 2
    assert body["page_index"] == 0
    assert TIMESTAMP.match(body["timestamp"])
    assert body["data"] == service.directory.accounts()
    for account in body["data"]:
        assert list(account) == TENANT_KEYS
        assert GUID.match(account["id"])
        assert NAIVE_MS.match(account["dateCreated"])
        assert account["parentTenantId"] == service.directory.enterprise_tenant_id


async def test_customer_pages_count_their_own_items_and_concatenate(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id = first_account(service)
    pages = []
    for index in range(4):
        params = {"pageIndex": str(index), "pageSize": "10"}
        status, body = await call(
            session, "GET", f"{API}/accounts/{account_id}/customers", params=params
        )
        assert status == 200
        assert body["page_index"] == index
        pages.append(body)
    assert [page["page_size"] for page in pages] == [10, 10, 4, 0]
    listed = [customer for page in pages for customer in page["data"]]
    assert listed == service.directory.customers(account_id)
    assert [r.page_index for r in service.requests] == [0, 1, 2, 3]


async def test_users_and_pbx_listings_carry_no_page_index(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id, customer_id = first_customer(service)
    customer = f"{API}/accounts/{account_id}/customers/{customer_id}"
    for path, expected in (
        (f"{API}/accounts/{account_id}/users", service.directory.users(account_id)),
        (f"{customer}/users", service.directory.users(customer_id)),
        (f"{customer}/pbxs", service.directory.pbxs(customer_id)),
    ):
        status, body = await call(session, "GET", path, params={"pageSize": "5000"})
        assert status == 200
        assert list(body) == ["page_size", "data", "status", "timestamp"]
        assert body["data"] == expected
        assert body["page_size"] == len(expected)
    assert all("roles" not in user for user in service.directory.users(customer_id))


async def test_page_size_is_a_string_when_asked(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.page_size_as_string = True
    _, body = await call(session, "GET", f"{API}/accounts", params={"pageSize": "1"})
    assert body["page_size"] == "1"


async def test_bad_page_index_answers_400(session: aiohttp.ClientSession) -> None:
    status, body = await call(session, "GET", f"{API}/accounts", params={"pageIndex": "x"})
    assert status == 400
    assert_error_body(body, 400, "The value 'x' is not valid for pageIndex.")


async def test_customer_filter_contains_name_or_reference_ignoring_case(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id = first_account(service)
    service.directory.add_customer(account_id, name="Smith & Sons", reference="XYZ-1")
    path = f"{API}/accounts/{account_id}/customers"
    # aiohttp percent-encodes the parameter ("smith+%26+sons"); the fake decodes it.
    _, by_name = await call(session, "GET", path, params={"filter": "smith & sons"})
    assert [c["name"] for c in by_name["data"]] == ["Smith & Sons"]
    _, by_reference = await call(session, "GET", path, params={"filter": "xyz-"})
    assert [c["reference"] for c in by_reference["data"]] == ["XYZ-1"]
    _, none = await call(session, "GET", path, params={"filter": "no such customer"})
    assert none["page_size"] == 0


# -- writes --------------------------------------------------------------------------------


async def test_customer_create_get_patch_get_delete_then_404(
    service: FakeService, session: aiohttp.ClientSession, server: FakeServer
) -> None:
    account_id = first_account(service)
    customers = f"{API}/accounts/{account_id}/customers"
    new = {"name": "New customer", "description": "This is my new customer", "trialduration": "0"}
    async with session.post(customers, json=new, headers=CHARGES_OK) as response:
        assert response.status == 201
        created = await response.json()
        customer_id = created["data"]["id"]
        assert response.headers["Location"] == f"{server.url}{customers}/{customer_id}"
    assert list(created["data"]) == ["id", "name", "description", "enabled", "parentTenantId"]
    assert created["data"]["parentTenantId"] == account_id
    path = f"{customers}/{customer_id}"
    status, got = await call(session, "GET", path)
    assert status == 200
    assert got["data"] == service.directory.customer(customer_id)
    assert got["data"]["trialDuration"] == 0
    patch = [{"op": "replace", "path": "/enabled", "value": True}]
    status, patched = await call(session, "PATCH", path, patch)
    assert status == 200
    assert list(patched) == ["status", "timestamp"]
    _, got = await call(session, "GET", path)
    assert got["data"]["enabled"] is True
    status, deleted = await call(session, "DELETE", path)
    assert (status, list(deleted)) == (200, ["status", "timestamp"])
    status, body = await call(session, "GET", path)
    assert status == 404
    assert_error_body(body, 404, "Not Found")


async def test_account_create_echoes_five_fields(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    body = {"name": "Reseller 9", "description": "d", "reference": "R9", "enabled": True}
    status, created = await call(session, "POST", f"{API}/accounts", body, headers=CHARGES_OK)
    assert status == 201
    assert created["data"] == {
        "id": created["data"]["id"],
        "name": "Reseller 9",
        "description": "d",
        "enabled": True,
        "parentTenantId": service.directory.enterprise_tenant_id,
    }
    assert service.directory.accounts()[-1]["reference"] == "R9"


async def test_create_without_a_name_answers_400(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, "POST", f"{API}/accounts", {"description": "x"})
    assert status == 400
    assert_error_body(body, 400, "The name field is required.")
    assert len(service.directory.accounts()) == 2


async def test_402_until_charges_are_accepted(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    sent = b'{"name": "Charged", "enabled": false}'
    headers = {**AUTH, "Content-Type": "application/json"}
    async with session.post(f"{API}/accounts", data=sent, headers=headers) as response:
        assert response.status == 402
        assert await response.read() == sent  # the request's body, not enveloped
    assert len(service.directory.accounts()) == 2  # not carried out
    async with session.post(
        f"{API}/accounts", data=sent, headers={**headers, "accept-charges": "true"}
    ) as response:
        assert response.status == 201
    assert service.directory.accounts()[-1]["name"] == "Charged"
    log = service.requests
    assert [(r.status, r.accept_charges) for r in log] == [(402, False), (201, True)]
    assert log[0].json == {"name": "Charged", "enabled": False}


async def test_customer_users_are_charged_only_for_licence_roles(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    assert "create_customer_user" in DEFAULT_CHARGES
    account_id, customer_id = first_customer(service)
    users = f"{API}/accounts/{account_id}/customers/{customer_id}/users"
    web_only = {"email": "w@example.com", "displayName": "Web", "roles": ["customer.settings"]}
    status, created = await call(session, "POST", users, web_only)
    assert status == 201
    assert created["data"]["roles"] == ["customer.user", "customer.settings"]
    licensed = {"email": "p@example.com", "displayName": "Pbx", "roles": ["customer.user.pbx"]}
    assert (await call(session, "POST", users, licensed))[0] == 402
    patch = [{"op": "replace", "path": "/roles", "value": ["customer.user", "customer.user.acd"]}]
    user = f"{users}/{created['data']['id']}"
    assert (await call(session, "PATCH", user, patch))[0] == 402
    assert (await call(session, "PATCH", user, patch, headers=CHARGES_OK))[0] == 200
    assert service.directory.user(created["data"]["id"])["roles"] == patch[0]["value"]


async def test_charges_is_a_plain_attribute(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.charges = frozenset({"update_account"})
    account = f"{API}/accounts/{first_account(service)}"
    patch = [{"op": "replace", "path": "/name", "value": "Renamed"}]
    assert (await call(session, "PATCH", account, patch))[0] == 402
    assert (await call(session, "POST", f"{API}/accounts", {"name": "Free"}))[0] == 201


async def test_bad_patches_answer_400_and_change_nothing(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id = first_account(service)
    path = f"{API}/accounts/{account_id}"
    before = service.directory.account(account_id)
    cases = [
        (
            [
                {"op": "replace", "path": "/name", "value": "X"},
                {"op": "replace", "path": "/colour", "value": "red"},
            ],
            "The target location specified by path segment 'colour' was not found.",
        ),
        (
            [{"op": "add", "path": "/name", "value": "X"}],
            "The JSON Patch operation 'add' is not supported.",
        ),
        ({"op": "replace", "path": "/name", "value": "X"}, None),
        ([{"op": "replace", "path": "/enabled", "value": "maybe"}], None),
    ]
    for body, message in cases:
        status, answer = await call(session, "PATCH", path, body)
        assert status == 400
        assert_error_body(answer, 400, message)
    assert service.directory.account(account_id) == before


async def test_ids_are_checked_before_they_are_looked_up(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, "GET", f"{API}/accounts/not-a-guid")
    assert status == 400
    assert_error_body(body, 400, "The value 'not-a-guid' is not valid.")
    unknown = "00000000-0000-0000-0000-000000000000"
    status, body = await call(session, "GET", f"{API}/accounts/{unknown}/metrics")
    assert status == 404
    assert_error_body(body, 404, "Not Found")
    # A customer exists only under its own account.
    accounts = [a["id"] for a in service.directory.accounts()]
    customer_id = service.directory.customers(accounts[0])[0]["id"]
    status, _ = await call(session, "GET", f"{API}/accounts/{accounts[1]}/customers/{customer_id}")
    assert status == 404


async def test_without_a_token_every_route_answers_401(session: aiohttp.ClientSession) -> None:
    status, body = await call(session, "GET", f"{API}/accounts", headers={})
    assert status == 401
    assert_error_body(body, 401)


async def test_deleting_an_account_deletes_its_customers(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id, customer_id = first_customer(service)
    assert (await call(session, "DELETE", f"{API}/accounts/{account_id}"))[0] == 200
    status, _ = await call(session, "GET", f"{API}/accounts/{account_id}/customers/{customer_id}")
    assert status == 404
    assert [a["id"] for a in service.directory.accounts()] != [account_id]
    with pytest.raises(KeyError):
        service.directory.customer(customer_id)


# -- users ---------------------------------------------------------------------------------


async def test_activation_email_only_from_the_primary_tenant(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id, customer_id = first_customer(service)
    directory = service.directory
    parent = directory.add_user(
        customer_id, email="r@example.com", display_name="R", primary_tenant=account_id
    )
    assert parent["isParent"] is True
    customer = f"{API}/accounts/{account_id}/customers/{customer_id}"
    status, body = await call(
        session, "POST", f"{customer}/users/{parent['id']}/sendActivationEmail"
    )
    assert status == 400
    assert body["errorCode"] == "TenantNotPrimary"
    assert body["message"] == "This is not the primary tenant for this User."
    own = f"{API}/accounts/{account_id}/users/{parent['id']}/sendActivationEmail"
    assert (await call(session, "POST", own))[0] == 204
    assert directory.activation_emails == [parent["id"]]
    # Deleting from a tenant that is not the primary one only unlists the user there.
    assert (await call(session, "DELETE", f"{customer}/users/{parent['id']}"))[0] == 200
    assert parent["id"] not in [u["id"] for u in directory.users(customer_id)]
    assert directory.user(parent["id"])["primaryTenant"] == account_id


# -- PBX connections and metrics -----------------------------------------------------------


async def test_pbx_create_lookup_patch_and_the_log_keeps_no_key(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id, customer_id = first_customer(service)
    pbxs = f"{API}/accounts/{account_id}/customers/{customer_id}/pbxs"
    status, created = await call(session, "POST", pbxs, KAZOO, headers=CHARGES_OK)
    assert status == 201
    pbx = created["data"]
    assert pbx["enabled"] is False
    assert {**pbx, **KAZOO} == pbx  # every field sent comes back
    assert pbx["tenantId"] == customer_id
    status, found = await call(session, "GET", f"{API}/pbxs", params={"instanceId": "a1b2c3"})
    assert found["data"] == {
        "exists": True,
        "instanceId": "a1b2c3",
        "id": pbx["id"],
        "tenantId": customer_id,
    }
    _, missing = await call(session, "GET", f"{API}/pbxs", params={"instanceId": "nope"})
    assert missing["data"] == {"exists": False, "instanceId": "nope"}
    enable = [{"op": "replace", "path": "/enabled", "value": "true"}]
    assert (await call(session, "PATCH", f"{pbxs}/{pbx['id']}", enable))[0] == 200
    assert service.directory.pbx(pbx["id"])["enabled"] is True
    assert "SECRET-API-KEY" not in repr(service.requests)
    assert service.requests[0].json == {**KAZOO, "apiKey": "<redacted>"}


async def test_unknown_pbx_types_are_added_by_tests_and_refused_by_the_api(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id, customer_id = first_customer(service)
    teams = service.directory.add_pbx(
        customer_id, {"_type": "TeamsPbxConnectionProfile", "name": "T"}
    )
    pbxs = f"{API}/accounts/{account_id}/customers/{customer_id}/pbxs"
    _, listed = await call(session, "GET", pbxs)
    assert teams in listed["data"]
    status, body = await call(
        session, "POST", pbxs, {"_type": "Teams", "name": "x"}, headers=CHARGES_OK
    )
    assert status == 400
    assert body["message"].startswith("The _type 'Teams' is not valid")


async def test_metrics_follow_the_state(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id = first_account(service)
    customers = f"{API}/accounts/{account_id}/customers"
    new = {"name": "Fresh", "pbxConnectionProfile": KAZOO}
    _, created = await call(session, "POST", customers, new, headers=CHARGES_OK)
    customer_id = created["data"]["id"]
    users = f"{customers}/{customer_id}/users"
    user = {"email": "a@example.com", "displayName": "A", "roles": ["customer.user.pbx"]}
    assert (await call(session, "POST", users, user, headers=CHARGES_OK))[0] == 201
    status, body = await call(session, "GET", f"{API}/accounts/{account_id}/metrics")
    assert status == 200
    metrics = body["data"]
    assert metrics == service.directory.metrics(account_id)
    assert [c["tenantId"] for c in metrics["customers"]] == [
        c["id"] for c in service.directory.customers(account_id)
    ]
    fresh = metrics["customers"][-1]
    assert fresh["tenantName"] == "Fresh"
    assert fresh["roles"] == {"customer.user": 1, "customer.user.pbx": 1}
    assert [(p["pbxType"], p["instanceId"]) for p in fresh["pbxs"]] == [("Kazoo", "a1b2c3")]
    assert {p["pbxType"] for p in metrics["pbxProfiles"]} >= {"Kazoo"}


# -- the gateway ---------------------------------------------------------------------------


async def test_a_fault_aimed_at_a_method_spares_the_others(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    service.inject(Fault.status(503), route="accounts", method="POST")
    assert (await call(session, "GET", f"{API}/accounts"))[0] == 200
    status, body = await call(session, "POST", f"{API}/accounts", {"name": "A"}, headers=CHARGES_OK)
    assert status == 503
    assert_error_body(body, 503)
    assert len(service.directory.accounts()) == 2
    assert service.pending_faults() == []


async def test_drop_after_applying_loses_the_answer_not_the_write(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id = first_account(service)
    service.inject(
        Fault.drop(mid_body=False, after_applying=True), route="customers", method="POST"
    )
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(
            session,
            "POST",
            f"{API}/accounts/{account_id}/customers",
            {"name": "Ghost"},
            headers=CHARGES_OK,
        )
    assert service.directory.customers(account_id)[-1]["name"] == "Ghost"
    assert [(r.method, r.status) for r in service.requests] == [("POST", -1)]


async def test_every_invoice_joins_to_a_customer_reference(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    references: dict[str, str] = {}
    for account in service.directory.accounts():
        path = f"{API}/accounts/{account['id']}/customers"
        _, body = await call(session, "GET", path)
        references.update({c["id"]: c["reference"] for c in body["data"]})
    assert len(set(references.values())) == len(references)
    _, invoices = await call(session, "GET", f"{API}/billingdata")
    assert invoices["page_size"] == 250
    for invoice in invoices["data"]:
        assert references[invoice["tenantId"]].startswith("ERP-")
        customer = service.directory.customer(invoice["tenantId"])
        assert customer["name"] == invoice["customerName"]


def test_customers_per_account_takes_the_first_invoice_customers() -> None:
    service = FakeService(6, accounts=2, customers_per_account=3, seed=4)
    ids = {
        c["id"] for a in service.directory.accounts() for c in service.directory.customers(a["id"])
    }
    assert ids == {service.invoice_json(i)["tenantId"] for i in range(6)}
    with pytest.raises(ValueError, match="users_per_tenant must be >= 0"):
        FakeService(users_per_tenant=-1)
    with pytest.raises(ValueError, match="unknown charged operations"):
        FakeService(charges={"create_everything"})


async def test_a_dropped_delete_is_repeated_by_aiohttp_and_meets_404(
    service: FakeService, session: aiohttp.ClientSession
) -> None:
    account_id, customer_id = first_customer(service)
    path = f"{API}/accounts/{account_id}/customers/{customer_id}"
    await call(session, "GET", f"{API}/accounts")  # a kept-alive connection to reuse
    service.inject(
        Fault.drop(mid_body=False, after_applying=True), route="customers", method="DELETE"
    )
    status, _ = await call(session, "DELETE", path)
    assert status == 404  # what a client retrying a DELETE sees: done by the first attempt
    assert [(r.method, r.status) for r in service.requests[1:]] == [("DELETE", -1), ("DELETE", 404)]


async def test_the_rate_limit_guards_the_enterprise_routes_too(
    session: aiohttp.ClientSession, service: FakeService
) -> None:
    service.rate_limit = 0.001  # one request, then none for a long while
    assert (await call(session, "GET", f"{API}/accounts"))[0] == 200
    status, _ = await call(session, "POST", f"{API}/accounts", {"name": "A"}, headers=CHARGES_OK)
    assert status == 429
    assert len(service.directory.accounts()) == 2

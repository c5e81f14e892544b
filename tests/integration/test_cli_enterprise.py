"""The Enterprise commands of ``myreports``: listings, writes, charges and their exit codes.

Each run is the real entry point in a subprocess against the fake service over a socket;
the tests compare the output with the fake's own state and its request log.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from myreports_async.testing import FakeService, Fault

from .cli_support import TOKEN, assert_one_error_line, run_cli


@pytest.fixture
def cli_service() -> FakeService:
    # 40 invoices name a handful of customers, dealt over 2 accounts.
    return FakeService(40, seed=5, access_tokens=(TOKEN,))


def first_account(service: FakeService) -> str:
    return str(service.directory.accounts()[0]["id"])


async def test_accounts_ndjson_lists_every_account_in_order(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("accounts", env=env)

    assert result.code == 0, result.err
    records = [json.loads(line) for line in result.out.splitlines()]
    expected = cli_service.directory.accounts()
    assert [r["id"] for r in records] == [a["id"] for a in expected]
    assert [r["reference"] for r in records] == [a["reference"] for a in expected]
    assert records[0]["date_created"].endswith("+00:00")  # naive service dates are UTC


async def test_customers_filter_narrows_the_list_and_reaches_the_service_as_given(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    account = first_account(cli_service)
    wanted = cli_service.directory.customers(account)[1]

    result = await run_cli("customers", account, "--filter", wanted["reference"], env=env)

    assert result.code == 0, result.err
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == [wanted["id"]]
    requests = [r for r in cli_service.requests if r.route == "customers"]
    assert requests
    assert {r.query["filter"] for r in requests} == {wanted["reference"]}


async def test_users_of_a_customer_as_csv_have_a_header_of_the_record_fields(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    account = first_account(cli_service)
    customer = cli_service.directory.customers(account)[0]

    result = await run_cli("users", account, customer["id"], "--format", "csv", env=env)

    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert list(rows[0]) == ["id", "display_name", "email", "roles", "primary_tenant", "is_parent"]
    assert [row["email"] for row in rows] == [
        user["email"] for user in cli_service.directory.users(customer["id"])
    ]


async def test_pbx_connections_never_print_a_key(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    account = first_account(cli_service)
    customer = cli_service.directory.customers(account)[0]
    secret = "kazoo-api-key-must-not-show"
    cli_service.directory.add_pbx(
        customer["id"],
        {
            "_type": "KazooPbxConnectionProfile",
            "name": "Head office",
            "hostRest": "https://crossbar.example.com",
            "apiKey": secret,
        },
    )

    for fmt in ("ndjson", "csv", "table"):
        result = await run_cli("pbx-connections", account, customer["id"], "--format", fmt, env=env)
        assert result.code == 0, result.err
        assert "Head office" in result.out
        assert secret not in result.out + result.err
        assert "api_key" not in result.out


async def test_create_customer_without_accept_charges_exits_8_and_creates_nothing(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    account = first_account(cli_service)
    before = cli_service.directory.customers(account)

    result = await run_cli("create-customer", account, "--name", "Acme", env=env)

    assert result.code == 8
    assert_one_error_line(result, "error: not carried out: the request may incur charges")
    assert "--accept-charges" in result.err
    assert cli_service.directory.customers(account) == before
    posts = [r for r in cli_service.requests if r.method == "POST"]
    assert [(r.status, r.accept_charges) for r in posts] == [(402, False)]


async def test_create_customer_with_accept_charges_prints_the_new_customer(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    account = first_account(cli_service)

    result = await run_cli(
        "create-customer",
        account,
        "--name",
        "Acme",
        "--reference",
        "ERP-9",
        "--accept-charges",
        env=env,
    )

    assert result.code == 0, result.err
    created = json.loads(result.out)
    assert created["name"] == "Acme"
    assert created["id"] in {c["id"] for c in cli_service.directory.customers(account)}
    (post,) = [r for r in cli_service.requests if r.method == "POST"]
    assert post.accept_charges is True
    assert post.json == {"name": "Acme", "reference": "ERP-9", "enabled": False}


async def test_update_sends_replace_operations_read_as_json_or_text(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    account = first_account(cli_service)

    result = await run_cli(
        "update-account",
        account,
        "--set",
        "description=New words",
        "--set",
        "enabled=false",
        env=env,
    )

    assert result.code == 0, result.err
    assert result.out == ""
    (patch,) = [r for r in cli_service.requests if r.method == "PATCH"]
    assert patch.json == [
        {"op": "replace", "path": "/description", "value": "New words"},
        {"op": "replace", "path": "/enabled", "value": False},
    ]
    assert cli_service.directory.account(account)["enabled"] is False


async def test_update_with_an_unknown_field_is_a_usage_error_before_any_request(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli(
        "update-account", first_account(cli_service), "--set", "colour=red", env=env
    )

    assert result.code == 2
    assert "colour" in result.err
    assert [r for r in cli_service.requests if r.method == "PATCH"] == []


async def test_delete_then_delete_again_exits_4(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    account = first_account(cli_service)
    customer = cli_service.directory.customers(account)[0]["id"]

    first = await run_cli("delete-customer", account, customer, env=env)
    second = await run_cli("delete-customer", account, customer, env=env)

    assert first.code == 0, first.err
    assert second.code == 4
    assert_one_error_line(second, "error: not found: HTTP 404")


async def test_a_malformed_id_is_a_usage_error_before_any_request(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    result = await run_cli("customers", "a/b", env=env)

    assert result.code == 2
    assert "must not contain" in result.err
    assert cli_service.requests == []


async def test_create_after_an_ambiguous_failure_says_the_write_may_have_applied(
    cli_service: FakeService, env: dict[str, str]
) -> None:
    cli_service.inject(Fault.status(500), route="accounts", method="POST")

    result = await run_cli("create-account", "--name", "Once", "--accept-charges", env=env)

    assert result.code == 6
    assert_one_error_line(result, "error: service error: HTTP 500")
    assert "may have been applied" in result.err
    assert len([r for r in cli_service.requests if r.method == "POST"]) == 1

"""The Enterprise records read from the documented payloads, quirks included, and the
bodies the client writes (create bodies, JSON Patch)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from myreports_async import (
    Account,
    AccountMetrics,
    Customer,
    CustomerMetrics,
    DecodeError,
    PbxConnection,
    PbxInstance,
    User,
)
from myreports_async._enterprise_codec import (
    ACCOUNT_METRICS,
    ACCOUNTS,
    CUSTOMERS,
    PBX_CONNECTIONS,
    PBX_INSTANCES,
    USERS,
    create_body,
    patch_operations,
)

UTC = timezone.utc


def payload(examples: Path, name: str) -> bytes:
    return (examples / "enterprise" / name).read_bytes()


def page_of(*items: dict[str, Any], **envelope: Any) -> bytes:
    return json.dumps({"page_size": len(items), "data": list(items), **envelope}).encode()


def single(data: dict[str, Any]) -> bytes:
    return json.dumps({"data": data, "status": "success"}).encode()


# -- documented payloads -------------------------------------------------------------


def test_accounts_get_all_page(examples: Path) -> None:
    page = ACCOUNTS.page(payload(examples, "accounts.get-all.json"), index=0)
    assert [account.id for account in page.items] == [
        "{ACCOUNT_TENANT_ID_1}",
        "{ACCOUNT_TENANT_ID_2}",
        "{ACCOUNT_TENANT_ID_3}",
        "{ACCOUNT_TENANT_ID_4}",
    ]
    assert page.items[0] == Account(
        id="{ACCOUNT_TENANT_ID_1}",
        name="Account 1",
        description="This is Account 1",
        reference="account reference 1",
        enabled=True,
        parent_tenant_id="{ENTERPRISE_TENANT_ID}",
        date_created=datetime(2019, 1, 1, 9, 0, tzinfo=UTC),  # naive on the wire: UTC
    )
    assert page.timestamp == datetime(2019, 1, 1, 10, 0, 0, 289031, tzinfo=UTC)


def test_account_metrics(examples: Path) -> None:
    metrics = ACCOUNT_METRICS.single(payload(examples, "accounts.metrics.json"))
    assert isinstance(metrics, AccountMetrics)
    assert metrics.account_tenant_id == "6172bb3d-e843-46bb-93a3-334505974ad9"
    assert metrics.date_created == datetime(2021, 3, 2, 15, 15, 46, 538411, tzinfo=UTC)
    assert metrics.pbx_profiles == ()  # the older page's example has none
    first = metrics.customers[0]
    assert isinstance(first, CustomerMetrics)
    assert first.tenant_name == "Example Customer 1"
    assert first.roles["customer.user.pbx"] == 25
    assert first.pbxs == ()
    assert dict(metrics.customers[1].roles) == {
        "customer.user.pbx": 2,
        "customer.user.supervisorl1": 1,
        "customer.user.uc.remote": 1,
    }


def test_account_metrics_with_pbx_profiles_and_connections() -> None:
    body = single(
        {
            "accountTenantId": "a",
            "pbxProfiles": [
                {"id": "TeamsPbxProvisionerProfile_1", "pbxType": "Teams", "instanceId": "t"}
            ],
            "customers": [
                {
                    "tenantId": "c",
                    "tenantProfileType": "TenantProfileType_analytics",
                    "pbxs": [
                        {
                            "id": "p",
                            "pbxType": "Kazoo",
                            "instanceId": "k",
                            "name": "PBX",
                            "enabled": True,
                            "monitorSubAccounts": False,
                        }
                    ],
                    "roles": {},
                }
            ],
        }
    )
    metrics = ACCOUNT_METRICS.single(body)
    assert metrics.pbx_profiles[0].pbx_type == "Teams"
    pbx = metrics.customers[0].pbxs[0]
    assert (pbx.id, pbx.pbx_type, pbx.instance_id, pbx.monitor_sub_accounts) == (
        "p",
        "Kazoo",
        "k",
        False,
    )


@pytest.mark.parametrize(
    ("name", "tenant", "is_parent", "roles"),
    [
        ("account-users.get-user.json", "{ACCOUNT_TENANT_ID}", None, ("account.user",)),
        (
            "customer-users.get-user.json",
            "{CUSTOMER_TENANT_ID}",
            False,
            ("customer.user", "customer.user.supervisorl3"),
        ),
    ],
)
def test_get_user(
    examples: Path, name: str, tenant: str, is_parent: bool | None, roles: tuple[str, ...]
) -> None:
    user = USERS.single(payload(examples, name))
    assert user == User(
        id="{USER_ID}",
        display_name="Customer 1",
        email="[email protected]",
        roles=roles,
        primary_tenant=tenant,
        is_parent=is_parent,
    )


def test_listed_users_have_no_roles_rather_than_none_of_them() -> None:
    listed = {
        "id": "{USER_ID_1}",
        "displayName": "User 1",
        "email": "user1@example.com",
        "primaryTenant": "{CUSTOMER_TENANT_ID}",
        "isParent": False,
    }
    (user,) = USERS.page(page_of(listed), index=0).items
    assert user.roles is None
    assert USERS.page(page_of({**listed, "roles": []}), index=0).items[0].roles == ()


def test_created_customer(examples: Path) -> None:
    customer = CUSTOMERS.single(payload(examples, "customers.create.201.json"))
    assert customer == Customer(
        id="{NEW_CUSTOMER_TENANT_ID}",
        name="New customer",
        description="This is my new customer",
        enabled=False,
        parent_tenant_id="{ACCOUNT_TENANT_ID}",
    )


def test_customer_schema_fields_and_the_documented_trialduration_string() -> None:
    customer = CUSTOMERS.single(
        single(
            {
                "id": "c",
                "timezone": "Europe/London",
                "countryCode": "GB",
                "tenantProfileType": "TenantProfileType_analytics",
                "trialduration": "0",  # sic: the Create Customer example's key and type
                "features": {"agent": 1, "device": 0},
                "syncAcdAgentWithPbx": True,
                "sendNewUserEmail": False,
                "sendConnectWelcomeEmail": True,
            }
        )
    )
    assert customer.trial_duration == 0
    assert dict(customer.features or {}) == {"agent": 1, "device": 0}
    assert (customer.timezone, customer.country_code) == ("Europe/London", "GB")
    assert customer.sync_acd_agent_with_pbx is True
    assert customer.send_new_user_email is False
    assert CUSTOMERS.single(single({"id": "c", "trialDuration": 30})).trial_duration == 30


def test_created_pbx_keeps_its_type_and_hides_its_key_from_repr(examples: Path) -> None:
    pbx = PBX_CONNECTIONS.single(payload(examples, "pbx-profiles.create.201.json"))
    assert pbx.type == "KazooPbxConnectionProfile"
    assert pbx.name == " Customers ~.pbx.kazoo.name.~ Pbx"  # as the service wrote it
    assert (pbx.host_rest, pbx.host_websocket, pbx.account_id) == (
        "https://rest.example.com",
        "wss://ws.example.com",
        "12345",
    )
    assert pbx.api_key == "ABCDEF"
    assert "ABCDEF" not in repr(pbx)
    assert "ABCDEF" not in str(pbx)
    secret = PbxConnection(id="p", license_key="licence-key-123")
    assert "licence-key-123" not in repr(secret)


def test_unknown_pbx_type_stays_readable() -> None:
    body = single({"id": "p", "_type": "SomeFuturePbxConnectionProfile", "username": "u"})
    assert PBX_CONNECTIONS.single(body).type == "SomeFuturePbxConnectionProfile"


def test_pbx_instance_lookup(examples: Path) -> None:
    found = PBX_INSTANCES.single(payload(examples, "pbx-instance.exists.json"))
    assert found == PbxInstance(
        exists=True,
        instance_id="{PBX_INSTANCE_ID}",
        id="{PBX_ID}",
        tenant_id="{CUSTOMER_TENANT_ID}",
    )
    absent = PBX_INSTANCES.single(single({"exists": False, "instanceId": "x"}))
    assert (absent.exists, absent.id) == (False, None)


# -- envelope and value quirks -------------------------------------------------------


@pytest.mark.parametrize(
    "envelope",
    [{"page_size": "2"}, {"page_size": 2, "page_index": 0}, {}, {"page_index": "zero"}],
)
def test_page_size_as_a_string_or_page_index_missing_do_not_matter(
    envelope: dict[str, Any],
) -> None:
    body = json.dumps({**envelope, "data": [{"id": "a"}, {"id": "b"}]}).encode()
    page = ACCOUNTS.page(body, index=3)
    assert [account.id for account in page.items] == ["a", "b"]
    assert page.index == 3


def test_enabled_written_as_a_string_is_read_as_a_boolean() -> None:
    body = page_of({"id": "p", "enabled": "true"}, {"id": "q", "enabled": "False"})
    assert [pbx.enabled for pbx in PBX_CONNECTIONS.page(body, index=0).items] == [True, False]


@pytest.mark.parametrize(
    ("item", "path", "reason"),
    [
        ({"id": "b", "enabled": "yes"}, "data[1].enabled", "expected a boolean, got string"),
        ({"id": 7}, "data[1].id", "expected a string, got number"),
        ({"name": "no id"}, "data[1].id", "required field is missing"),
        ({"id": "b", "dateCreated": "yesterday"}, "data[1].dateCreated", "not an ISO 8601"),
    ],
)
def test_a_bad_value_names_its_json_path(item: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as caught:
        ACCOUNTS.page(page_of({"id": "a"}, item), index=0)
    assert caught.value.path == path


def test_bad_roles_and_trial_duration_name_their_paths() -> None:
    with pytest.raises(DecodeError) as caught:
        USERS.single(single({"id": "u", "roles": ["a", 3]}))
    assert caught.value.path == "data.roles[1]"
    with pytest.raises(DecodeError) as caught:
        CUSTOMERS.single(single({"id": "c", "trialduration": "two"}))
    assert caught.value.path == "data.trialduration"
    with pytest.raises(DecodeError) as caught:
        ACCOUNT_METRICS.single(single({"customers": [{"roles": {"customer.user": "9"}}]}))
    assert caught.value.path == "data.customers[0].roles.customer.user"


# -- what the client writes ----------------------------------------------------------


def test_patch_maps_snake_case_names_to_json_names_in_order() -> None:
    assert patch_operations(User, {"display_name": "X", "roles": ("a", "b")}) == [
        {"op": "replace", "path": "/displayName", "value": "X"},
        {"op": "replace", "path": "/roles", "value": ("a", "b")},
    ]
    assert patch_operations(PbxConnection, {"enabled": True, "type": "K"}) == [
        {"op": "replace", "path": "/enabled", "value": True},
        {"op": "replace", "path": "/_type", "value": "K"},
    ]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({}, ValueError, "changes is empty"),
        ({"displayName": "X"}, ValueError, "User has no updatable field 'displayName'"),
        ({"id": "other"}, ValueError, "no updatable field 'id'"),
        ([("display_name", "X")], TypeError, "changes must be a mapping"),
    ],
)
def test_patch_refuses_what_the_service_would_refuse(
    changes: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        patch_operations(User, changes)


def test_create_body_uses_json_names_and_leaves_out_none() -> None:
    body = create_body(
        Customer, {"name": "N", "country_code": "US", "trial_duration": 0, "timezone": None}
    )
    assert body == {"name": "N", "countryCode": "US", "trialDuration": 0}

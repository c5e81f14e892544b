"""The fake's pure Enterprise parts: write bodies, the log's redaction, the seeded world."""

from __future__ import annotations

import pytest

from myreports_async.testing import FakeService, Fault
from myreports_async.testing._data import CUSTOMERS_PER_BLOCK, MONTHS, customers_named
from myreports_async.testing._faults import API_ROUTES, ROUTES, route_group
from myreports_async.testing._request_log import REDACTED, redacted
from myreports_async.testing._tenants import metrics_date, pbx_type
from myreports_async.testing._write_bodies import (
    ACCOUNT_FIELDS,
    CUSTOMER_FIELDS,
    PBX_FIELDS,
    USER_FIELDS,
    created_fields,
    patched_fields,
    pbx_fields,
)

# -- create bodies -------------------------------------------------------------------------


def test_create_matches_names_ignoring_case_and_tolerates_the_documented_quirks() -> None:
    body = {"Name": "New", "trialduration": "0", "enabled": "false", "unknownKey": 1}
    assert created_fields(body, CUSTOMER_FIELDS, ("name",)) == {
        "name": "New",
        "trialDuration": 0,
        "enabled": False,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"description": "x"}, "The name field is required."),
        ({"name": ""}, "The name field is required."),
        ({"name": 3}, "The value '3' is not valid for name."),
        ({"name": "A", "enabled": "yes"}, "The value 'yes' is not valid for enabled."),
        (["name"], "The request body must be a JSON object."),
    ],
)
def test_create_refuses_bad_bodies(body: object, message: str) -> None:
    assert created_fields(body, ACCOUNT_FIELDS, ("name",)) == message


def test_user_create_needs_email_and_display_name_and_roles_are_strings() -> None:
    required = ("email", "displayName")
    assert created_fields({"email": "a@b"}, USER_FIELDS, required) == (
        "The displayName field is required."
    )
    assert created_fields(
        {"email": "a@b", "displayName": "A", "roles": [1]}, USER_FIELDS, required
    ) == ("The value '[1]' is not valid for roles.")


def test_pbx_create_needs_a_known_type_and_its_connection_keys() -> None:
    kazoo = {"_type": "KazooPbxConnectionProfile", "name": "K", "hostRest": "h", "accountId": "a"}
    assert pbx_fields(kazoo) == "The apiKey field is required."
    assert pbx_fields({**kazoo, "apiKey": "k"}) == {**kazoo, "apiKey": "k"}
    three_cx = {"_type": "ThreeCxConnectionProfile", "name": "3", "licenseKey": "L"}
    assert pbx_fields(three_cx) == three_cx
    assert str(pbx_fields({"_type": "Teams", "name": "T"})).startswith("The _type 'Teams'")


# -- JSON Patch ----------------------------------------------------------------------------


def test_patch_collects_replaced_fields_in_order() -> None:
    body = [
        {"op": "replace", "path": "/enabled", "value": "true"},
        {"op": "replace", "path": "/Name", "value": "N"},
    ]
    assert patched_fields(body, PBX_FIELDS) == {"enabled": True, "name": "N"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            [{"op": "replace", "path": "/colour", "value": 1}],
            "The target location specified by path segment 'colour' was not found.",
        ),
        (
            [{"op": "replace", "path": "/name/first", "value": 1}],
            "The target location specified by path segment 'first' was not found.",
        ),
        (
            [{"op": "remove", "path": "/name"}],
            "The JSON Patch operation 'remove' is not supported.",
        ),
        ([{"op": "replace", "path": "/name"}], "The JSON Patch operation on 'name' has no value."),
        ([{"path": 3}], "Each JSON Patch operation must be an object with 'op' and 'path'."),
        (
            {"op": "replace"},
            "The request body must be a JSON Patch document: an array of operations.",
        ),
    ],
)
def test_patch_refuses_what_the_service_refuses(body: object, message: str) -> None:
    assert patched_fields(body, ACCOUNT_FIELDS) == message


# -- the request log -----------------------------------------------------------------------


def test_redaction_hides_pbx_keys_in_bodies_and_patches() -> None:
    body = {"name": "P", "apiKey": "s1", "nested": [{"LicenseKey": "s2"}]}
    assert redacted(body) == {"name": "P", "apiKey": REDACTED, "nested": [{"LicenseKey": REDACTED}]}
    patch = [{"op": "replace", "path": "/apiKey", "value": "s3"}]
    assert redacted(patch) == [{"op": "replace", "path": "/apiKey", "value": REDACTED}]
    assert redacted([{"op": "replace", "path": "/name", "value": "x"}])[0]["value"] == "x"  # type: ignore[index]


# -- routes and faults ---------------------------------------------------------------------


def test_route_groups_name_every_path_of_a_resource() -> None:
    assert route_group("accounts:metrics") == "accounts"
    assert route_group("pbxs") == "pbxs"
    assert route_group(None) is None
    assert {"token", "authorize", "other"} == ROUTES - API_ROUTES


def test_fault_filters_are_checked() -> None:
    service = FakeService(0)
    with pytest.raises(ValueError, match="method must be one of"):
        service.inject(Fault.status(503), method="PUT")
    with pytest.raises(ValueError, match="page_index only applies to the listings"):
        service.inject(Fault.status(503), route="pbx_instances", page_index=1)
    service.inject(Fault.status(503), route="customers", page_index=1, method="get")
    assert len(service.pending_faults()) == 1


# -- the seeded world ----------------------------------------------------------------------


def test_customers_named_counts_each_cycle_of_invoices() -> None:
    cycle = MONTHS * CUSTOMERS_PER_BLOCK
    assert [customers_named(n) for n in (0, 1, 48, 49, cycle, cycle + 3)] == [
        0,
        1,
        CUSTOMERS_PER_BLOCK,
        CUSTOMERS_PER_BLOCK,
        CUSTOMERS_PER_BLOCK,
        CUSTOMERS_PER_BLOCK + 3,
    ]


def test_the_directory_is_the_same_for_the_same_seed() -> None:
    first, second = FakeService(100, seed=3).directory, FakeService(100, seed=3).directory
    assert first.accounts() == second.accounts()
    account_id = first.accounts()[1]["id"]
    assert first.metrics(account_id) == second.metrics(account_id)
    assert FakeService(100, seed=4).directory.accounts() != first.accounts()


def test_metrics_names_pbx_types_and_six_fraction_digits() -> None:
    assert pbx_type("KazooPbxConnectionProfile") == "Kazoo"
    assert pbx_type("ThreeCxConnectionProfile") == "ThreeCx"
    assert pbx_type("Odd") == "Odd"
    assert metrics_date("2019-01-01T09:00:00.000") == "2019-01-01T09:00:00.000000"

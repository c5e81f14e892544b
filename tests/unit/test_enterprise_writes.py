"""The Enterprise resources over canned answers: what is sent, and the write rules
(``_session``, Rules 1 to 5): what a create, a patch and a delete repeat, and what not."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from myreports_async import (
    Account,
    AuthenticationError,
    BadRequestError,
    MyReportsClient,
    NotFoundError,
    PaymentRequiredError,
    RateLimiter,
    RetryPolicy,
    ServerError,
    TransportError,
)

BASE = "https://api.test.example"
ROOT = f"{BASE}/api/v1.0"
ANY = re.compile(r"^https://api\.test\.example/.*$")
CREATED = {"data": {"id": "new", "name": "Acme", "enabled": False}, "status": "success"}
KEY = aiohttp.client_reqrep.ConnectionKey("api.test.example", 443, True, True, None, None, None)


class RotatingToken:
    """A provider that mints a new token on every forced refresh."""

    def __init__(self) -> None:
        self.generation = 0

    async def get_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.generation += 1
        return f"token-{self.generation}"


def new_client(auth: Any = "s3cr3t-token") -> MyReportsClient:
    return MyReportsClient(
        auth,
        base_url=BASE,
        # No waiting between attempts, and no pacing: these tests count requests.
        retry=RetryPolicy(jitter=False, initial_backoff=0.0, max_backoff=0.0),
        rate_limiter=RateLimiter(adaptive=False),
    )


@pytest.fixture
async def client() -> AsyncIterator[MyReportsClient]:
    async with new_client() as client:
        yield client


def sent(mocked: Any) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request the mock received: method, URL (with query), keyword arguments."""
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mocked.requests.items()
        for call in calls
    ]


def body_of(kwargs: dict[str, Any]) -> Any:
    return json.loads(kwargs["data"])


def error(status: int, message: str) -> dict[str, object]:
    return {"error": status, "message": message, "status": "error"}


# -- what is sent --------------------------------------------------------------------


async def test_create_posts_json_with_json_names_and_returns_the_record(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.post(ANY, status=201, payload=CREATED)
    account = await client.accounts.create(name="Acme", reference="ERP-1", country_code="US")
    assert account == Account(id="new", name="Acme", enabled=False)
    ((method, url, kwargs),) = sent(mocked)
    assert (method, str(url)) == ("POST", f"{ROOT}/accounts")
    assert body_of(kwargs) == {
        "name": "Acme",
        "reference": "ERP-1",
        "enabled": False,
        "countryCode": "US",
    }
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert "accept-charges" not in kwargs["headers"]


async def test_accept_charges_header_only_when_the_caller_accepts(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.post(ANY, status=201, payload=CREATED)
    mocked.patch(ANY, status=200, payload={"status": "success"})
    await client.customers("acc").create(name="Acme", accept_charges=True)
    await client.accounts.update("acc", {"enabled": True}, accept_charges=True)
    for _, _, kwargs in sent(mocked):
        assert kwargs["headers"]["accept-charges"] == "true"
    with pytest.raises(TypeError, match="accept_charges"):
        await client.accounts.create(name="Acme", accept_charges="yes")  # type: ignore[arg-type]


async def test_update_sends_a_json_patch_of_replace_operations(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.patch(ANY, status=200, payload={"status": "success"})
    users = client.customer_users("acc", "cus")
    await users.update("u1", {"display_name": "My New Name", "roles": ["customer.user"]})
    ((method, url, kwargs),) = sent(mocked)
    assert (method, str(url)) == ("PATCH", f"{ROOT}/accounts/acc/customers/cus/users/u1")
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert body_of(kwargs) == [
        {"op": "replace", "path": "/displayName", "value": "My New Name"},
        {"op": "replace", "path": "/roles", "value": ["customer.user"]},
    ]


async def test_user_create_defaults_to_the_level_s_website_role(
    client: MyReportsClient, mocked: Any
) -> None:
    user = {"data": {"id": "u", "email": "a@example.com"}, "status": "success"}
    mocked.post(ANY, status=201, payload=user)
    mocked.post(ANY, status=201, payload=user)
    await client.account_users("acc").create(email="a@example.com", display_name="A")
    await client.customer_users("acc", "cus").create(email="a@example.com", display_name="A")
    roles = sorted(body_of(kwargs)["roles"] for _, _, kwargs in sent(mocked))
    assert roles == [["account.user"], ["customer.user"]]


async def test_pbx_create_sends_its_type_and_keys(client: MyReportsClient, mocked: Any) -> None:
    mocked.post(ANY, status=201, payload={"data": {"id": "p", "_type": "ThreeCx"}})
    pbxs = client.pbx_connections("acc", "cus")
    pbx = await pbxs.create("ThreeCxConnectionProfile", name="3CX", license_key="L-1")
    assert pbx.id == "p"
    ((_, url, kwargs),) = sent(mocked)
    assert str(url) == f"{ROOT}/accounts/acc/customers/cus/pbxs"
    assert body_of(kwargs) == {
        "_type": "ThreeCxConnectionProfile",
        "name": "3CX",
        "licenseKey": "L-1",
    }


async def test_send_activation_email_answers_no_content(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.post(ANY, status=204)
    await client.account_users("acc").send_activation_email("u1")
    ((method, url, kwargs),) = sent(mocked)
    assert (method, str(url)) == ("POST", f"{ROOT}/accounts/acc/users/u1/sendActivationEmail")
    assert kwargs["data"] is None


async def test_activation_email_from_another_tenant_is_a_bad_request(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.post(
        ANY, status=400, payload=error(400, "This is not the primary tenant for this User.")
    )
    with pytest.raises(BadRequestError, match="not the primary tenant"):
        await client.account_users("acc").send_activation_email("u1")


async def test_metrics_and_get_reach_their_urls(client: MyReportsClient, mocked: Any) -> None:
    mocked.get(ANY, payload={"data": {"accountTenantId": "acc", "customers": []}})
    mocked.get(ANY, payload={"data": {"id": "p", "_type": "KazooPbxConnectionProfile"}})
    assert (await client.accounts.metrics("acc")).account_tenant_id == "acc"
    assert (await client.pbx_connections("acc", "c").get("p")).type == "KazooPbxConnectionProfile"
    assert [str(url) for _, url, _ in sent(mocked)] == [
        f"{ROOT}/accounts/acc/metrics",
        f"{ROOT}/accounts/acc/customers/c/pbxs/p",
    ]


# -- argument checks: before any request ---------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.account_users("a/b"),
        lambda c: c.customers(""),
        lambda c: c.customer_users("acc", "..").iter(),
        lambda c: c.pbx_connections("acc", "c?x"),
        lambda c: c.accounts.iter(page_size=0),
        lambda c: c.customers("acc").iter(prefetch=65),
    ],
)
async def test_bad_ids_and_paging_raise_before_any_request(
    client: MyReportsClient, mocked: Any, call: Any
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each check names its own argument)
        call(client)
    assert sent(mocked) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.accounts.get("a#b"), "account_id"),
        (lambda c: c.customers("acc").delete(""), "customer_id"),
        (lambda c: c.account_users("acc").update("u", {}), "changes is empty"),
        (lambda c: c.account_users("acc").update("u", {"email_address": "x"}), "email_address"),
        (lambda c: c.pbx_connections("a", "c").update("p/q", {"enabled": True}), "pbx_id"),
        (lambda c: c.pbx_connections("a", "c").create("", name="x"), "profile"),
        (lambda c: c.pbx_instance(""), "instance_id"),
    ],
)
async def test_bad_arguments_of_a_call_raise_before_any_request(
    client: MyReportsClient, mocked: Any, call: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await call(client)
    assert sent(mocked) == []


# -- Rule 2: 402 ---------------------------------------------------------------------


async def test_402_raises_payment_required_at_once_with_the_echo_masked(
    client: MyReportsClient, mocked: Any
) -> None:
    echo = {"name": "Main", "_type": "KazooPbxConnectionProfile", "apiKey": "TOP-SECRET"}
    mocked.post(ANY, status=402, payload=echo)
    pbxs = client.pbx_connections("acc", "cus")
    with pytest.raises(PaymentRequiredError, match="accept_charges=True") as caught:
        await pbxs.create("KazooPbxConnectionProfile", name="Main", api_key="TOP-SECRET")
    assert caught.value.status == 402
    assert caught.value.echoed == {**echo, "apiKey": "***"}
    assert "TOP-SECRET" not in f"{caught.value} {caught.value!r}"
    assert len(sent(mocked)) == 1


async def test_402_is_not_retried_even_when_the_policy_lists_it(mocked: Any) -> None:
    client = MyReportsClient(
        "tok",
        base_url=BASE,
        retry=RetryPolicy(initial_backoff=0.0, retry_statuses={402, 503}),
        rate_limiter=RateLimiter(adaptive=False),
    )
    async with client:
        mocked.patch(ANY, status=402, body=b"not json")
        with pytest.raises(PaymentRequiredError) as caught:
            await client.accounts.update("acc", {"enabled": True})
    assert caught.value.echoed is None
    assert len(sent(mocked)) == 1


# -- Rule 3: POST is repeated only when the service cannot have acted ----------------


@pytest.mark.parametrize(
    "first",
    [
        {"exception": aiohttp.ClientConnectorError(KEY, OSError(111, "Connection refused"))},
        {"exception": aiohttp.ConnectionTimeoutError()},
        {"status": 429, "payload": error(429, "Too Many Requests")},
        {"status": 503, "payload": error(503, "Service Unavailable")},
    ],
    ids=["refused", "connect-timeout", "429", "503"],
)
async def test_create_is_repeated_when_nothing_was_made(
    client: MyReportsClient, mocked: Any, first: dict[str, Any]
) -> None:
    mocked.post(ANY, **first)
    mocked.post(ANY, status=201, payload=CREATED)
    assert (await client.accounts.create(name="Acme")).id == "new"
    assert len(sent(mocked)) == 2


@pytest.mark.parametrize(
    ("first", "error_class", "what"),
    [
        ({"exception": aiohttp.ServerDisconnectedError()}, TransportError, "closed the connection"),
        ({"exception": aiohttp.ClientOSError(104, "reset")}, TransportError, "reset"),
        ({"exception": aiohttp.SocketTimeoutError()}, TransportError, "timed out waiting"),
        ({"exception": aiohttp.ClientPayloadError("cut")}, TransportError, "was cut"),
        ({"status": 500, "payload": error(500, "Internal error")}, ServerError, "Internal error"),
        ({"status": 502, "body": b"<html>"}, ServerError, "Bad Gateway"),
        ({"status": 504, "body": b""}, ServerError, "Gateway Timeout"),
    ],
    ids=["disconnected", "reset", "read-timeout", "payload-cut", "500", "502", "504"],
)
async def test_create_is_not_repeated_after_an_ambiguous_failure(
    client: MyReportsClient,
    mocked: Any,
    first: dict[str, Any],
    error_class: type[Exception],
    what: str,
) -> None:
    mocked.post(ANY, **first)
    mocked.post(ANY, status=201, payload=CREATED)  # would be a second account
    with pytest.raises(error_class, match=what) as caught:
        await client.accounts.create(name="Acme", reference="ERP-1")
    assert "the POST may have been applied" in str(caught.value)
    assert "before repeating it" in str(caught.value)
    assert len(sent(mocked)) == 1


async def test_activation_email_is_not_repeated_after_an_ambiguous_failure(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.post(ANY, exception=aiohttp.ServerDisconnectedError())
    mocked.post(ANY, status=204)
    with pytest.raises(TransportError, match="may have been applied"):
        await client.customer_users("acc", "cus").send_activation_email("u1")
    assert len(sent(mocked)) == 1


async def test_create_after_refusals_only_says_nothing_about_maybe_applied(
    client: MyReportsClient, mocked: Any
) -> None:
    for _ in range(5):
        mocked.post(ANY, exception=aiohttp.ClientConnectorError(KEY, OSError(111, "refused")))
    with pytest.raises(TransportError, match="after 5 attempts") as caught:
        await client.accounts.create(name="Acme")
    assert "may have been applied" not in str(caught.value)


def test_aiohttp_never_resends_a_post_or_patch_on_its_own() -> None:
    # aiohttp repeats a request on a stale pooled connection only for these methods.
    assert "POST" not in aiohttp.client.IDEMPOTENT_METHODS
    assert "PATCH" not in aiohttp.client.IDEMPOTENT_METHODS


# -- Rule 1 for writes: a 401 is repeated once with a new token ----------------------


async def test_create_refused_for_its_token_is_repeated_once_with_a_new_one(mocked: Any) -> None:
    async with new_client(RotatingToken()) as client:
        mocked.post(ANY, status=401, payload=error(401, "Unauthorized"))
        mocked.post(ANY, status=201, payload=CREATED)
        assert (await client.accounts.create(name="Acme")).id == "new"
    tokens = [kwargs["headers"]["Authorization"] for _, _, kwargs in sent(mocked)]
    assert tokens == ["Bearer token-0", "Bearer token-1"]


async def test_create_with_a_static_token_refused_raises(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.post(ANY, status=401, payload=error(401, "Unauthorized"))
    with pytest.raises(AuthenticationError):
        await client.accounts.create(name="Acme")
    assert len(sent(mocked)) == 1


# -- Rules 4 and 5: PATCH and DELETE are retried like reads --------------------------


@pytest.mark.parametrize(
    "first",
    [
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": aiohttp.SocketTimeoutError()},
        {"status": 500, "payload": error(500, "Internal error")},
    ],
    ids=["disconnected", "read-timeout", "500"],
)
async def test_patch_is_retried_after_any_transient_failure(
    client: MyReportsClient, mocked: Any, first: dict[str, Any]
) -> None:
    mocked.patch(ANY, **first)
    mocked.patch(ANY, status=200, payload={"status": "success"})
    await client.pbx_connections("acc", "cus").update("p", {"enabled": False})
    assert len(sent(mocked)) == 2


@pytest.mark.parametrize(
    "first",
    [
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": aiohttp.SocketTimeoutError()},
        {"status": 502, "body": b""},
    ],
    ids=["disconnected", "read-timeout", "502"],
)
async def test_delete_finding_the_record_gone_after_an_unsure_attempt_is_done(
    client: MyReportsClient, mocked: Any, first: dict[str, Any]
) -> None:
    mocked.delete(ANY, **first)
    mocked.delete(ANY, status=404, payload=error(404, "Not Found"))
    await client.customers("acc").delete("cus")
    assert len(sent(mocked)) == 2


async def test_delete_of_a_missing_record_raises_not_found(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.delete(ANY, status=404, payload=error(404, "Not Found"))
    with pytest.raises(NotFoundError):
        await client.accounts.delete("gone")


async def test_delete_404_after_a_refusal_still_raises_not_found(
    client: MyReportsClient, mocked: Any
) -> None:
    # A 503 or a refused connection says the first attempt removed nothing.
    mocked.delete(ANY, status=503, payload=error(503, "Service Unavailable"))
    mocked.delete(ANY, exception=aiohttp.ClientConnectorError(KEY, OSError(111, "refused")))
    mocked.delete(ANY, status=404, payload=error(404, "Not Found"))
    with pytest.raises(NotFoundError):
        await client.account_users("acc").delete("u1")
    assert len(sent(mocked)) == 3


# -- secrets in the query ------------------------------------------------------------


async def test_pbx_instance_key_never_shows_in_errors_or_logs(
    client: MyReportsClient, mocked: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mocked.get(ANY, payload={"data": {"exists": False, "instanceId": "LICENCE-KEY"}})
    mocked.get(ANY, status=400, payload=error(400, "bad"))
    caplog.set_level(logging.DEBUG, logger="myreports_async")
    assert (await client.pbx_instance("LICENCE-KEY")).exists is False
    with pytest.raises(BadRequestError) as caught:
        await client.pbx_instance("LICENCE-KEY")
    (_, url, _), _ = sent(mocked)
    assert url.query["instanceId"] == "LICENCE-KEY"
    assert caught.value.url == f"{ROOT}/pbxs?instanceId=***"
    assert "LICENCE-KEY" not in f"{caught.value} {caught.value!r} {caplog.text}"

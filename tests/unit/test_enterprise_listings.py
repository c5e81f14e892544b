"""Enterprise listings over canned pages: paging parameters, the filter, and the end of
a collection the service does not page (``_paging``, Rule 5)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from myreports_async import MyReportsClient, RateLimiter, RetryPolicy

BASE = "https://api.test.example"
ANY = re.compile(r"^https://api\.test\.example/.*$")


@pytest.fixture
async def client() -> AsyncIterator[MyReportsClient]:
    async with MyReportsClient(
        "tok",
        base_url=BASE,
        retry=RetryPolicy(jitter=False, initial_backoff=0.0),
        rate_limiter=RateLimiter(adaptive=False),
    ) as client:
        yield client


def page(*ids: str, **fields: Any) -> dict[str, Any]:
    return {"page_size": len(ids), "data": [{"id": i, **fields} for i in ids]}


def urls(mocked: Any) -> list[URL]:
    return sorted(
        (url for (_, url), calls in mocked.requests.items() for _ in calls),
        key=lambda url: int(url.query["pageIndex"]),
    )


async def test_accounts_are_listed_page_by_page(client: MyReportsClient, mocked: Any) -> None:
    mocked.get(ANY, payload=page("a1", "a2"))
    mocked.get(ANY, payload=page("a3"))
    mocked.get(ANY, payload=page(), repeat=True)
    ids = [account.id async for account in client.accounts.iter(page_size=2, prefetch=1)]
    assert ids == ["a1", "a2", "a3"]
    assert [(u.path, dict(u.query)) for u in urls(mocked)] == [
        ("/api/v1.0/accounts", {"pageIndex": "0", "pageSize": "2"}),
        ("/api/v1.0/accounts", {"pageIndex": "1", "pageSize": "2"}),
    ]


async def test_filter_arrives_intact_percent_encoded(client: MyReportsClient, mocked: Any) -> None:
    mocked.get(ANY, payload=page("c1"))
    mocked.get(ANY, payload=page(), repeat=True)
    customers = client.customers("acc").iter(filter="a&b c+d%", prefetch=1)
    assert [customer.id async for customer in customers] == ["c1"]
    first = urls(mocked)[0]
    assert first.path == "/api/v1.0/accounts/acc/customers"
    assert first.query["filter"] == "a&b c+d%"
    assert first.query["pageSize"] == "1000"
    assert "%26" in first.raw_query_string
    assert "%2B" in first.raw_query_string
    assert "%25" in first.raw_query_string


@pytest.mark.parametrize("prefetch", [1, 4])
async def test_users_of_a_service_that_ignores_page_index_end_after_one_repeat(
    client: MyReportsClient, mocked: Any, prefetch: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Every page is the whole collection, whatever pageIndex asks.
    mocked.get(ANY, payload=page("u1", "u2", "u3", email="x@example.com"), repeat=True)
    caplog.set_level(logging.INFO, logger="myreports_async")
    users = client.customer_users("acc", "cus").iter(prefetch=prefetch)
    assert [user.id async for user in users] == ["u1", "u2", "u3"]
    assert "page 1 repeats page 0 in full" in caplog.text
    assert "offset drift" not in caplog.text
    assert len(urls(mocked)) <= prefetch + 1


async def test_pbx_connections_of_a_service_that_ignores_paging_end(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.get(ANY, payload=page("p1"), repeat=True)
    pbxs = client.pbx_connections("acc", "cus").iter(prefetch=2)
    assert [pbx.id async for pbx in pbxs] == ["p1"]


async def test_users_of_a_service_that_pages_are_all_listed(
    client: MyReportsClient, mocked: Any
) -> None:
    mocked.get(ANY, payload=page("u1", "u2"))
    mocked.get(ANY, payload=page("u3", "u4"))
    mocked.get(ANY, payload=page(), repeat=True)
    users = client.account_users("acc").iter(page_size=2, prefetch=1)
    assert [user.id async for user in users] == ["u1", "u2", "u3", "u4"]


async def test_an_empty_collection_lists_nothing(client: MyReportsClient, mocked: Any) -> None:
    mocked.get(ANY, payload=page(), repeat=True)
    assert [user async for user in client.account_users("acc").iter()] == []

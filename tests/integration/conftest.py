"""Integration fixtures: the fake service on a real socket and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from myreports_async import MyReportsClient, RetryPolicy
from myreports_async.testing import FakeServer, FakeService

from .cli_support import TOKEN, cli_env

#: Retries without real waiting: backoffs of a millisecond or less.
FAST_RETRY = RetryPolicy(initial_backoff=0.001, max_backoff=0.005)

ClientFactory = Callable[..., MyReportsClient]


@pytest.fixture
def service() -> FakeService:
    return FakeService(250, seed=7)


@pytest.fixture
async def server(service: FakeService) -> AsyncIterator[FakeServer]:
    async with FakeServer(service) as running:
        yield running


@pytest.fixture
async def make_client(server: FakeServer) -> AsyncIterator[ClientFactory]:
    """Build clients against the fake server; all are closed after the test."""
    made: list[MyReportsClient] = []

    def make(auth: Any = "test-token", **kwargs: Any) -> MyReportsClient:
        kwargs.setdefault("base_url", server.url)
        kwargs.setdefault("retry", FAST_RETRY)
        client = MyReportsClient(auth, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> MyReportsClient:
    return make_client()


@pytest.fixture
async def cli_server(cli_service: FakeService) -> AsyncIterator[FakeServer]:
    """The fake service of a CLI test module (which defines ``cli_service``), running."""
    async with FakeServer(cli_service) as running:
        yield running


@pytest.fixture
def env(cli_server: FakeServer) -> dict[str, str]:
    """A CLI environment pointed at ``cli_server`` with the test token, nothing else set."""
    return cli_env(MYREPORTS_BASE_URL=cli_server.url, MYREPORTS_TOKEN=TOKEN)

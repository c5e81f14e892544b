"""pytest fixtures for testing code that uses myreports_async against the fake service.

Installing myreports-async registers this module as a pytest plugin (entry point
``pytest11``), so the fixtures are available in every test suite without any import:

``myreports_service``
    a :class:`~myreports_async.testing.FakeService` with the default settings; override
    this fixture in your ``conftest.py`` to configure the data, the page-size cap or
    faults for every test of a directory.
``myreports_server``
    a running :class:`~myreports_async.testing.FakeServer` for ``myreports_service``.
``myreports_client``
    an open :class:`~myreports_async.MyReportsClient` talking to ``myreports_server``
    with the service's first static token and a retry policy with millisecond backoffs.

The server and client fixtures are async and need pytest-asyncio. Without it, this plugin
still loads (it never breaks an unrelated test suite); only using those two fixtures
fails, with a message saying what to install.

The plugin imports nothing heavy at load time: aiohttp and the fake service are imported
when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.util import find_spec
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from myreports_async import MyReportsClient
    from myreports_async.testing import FakeServer, FakeService


@pytest.fixture
def myreports_service() -> FakeService:
    """A fresh :class:`~myreports_async.testing.FakeService` with default settings.

    250 invoices of seed 0, no page-size cap, the static token ``"test-token"``. Override
    it to configure the service; the server and client fixtures then use yours::

        # conftest.py
        import pytest
        from myreports_async.testing import FakeService

        @pytest.fixture
        def myreports_service() -> FakeService:
            return FakeService(invoice_count=5000, max_page_size=500, seed=7)

    Or script one test through it::

        async def test_retries_a_503(myreports_service, myreports_client):
            myreports_service.inject(Fault.status(503), route="invoice")
            invoice = await myreports_client.get_invoice(myreports_service.invoice_id(0))
            assert [r.status for r in myreports_service.requests] == [503, 200]
    """
    from myreports_async.testing import FakeService

    return FakeService()


_MISSING_PYTEST_ASYNCIO = (
    "the {name} fixture of myreports_async needs pytest-asyncio: "
    "pip install 'myreports-async[test]' (or pytest-asyncio)"
)


def _fail_without_pytest_asyncio(name: str) -> NoReturn:
    pytest.fail(_MISSING_PYTEST_ASYNCIO.format(name=name), pytrace=False)


if find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def myreports_server(myreports_service: FakeService) -> AsyncIterator[FakeServer]:
        """A :class:`~myreports_async.testing.FakeServer` running ``myreports_service``.

        It listens on a free port of 127.0.0.1 for the duration of the test::

            async def test_my_sync_job(myreports_server, myreports_service):
                await my_sync_job(base_url=myreports_server.url, token="test-token")
                assert len(myreports_service.list_requests()) == 1
        """
        from myreports_async.testing import FakeServer

        async with FakeServer(myreports_service) as server:
            yield server

    @pytest_asyncio.fixture
    async def myreports_client(
        myreports_service: FakeService, myreports_server: FakeServer
    ) -> AsyncIterator[MyReportsClient]:
        """An open :class:`~myreports_async.MyReportsClient` for ``myreports_server``.

        It uses the service's first static access token (``"test-token"`` by default) and
        ``RetryPolicy(initial_backoff=0.001, max_backoff=0.01)``, so injected faults are
        retried at once. It is closed after the test::

            async def test_lists_everything(myreports_client, myreports_service):
                ids = [i.invoice_id async for i in myreports_client.iter_invoices()]
                assert ids == myreports_service.invoice_ids()
        """
        from myreports_async import MyReportsClient, RetryPolicy

        tokens = myreports_service.access_tokens
        async with MyReportsClient(
            tokens[0] if tokens else "test-token",
            base_url=myreports_server.url,
            retry=RetryPolicy(initial_backoff=0.001, max_backoff=0.01),
        ) as client:
            yield client

else:

    @pytest.fixture(name="myreports_server")
    def _myreports_server_needs_pytest_asyncio() -> NoReturn:
        """Unavailable: pytest-asyncio is not installed."""
        _fail_without_pytest_asyncio("myreports_server")

    @pytest.fixture(name="myreports_client")
    def _myreports_client_needs_pytest_asyncio() -> NoReturn:
        """Unavailable: pytest-asyncio is not installed."""
        _fail_without_pytest_asyncio("myreports_client")

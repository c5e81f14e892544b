"""No secret in any log record (every logger, DEBUG), exception text or repr, or CLI output.

Each failing run is played twice: through the library (the exception, its chain, the
reprs of the objects involved) and through the ``myreports`` command in process (stdout
and stderr with ``-vv``). Log records are swept raw, before any formatter could redact.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from click.testing import CliRunner

from myreports_async import MyReportsClient, MyReportsError, RefreshTokenAuth, RetryPolicy
from myreports_async._cli._app import cli
from myreports_async.testing import FakeServer, FakeService, Fault

ACCESS_TOKEN = "sweep-access-token-0f3c9"
REFRESH_TOKEN = "sweep-refresh-token-7d21a"
CLIENT_ID = "sweep-app"
CLIENT_SECRET = "sweep-client-secret-9b44e"
NO_RETRY = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.002)

SCENARIOS = ["bad-token", "401-after-refresh", "invalid-grant", "unreachable", "5xx"]


@pytest.fixture
def service() -> FakeService:
    fake = FakeService(30, seed=12, access_tokens=("some-other-token",))
    fake.add_oauth_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    return fake


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    for name in ("myreports_async", "aiohttp", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return caplog.records


def record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(exception_text(record.exc_info[1]))
    return "\n".join(parts)


def exception_text(exc: BaseException | None) -> str:
    """str and repr of the exception and of everything it chains to."""
    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts += [str(exc), repr(exc), repr(getattr(exc, "__dict__", {}))]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def secrets(service: FakeService) -> list[str]:
    # The access tokens the fake issued during the run are secrets too.
    return [ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET, *service._issued]


def setup(scenario: str, service: FakeService, server: FakeServer) -> tuple[str, bool]:
    """Script the scenario; return (base URL, whether the refresh-token flow is used)."""
    if scenario == "401-after-refresh":
        service.inject(Fault.status(401), route="invoice", times=None)
    if scenario == "invalid-grant":
        service.add_oauth_client(CLIENT_ID, CLIENT_SECRET)  # REFRESH_TOKEN stays valid...
        service._refresh_owners.pop(REFRESH_TOKEN)  # ...until it is revoked here
    if scenario == "5xx":
        service.inject(Fault.status(503), times=None)
    base = "http://127.0.0.1:9" if scenario == "unreachable" else server.url
    return base, scenario in ("401-after-refresh", "invalid-grant")


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_library_failures_never_show_a_secret(
    scenario: str,
    service: FakeService,
    server: FakeServer,
    records: list[logging.LogRecord],
) -> None:
    base, oauth = setup(scenario, service, server)
    auth: RefreshTokenAuth | str = ACCESS_TOKEN
    if oauth:
        auth = RefreshTokenAuth(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=REFRESH_TOKEN,
            token_url=server.token_url,
            retry=NO_RETRY,
        )
    client = MyReportsClient(auth, base_url=base, retry=NO_RETRY, timeout=2)
    texts = [repr(client), str(client)]
    try:
        with pytest.raises(MyReportsError) as caught:
            await asyncio.wait_for(client.get_invoice(service.invoice_id(0)), 10)
        texts.append(exception_text(caught.value))
        texts.append(repr(client))
        if isinstance(auth, RefreshTokenAuth):
            texts += [repr(auth), repr(auth.token_set), str(auth.token_set)]
    finally:
        await client.close()
        if isinstance(auth, RefreshTokenAuth):
            await auth.aclose()
    texts += [record_text(r) for r in records]
    everything = "\n".join(texts)
    for secret in secrets(service):
        assert secret not in everything, (scenario, secret)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_cli_failures_never_show_a_secret(
    scenario: str,
    service: FakeService,
    server: FakeServer,
    records: list[logging.LogRecord],
) -> None:
    base, oauth = setup(scenario, service, server)
    env = {"MYREPORTS_BASE_URL": base, "MYREPORTS_TOKEN_STORE": "/nonexistent/store.json"}
    if oauth:
        env |= {
            "MYREPORTS_CLIENT_ID": CLIENT_ID,
            "MYREPORTS_CLIENT_SECRET": CLIENT_SECRET,
            "MYREPORTS_REFRESH_TOKEN": REFRESH_TOKEN,
            "MYREPORTS_TOKEN_URL": server.token_url,
        }
    else:
        env["MYREPORTS_TOKEN"] = ACCESS_TOKEN
    args = ["-vv", "--max-attempts", "2", "--timeout", "2", "invoice", service.invoice_id(0)]
    # In a worker thread: the command runs its own event loop; the fake runs on this one.
    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
    assert result.exit_code in (3, 5, 6), result.output
    assert "Traceback" not in result.output
    texts = [result.output, exception_text(result.exception)]
    texts += [record_text(r) for r in records]
    everything = "\n".join(texts)
    for secret in secrets(service):
        assert secret not in everything, (scenario, secret)

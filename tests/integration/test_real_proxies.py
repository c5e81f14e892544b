"""The client through real proxies: nginx in front of the service, squid in front of us.

Each test starts the real program on 127.0.0.1 (tests/integration/real_servers.py) and
skips, saying how to install it, where the binary is missing. The fake service stands
behind the proxy; what the client lists must be exactly the service's invoices, and the
token must never reach a proxy's logs.

- nginx as a reverse proxy: gzip, ``keepalive_requests 7``, ``keepalive_timeout 1s``, a
  ``proxy_read_timeout`` answered 504, a body cut mid-way.
- squid as a corporate forward proxy: ``HTTPS_PROXY``, TLS to the service through
  ``CONNECT`` with a private CA given through ``ssl=``, and ``NO_PROXY``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import aiohttp.connector
import pytest
import trustme
from aiohttp.abc import AbstractResolver, ResolveResult

from myreports_async import MyReportsClient
from myreports_async.testing import FakeServer, FakeService, Fault

from .conftest import FAST_RETRY
from .real_servers import RealServer, run_nginx, run_squid

TOKEN = "proxy-test-token-5f2c9a1e"  # distinctive: searched for in the proxies' logs
PROXIED_HOST = "billing.corp.test"  # only squid resolves it (its own hosts_file)
DIRECT_HOST = "direct.corp.test"  # listed in NO_PROXY; only the client resolves it
PROC_NET_TCP = Path("/proc/net/tcp")  # Linux: the machine's TCP connections and their states
HAVE_PROC_NET_TCP = PROC_NET_TCP.exists()


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``condition()`` holds; fail after ``timeout`` seconds."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 (another process's state: no event to wait on)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def assert_token_absent(proxy: RealServer) -> None:
    logs = proxy.log_text()
    assert logs, f"{proxy.name} wrote no logs at all: the check below would prove nothing"
    assert TOKEN not in logs


async def ids_of(client: MyReportsClient, *, prefetch: int) -> list[str]:
    return [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=prefetch)]


def page_statuses(service: FakeService, page_index: int) -> list[int]:
    return [r.status for r in service.list_requests() if r.page_index == page_index]


# -- nginx ---------------------------------------------------------------------------------


@pytest.fixture
def service() -> FakeService:
    return FakeService(250, seed=7, access_tokens=(TOKEN,))


@pytest.fixture
def nginx(server: FakeServer, tmp_path: Path) -> Iterator[RealServer]:
    with run_nginx(server.url, tmp_path) as running:
        yield running


@pytest.fixture
async def via_nginx(nginx: RealServer) -> AsyncIterator[MyReportsClient]:
    async with MyReportsClient(TOKEN, base_url=nginx.url, retry=FAST_RETRY) as client:
        yield client


def nginx_log(nginx: RealServer) -> list[tuple[int, int, int, str, str]]:
    """connections.log: (connection, its request number, status, URI, gzip ratio)."""
    rows = []
    for line in (nginx.folder / "connections.log").read_text().splitlines():
        connection, number, status, uri, ratio = line.split(" ")
        rows.append((int(connection), int(number), int(status), uri.strip('"'), ratio))
    return rows


def established_to(port: int) -> int:
    """How many TCP connections to 127.0.0.1:``port`` the server side holds open."""
    count = 0
    for line in PROC_NET_TCP.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if local == f"0100007F:{port:04X}" and state == "01":  # 01: ESTABLISHED
            count += 1
    return count


async def test_listing_through_nginx_is_exact_gzipped_and_survives_keepalive_requests(
    service: FakeService, nginx: RealServer, via_nginx: MyReportsClient
) -> None:
    # One request at a time: every request that can reuse a connection does.
    assert await ids_of(via_nginx, prefetch=1) == service.invoice_ids()

    log = nginx_log(nginx)
    assert len(log) == len(service.list_requests()) == 26  # 25 full pages and the empty end
    assert all(status == 200 and ratio != "-" for _, _, status, _, ratio in log)  # gzipped
    served: dict[int, int] = {}  # connection: requests it served
    for connection, number, *_ in log:
        served[connection] = max(number, served.get(connection, 0))
    # nginx closes a connection after its 7th request; the client opens the next one.
    assert max(served.values()) <= 7
    assert len(served) >= math.ceil(len(log) / 7)
    assert all(r.authorized for r in service.requests)  # the header went through nginx
    assert_token_absent(nginx)


@pytest.mark.skipif(
    not HAVE_PROC_NET_TCP, reason="needs Linux's /proc/net/tcp to see nginx close connections"
)
async def test_listing_after_nginx_closed_idle_connections_is_exact(
    service: FakeService, nginx: RealServer, via_nginx: MyReportsClient
) -> None:
    assert await ids_of(via_nginx, prefetch=4) == service.invoice_ids()
    first = {connection for connection, *_ in nginx_log(nginx)}

    # keepalive_timeout 1s: nginx closes the client's pooled connections while it idles.
    await wait_until(lambda: established_to(nginx.port) == 0)
    service.clear_requests()
    assert await ids_of(via_nginx, prefetch=4) == service.invoice_ids()

    second = {connection for connection, *_ in nginx_log(nginx)} - first
    assert second, "the second listing must have come on new connections"
    assert all(r.status == 200 for r in service.list_requests())
    assert_token_absent(nginx)


async def test_proxy_read_timeout_answered_504_is_retried(
    service: FakeService, nginx: RealServer, via_nginx: MyReportsClient
) -> None:
    # Longer than nginx's proxy_read_timeout (1s): nginx gives up and answers 504.
    service.inject(Fault.delay(30), route="list", page_index=3)

    assert await ids_of(via_nginx, prefetch=4) == service.invoice_ids()

    assert [s for _, _, s, uri, _ in nginx_log(nginx) if "pageIndex=3&" in uri] == [504, 200]
    # nginx hung up on the delayed request (-1), then the client's retry was answered.
    await wait_until(lambda: 0 not in page_statuses(service, 3))
    assert page_statuses(service, 3) == [-1, 200]
    assert "upstream timed out" in (nginx.folder / "error.log").read_text()
    assert_token_absent(nginx)


async def test_body_cut_mid_way_behind_nginx_is_retried(
    service: FakeService, nginx: RealServer, via_nginx: MyReportsClient
) -> None:
    # The fake sends half of page 2 and closes: nginx has already passed the headers on,
    # so it can only cut the client's response short too.
    service.inject(Fault.drop(), route="list", page_index=2)

    assert await ids_of(via_nginx, prefetch=4) == service.invoice_ids()

    assert page_statuses(service, 2) == [-1, 200]
    assert len([uri for *_, uri, _ in nginx_log(nginx) if "pageIndex=2&" in uri]) == 2
    assert "upstream prematurely closed connection" in (nginx.folder / "error.log").read_text()
    assert_token_absent(nginx)


# -- squid ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def squid() -> Iterator[RealServer]:
    """One squid for the module: it takes about two seconds to stop."""
    with run_squid([PROXIED_HOST]) as running:
        yield running


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def https_server(service: FakeService, ca: trustme.CA) -> AsyncIterator[FakeServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(PROXIED_HOST, DIRECT_HOST).configure_cert(context)
    async with FakeServer(service, ssl=context) as running:
        yield running
        # squid closes its side of a tunnel some time after the client closed its own.
        # Closing the server first would start a TLS shutdown that never completes
        # before the test's event loop is gone, leaking the sockets to the garbage
        # collector (an "unclosed transport" warning in whichever test comes next).
        if HAVE_PROC_NET_TCP:
            await wait_until(lambda: established_to(running.port) == 0)


class TestResolver(AbstractResolver):
    """The client's name lookups in these tests: a few names map to 127.0.0.1, any other
    name fails, so no DNS query leaves the machine and each lookup is on record.

    It stands in for an /etc/hosts entry seen by the client only: the proxied name must
    stay unknown to the client (it can only get there through squid), the NO_PROXY one
    must be known to it (it goes there directly).
    """

    __test__ = False  # not a test class, despite its name

    def __init__(self) -> None:
        self.hosts: dict[str, str] = {}
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        address = self.hosts.get(host, host)
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise OSError(f"{host} does not resolve in this test") from None
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> TestResolver:
    """Every aiohttp connector made during the test resolves names with a TestResolver."""
    installed = TestResolver()
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", lambda *a, **k: installed)
    return installed


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch, squid: RealServer) -> None:
    """``HTTPS_PROXY`` is squid, ``NO_PROXY`` lists the direct host; nothing else is set."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", squid.url)
    monkeypatch.setenv("NO_PROXY", f"localhost,{DIRECT_HOST}")


class SquidLog:
    """The lines squid's access log gains from now on."""

    def __init__(self, squid: RealServer) -> None:
        self._path = squid.folder / "access.log"
        self._start = self._path.stat().st_size if self._path.exists() else 0

    def lines(self) -> list[str]:
        if not self._path.exists():
            return []
        with self._path.open("rb") as log:
            log.seek(self._start)
            return log.read().decode().splitlines()


def tunnels_to(lines: list[str], host: str, port: int) -> list[str]:
    """squid logs a CONNECT tunnel once the client has closed it."""
    pattern = re.compile(rf" TCP_TUNNEL/200 .* CONNECT {re.escape(host)}:{port} ")
    return [line for line in lines if pattern.search(line)]


async def test_listing_through_squid_over_tls_with_a_private_ca_is_exact(
    service: FakeService,
    https_server: FakeServer,
    squid: RealServer,
    proxy_env: None,
    resolver: TestResolver,
    client_ssl: ssl.SSLContext,
) -> None:
    log = SquidLog(squid)
    base_url = f"https://{PROXIED_HOST}:{https_server.port}"
    async with MyReportsClient(TOKEN, base_url=base_url, ssl=client_ssl, retry=FAST_RETRY) as c:
        assert await ids_of(c, prefetch=4) == service.invoice_ids()

    assert PROXIED_HOST not in resolver.asked  # only squid could find it: it went through
    assert all(r.authorized for r in service.requests)
    await wait_until(lambda: bool(tunnels_to(log.lines(), PROXIED_HOST, https_server.port)))
    assert all(" CONNECT " in line for line in log.lines())  # a tunnel: squid saw no request
    assert_token_absent(squid)


async def test_no_proxy_host_is_reached_directly(
    service: FakeService,
    https_server: FakeServer,
    squid: RealServer,
    proxy_env: None,
    resolver: TestResolver,
    client_ssl: ssl.SSLContext,
) -> None:
    log = SquidLog(squid)
    resolver.hosts[DIRECT_HOST] = "127.0.0.1"
    direct_url = f"https://{DIRECT_HOST}:{https_server.port}"
    async with MyReportsClient(TOKEN, base_url=direct_url, ssl=client_ssl, retry=FAST_RETRY) as c:
        assert await ids_of(c, prefetch=4) == service.invoice_ids()
    assert DIRECT_HOST in resolver.asked  # the client looked it up to connect itself

    # Then one request through squid, as a marker: once squid has logged it, it would
    # have logged the direct listing's tunnels too, had there been any.
    proxied_url = f"https://{PROXIED_HOST}:{https_server.port}"
    async with MyReportsClient(TOKEN, base_url=proxied_url, ssl=client_ssl, retry=FAST_RETRY) as c:
        await c.get_invoice(service.invoice_id(0))
    await wait_until(lambda: bool(tunnels_to(log.lines(), PROXIED_HOST, https_server.port)))

    assert not [line for line in log.lines() if DIRECT_HOST in line]
    assert len(tunnels_to(log.lines(), PROXIED_HOST, https_server.port)) == 1
    assert_token_absent(squid)

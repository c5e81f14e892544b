"""Refresh tokens and the browser sign-in against the fake service over a real socket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from myreports_async import (
    AuthenticationError,
    RefreshTokenAuth,
    RetryPolicy,
    TokenSet,
    TransportError,
    authorize_with_browser,
)
from myreports_async.testing import FakeServer, FakeService, Fault

from .conftest import FAST_RETRY, ClientFactory

CLIENT_ID = "billing-sync"
CLIENT_SECRET = "client-s3cret-value"
REFRESH_TOKEN = "refresh-token-0001"

AuthFactory = Callable[..., RefreshTokenAuth]


@pytest.fixture
def service() -> FakeService:
    fake = FakeService(250, seed=7)
    fake.add_oauth_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    return fake


@pytest.fixture
async def make_auth(server: FakeServer) -> AsyncIterator[AuthFactory]:
    made: list[RefreshTokenAuth] = []

    def make(**kwargs: Any) -> RefreshTokenAuth:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("client_secret", CLIENT_SECRET)
        kwargs.setdefault("refresh_token", REFRESH_TOKEN)
        kwargs.setdefault("token_url", server.token_url)
        kwargs.setdefault("retry", FAST_RETRY)
        auth = RefreshTokenAuth(**kwargs)
        made.append(auth)
        return auth

    yield make
    for auth in made:
        await auth.aclose()


def token_requests(service: FakeService) -> list[int]:
    """The statuses of the token endpoint's answers, in order."""
    return [r.status for r in service.requests if r.route == "token"]


def far_future() -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=1)


# -- the client with RefreshTokenAuth -------------------------------------------------------


async def test_client_lists_everything_with_one_token_request(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    client = make_client(make_auth())
    ids = [invoice.invoice_id async for invoice in client.iter_invoices(page_size=50)]
    assert ids == service.invoice_ids()
    assert token_requests(service) == [200]
    assert all(r.authorized for r in service.list_requests())


async def test_401_mid_stream_refreshes_once_and_lists_each_invoice_once(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth(access_token="test-token", expires_at=far_future())
    client = make_client(auth)
    ids: list[str] = []
    async for invoice in client.iter_invoices(page_size=10, prefetch=4):
        ids.append(invoice.invoice_id)
        if len(ids) == 55:
            # Every token handed out so far stops working while pages are in flight.
            service.expire_access_tokens(revoke_static=True)
    assert ids == service.invoice_ids()  # each invoice exactly once, in order
    assert token_requests(service) == [200]
    served = [r.page_index for r in service.list_requests() if r.status == 200]
    assert sorted(i for i in served if i is not None and i < 25) == list(range(25))
    assert 401 in [r.status for r in service.list_requests()]


async def test_wave_of_401s_for_the_old_token_costs_one_token_request(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    service.expire_access_tokens(revoke_static=True)
    client = make_client(make_auth(access_token="test-token", expires_at=far_future()))
    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=8)]
    assert ids == service.invoice_ids()
    refused = [r for r in service.list_requests() if r.status == 401]
    assert len(refused) == 8  # the whole first wave went out with the old token
    assert token_requests(service) == [200]


async def test_listing_completes_when_every_token_is_revoked_after_three_uses(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    # A service that revokes tokens long before expires_in (3600 s) says they end.
    service.invoice_count = 100
    service.access_token_uses = 3
    client = make_client(make_auth())
    ids = [i.invoice_id async for i in client.iter_invoices(page_size=10, prefetch=1)]
    assert ids == service.invoice_ids()
    statuses = [r.status for r in service.list_requests()]
    # Pages 0..10 (the empty page 10 ends the stream); every fourth request is refused.
    assert statuses == ([200, 200, 200, 401] * 4)[:14]
    # One token request to start, then exactly one per revocation.
    assert token_requests(service) == [200] * (1 + statuses.count(401))


async def test_revoked_tokens_with_pages_in_flight_cost_one_token_request_each(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    # Eight pages in flight are refused together each time a token runs out: the wave
    # costs one token request, so every token serves its whole allowance.
    service.access_token_uses = 20
    client = make_client(make_auth())
    ids = [i.invoice_id async for i in client.iter_invoices(page_size=5, prefetch=8)]
    assert ids == service.invoice_ids()
    served = [r for r in service.list_requests() if r.status == 200]
    assert 401 in [r.status for r in service.list_requests()]
    assert token_requests(service) == [200] * math.ceil(len(served) / 20)


async def test_proactive_refresh_before_expiry_needs_no_401(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    moments = {"mono": 0.0}
    auth = make_auth(clock=lambda: moments["mono"])
    client = make_client(auth)
    await client.get_invoice(service.invoice_id(0))
    moments["mono"] += 3600 - 30  # the token has 30 s left: renewed before it is sent
    await client.get_invoice(service.invoice_id(1))
    assert token_requests(service) == [200, 200]
    assert [r.status for r in service.requests if r.route == "invoice"] == [200, 200]


async def test_fifty_concurrent_callers_with_an_expired_token_cause_one_request(
    make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth(
        access_token="expired", expires_at=datetime.now(timezone.utc) - timedelta(seconds=5)
    )
    tokens = await asyncio.gather(*(auth.get_token() for _ in range(50)))
    assert len(set(tokens)) == 1
    assert token_requests(service) == [200]


async def test_rotation_is_handed_to_sync_and_async_on_refresh(
    make_auth: AuthFactory, service: FakeService
) -> None:
    service.add_oauth_client(CLIENT_ID, CLIENT_SECRET, "refresh-token-0002")
    synced: list[TokenSet] = []
    awaited: list[TokenSet] = []

    async def save(tokens: TokenSet) -> None:
        await asyncio.sleep(0)
        awaited.append(tokens)

    sync_auth = make_auth(on_refresh=synced.append)
    async_auth = make_auth(on_refresh=save, refresh_token="refresh-token-0002")
    for auth in (sync_auth, async_auth):
        await auth.get_token()
        await auth.get_token(force_refresh=True)  # not deduplicated: the first was not forced
    for seen in (synced, awaited):
        assert len(seen) == 2
        assert seen[0].refresh_token != seen[1].refresh_token
    # Each rotation was used for the next refresh: no refusal on the way.
    assert token_requests(service) == [200] * 4


async def test_reusing_a_spent_refresh_token_raises_invalid_grant(
    make_client: ClientFactory, make_auth: AuthFactory
) -> None:
    await make_auth().get_token()  # spends REFRESH_TOKEN
    client = make_client(make_auth())
    with pytest.raises(AuthenticationError) as caught:
        await client.get_invoice("0" * 24)
    assert caught.value.status == 400
    assert caught.value.message == (
        "invalid_grant: The refresh token is invalid, expired or already used."
    )


async def test_token_endpoint_503_then_success(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    service.inject(Fault.status(503, retry_after=0.01), route="token")
    client = make_client(make_auth())
    invoice = await client.get_invoice(service.invoice_id(3))
    assert invoice.invoice_id == service.invoice_id(3)
    assert token_requests(service) == [503, 200]


async def test_invalid_client_raises_authentication_error(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    client = make_client(make_auth(client_secret="not-the-secret"))
    with pytest.raises(AuthenticationError, match="invalid_client") as caught:
        await client.get_invoice(service.invoice_id(0))
    assert caught.value.status == 401
    assert "Unknown client or wrong client secret." in caught.value.message
    assert service.list_requests() == []
    assert [r.route for r in service.requests] == ["token"]


async def test_secrets_are_absent_from_everything_a_user_sees(
    make_client: ClientFactory,
    make_auth: AuthFactory,
    service: FakeService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    saved: list[TokenSet] = []
    service.inject(Fault.status(500), route="token")
    auth = make_auth(on_refresh=saved.append)
    client = make_client(auth)
    await client.get_invoice(service.invoice_id(0))
    service.expire_access_tokens()
    await client.get_invoice(service.invoice_id(1))  # 401, forced refresh, repeat
    errors: list[BaseException] = []
    with pytest.raises(AuthenticationError) as caught:
        await make_client(make_auth()).get_invoice(service.invoice_id(2))  # spent token
    errors.append(caught.value)
    secrets = {CLIENT_SECRET, REFRESH_TOKEN}
    for tokens in saved:
        secrets |= {tokens.access_token, tokens.refresh_token}
    assert len(secrets) == 6
    shown = [repr(auth), str(auth), repr(client), *map(repr, saved), *map(str, saved)]
    shown += [str(e) for e in errors] + [repr(e) for e in errors]
    shown += [record.getMessage() for record in caplog.records]
    shown += [repr(r) for r in service.requests]
    assert any("401 from" in text for text in shown)
    for secret in secrets:
        assert not any(secret in text for text in shown)


async def test_client_close_leaves_the_provider_open(
    make_client: ClientFactory, make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth()
    async with make_client(auth) as client:
        await client.get_invoice(service.invoice_id(0))
    assert not auth.closed
    assert await auth.get_token()


# -- the fake's authorization endpoint and code grant ---------------------------------------


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def fake_authorize(
    session: aiohttp.ClientSession, server: FakeServer, **overrides: str
) -> tuple[int, dict[str, str]]:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:9/cb",
        "scope": "openid offline_access onboarding",
        "state": "state-1",
        "code_challenge": challenge_of("v" * 50),
        "code_challenge_method": "S256",
        **overrides,
    }
    url = f"{server.url}/connect/authorize?{urlencode(params)}"
    async with session.get(url, allow_redirects=False) as resp:
        location = resp.headers.get("Location", "")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return resp.status, query


async def code_grant(
    session: aiohttp.ClientSession, server: FakeServer, code: str, **overrides: str
) -> tuple[int, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://127.0.0.1:9/cb",
        "code_verifier": "v" * 50,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }
    async with session.post(server.token_url, data=form) as resp:
        return resp.status, await resp.json()


async def test_fake_code_grant_checks_the_verifier_and_is_one_time(server: FakeServer) -> None:
    async with aiohttp.ClientSession() as session:
        status, query = await fake_authorize(session, server)
        assert status == 302
        assert query["state"] == "state-1"
        assert (await code_grant(session, server, query["code"], code_verifier="w" * 50))[1][
            "error"
        ] == "invalid_grant"
        # Spent by the failed attempt: a code works once.
        assert (await code_grant(session, server, query["code"]))[1]["error"] == "invalid_grant"

        _, query = await fake_authorize(session, server)
        status, grant = await code_grant(session, server, query["code"])
        assert status == 200
        assert {"access_token", "refresh_token", "expires_in"} <= set(grant)
        _, reused = await code_grant(session, server, query["code"])
        assert reused["error"] == "invalid_grant"

        _, query = await fake_authorize(session, server)
        _, moved = await code_grant(
            session, server, query["code"], redirect_uri="http://127.0.0.1:10/cb"
        )
        assert moved["error"] == "invalid_grant"


async def test_fake_authorize_refuses_bad_requests(
    server: FakeServer, service: FakeService
) -> None:
    async with aiohttp.ClientSession() as session:
        assert (await fake_authorize(session, server, client_id="stranger"))[0] == 400
        assert (await fake_authorize(session, server, redirect_uri="http://evil.example/"))[0] == (
            400
        )
        status, query = await fake_authorize(session, server, code_challenge_method="plain")
        assert (status, query["error"], query["state"]) == (302, "invalid_request", "state-1")
        status, query = await fake_authorize(session, server, response_type="token")
        assert query["error"] == "unsupported_response_type"
        service.add_oauth_client(CLIENT_ID, CLIENT_SECRET, redirect_uris=["http://127.0.0.1:9/x"])
        assert (await fake_authorize(session, server))[0] == 400
    assert {r.route for r in service.requests} == {"authorize"}
    assert [r.authorized for r in service.requests][:2] == [False, True]


# -- authorize_with_browser -----------------------------------------------------------------


class Browser:
    """Plays the user's browser: follows the authorize URL's redirect to the listener."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.pages: list[tuple[int, str]] = []
        self.authorize_urls: list[str] = []

    async def open(self, url: str) -> None:
        self.authorize_urls.append(url)
        redirect = urlsplit(parse_qs(urlsplit(url).query)["redirect_uri"][0])
        # Browsers ask for a favicon; it must not end the sign-in.
        async with self.session.get(f"http://{redirect.netloc}/favicon.ico") as resp:
            assert resp.status == 404
        async with self.session.get(url, allow_redirects=True) as resp:
            self.pages.append((resp.status, await resp.text()))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession() as session:
        yield Browser(session)


def login(server: FakeServer, **kwargs: Any) -> Any:
    kwargs.setdefault("client_id", CLIENT_ID)
    kwargs.setdefault("client_secret", CLIENT_SECRET)
    kwargs.setdefault("authorize_url", server.url + "/connect/authorize")
    kwargs.setdefault("token_url", server.token_url)
    kwargs.setdefault("redirect_uri", "http://127.0.0.1:0/callback")
    kwargs.setdefault("timeout", 10)
    kwargs.setdefault("retry", FAST_RETRY)
    return authorize_with_browser(**kwargs)


async def test_browser_sign_in_end_to_end(
    server: FakeServer, service: FakeService, browser: Browser, make_client: ClientFactory
) -> None:
    tokens = await login(server, open_browser=browser.open)
    assert isinstance(tokens, TokenSet)
    assert browser.pages == [(200, browser.pages[0][1])]
    assert "You are signed in" in browser.pages[0][1]
    (url,) = browser.authorize_urls
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert query["scope"] == "openid offline_access onboarding"
    assert query["redirect_uri"].startswith("http://127.0.0.1:")
    assert query["redirect_uri"].endswith("/callback")
    assert [(r.route, r.status) for r in service.requests] == [("authorize", 302), ("token", 200)]

    # The tokens work: the access token for the API, the refresh token for a refresh.
    client = make_client(tokens.access_token)
    await client.get_invoice(service.invoice_id(0))
    async with RefreshTokenAuth(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=tokens.refresh_token,
        token_url=server.token_url,
    ) as auth:
        assert await auth.get_token() != tokens.access_token


async def test_sync_open_browser_works_too(server: FakeServer, browser: Browser) -> None:
    started: list[asyncio.Task[None]] = []
    tokens = await login(
        server, open_browser=lambda url: started.append(asyncio.ensure_future(browser.open(url)))
    )
    await started[0]
    assert tokens.refresh_token
    assert browser.pages[0][0] == 200


async def test_answer_with_a_wrong_state_is_refused(
    server: FakeServer, service: FakeService, browser: Browser
) -> None:
    async def forge(url: str) -> None:
        async with browser.session.get(url, allow_redirects=False) as resp:
            location = resp.headers["Location"]
        forged = location.replace("state=", "state=forged-")
        async with browser.session.get(forged) as resp:
            browser.pages.append((resp.status, await resp.text()))

    with pytest.raises(AuthenticationError, match="state does not match"):
        await login(server, open_browser=forge)
    assert browser.pages[0][0] == 400
    assert "refused" in browser.pages[0][1]
    assert [r.route for r in service.requests] == ["authorize"]  # no code exchange


async def test_declined_sign_in_raises_access_denied(
    server: FakeServer, service: FakeService, browser: Browser
) -> None:
    service.approve_authorization = False
    with pytest.raises(AuthenticationError, match="access_denied") as caught:
        await login(server, open_browser=browser.open)
    assert "The user declined the sign-in." in caught.value.message
    assert "not completed" in browser.pages[0][1]
    assert [r.route for r in service.requests] == ["authorize"]


async def test_failed_code_exchange_is_raised_and_shown_to_the_browser(
    server: FakeServer, service: FakeService, browser: Browser
) -> None:
    service.inject(
        Fault.body(b'{"error": "invalid_grant", "error_description": "Code expired."}', status=400),
        route="token",
    )
    with pytest.raises(AuthenticationError, match="Code expired"):
        await login(server, open_browser=browser.open)
    status, page = browser.pages[0]
    assert status == 502
    assert "Code expired" in page
    assert CLIENT_SECRET not in page


async def test_no_answer_within_the_timeout(server: FakeServer) -> None:
    with pytest.raises(AuthenticationError, match="no sign-in answer"):
        await login(server, open_browser=lambda url: None, timeout=0.05)


async def test_failing_opener_ends_the_sign_in_with_its_error(server: FakeServer) -> None:
    async def no_browser(url: str) -> None:
        raise RuntimeError("no display")

    with pytest.raises(RuntimeError, match="no display"):
        await login(server, open_browser=no_browser)


async def test_busy_port_is_a_transport_error(server: FakeServer) -> None:
    with pytest.raises(TransportError, match="cannot listen"):
        await login(server, redirect_uri=f"http://127.0.0.1:{server.port}/")


async def test_non_loopback_redirect_uri_is_refused(server: FakeServer) -> None:
    with pytest.raises(ValueError, match="loopback"):
        await login(server, redirect_uri="http://192.0.2.1:8000/")


async def test_sign_in_leaves_a_borrowed_session_open(server: FakeServer, browser: Browser) -> None:
    async with aiohttp.ClientSession() as session:
        await login(server, open_browser=browser.open, session=session, retry=RetryPolicy())
        assert not session.closed

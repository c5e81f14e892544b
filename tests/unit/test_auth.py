"""Token providers, the token endpoint rules, PKCE and the token store.

``RefreshTokenAuth`` runs against the fake service's token endpoint with an injected
clock, so expiry is reached by moving the clock, never by waiting.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from myreports_async import (
    AuthenticationError,
    BadRequestError,
    DecodeError,
    FileTokenStore,
    RefreshTokenAuth,
    RetryPolicy,
    ServerError,
    StaticToken,
    TokenProvider,
    TokenSet,
    TokenStore,
    TransportError,
)
from myreports_async._auth import renewal_margin
from myreports_async._login import authorization_url, check_redirect_uri, pkce_pair
from myreports_async._oauth import (
    DEFAULT_EXPIRES_IN_S,
    check_endpoint_url,
    error_for_answer,
    parse_token_answer,
)
from myreports_async.testing import FakeServer, FakeService, Fault

CLIENT_ID = "billing-sync"
CLIENT_SECRET = "client-s3cret-value"
REFRESH_TOKEN = "refresh-token-0001"
T0 = datetime(2025, 1, 31, 10, 0, tzinfo=timezone.utc)
URL = "https://login.example/connect/token"


class FakeTime:
    """A monotonic clock, a wall clock that moves with it, and a sleep that only records."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.mono - 1000.0)

    def advance(self, seconds: float) -> None:
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.mono += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def service() -> FakeService:
    fake = FakeService(10, token_lifetime=3600)
    fake.add_oauth_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    return fake


@pytest.fixture
async def server(service: FakeService) -> AsyncIterator[FakeServer]:
    async with FakeServer(service) as running:
        yield running


AuthFactory = Callable[..., RefreshTokenAuth]


@pytest.fixture
async def make_auth(server: FakeServer, fake_time: FakeTime) -> AsyncIterator[AuthFactory]:
    made: list[RefreshTokenAuth] = []

    def make(**kwargs: Any) -> RefreshTokenAuth:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("client_secret", CLIENT_SECRET)
        kwargs.setdefault("refresh_token", REFRESH_TOKEN)
        kwargs.setdefault("token_url", server.token_url)
        kwargs.setdefault("retry", RetryPolicy(jitter=False, initial_backoff=1.0))
        kwargs.setdefault("clock", fake_time.clock)
        kwargs.setdefault("now", fake_time.now)
        kwargs.setdefault("sleep", fake_time.sleep)
        auth = RefreshTokenAuth(**kwargs)
        made.append(auth)
        return auth

    yield make
    for auth in made:
        await auth.aclose()


def token_requests(service: FakeService) -> int:
    return sum(1 for r in service.requests if r.route == "token")


# -- TokenSet and the renewal rule ----------------------------------------------------------


def test_token_set_repr_and_str_hide_both_tokens() -> None:
    tokens = TokenSet("access-abc", "refresh-xyz", T0)
    for text in (repr(tokens), str(tokens)):
        assert "access-abc" not in text
        assert "refresh-xyz" not in text
        assert "2025" in text


def test_token_set_requires_an_aware_expiry_and_real_tokens() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TokenSet("a", "r", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="empty"):
        TokenSet(" ", "r", T0)
    with pytest.raises(ValueError, match="line breaks"):
        TokenSet("a\r\nX-Evil: 1", "r", T0)


@pytest.mark.parametrize(
    ("lifetime", "margin"), [(None, 60.0), (3600.0, 60.0), (120.0, 60.0), (119.0, 59.5), (10, 5)]
)
def test_renewal_margin(lifetime: float | None, margin: float) -> None:
    assert renewal_margin(lifetime) == margin


def test_static_token_is_a_token_provider() -> None:
    assert isinstance(StaticToken("t"), TokenProvider)
    assert isinstance(
        RefreshTokenAuth(client_id="c", client_secret="s", refresh_token="r"), TokenProvider
    )


# -- the token endpoint's rules -------------------------------------------------------------


def answer(**payload: Any) -> bytes:
    import msgspec

    return msgspec.json.encode(payload)


def test_token_answer_is_read_with_expiry_from_the_sending_time() -> None:
    tokens, lifetime = parse_token_answer(
        answer(access_token="a", refresh_token="r2", expires_in=900, token_type="Bearer"),
        url=URL,
        sent_at=T0,
        previous_refresh_token="r1",
    )
    assert tokens == TokenSet("a", "r2", T0 + timedelta(seconds=900))
    assert lifetime == 900


def test_token_answer_without_rotation_keeps_the_refresh_token() -> None:
    tokens, _ = parse_token_answer(
        answer(access_token="a", expires_in="60"), url=URL, sent_at=T0, previous_refresh_token="r1"
    )
    assert tokens.refresh_token == "r1"
    assert tokens.expires_at == T0 + timedelta(seconds=60)


def test_token_answer_without_expires_in_is_given_a_short_life() -> None:
    _, lifetime = parse_token_answer(
        answer(access_token="a", refresh_token="r"),
        url=URL,
        sent_at=T0,
        previous_refresh_token=None,
    )
    assert lifetime == DEFAULT_EXPIRES_IN_S == 300


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"<html>gateway</html>", None),
        (b"[1, 2]", None),
        (answer(refresh_token="r", expires_in=60), "access_token"),
        (answer(access_token="", expires_in=60), "access_token"),
        (answer(access_token="a", token_type="mac", expires_in=60), "token_type"),
        (answer(access_token="a", expires_in=-5), "expires_in"),
        (answer(access_token="a", expires_in="soon"), "expires_in"),
        (answer(access_token="a", refresh_token=7, expires_in=60), "refresh_token"),
    ],
)
def test_malformed_token_answer_raises_decode_error(body: bytes, path: str | None) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_token_answer(body, url=URL, sent_at=T0, previous_refresh_token="r")
    assert caught.value.path == path
    assert caught.value.url == URL


def test_first_grant_without_refresh_token_names_offline_access() -> None:
    with pytest.raises(DecodeError, match="offline_access"):
        parse_token_answer(
            answer(access_token="a", expires_in=60),
            url=URL,
            sent_at=T0,
            previous_refresh_token=None,
        )


def test_refusals_map_to_authentication_error_with_the_description() -> None:
    body = answer(error="invalid_grant", error_description="The refresh token was used.")
    error = error_for_answer(400, body, reason="Bad Request", url=URL, retry_after=None)
    assert type(error) is AuthenticationError
    assert error.status == 400
    assert error.message == "invalid_grant: The refresh token was used."
    assert error.url == URL
    client = answer(error="invalid_client", error_description="Unknown client.")
    assert type(error_for_answer(401, client, reason=None, url=URL, retry_after=None)) is (
        AuthenticationError
    )


def test_other_token_endpoint_errors_keep_their_status_class() -> None:
    body = answer(error="unsupported_grant_type", error_description="No.")
    assert type(error_for_answer(400, body, reason=None, url=URL, retry_after=None)) is (
        BadRequestError
    )
    gone = error_for_answer(503, b"", reason="Service Unavailable", url=URL, retry_after=None)
    assert type(gone) is ServerError
    assert gone.message == "Service Unavailable"


@pytest.mark.parametrize(
    "url",
    [
        "https://login.xarios.cloud/connect/token",
        "http://127.0.0.1:9000/connect/token",
        "http://localhost/connect/token",
        "http://[::1]:1/t",
    ],
)
def test_token_url_may_be_https_or_loopback_http(url: str) -> None:
    assert str(check_endpoint_url(url, name="token_url")) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://login.xarios.cloud/connect/token", "https"),
        ("ftp://login.xarios.cloud/connect/token", "scheme"),
        ("https://user:pw@login.example/token", "credentials"),
        ("/connect/token", "absolute"),
        ("", "non-empty"),
    ],
)
def test_token_url_that_would_leak_credentials_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RefreshTokenAuth(client_id="c", client_secret="s", refresh_token="r", token_url=url)


def test_construction_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="client_secret"):
        RefreshTokenAuth(client_id="c", client_secret="", refresh_token="r")
    with pytest.raises(ValueError, match="give both"):
        RefreshTokenAuth(client_id="c", client_secret="s", refresh_token="r", access_token="a")
    with pytest.raises(TypeError, match="on_refresh"):
        RefreshTokenAuth(
            client_id="c",
            client_secret="s",
            refresh_token="r",
            on_refresh="save",  # type: ignore[arg-type]
        )


# -- PKCE and the authorize URL -------------------------------------------------------------


def test_pkce_pair_is_s256_of_a_valid_verifier() -> None:
    verifier, challenge = pkce_pair()
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert pkce_pair()[0] != verifier


def test_authorization_url_carries_the_pkce_and_state() -> None:
    url = authorization_url(
        "https://login.xarios.cloud/connect/authorize",
        client_id="app",
        redirect_uri="http://127.0.0.1:8000",
        scopes=("openid", "offline_access", "onboarding"),
        state="st",
        code_challenge="ch",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "login.xarios.cloud",
        "/connect/authorize",
    )
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": "http://127.0.0.1:8000",
        "scope": "openid offline_access onboarding",
        "state": "st",
        "code_challenge": "ch",
        "code_challenge_method": "S256",
    }


@pytest.mark.parametrize(
    "uri",
    ["http://example.com:8000", "https://127.0.0.1:8000", "http://10.0.0.5:8000", "http://0.0.0.0"],
)
def test_redirect_uri_must_be_loopback_http(uri: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        check_redirect_uri(uri)


def test_redirect_uri_path_is_the_listener_path() -> None:
    assert check_redirect_uri("http://127.0.0.1:8000").path == "/"
    assert check_redirect_uri("http://localhost:53682/callback").path == "/callback"


# -- RefreshTokenAuth: when it refreshes ----------------------------------------------------


async def test_first_call_refreshes_then_the_token_is_kept(
    make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth()
    token = await auth.get_token()
    assert await auth.get_token() == token
    assert token_requests(service) == 1
    assert auth.token_set is not None
    assert auth.token_set.access_token == token
    assert auth.token_set.refresh_token != REFRESH_TOKEN


async def test_token_is_renewed_once_less_than_60s_remain(
    make_auth: AuthFactory, service: FakeService, fake_time: FakeTime
) -> None:
    auth = make_auth()
    first = await auth.get_token()
    fake_time.advance(3600 - 61)
    assert await auth.get_token() == first
    assert token_requests(service) == 1
    fake_time.advance(2)  # 59 s left
    second = await auth.get_token()
    assert second != first
    assert token_requests(service) == 2
    assert auth.token_set is not None
    assert auth.token_set.expires_at == fake_time.now() + timedelta(seconds=3600)


async def test_short_lived_token_is_renewed_at_half_its_life(
    make_auth: AuthFactory, service: FakeService, fake_time: FakeTime
) -> None:
    service.token_lifetime = 60
    auth = make_auth()
    first = await auth.get_token()
    fake_time.advance(29)
    assert await auth.get_token() == first
    fake_time.advance(2)
    assert await auth.get_token() != first
    assert token_requests(service) == 2


async def test_initial_access_token_is_used_until_due(
    make_auth: AuthFactory, service: FakeService, fake_time: FakeTime
) -> None:
    auth = make_auth(access_token="test-token", expires_at=fake_time.now() + timedelta(hours=1))
    assert await auth.get_token() == "test-token"
    assert token_requests(service) == 0
    fake_time.advance(3600 - 59)
    assert await auth.get_token() != "test-token"
    assert token_requests(service) == 1


async def test_concurrent_callers_share_one_refresh(
    make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth(access_token="old", expires_at=T0 - timedelta(seconds=1))
    tokens = await asyncio.gather(*(auth.get_token() for _ in range(50)))
    assert len(set(tokens)) == 1
    assert tokens[0] != "old"
    assert token_requests(service) == 1


async def test_refusal_wave_costs_one_token_request(
    make_auth: AuthFactory, service: FakeService, fake_time: FakeTime
) -> None:
    auth = make_auth(access_token="old", expires_at=T0 + timedelta(hours=1))
    # Eight requests refused with the old token ask at once, then two stragglers later.
    wave = await asyncio.gather(*(auth.renew_refused("old") for _ in range(8)))
    fake_time.advance(60)
    late = [await auth.renew_refused("old") for _ in range(2)]
    assert len(set(wave + late)) == 1
    assert wave[0] != "old"
    assert token_requests(service) == 1


async def test_refusal_of_the_current_token_refreshes_however_recent_the_last_refresh(
    make_auth: AuthFactory, service: FakeService
) -> None:
    # A token revoked a moment after it was issued is replaced all the same: the clock
    # never withholds a new token.
    auth = make_auth(access_token="old", expires_at=T0 + timedelta(hours=1))
    first = await auth.renew_refused("old")
    second = await auth.renew_refused(first)
    third = await auth.renew_refused(second)
    assert len({"old", first, second, third}) == 4
    assert token_requests(service) == 3


async def test_refusal_of_a_replaced_token_returns_the_current_one(
    make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth(access_token="old", expires_at=T0 + timedelta(hours=1))
    current = await auth.renew_refused("old")
    assert await auth.renew_refused("something-older") == current
    assert await auth.get_token() == current
    assert token_requests(service) == 1


async def test_forced_refresh_always_refreshes(
    make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth()
    first = await auth.get_token(force_refresh=True)
    assert await auth.get_token(force_refresh=True) != first
    assert token_requests(service) == 2


async def test_forced_callers_at_once_share_one_refresh(
    make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth(access_token="old", expires_at=T0 + timedelta(hours=1))
    tokens = await asyncio.gather(*(auth.get_token(force_refresh=True) for _ in range(8)))
    assert len(set(tokens)) == 1
    assert tokens[0] != "old"
    assert token_requests(service) == 1


async def test_forced_refresh_after_a_scheduled_refresh_is_not_deduplicated(
    make_auth: AuthFactory, service: FakeService
) -> None:
    # A 401 right after an ordinary refresh is news: the token was revoked.
    auth = make_auth()
    first = await auth.get_token()
    assert await auth.get_token(force_refresh=True) != first
    assert token_requests(service) == 2


async def test_cancelled_waiter_does_not_cancel_the_shared_refresh(
    make_auth: AuthFactory, service: FakeService
) -> None:
    service.inject(Fault.delay(0.2), route="token")
    saved: list[TokenSet] = []
    auth = make_auth(on_refresh=saved.append)
    impatient = asyncio.ensure_future(auth.get_token())
    patient = asyncio.ensure_future(auth.get_token())
    await asyncio.sleep(0.05)
    impatient.cancel()
    token = await patient
    assert impatient.cancelled()
    assert [t.access_token for t in saved] == [token]
    assert token_requests(service) == 1


# -- RefreshTokenAuth: rotation and on_refresh ----------------------------------------------


async def test_rotated_refresh_token_is_used_for_the_next_refresh(
    make_auth: AuthFactory, service: FakeService, fake_time: FakeTime
) -> None:
    saved: list[TokenSet] = []
    auth = make_auth(on_refresh=saved.append)
    await auth.get_token()
    fake_time.advance(3600)
    await auth.get_token()
    assert len(saved) == 2
    assert saved[0].refresh_token != saved[1].refresh_token != REFRESH_TOKEN
    assert [r.status for r in service.requests] == [200, 200]


async def test_async_on_refresh_is_awaited_before_the_token_is_handed_out(
    make_auth: AuthFactory,
) -> None:
    saved: list[str] = []

    async def save(tokens: TokenSet) -> None:
        await asyncio.sleep(0)
        saved.append(tokens.access_token)

    auth = make_auth(on_refresh=save)
    assert [await auth.get_token()] == saved


async def test_on_refresh_failure_reaches_the_caller_and_the_new_token_is_kept(
    make_auth: AuthFactory, service: FakeService
) -> None:
    def broken_save(tokens: TokenSet) -> None:
        raise OSError(28, "No space left on device")

    auth = make_auth(on_refresh=broken_save)
    results = await asyncio.gather(auth.get_token(), auth.get_token(), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    # The rotated refresh token is in use: the next call needs no refresh (which would
    # fail with the spent one).
    assert auth.token_set is not None
    assert await auth.get_token() == auth.token_set.access_token
    assert token_requests(service) == 1


# -- RefreshTokenAuth: failures -------------------------------------------------------------


async def test_transient_token_endpoint_failures_are_retried(
    make_auth: AuthFactory, service: FakeService, fake_time: FakeTime
) -> None:
    service.inject(Fault.status(503), route="token", times=2)
    service.inject(Fault.status(429, retry_after=7), route="token")
    token = await make_auth().get_token()
    assert token
    assert [r.status for r in service.requests] == [503, 503, 429, 200]
    assert fake_time.sleeps == [1.0, 2.0, 7.0]


async def test_token_endpoint_that_stays_down_raises_server_error(
    make_auth: AuthFactory, service: FakeService
) -> None:
    service.inject(Fault.status(502, message="upstream"), route="token", times=None)
    with pytest.raises(ServerError) as caught:
        await make_auth(retry=RetryPolicy(max_attempts=3, jitter=False)).get_token()
    assert caught.value.status == 502
    assert token_requests(service) == 3


async def test_connection_failures_are_retried_then_raise_transport_error(
    make_auth: AuthFactory, service: FakeService
) -> None:
    service.inject(Fault.drop(mid_body=False), route="token", times=None)
    with pytest.raises(TransportError, match="token request failed"):
        await make_auth(retry=RetryPolicy(max_attempts=2, jitter=False)).get_token()
    assert token_requests(service) == 2


async def test_refused_refresh_token_raises_with_the_description(
    make_auth: AuthFactory,
) -> None:
    auth = make_auth(refresh_token="never-issued")
    with pytest.raises(AuthenticationError) as caught:
        await auth.get_token()
    assert caught.value.status == 400
    assert "invalid_grant" in caught.value.message
    assert "invalid, expired or already used" in caught.value.message


async def test_all_waiters_get_the_same_refusal(
    make_auth: AuthFactory, service: FakeService
) -> None:
    auth = make_auth(client_secret="wrong-secret")
    results = await asyncio.gather(*(auth.get_token() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert {str(r) for r in results} == {str(results[0])}
    assert "invalid_client" in str(results[0])
    assert token_requests(service) == 1


async def test_malformed_token_answer_is_not_retried(
    make_auth: AuthFactory, service: FakeService
) -> None:
    service.inject(Fault.body(b"<html>Sign in</html>", content_type="text/html"), route="token")
    with pytest.raises(DecodeError, match="not JSON"):
        await make_auth().get_token()
    assert token_requests(service) == 1


async def test_secrets_never_appear_in_repr_errors_or_logs(
    make_auth: AuthFactory, service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service.inject(Fault.status(503), route="token")
    saved: list[TokenSet] = []
    auth = make_auth(on_refresh=saved.append)
    access = await auth.get_token()
    rotated = saved[0].refresh_token
    with pytest.raises(AuthenticationError) as caught:
        await make_auth(refresh_token=REFRESH_TOKEN).get_token()  # spent by the first
    texts = [repr(auth), str(auth), repr(saved[0]), str(caught.value), repr(caught.value)]
    texts += [record.getMessage() for record in caplog.records]
    assert any("token request 1 of 5" in text for text in texts)
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, rotated, access):
        assert all(secret not in text for text in texts), secret


async def test_aclose_closes_its_own_session_only(
    make_auth: AuthFactory, service: FakeService
) -> None:
    service.add_oauth_client(CLIENT_ID, CLIENT_SECRET, "refresh-2")
    own = make_auth()
    await own.get_token()
    session = own._connection.session()  # the one it created for the refresh
    await own.aclose()
    assert session.closed
    with pytest.raises(RuntimeError, match="closed"):
        await own.get_token()

    async with aiohttp.ClientSession() as borrowed:
        async with make_auth(session=borrowed, refresh_token="refresh-2") as auth:
            await auth.get_token()
        assert not borrowed.closed


async def test_aclose_waits_for_a_refresh_in_flight(
    make_auth: AuthFactory, service: FakeService
) -> None:
    service.inject(Fault.delay(0.1), route="token")
    saved: list[TokenSet] = []
    auth = make_auth(on_refresh=saved.append)
    waiter = asyncio.ensure_future(auth.get_token())
    await asyncio.sleep(0.02)
    waiter.cancel()
    await auth.aclose()
    assert len(saved) == 1  # the rotated refresh token was not thrown away


async def test_provider_is_not_picklable() -> None:
    import pickle

    auth = RefreshTokenAuth(client_id="c", client_secret="s", refresh_token="r")
    with pytest.raises(TypeError, match="secrets"):
        pickle.dumps(auth)


# -- FileTokenStore -------------------------------------------------------------------------


def test_store_round_trip_with_owner_only_permissions(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "config" / "tokens.json")
    assert store.load() is None
    tokens = TokenSet("access", "refresh", T0)
    store.save(tokens)
    assert store.load() == tokens
    if os.name == "posix":
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert os.listdir(store.path.parent) == ["tokens.json"]


def test_store_permissions_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = FileTokenStore(tmp_path / "tokens.json")
        store.save(TokenSet("a", "r", T0))
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_store_replaces_the_file_atomically(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(TokenSet("a1", "r1", T0))
    inode = store.path.stat().st_ino
    store.save(TokenSet("a2", "r2", T0))
    assert store.load() == TokenSet("a2", "r2", T0)
    assert store.path.stat().st_ino != inode  # a new file renamed into place
    assert os.listdir(tmp_path) == ["tokens.json"]


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_failed_save_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(TokenSet("a1", "r1", T0))
    before = store.path.read_bytes()

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, crash)
    with pytest.raises(OSError, match="No space"):
        store.save(TokenSet("a2", "r2", T0))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert os.listdir(tmp_path) == ["tokens.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not JSON"),
        (b'{"version": 9}', "format version"),
        (b'{"version": 1, "access_token": "a", "refresh_token": "r"}', "expires_at"),
        (
            b'{"version": 1, "access_token": "a", "refresh_token": "r",'
            b' "expires_at": "2025-01-01T00:00:00"}',
            "timezone",
        ),
    ],
)
def test_store_refuses_a_file_that_is_not_a_token_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=message):
        FileTokenStore(path).load()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_store_warns_about_a_file_others_can_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(TokenSet("access-secret", "refresh-secret", T0))
    store.path.chmod(0o644)
    assert store.load() is not None
    assert "readable by other users" in caplog.text
    assert "secret" not in caplog.text
    assert "access-secret" not in repr(store)


def test_file_store_is_a_token_store(tmp_path: Path) -> None:
    assert isinstance(FileTokenStore(tmp_path / "t.json"), TokenStore)
    assert FileTokenStore("~/x.json").path == Path.home() / "x.json"


async def test_from_store_continues_with_the_saved_tokens_and_saves_rotation(
    tmp_path: Path, server: FakeServer, service: FakeService
) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(TokenSet("test-token", REFRESH_TOKEN, datetime.now(timezone.utc)))  # due
    handed: list[TokenSet] = []
    async with RefreshTokenAuth.from_store(
        store,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=server.token_url,
        on_refresh=handed.append,
    ) as auth:
        token = await auth.get_token()
    saved = store.load()
    assert saved is not None
    assert saved.access_token == token
    assert saved.refresh_token != REFRESH_TOKEN
    assert handed == [saved]

    # A restart picks up the saved (fresh) access token: no token request.
    service.clear_requests()
    async with RefreshTokenAuth.from_store(
        store, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=server.token_url
    ) as again:
        assert await again.get_token() == token
    assert token_requests(service) == 0


def test_from_an_empty_store_says_to_sign_in(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sign in first"):
        RefreshTokenAuth.from_store(
            FileTokenStore(tmp_path / "none.json"), client_id="c", client_secret="s"
        )


async def test_async_on_refresh_from_store_is_awaited(tmp_path: Path, server: FakeServer) -> None:
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(TokenSet("stale", REFRESH_TOKEN, T0))
    seen: list[str] = []

    async def notify(tokens: TokenSet) -> None:
        seen.append(tokens.refresh_token)

    callback: Callable[[TokenSet], Awaitable[None]] = notify
    async with RefreshTokenAuth.from_store(
        store,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=server.token_url,
        on_refresh=callback,
    ) as auth:
        await auth.get_token()
    saved = store.load()
    assert saved is not None
    assert seen == [saved.refresh_token]

"""The HTTP layer's retry loop and error translation, on canned single responses."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from myreports_async import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    StaticToken,
    TransportError,
)
from myreports_async._http import USER_AGENT
from myreports_async._session import ApiSession

TOKEN = "s3cr3t-access-token"
URL_ = URL("https://api.test.example/api/v1.0/billingdata")
ANY = re.compile(r"^https://api\.test\.example/.*$")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)


class RotatingToken:
    """A provider that mints a new token on every forced refresh."""

    def __init__(self) -> None:
        self.calls: list[bool] = []
        self.generation = 0

    async def get_token(self, *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        if force_refresh:
            self.generation += 1
        return f"token-{self.generation}"


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def api(fake_time: FakeTime) -> AsyncIterator[ApiSession]:
    session = ApiSession(
        auth=StaticToken(TOKEN),
        retry=RetryPolicy(jitter=False, initial_backoff=1.0, max_backoff=8.0),
        timeout=5.0,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    yield session
    await session.close()


def requests_made(mocked: Any) -> list[Any]:
    return [call for calls in mocked.requests.values() for call in calls]


def error_body(status: int, message: str) -> dict[str, object]:
    return {
        "error": status,
        "message": message,
        "status": "error",
        "timestamp": "2020-02-06T12:46:58.7669535Z",
    }


async def test_sends_bearer_token_accept_and_user_agent(api: ApiSession, mocked: Any) -> None:
    mocked.get(ANY, body=b"{}")
    assert await api.get_bytes(URL_, params={"pageIndex": "0"}) == b"{}"
    (call,) = requests_made(mocked)
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("myreports-async/")


async def test_transient_status_is_retried_with_backoff(
    api: ApiSession, mocked: Any, fake_time: FakeTime
) -> None:
    for _ in range(3):
        mocked.get(ANY, status=503, payload=error_body(503, "Service Unavailable"))
    mocked.get(ANY, body=b'{"ok": 1}')
    assert await api.get_bytes(URL_) == b'{"ok": 1}'
    assert len(requests_made(mocked)) == 4
    assert fake_time.sleeps == [1.0, 2.0, 4.0]


async def test_exhausted_retries_raise_server_error_with_service_message(
    api: ApiSession, mocked: Any
) -> None:
    for _ in range(5):
        mocked.get(ANY, status=502, payload=error_body(502, "upstream gone"))
    with pytest.raises(ServerError) as caught:
        await api.get_bytes(URL_, params={"pageIndex": "3", "pageSize": "10"})
    assert caught.value.status == 502
    assert caught.value.message == "upstream gone"
    assert caught.value.url == f"{URL_}?pageIndex=3&pageSize=10"
    assert len(requests_made(mocked)) == 5


@pytest.mark.parametrize(
    ("status", "cls"), [(400, BadRequestError), (404, NotFoundError), (409, BadRequestError)]
)
async def test_other_4xx_is_not_retried(
    api: ApiSession, mocked: Any, status: int, cls: type[Exception]
) -> None:
    mocked.get(ANY, status=status, payload=error_body(status, "The value 'x' is not valid."))
    with pytest.raises(cls, match=r"The value 'x' is not valid\.") as caught:
        await api.get_bytes(URL_)
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert len(requests_made(mocked)) == 1


async def test_error_without_service_body_uses_reason_phrase(api: ApiSession, mocked: Any) -> None:
    mocked.get(ANY, status=404, body=b"<html>nope</html>", content_type="text/html")
    with pytest.raises(NotFoundError) as caught:
        await api.get_bytes(URL_)
    assert caught.value.message == "Not Found"


async def test_retry_after_is_one_shared_cool_down(
    api: ApiSession, mocked: Any, fake_time: FakeTime
) -> None:
    mocked.get(ANY, status=429, headers={"Retry-After": "7"}, payload=error_body(429, "slow down"))
    mocked.get(ANY, body=b"{}")
    assert await api.get_bytes(URL_) == b"{}"
    assert fake_time.sleeps == [7.0]
    assert fake_time.now == 7.0


class ManualTime(FakeTime):
    """A clock the test moves by hand; sleepers wake only when it passes their deadline."""

    def __init__(self) -> None:
        super().__init__()
        self.moved = asyncio.Condition()
        self.someone_sleeps = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.someone_sleeps.set()
        deadline = self.now + seconds
        async with self.moved:
            await self.moved.wait_for(lambda: self.now >= deadline)

    async def advance(self, seconds: float) -> None:
        async with self.moved:
            self.now += seconds
            self.moved.notify_all()


async def test_concurrent_requests_pause_together_on_retry_after(mocked: Any) -> None:
    time = ManualTime()
    api = ApiSession(
        auth=StaticToken(TOKEN),
        retry=RetryPolicy(),
        timeout=5.0,
        clock=time.clock,
        sleep=time.sleep,
    )
    sent_at: list[float] = []

    def record(url: URL, **kwargs: Any) -> None:
        sent_at.append(time.now)

    mocked.get(
        ANY,
        status=429,
        headers={"Retry-After": "10"},
        payload=error_body(429, "slow down"),
        callback=record,
    )
    mocked.get(ANY, body=b"{}", repeat=True, callback=record)
    first = asyncio.create_task(api.get_bytes(URL_))
    await time.someone_sleeps.wait()
    second = asyncio.create_task(api.get_bytes(URL_))
    await time.advance(4)
    for _ in range(5):
        await asyncio.sleep(0)
    assert sent_at == [0.0]  # nobody went out during the pause
    await time.advance(6)
    assert list(await asyncio.gather(first, second)) == [b"{}", b"{}"]
    await api.close()
    # The second request started during the pause: it waited for its end instead of
    # going out at once into the same limit.
    assert sent_at == [0.0, 10.0, 10.0]


async def test_retry_after_beyond_the_cap_raises_at_once(api: ApiSession, mocked: Any) -> None:
    mocked.get(ANY, status=429, headers={"Retry-After": "3600"}, payload=error_body(429, "quota"))
    with pytest.raises(RateLimitError) as caught:
        await api.get_bytes(URL_)
    assert caught.value.retry_after == 3600.0
    assert len(requests_made(mocked)) == 1


async def test_server_error_with_retry_after_beyond_the_cap_raises_at_once(
    api: ApiSession, mocked: Any
) -> None:
    mocked.get(
        ANY, status=503, headers={"Retry-After": "600"}, payload=error_body(503, "maintenance")
    )
    with pytest.raises(ServerError, match="maintenance"):
        await api.get_bytes(URL_)
    assert len(requests_made(mocked)) == 1


async def test_max_attempts_one_means_no_retry(fake_time: FakeTime, mocked: Any) -> None:
    api = ApiSession(
        auth=StaticToken(TOKEN),
        retry=RetryPolicy(max_attempts=1),
        timeout=5.0,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    mocked.get(ANY, status=503, payload=error_body(503, "down"))
    with pytest.raises(ServerError):
        await api.get_bytes(URL_)
    await api.close()
    assert len(requests_made(mocked)) == 1
    assert fake_time.sleeps == []


async def test_connection_errors_are_retried_then_raise_transport_error(
    api: ApiSession, mocked: Any, fake_time: FakeTime
) -> None:
    for _ in range(5):
        mocked.get(ANY, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(
        TransportError, match=r"closed the connection before answering \(after 5 attempts\)"
    ):
        await api.get_bytes(URL_)
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0]


async def test_timeout_is_retried(api: ApiSession, mocked: Any) -> None:
    mocked.get(ANY, exception=aiohttp.SocketTimeoutError())
    mocked.get(ANY, body=b"{}")
    assert await api.get_bytes(URL_) == b"{}"


async def test_tls_failure_is_not_retried(api: ApiSession, mocked: Any) -> None:
    key = aiohttp.client_reqrep.ConnectionKey("api.test.example", 443, True, True, None, None, None)
    mocked.get(ANY, exception=aiohttp.ClientSSLError(key, OSError(1, "certificate verify failed")))
    with pytest.raises(TransportError, match="TLS failure"):
        await api.get_bytes(URL_)
    assert len(requests_made(mocked)) == 1


async def test_cancellation_is_never_retried(api: ApiSession, mocked: Any) -> None:
    mocked.get(ANY, exception=asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await api.get_bytes(URL_)
    assert len(requests_made(mocked)) == 1


async def test_401_with_static_token_raises_without_repeating(api: ApiSession, mocked: Any) -> None:
    mocked.get(ANY, status=401, payload=error_body(401, "Unauthorized"))
    with pytest.raises(AuthenticationError, match="Unauthorized") as caught:
        await api.get_bytes(URL_)
    assert caught.value.status == 401
    assert len(requests_made(mocked)) == 1


async def test_401_forces_one_refresh_and_one_repeat(fake_time: FakeTime, mocked: Any) -> None:
    provider = RotatingToken()
    api = ApiSession(
        auth=provider,
        retry=RetryPolicy(),
        timeout=5.0,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    mocked.get(ANY, status=401, payload=error_body(401, "Unauthorized"))
    mocked.get(ANY, body=b"{}")
    assert await api.get_bytes(URL_) == b"{}"
    await api.close()
    sent = [c.kwargs["headers"]["Authorization"] for c in requests_made(mocked)]
    assert sent == ["Bearer token-0", "Bearer token-1"]
    assert provider.calls == [False, True]
    assert fake_time.sleeps == []


class RefusalAwareToken(RotatingToken):
    """A provider that is told which token was refused."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    async def renew_refused(self, refused_token: str) -> str:
        self.refused.append(refused_token)
        self.generation += 1
        return f"token-{self.generation}"


async def test_401_hands_the_refused_token_to_a_provider_that_takes_it(
    fake_time: FakeTime, mocked: Any
) -> None:
    provider = RefusalAwareToken()
    api = ApiSession(
        auth=provider,
        retry=RetryPolicy(),
        timeout=5.0,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    mocked.get(ANY, status=401, payload=error_body(401, "Unauthorized"))
    mocked.get(ANY, body=b"{}")
    assert await api.get_bytes(URL_) == b"{}"
    await api.close()
    sent = [c.kwargs["headers"]["Authorization"] for c in requests_made(mocked)]
    assert sent == ["Bearer token-0", "Bearer token-1"]
    assert provider.refused == ["token-0"]
    assert provider.calls == [False]  # never get_token(force_refresh=True)


async def test_second_401_raises(fake_time: FakeTime, mocked: Any) -> None:
    provider = RotatingToken()
    api = ApiSession(
        auth=provider,
        retry=RetryPolicy(),
        timeout=5.0,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    mocked.get(ANY, status=401, payload=error_body(401, "token expired"), repeat=True)
    with pytest.raises(AuthenticationError, match="token expired"):
        await api.get_bytes(URL_)
    await api.close()
    assert len(requests_made(mocked)) == 2
    assert provider.calls == [False, True]


async def test_token_never_appears_in_errors_or_logs(
    api: ApiSession, mocked: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mocked.get(ANY, status=503, payload=error_body(503, "down"), repeat=True)
    with pytest.raises(ServerError) as caught:
        await api.get_bytes(URL_)
    texts = [str(caught.value), repr(caught.value), caplog.text, repr(api._auth)]
    assert caplog.records, "retries should be logged"
    assert all(TOKEN not in text for text in texts)


async def test_closed_session_refuses_requests(api: ApiSession) -> None:
    await api.close()
    with pytest.raises(RuntimeError, match="closed"):
        await api.get_bytes(URL_)

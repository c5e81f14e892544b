"""The retry policy's schedule and the shared cool-down, on a fake clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from myreports_async import RetryPolicy
from myreports_async._retry import CoolDown


def test_defaults_match_the_contract() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.initial_backoff, policy.max_backoff) == (5, 0.5, 30.0)
    assert (policy.multiplier, policy.jitter, policy.respect_retry_after) == (2.0, True, True)
    assert policy.retry_statuses == frozenset({408, 429, 500, 502, 503, 504})
    assert policy.max_retry_after == 120.0


def test_without_jitter_waits_grow_by_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.5, multiplier=2.0, max_backoff=3.0, jitter=False)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_draws_between_zero_and_the_computed_wait() -> None:
    policy = RetryPolicy(initial_backoff=1.0, multiplier=3.0, max_backoff=100.0)
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0
    assert policy.backoff(3, rand=lambda: 0.5) == 4.5
    assert policy.backoff(3, rand=lambda: 0.999) == pytest.approx(8.991)


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    policy = RetryPolicy(max_backoff=30.0, jitter=False)
    assert policy.backoff(10_000) == 30.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert RetryPolicy().should_retry_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not RetryPolicy().should_retry_status(status)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"initial_backoff": -1}, "initial_backoff must be 0 or more"),
        ({"max_backoff": -0.1}, "max_backoff must be 0 or more"),
        ({"multiplier": 0.5}, "multiplier must be at least 1"),
        ({"max_retry_after": -1}, "max_retry_after must be 0 or more"),
        ({"retry_statuses": {999}}, "not an HTTP status"),
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "retry_after", "failed", "expected"),
    [
        (503, None, 1, 0.5),  # the backoff
        (503, 7.0, 1, 7.0),  # Retry-After replaces it
        (429, 120.0, 1, 120.0),  # up to the cap
        (429, 121.0, 1, None),  # beyond it: not waited out early
        (503, None, 5, None),  # attempts used up
        (404, None, 1, None),  # not a transient status
    ],
)
def test_status_delay(
    status: int, retry_after: float | None, failed: int, expected: float | None
) -> None:
    policy = RetryPolicy(jitter=False)
    assert policy.status_delay(status, retry_after, failed=failed) == expected


def test_failure_delay_repeats_only_transient_failures_while_attempts_remain() -> None:
    policy = RetryPolicy(jitter=False, max_attempts=3)
    assert policy.failure_delay(True, failed=2) == 1.0
    assert policy.failure_delay(True, failed=3) is None
    assert policy.failure_delay(False, failed=1) is None


def test_retry_after_is_ignored_when_the_policy_says_so() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert RetryPolicy().honoured_retry_after("30", now=now) == 30.0
    assert RetryPolicy(respect_retry_after=False).honoured_retry_after("30", now=now) is None


def test_retry_statuses_accept_any_collection() -> None:
    assert RetryPolicy(retry_statuses=[503]).retry_statuses == frozenset({503})


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_cool_down_waits_until_its_end() -> None:
    time = FakeTime()
    cool = CoolDown(clock=time.clock, sleep=time.sleep)
    cool.extend(5.0)
    await cool.wait()
    assert time.now == 5.0
    assert time.sleeps == [5.0]


async def test_cool_down_is_never_shortened() -> None:
    time = FakeTime()
    cool = CoolDown(clock=time.clock, sleep=time.sleep)
    cool.extend(5.0)
    cool.extend(1.0)
    assert cool.remaining == 5.0


async def test_without_a_pause_wait_returns_at_once() -> None:
    time = FakeTime()
    cool = CoolDown(clock=time.clock, sleep=time.sleep)
    await cool.wait()
    assert time.sleeps == []

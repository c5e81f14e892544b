"""The retry policy, its backoff schedule, and the cool-down shared by concurrent requests.

Time is injected (``clock`` and ``sleep``) so tests never really wait.

Rule 1: only transient failures are retried: connection errors, timeouts, and the
        policy's ``retry_statuses``. Never another 4xx, never a cancellation.
Rule 2: the wait before attempt n+1 is ``initial_backoff * multiplier**(n-1)``, capped at
        ``max_backoff``; with jitter it is drawn uniformly from [0, that] ("full jitter").
Rule 3: a ``Retry-After`` the service sends replaces the computed wait, and is shared:
        every request of the client pauses until it has passed, so concurrent page
        requests do not each retry into the limit on their own.
Rule 4: a ``Retry-After`` longer than ``max_retry_after`` is not waited out early: the
        error is raised at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import attrs

from ._protocol import parse_retry_after

__all__ = ["DEFAULT_RETRY_STATUSES", "CoolDown", "RetryPolicy"]

DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, not {value!r}")


def _at_least_one(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value!r}")


def _statuses(value: object) -> frozenset[int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError("retry_statuses must be a collection of HTTP status codes")
    statuses = frozenset(value)
    for status in statuses:
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError(f"retry_statuses holds {status!r}, which is not an HTTP status")
    return statuses


@attrs.frozen
class RetryPolicy:
    """How the client retries transient failures.

    Args:
        max_attempts: attempts in all, the first included; ``1`` means no retry.
        initial_backoff: seconds to wait before the second attempt.
        max_backoff: the longest computed wait, in seconds.
        multiplier: growth of the wait from one attempt to the next.
        jitter: draw each wait uniformly from ``[0, computed]`` ("full jitter"), so that
            clients that failed together do not retry together.
        retry_statuses: HTTP statuses that are retried.
        respect_retry_after: wait what the service's ``Retry-After`` header asks.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds; a longer one
            raises at once (``RateLimitError`` for 429, ``ServerError`` for 5xx).

    Example::

        client = MyReportsClient(token, retry=RetryPolicy(max_attempts=8, max_backoff=10))
    """

    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    initial_backoff: float = attrs.field(default=0.5, validator=_non_negative)
    max_backoff: float = attrs.field(default=30.0, validator=_non_negative)
    multiplier: float = attrs.field(default=2.0, validator=_at_least_one)
    jitter: bool = True
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=_statuses
    )
    respect_retry_after: bool = True
    max_retry_after: float = attrs.field(default=120.0, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise TypeError("max_attempts must be an int")

    def backoff(self, failed_attempts: int, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failed_attempts`` attempts have failed (1 for the first)."""
        exponent = max(0, failed_attempts - 1)
        try:
            computed = self.initial_backoff * self.multiplier**exponent
        except OverflowError:
            computed = self.max_backoff
        computed = min(self.max_backoff, computed)
        return rand() * computed if self.jitter else computed

    def should_retry_status(self, status: int) -> bool:
        """Whether an answer with this status is transient under this policy."""
        return status in self.retry_statuses

    def failure_delay(
        self, transient: bool, *, failed: int, rand: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before repeating an attempt that got no answer, after
        ``failed`` failed attempts; ``None``: do not repeat it."""
        if not transient or failed >= self.max_attempts:
            return None
        return self.backoff(failed, rand=rand)

    def status_delay(
        self,
        status: int,
        retry_after: float | None,
        *,
        failed: int,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before repeating an attempt answered with ``status``, after
        ``failed`` failed attempts; ``None``: do not repeat it.

        ``retry_after`` is the answer's ``Retry-After`` in seconds (see
        :meth:`honoured_retry_after`). It replaces the backoff; one longer than
        ``max_retry_after`` is not waited out early (Rule 4): the caller raises.
        """
        if not self.should_retry_status(status) or failed >= self.max_attempts:
            return None
        if retry_after is None:
            return self.backoff(failed, rand=rand)
        return retry_after if retry_after <= self.max_retry_after else None

    def honoured_retry_after(self, header: str | None, *, now: datetime) -> float | None:
        """The seconds a ``Retry-After`` header asks for, if this policy respects it."""
        if not self.respect_retry_after:
            return None
        return parse_retry_after(header, now=now)


class CoolDown:
    """A pause shared by every request of one client, set by the service's ``Retry-After``.

    ``extend(seconds)`` pushes the end of the pause out (never in); ``wait()`` returns once
    the pause is over. Requests already waiting see an extension made while they wait.
    """

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._until = 0.0

    @property
    def remaining(self) -> float:
        """Seconds left in the current pause (0.0 when there is none)."""
        return max(0.0, self._until - self._clock())

    def extend(self, seconds: float) -> None:
        """Make every request wait at least ``seconds`` from now."""
        self._until = max(self._until, self._clock() + seconds)

    async def wait(self) -> None:
        """Return once no pause is in force."""
        while (left := self.remaining) > 0:
            await self._sleep(left)

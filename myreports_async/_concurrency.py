"""How many API attempts may be in flight at once: an AIMD window shared by one client.

Every attempt of every request takes a slot before it is sent and gives it back with its
outcome. The window adapts like TCP's congestion window, with the service's 429 as the
congestion signal:

Rule 1: a 429 halves the window (multiplicative decrease), once per burst: the attempts
        sent before the decrease were sent into the same full window, and their 429s say
        nothing new, so only the first of them counts.
Rule 2: the window is halved from what was really in flight, not from its nominal size,
        so a window that was never filled cannot stay above the demand after a 429.
Rule 3: a success grows the window by one (additive increase), but only while requests
        are waiting for a slot: a window larger than the demand would grow without
        bound and then take many 429s to come back down. So the window never grows
        past the read-ahead (``prefetch``) that fills it. Like a 429, a success counts
        only if it was sent in the current window: one sent before the last decrease
        says nothing about the smaller window (without this, the success that came back
        beside a 429 would undo the decrease at once). And the first success after a
        decrease only confirms the new window: it was most likely sent just as the
        service's ``Retry-After`` pause ended, when the service had room again, so it
        says nothing about whether the window may grow.
Rule 4: below one request in flight, the window paces: with window ``w`` the next attempt
        waits ``(1/w - 1)`` times the last attempt's duration after it, so that a limit
        of fewer requests per second than one sequential client sends is met too. There
        a success grows the window by a 64th of itself, so that a limit found at ``w``
        is probed again only after about 45 successes: few 429s, at the cost of running
        below the limit for a while after each one (the trade-off is measured in
        docs/performance.md).
Rule 5: the window never goes below ``floor`` or above ``ceiling``.

The ``Retry-After`` pause (``_retry.CoolDown``) is separate and still shared: the window
decides how many attempts may be out at once, the cool-down decides when any may start.
Time is injected (``clock``, ``sleep``) so tests never really wait.
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from collections import deque

import attrs

from ._retry import Clock, Sleep

__all__ = ["AdaptiveConcurrency", "Outcome", "Ticket"]

#: The largest window: far above any read-ahead, so that only the demand bounds it.
DEFAULT_CEILING = 64.0
#: The smallest window: one attempt every 32 attempt durations.
DEFAULT_FLOOR = 1 / 32
#: Below one slot, a success grows the window by this fraction of itself (Rule 4).
PACED_GROWTH = 1 / 64


class Outcome(enum.Enum):
    """What an attempt told the limiter."""

    SUCCESS = "success"  # a 2xx answer: the service kept up
    THROTTLED = "throttled"  # a 429: too many requests
    NEUTRAL = "neutral"  # anything else (5xx, a dropped connection, cancellation)


@attrs.frozen
class Ticket:
    """A slot held by one attempt: when it was taken, and in which decrease epoch."""

    epoch: int
    started: float


class AdaptiveConcurrency:
    """An AIMD limit on the API attempts of one client in flight at once.

    Args:
        ceiling: the largest window (also the starting one).
        floor: the smallest window; below 1 the window paces attempts (Rule 4).
        adaptive: ``False`` keeps the window at ``ceiling`` whatever happens (for
            comparison in benchmarks).
        clock: seconds, monotonic.
        sleep: awaited to pace attempts.

    Example::

        limiter = AdaptiveConcurrency()
        ticket = await limiter.acquire()
        try:
            answer = await send()
        finally:
            limiter.release(ticket, Outcome.SUCCESS if answer.ok else Outcome.NEUTRAL)
    """

    def __init__(
        self,
        *,
        ceiling: float = DEFAULT_CEILING,
        floor: float = DEFAULT_FLOOR,
        adaptive: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 < floor <= ceiling or not math.isfinite(ceiling):
            raise ValueError(f"need 0 < floor <= ceiling < inf, got {floor!r}, {ceiling!r}")
        self._ceiling = float(ceiling)
        self._floor = float(floor)
        self._adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._window = float(ceiling)
        self._in_flight = 0
        self._waiting = 0
        self._epoch = 0
        self._confirmed = True  # whether a success has come back since the last decrease
        self._not_before = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return (
            f"<AdaptiveConcurrency window={self._window:g} in_flight={self._in_flight} "
            f"waiting={self._waiting}>"
        )

    @property
    def window(self) -> float:
        """The current window: attempts allowed in flight (a fraction below 1: pacing)."""
        return self._window

    @property
    def in_flight(self) -> int:
        """Attempts holding a slot now."""
        return self._in_flight

    @property
    def slots(self) -> int:
        """How many attempts may be in flight at once now (at least 1)."""
        return max(1, int(self._window))

    async def acquire(self) -> Ticket:
        """Wait for a slot (and, below a window of 1, for the pacing gap); take it."""
        self._waiting += 1
        try:
            while True:
                if self._in_flight < self.slots:
                    gap = self._not_before - self._clock()
                    if gap <= 0:
                        break
                    await self._sleep(gap)
                    continue
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    # Woken or cancelled, this waiter is done with its place in the queue.
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        finally:
            self._waiting -= 1
        self._in_flight += 1
        return Ticket(self._epoch, self._clock())

    def release(self, ticket: Ticket, outcome: Outcome) -> None:
        """Give the slot back, adapting the window to what the attempt found."""
        self._in_flight -= 1
        if self._adaptive:
            if outcome is Outcome.THROTTLED:
                self._on_throttled(ticket)
            elif outcome is Outcome.SUCCESS and ticket.epoch == self._epoch:
                self._on_success()
            if self._window < 1:
                now = self._clock()
                duration = max(0.0, now - ticket.started)
                self._not_before = max(self._not_before, now + duration * (1 / self._window - 1))
        # Every waiter checks again, in the order they came (their wake-ups run in order),
        # so the earliest page request gets the slot first.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _on_throttled(self, ticket: Ticket) -> None:
        if ticket.epoch != self._epoch:
            return  # Rule 1: sent before the last decrease; already accounted for
        used = min(self._window, float(self._in_flight + 1))  # Rule 2, counting this one
        self._window = max(self._floor, used / 2)
        self._epoch += 1
        self._confirmed = False

    def _on_success(self) -> None:
        if not self._confirmed:
            self._confirmed = True
        elif self._window < 1:
            self._window = min(1.0, self._window * (1 + PACED_GROWTH))  # Rule 4
        elif self._waiting > 0:  # Rule 3: only a window that limits may grow
            self._window = min(self._ceiling, self._window + 1)

"""The client's limiter: how many API attempts may be out at once, and how fast they start.

Every attempt of every request takes a slot before it is sent and gives it back with its
outcome. A service's gateway limits a *rate* (a token bucket: so many requests a second,
with a burst), so the limiter models one: it learns the bucket's rate and burst from the
refusals and the successes, and paces attempts to it. The rules:

Rule 1 (signals): a 429, or a 503 (an overloaded service or a gateway's default refusal,
        nginx's ``limit_req`` answers 503), says "too fast"; a 2xx says "accepted";
        anything else (another 5xx, a dropped connection, cancellation) says nothing.
Rule 2 (once per burst): a refusal counts only if its attempt was sent after the last
        counted one: attempts sent together into a full bucket are refused together, and
        their refusals say nothing new.
Rule 3 (no limit until one is seen): until the first refusal nothing is paced and up to
        ``max_concurrency`` attempts may be out, so a service without a limit is served
        as fast as the demand asks.
Rule 4 (the rate is measured over whole cycles): a refusal means the gateway's bucket is
        empty at that moment. The rate is estimated when the pause it brought is over,
        as the successes since the previous refusal divided by the time since then,
        pause included: the tokens that refill during the pause are spent after it, so
        this is what the service grants per second. The span is at least the pause the
        refusal asked for (``Retry-After``), or ``MIN_SPAN`` when it asked for none or
        for 0. The first refusal has no previous one: its span starts at the first
        attempt, so what the full bucket let through at once counts as spread over the
        pause (a gateway's burst is usually about what refills in it), and is taken as
        the burst. A first refusal with nothing accepted before it tells no rate (the
        service may be down, or another process emptied the bucket): nothing is paced
        yet, and the next span starts with the next attempt.
Rule 5 (decrease): after a later refusal the rate is the measured one, but at least
        ``BACK_OFF`` times the rate that was refused (a long span at a lower rate, or a
        pause longer than the burst refills, makes the measure too low), and never more
        than the refused rate.
Rule 6 (pacing): attempts draw from a model of the gateway's bucket (the estimated rate
        and burst): the model is emptied by each counted refusal, refills during the
        pause, and after it lets a burst out at once, as the real bucket would; then one
        attempt per ``1/rate``. So the ``Retry-After`` pause costs no throughput, and no
        attempt is sent into a bucket the model says is empty.
Rule 7 (probe): while attempts wait for the pace, the rate creeps up from the last
        estimate, slowly at first and faster with time (``PROBE`` times the square of the
        seconds since the estimate): a gateway's limit is usually fixed, so a refusal
        costs more than a little time below the limit; the next refusal measures again.
Rule 8 (concurrency): a counted refusal halves the window of attempts in flight (from
        what was really in flight); a success sent in the current window grows it by one
        while attempts wait, never past ``max_concurrency``; it never goes below one.

The ``Retry-After`` pause (``cool_down``, a :class:`._retry.CoolDown`) belongs to the
limiter too: it is the same service's limit, so whoever shares the limiter shares the
pause. Time is injected (``clock``, ``sleep``) so tests never really wait.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque

import attrs

from ._retry import Clock, CoolDown, Sleep

__all__ = ["Outcome", "RateLimiter", "Ticket"]

#: The most attempts in flight at once: far above any read-ahead, so only the demand bounds it.
DEFAULT_MAX_CONCURRENCY = 64
#: The shortest span a rate is measured over when no pause was asked for, seconds (Rule 4).
MIN_SPAN = 1.0
#: After a refusal, the rate is at least this share of the refused rate (Rule 5).
BACK_OFF = 0.85
#: The growth of the rate while attempts wait, per square second since the estimate (Rule 7).
PROBE = 0.02
#: After the first refusal's guess, the rate doubles every this many seconds (Rule 7).
DOUBLING = 1.0
#: The slowest pace, requests per second: one every 16 seconds.
MIN_RATE = 1 / 16


class Outcome(enum.Enum):
    """What an attempt told the limiter."""

    SUCCESS = "success"  # a 2xx answer: accepted
    THROTTLED = "throttled"  # a 429 or a 503: too fast
    NEUTRAL = "neutral"  # anything else (another 5xx, a dropped connection, cancellation)


@attrs.frozen
class Ticket:
    """A slot held by one attempt: when it was taken, and in which refusal epoch."""

    epoch: int
    started: float


class RateLimiter:
    """Paces the API attempts of one or several clients to a service's rate limit.

    One limiter stands for one limit: a client makes its own unless it is given one, and
    clients that share a limit (one per tenant in a web app, against the same tenant and
    region) share it by passing the same limiter::

        limiter = RateLimiter()
        async with (
            MyReportsClient(token_a, rate_limiter=limiter) as a,
            MyReportsClient(token_b, rate_limiter=limiter) as b,
        ):
            ...

    It learns the limit from the service's refusals (429, or 503) and its successes, and
    waits out any ``Retry-After`` pause for every request that shares it. Its rules are
    in the module ``myreports_async._concurrency``.

    Args:
        max_concurrency: the most attempts in flight at once.
        adaptive: ``False`` keeps ``max_concurrency`` attempts out whatever the service
            answers and never paces (the ``Retry-After`` pause is still shared): what the
            client did before it learned rates, for comparison.
        clock: seconds, monotonic.
        sleep: awaited to pace attempts.

    The limiter belongs to one event loop at a time (like a client).
    """

    def __init__(
        self,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        adaptive: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError("max_concurrency must be an int")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency!r}")
        self.cool_down = CoolDown(clock=clock, sleep=sleep)
        """The ``Retry-After`` pause shared by everything that uses this limiter."""
        self._ceiling = float(max_concurrency)
        self._adaptive = adaptive
        self._clock = clock
        self._sleep = sleep
        self._window = self._ceiling
        self._in_flight = 0
        self._waiting = 0
        self._epoch = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        # The model of the gateway's bucket (Rule 6); no rate: no limit seen yet (Rule 3).
        self._rate: float | None = None
        self._burst = 1.0
        self._level = 0.0
        self._level_at = 0.0
        # The measure (Rule 4): successes since `_span_from`, the last counted refusal (or
        # the first attempt); `_refused_rate` is set while a refusal waits for its pause.
        self._span_from: float | None = None
        self._accepted = 0
        self._pending = False
        self._refused_rate: float | None = None
        self._refused_at = 0.0
        self._asked: float | None = None  # the Retry-After of the last counted refusal
        # The probe (Rule 7): the last estimate, and when it was made.
        self._base_rate = 0.0
        self._base_at = 0.0
        self._guessed = False  # whether the estimate is the first refusal's guess

    def __repr__(self) -> str:
        rate = "none" if self._rate is None else f"{self._rate:.3g}/s"
        return (
            f"<RateLimiter rate={rate} window={self._window:g} in_flight={self._in_flight} "
            f"waiting={self._waiting}>"
        )

    @property
    def rate(self) -> float | None:
        """The rate attempts are paced to, in requests per second; ``None``: no limit seen."""
        return self._rate

    @property
    def window(self) -> float:
        """How many attempts may be in flight at once now."""
        return self._window

    @property
    def in_flight(self) -> int:
        """Attempts holding a slot now."""
        return self._in_flight

    async def acquire(self) -> Ticket:
        """Wait for the pause, a slot and the pace; take the slot (internal)."""
        self._waiting += 1
        try:
            while True:
                await self.cool_down.wait()
                now = self._clock()
                if self._pending:
                    self._estimate(now)
                if self._in_flight >= max(1, int(self._window)):
                    await self._wait_for_release()
                    continue
                gap = self._gap(now)
                if gap > 0:
                    await self._sleep(gap)
                    continue
                break
        finally:
            self._waiting -= 1
        if self._rate is not None:
            self._level -= 1
        if self._span_from is None:
            self._span_from = now
        self._in_flight += 1
        return Ticket(self._epoch, now)

    def release(self, ticket: Ticket, outcome: Outcome, retry_after: float | None = None) -> None:
        """Give the slot back with what the attempt found (internal); ``retry_after``: the
        pause a refusal asked for, in seconds."""
        self._in_flight -= 1
        if self._adaptive:
            now = self._clock()
            current = ticket.epoch == self._epoch
            if outcome is Outcome.SUCCESS:
                self._accepted += 1
                if current and self._waiting > 0:
                    self._window = min(self._ceiling, self._window + 1)  # Rule 8
                    self._probe(now)
            elif outcome is Outcome.THROTTLED and current:
                self._on_refused(now, retry_after)
        # Every waiter checks again, in the order they came (their wake-ups run in order),
        # so the earliest page request gets the slot first.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_for_release(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            # Woken or cancelled, this waiter is done with its place in the queue.
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _gap(self, now: float) -> float:
        """Seconds until the model's bucket holds a whole request (Rule 6)."""
        rate = self._rate
        if rate is None:
            return 0.0
        self._level = min(self._burst, self._level + (now - self._level_at) * rate)
        self._level_at = now
        # A hair's breadth short of a whole request counts as one: float sums of refills
        # fall short by a rounding error, and a sleep that short would never end the wait.
        return 0.0 if self._level >= 1 - 1e-9 else (1 - self._level) / rate

    def _on_refused(self, now: float, retry_after: float | None) -> None:
        used = min(self._window, float(self._in_flight + 1))  # counting this attempt
        self._window = max(1.0, used / 2)  # Rule 8
        self._epoch += 1  # Rule 2
        if self._rate is not None:
            self._gap(now)  # settle the model at the old rate before emptying it
        self._level, self._level_at = 0.0, now  # the gateway's bucket is empty now
        if not self._pending:
            self._refused_rate = self._rate
        self._pending = True
        self._refused_at = now
        self._asked = retry_after

    def _estimate(self, now: float) -> None:
        """Rules 4 and 5, once the pause after a counted refusal is over."""
        self._pending = False
        start = self._span_from if self._span_from is not None else now
        asked = self._asked
        shortest = asked if asked is not None and asked > 0 else MIN_SPAN
        measured = self._accepted / max(shortest, now - start)
        refused = self._refused_rate
        if refused is None and self._accepted == 0:
            # Refused with nothing accepted: a service that is down, or a bucket someone
            # else emptied. No rate can be told from that; measure from the next attempt.
            self._span_from = None
            return
        if refused is None:
            # The first refusal: what got through before it is the burst (Rule 4).
            self._burst = max(1.0, float(self._accepted))
            rate = measured
            self._guessed = True
        else:
            self._guessed = False
            rate = min(refused, max(measured, BACK_OFF * refused))
        rate = max(MIN_RATE, rate)
        if self._rate is not None:
            self._gap(now)  # refill the model up to now at the old rate
        self._rate = rate
        self._level = min(self._burst, (now - self._refused_at) * rate)
        self._level_at = now
        self._base_rate, self._base_at = rate, now
        self._span_from = self._refused_at
        self._accepted = 0

    def _probe(self, now: float) -> None:
        """Rule 7: let the rate creep up while attempts wait for the pace."""
        if self._rate is None or self._pending:
            return
        self._gap(now)  # the model refills at the old rate up to now
        elapsed = now - self._base_at
        if self._guessed:
            self._rate = self._base_rate * 2 ** (elapsed / DOUBLING)
        else:
            self._rate = self._base_rate * (1 + PROBE * elapsed * elapsed)

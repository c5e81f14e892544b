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
Rule 3 (slow start): until the first refusal nothing is paced; the window of attempts in
        flight starts at ``SLOW_START`` and grows by one per success while attempts wait
        (it doubles per round trip), up to ``max_concurrency``. Sending the whole
        read-ahead into a bucket nothing is known about would have most of it refused at
        once (8 into nginx's burst of 5, 64 into anything); a service without a limit
        pays about two round trips for it.
Rule 4 (the first refusal: a guess): a refusal means the gateway's bucket is empty. The
        first one has no rate to pace by, so its pause is shared (Rule 9); when it is
        over, what passed since the first attempt, spread over the time since it (at
        least the time up to the refused attempt plus the pause it asked for, or
        ``MIN_SPAN`` when it asked for none or for 0), is the rate, and is taken as
        the burst (a gateway's burst is usually about what refills in the pause). The
        burst is what passed of the attempts sent before the refused one, less what
        refilled meanwhile at that rate (nginx delays its burst of 5 and refuses at
        once: 9 had passed, 7.6 of them the burst by the guessed 7.6/s). A first
        refusal with nothing accepted before it tells no rate (the service may be down,
        or another process emptied the bucket): nothing is paced yet, and the next span
        starts with the next attempt.
Rule 5 (later refusals: a measure): the bucket is empty when each counted refusal's
        attempt arrives, so what passed between two of them (counted by when attempts
        were sent, refused ones left out) is what refilled: divided by the time between
        them it is a lower bound of the rate (exact while the bucket never overflowed,
        low if it did, e.g. in a pause longer than its burst lasts). The latest attempts
        tell it too: what passed over any stretch of at least ``MIN_SPAN`` before the
        refusal, less the burst the bucket may have held at its start, over its length;
        the best of these is taken (a low first guess leaves a slow start to the span,
        which the whole span's figure would average in). The first measure also
        settles the burst of Rule 4 with the whole span's rate, before the latest. The
        new rate is never above the rate that was refused, never below ``FLOOR`` times
        the estimate before it; a span with fewer than ``MIN_COUNT`` successes is too
        short to measure, and the rate becomes ``BACK_OFF`` times the refused one, or
        less if the span caps it: the bucket was empty at both ends, so fewer than one
        more than what passed refilled in between (a first guess three times too high,
        from a fractional ``Retry-After``, comes down in four refusals, not seven).
Rule 6 (pacing): attempts draw from a model of the gateway's bucket (the estimated rate
        and burst): the model is emptied by each counted refusal, refills at the rate,
        and lets a burst out at once when it is full, as the real bucket would; then one
        attempt per ``1/rate``. No attempt is sent into a bucket the model says is empty.
        After a lull that filled the model's bucket past its burst (half a request or
        more spilled since the span began; e.g. a listing held up by a page waiting its
        ``Retry-After``), the real bucket overflowed too (it is no larger and refills no
        faster, as the estimates are lower bounds): what passed is low, and a refusal
        says the probe went too far or the burst is too large. The burst drops by what
        was left behind the attempt (one at least), and the rate goes back to the
        estimate the probe started from (or the measure, if higher). Once the burst is
        down to one, a lull explains nothing more: the estimate was too high (a guess
        can be), and the measure is the rate. Without a lull, a
        refusal of an attempt the model let out of a burst (it did not wait for the
        pace) says the real bucket is smaller than the model's when the measure agrees
        with the rate (``BACK_OFF``): the burst drops the same way and the rate stays.
        Otherwise the measure is the rate.
Rule 7 (probe): while attempts wait for the pace, the rate creeps up from the last
        estimate, by the time attempts spent waiting for the pace only (a client slower
        than the rate learns nothing by going faster in theory). After the first
        refusal's guess, which may be far too low (nginx's burst of 5 at 20/s), it
        doubles every ``DOUBLING`` seconds of it; after a measure, which is close, it
        grows by ``PROBE`` times the square of those seconds: a refusal in about 8 s at
        the limit, and a higher limit is found in time.
Rule 8 (concurrency): a counted refusal halves the window of attempts in flight (from
        what was really in flight); a success sent in the current window grows it by one
        while attempts wait, never past ``max_concurrency``; it never goes below one.
Rule 9 (the pause a refusal asks for): the refused attempt always waits its
        ``Retry-After`` (or its backoff without one) before it is repeated, as RFC 9110
        asks. Other attempts wait it too (``cool_down``, shared) only while the limiter
        has no rate: then nothing else says when the bucket holds a request again. Once it
        has one, the model, emptied by the refusal and refilling at the rate, is the
        pause for new attempts: a gateway that says ``Retry-After: 1`` refills during that
        second, and a pause of the whole second wastes what refills beyond its burst
        (nginx: 15 of 20 requests each time).

The ``Retry-After`` pause (``cool_down``, a :class:`._retry.CoolDown`) belongs to the
limiter too: it is the same service's limit, so whoever shares the limiter shares the
pause. Attempts take their slots one at a time, in the order their requests began (a
listing asks for its pages in page order): a refused page's repeat goes before the pages
after it, so the listing is not held up while every later page goes first. Time is
injected (``clock``, ``sleep``) so tests never really wait.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import time
from collections import deque

import attrs

from ._retry import Clock, CoolDown, Sleep

__all__ = ["Outcome", "RateLimiter", "RequestPause", "Ticket"]

#: The most attempts in flight at once: far above any read-ahead, so only the demand bounds it.
DEFAULT_MAX_CONCURRENCY = 64
#: The window of attempts in flight before anything is known of the limit (Rule 3).
SLOW_START = 2
#: The shortest span the first rate is guessed over when no pause was asked for (Rule 4),
#: and the shortest stretch of the latest attempts a rate is measured over (Rule 5).
MIN_SPAN = 1.0
#: How far the whole span's measure may be under the one after the pause (Rule 5); the
#: rate after a refusal too short to measure, as a share of the refused rate.
BACK_OFF = 0.85
#: A refusal never lowers the rate below this share of the refused rate (Rule 5).
FLOOR = 0.5
#: The fewest successes a measure is made from (Rule 5).
MIN_COUNT = 4
#: The growth of a measured rate while attempts wait, per square second (Rule 7).
PROBE = 0.001
#: After the first refusal's guess, the rate doubles every this many seconds (Rule 7).
DOUBLING = 1.0
#: How many of the latest attempts' send times a measure looks back over (Rule 5).
SENDS_KEPT = 1024
#: The slowest pace, requests per second: one every 16 seconds.
MIN_RATE = 1 / 16


class Outcome(enum.Enum):
    """What an attempt told the limiter."""

    SUCCESS = "success"  # a 2xx answer: accepted
    THROTTLED = "throttled"  # a 429 or a 503: too fast
    NEUTRAL = "neutral"  # anything else (another 5xx, a dropped connection, cancellation)


@attrs.frozen
class Ticket:
    """A slot held by one attempt: when it was taken, in which refusal epoch, and what
    the model's bucket held once it was taken."""

    epoch: int
    started: float
    left: float = 0.0
    seq: int = 0  # how many attempts were sent before this one
    paced: bool = False  # whether it waited for the model's bucket to refill


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
    starts with a small window that doubles per round trip until the first refusal. A
    refused attempt waits its ``Retry-After``; the others wait it too until a rate is
    known, then only as long as the learned rate says. Its rules are in the module
    ``myreports_async._concurrency``.

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
        self._window = min(self._ceiling, SLOW_START) if adaptive else self._ceiling  # Rule 3
        self._in_flight = 0
        self._waiting = 0
        self._epoch = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        # One attempt at a time waits for the pause, the window and the pace (it holds
        # the turn); the others queue behind it in the order their requests began, so
        # pages go out in page order, and a refused page's repeat goes before the pages
        # after it: sleepers racing for the pace would send pages far ahead first (past
        # the end of a listing at prefetch 64), and a repeat behind them would hold the
        # listing up for the whole queue.
        self._turn_held = False
        self._turn_queue: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap
        self._orders = 0  # requests begun: the order of the next one
        self._queued = 0
        # The model of the gateway's bucket (Rule 6); no rate: no limit seen yet.
        self._rate: float | None = None
        self._burst = 1.0
        self._level = 0.0
        self._level_at = 0.0
        # The measure (Rules 4 and 5) counts attempts by when they were sent: `_sent`
        # attempts so far; the span from `_span_from` (when the last counted refusal, or
        # the first attempt, was sent; attempt `_span_seq`); `_refusals`: the attempts
        # refused in the span. `_resume_at`: the end of the pause, or the last estimate.
        self._sent = 0
        self._span_from: float | None = None
        self._span_seq = 0
        self._accepted = 0  # successes answered since the span began (the first guess)
        self._resume_at = 0.0
        self._refusals: list[int] = []
        # Once a rate is known: when the latest attempts were sent (attempt, time).
        self._sends: deque[tuple[int, float]] = deque(maxlen=SENDS_KEPT)
        # The first refusal waits for its shared pause to be over (Rule 4).
        self._pending = False
        self._refused_at = 0.0
        self._first_refused = Ticket(0, 0.0)
        self._before_refused = 0  # attempts that passed, sent before the first refusal
        self._discovery = 0.0  # seconds from the first attempt to the first refused one
        self._asked: float | None = None  # the Retry-After of the first refusal
        # The probe (Rule 7): the last estimate, and the paced time when it was made;
        # `_paced`: seconds attempts waited for the pace (the rate was what held them).
        self._base_rate = 0.0
        self._base_paced = 0.0
        self._paced = 0.0
        self._spilled = 0.0  # requests the model's full bucket could not hold, since then
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

    def request_pause(self) -> RequestPause:
        """The pause of one request, for its retry loop (internal; Rule 9)."""
        return RequestPause(self)

    def _shares_pause(self) -> bool:
        """Whether a refusal's pause holds every attempt (Rule 9): only without a rate."""
        return self._rate is None

    def next_order(self) -> int:
        """The place of a new request in the queue for slots (internal): its attempts,
        repeats included, go before those of requests begun later."""
        self._orders += 1
        return self._orders

    async def acquire(self, order: int | None = None) -> Ticket:
        """Wait for the pause, a slot and the pace; take the slot (internal). ``order``:
        the request's place (:meth:`next_order`); a new one without it."""
        self._waiting += 1
        try:
            await self._take_turn(self.next_order() if order is None else order)
            paced = False
            try:
                while True:
                    await self.cool_down.wait()
                    now = self._clock()
                    if self._pending:
                        self._guess(now)
                    if self._in_flight >= max(1, int(self._window)):
                        await self._wait_for_release()
                        continue
                    gap = self._gap(now)
                    if gap > 0:
                        paced = True
                        await self._sleep(gap)
                        continue
                    break
            finally:
                self._pass_turn()
        finally:
            self._waiting -= 1
        if self._rate is not None:
            self._level -= 1
            self._sends.append((self._sent, now))
        if self._span_from is None:
            self._span_from, self._span_seq = now, self._sent
        self._in_flight += 1
        self._sent += 1
        return Ticket(self._epoch, now, max(0.0, self._level), self._sent - 1, paced)

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
                    self._window = min(self._ceiling, self._window + 1)  # Rules 3 and 8
                    self._probe(now)
            elif outcome is Outcome.THROTTLED:
                self._refusals.append(ticket.seq)
                if current:
                    self._on_refused(now, retry_after, ticket)
        # Every waiter checks again, in the order they came (their wake-ups run in order),
        # so the earliest page request gets the slot first.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def _take_turn(self, order: int) -> None:
        if not self._turn_held and not self._turn_queue:
            self._turn_held = True
            return
        self._queued += 1
        entry = (order, self._queued, asyncio.get_running_loop().create_future())
        heapq.heappush(self._turn_queue, entry)
        try:
            await entry[2]
        except BaseException:
            if entry[2].cancelled():
                # Cancelled while queued: it gives up its place.
                self._turn_queue.remove(entry)
                heapq.heapify(self._turn_queue)
            else:
                self._pass_turn()  # handed the turn, then cancelled: the next one has it
            raise

    def _pass_turn(self) -> None:
        """Hand the turn to the earliest request queued for it, or let it go."""
        while self._turn_queue:
            _, _, waiter = heapq.heappop(self._turn_queue)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._turn_held = False

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
        if self._level < 1:
            # Until the model held a whole request again, the pace held attempts back.
            self._paced += min(now - self._level_at, (1 - self._level) / rate)
        level = self._level + (now - self._level_at) * rate
        self._spilled += max(0.0, level - self._burst)
        self._level = min(self._burst, level)
        self._level_at = now
        # A hair's breadth short of a whole request counts as one: float sums of refills
        # fall short by a rounding error, and a sleep that short would never end the wait.
        return 0.0 if self._level >= 1 - 1e-9 else (1 - self._level) / rate

    def _passed(self, since: int, until: int) -> int:
        """Attempts sent from attempt ``since`` up to (not with) ``until``, less those
        refused: what the gateway's bucket let through then."""
        refused = sum(1 for seq in self._refusals if since <= seq < until)
        return until - since - refused

    def _on_refused(self, now: float, retry_after: float | None, ticket: Ticket) -> None:
        used = min(self._window, float(self._in_flight + 1))  # counting this attempt
        self._window = max(1.0, used / 2)  # Rule 8
        self._epoch += 1  # Rule 2
        refused = self._rate
        if refused is None:
            # No rate yet: the pause is shared; the guess waits for its end (Rule 4).
            if not self._pending:
                self._before_refused = self._passed(self._span_seq, ticket.seq)
                self._first_refused = ticket
            self._pending = True
            self._refused_at = now
            self._asked = retry_after
            return
        self._gap(now)  # settle the model at the old rate before emptying it
        measured = self._measure(ticket, refused)
        if self._spilled >= 0.5 and self._burst > 1:
            # After a lull the real bucket overflowed (the model's did, and the real one
            # is no larger and refills no slower): what passed is low. The probe went too
            # far or the burst is too large (Rule 6).
            self._shrink_burst(ticket)
            rate = min(refused, max(measured, self._base_rate))
            self._set_rate(now, rate, level=0.0, guessed=self._guessed)
        elif not ticket.paced and self._burst > 1 and measured >= BACK_OFF * refused:
            # Sent out of a burst the real bucket did not have, at a rate the gateway kept
            # up with (Rule 6): the burst is smaller, the rate stands; the model is empty
            # like the real bucket.
            self._shrink_burst(ticket)
            self._level, self._level_at = 0.0, now
            self._resume(now)
        else:
            rate = max(MIN_RATE, FLOOR * self._base_rate, min(measured, self._bound(ticket)))
            self._set_rate(now, rate, level=0.0, guessed=False)
        self._begin_span(ticket)

    def _shrink_burst(self, refused: Ticket) -> None:
        """Rule 6: the real bucket held less than the model's burst."""
        self._burst = max(1.0, self._burst - max(1.0, refused.left))

    def _resume(self, now: float) -> None:
        """After a pause or a refusal: the model has spilled nothing since."""
        self._resume_at, self._spilled = now, 0.0

    def _begin_span(self, refused: Ticket) -> None:
        """The next measure counts from this refused attempt (Rule 5)."""
        self._span_from, self._span_seq = refused.started, refused.seq
        self._refusals = [seq for seq in self._refusals if seq >= refused.seq]
        while self._sends and self._sends[0][0] < refused.seq:
            self._sends.popleft()

    def _measure(self, ticket: Ticket, refused: float) -> float:
        """Rule 5: the rate a later refusal tells, from what passed before it."""
        end = ticket.started
        passed = self._passed(self._span_seq, ticket.seq)
        start = self._span_from if self._span_from is not None else self._resume_at
        if passed < MIN_COUNT or end <= start:
            return max(MIN_RATE, BACK_OFF * refused)
        whole = min(refused, passed / (end - start))
        if self._guessed:
            # The first measure also tells the burst the first refusal found: what had
            # passed before it, less what refilled meanwhile at the whole span's rate.
            # That rate is a lower bound, so the burst is if anything too large, and
            # the latest attempts less it still tell a lower bound.
            found = self._before_refused - whole * self._discovery
            self._burst = min(self._burst, max(1.0, found))
        measured = min(refused, max(whole, self._latest(ticket)))
        return max(MIN_RATE, FLOOR * self._base_rate, measured)

    def _bound(self, ticket: Ticket) -> float:
        """Rule 5: a span too short to measure still caps the rate: the bucket was empty
        at both ends, so fewer than one more than what passed refilled in between."""
        passed = self._passed(self._span_seq, ticket.seq)
        start = self._span_from
        if passed >= MIN_COUNT or start is None or ticket.started <= start:
            return float("inf")
        return (passed + 1) / (ticket.started - start)

    def _latest(self, ticket: Ticket) -> float:
        """Rule 5: the best rate the latest attempts before ``ticket`` tell, over at least
        ``MIN_SPAN``: what passed, less a burst the bucket may have held at the start."""
        refused = set(self._refusals)
        best = count = 0.0
        for seq, started in reversed(self._sends):
            if seq < self._span_seq:
                break
            if seq >= ticket.seq:
                continue
            if seq not in refused:
                count += 1
            span = ticket.started - started
            if span >= MIN_SPAN:
                best = max(best, (count - self._burst) / span)
        return best

    def _guess(self, now: float) -> None:
        """Rule 4, once the shared pause after the first refusal is over."""
        self._pending = False
        if self._accepted == 0:
            # Refused with nothing accepted: a service that is down, or a bucket someone
            # else emptied. No rate can be told from that; measure from the next attempt.
            self._span_from = None
            self._refusals.clear()
            return
        start = self._span_from if self._span_from is not None else now
        asked = self._asked
        shortest = asked if asked is not None and asked > 0 else MIN_SPAN
        first = self._first_refused
        before = first.started - start
        rate = max(MIN_RATE, self._accepted / max(now - start, before + shortest))
        # What had passed before the refused attempt, less what refilled meanwhile.
        self._burst = max(1.0, self._before_refused - rate * before)
        self._discovery = before
        self._set_rate(now, rate, level=min(self._burst, (now - self._refused_at) * rate))
        self._begin_span(first)  # the next measure counts from the refusal

    def _set_rate(self, now: float, rate: float, *, level: float, guessed: bool = True) -> None:
        """A new estimate: the model's bucket holds ``level`` now; the next span starts."""
        self._rate = rate
        self._level, self._level_at = level, now
        self._base_rate, self._base_paced = rate, self._paced
        self._guessed = guessed
        self._resume(now)

    def _probe(self, now: float) -> None:
        """Rule 7: let the rate creep up while attempts wait for the pace."""
        if self._rate is None or self._pending:
            return
        self._gap(now)  # the model refills at the old rate up to now
        elapsed = self._paced - self._base_paced
        if self._guessed:
            self._rate = self._base_rate * 2 ** (elapsed / DOUBLING)
        else:
            self._rate = self._base_rate * (1 + PROBE * elapsed * elapsed)


class RequestPause(CoolDown):
    """The pause of one request's retry loop (Rule 9): its own ``Retry-After`` or
    backoff, and the limiter's shared pause.

    ``extend`` makes this request wait; it holds every attempt of the limiter only while
    the limiter has no rate to pace them by.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        super().__init__(clock=limiter._clock, sleep=limiter._sleep)
        self._limiter = limiter
        self.order = limiter.next_order()
        """The request's place in the queue for slots (``RateLimiter.acquire``)."""

    @property
    def remaining(self) -> float:
        """Seconds left before this request may be repeated."""
        return max(super().remaining, self._limiter.cool_down.remaining)

    def extend(self, seconds: float) -> None:
        """Make this request wait at least ``seconds``, and every other one if no rate is
        known."""
        super().extend(seconds)
        if self._limiter._shares_pause():
            self._limiter.cool_down.extend(seconds)

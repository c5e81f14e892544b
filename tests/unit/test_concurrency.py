"""The rate limiter's rules, on a fake clock (nothing really waits)."""

from __future__ import annotations

import asyncio

import pytest

from myreports_async import RateLimiter
from myreports_async._concurrency import Outcome, Ticket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def limiter(
    clock: FakeClock, *, ceiling: int = 64, adaptive: bool = True, slow_start: bool = False
) -> RateLimiter:
    lim = RateLimiter(max_concurrency=ceiling, adaptive=adaptive, clock=clock, sleep=clock.sleep)
    if not slow_start:
        # Most rules are easier to see with the whole window open from the start (Rule 3
        # has its own tests below).
        lim._window = float(ceiling)
    return lim


async def hold(window: RateLimiter, count: int) -> list[Ticket]:
    return [await window.acquire() for _ in range(count)]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def burst_then_refusal(
    clock: FakeClock, lim: RateLimiter, accepted: int, *, pause: float = 1.0
) -> None:
    """``accepted`` attempts pass at once, the next is refused; the pause is waited."""
    tickets = await hold(lim, accepted + 1)
    clock.now += 0.02
    for ticket in tickets[:-1]:
        lim.release(ticket, Outcome.SUCCESS)
    lim.release(tickets[-1], Outcome.THROTTLED)
    lim.cool_down.extend(pause)


# --- Rule 3: slow start, nothing paced until a refusal ------------------------------------


async def test_the_window_starts_small_and_doubles_per_round_of_successes() -> None:
    clock = FakeClock()
    lim = limiter(clock, slow_start=True)
    assert lim.window == 2

    first = await hold(lim, 2)
    waiter = asyncio.create_task(hold(lim, 4))
    await settle()
    assert not waiter.done()  # a third attempt waits for the window
    for ticket in first:
        lim.release(ticket, Outcome.SUCCESS)  # each success while one waits: one more
    second = await waiter

    assert lim.window == 4
    assert lim.in_flight == 4
    assert (lim.rate, clock.slept) == (None, [])
    for ticket in second:
        lim.release(ticket, Outcome.NEUTRAL)


async def test_without_a_refusal_nothing_is_paced() -> None:
    clock = FakeClock()
    lim = limiter(clock)

    tickets = await hold(lim, 64)

    assert lim.rate is None
    assert clock.slept == []
    assert lim.in_flight == 64
    for ticket in tickets:
        lim.release(ticket, Outcome.SUCCESS)
    assert lim.rate is None


async def test_max_concurrency_bounds_attempts_in_flight() -> None:
    lim = limiter(FakeClock(), ceiling=2)
    tickets = await hold(lim, 2)
    waiter = asyncio.create_task(lim.acquire())
    await settle()
    assert not waiter.done()

    lim.release(tickets[0], Outcome.NEUTRAL)
    await settle()

    assert waiter.done()
    lim.release(waiter.result(), Outcome.NEUTRAL)
    lim.release(tickets[1], Outcome.NEUTRAL)


# --- Rules 4 and 6: the first refusal's estimate, the pause, the pace ----------------------


async def test_the_first_refusal_takes_what_passed_as_a_seconds_worth() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=20)

    ticket = await lim.acquire()  # waits the pause, then the estimate is made

    assert clock.now == pytest.approx(101.02)
    assert lim.rate == pytest.approx(20 / 1.02)
    lim.release(ticket, Outcome.SUCCESS)


async def test_after_the_pause_the_refilled_burst_goes_at_once_then_the_pace() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=5)
    lim.release(await lim.acquire(), Outcome.SUCCESS)  # the pause
    after_pause = clock.now
    rate = lim.rate
    assert rate is not None
    assert rate == pytest.approx(5 / 1.02)

    # The model's bucket refilled during the 1 s pause (4.9 requests): 3 more at once...
    for _ in range(3):
        lim.release(await lim.acquire(), Outcome.SUCCESS)
    assert clock.now == after_pause
    # ... then one attempt per 1/rate.
    lim.release(await lim.acquire(), Outcome.SUCCESS)
    before = clock.now
    lim.release(await lim.acquire(), Outcome.SUCCESS)
    assert clock.now - before == pytest.approx(1 / rate)


async def test_the_first_burst_counts_what_was_sent_before_the_refused_attempt() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    tickets = await hold(lim, 8)
    clock.now += 0.001
    # The sixth attempt is refused at once, while the five before it are still answered
    # (a gateway refuses without asking the service; the service takes its time).
    lim.release(tickets[5], Outcome.THROTTLED)
    lim.cool_down.extend(1.0)
    clock.now += 0.02
    for ticket in tickets[:5]:
        lim.release(ticket, Outcome.SUCCESS)
    for ticket in tickets[6:]:
        lim.release(ticket, Outcome.THROTTLED)

    await lim.acquire()

    assert lim.rate == pytest.approx(5 / 1.001)  # 5 passed by the end of the pause
    assert lim._burst == pytest.approx(5.0)  # not 0: nothing had been answered yet


async def test_refusals_sent_together_count_once() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    tickets = await hold(lim, 8)
    for ticket in tickets[:5]:
        lim.release(ticket, Outcome.SUCCESS)
    for ticket in tickets[5:]:
        lim.release(ticket, Outcome.THROTTLED)

    assert lim.window == 1.5  # halved once, from the 3 in flight at the first refusal
    await lim.acquire()
    assert lim.rate == pytest.approx(5.0)  # 5 accepted, counted over a second


async def test_a_refusal_with_nothing_accepted_tells_no_rate() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    ticket = await lim.acquire()
    lim.release(ticket, Outcome.THROTTLED)  # a service that is down answers 503 at once
    lim.cool_down.extend(0.5)

    await lim.acquire()

    assert lim.rate is None  # not paced: the backoff and the pause do the waiting


async def test_the_pause_asked_for_is_the_shortest_span() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    tickets = await hold(lim, 3)
    clock.now += 0.01
    lim.release(tickets[0], Outcome.SUCCESS)
    lim.release(tickets[1], Outcome.SUCCESS)
    lim.release(tickets[2], Outcome.THROTTLED, retry_after=0.1)
    lim.cool_down.extend(0.1)

    await lim.acquire()

    assert lim.rate == pytest.approx(2 / 0.11)  # not over MIN_SPAN: the service said 0.1 s


# --- Rule 5: a later refusal measures the rate ----------------------------------------------


async def test_a_later_refusal_measures_the_rate_between_refusals() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=10)  # guess: 10/s at 100.02
    # Paced, 24 attempts pass, then one is refused (no pause: Retry-After 0).
    for _ in range(24):
        ticket = await lim.acquire()
        lim.release(ticket, Outcome.SUCCESS)
    refused = await lim.acquire()
    rate_when_refused = lim.rate
    assert rate_when_refused is not None
    lim.release(refused, Outcome.THROTTLED)
    refused_at = clock.now

    await lim.acquire()

    assert refused_at == refused.started  # nothing here takes time to answer
    # Since the first refused attempt was sent (at 100.0), its pause included.
    measured = 24 / (refused.started - 100.0)
    assert measured < rate_when_refused
    assert lim.rate == pytest.approx(measured)


async def test_a_refusal_never_raises_the_rate() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=10)
    ticket = await lim.acquire()
    before = lim.rate
    assert before is not None

    lim.release(ticket, Outcome.THROTTLED)
    await lim.acquire()

    assert lim.rate is not None
    assert lim.rate <= before


async def test_a_neutral_outcome_changes_nothing() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=10)
    ticket = await lim.acquire()
    rate, window = lim.rate, lim.window

    lim.release(ticket, Outcome.NEUTRAL)

    assert (lim.rate, lim.window) == (rate, window)


# --- Rule 7: the probe ------------------------------------------------------------------


async def test_the_rate_creeps_up_only_while_attempts_wait() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=10)
    for _ in range(15):  # the model's burst, then paced: the pace holds attempts back
        lim.release(await lim.acquire(), Outcome.NEUTRAL)
    ticket = await lim.acquire()
    guess = lim.rate
    assert guess is not None

    lim.release(ticket, Outcome.SUCCESS)  # nobody waits: no growth
    assert lim.rate == guess

    first = await lim.acquire()
    waiter = asyncio.create_task(lim.acquire())
    await settle()
    lim.release(first, Outcome.SUCCESS)
    assert lim.rate is not None
    assert lim.rate > guess
    lim.release(await waiter, Outcome.SUCCESS)


async def test_the_probe_counts_only_the_time_the_pace_held_attempts_back() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=10)
    lim.release(await lim.acquire(), Outcome.NEUTRAL)
    guess = lim.rate
    assert guess is not None

    clock.now += 5  # a lull: the client had nothing to send, the pace held nothing back
    lim._probe(clock.now)
    assert lim.rate == guess

    slept = len(clock.slept)
    for _ in range(20):  # the model's burst at once, then paced
        lim.release(await lim.acquire(), Outcome.NEUTRAL)
    paced = sum(clock.slept[slept:])
    assert paced > 0.5
    lim._probe(clock.now)

    assert lim.rate == pytest.approx(guess * 2**paced)  # doubling per paced second


# --- Rule 8: the window -------------------------------------------------------------------


async def test_a_refusal_halves_what_was_in_flight() -> None:
    lim = limiter(FakeClock())
    tickets = await hold(lim, 8)

    lim.release(tickets[0], Outcome.THROTTLED)

    assert lim.window == 4


async def test_the_window_never_goes_below_one() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(5):
        ticket = await lim.acquire()
        lim.release(ticket, Outcome.THROTTLED)

    assert lim.window == 1


async def test_not_adaptive_keeps_the_window_and_never_paces() -> None:
    clock = FakeClock()
    lim = limiter(clock, ceiling=8, adaptive=False)
    tickets = await hold(lim, 8)
    for ticket in tickets:
        lim.release(ticket, Outcome.THROTTLED)

    await hold(lim, 8)

    assert (lim.window, lim.rate, clock.slept) == (8, None, [])


# --- the pause and the queue ---------------------------------------------------------------


async def test_the_pause_holds_every_acquire() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    lim.cool_down.extend(2.5)

    await lim.acquire()

    assert clock.now == pytest.approx(102.5)


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    lim = limiter(FakeClock(), ceiling=1)
    ticket = await lim.acquire()
    waiter = asyncio.create_task(lim.acquire())
    await settle()

    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    lim.release(ticket, Outcome.NEUTRAL)

    assert lim.in_flight == 0
    await lim.acquire()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(max_concurrency=0)
    with pytest.raises(TypeError, match="int"):
        RateLimiter(max_concurrency=2.5)  # type: ignore[arg-type]


def test_repr_shows_the_state_without_secrets() -> None:
    assert repr(RateLimiter()) == "<RateLimiter rate=none window=2 in_flight=0 waiting=0>"


# --- Rule 9: whose pause a refusal's Retry-After is ---------------------------------------


async def test_without_a_rate_a_refusal_pauses_every_attempt() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    ticket = await lim.acquire()
    lim.release(ticket, Outcome.THROTTLED, retry_after=1.0)

    lim.request_pause().extend(1.0)

    assert lim.cool_down.remaining == pytest.approx(1.0)  # no rate: everyone waits


async def test_with_a_rate_only_the_refused_request_waits_its_retry_after() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=10)
    lim.release(await lim.acquire(), Outcome.SUCCESS)  # the first pause: shared
    rate = lim.rate
    assert rate is not None
    refused = await lim.acquire()
    lim.release(refused, Outcome.THROTTLED, retry_after=1.0)
    pause = lim.request_pause()

    pause.extend(1.0)

    assert pause.remaining == pytest.approx(1.0)  # the refused request: RFC 9110
    assert lim.cool_down.remaining == 0  # the others: the model's bucket paces them
    before = clock.now
    lim.release(await lim.acquire(), Outcome.SUCCESS)
    assert 0 < clock.now - before < 1.0


# --- Rule 6: a refusal out of a burst lowers the burst, not the rate -----------------------


async def guessed_burst_of_ten(clock: FakeClock, lim: RateLimiter) -> float:
    """10 pass at once, the 11th is refused; after the pause one passes: the guessed rate
    (9.8/s, a burst of 10)."""
    await burst_then_refusal(clock, lim, accepted=10)
    lim.release(await lim.acquire(), Outcome.SUCCESS)
    assert lim.rate is not None
    return lim.rate


async def test_a_refusal_out_of_a_burst_lowers_the_burst_and_keeps_the_rate() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    rate = await guessed_burst_of_ten(clock, lim)  # after the pause, the model is full
    ticket = await lim.acquire()  # out at once, with about 8 left behind it

    lim.release(ticket, Outcome.THROTTLED)

    assert lim.rate == rate
    assert lim._burst == pytest.approx(10 - 7.8, abs=0.1)


async def test_a_refusal_out_of_a_burst_after_a_lull_keeps_the_rate() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    rate = await guessed_burst_of_ten(clock, lim)
    clock.now += 5  # a lull: the model's bucket is full again, the real one overflowed
    lim._window = 64.0  # (the window has its own rule)
    tickets = await hold(lim, 8)  # out at once: the real bucket holds only 7
    for ticket in tickets[:7]:
        lim.release(ticket, Outcome.SUCCESS)

    lim.release(tickets[7], Outcome.THROTTLED)

    # 7 passed in 6 s since the first refusal: not the rate, the lull let it overflow.
    assert lim.rate == rate
    assert lim._burst == pytest.approx(10 - 2, abs=0.01)


async def test_a_refusal_after_a_lull_lowers_the_rate_once_the_burst_is_one() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    rate = await guessed_burst_of_ten(clock, lim)
    lim._burst = 1.0  # as if refusals had shrunk it already
    clock.now += 5  # a lull
    lim._window = 64.0  # (the window has its own rule)
    tickets = await hold(lim, 4)  # paced at the rate: the real one is lower
    for ticket in tickets[:3]:
        lim.release(ticket, Outcome.SUCCESS)

    lim.release(tickets[3], Outcome.THROTTLED)

    # No burst left to shrink: the rate is what was wrong, and the lull's low count says
    # as much as it can (here: down to FLOOR, half the refused rate).
    assert lim.rate == pytest.approx(0.5 * rate)
    assert lim._burst == 1.0


async def test_a_span_too_short_to_measure_still_caps_the_rate() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    # 40 at once, refused after a short pause (a fractional Retry-After): guessed 40/s.
    await burst_then_refusal(clock, lim, accepted=40, pause=0.02)
    lim._window = 64.0  # (the window has its own rule)
    tickets = await hold(lim, 3)
    assert lim.rate == 40.0
    lim._burst = 1.0  # (the burst has its own rules)
    for ticket in tickets:
        lim.release(ticket, Outcome.SUCCESS)
    clock.now += 0.05
    refused = await lim.acquire()

    lim.release(refused, Outcome.THROTTLED)

    # 3 passed since the first refusal (sent at 100.0), fewer than MIN_COUNT; the bucket
    # was empty at both refusals, so fewer than 4 refilled in between.
    bound = 4 / (refused.started - 100.0)
    assert 20.0 < bound < 0.85 * 40.0
    assert lim.rate == pytest.approx(bound)


async def test_the_latest_attempts_measure_past_a_slow_start_of_the_span() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await burst_then_refusal(clock, lim, accepted=5)  # guess 4.9/s, burst 5 (at 100.0)
    first = await lim.acquire()  # the pause is over
    lim.release(first, Outcome.SUCCESS)
    for _ in range(4):  # the refilled burst
        lim.release(await lim.acquire(), Outcome.SUCCESS)
    lim._rate = 20.0  # as if the probe had found more room
    for _ in range(40):  # two seconds at 20/s
        lim.release(await lim.acquire(), Outcome.SUCCESS)
    refused = await lim.acquire()
    span = refused.started - 100.0

    lim.release(refused, Outcome.THROTTLED)

    # The whole span says 45 passed in `span` (under 15/s); from the end of the pause,
    # less the burst the bucket held then (5, settled as 5 - 0), 40 in about 2 s.
    assert 45 / span < 15
    rate = lim.rate
    assert rate is not None
    assert rate == pytest.approx((45 - 5) / (refused.started - first.started))
    assert rate > 19


async def test_a_refused_request_goes_before_requests_begun_after_it() -> None:
    clock = FakeClock()
    lim = limiter(clock, ceiling=1)
    early, held_order, later_order, last_order = (lim.next_order() for _ in range(4))
    held = await lim.acquire(held_order)
    later = asyncio.create_task(lim.acquire(later_order))  # waits for the slot
    await settle()
    last = asyncio.create_task(lim.acquire(last_order))
    repeat = asyncio.create_task(lim.acquire(early))  # a refused page's repeat, queued last
    await settle()

    lim.release(held, Outcome.SUCCESS)
    lim.release(await later, Outcome.SUCCESS)  # it had the turn already
    await settle()

    assert repeat.done()
    assert not last.done()
    lim.release(repeat.result(), Outcome.SUCCESS)
    lim.release(await last, Outcome.SUCCESS)

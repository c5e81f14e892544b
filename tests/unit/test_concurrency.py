"""The AIMD concurrency window, with a fake clock (nothing really waits)."""

from __future__ import annotations

import asyncio

import pytest

from myreports_async._concurrency import AdaptiveConcurrency, Outcome, Ticket


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


def limiter(clock: FakeClock, *, ceiling: float = 64, adaptive: bool = True) -> AdaptiveConcurrency:
    return AdaptiveConcurrency(ceiling=ceiling, adaptive=adaptive, clock=clock, sleep=clock.sleep)


async def hold(window: AdaptiveConcurrency, count: int) -> list[Ticket]:
    return [await window.acquire() for _ in range(count)]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_429_halves_what_was_in_flight() -> None:
    window = limiter(FakeClock())
    tickets = await hold(window, 8)

    window.release(tickets[0], Outcome.THROTTLED)

    assert window.window == 4


async def test_429s_of_one_burst_halve_the_window_once() -> None:
    window = limiter(FakeClock())
    tickets = await hold(window, 8)

    for ticket in tickets:
        window.release(ticket, Outcome.THROTTLED)

    assert window.window == 4


async def test_a_429_after_the_decrease_halves_again() -> None:
    window = limiter(FakeClock())
    first = await hold(window, 8)
    window.release(first[0], Outcome.THROTTLED)
    for ticket in first[1:]:
        window.release(ticket, Outcome.NEUTRAL)
    second = await hold(window, 4)

    window.release(second[0], Outcome.THROTTLED)

    assert window.window == 2


async def test_the_window_limits_attempts_in_flight() -> None:
    window = limiter(FakeClock())
    tickets = await hold(window, 4)
    window.release(tickets[0], Outcome.THROTTLED)  # window 2, 3 still in flight
    waiter = asyncio.create_task(window.acquire())
    await settle()
    assert not waiter.done()

    window.release(tickets[1], Outcome.NEUTRAL)
    await settle()
    assert not waiter.done()  # 2 in flight: the window of 2 is still full
    window.release(tickets[2], Outcome.NEUTRAL)
    await settle()

    assert waiter.done()
    assert window.in_flight == 2


async def test_success_grows_the_window_by_one_while_requests_wait() -> None:
    window = limiter(FakeClock())
    tickets = await hold(window, 4)
    window.release(tickets[0], Outcome.THROTTLED)  # window 2, 3 in flight
    for ticket in tickets[1:]:
        window.release(ticket, Outcome.NEUTRAL)
    current = await hold(window, 2)
    waiters = [asyncio.create_task(window.acquire()) for _ in range(3)]
    await settle()
    window.release(current[0], Outcome.SUCCESS)  # the first success only confirms
    assert window.window == 2
    await settle()
    current.append(next(w.result() for w in waiters if w.done()))

    window.release(current[1], Outcome.SUCCESS)

    assert window.window == 3
    await settle()
    assert sum(w.done() for w in waiters) == 3  # 3 slots, all taken again
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)


async def test_a_success_sent_before_the_decrease_does_not_grow_the_window() -> None:
    window = limiter(FakeClock())
    tickets = await hold(window, 4)
    window.release(tickets[0], Outcome.THROTTLED)  # window 2, from the 4 in flight
    waiter = asyncio.create_task(window.acquire())  # waits: 3 in flight
    await settle()

    window.release(tickets[1], Outcome.SUCCESS)
    window.release(tickets[2], Outcome.SUCCESS)

    assert window.window == 2
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)


async def test_the_first_success_after_a_decrease_only_confirms() -> None:
    window = limiter(FakeClock())
    window.release(await window.acquire(), Outcome.THROTTLED)  # 0.5

    window.release(await window.acquire(), Outcome.SUCCESS)
    assert window.window == 0.5
    window.release(await window.acquire(), Outcome.SUCCESS)

    assert window.window == pytest.approx(0.5 * (1 + 1 / 64))


async def test_success_does_not_grow_a_window_nobody_waits_for() -> None:
    window = limiter(FakeClock())
    tickets = await hold(window, 8)
    window.release(tickets[0], Outcome.THROTTLED)  # window 4, 7 in flight

    for ticket in tickets[1:]:
        window.release(ticket, Outcome.SUCCESS)

    assert window.window == 4


async def test_window_never_grows_above_the_demand_of_a_read_ahead() -> None:
    """Eight requests kept in flight (prefetch 8): the window comes back to 8, no more."""
    window = limiter(FakeClock())
    tickets = await hold(window, 8)
    window.release(tickets.pop(), Outcome.THROTTLED)
    window.release(tickets.pop(), Outcome.THROTTLED)
    assert window.window == 4
    pending = [asyncio.create_task(window.acquire()) for _ in range(2)]  # 8 wanted

    for _ in range(40):
        await settle()
        done = [p for p in pending if p.done()]
        pending = [p for p in pending if not p.done()]
        tickets.extend(p.result() for p in done)
        window.release(tickets.pop(0), Outcome.SUCCESS)
        pending.append(asyncio.create_task(window.acquire()))

    assert window.window == 8
    for p in pending:
        p.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def test_window_never_exceeds_the_ceiling() -> None:
    window = limiter(FakeClock(), ceiling=3)
    tickets = await hold(window, 3)
    waiter = asyncio.create_task(window.acquire())
    await settle()

    window.release(tickets[0], Outcome.SUCCESS)

    assert window.window == 3
    await settle()
    assert waiter.done()


async def test_window_never_goes_below_the_floor() -> None:
    clock = FakeClock()
    window = AdaptiveConcurrency(floor=0.25, clock=clock, sleep=clock.sleep)

    for _ in range(10):
        window.release(await window.acquire(), Outcome.THROTTLED)

    assert window.window == 0.25
    assert window.slots == 1


async def test_below_one_the_window_paces_by_the_attempt_duration() -> None:
    clock = FakeClock()
    window = limiter(clock)
    window.release(await window.acquire(), Outcome.THROTTLED)  # 1 in flight -> 0.5
    assert window.window == 0.5
    clock.slept.clear()
    ticket = await window.acquire()
    clock.now += 0.020  # the attempt took 20 ms
    window.release(ticket, Outcome.NEUTRAL)

    await window.acquire()

    assert clock.slept == [pytest.approx(0.020)]  # (1/0.5 - 1) * 20 ms


async def test_paced_window_grows_on_success_back_to_one() -> None:
    window = limiter(FakeClock())
    window.release(await window.acquire(), Outcome.THROTTLED)  # 0.5

    for _ in range(47):
        window.release(await window.acquire(), Outcome.SUCCESS)

    assert window.window == 1


async def test_fixed_window_ignores_429s() -> None:
    window = limiter(FakeClock(), ceiling=8, adaptive=False)
    tickets = await hold(window, 8)

    for ticket in tickets:
        window.release(ticket, Outcome.THROTTLED)

    assert window.window == 8


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    window = limiter(FakeClock(), ceiling=1)
    (ticket,) = await hold(window, 1)
    cancelled = asyncio.create_task(window.acquire())
    second = asyncio.create_task(window.acquire())
    await settle()
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)

    window.release(ticket, Outcome.SUCCESS)
    await settle()

    assert second.done()
    assert window.in_flight == 1


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="floor"):
        AdaptiveConcurrency(floor=0)
    with pytest.raises(ValueError, match="floor"):
        AdaptiveConcurrency(ceiling=1, floor=2)

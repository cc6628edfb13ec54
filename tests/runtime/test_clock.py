"""The runtime's clocks (a manual one for tests, a scaled wall clock) and bind messages."""

from __future__ import annotations

import asyncio
import errno
import time

import pytest

from ipgwsim.runtime.clock import ManualClock, ScaledClock
from ipgwsim.runtime.loopback import bind_problem
from ipgwsim.testing.loopback import run


def test_manual_clock_fires_due_timers_in_order_at_their_time() -> None:
    async def main() -> list[tuple[str, float]]:
        clock = ManualClock()
        fired: list[tuple[str, float]] = []

        def note(name: str) -> None:
            fired.append((name, clock.now()))
            if name == "a":  # a timer scheduled by a timer, due within the same advance
                clock.call_at(2.5, lambda: note("from-a"))

        clock.call_at(3.0, lambda: note("c"))
        clock.call_at(1.0, lambda: note("a"))
        cancelled = clock.call_at(2.0, lambda: note("cancelled"))
        clock.call_later(5.0, lambda: note("later"))
        cancelled.cancel()
        await clock.advance(3.0)
        assert clock.now() == 3.0
        assert clock.pending == 1
        assert clock.next_deadline() == 5.0
        await clock.advance(1.0)
        assert clock.now() == 4.0
        return fired

    assert run(main()) == [("a", 1.0), ("from-a", 2.5), ("c", 3.0)]


def test_manual_clock_runs_a_timer_already_due_without_advancing() -> None:
    async def main() -> None:
        clock = ManualClock(start=10.0)
        done = asyncio.Event()
        clock.call_at(5.0, done.set)  # in the past: runs from the event loop
        await asyncio.wait_for(done.wait(), 5)
        assert clock.now() == 10.0
        with pytest.raises(ValueError, match="forward"):
            await clock.advance(-1)

    run(main())


def test_scaled_clock_runs_device_time_faster() -> None:
    """Device time is monotonic time times the speed, and a timer in device seconds is
    due that many seconds divided by the speed later on the event loop's clock.

    Nothing is bounded by the wall clock (a busy host only delays): device time is read
    between two readings of the monotonic clock, and the timer's due time is compared
    with a plain loop timer's, which the loop fires in the order of their due times.
    """

    async def main() -> None:
        speed = 1000.0
        clock = ScaledClock(speed=speed)
        before = time.monotonic()
        now = clock.now()
        after = time.monotonic()
        # now() was read between the two: its real time lies between them (float slack).
        assert before - 1e-9 <= clock.real_time(now) <= after + 1e-9
        assert clock.real_time(2.0) - clock.real_time(0.0) == pytest.approx(2.0 / speed)

        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []
        both = asyncio.Event()

        def note(name: str) -> None:
            fired.append((name, clock.now()))
            if len(fired) == 2:
                both.set()

        clock.call_later(2.0, lambda: note("device 2 s"))  # due 2 ms from now
        loop.call_later(0.1, lambda: note("loop 0.1 s"))  # due 100 ms from now
        await asyncio.wait_for(both.wait(), 30)
        # At speed 1 (device seconds taken as real ones) the loop's timer would come first.
        assert [name for name, _ in fired] == ["device 2 s", "loop 0.1 s"]
        assert fired[0][1] >= now + 2.0  # never early in device time

    run(main())
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


def test_bind_problems_say_what_to_do() -> None:
    address = ("127.255.255.255", 69)
    denied = bind_problem(address, PermissionError(errno.EACCES, "Permission denied"))
    assert denied == (
        "cannot bind UDP 127.255.255.255:69: permission denied (ports below 1024 need root "
        "or CAP_NET_BIND_SERVICE); use an unprivileged port, e.g. --port 6969"
    )
    in_use = bind_problem(address, OSError(errno.EADDRINUSE, "Address already in use"))
    assert in_use.endswith("address in use (another program holds it)")


def test_scaled_clock_skip_runs_the_timers_it_passes_in_order() -> None:
    async def main() -> None:
        clock = ScaledClock(1.0)
        fired: list[str] = []
        done = asyncio.Event()
        start = clock.now()
        clock.call_at(start + 200, lambda: fired.append("200"))
        clock.call_at(start + 100, lambda: fired.append("100"))
        cancelled = clock.call_at(start + 50, lambda: fired.append("50"))
        cancelled.cancel()
        clock.call_at(start + 120, done.set)
        clock.skip(150)
        assert clock.now() >= start + 150
        await asyncio.wait_for(done.wait(), 5)
        assert fired == ["100"]  # 200 is still 50 device seconds away; 50 was cancelled
        with pytest.raises(ValueError, match="only moves forward"):
            clock.skip(-1)

    asyncio.run(main())


def test_manual_clock_runs_until_a_condition_holds_one_deadline_at_a_time() -> None:
    async def main() -> None:
        clock = ManualClock()
        fired: list[float] = []
        for when in (1.0, 2.0, 3.0, 50.0):
            clock.call_at(when, lambda: fired.append(clock.now()))
        assert await clock.run_until(lambda: len(fired) == 2, 10.0)
        assert clock.now() == 2.0  # stands at the deadline that made it hold
        assert fired == [1.0, 2.0]

        async def never() -> bool:  # a coroutine condition is awaited
            return False

        assert not await clock.run_until(never, 10.0)
        assert clock.now() == 12.0  # stands at the limit; 50.0 is beyond it
        assert fired == [1.0, 2.0, 3.0]
        assert await clock.run_until(lambda: True, 0.0)  # holds at once: no time passes
        assert clock.now() == 12.0
        await clock.elapse(40.0)
        assert (clock.now(), fired[-1]) == (52.0, 50.0)
        assert clock.real_seconds(100.0) == 0.0
        with pytest.raises(ValueError, match="timeout must be 0 or more"):
            await clock.run_until(lambda: True, -1.0)
        with pytest.raises(ValueError, match="elapse must be 0 or more"):
            await clock.elapse(-1.0)

    run(main())


def test_scaled_clock_runs_until_a_condition_holds_woken_by_the_change() -> None:
    """A timer that makes the condition hold and sets the wake ends the wait at once;
    skipping device time makes the timer due without waiting for the wall clock."""

    async def main() -> None:
        clock = ScaledClock(1.0)
        wake = asyncio.Event()
        fired: list[str] = []

        def fire() -> None:
            fired.append("due")
            wake.set()

        clock.call_at(clock.now() + 100, fire)
        waiting = asyncio.create_task(clock.run_until(lambda: bool(fired), 1000.0, wake=wake))
        await asyncio.sleep(0)
        assert not waiting.done()
        clock.skip(150)
        assert await asyncio.wait_for(waiting, 5)
        assert not await clock.run_until(lambda: False, 0.0)
        assert clock.real_seconds(10.0) == 10.0
        fast = ScaledClock(1e6)
        assert not await fast.run_until(lambda: False, 1.0)  # a microsecond of wall time
        await fast.elapse(1.0)

    run(main())


def test_scaled_clocks_with_one_start_show_one_device_time() -> None:
    """The workers of one runtime make their clocks from the parent's start: device time
    is the same in every process, however late each clock was made."""
    start = time.monotonic() - 100.0  # device time 0 was 100 real seconds ago
    first = ScaledClock(10, start=start)
    later = ScaledClock(10, start=first.start)
    assert first.start == start
    assert first.now() >= 1000.0
    assert abs(later.now() - first.now()) < 1.0  # 0.1 real seconds apart at most
    assert ScaledClock(10).now() < 1.0  # without a start: device time 0 is now

"""Device time for the runtime: a scaled wall clock, or a manual clock for tests.

Every device-side time (button blinks, TFTP retransmits, programming time) is in
*device seconds*. The runtime asks its clock for ``now()`` and schedules each
device's next deadline with :meth:`Clock.call_at`.

- :class:`ScaledClock` runs device time ``speed`` times faster than the wall
  clock: with ``speed=10`` a 15 s long press takes 1.5 s of real time.
- :class:`ManualClock` stands still until a test calls ``await clock.advance(dt)``,
  which fires every timer due on the way, in order of their deadlines, setting the
  clock to each deadline as it fires it. Nothing waits on the wall clock.

Both let device time pass the same way, so that a caller need not ask which clock it
has: :meth:`Clock.elapse` lets some device seconds pass, :meth:`Clock.run_until` lets
device time run until a condition holds (or a device-time limit passes), and
:meth:`Clock.real_seconds` says how much wall-clock time some device seconds take.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

#: A condition :meth:`Clock.run_until` waits for: plain or a coroutine function.
Condition = Callable[[], "bool | Awaitable[bool]"]

#: How often (wall-clock seconds) a real clock checks a condition nothing announces.
POLL = 0.05


async def _holds(condition: Condition) -> bool:
    result = condition()
    if inspect.isawaitable(result):
        return bool(await result)
    return bool(result)


class Timer(ABC):
    """A scheduled call that can be cancelled."""

    @abstractmethod
    def cancel(self) -> None:
        """Do not call it (no effect if it has run already)."""


class Clock(ABC):
    """Device time and timers in device time."""

    @abstractmethod
    def now(self) -> float:
        """The current device time in seconds (starts near 0)."""

    @abstractmethod
    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback()`` once device time reaches ``when`` (soon, if it has)."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback()`` after ``delay`` device seconds."""
        return self.call_at(self.now() + delay, callback)

    @abstractmethod
    def real_seconds(self, seconds: float) -> float:
        """The wall-clock seconds that ``seconds`` of device time take (0: none)."""

    @abstractmethod
    async def elapse(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass, the timers due on the way firing."""

    @abstractmethod
    async def run_until(
        self, condition: Condition, timeout: float, *, wake: asyncio.Event | None = None
    ) -> bool:
        """Let device time run until ``condition()`` holds; whether it did before
        ``timeout`` device seconds passed.

        ``condition`` is checked at once and again whenever something may have changed;
        ``wake``, set by whoever changes what it reads, lets a real clock check it at
        once instead of at its next poll.
        """


def _check_seconds(what: str, seconds: float) -> None:
    if not seconds >= 0:
        raise ValueError(f"{what} must be 0 or more device seconds, not {seconds!r}")


class _LoopTimer(Timer):
    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()


class _ScaledTimer(Timer):
    __slots__ = ("_callback", "_clock", "_handle", "when")

    def __init__(self, clock: ScaledClock, when: float, callback: Callable[[], object]) -> None:
        self._clock = clock
        self.when = when
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    def schedule(self) -> None:
        loop = asyncio.get_running_loop()
        # The event loop's clock is time.monotonic() as well.
        self._handle = loop.call_at(self._clock.real_time(self.when), self._fire)

    def _fire(self) -> None:
        self._clock._timers.discard(self)
        self._callback()

    def cancel(self) -> None:
        self._clock._timers.discard(self)
        if self._handle is not None:
            self._handle.cancel()


class ScaledClock(Clock):
    """Device time = (monotonic time since the clock was made) x ``speed`` + skipped time.

    :meth:`skip` moves device time forward at once (a demo that waits for a device's
    one-minute poll); pending timers due by then run right away, in order.
    """

    def __init__(self, speed: float = 1.0, *, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        self.speed = float(speed)
        #: The monotonic time at device time 0 (``start``: one given, so that the clocks
        #: of several processes, the workers of one runtime, show the same device time).
        self._start = time.monotonic() if start is None else start
        self._skipped = 0.0
        self._timers: set[_ScaledTimer] = set()

    @property
    def start(self) -> float:
        """The monotonic time at device time 0 (before any skip)."""
        return self._start

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.speed + self._skipped

    def real_time(self, when: float) -> float:
        """The monotonic time at which device time reaches ``when``."""
        return self._start + (when - self._skipped) / self.speed

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        timer = _ScaledTimer(self, when, callback)
        self._timers.add(timer)
        timer.schedule()
        return timer

    def real_seconds(self, seconds: float) -> float:
        return seconds / self.speed

    async def elapse(self, seconds: float) -> None:
        _check_seconds("elapse", seconds)
        await asyncio.sleep(self.real_seconds(seconds))

    async def run_until(
        self, condition: Condition, timeout: float, *, wake: asyncio.Event | None = None
    ) -> bool:
        _check_seconds("timeout", timeout)
        loop = asyncio.get_running_loop()
        real_end = loop.time() + self.real_seconds(timeout)
        while True:
            if wake is not None:
                wake.clear()  # what changes from here on wakes the wait below
            if await _holds(condition):
                return True
            remaining = real_end - loop.time()
            if remaining <= 0:
                return False
            if wake is None:
                await asyncio.sleep(min(remaining, POLL))
                continue
            # The wake covers what announces itself; the poll what does not.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(remaining, POLL))

    def skip(self, seconds: float) -> None:
        """Move device time ``seconds`` forward now (never back)."""
        if not seconds >= 0:
            raise ValueError(f"device time only moves forward, not by {seconds!r}")
        self._skipped += seconds
        for timer in sorted(self._timers, key=lambda t: t.when):
            if timer._handle is not None:
                timer._handle.cancel()
            timer.schedule()


class _ManualEntry(Timer):
    __slots__ = ("callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], object]) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def __lt__(self, other: _ManualEntry) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock(Clock):
    """A clock that moves only when told to (for tests)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._heap: list[_ManualEntry] = []
        self._seq = itertools.count()
        self._soon: asyncio.Handle | None = None

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        entry = _ManualEntry(float(when), next(self._seq), callback)
        heapq.heappush(self._heap, entry)
        if entry.when <= self._now and self._soon is None:
            # Already due: fire it from the event loop, as a real clock would.
            self._soon = asyncio.get_running_loop().call_soon(self._fire_due)
        return entry

    @property
    def pending(self) -> int:
        """How many timers are scheduled and not cancelled."""
        return sum(1 for entry in self._heap if not entry.cancelled)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or None."""
        self._drop_cancelled()
        return self._heap[0].when if self._heap else None

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)

    def _fire_due(self) -> None:
        self._soon = None
        self._drop_cancelled()
        while self._heap and self._heap[0].when <= self._now:
            entry = heapq.heappop(self._heap)
            if not entry.cancelled:
                entry.callback()
            self._drop_cancelled()

    async def advance(self, dt: float) -> None:
        """Move device time ``dt`` seconds forward, firing every timer due on the way."""
        if dt < 0:
            raise ValueError(f"time only moves forward, not by {dt!r}")
        target = self._now + dt
        await asyncio.sleep(0)  # let what is ready (datagrams, callbacks) run first
        while True:
            self._drop_cancelled()
            if not self._heap or self._heap[0].when > target:
                break
            entry = heapq.heappop(self._heap)
            self._now = max(self._now, entry.when)
            entry.callback()
            await asyncio.sleep(0)
        self._now = max(self._now, target)  # an advance running beside may be further
        await asyncio.sleep(0)

    def stall(self, dt: float) -> None:
        """Move device time ``dt`` seconds on without firing what falls due, as an event loop
        busy elsewhere does: those timers run late, at the next :meth:`advance`."""
        if dt < 0:
            raise ValueError(f"time only moves forward, not by {dt!r}")
        self._now += dt

    def real_seconds(self, seconds: float) -> float:
        return 0.0

    async def elapse(self, seconds: float) -> None:
        _check_seconds("elapse", seconds)
        await self.advance(seconds)

    async def run_until(
        self, condition: Condition, timeout: float, *, wake: asyncio.Event | None = None
    ) -> bool:
        """Fire the timers in order, one deadline at a time, until ``condition()`` holds
        (the clock then stands at the deadline that made it hold) or the next deadline
        is past ``timeout`` (the clock then stands at the limit)."""
        _check_seconds("timeout", timeout)
        end = self._now + timeout
        while not await _holds(condition):
            await asyncio.sleep(0)  # what has arrived (a tool's packets) first
            due = self.next_deadline()
            if due is None or due > end:
                if self._now >= end:
                    return False
                due = end
            await self.advance(max(0.0, due - self._now))
        return True

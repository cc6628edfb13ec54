"""Waiting for a runtime's device events: watchers, and the presses that end at a release.

:class:`Presses` holds the futures of timed presses of the reset button
(:meth:`Runtime.press <ipgwsim.runtime.runtime.Runtime.press>`), each done when its device
reports the release or powers off.

Watching (:meth:`Runtime.watch <ipgwsim.runtime.runtime.Runtime.watch>`):

Each :class:`Watcher` has a queue of its own, filled as the devices' LED, mode, blink and
power-off events happen (:data:`WATCHED`), with the device time of each; a slow watcher
that falls :data:`WATCH_QUEUE` events behind loses the further ones (counted in
:attr:`Watchers.drops`). When the runtime stops, every watcher's iteration ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, TypeVar, cast

from ipgwsim.events import ButtonBlink, ButtonReleased, Event, LedChanged, ModeChanged, PoweredOff
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error

__all__ = ["WATCHED", "WATCH_QUEUE", "Presses", "Watched", "Watcher", "Watchers"]

#: Events that ``watch()`` streams.
WATCHED = (LedChanged, ModeChanged, ButtonBlink, PoweredOff)
#: Events a slow watcher may fall behind before further ones are dropped for it.
WATCH_QUEUE = 10_000

#: ``(device name, event, device time)``.
Watched = tuple[str, Event, float]
T = TypeVar("T")


class Watchers:
    """The watchers of one runtime and what they are sent."""

    def __init__(self) -> None:
        self._queues: list[tuple[asyncio.Queue[Watched | None], str | None]] = []
        #: Events dropped because a watcher's queue was full.
        self.drops = 0

    def watch(self, only: str | None, *, timed: bool) -> Watcher[T]:
        """A new watcher of every device's events (``only``: of that device's)."""
        return Watcher(self, only, timed=timed)

    def send(self, name: str, event: Event, now: float) -> None:
        """Give a device's event to every watcher that wants it."""
        if not isinstance(event, WATCHED) or not self._queues:
            return
        item = (name, event, now)
        for queue, only in self._queues:
            if only is not None and only != name:
                continue
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self.drops += 1

    def end(self) -> None:
        """The runtime stopped: every watcher's iteration ends."""
        for queue, _ in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


class Watcher(Generic[T]):
    """A subscription to a runtime's events (see :meth:`Runtime.watch`)."""

    def __init__(self, watchers: Watchers, only: str | None, *, timed: bool) -> None:
        self._watchers = watchers
        self._timed = timed
        self._queue: asyncio.Queue[Watched | None] = asyncio.Queue(WATCH_QUEUE)
        self._entry = (self._queue, only)
        self._closed = False
        watchers._queues.append(self._entry)

    def __aiter__(self) -> Watcher[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self.close()
            raise StopAsyncIteration
        return cast(T, item if self._timed else item[:2])

    async def next(self, timeout: float) -> T:
        """The next event; TimeoutError (saying so) after ``timeout`` seconds of real time."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except TimeoutError as exc:
            what = f"an event of {self._entry[1]}" if self._entry[1] else "a device event"
            raise TimeoutError(describe_error(exc, waiting_for=what, after=timeout)) from None

    def pending(self) -> list[T]:
        """The events that arrived and were not read yet (without waiting)."""
        out: list[T] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._closed = True
                break
            out.append(cast(T, item if self._timed else item[:2]))
        return out

    def close(self) -> None:
        """Stop watching."""
        self._closed = True
        with contextlib.suppress(ValueError):
            self._watchers._queues.remove(self._entry)

    def __enter__(self) -> Watcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Presses:
    """The timed presses under way, by device (any key: the runtime's device hosts)."""

    def __init__(self) -> None:
        self._futures: dict[object, list[asyncio.Future[None]]] = {}

    def add(self, device: object, waits: bool) -> asyncio.Future[None]:
        """A future for a press just made; done at once unless the device ``waits`` (it
        reads the button now: the release is to come)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if waits:
            self._futures.setdefault(device, []).append(future)
        else:
            future.set_result(None)
        return future

    def event(self, device: object, event: Event) -> None:
        """A device's event: a release or a power-off ends its presses."""
        if isinstance(event, ButtonReleased | PoweredOff):
            for future in self._futures.pop(device, []):
                if not future.done():
                    future.set_result(None)

    def stop(self) -> None:
        """The runtime stopped: every press under way fails, saying so."""
        for futures in self._futures.values():
            for future in futures:
                if not future.done():
                    future.set_exception(RuntimeSetupError("the runtime stopped during the press"))
                    future.exception()  # retrieved: no "never retrieved" warning if unawaited
        self._futures.clear()

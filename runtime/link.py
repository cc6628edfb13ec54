"""A device's link: the runtime's datagram path between a device and its network.

Every datagram a :class:`~ipgwsim.runtime.host.DeviceHost`'s device sends goes through
:meth:`Link.send` to the network, and every datagram that arrives for it through
:meth:`Link.receive` to the device, in both network modes. On the way the link

- applies the device's :class:`~ipgwsim.runtime.impair.Impairment`, each direction by
  itself: loss, corruption (one bit of the payload flipped), duplication (a second copy
  right after the first), reordering (the datagram is held back until the next one of
  that direction has gone, then follows it; if none comes within :data:`REORDER_HOLD`
  device seconds after its delay it goes alone) and delay with jitter (in device time,
  first in first out: a datagram never overtakes an earlier one by its delay);
- records what the device sent and received in its captures (pcapng files), on the
  device's side of the impairment: a datagram the device sent as it sent it, one it
  received as it got it, at the device time it happened. What the impairment did is in a
  packet comment (``impairment: dropped``, ``impairment: corrupted, bit 93 flipped``, ...);
  a datagram dropped on its way in is recorded as well, with the comment
  ``impairment: dropped, the device did not receive it``.

Randomness: each direction draws from a generator of its own, seeded from the
impairment's seed, the device's name and the direction, so the same seed gives the same
fates to the same sequence of datagrams, whatever other devices do. Without an active
impairment a datagram passes straight through (and is recorded).

Ports and addresses the device gives up are given up only after the datagrams it sent
before have left the link (:meth:`Link.after_sent`): its last word on a port still
leaves from that port when it is delayed.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal

from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.clock import Clock, Timer
from ipgwsim.runtime.impair import DirectionCounters, Impairment, LinkCounters
from ipgwsim.runtime.pcapng import CaptureFile

__all__ = ["REORDER_HOLD", "Link"]

#: Longest time (device seconds, after its delay) a reordered datagram waits to be
#: overtaken before it goes alone.
REORDER_HOLD = 0.05

Direction = Literal["sent", "received"]
Notes = tuple[str, ...]


@dataclass
class _Counts:
    datagrams: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0

    def frozen(self) -> DirectionCounters:
        return DirectionCounters(
            self.datagrams, self.dropped, self.duplicated, self.reordered, self.corrupted
        )


@dataclass(eq=False)
class _Item:
    release: float
    seq: int
    datagram: Datagram
    notes: Notes


@dataclass
class _Pipe:
    """One direction of a link: its generator, queue, held datagrams and timer."""

    direction: Direction
    emit: Callable[[list[tuple[Datagram, Notes]]], None]
    counts: _Counts = field(default_factory=_Counts)
    impairment: Impairment | None = None
    rng: random.Random | None = None
    queue: deque[_Item] = field(default_factory=deque)
    held: list[_Item] = field(default_factory=list)
    last_release: float = -math.inf
    timer: Timer | None = None
    timer_at: float | None = None

    @property
    def active(self) -> bool:
        return self.impairment is not None

    def offer(self, datagram: Datagram, now: float, seq: Callable[[], int]) -> Notes | None:
        """Decide ``datagram``'s fate and queue what goes on; None: it is dropped."""
        imp, rng = self.impairment, self.rng
        assert imp is not None
        assert rng is not None
        if imp.loss and rng.random() * 100 < imp.loss:
            self.counts.dropped += 1
            return None
        notes: list[str] = []
        if imp.corrupt and datagram.data and rng.random() * 100 < imp.corrupt:
            bit = rng.randrange(len(datagram.data) * 8)
            data = bytearray(datagram.data)
            data[bit // 8] ^= 0x80 >> (bit % 8)
            datagram = datagram._replace(data=bytes(data))
            self.counts.corrupted += 1
            notes.append(f"corrupted, bit {bit} flipped")
        copies = 1
        if imp.duplicate and rng.random() * 100 < imp.duplicate:
            copies = 2
            self.counts.duplicated += 1
        hold = bool(imp.reorder) and rng.random() * 100 < imp.reorder
        release = now + imp.delay
        if imp.jitter:
            release += rng.uniform(-imp.jitter, imp.jitter)
        release = max(release, now)
        if hold:
            self.counts.reordered += 1
            notes.append("held back (reordered)")
        items = [_Item(release, seq(), datagram, tuple(notes))]
        if copies == 2:
            items.append(_Item(release, seq(), datagram, (*notes, "duplicate")))
        if hold:
            for item in items:
                item.release = release + REORDER_HOLD
            self.held.extend(items)
        else:
            self._enqueue(items)
            if self.held:  # the datagrams held back follow this one
                held, self.held = self.held, []
                self._enqueue(held, at=self.last_release)
        if copies == 2:
            notes.append("duplicated")
        return tuple(notes)

    def _enqueue(self, items: list[_Item], at: float | None = None) -> None:
        for item in items:
            item.release = max(item.release if at is None else at, self.last_release)
            self.last_release = item.release
            self.queue.append(item)

    def due(self, now: float, everything: bool = False) -> list[tuple[Datagram, Notes]]:
        """Take what is due by ``now`` (held datagrams whose hold ran out go alone)."""
        late = [item for item in self.held if everything or item.release <= now]
        if late:
            self.held = [item for item in self.held if not (everything or item.release <= now)]
            self._enqueue(late)
        out = []
        while self.queue and (everything or self.queue[0].release <= now):
            item = self.queue.popleft()
            out.append((item.datagram, item.notes))
        return out

    def next_release(self) -> float | None:
        times = [item.release for item in self.held]
        if self.queue:
            times.append(self.queue[0].release)
        return min(times) if times else None

    def oldest_pending(self) -> int | None:
        seqs = [item.seq for item in self.held] + [item.seq for item in self.queue]
        return min(seqs) if seqs else None


class Link:
    """One device's link layer (see the module docstring).

    ``transmit(datagram)`` puts a datagram the device sent on the network;
    ``deliver(datagrams)`` gives datagrams to the device (in one step).
    ``wall_clock``: Unix time at device time 0, for capture timestamps (None: 0).
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        transmit: Callable[[Datagram], None],
        deliver: Callable[[list[Datagram]], None],
        wall_clock: float | None = None,
        description: str | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.description = description
        self._transmit = transmit
        self._deliver = deliver
        self._wall = wall_clock or 0.0
        self._out = _Pipe("sent", self._emit_sent)
        self._in = _Pipe("received", self._emit_received)
        self._impairment: Impairment | None = None
        self._seq = 0
        #: Capture files and this device's interface in each.
        self._taps: list[tuple[CaptureFile, int]] = []
        #: Actions waiting for the datagrams sent before them: key -> (seq, action).
        self._waiting: dict[Hashable, tuple[int, Callable[[], None]]] = {}
        self.closed = False

    def __repr__(self) -> str:
        return f"Link({self.name!r}, {self.impairment_text!r})"

    # -- settings ---------------------------------------------------------------------------

    @property
    def impairment(self) -> Impairment | None:
        """The impairment in force (with its seed), or None."""
        return self._impairment

    @property
    def impairment_text(self) -> str:
        return self._impairment.to_text() if self._impairment is not None else "off"

    def impair(self, impairment: Impairment | None) -> None:
        """Set the impairment from now on (None or an inactive one: none).

        What is delayed or held back under the old one goes at once, in order. The
        generators start afresh from the seed (0 when it has none).
        """
        self._release_all()
        if impairment is not None and not impairment.active:
            impairment = None
        if impairment is not None and impairment.seed is None:
            impairment = impairment.with_seed(0)
        self._impairment = impairment
        for pipe in (self._out, self._in):
            if impairment is not None and impairment.applies_to(pipe.direction):
                seed = impairment.seed
                pipe.impairment = impairment
                pipe.rng = random.Random(f"ipgwsim-link/{seed}/{self.name}/{pipe.direction}")
            else:
                pipe.impairment = None
                pipe.rng = None

    def capture(self, file: CaptureFile) -> None:
        """Record this device's datagrams in ``file`` too (once per file)."""
        if any(tap is file for tap, _ in self._taps):
            return
        self._taps.append((file, file.interface(self.name, self.description)))

    @property
    def captures(self) -> list[CaptureFile]:
        return [file for file, _ in self._taps]

    def counters(self) -> LinkCounters:
        return LinkCounters(self._out.counts.frozen(), self._in.counts.frozen())

    # -- datagrams ----------------------------------------------------------------------------

    def send(self, datagram: Datagram) -> None:
        """The device sent ``datagram``: record it, impair it, put it on the network."""
        if self.closed:
            return
        pipe = self._out
        pipe.counts.datagrams += 1
        if not pipe.active:  # (what an earlier impairment held went when it changed)
            self._record(datagram, "sent", ())
            self._transmit(datagram)
            self._run_waiting()
            return
        now = self.clock.now()
        notes = pipe.offer(datagram, now, self._next_seq)
        self._record(datagram, "sent", ("dropped",) if notes is None else notes)
        self._flush(pipe, now)

    def receive(self, datagrams: list[Datagram]) -> None:
        """``datagrams`` arrived for the device (together): impair them, deliver them."""
        if self.closed or not datagrams:
            return
        pipe = self._in
        pipe.counts.datagrams += len(datagrams)
        if not pipe.active:
            for datagram in datagrams:
                self._record(datagram, "received", ())
            self._deliver(datagrams)
            return
        now = self.clock.now()
        for datagram in datagrams:
            if pipe.offer(datagram, now, self._next_seq) is None:
                self._record(datagram, "received", ("dropped, the device did not receive it",))
        self._flush(pipe, now)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _emit_sent(self, items: list[tuple[Datagram, Notes]]) -> None:
        for datagram, _ in items:
            self._transmit(datagram)

    def _emit_received(self, items: list[tuple[Datagram, Notes]]) -> None:
        for datagram, notes in items:
            self._record(datagram, "received", notes)
        self._deliver([datagram for datagram, _ in items])

    def _flush(self, pipe: _Pipe, now: float) -> None:
        items = pipe.due(now)
        if items:
            pipe.emit(items)
        if pipe is self._out:
            self._run_waiting()
        self._arm(pipe)

    def _arm(self, pipe: _Pipe) -> None:
        when = pipe.next_release()
        if when == pipe.timer_at:
            return
        if pipe.timer is not None:
            pipe.timer.cancel()
            pipe.timer = None
        pipe.timer_at = when
        if when is not None and not self.closed:
            pipe.timer = self.clock.call_at(when, lambda: self._on_timer(pipe))

    def _on_timer(self, pipe: _Pipe) -> None:
        pipe.timer = None
        pipe.timer_at = None
        if not self.closed:
            # A timer may fire a hair early: what it was set for is due.
            release = pipe.next_release()
            now = self.clock.now()
            self._flush(pipe, now if release is None else max(now, release))

    def _release_all(self) -> None:
        for pipe in (self._out, self._in):
            items = pipe.due(0.0, everything=True)
            if items:
                pipe.emit(items)
            self._arm(pipe)
        self._run_waiting()

    # -- after the datagrams sent so far --------------------------------------------------

    def after_sent(self, key: Hashable, action: Callable[[], None]) -> None:
        """Run ``action`` once every datagram the device sent so far has left the link.

        At once when nothing is delayed or held. A later call with the same ``key``
        replaces the action; :meth:`cancel` drops it.
        """
        self._waiting.pop(key, None)
        if self._out.oldest_pending() is None:
            action()
            return
        self._waiting[key] = (self._seq, action)

    def cancel(self, key: Hashable) -> None:
        """Drop a waiting action (the device took the port or address again)."""
        self._waiting.pop(key, None)

    def _run_waiting(self) -> None:
        if not self._waiting:
            return
        oldest = self._out.oldest_pending()
        ready = [
            (key, action)
            for key, (seq, action) in self._waiting.items()
            if oldest is None or seq < oldest
        ]
        for key, action in ready:
            if self._waiting.get(key, (0, None))[1] is action:
                del self._waiting[key]
                action()

    # -- captures -------------------------------------------------------------------------

    def _record(self, datagram: Datagram, direction: Direction, notes: Notes) -> None:
        if not self._taps:
            return
        when = self._wall + self.clock.now()
        comments = (f"impairment: {', '.join(notes)}",) if notes else ()
        for file, interface in self._taps:
            file.record(interface, datagram, direction, when, comments)

    def close(self) -> None:
        """The device is gone: nothing more is sent or delivered."""
        self.closed = True
        for pipe in (self._out, self._in):
            if pipe.timer is not None:
                pipe.timer.cancel()
                pipe.timer = None
            pipe.queue.clear()
            pipe.held.clear()
        self._waiting.clear()

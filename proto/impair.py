"""One impairment stage of datagrams: loss, corruption, duplication, reordering, delay.

A stage is what one direction of an impaired link does to the datagrams that pass it,
sans-I/O: :meth:`ImpairStage.offer` decides a datagram's fate at ``now`` and queues what
goes on, :meth:`ImpairStage.due` gives what is due by ``now``, and
:meth:`ImpairStage.next_release` says when the next one is. The runtime's links
(``runtime/link.py``: real sockets, device time) and the virtual network of the tests
(``testing/vnet.py``: virtual time) impair datagrams with it, so both mean the same by
each setting:

- loss, corruption (one bit of the payload flipped), duplication (a second copy right
  after the first) and reordering are percentages of the datagrams (0-100), drawn in
  that order from the stage's generator;
- a datagram waits ``delay`` plus a uniform draw from ``-jitter`` to ``+jitter`` (never
  less than 0), first in first out: it never overtakes an earlier one by its delay;
- a reordered datagram is held back until the next one has gone, then follows it; if
  none comes within :data:`REORDER_HOLD` seconds after its delay it goes alone.

The settings come from any object with those six attributes (:class:`Rates`; the
runtime's ``Impairment`` is one). The generator is injected, so a stage is repeatable.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from ipgwsim.proto.net import Datagram

__all__ = ["REORDER_HOLD", "ImpairStage", "Notes", "Pending", "Rates", "StageCounts"]

#: Longest time (seconds, after its delay) a reordered datagram waits to be overtaken
#: before it goes alone.
REORDER_HOLD: Final = 0.05

#: What a stage did to one datagram, for people (``corrupted, bit 93 flipped``, ...).
Notes = tuple[str, ...]


class Rates(Protocol):
    """What a stage does: percentages (0-100) and seconds."""

    @property
    def loss(self) -> float: ...

    @property
    def duplicate(self) -> float: ...

    @property
    def reorder(self) -> float: ...

    @property
    def corrupt(self) -> float: ...

    @property
    def delay(self) -> float: ...

    @property
    def jitter(self) -> float: ...


@dataclass
class StageCounts:
    """What a stage did, counted."""

    #: Datagrams that came to the stage (counted by its owner).
    datagrams: int = 0
    dropped: int = 0
    #: Extra copies made.
    duplicated: int = 0
    #: Held back so that a later datagram went first.
    reordered: int = 0
    corrupted: int = 0


@dataclass(eq=False)
class Pending:
    """A datagram on its way through a stage."""

    release: float
    #: Its number from the owner's ``seq()``: the order in which the stage took it.
    seq: int
    datagram: Datagram
    notes: Notes


@dataclass
class ImpairStage:
    """One direction of impaired datagrams (see the module docstring).

    ``rates`` and ``rng`` may change between datagrams (None: no impairment; the owner
    then passes datagrams by, as it likes); what is queued keeps its place.
    """

    counts: StageCounts = field(default_factory=StageCounts)
    rates: Rates | None = None
    rng: random.Random | None = None
    queue: deque[Pending] = field(default_factory=deque)
    held: list[Pending] = field(default_factory=list)
    last_release: float = -math.inf

    @property
    def active(self) -> bool:
        return self.rates is not None

    @property
    def pending(self) -> int:
        """How many datagrams are queued or held."""
        return len(self.queue) + len(self.held)

    def offer(self, datagram: Datagram, now: float, seq: Callable[[], int]) -> Notes | None:
        """Decide ``datagram``'s fate and queue what goes on; None: it is dropped."""
        imp, rng = self.rates, self.rng
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
        items = [Pending(release, seq(), datagram, tuple(notes))]
        if copies == 2:
            items.append(Pending(release, seq(), datagram, (*notes, "duplicate")))
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

    def _enqueue(self, items: list[Pending], at: float | None = None) -> None:
        for item in items:
            item.release = max(item.release if at is None else at, self.last_release)
            self.last_release = item.release
            self.queue.append(item)

    def due(self, now: float, everything: bool = False) -> list[Pending]:
        """Take what is due by ``now`` (held datagrams whose hold ran out go alone)."""
        if self.held:
            late = [item for item in self.held if everything or item.release <= now]
            if late:
                self.held = [i for i in self.held if not (everything or i.release <= now)]
                self._enqueue(late)
        out = []
        queue = self.queue
        while queue and (everything or queue[0].release <= now):
            out.append(queue.popleft())
        return out

    def next_release(self) -> float | None:
        times = [item.release for item in self.held]
        if self.queue:
            times.append(self.queue[0].release)
        return min(times) if times else None

    def oldest_pending(self) -> int | None:
        seqs = [item.seq for item in self.held] + [item.seq for item in self.queue]
        return min(seqs) if seqs else None

    def clear(self) -> None:
        """Drop everything queued or held."""
        self.queue.clear()
        self.held.clear()

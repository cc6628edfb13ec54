"""A device's link: the runtime's datagram path between a device and its network.

Every datagram a :class:`~ipgwsim.runtime.host.DeviceHost`'s device sends goes through
:meth:`Link.send` to the network, and every datagram that arrives for it through
:meth:`Link.receive` to the device, in both network modes. On the way the link

- applies the device's :class:`~ipgwsim.runtime.impair.Impairment`, each direction by
  itself, with the one impairment stage of datagrams
  (:class:`~ipgwsim.proto.impair.ImpairStage`, which the virtual network of the tests
  uses too): loss, corruption (one bit of the payload flipped), duplication (a second
  copy right after the first), reordering (the datagram is held back until the next one
  of that direction has gone, then follows it; if none comes within
  :data:`REORDER_HOLD` device seconds after its delay it goes alone) and delay with
  jitter (in device time, first in first out: a datagram never overtakes an earlier one
  by its delay); the link arms the clock for the stage's next release;
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

import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal

from ipgwsim.proto.impair import REORDER_HOLD, ImpairStage, Notes, StageCounts
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.clock import Clock, Timer
from ipgwsim.runtime.impair import DirectionCounters, Impairment, LinkCounters
from ipgwsim.runtime.pcapng import CaptureFile

__all__ = ["REORDER_HOLD", "Link"]

Direction = Literal["sent", "received"]


@dataclass
class _Pipe:
    """One direction of a link: its impairment stage, where its datagrams go, its timer."""

    direction: Direction
    emit: Callable[[list[tuple[Datagram, Notes]]], None]
    stage: ImpairStage = field(default_factory=ImpairStage)
    timer: Timer | None = None
    timer_at: float | None = None

    def due(self, now: float, everything: bool = False) -> list[tuple[Datagram, Notes]]:
        return [(item.datagram, item.notes) for item in self.stage.due(now, everything)]


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
        #: No impairment and no capture (see :attr:`plain`).
        self._plain = True

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
            stage = pipe.stage
            if impairment is not None and impairment.applies_to(pipe.direction):
                seed = impairment.seed
                stage.rates = impairment
                stage.rng = random.Random(f"ipgwsim-link/{seed}/{self.name}/{pipe.direction}")
            else:
                stage.rates = None
                stage.rng = None
        self._update_plain()

    def capture(self, file: CaptureFile) -> None:
        """Record this device's datagrams in ``file`` too (once per file)."""
        if any(tap is file for tap, _ in self._taps):
            return
        self._taps.append((file, file.interface(self.name, self.description)))
        self._update_plain()

    @property
    def captures(self) -> list[CaptureFile]:
        return [file for file, _ in self._taps]

    def counters(self) -> LinkCounters:
        return LinkCounters(_frozen(self._out.stage.counts), _frozen(self._in.stage.counts))

    # -- datagrams ----------------------------------------------------------------------------

    def _update_plain(self) -> None:
        self._plain = (
            not self.closed
            and self._impairment is None
            and not self._taps
            and not self._out.stage.active
            and not self._in.stage.active
        )

    @property
    def plain(self) -> bool:
        """Whether datagrams pass straight through now: no impairment, no capture, no
        action waiting for the datagrams sent before it. Then :meth:`send` and
        :meth:`receive` do nothing but count and pass a datagram on, and a caller may
        pass datagrams by the link itself and count them with :meth:`passed`."""
        return self._plain and not self._waiting

    def passed(self, received: int, sent: int) -> None:
        """Count datagrams that passed by the link while it was :attr:`plain`."""
        self._in.stage.counts.datagrams += received
        self._out.stage.counts.datagrams += sent

    def send(self, datagram: Datagram) -> None:
        """The device sent ``datagram``: record it, impair it, put it on the network."""
        if self.closed:
            return
        pipe = self._out
        stage = pipe.stage
        stage.counts.datagrams += 1
        if not stage.active:  # (what an earlier impairment held went when it changed)
            self._record(datagram, "sent", ())
            self._transmit(datagram)
            self._run_waiting()
            return
        now = self.clock.now()
        notes = stage.offer(datagram, now, self._next_seq)
        self._record(datagram, "sent", ("dropped",) if notes is None else notes)
        self._flush(pipe, now)

    def receive(self, datagrams: list[Datagram]) -> None:
        """``datagrams`` arrived for the device (together): impair them, deliver them."""
        if self.closed or not datagrams:
            return
        pipe = self._in
        stage = pipe.stage
        stage.counts.datagrams += len(datagrams)
        if not stage.active:
            for datagram in datagrams:
                self._record(datagram, "received", ())
            self._deliver(datagrams)
            return
        now = self.clock.now()
        for datagram in datagrams:
            if stage.offer(datagram, now, self._next_seq) is None:
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
        when = pipe.stage.next_release()
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
            release = pipe.stage.next_release()
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
        if self._out.stage.oldest_pending() is None:
            action()
            return
        self._waiting[key] = (self._seq, action)

    def cancel(self, key: Hashable) -> None:
        """Drop a waiting action (the device took the port or address again)."""
        self._waiting.pop(key, None)

    def _run_waiting(self) -> None:
        if not self._waiting:
            return
        oldest = self._out.stage.oldest_pending()
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
        self._plain = False
        for pipe in (self._out, self._in):
            if pipe.timer is not None:
                pipe.timer.cancel()
                pipe.timer = None
            pipe.stage.clear()
        self._waiting.clear()


def _frozen(counts: StageCounts) -> DirectionCounters:
    return DirectionCounters(
        counts.datagrams, counts.dropped, counts.duplicated, counts.reordered, counts.corrupted
    )

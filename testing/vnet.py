"""An in-process virtual network with virtual time, for tests of sans-I/O nodes.

Nodes are plain objects (:class:`~ipgwsim.proto.node.Node`, the shape of every
sans-I/O node), each driven by its own :class:`~ipgwsim.proto.node.Pump`: the network
hands them datagrams and timer calls with the current virtual time and collects what
they want to send. Nothing sleeps and nothing touches a socket: ``net.run(until=30.0)``
simulates 30 seconds at once.

Rules (where there was a choice, the choice is written here):

- The clock starts at 0.0 and only moves forward. :meth:`VirtualNetwork.step` handles
  the earliest pending thing: a datagram arrival or a node's timer. A deadline already in
  the past is handled at the current time.
- At equal times, datagram arrivals come before timers (a reply that arrives exactly at
  a deadline is in time); arrivals among themselves keep the order in which they were
  scheduled, timers the order in which their nodes were attached.
- After every call into a node, and at the start of every step for all nodes (so that a
  test may poke a node directly, e.g. :meth:`Endpoint.sendto`), the network drains
  ``datagrams_to_send()`` and schedules each datagram at ``now`` + a delay.
- Each datagram sent passes the one impairment stage of datagrams
  (:class:`~ipgwsim.proto.impair.ImpairStage`, the same as a runtime link's), with
  ``loss``, ``duplicate`` and ``reorder`` as probabilities and ``delay`` as the range of
  its delay: it is lost with probability ``loss`` (logged ``'lost'`` at the time it is
  sent); else, with probability ``duplicate``, a second copy follows it (logged
  ``'duplicated'`` when sent); it waits a delay drawn uniformly from ``delay``, first in
  first out (it never overtakes an earlier datagram by its delay); with probability
  ``reorder`` it is held back until the next datagram has gone and follows it (alone
  after :data:`~ipgwsim.proto.impair.REORDER_HOLD` seconds if none comes). Every draw
  comes from the injected ``rng``; the default is ``random.Random(0)``, so a network is
  deterministic unless asked otherwise.
- On arrival a datagram goes to every attached node whose ``accepts(dst)`` is true, in
  attach order, except, for a broadcast, the node that sent it. It is logged
  ``'delivered'`` with the number of receivers, or ``'unreachable'`` when no node takes
  it (unicast or broadcast alike).
- A detached node gets nothing more; what it sent before is still delivered.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ipgwsim.proto.impair import ImpairStage
from ipgwsim.proto.net import UNSPECIFIED, Address, Datagram
from ipgwsim.proto.node import Node, Pump
from ipgwsim.runtime.impair import Impairment

__all__ = ["Delivery", "Endpoint", "Fate", "Node", "VirtualNetwork"]

Fate = Literal["delivered", "lost", "duplicated", "unreachable"]

#: How many calls into nodes may happen without the clock moving before the network
#: decides that a node keeps a deadline in the past and never clears it.
MAX_STEPS_PER_INSTANT = 100_000


@dataclass(frozen=True)
class Delivery:
    """One entry of :attr:`VirtualNetwork.log`."""

    #: Virtual time: of the arrival ('delivered', 'unreachable') or of the sending.
    time: float
    datagram: Datagram
    fate: Fate
    #: How many nodes took it ('delivered' only; 0 otherwise).
    receivers: int = 0


class VirtualNetwork:
    """Nodes, a virtual clock, and datagrams in flight between them."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: tuple[float, float] = (0.0005, 0.0005),
    ) -> None:
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability in 0..1, got {p!r}")
        low, high = delay
        if not 0.0 <= low <= high:
            raise ValueError(f"delay must be (min, max) with 0 <= min <= max, got {delay!r}")
        self.rng = rng if rng is not None else random.Random(0)
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.delay = (float(low), float(high))
        #: Every datagram on its way passes this stage (its delay, loss, ...).
        self.stage = ImpairStage(
            rates=Impairment(
                loss=loss * 100,
                duplicate=duplicate * 100,
                reorder=reorder * 100,
                delay=(low + high) / 2,
                jitter=(high - low) / 2,
            ),
            rng=self.rng,
        )
        #: The virtual clock.
        self.now = 0.0
        #: Every datagram's fate, in the order the fates were decided.
        self.log: list[Delivery] = []
        #: 'sent' (every datagram handed to the network) and one count per fate.
        self.counters: Counter[str] = Counter()
        self._nodes: list[Node] = []
        #: One pump per attached node, in attach order (as ``_nodes``).
        self._pumps: list[Pump[object]] = []
        #: Datagrams the stage let go, to be delivered one a step: (datagram, sender).
        self._arrived: deque[tuple[Datagram, Node | None]] = deque()
        #: The sender of each datagram in the stage, by its number there.
        self._senders: dict[int, Node | None] = {}
        self._sender: Node | None = None
        self._seq = 0
        self._steps_at_now = 0

    # ------------------------------------------------------------------ nodes

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The attached nodes, in attach order."""
        return tuple(self._nodes)

    def attach(self, node: Node) -> None:
        """Add ``node``; what it has queued already is sent now.

        Its events (if it emits any) stay in it: a
        :class:`~ipgwsim.testing.recorder.Recorder` around it keeps them with their times.
        """
        if any(n is node for n in self._nodes):
            raise ValueError(f"{node!r} is attached already")
        pump: Pump[object] = Pump(node, lambda datagram: self._schedule(datagram, node))
        self._nodes.append(node)
        self._pumps.append(pump)
        pump.flush()

    def detach(self, node: Node) -> None:
        """Remove ``node``: it gets no datagrams and no timer calls any more."""
        for i, n in enumerate(self._nodes):
            if n is node:
                del self._nodes[i]
                del self._pumps[i]
                return
        raise ValueError(f"{node!r} is not attached")

    def send(self, datagram: Datagram) -> None:
        """Put ``datagram`` on the network from outside any node (at time ``now``)."""
        self._schedule(datagram, None)

    @property
    def in_flight(self) -> int:
        """How many datagrams are on their way."""
        return len(self._arrived) + self.stage.pending

    # ------------------------------------------------------------------ time

    def step(self) -> bool:
        """Handle the next arrival or timer; False when nothing is pending."""
        self._collect_all()
        nxt = self._next()
        if nxt is None:
            return False
        when, timer_pump = nxt
        self._advance(when)
        if timer_pump is None:
            if not self._arrived:
                senders = self._senders
                self._arrived.extend(
                    (item.datagram, senders.pop(item.seq)) for item in self.stage.due(self.now)
                )
            if self._arrived:  # (a held datagram may have joined the queue behind others)
                self._deliver(*self._arrived.popleft())
        else:
            timer_pump.timer(self.now)
        return True

    def run(self, until: float) -> None:
        """Handle everything due up to virtual time ``until``, then set the clock to it."""
        while True:
            self._collect_all()
            nxt = self._next()
            if nxt is None or nxt[0] > until:
                break
            self.step()
        self._advance(until)

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Step until ``predicate()`` holds (checked first and after each step).

        Gives up when the next thing is due later than ``timeout`` virtual seconds from
        now; then the clock stands at that limit and the result is ``predicate()``.
        """
        if predicate():
            return True
        limit = self.now + timeout
        while True:
            self._collect_all()
            nxt = self._next()
            if nxt is None or nxt[0] > limit:
                self._advance(limit)
                return predicate()
            self.step()
            if predicate():
                return True

    # ------------------------------------------------------------------ inside

    def _advance(self, when: float) -> None:
        if when > self.now:
            self.now = when
            self._steps_at_now = 0
            return
        self._steps_at_now += 1
        if self._steps_at_now > MAX_STEPS_PER_INSTANT:
            raise RuntimeError(
                f"{MAX_STEPS_PER_INSTANT} steps at virtual time {self.now} without the "
                "clock moving: a node keeps a deadline in the past"
            )

    def _next(self) -> tuple[float, Pump[object] | None] | None:
        """When the next thing is due, and the pump whose timer it is (None: arrival)."""
        best: tuple[float, Pump[object] | None] | None = None
        if self._arrived:
            best = (self.now, None)
        elif (release := self.stage.next_release()) is not None:
            best = (max(release, self.now), None)
        for pump in self._pumps:
            deadline = pump.node.get_timer()
            if deadline is None:
                continue
            deadline = max(deadline, self.now)
            if best is None or deadline < best[0]:
                best = (deadline, pump)
        return best

    def _collect_all(self) -> None:
        for pump in list(self._pumps):
            pump.flush()

    def _record(self, time: float, datagram: Datagram, fate: Fate, receivers: int = 0) -> None:
        self.log.append(Delivery(time, datagram, fate, receivers))
        self.counters[fate] += 1

    def _schedule(self, datagram: Datagram, sender: Node | None) -> None:
        self.counters["sent"] += 1
        self._sender = sender
        notes = self.stage.offer(datagram, self.now, self._next_seq)
        if notes is None:
            self._record(self.now, datagram, "lost")
        elif "duplicated" in notes:
            self._record(self.now, datagram, "duplicated")

    def _next_seq(self) -> int:
        self._seq += 1
        self._senders[self._seq] = self._sender
        return self._seq

    def _deliver(self, datagram: Datagram, sender: Node | None) -> None:
        receivers = [
            pump
            for pump in self._pumps
            if pump.node.accepts(datagram.dst)
            and not (datagram.is_broadcast and pump.node is sender)
        ]
        if not receivers:
            self._record(self.now, datagram, "unreachable")
            return
        self._record(self.now, datagram, "delivered", len(receivers))
        for pump in receivers:
            pump.receive(datagram, self.now)


class Endpoint:
    """A socket-like node bound to ``(ip, port)``; it keeps what it receives.

    Bound to ``0.0.0.0`` it takes unicast to any address on its port and broadcasts to
    its port, and sends from ``source_ip``; bound to an address it takes only datagrams
    to exactly ``(ip, port)`` (as a socket bound to a unicast address: no broadcasts).
    ``on_receive(datagram, now)`` is called for every datagram it takes and may answer
    with :meth:`sendto`.
    """

    def __init__(
        self,
        ip: str,
        port: int,
        *,
        source_ip: str = "10.0.0.100",
        on_receive: Callable[[Datagram, float], None] | None = None,
    ) -> None:
        self.ip = ip
        self.port = port
        self.source_ip = source_ip
        self.on_receive = on_receive
        self.received: list[Datagram] = []
        self._outbox: list[Datagram] = []

    def __repr__(self) -> str:
        return f"Endpoint({self.ip!r}, {self.port})"

    @property
    def address(self) -> Address:
        """The source address of what it sends."""
        return (self.source_ip if self.ip == UNSPECIFIED else self.ip, self.port)

    def sendto(self, data: bytes, dst: Address) -> None:
        """Queue ``data`` to ``dst``; the network takes it at its next step."""
        self._outbox.append(Datagram(bytes(data), self.address, dst))

    def accepts(self, dst: Address) -> bool:
        if dst[1] != self.port:
            return False
        return self.ip == UNSPECIFIED or dst[0] == self.ip

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self.received.append(datagram)
        if self.on_receive is not None:
            self.on_receive(datagram, now)

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

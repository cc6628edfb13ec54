"""The one shape of a sans-I/O node, and the pump that drives any node.

A node is anything that takes datagrams and timer calls with the current time and
gives datagrams, events and its next deadline: a device, a running firmware and each
of its services, a TFTP mode, a lab tool on the virtual network. Every one of them is
spelled the same way (:class:`Node`, and :class:`EventSource` for those that emit
events):

- inputs: ``receive_datagram(datagram, now)`` and ``handle_timer(now)``;
- outputs, drained by whoever drives it: ``datagrams_to_send()``, ``next_event()``
  (one at a time, None when there is none) and ``get_timer()`` (the absolute time at
  which ``handle_timer`` is due, or None);
- ``accepts(dst)`` tells whether a datagram to ``dst`` is for it.

:class:`Pump` is the one drive loop: after every input it drains the node's events to a
sink and its datagrams to a sender, round after round until no event came (an event
may make the node send more; sending changes nothing in a node); its
:attr:`Pump.deadline` is the node's next deadline. The runtime (real sockets and a
real clock) and the virtual network of the tests (virtual time) both drive their
nodes with it::

    pump = Pump(device, send=network.send, sink=events.append)
    pump.receive(datagram, now)
    pump.timer(pump.deadline)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Generic, Protocol, TypeVar, runtime_checkable

from ipgwsim.proto.net import Address, Datagram

__all__ = ["MAX_ROUNDS", "EventNode", "EventSource", "Node", "Pump", "drain_events"]

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)

#: How many rounds of events a pump takes after one input before it decides that the
#: node makes events without end (a bug in the node).
MAX_ROUNDS: Final = 10_000


class Node(Protocol):
    """A sans-I/O node: datagrams and timer calls in, datagrams and a deadline out."""

    def accepts(self, dst: Address) -> bool:
        """Would a datagram to ``dst`` reach this node?"""

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        """Take one datagram that arrived at time ``now``."""

    def datagrams_to_send(self) -> list[Datagram]:
        """The datagrams queued since the last call (the queue is drained)."""

    def get_timer(self) -> float | None:
        """The absolute time at which :meth:`handle_timer` is due, or None."""

    def handle_timer(self, now: float) -> None:
        """The deadline from :meth:`get_timer` has come; ``now`` is at or after it."""


@runtime_checkable
class EventSource(Protocol[E_co]):
    """What emits events: drained one at a time."""

    def next_event(self) -> E_co | None:
        """The next event, or None when there is none (the queue is drained)."""


class EventNode(Node, EventSource[E_co], Protocol[E_co]):
    """A node that also emits events (a device, a firmware, a TFTP transfer)."""


def drain_events(source: EventSource[E]) -> list[E]:
    """Every event ``source`` has queued, in order (drained)."""
    events: list[E] = []
    while (event := source.next_event()) is not None:
        events.append(event)
    return events


class Pump(Generic[E]):
    """Drives one node (see the module docstring).

    ``send`` takes each datagram the node gives, ``sink`` each event of a node that
    is an :class:`EventSource` (events come first in every round, so that ports a
    device opens are known before its datagrams go out). Without a sink the pump
    leaves the events in the node for whoever reads them. ``settle``, if given, is
    called at the end of every round, once its datagrams are sent (the runtime closes
    the ports a device gave up there: their last datagrams have left by then).
    """

    __slots__ = ("_events", "node", "send", "settle", "sink")

    def __init__(
        self,
        node: Node,
        send: Callable[[Datagram], None],
        sink: Callable[[E], None] | None = None,
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.node = node
        self.send = send
        self.sink = sink
        self.settle = settle
        self._events: Callable[[], E | None] | None = (
            node.next_event if sink is not None and isinstance(node, EventSource) else None
        )

    @property
    def deadline(self) -> float | None:
        """When the node's timer is due next (absolute), or None."""
        return self.node.get_timer()

    def receive(self, datagram: Datagram, now: float) -> None:
        """Hand ``datagram`` to the node at ``now``, then drain it."""
        self.node.receive_datagram(datagram, now)
        self.flush()

    def timer(self, now: float) -> None:
        """Run the node's timer at ``now``, then drain it."""
        self.node.handle_timer(now)
        self.flush()

    def flush(self) -> None:
        """Drain what the node has queued: after every input, and after one the pump did
        not make (a button pressed on a device, a message a lab tool was told to send)."""
        node, send, sink, events, settle = (
            self.node,
            self.send,
            self.sink,
            self._events,
            self.settle,
        )
        for _ in range(MAX_ROUNDS):
            busy = False
            if events is not None and sink is not None:
                while (event := events()) is not None:
                    busy = True
                    sink(event)
            for datagram in node.datagrams_to_send():
                send(datagram)
            if settle is not None:
                settle()
            if not busy:
                return
        raise RuntimeError(f"{node!r} emitted events for {MAX_ROUNDS} rounds without end")

"""A node of the virtual network that keeps every event it emits, with its time.

:class:`Recorder` wraps any :class:`~ipgwsim.proto.node.EventNode` (a device, a running
firmware, a TFTP transfer) so that the :class:`~ipgwsim.testing.vnet.VirtualNetwork`
drives it as it is, and a test reads what it emitted afterwards::

    recorder = Recorder(device, lambda: net.now)
    net.attach(recorder)
    net.run(10.0)
    leds = recorder.timed(LedChanged)

The lab's views of a device (:class:`~ipgwsim.testing.lab.DeviceNode`), of a firmware
(:class:`~ipgwsim.testing.firmware_node.FirmwareNode`) and of a TFTP client
(:class:`~ipgwsim.testing.clients.TftpClientNode`, a
:class:`~ipgwsim.proto.tftp.TransferNode`) are recorders.
"""

from __future__ import annotations

from collections.abc import Callable
from types import UnionType
from typing import Generic, TypeVar

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.node import EventNode

__all__ = ["Recorder"]

E = TypeVar("E")


class Recorder(Generic[E]):
    """``node`` as a node of the virtual network; its events are kept in :attr:`events`.

    Events are taken after every call into the node, before its datagrams are given,
    and whenever :meth:`take` is called (after a test pokes the node directly), each
    with the time ``clock()`` tells then (without a clock: the time of the node's
    last input, 0.0 before the first).
    """

    def __init__(self, node: EventNode[E], clock: Callable[[], float] | None = None) -> None:
        self.node = node
        self.clock = clock if clock is not None else self._last_input
        #: ``(time, event)`` for every event the node emitted, in order.
        self.events: list[tuple[float, E]] = []
        self._last = 0.0
        self.take()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node!r})"

    def _last_input(self) -> float:
        return self._last

    def take(self) -> None:
        """Keep what the node has emitted since the last call."""
        node, events, now = self.node, self.events, self.clock()
        while (event := node.next_event()) is not None:
            events.append((now, event))

    # -- the node shape ------------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        return self.node.accepts(dst)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self._last = now
        self.node.receive_datagram(datagram, now)
        self.take()

    def datagrams_to_send(self) -> list[Datagram]:
        self.take()
        return self.node.datagrams_to_send()

    def get_timer(self) -> float | None:
        return self.node.get_timer()

    def handle_timer(self, now: float) -> None:
        self._last = now
        self.node.handle_timer(now)
        self.take()

    # -- what a test reads ---------------------------------------------------------------

    def timed(self, kind: type | UnionType) -> list[tuple[float, E]]:
        """Every event of ``kind`` so far, with its time."""
        self.take()
        return [(t, e) for t, e in self.events if isinstance(e, kind)]

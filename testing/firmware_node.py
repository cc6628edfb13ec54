"""A running :class:`~ipgwsim.firmware.Firmware` as a node of a virtual network.

Tests of the firmware's services (DHCP client, NetBIOS, CONF) put the firmware on a
:class:`~ipgwsim.testing.vnet.VirtualNetwork` beside the peers written for the test, in
virtual time, without a device or a boot code::

    net = VirtualNetwork()
    node = FirmwareNode(firmware, net)
    net.attach(node)
    net.run_until(lambda: node.service(DhcpClient).lease is not None, timeout=10)

Every event the firmware emits is kept with the network's time of it.
"""

from __future__ import annotations

from types import UnionType
from typing import TypeVar

from ipgwsim.events import ConsoleOutput, Event
from ipgwsim.firmware import Firmware
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.testing.vnet import VirtualNetwork

__all__ = ["FirmwareNode"]

S = TypeVar("S")


class FirmwareNode:
    """``firmware`` with the node shape the virtual network drives (see the module)."""

    def __init__(self, firmware: Firmware, net: VirtualNetwork) -> None:
        self.firmware = firmware
        self.net = net
        #: ``(network time, event)`` for every event the firmware emitted.
        self.events: list[tuple[float, Event]] = []
        self._drain()

    def _drain(self) -> None:
        while (event := self.firmware.next_event()) is not None:
            self.events.append((self.net.now, event))

    def accepts(self, dst: Address) -> bool:
        return self.firmware.accepts(dst)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self.firmware.receive_datagram(datagram, now)
        self._drain()

    def datagrams_to_send(self) -> list[Datagram]:
        self._drain()
        return self.firmware.datagrams_to_send()

    def get_timer(self) -> float | None:
        return self.firmware.get_timer()

    def handle_timer(self, now: float) -> None:
        self.firmware.handle_timer(now)
        self._drain()

    def service(self, kind: type[S]) -> S:
        """The firmware's one service of ``kind`` (AssertionError if not exactly one)."""
        found = [s for s in self.firmware.services if isinstance(s, kind)]
        assert len(found) == 1, f"{len(found)} services of {kind.__name__}"
        return found[0]

    def of_type(self, kind: type[Event] | UnionType) -> list[tuple[float, Event]]:
        """The events of ``kind`` so far, with their times."""
        self._drain()
        return [(t, e) for t, e in self.events if isinstance(e, kind)]

    def console(self) -> list[str]:
        """The console lines so far."""
        self._drain()
        return [e.line for _, e in self.events if isinstance(e, ConsoleOutput)]

"""A running :class:`~ipgwsim.firmware.Firmware` as a node of a virtual network.

Tests of the firmware's services (DHCP client, NetBIOS, CONF) put the firmware on a
:class:`~ipgwsim.testing.vnet.VirtualNetwork` beside the peers written for the test, in
virtual time, without a device or a boot code::

    net = VirtualNetwork()
    node = FirmwareNode(firmware, net)
    net.attach(node)
    net.run_until(lambda: node.service(DhcpClient).lease is not None, timeout=10)

Every event the firmware emits is kept with the network's time of it (a
:class:`~ipgwsim.testing.recorder.Recorder`).
"""

from __future__ import annotations

from types import UnionType
from typing import TypeVar

from ipgwsim.events import ConsoleOutput, Event
from ipgwsim.firmware import Firmware
from ipgwsim.testing.recorder import Recorder
from ipgwsim.testing.vnet import VirtualNetwork

__all__ = ["FirmwareNode"]

S = TypeVar("S")


class FirmwareNode(Recorder[Event]):
    """``firmware`` on the virtual network ``net``, its events recorded (see the module)."""

    def __init__(self, firmware: Firmware, net: VirtualNetwork) -> None:
        self.firmware = firmware
        self.net = net
        super().__init__(firmware, lambda: net.now)

    def service(self, kind: type[S]) -> S:
        """The firmware's one service of ``kind`` (AssertionError if not exactly one)."""
        found = [s for s in self.firmware.services if isinstance(s, kind)]
        assert len(found) == 1, f"{len(found)} services of {kind.__name__}"
        return found[0]

    def of_type(self, kind: type[Event] | UnionType) -> list[tuple[float, Event]]:
        """The events of ``kind`` so far, with their times."""
        return self.timed(kind)

    def console(self) -> list[str]:
        """The console lines so far."""
        return [e.line for _, e in self.timed(ConsoleOutput) if isinstance(e, ConsoleOutput)]

"""What a running firmware's network services look like to it (sans-I/O).

A service is a :class:`~ipgwsim.proto.node.Node` (the shape of every sans-I/O node):
the firmware asks each service whether it ``accepts`` a destination, hands it the
datagrams, collects what it wants to send and runs its timers. Services open their
ports with ``Firmware.open_port`` (``PortOpened``) and change ETH0's address with
``Firmware.set_address`` / ``Firmware.drop_address``, after which every service's
``address_changed`` is called (a service added later sees the address at its start).
"""

from __future__ import annotations

from typing import Protocol

from ipgwsim.proto.node import Node

__all__ = ["Service"]


class Service(Node, Protocol):
    """A :class:`~ipgwsim.proto.node.Node` told when ETH0's address changes."""

    def address_changed(self) -> None:
        """ETH0's address changed (``Firmware.address``: the new one, or None)."""

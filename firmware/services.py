"""What a running firmware's network services look like to it (sans-I/O).

A service takes and gives datagrams and has timers, with the same shape as the device:
the firmware asks each service whether it ``accepts`` a destination, hands it the
datagrams, collects what it wants to send and runs its timers. Services open their
ports with ``Firmware.open_port`` (``PortOpened``) and change ETH0's address with
``Firmware.set_address`` / ``Firmware.drop_address``, after which every service's
``address_changed`` is called (a service added later sees the address at its start).
"""

from __future__ import annotations

from typing import Protocol

from ipgwsim.proto.net import Address, Datagram

__all__ = ["Service"]


class Service(Protocol):
    def accepts(self, dst: Address) -> bool: ...

    def receive_datagram(self, datagram: Datagram, now: float) -> None: ...

    def datagrams_to_send(self) -> list[Datagram]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def address_changed(self) -> None:
        """ETH0's address changed (``Firmware.address``: the new one, or None)."""

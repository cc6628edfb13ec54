"""Placeholder: being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipgwsim.proto.net import Address, Datagram

if TYPE_CHECKING:
    from ipgwsim.firmware.running import Firmware


class NetbiosResponder:
    def __init__(self, firmware: Firmware, now: float = 0.0) -> None:
        self.firmware = firmware

    def accepts(self, dst: Address) -> bool:
        return False

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        return None

    def datagrams_to_send(self) -> list[Datagram]:
        return []

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def address_changed(self) -> None:
        return None

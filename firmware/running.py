"""The running firmware of one device (sans-I/O, like the boot code)."""

from __future__ import annotations

from ipgwsim.events import ConsoleOutput, Event
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.net import Address, Datagram


class Firmware:
    """A firmware image of ``build`` running on a device of ``profile``.

    It never answers gwload (gwload-protocol.md section 2: only the boot code in
    TFTP mode does) and, until it has a configured address, takes no datagrams.
    """

    def __init__(self, profile: Profile, build: str) -> None:
        self.profile = profile
        self.build = build
        self._events: list[Event] = [ConsoleOutput(f"{profile.model} firmware {build} running")]

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

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

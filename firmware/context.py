"""What the firmware's services and its admin web server may use of it (sans-I/O).

Each one receives a narrow context instead of the whole :class:`~ipgwsim.firmware.Firmware`
with its private members: who the device is and its config (:class:`DeviceInfo`); for a
network service (NetBIOS, CONF) also ETH0's address, the time, randomness, its ports and
the log (:class:`ServiceContext`); the DHCP client may set and drop ETH0's address
(:class:`DhcpContext`); the update client and the admin web server run commands, full
configs and images (:class:`UpdateContext`, :class:`AdminContext`). The firmware
implements all of them (mypy checks it where it hands itself over); a test can hand a
service a small fake instead.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from ipgwsim.firmware.config import Config
from ipgwsim.firmware.logins import Logins, PasswordCheck
from ipgwsim.flash.image import ImageKind
from ipgwsim.flash.vars import VarStore
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.net import Address

__all__ = [
    "AdminContext",
    "DeviceInfo",
    "DhcpContext",
    "ServiceContext",
    "StoreResult",
    "UpdateContext",
]


@dataclass(frozen=True)
class StoreResult:
    """What came of storing an image (``store_image``); ``message`` is the web UI's text."""

    stored: bool
    no_space: bool
    message: str


class DeviceInfo(Protocol):
    """Who the device is, and the config that runs."""

    @property
    def profile(self) -> Profile: ...

    @property
    def build(self) -> str:
        """The running firmware's build."""

    @property
    def boot_build(self) -> int | None:
        """The build of the boot code that started the firmware."""

    @property
    def serial(self) -> str:
        """12 lower-case hex digits, the ETH0 MAC."""

    @property
    def hardware_id(self) -> str: ...

    @property
    def active(self) -> Config:
        """The config that runs."""


class ServiceContext(DeviceInfo, Protocol):
    """What a network service of the firmware may use: ETH0's address, the device time of
    the last input, randomness, its ports and the log."""

    @property
    def address(self) -> tuple[str, str] | None:
        """ETH0's address ``(ip, mask)`` while it has one."""

    @property
    def now(self) -> float: ...

    @property
    def rng(self) -> random.Random: ...

    def open_port(self, address: Address) -> None: ...

    def close_port(self, address: Address) -> None: ...

    def log_event(self, text: str) -> None:
        """An entry of the event log, also shown on the console."""

    def say(self, line: str) -> None:
        """A line on the console only."""


class DhcpContext(ServiceContext, Protocol):
    """The DHCP client's: ETH0's address comes and goes with its lease."""

    def set_address(self, ip: str, mask: str, *, gateway: str = ..., how: str) -> None: ...

    def drop_address(self, why: str) -> None: ...


class _Commands(Protocol):
    """Commands, full configs and images: what the admin web server and the update
    client do to the device."""

    def execute(self, line: str) -> str: ...

    def full_config(self) -> str: ...

    def load_full_config(self, text: str, *, require_eth0: bool = ...) -> str: ...

    def store_image(self, kind: ImageKind, data: bytes) -> StoreResult: ...


class UpdateContext(ServiceContext, _Commands, Protocol):
    """The update client's: its vars, fetches, the time of day and final commands."""

    @property
    def vars(self) -> VarStore | None:
        """The device's vars; None for a firmware without a flash."""

    def flash_changed(self, what: str) -> None: ...

    @property
    def dhcp_update_url(self) -> str | None: ...

    def fetch(self, method: str, url: str, *, body: bytes | None = ..., purpose: str = ...) -> int:
        """Ask for an HTTP request; the id its result will carry."""

    def time_of_day(self, now: float) -> float | None: ...

    def final_command(self, word: str, reason: str) -> str:
        """Run an update script's final command (``reset``, ``iresetn``, ...)."""


class AdminContext(DeviceInfo, _Commands, Protocol):
    """The admin web server's: logins and the event log besides commands."""

    @property
    def now(self) -> float: ...

    @property
    def logins(self) -> Logins: ...

    @property
    def log(self) -> deque[tuple[float, str]]: ...

    def password_check(self, user: str, password: str) -> PasswordCheck: ...

    def note_admin_command(self, user: str, line: str) -> None: ...

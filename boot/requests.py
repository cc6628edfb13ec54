"""What TFTP mode asks of the boot code, what it refuses, and the policies it is given.

The boot code (:class:`~ipgwsim.boot.bootcode.BootCode`) drains
:attr:`~ipgwsim.boot.tftpmode.TftpMode.requests` for what only it may do: start the
firmware, restart, program an image. A :class:`Refusal` carries the TFTP error a
refused request or upload gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from ipgwsim.flash.image import ImageInfo, ImageKind
from ipgwsim.proto.net import Address
from ipgwsim.proto.tftp import ErrorCode

#: Says why an address cannot be taken (``None``: it can). The runtime passes one
#: in: on loopback only 127.0.0.0/8 addresses no other device has.
AddressPolicy = Callable[[IPv4Address], "str | None"]
#: Whether the network can open a transfer port at an address now. The runtime passes one
#: in on loopback, where other programs of the host may hold ports of the device's address.
PortPolicy = Callable[[Address], bool]


@dataclass(frozen=True)
class RunningBoot:
    """Which boot code runs: its build, and whether it is the rescue copy."""

    build: int
    rescue: bool = False


@dataclass(frozen=True)
class StartRequested:
    """gwload GO was acknowledged: start the firmware."""


@dataclass(frozen=True)
class RestartRequested:
    """gwload RESET was acknowledged: restart."""


@dataclass(frozen=True)
class ImageUploaded:
    """An image arrived and passed every check; the boot code programs it."""

    kind: ImageKind
    region: str
    data: bytes
    info: ImageInfo


Request = StartRequested | RestartRequested | ImageUploaded


class Refusal(Exception):
    """A request or upload the device refuses, with the TFTP error to send."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code

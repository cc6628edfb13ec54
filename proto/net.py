"""Addresses and datagrams as the sans-I/O layers see them.

A device model is a plain IPv4 endpoint: every datagram it takes or gives
carries full source and destination addresses, as a packet on the wire would.
The runtime maps them onto real sockets (on loopback, the limited broadcast
``255.255.255.255`` becomes ``127.255.255.255``); the in-process virtual network
of the tests delivers them as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

#: An IPv4 address and a UDP port.
Address = tuple[str, int]

#: The limited broadcast a device in TFTP mode hears and answers to.
LIMITED_BROADCAST = "255.255.255.255"
#: The source address of a device that has no address yet.
UNSPECIFIED = "0.0.0.0"


class Datagram(NamedTuple):
    """One UDP datagram: payload, source and destination.

    A named tuple rather than a frozen dataclass: one is made for every
    datagram a device takes or gives, and a tuple is several times cheaper.
    """

    data: bytes
    src: Address
    dst: Address

    @property
    def is_broadcast(self) -> bool:
        return self.dst[0] == LIMITED_BROADCAST


@dataclass(frozen=True)
class NetworkCapabilities:
    """What a device's network offers it, declared once by the network.

    ``dhcp``: a DHCP server may answer, so the firmware runs a DHCP client for ``/dhcp
    client|auto``. ``netbios``: the firmware answers NetBIOS name queries (UDP 137).
    ``serve_address``: where the network serves a firmware address (the loopback network
    serves ``192.168.0.1`` as ``127.168.0.1``); None: as it is. The firmware runs on the
    served address, so that what it tells peers (SIP contact, SDP) reaches it.
    """

    dhcp: bool = False
    netbios: bool = False
    serve_address: Callable[[str], str] | None = None

    def served(self, ip: str) -> str:
        """Where ``ip`` is served on this network."""
        return ip if self.serve_address is None else self.serve_address(ip)

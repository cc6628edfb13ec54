"""Addresses and datagrams as the sans-I/O layers see them.

A device model is a plain IPv4 endpoint: every datagram it takes or gives
carries full source and destination addresses, as a packet on the wire would.
The runtime maps them onto real sockets (on loopback, the limited broadcast
``255.255.255.255`` becomes ``127.255.255.255``); the in-process virtual network
of the tests delivers them as they are.
"""

from __future__ import annotations

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

"""The NetBIOS name service of the running firmware: it answers queries for its names.

Course10/11/12 (initial start-up and recovery): the device is found by a NetBIOS name on its
LAN segment: the plain ETH0 MAC (``0090330614B3``, from v10 and the form the course pages
give) and the older ``<model>-XX-XX-XX`` with the MAC's last three bytes
(``IP800-06-14-B3``, still supported). A B-node responder (RFC 1001/1002, the wire format in
:mod:`ipgwsim.proto.netbios`):

- It listens on UDP 137 only while ETH0 has an address (``Firmware.address``): it opens
  ``("255.255.255.255", 137)`` and ``(ip, 137)``; when the address goes it closes the
  unicast port (the broadcast one stays open, every query is ignored without an
  address), when it changes it moves the unicast port.
- NAME QUERY REQUEST (broadcast or unicast) for one of its names with the suffix 0x00 or
  0x20, compared case-insensitively, in no scope: a POSITIVE NAME QUERY RESPONSE from
  ``(ip, 137)`` to the querier's address and port: ETH0's address, unique, B node, TTL
  :data:`ANSWER_TTL`, flags ``AA|RD`` (RFC 1002 4.2.13). Any other name or suffix: no
  answer (a B node that does not own a name stays silent).
- NODE STATUS REQUEST for ``*`` (any suffix) or one of its names: the name table (both
  names, each with both suffixes, unique, B node, active) and the MAC as the statistics'
  UNIT_ID.
- Responses, other opcodes (registrations, releases, ...), malformed packets and
  queries from ``0.0.0.0`` or port 0 are ignored.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ipgwsim.proto.net import LIMITED_BROADCAST, UNSPECIFIED, Address, Datagram
from ipgwsim.proto.netbios import (
    NBNS_PORT,
    MalformedPacket,
    NameQueryRequest,
    NameQueryResponse,
    NbAddress,
    NetbiosName,
    NodeName,
    NodeStatusRequest,
    NodeStatusResponse,
    encode_packet,
    parse_packet,
)

if TYPE_CHECKING:
    from ipgwsim.firmware.context import ServiceContext

__all__ = ["ANSWER_TTL", "SUFFIXES", "NetbiosResponder", "netbios_names"]

#: Seconds a positive answer may be cached: 300000 (3 days 11 h 20 min), what Windows
#: answers with (and scapy's default). The vendor's value is not documented.
ANSWER_TTL = 300_000
#: The suffixes the device answers: 0x00 (workstation; what ``nmblookup NAME`` asks) and
#: 0x20 (server; ``nmblookup NAME#20``, what SMB clients ask for ``\\NAME``).
SUFFIXES = (0x00, 0x20)
#: The longest NetBIOS name (the 16th byte is the suffix).
_MAX_NAME = 15


def netbios_names(model: str, serial: str) -> tuple[str, ...]:
    """The device's names: the plain MAC and ``<MODEL>-XX-XX-XX`` (upper case).

    ``serial`` is the MAC as 12 hex digits. The old form is left out where it would be
    longer than 15 characters (no such model exists today).
    """
    mac = serial.upper()
    old = f"{model}-{mac[6:8]}-{mac[8:10]}-{mac[10:12]}".upper()
    return (mac, old) if len(old) <= _MAX_NAME else (mac,)


class NetbiosResponder:
    """Answers NetBIOS name queries and node status requests for the device's names."""

    def __init__(self, context: ServiceContext, now: float = 0.0) -> None:
        self.context = context
        #: The names it answers for, upper case.
        self.names = netbios_names(context.profile.model, context.serial)
        self._mac = bytes.fromhex(context.serial)
        self._outbox: list[Datagram] = []
        self._unicast: Address | None = None
        self._broadcast_open = False
        # A service added after the address was set sees it at its start.
        self.address_changed()

    # -- what it answers -----------------------------------------------------------------

    def owns(self, name: NetbiosName) -> bool:
        """Whether ``name`` is one of the device's names with a suffix it answers."""
        return name.scope == "" and name.suffix in SUFFIXES and name.name.upper() in self.names

    def name_table(self) -> tuple[NodeName, ...]:
        """The node status name table: every name with every suffix (unique, B node, active)."""
        return tuple(NodeName(name, suffix) for name in self.names for suffix in SUFFIXES)

    # -- the Service protocol ------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        address = self.context.address
        if address is None or dst[1] != NBNS_PORT:
            return False
        ip, mask = address
        return dst[0] in (LIMITED_BROADCAST, ip, _directed_broadcast(ip, mask))

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        address = self.context.address
        if address is None or not self.accepts(datagram.dst):
            return
        if datagram.src[0] == UNSPECIFIED or datagram.src[1] == 0:
            return
        try:
            packet = parse_packet(datagram.data)
        except MalformedPacket:
            return
        ip = address[0]
        answer: NameQueryResponse | NodeStatusResponse
        if isinstance(packet, NameQueryRequest):
            if not self.owns(packet.name):
                return
            entry = NbAddress(ipaddress.IPv4Address(ip))
            answer = NameQueryResponse(packet.transaction_id, packet.name, (entry,), ttl=ANSWER_TTL)
        elif isinstance(packet, NodeStatusRequest):
            asked = packet.name
            if not ((asked.is_wildcard and asked.scope == "") or self.owns(asked)):
                return
            answer = NodeStatusResponse(packet.transaction_id, asked, self.name_table(), self._mac)
        else:  # a response: not ours to answer
            return
        self._outbox.append(Datagram(encode_packet(answer), (ip, NBNS_PORT), datagram.src))

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def address_changed(self) -> None:
        """Open the ports for ETH0's new address, close the unicast one of the old."""
        address = self.context.address
        wanted = (address[0], NBNS_PORT) if address is not None else None
        if self._unicast is not None and self._unicast != wanted:
            # Answers not yet sent would leave from an address the device no longer has.
            self._outbox.clear()
            self.context.close_port(self._unicast)
            self._unicast = None
        if wanted is None:
            return
        if not self._broadcast_open:
            self.context.open_port((LIMITED_BROADCAST, NBNS_PORT))
            self._broadcast_open = True
        if self._unicast is None:
            self.context.open_port(wanted)
            self._unicast = wanted
            self.context.say(f"NetBIOS: answering for {', '.join(self.names)} at {wanted[0]}")


def _directed_broadcast(ip: str, mask: str) -> str:
    """The subnet's broadcast address (``10.0.0.255`` for 10.0.0.5/255.255.255.0)."""
    try:
        network = ipaddress.IPv4Network(f"{ip}/{mask}", strict=False)
    except ValueError:  # pragma: no cover - the config checks addresses and masks
        return LIMITED_BROADCAST
    return str(network.broadcast_address)

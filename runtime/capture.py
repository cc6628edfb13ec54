"""Packet captures of what a gwload client sends and receives, with scapy layers for gwload.

**Layers.** :class:`GWLOAD` is the 16-byte header of a gwload control message
(``gwload-protocol.md`` section 3: opcode, version, flags, xid, mac, gwtype; big-endian)
and :class:`GWLOAD_HELLO`, :class:`GWLOAD_SETIP`, :class:`GWLOAD_ACK` and
:class:`GWLOAD_NAK` are the bodies, chosen by the header's opcode (DISCOVER, GO and RESET
have no body). The byte layout is the one of :mod:`ipgwsim.proto.gwload`; a *string* is
a length field (``<name>_len``, one byte, filled in when building) and that many bytes.
Bytes after a body are dissected as ``Padding`` (a receiver ignores them).

**Binding.** gwload shares UDP port 69 with TFTP. :func:`install_layers` (run on import,
idempotent) puts :class:`GWLOAD` in front of scapy's own ``UDP``/``TFTP`` binding for
datagrams *to or from* the port; :meth:`GWLOAD.dispatch_hook` then keeps a payload whose
first byte is ``0x47`` as gwload and hands anything else to scapy's ``TFTP`` (so RRQ,
WRQ, DATA, ACK, ERROR and OACK on the port dissect as before, and also those sent *from*
port 69, which scapy alone leaves raw). ``install_layers(port=N)`` adds a port the
runtime was configured with (tests run unprivileged on other ports).

**Captures.** :class:`Capture` records datagrams as the sans-I/O layers see them
(:class:`~ipgwsim.proto.net.Datagram`) with their direction and time, and
:meth:`Capture.write` writes them as a classic pcap file of IPv4/UDP packets with link
type ``LINKTYPE_IPV4`` (228, raw IPv4: no Ethernet header, so no MAC addresses to make
up; scapy's own link type for ``IP`` packets), which ``rdpcap``, tcpdump and Wireshark
read. Addresses are written as recorded, the
unspecified source ``0.0.0.0`` and the limited broadcast included. Classic pcap has no
direction; it is kept in :attr:`Capture.records` and in each packet's ``direction``
(pcapng's convention: 1 inbound = received, 2 outbound = sent).
:meth:`Capture.write_pcapng` writes a pcapng instead, with the direction of every
packet (``ipgwsim.runtime.pcapng``).
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

from ipgwsim.proto.gwload import VERSION, DeviceState, NakCode, Opcode
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.extras import extra_imports
from ipgwsim.runtime.pcapng import write_datagrams

with extra_imports(__name__):
    from scapy.fields import (
        ByteEnumField,
        ByteField,
        FieldLenField,
        IntField,
        IPField,
        MACField,
        ShortEnumField,
        ShortField,
        StrLenField,
    )
    from scapy.layers.inet import IP, UDP
    from scapy.layers.tftp import TFTP
    from scapy.packet import Packet, Raw, bind_top_down
    from scapy.utils import wrpcap

__all__ = [
    "GWLOAD",
    "GWLOAD_ACK",
    "GWLOAD_HELLO",
    "GWLOAD_NAK",
    "GWLOAD_PORT",
    "GWLOAD_SETIP",
    "LINKTYPE_IPV4",
    "Capture",
    "CapturedDatagram",
    "install_layers",
]

#: The UDP port gwload shares with TFTP.
GWLOAD_PORT = 69
#: The pcap link type of the files :meth:`Capture.write` writes: raw IPv4 packets.
LINKTYPE_IPV4 = 228

#: The first byte of every gwload opcode (0x4701..0x47FF); TFTP opcodes start with 0x00.
_GWLOAD_FIRST_BYTE = 0x47

_OPCODES = {int(m): m.name for m in Opcode}
_NAK_CODES = {int(m): m.name for m in NakCode}
_STATES = {int(m): m.name for m in DeviceState}
_REQUESTS = {Opcode.DISCOVER, Opcode.SETIP, Opcode.GO, Opcode.RESET}
_REPLIES = {Opcode.HELLO, Opcode.ACK, Opcode.NAK}


def _string(name: str) -> list[Any]:
    """A gwload *string*: a length byte ``<name>_len`` and that many bytes ``<name>``."""
    length = f"{name}_len"
    return [
        FieldLenField(length, None, length_of=name, fmt="B"),
        StrLenField(name, b"", length_from=lambda pkt: getattr(pkt, length)),
    ]


class GWLOAD(Packet):
    """The header every gwload control message starts with."""

    name = "gwload"
    fields_desc = [  # noqa: RUF012 - scapy's declaration style
        ShortEnumField("opcode", int(Opcode.DISCOVER), _OPCODES),
        ByteField("version", VERSION),
        ByteField("flags", 0),
        IntField("xid", 0),
        MACField("mac", "00:00:00:00:00:00"),
        ShortField("gwtype", 0),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> Any:
        """gwload if the payload starts with 0x47, scapy's TFTP for anything else."""
        if _pkt and _pkt[0] != _GWLOAD_FIRST_BYTE:
            return TFTP
        return cls

    def answers(self, other: Any) -> bool:
        """A HELLO, ACK or NAK answers a request with the same xid."""
        return (
            isinstance(other, GWLOAD)
            and self.opcode in _REPLIES
            and other.opcode in _REQUESTS
            and self.xid == other.xid
        )

    def mysummary(self) -> Any:
        return self.sprintf("gwload %GWLOAD.opcode% xid=%GWLOAD.xid% mac=%GWLOAD.mac%"), [UDP]


class _Body(Packet):
    """A message body: bytes after it are padding, which a receiver ignores."""

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class GWLOAD_HELLO(_Body):
    """HELLO (device): the answer to DISCOVER and SETIP."""

    name = "gwload HELLO"
    fields_desc = [  # noqa: RUF012
        IPField("ip", "0.0.0.0"),
        IPField("mask", "0.0.0.0"),
        ByteEnumField("state", int(DeviceState.TFTP_MODE), _STATES),
        ShortField("boot_build", 0),
        *_string("model"),
        *_string("firmware_build"),
        *_string("config_name"),
    ]


class GWLOAD_SETIP(_Body):
    """SETIP (client): take this address."""

    name = "gwload SETIP"
    fields_desc = [  # noqa: RUF012
        IPField("ip", "0.0.0.0"),
        IPField("mask", "0.0.0.0"),
        IPField("gateway", "0.0.0.0"),
    ]


class GWLOAD_ACK(_Body):
    """ACK (device): the request with opcode ``acked`` is done."""

    name = "gwload ACK"
    fields_desc = [ShortEnumField("acked", int(Opcode.GO), _OPCODES)]  # noqa: RUF012


class GWLOAD_NAK(_Body):
    """NAK (device): the request is refused."""

    name = "gwload NAK"
    fields_desc = [  # noqa: RUF012
        ShortEnumField("code", int(NakCode.NOT_SUPPORTED), _NAK_CODES),
        *_string("text"),
    ]


_BODIES: dict[Opcode, Any] = {
    Opcode.HELLO: GWLOAD_HELLO,
    Opcode.SETIP: GWLOAD_SETIP,
    Opcode.ACK: GWLOAD_ACK,
    Opcode.NAK: GWLOAD_NAK,
}


def _bind_first(lower: Any, upper: Any, **fval: Any) -> None:
    """Bind ``upper`` on ``lower`` for dissection ahead of every other binding, once."""
    entry = (fval, upper)
    others = [guess for guess in lower.payload_guess if guess != entry]
    lower.payload_guess = [entry, *others]


def install_layers(port: int = GWLOAD_PORT) -> None:
    """Dissect UDP datagrams to or from ``port`` as gwload or TFTP (see the module text).

    Idempotent; run on import for port 69. Building ``UDP()/GWLOAD()`` sets ``dport``
    to the last port installed.
    """
    _bind_first(UDP, GWLOAD, sport=port)
    _bind_first(UDP, GWLOAD, dport=port)
    bind_top_down(UDP, GWLOAD, dport=port)
    for opcode, body in _BODIES.items():
        _bind_first(GWLOAD, body, opcode=int(opcode))
        bind_top_down(GWLOAD, body, opcode=int(opcode))


install_layers()


# --------------------------------------------------------------------------- captures

#: The directions :meth:`Capture.record` accepts, as pcapng ``direction`` values.
_DIRECTIONS = {"received": 1, "sent": 2}


class CapturedDatagram(NamedTuple):
    """One recorded datagram."""

    datagram: Datagram
    #: ``"sent"`` or ``"received"``, from the point of view of whoever recorded it.
    direction: str
    #: Seconds since the epoch (or any clock starting at or after 0).
    when: float


class Capture:
    """The datagrams a client (or any endpoint) sent and received, to write as a pcap.

    ``record`` keeps a datagram in memory; ``write`` writes all of them, in the order
    they were recorded, as IPv4/UDP packets in a classic pcap file with link type
    :data:`LINKTYPE_IPV4` (raw IPv4, no Ethernet header). Port 69 traffic in it dissects
    with scapy as :class:`GWLOAD` or ``TFTP``; Wireshark shows it as TFTP (it has no
    gwload dissector).
    """

    def __init__(self) -> None:
        self._records: list[CapturedDatagram] = []

    def record(self, datagram: Datagram, direction: str, when: float) -> None:
        """Keep ``datagram``, ``"sent"`` or ``"received"`` at ``when`` (seconds, >= 0)."""
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be 'sent' or 'received', got {direction!r}")
        if not (math.isfinite(when) and when >= 0):
            raise ValueError(f"when must be a finite number of seconds >= 0, got {when!r}")
        self._records.append(CapturedDatagram(datagram, direction, float(when)))

    @property
    def records(self) -> tuple[CapturedDatagram, ...]:
        """What was recorded so far, in order."""
        return tuple(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def packets(self) -> list[Any]:
        """The recorded datagrams as scapy ``IP/UDP`` packets with ``time`` and ``direction``."""
        packets = []
        for datagram, direction, when in self._records:
            (src, sport), (dst, dport) = datagram.src, datagram.dst
            packet = IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(datagram.data)
            packet.time = when
            packet.direction = _DIRECTIONS[direction]
            packets.append(packet)
        return packets

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write everything recorded to ``path`` as a pcap file (replacing it)."""
        wrpcap(os.fspath(path), self.packets(), linktype=LINKTYPE_IPV4)

    def write_pcapng(
        self,
        path: str | os.PathLike[str],
        interface: str = "gwload",
        description: str | None = None,
    ) -> None:
        """Write everything recorded to ``path`` as a pcapng file with the directions.

        One interface, named ``interface``; every packet carries its direction in the
        enhanced packet block's flags (inbound: received, outbound: sent).
        """
        write_datagrams(
            os.fspath(path), self._records, interface=interface, description=description
        )

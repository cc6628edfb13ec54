"""Captures as pcapng: one interface per device, the direction of every packet.

:class:`PcapNgWriter` writes the pcapng format (the IETF draft *PCAP Next Generation
(pcapng) Capture File Format*): a section header block, an interface description block
per interface (``if_name``, ``if_description``) and an enhanced packet block per
packet with its flags word (the direction: 1 inbound, 2 outbound) and comments
(``opt_comment``). The link type is raw IPv4 (228, as :mod:`ipgwsim.runtime.capture`'s
classic pcaps): every datagram is written as an IPv4 header, a UDP header (checksum 0:
"not computed", which IPv4 allows) and the payload. Times are microseconds.

:class:`CaptureFile` is what the runtime keeps open: a file of one or more devices,
written as packets come and flushed once per event-loop turn (so a reader sees the file
grow: ``tshark -r`` works while the runtime runs), complete after :meth:`CaptureFile.close`.
A write error (a full disk) stops that capture with one line in the runtime's log;
the devices go on. :func:`write_datagrams` writes recorded datagrams as a file of one
interface at once (``gwload /pcap``).

scapy's own ``PcapNgWriter`` can name interfaces and set the direction too, but it
always writes an unnamed interface 0 first (with the first packet's link type) and an
interface only with its first packet; here every device's interface is written when the
device is attached, and the interface numbers are the order of attachment from 0. The
block layouts are declared once, with construct, below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final

from construct import Bytes, Const, Construct, Int8ub, Int16ub, Int16ul, Int32ul, Int64sl, Struct

from ipgwsim import __version__
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.errors import RuntimeSetupError

__all__ = [
    "DIRECTION_INBOUND",
    "DIRECTION_OUTBOUND",
    "LINKTYPE_IPV4",
    "CaptureFile",
    "PcapNgWriter",
    "ipv4_udp",
    "write_datagrams",
]

#: Raw IPv4 packets, no link-layer header.
LINKTYPE_IPV4: Final = 228
#: The direction bits of an enhanced packet block's flags word.
DIRECTION_INBOUND: Final = 1
DIRECTION_OUTBOUND: Final = 2
#: ``"sent"``/``"received"`` (the device's view) as the flags' direction bits.
DIRECTIONS: Final = {"sent": DIRECTION_OUTBOUND, "received": DIRECTION_INBOUND}

_SHB: Final = 0x0A0D0D0A
_IDB: Final = 1
_EPB: Final = 6
_OPT_END: Final = 0
_OPT_COMMENT: Final = 1
_SHB_USERAPPL: Final = 4
_IF_NAME: Final = 2
_IF_DESCRIPTION: Final = 3
_EPB_FLAGS: Final = 2
#: The largest option value (the length field has 16 bits), kept 4-aligned.
_MAX_OPTION: Final = 65532
_SNAPLEN: Final = 0  # no limit
_MAX_IPV4: Final = 0xFFFF


def _compiled(layout: Construct[Any, Any]) -> Construct[Any, Any]:
    return layout.compile()


#: Every block: its type and total length, the body (a multiple of 4 bytes), the
#: total length again.
BLOCK_HEADER = _compiled(Struct("type" / Int32ul, "total_length" / Int32ul))
BLOCK_TRAILER = _compiled(Struct("total_length" / Int32ul))
#: An option: code, length of the value, the value padded to 4 bytes. A list of options
#: ends with code 0 (opt_endofopt).
OPTION_HEADER = _compiled(Struct("code" / Int16ul, "length" / Int16ul))
#: Section header block body (little-endian, version 1.0, section length unknown: -1).
SHB_BODY = _compiled(
    Struct(
        "magic" / Const(0x1A2B3C4D, Int32ul),
        "major" / Const(1, Int16ul),
        "minor" / Const(0, Int16ul),
        "section_length" / Int64sl,
    )
)
#: Interface description block body.
IDB_BODY = _compiled(
    Struct("linktype" / Int16ul, "reserved" / Const(0, Int16ul), "snaplen" / Int32ul)
)
#: Enhanced packet block body, before the packet data.
EPB_BODY = _compiled(
    Struct(
        "interface_id" / Int32ul,
        "timestamp_high" / Int32ul,
        "timestamp_low" / Int32ul,
        "captured_length" / Int32ul,
        "original_length" / Int32ul,
    )
)
#: The IPv4 header of a captured datagram (no options, UDP).
IPV4_HEADER = _compiled(
    Struct(
        "version_ihl" / Const(0x45, Int8ub),
        "tos" / Const(0, Int8ub),
        "total_length" / Int16ub,
        "identification" / Int16ub,
        "flags_fragment" / Int16ub,
        "ttl" / Int8ub,
        "protocol" / Const(17, Int8ub),
        "checksum" / Int16ub,
        "src" / Bytes(4),
        "dst" / Bytes(4),
    )
)
UDP_HEADER = _compiled(
    Struct("src_port" / Int16ub, "dst_port" / Int16ub, "length" / Int16ub, "checksum" / Int16ub)
)
#: Don't fragment: a captured datagram is whole.
_DF: Final = 0x4000


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _options(options: Iterable[tuple[int, bytes]]) -> bytes:
    out = b"".join(
        OPTION_HEADER.build({"code": code, "length": len(value)}) + _pad(value)
        for code, value in options
    )
    return out + OPTION_HEADER.build({"code": _OPT_END, "length": 0}) if out else b""


def _text(value: str) -> bytes:
    return value.encode("utf-8")[:_MAX_OPTION]


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return (
        BLOCK_HEADER.build({"type": kind, "total_length": total})
        + body
        + BLOCK_TRAILER.build({"total_length": total})
    )


def _ipv4_checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, len(header), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(datagram: Datagram, identification: int = 0) -> bytes:
    """``datagram`` as a raw IPv4 packet (TTL 64, don't fragment, UDP checksum 0)."""
    (src, sport), (dst, dport) = datagram.src, datagram.dst
    length = 8 + len(datagram.data)
    fields = {
        "total_length": min(20 + length, _MAX_IPV4),
        "identification": identification & 0xFFFF,
        "flags_fragment": _DF,
        "ttl": 64,
        "checksum": 0,
        "src": socket.inet_aton(src),
        "dst": socket.inet_aton(dst),
    }
    header = IPV4_HEADER.build(fields)
    checksum = _ipv4_checksum(header).to_bytes(2, "big")
    udp = UDP_HEADER.build(
        {"src_port": sport, "dst_port": dport, "length": min(length, 0xFFFF), "checksum": 0}
    )
    return header[:10] + checksum + header[12:] + udp + datagram.data


class PcapNgWriter:
    """Writes a pcapng section to ``file``: the header at once, then interfaces and packets."""

    def __init__(self, file: BinaryIO, *, application: str = f"ipgwsim {__version__}") -> None:
        self.file = file
        self._interfaces: dict[str, int] = {}
        body = SHB_BODY.build({"section_length": -1}) + _options(
            [(_SHB_USERAPPL, _text(application))]
        )
        file.write(_block(_SHB, body))

    def interface(self, name: str, description: str | None = None) -> int:
        """The number of interface ``name``; a new one is written on first use."""
        number = self._interfaces.get(name)
        if number is not None:
            return number
        options = [(_IF_NAME, _text(name))]
        if description:
            options.append((_IF_DESCRIPTION, _text(description)))
        body = IDB_BODY.build({"linktype": LINKTYPE_IPV4, "snaplen": _SNAPLEN}) + _options(options)
        self.file.write(_block(_IDB, body))
        number = self._interfaces[name] = len(self._interfaces)
        return number

    @property
    def interfaces(self) -> dict[str, int]:
        return dict(self._interfaces)

    def packet(
        self,
        interface: int,
        packet: bytes,
        when: float,
        *,
        direction: int | None = None,
        comments: Sequence[str] = (),
    ) -> None:
        """One enhanced packet block: ``packet`` (raw IPv4) at ``when`` (Unix seconds)."""
        if not 0 <= interface < len(self._interfaces):
            raise ValueError(f"no interface {interface} in this capture")
        micros = max(0, round(when * 1_000_000))
        options = [(_OPT_COMMENT, _text(comment)) for comment in comments]
        if direction is not None:
            options.append((_EPB_FLAGS, Int32ul.build(direction & 0x3)))
        body = (
            EPB_BODY.build(
                {
                    "interface_id": interface,
                    "timestamp_high": micros >> 32,
                    "timestamp_low": micros & 0xFFFFFFFF,
                    "captured_length": len(packet),
                    "original_length": len(packet),
                }
            )
            + _pad(packet)
            + _options(options)
        )
        self.file.write(_block(_EPB, body))


def write_datagrams(
    path: Path | str,
    records: Iterable[tuple[Datagram, str, float]],
    *,
    interface: str,
    description: str | None = None,
) -> None:
    """Write ``(datagram, "sent"|"received", when)`` records as a pcapng of one interface.

    The file is replaced; an :class:`OSError` says why it could not be written.
    """
    with open(path, "wb") as file:
        writer = PcapNgWriter(file)
        number = writer.interface(interface, description)
        for ident, (datagram, direction, when) in enumerate(records, start=1):
            writer.packet(number, ipv4_udp(datagram, ident), when, direction=DIRECTIONS[direction])


class CaptureFile:
    """A pcapng file the runtime writes as datagrams come (see the module docstring)."""

    def __init__(self, path: Path | str, *, log: logging.Logger | None = None) -> None:
        self.path = Path(path)
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        #: Why the capture stopped (a write error), or None.
        self.error: str | None = None
        #: Packets written so far.
        self.packets = 0
        self._ident = 0
        self._flush_handle: asyncio.Handle | None = None
        self.closed = False
        try:
            self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - open until close()
        except OSError as exc:
            raise RuntimeSetupError(
                f"cannot write the capture {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            self._writer = PcapNgWriter(self._file)
            self._file.flush()
        except OSError as exc:
            with contextlib.suppress(OSError):  # what is buffered cannot be written either
                self._file.close()
            raise RuntimeSetupError(
                f"cannot write the capture {self.path}: {exc.strerror or exc}"
            ) from None

    def __repr__(self) -> str:
        return f"CaptureFile({os.fspath(self.path)!r})"

    def interface(self, name: str, description: str | None = None) -> int:
        """The interface number of device ``name`` in this file (written on first use)."""
        if self.closed or self.error is not None:
            return self._writer.interfaces.get(name, -1)
        try:
            number = self._writer.interface(name, description)
        except OSError as exc:
            self._fail(exc)
            return -1
        self._schedule_flush()
        return number

    def record(
        self,
        interface: int,
        datagram: Datagram,
        direction: str,
        when: float,
        comments: Sequence[str] = (),
    ) -> None:
        """Write ``datagram`` as ``"sent"`` or ``"received"`` on ``interface`` at ``when``."""
        if self.closed or self.error is not None or interface < 0:
            return
        self._ident = (self._ident + 1) & 0xFFFF
        try:
            self._writer.packet(
                interface,
                ipv4_udp(datagram, self._ident),
                when,
                direction=DIRECTIONS[direction],
                comments=comments,
            )
        except OSError as exc:
            self._fail(exc)
            return
        self.packets += 1
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_handle = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is buffered (done once per event-loop turn by itself)."""
        self._flush_handle = None
        if self.closed or self.error is not None:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = f"capture {self.path} stopped: {exc.strerror or exc}"
        self.log.warning("%s", self.error)

    def close(self) -> None:
        """Flush and close: the file is complete."""
        if self.closed:
            return
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.flush()
        self.closed = True
        try:
            self._file.close()
        except OSError as exc:
            if self.error is None:
                self._fail(exc)


class CaptureFiles:
    """The open capture files of one runtime, one per file (by resolved path), in the
    order they were opened (the runtime's first)."""

    def __init__(self, *, log: logging.Logger | None = None) -> None:
        self._log = log
        self._files: dict[Path, CaptureFile] = {}

    def open(self, *paths: Path | None) -> list[CaptureFile]:
        """The capture files at ``paths`` (None: none), each once, opened now if not yet."""
        found: list[CaptureFile] = []
        for path in paths:
            if path is None:
                continue
            key = path.resolve()
            capture = self._files.get(key)
            if capture is None:
                capture = self._files[key] = CaptureFile(path, log=self._log)
            if capture not in found:
                found.append(capture)
        return found

    @property
    def files(self) -> list[CaptureFile]:
        return list(self._files.values())

    def close(self) -> None:
        for capture in self._files.values():
            capture.close()

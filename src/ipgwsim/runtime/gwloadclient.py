"""gwload requests over a real UDP socket: ask, repeat until answered, collect replies.

The lab side of gwload-protocol.md section 3 as small blocking functions
(``discover``, ``setip``, ``go``, ``reset``), with the contract's client rules:
every request is repeated until answered (5 tries, 1 s apart by default), and
``setip`` without a MAC discovers first and refuses to guess when several
devices answer.
"""

from __future__ import annotations

import random
import selectors
import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Address

from ipgwsim.proto import gwload


class GwloadError(Exception):
    """A request was not answered, refused, or ambiguous; ``str()`` says which."""


class NoAnswer(GwloadError):
    pass


class Refused(GwloadError):
    def __init__(self, nak: gwload.Nak) -> None:
        super().__init__(f"device {gwload.format_mac(nak.mac)} refused: {nak.text}")
        self.nak = nak


class Ambiguous(GwloadError):
    pass


@dataclass(frozen=True)
class Lab:
    """Where the lab PC sends: the device port and the broadcast address."""

    port: int = 69
    broadcast: str = "255.255.255.255"
    tries: int = 5
    interval: float = 1.0


def _exchange(
    lab: Lab,
    message: gwload.Message,
    to: str,
    *,
    collect: float = 0.0,
) -> list[tuple[gwload.Message, tuple[str, int]]]:
    """Send ``message`` until something answers; with ``collect``, keep listening that long."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("0.0.0.0", 0))
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    data = gwload.encode_message(message)
    replies: list[tuple[gwload.Message, tuple[str, int]]] = []
    try:
        for _ in range(lab.tries):
            sock.sendto(data, (to, lab.port))
            deadline = time.monotonic() + lab.interval
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    break
                while True:
                    try:
                        raw, src = sock.recvfrom(2048)
                    except BlockingIOError:
                        break
                    try:
                        reply = gwload.parse_message(raw)
                    except gwload.MalformedMessage:
                        continue
                    if reply.xid == message.xid and not isinstance(reply, type(message)):
                        replies.append((reply, src))
                if replies and collect == 0.0:
                    return replies
                if replies:
                    deadline = min(deadline, time.monotonic() + collect)
            if replies:
                return replies
    finally:
        selector.close()
        sock.close()
    return replies


def _xid() -> int:
    return random.getrandbits(32)


def discover(lab: Lab, *, gwtype: int = 0, mac: bytes = gwload.ANY_MAC) -> list[gwload.Hello]:
    """Every device in TFTP mode that answers a broadcast DISCOVER (may be empty)."""
    message = gwload.Discover(_xid(), mac, gwtype)
    replies = _exchange(lab, message, lab.broadcast, collect=lab.interval)
    seen: dict[bytes, gwload.Hello] = {}
    for reply, _ in replies:
        if isinstance(reply, gwload.Hello):
            seen.setdefault(reply.mac, reply)
    return list(seen.values())


def _one(replies: list[tuple[gwload.Message, tuple[str, int]]], what: str) -> gwload.Message:
    if not replies:
        raise NoAnswer(f"no answer to {what} (retry errors)")
    reply = replies[0][0]
    if isinstance(reply, gwload.Nak):
        raise Refused(reply)
    return reply


def setip(
    lab: Lab,
    ip: str,
    *,
    gwtype: int = 0,
    mac: bytes | None = None,
    mask: str = "255.255.255.0",
    gateway: str = "0.0.0.0",
) -> gwload.Hello:
    """Give the device in TFTP mode ``ip``; its HELLO from the new address."""
    if mac is None:
        found = discover(lab, gwtype=gwtype)
        if not found:
            others = discover(lab) if gwtype else []
            if others:  # the contract: say which types did answer
                kinds = ", ".join(
                    f"{h.model} (gwtype {h.gwtype}, {gwload.format_mac(h.mac)})" for h in others
                )
                raise NoAnswer(
                    f"no device of gwtype {gwtype} in TFTP mode answered; devices of other "
                    f"types did: {kinds}"
                )
            raise NoAnswer(f"no device of gwtype {gwtype or 'any'} in TFTP mode answered")
        if len(found) > 1:
            macs = ", ".join(gwload.format_mac(h.mac) for h in found)
            raise Ambiguous(f"{len(found)} devices answered ({macs}): name one by its MAC")
        mac = found[0].mac
    message = gwload.SetIp(
        _xid(),
        mac,
        gwtype,
        ip=IPv4Address(ip),
        mask=IPv4Address(mask),
        gateway=IPv4Address(gateway),
    )
    reply = _one(_exchange(lab, message, lab.broadcast), "SETIP")
    if not isinstance(reply, gwload.Hello):
        raise GwloadError(f"unexpected answer to SETIP: {reply}")
    return reply


def go(lab: Lab, ip: str, mac: bytes, gwtype: int = 0) -> None:
    """Leave TFTP mode and start the firmware."""
    _one(_exchange(lab, gwload.Go(_xid(), mac, gwtype), ip), "GO")


def reset(lab: Lab, ip: str, mac: bytes, gwtype: int = 0) -> None:
    """Restart the device (the boot code decides as after power-on)."""
    _one(_exchange(lab, gwload.Reset(_xid(), mac, gwtype), ip), "RESET")

"""gwload requests over a real UDP socket: ask, repeat until answered, collect replies.

The lab side of gwload-protocol.md section 3 as small blocking functions
(``discover``, ``setip``, ``go``, ``reset``), with the contract's client rules:
every request is repeated until answered (5 tries, 1 s apart by default), and
``setip`` without a MAC discovers first and refuses to guess when several
devices answer. Retries, xid matching, the collect window and busy waits are the
sans-I/O engine's (:class:`~ipgwsim.proto.gwloadclient.GwloadRequest`); this module
opens the socket and drives it with the real clock (:func:`~ipgwsim.runtime.blocking.drive`).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address

from ipgwsim.proto import gwload
from ipgwsim.proto.gwloadclient import (
    Accept,
    Ambiguous,
    GwloadError,
    GwloadRequest,
    NoAnswer,
    NotUnderstood,
    Outcome,
    Refused,
    Unanswered,
    any_reply,
    the_reply,
)
from ipgwsim.runtime.blocking import DatagramHook, drive
from ipgwsim.runtime.errors import describe_error

__all__ = [
    "MORE_ANSWERS",
    "Ambiguous",
    "BadInterface",
    "DatagramHook",
    "GwloadError",
    "Lab",
    "NoAnswer",
    "NotUnderstood",
    "Refused",
    "discover",
    "go",
    "hello",
    "open_socket",
    "reset",
    "setip",
]

#: After the first HELLO to a broadcast DISCOVER, how long to listen for more:
#: devices on one segment answer within milliseconds.
MORE_ANSWERS = 0.25


class BadInterface(GwloadError):
    """The interface to send on does not exist or may not be used."""


@dataclass(frozen=True)
class Lab:
    """Where and how the lab PC sends: port, broadcast, interface, retries."""

    port: int = 69
    broadcast: str = "255.255.255.255"
    tries: int = 5
    interval: float = 1.0
    #: Send on this network interface only (``/if``; SO_BINDTODEVICE needs root).
    interface: str | None = None
    on_datagram: DatagramHook | None = None


def open_socket(lab: Lab) -> socket.socket:
    """A UDP socket bound to the wildcard address (it must hear broadcast replies)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if lab.interface is not None:
            try:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_BINDTODEVICE, lab.interface.encode() + b"\0"
                )
            except OSError as exc:
                raise BadInterface(
                    f"cannot send on interface {lab.interface!r}: {describe_error(exc)}"
                ) from None
        sock.bind(("0.0.0.0", 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _xid() -> int:
    return random.getrandbits(32)


def _ask(
    lab: Lab,
    make: Callable[[int], gwload.Message],
    to: str,
    what: str,
    *,
    collect: float = 0.0,
    accept: Accept = any_reply,
    busy_wait: float | None = None,
) -> Outcome:
    """Drive one :class:`~ipgwsim.proto.gwloadclient.GwloadRequest` over a socket of its
    own until it has its outcome."""
    sock = open_socket(lab)
    try:
        sock.setblocking(False)
        request = GwloadRequest(
            make,
            (to, lab.port),
            sock.getsockname(),
            time.monotonic(),
            xids=_xid,
            what=what,
            tries=lab.tries,
            interval=lab.interval,
            collect=collect,
            accept=accept,
            busy_wait=busy_wait,
        )
        drive(
            request,
            sock,
            on_event=lambda _: None,
            done=lambda _: request.finished,
            on_datagram=lab.on_datagram,
        )
    finally:
        sock.close()
    assert request.outcome is not None
    return request.outcome


def discover(lab: Lab, *, gwtype: int = 0, mac: bytes = gwload.ANY_MAC) -> list[gwload.Hello]:
    """Every device in TFTP mode that answers a broadcast DISCOVER (may be empty)."""
    outcome = _ask(
        lab,
        lambda xid: gwload.Discover(xid, mac, gwtype),
        lab.broadcast,
        "DISCOVER",
        collect=min(lab.interval, MORE_ANSWERS),
    )
    if isinstance(outcome, Unanswered):
        if outcome.tftp_error is not None:
            raise outcome.error()
        return []
    seen: dict[bytes, gwload.Hello] = {}
    for reply, _ in outcome.replies:
        if isinstance(reply, gwload.Hello):
            seen.setdefault(reply.mac, reply)
    return list(seen.values())


def setip(
    lab: Lab,
    ip: str,
    *,
    gwtype: int = 0,
    mac: bytes | None = None,
    mask: str = "255.255.255.0",
    gateway: str = "0.0.0.0",
    busy_wait: float = 0.0,
) -> gwload.Hello:
    """Give the device in TFTP mode ``ip``; its HELLO from the new address.

    A device that is busy (NAK 4: programming, or a transfer waiting for its last ACK) is
    asked again for up to ``busy_wait`` seconds.
    """
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
    target, wanted = mac, IPv4Address(ip)

    def message(xid: int) -> gwload.Message:
        return gwload.SetIp(
            xid,
            target,
            gwtype,
            ip=wanted,
            mask=IPv4Address(mask),
            gateway=IPv4Address(gateway),
        )

    def from_the_device(reply: gwload.Message, src: tuple[str, int]) -> bool:
        # The contract: HELLO from the new address, naming it; or a NAK from that device.
        if isinstance(reply, gwload.Nak):
            return reply.mac == target
        return (
            isinstance(reply, gwload.Hello)
            and reply.mac == target
            and reply.ip == wanted
            and src[0] == ip
        )

    reply = the_reply(
        _ask(lab, message, lab.broadcast, "SETIP", accept=from_the_device, busy_wait=busy_wait)
    )
    assert isinstance(reply, gwload.Hello)
    return reply


def _acked(opcode: gwload.Opcode) -> Accept:
    """Accepts a NAK, or an ACK of ``opcode`` (GO or RESET)."""

    def ack_or_nak(reply: gwload.Message, src: tuple[str, int]) -> bool:
        return isinstance(reply, gwload.Nak) or (
            isinstance(reply, gwload.Ack) and reply.acked == opcode
        )

    return ack_or_nak


def go(lab: Lab, ip: str, mac: bytes, gwtype: int = 0, *, busy_wait: float = 0.0) -> None:
    """Leave TFTP mode and start the firmware (waiting up to ``busy_wait`` s while busy)."""
    make = partial(gwload.Go, mac=mac, gwtype=gwtype)
    the_reply(_ask(lab, make, ip, "GO", accept=_acked(gwload.Opcode.GO), busy_wait=busy_wait))


def reset(lab: Lab, ip: str, mac: bytes, gwtype: int = 0, *, busy_wait: float = 0.0) -> None:
    """Restart the device (waiting up to ``busy_wait`` s while it is busy)."""
    make = partial(gwload.Reset, mac=mac, gwtype=gwtype)
    the_reply(_ask(lab, make, ip, "RESET", accept=_acked(gwload.Opcode.RESET), busy_wait=busy_wait))


def hello(lab: Lab, ip: str, *, mac: bytes = gwload.ANY_MAC, gwtype: int = 0) -> gwload.Hello:
    """Ask an addressed device directly (unicast DISCOVER) for its HELLO."""
    reply = the_reply(_ask(lab, lambda xid: gwload.Discover(xid, mac, gwtype), ip, "DISCOVER"))
    if not isinstance(reply, gwload.Hello):
        raise GwloadError(f"unexpected answer to DISCOVER: {reply}")
    return reply

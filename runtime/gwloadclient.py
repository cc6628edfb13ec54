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
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from ipgwsim.proto import gwload
from ipgwsim.runtime.errors import describe_error

#: After the first HELLO to a broadcast DISCOVER, how long to listen for more:
#: devices on one segment answer within milliseconds.
MORE_ANSWERS = 0.25


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


class BadInterface(GwloadError):
    """The interface to send on does not exist or may not be used."""


class NotUnderstood(GwloadError):
    """The device answered a request with a TFTP ERROR: its boot code does not know it."""


#: ``on_datagram(direction, data, src, dst)``: every datagram sent ("sent") or
#: received ("received"), e.g. for a pcap (``gwload /pcap``) or ``/v``.
DatagramHook = Callable[[str, bytes, tuple[str, int], tuple[str, int]], None]


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


#: Which replies a request takes: ``accept(reply, source)``.
Accept = Callable[[gwload.Message, tuple[str, int]], bool]


def _any_reply(reply: gwload.Message, src: tuple[str, int]) -> bool:
    return True


def _exchange(
    lab: Lab,
    message: gwload.Message,
    to: str,
    *,
    collect: float = 0.0,
    accept: Accept = _any_reply,
) -> list[tuple[gwload.Message, tuple[str, int]]]:
    """Send ``message`` until something answers; with ``collect``, keep listening that long.

    Replies count when they echo the request's xid, are not requests themselves
    and ``accept`` takes them. A TFTP ERROR in answer (boot code that does not
    know the request answers as a TFTP server would) raises :class:`NotUnderstood`
    once the tries are used up without a reply.
    """
    sock = open_socket(lab)
    sock.setblocking(False)
    local = ("0.0.0.0", sock.getsockname()[1])
    hook = lab.on_datagram
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    data = gwload.encode_message(message)
    replies: list[tuple[gwload.Message, tuple[str, int]]] = []
    tftp_error: str | None = None
    try:
        for _ in range(lab.tries):
            sock.sendto(data, (to, lab.port))
            if hook is not None:
                hook("sent", data, local, (to, lab.port))
            deadline = time.monotonic() + lab.interval
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    break
                while True:
                    try:
                        raw, src = sock.recvfrom(2048)
                    except BlockingIOError:
                        break
                    if hook is not None:
                        hook("received", raw, src, local)
                    if raw[:2] == b"\x00\x05":  # TFTP ERROR
                        tftp_error = raw[4:].split(b"\0", 1)[0].decode("ascii", "replace")
                        continue
                    try:
                        reply = gwload.parse_message(raw)
                    except gwload.MalformedMessage:
                        continue
                    if (
                        reply.xid == message.xid
                        and not isinstance(reply, type(message))
                        and accept(reply, src)
                    ):
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
    if tftp_error is not None:
        raise NotUnderstood(
            f"retry errors: the boot code does not know this request "
            f"(it answered TFTP ERROR: {tftp_error})"
        )
    return replies


def _xid() -> int:
    return random.getrandbits(32)


def discover(lab: Lab, *, gwtype: int = 0, mac: bytes = gwload.ANY_MAC) -> list[gwload.Hello]:
    """Every device in TFTP mode that answers a broadcast DISCOVER (may be empty)."""
    message = gwload.Discover(_xid(), mac, gwtype)
    replies = _exchange(lab, message, lab.broadcast, collect=min(lab.interval, MORE_ANSWERS))
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

    def message() -> gwload.Message:
        return gwload.SetIp(
            _xid(),
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

    reply = _until_not_busy(lab, message, lab.broadcast, "SETIP", busy_wait, accept=from_the_device)
    assert isinstance(reply, gwload.Hello)
    return reply


def _acked(what: str) -> Callable[[gwload.Message, tuple[str, int]], bool]:
    """Accepts a NAK, or an ACK of ``what`` (GO or RESET)."""
    opcode = {"GO": gwload.Opcode.GO, "RESET": gwload.Opcode.RESET}[what]

    def ack_or_nak(reply: gwload.Message, src: tuple[str, int]) -> bool:
        return isinstance(reply, gwload.Nak) or (
            isinstance(reply, gwload.Ack) and reply.acked == opcode
        )

    return ack_or_nak


def _until_not_busy(
    lab: Lab,
    make: Callable[[], gwload.Message],
    to: str,
    what: str,
    busy_wait: float,
    *,
    accept: Callable[[gwload.Message, tuple[str, int]], bool] | None = None,
) -> gwload.Message:
    """Ask until the device is not busy any more (NAK 4 while it programs flash)."""
    give_up = time.monotonic() + busy_wait
    check = accept if accept is not None else _acked(what)
    while True:
        replies = _exchange(lab, make(), to, accept=check)
        if not replies:
            raise NoAnswer(f"no answer to {what} (retry errors)")
        reply = replies[0][0]
        if not (isinstance(reply, gwload.Nak) and reply.code == gwload.NakCode.BUSY):
            break
        if time.monotonic() >= give_up:
            raise Refused(reply)
        time.sleep(lab.interval)  # the device is programming: ask again in a moment
    if isinstance(reply, gwload.Nak):
        raise Refused(reply)
    return reply


def go(lab: Lab, ip: str, mac: bytes, gwtype: int = 0, *, busy_wait: float = 0.0) -> None:
    """Leave TFTP mode and start the firmware (waiting up to ``busy_wait`` s while busy)."""
    _until_not_busy(lab, lambda: gwload.Go(_xid(), mac, gwtype), ip, "GO", busy_wait)


def reset(lab: Lab, ip: str, mac: bytes, gwtype: int = 0, *, busy_wait: float = 0.0) -> None:
    """Restart the device (waiting up to ``busy_wait`` s while it is busy)."""
    _until_not_busy(lab, lambda: gwload.Reset(_xid(), mac, gwtype), ip, "RESET", busy_wait)


def hello(lab: Lab, ip: str, *, mac: bytes = gwload.ANY_MAC, gwtype: int = 0) -> gwload.Hello:
    """Ask an addressed device directly (unicast DISCOVER) for its HELLO."""
    reply = _one(_exchange(lab, gwload.Discover(_xid(), mac, gwtype), ip), "DISCOVER")
    if not isinstance(reply, gwload.Hello):
        raise GwloadError(f"unexpected answer to DISCOVER: {reply}")
    return reply

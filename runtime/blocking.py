"""One blocking drive loop: a sans-I/O node on one UDP socket, driven by the real clock.

The blocking clients (``gwloadclient``, ``tftpclient``) are thin adapters over their
engines; this is the loop they share. Each round the one pump
(:class:`~ipgwsim.proto.node.Pump`) hands the node's events to ``on_event`` and sends
what it queued, stops once ``done(now)`` holds, and otherwise waits
on the socket until the node's deadline (or ``wake()``, if earlier): every datagram
that arrived is handed to the node before the clock is read again, and a deadline
that passed runs the node's timer.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.node import EventNode, Pump

#: ``on_datagram(direction, data, src, dst)`` for every datagram ("sent"/"received"),
#: e.g. for a pcap (``gwload /pcap``) or ``/v``.
DatagramHook = Callable[[str, bytes, Address, Address], None]


def _never() -> float | None:
    return None


def drive(
    node: EventNode[object],
    sock: socket.socket,
    *,
    on_event: Callable[[object], None],
    done: Callable[[float], bool],
    wake: Callable[[], float | None] = _never,
    on_datagram: DatagramHook | None = None,
    size: int = 65536,
) -> None:
    """Drive ``node`` over the non-blocking ``sock`` until ``done(now)``; what the node
    queued by then is sent. Its events and datagrams are drained by the one
    :class:`~ipgwsim.proto.node.Pump`, so they go out in the order every driver keeps."""
    local: Address = sock.getsockname()
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)

    def send(datagram: Datagram) -> None:
        sock.sendto(datagram.data, datagram.dst)
        if on_datagram is not None:
            on_datagram("sent", datagram.data, local, datagram.dst)

    pump: Pump[object] = Pump(node, send, on_event)
    try:
        while True:
            pump.flush()
            now = time.monotonic()
            if done(now):
                break
            deadline = node.get_timer()
            later = wake()
            due = [t for t in (deadline, later) if t is not None]
            timeout = max(0.0, min(due) - now) if due else None
            if selector.select(timeout):
                _receive_all(node, sock, local, on_datagram, size)
            elif deadline is not None and (now := time.monotonic()) >= deadline:
                node.handle_timer(now)
        pump.flush()
    finally:
        selector.close()


def _receive_all(
    node: EventNode[object],
    sock: socket.socket,
    local: Address,
    on_datagram: DatagramHook | None,
    size: int,
) -> None:
    """Take everything queued before looking at the clock again."""
    while True:
        try:
            data, src = sock.recvfrom(size)
        except BlockingIOError:
            return
        if on_datagram is not None:
            on_datagram("received", data, src, local)
        node.receive_datagram(Datagram(data, src, local), time.monotonic())

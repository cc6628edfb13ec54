"""A blocking TFTP client over a real UDP socket, driving the sans-I/O engine.

Used by ``gwload`` and the benchmarks: one client that asks for blksize and
windowsize and falls back to plain RFC 1350 when a server refuses options, so
that it can be pointed at any TFTP server (the simulated device, tftp-hpa's
``in.tftpd``, tftpy's server).
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.tftp import (
    ClientRead,
    ClientWrite,
    OptionsNegotiated,
    Progress,
    TimerPolicy,
    TransferComplete,
    TransferFailed,
)

#: ``on_datagram(direction, data, src, dst)`` for every datagram ("sent"/"received").
DatagramHook = Callable[[str, bytes, Address, Address], None]

#: Seconds a reader stays after its last ACK (RFC 1350's dally), by default.
DALLY = 1.0


class TftpClientError(Exception):
    """A transfer failed; ``str()`` says why (the server's message or a timeout)."""

    def __init__(self, reason: str, code: int | None) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class TransferResult:
    data: bytes | None
    #: The options the server granted (empty for plain RFC 1350).
    options: dict[str, str]
    blksize: int
    windowsize: int
    seconds: float


def _open(bind: Address, interface: str | None) -> socket.socket:
    """The transfer's socket: non-blocking, with a receive buffer a window fits in."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        if interface is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode() + b"\0")
        sock.bind(bind)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _receive_all(
    sock: socket.socket,
    transfer: ClientRead | ClientWrite,
    on_datagram: DatagramHook | None,
    local: Address,
) -> None:
    """Take everything queued before looking at the clock again."""
    while True:
        try:
            data, src = sock.recvfrom(65536)
        except BlockingIOError:
            return
        if on_datagram is not None:
            on_datagram("received", data, src, local)
        transfer.receive_datagram(Datagram(data, src, local), time.monotonic())


def _run(
    transfer: ClientRead | ClientWrite,
    *,
    bind: Address,
    progress: Callable[[int, int | None], None] | None,
    dally: float,
    on_datagram: DatagramHook | None = None,
    interface: str | None = None,
) -> TransferResult:
    sock = _open(bind, interface)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    local = sock.getsockname()

    def send(data: bytes, to: Address) -> None:
        sock.sendto(data, to)
        if on_datagram is not None:
            on_datagram("sent", data, local, to)

    start = time.monotonic()
    negotiated: OptionsNegotiated | None = None
    result: TransferComplete | TransferFailed | None = None
    done_at: float | None = None
    try:
        while True:
            for data, to in transfer.datagrams_to_send():
                send(data, to)
            while (event := transfer.next_event()) is not None:
                if isinstance(event, OptionsNegotiated):
                    negotiated = event
                elif isinstance(event, Progress) and progress is not None:
                    progress(event.done, event.total)
                elif isinstance(event, TransferComplete | TransferFailed) and result is None:
                    result = event
            now = time.monotonic()
            if isinstance(result, TransferFailed):
                break
            if result is not None:
                # Done. After the last ACK of a read, stay a little (dally) so that a
                # lost ACK is answered when the server sends its last DATA again.
                done_at = now if done_at is None else done_at
                if transfer.finished or now >= done_at + dally:
                    break
            deadline = transfer.get_timer()
            wake = deadline
            if done_at is not None:
                wake = done_at + dally if wake is None else min(wake, done_at + dally)
            timeout = None if wake is None else max(0.0, wake - now)
            if selector.select(timeout):
                _receive_all(sock, transfer, on_datagram, local)
            elif deadline is not None and time.monotonic() >= deadline:
                transfer.handle_timer(time.monotonic())
        for data, to in transfer.datagrams_to_send():
            send(data, to)
    finally:
        selector.close()
        sock.close()
    if isinstance(result, TransferFailed):
        raise TftpClientError(result.reason, result.error_code)
    assert result is not None
    seconds = (done_at if done_at is not None else time.monotonic()) - start
    return TransferResult(
        result.data,
        dict(negotiated.options) if negotiated is not None else {},
        negotiated.blksize if negotiated is not None else 512,
        negotiated.windowsize if negotiated is not None else 1,
        seconds,
    )


def tftp_get(
    server: Address,
    filename: str,
    *,
    options: dict[str, str] | None = None,
    timers: TimerPolicy | None = None,
    bind: Address = ("0.0.0.0", 0),
    progress: Callable[[int, int | None], None] | None = None,
    dally: float = DALLY,
    on_datagram: DatagramHook | None = None,
    interface: str | None = None,
) -> TransferResult:
    """Read ``filename`` from ``server``; :class:`TftpClientError` if it fails.

    After the last ACK it stays ``dally`` seconds to answer a repeated last DATA
    (its ``seconds`` stop at the last block).
    """
    transfer = ClientRead(
        filename, server, time.monotonic(), options=options, timers=timers or TimerPolicy()
    )
    return _run(
        transfer,
        bind=bind,
        progress=progress,
        dally=dally,
        on_datagram=on_datagram,
        interface=interface,
    )


def tftp_put(
    server: Address,
    filename: str,
    data: bytes,
    *,
    options: dict[str, str] | None = None,
    timers: TimerPolicy | None = None,
    bind: Address = ("0.0.0.0", 0),
    progress: Callable[[int, int | None], None] | None = None,
    on_datagram: DatagramHook | None = None,
    interface: str | None = None,
) -> TransferResult:
    """Write ``data`` as ``filename`` to ``server``; :class:`TftpClientError` if it fails."""
    transfer = ClientWrite(
        filename, server, data, time.monotonic(), options=options, timers=timers or TimerPolicy()
    )
    return _run(
        transfer,
        bind=bind,
        progress=progress,
        dally=0.0,
        on_datagram=on_datagram,
        interface=interface,
    )

"""A blocking TFTP client over a real UDP socket, driving the sans-I/O engine.

Used by ``gwload`` and the benchmarks: one client that asks for blksize and
windowsize and falls back to plain RFC 1350 when a server refuses options, so
that it can be pointed at any TFTP server (the simulated device, tftp-hpa's
``in.tftpd``, tftpy's server).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from ipgwsim.proto.net import Address
from ipgwsim.proto.tftp import (
    ClientRead,
    ClientWrite,
    OptionsNegotiated,
    Progress,
    TimerPolicy,
    TransferComplete,
    TransferFailed,
)
from ipgwsim.proto.tftp.node import TransferNode
from ipgwsim.runtime.blocking import DatagramHook, drive

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


def _run(
    transfer: ClientRead | ClientWrite,
    *,
    bind: Address,
    progress: Callable[[int, int | None], None] | None,
    dally: float,
    on_datagram: DatagramHook | None = None,
    interface: str | None = None,
) -> TransferResult:
    start = time.monotonic()
    negotiated: OptionsNegotiated | None = None
    result: TransferComplete | TransferFailed | None = None
    done_at: float | None = None

    def on_event(event: object) -> None:
        nonlocal negotiated, result
        if isinstance(event, OptionsNegotiated):
            negotiated = event
        elif isinstance(event, Progress) and progress is not None:
            progress(event.done, event.total)
        elif isinstance(event, TransferComplete | TransferFailed) and result is None:
            result = event

    def done(now: float) -> bool:
        nonlocal done_at
        if result is None:
            return False
        if isinstance(result, TransferFailed):
            return True
        # Done. After the last ACK of a read, stay a little (dally) so that a lost ACK
        # is answered when the server sends its last DATA again.
        done_at = now if done_at is None else done_at
        return transfer.finished or now >= done_at + dally

    def dally_end() -> float | None:
        return None if done_at is None else done_at + dally

    sock = _open(bind, interface)
    try:
        drive(
            TransferNode(transfer, sock.getsockname()),
            sock,
            on_event=on_event,
            done=done,
            wake=dally_end,
            on_datagram=on_datagram,
        )
    finally:
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

"""The sending half of the data pump (RFC 1350 lock-step, RFC 7440 windows).

The sender sends a window: the ``windowsize`` blocks after the last
acknowledged one (fewer at the end of the file). An ACK of a block inside the
window moves the window to start after that block: at the end of a full
window that is the next window; before it, the receiver saw a gap and the
rest is sent again. An ACK that acknowledges nothing new (a duplicate, or an
old one) is ignored: the sender retransmits only on its own timeout, which
resends the current window (no Sorcerer's Apprentice syndrome, RFC 1123).

Blocks are numbered 1, 2, ... internally without limit; on the wire the
number is taken modulo 65536, so block 65535 is followed by block 0.
"""

from __future__ import annotations

from ipgwsim.proto.net import Address
from ipgwsim.proto.tftp.events import TransferComplete
from ipgwsim.proto.tftp.options import DEFAULT_BLKSIZE, TimerPolicy
from ipgwsim.proto.tftp.packets import (
    DATA_ACK_HEADER,
    Ack,
    Data,
    ErrorCode,
    Opcode,
    Packet,
)
from ipgwsim.proto.tftp.transfer import DONE, HANDSHAKE, RUNNING, Transfer

_pack = DATA_ACK_HEADER.pack
_DATA = int(Opcode.DATA)


class BlockSender(Transfer):
    """A transfer that sends a file: ServerRead and ClientWrite."""

    def __init__(self, peer: Address | None, to: Address, timers: TimerPolicy, data: bytes) -> None:
        super().__init__(peer, to, timers)
        self._data = data
        self._view = memoryview(data)
        self._size = len(data)
        self._total = self._size
        #: Highest block acknowledged, highest sent, and the last block of the file.
        self._acked = 0
        self._sent = 0
        self._last = self._size // DEFAULT_BLKSIZE + 1
        #: What TransferComplete carries.
        self._result: bytes | None = None

    def receive(self, data: bytes, src: Address, now: float) -> None:
        if self.finished:
            return
        if src != self.peer:
            self._from_stranger(data, src, now)
        elif self._stage == RUNNING and len(data) == 4 and data[1] == 4 and data[0] == 0:
            self._on_ack((data[2] << 8) | data[3], now)  # the hot path: an ACK
        else:
            self._from_peer(data, now)

    def _start_sending(self, blksize: int, windowsize: int, now: float) -> None:
        self._blksize = blksize
        self._window = windowsize
        self._last = self._size // blksize + 1
        self._stage = RUNNING
        self._reset_backoff()
        self._send_window(now)

    def _send_window(self, now: float) -> None:
        """Send the blocks after the last acknowledged one, up to a window."""
        blksize = self._blksize
        view = self._view
        to = self._to
        append = self._out.append
        first = self._acked + 1
        end = min(self._acked + self._window, self._last)
        offset = (first - 1) * blksize
        for block in range(first, end + 1):
            append((_pack(_DATA, block & 0xFFFF) + view[offset : offset + blksize], to))
            offset += blksize
        self._sent = end
        self._deadline = now + self._current

    def _on_ack(self, block: int, now: float) -> None:
        """An ACK (wire block number) from the peer while blocks flow."""
        acked = self._acked
        delta = (block - acked) & 0xFFFF
        if delta == 0 or delta > self._sent - acked:
            return  # duplicate, old or not yet sent: never a reason to send
        acked += delta
        self._acked = acked
        if acked == self._last:
            self._events.append(TransferComplete(self._result))
            self._stage = DONE
            self._deadline = None
            self.finished = True
            return
        if self._tries:
            self._reset_backoff()
        self._progress()
        self._send_window(now)

    def _on_packet(self, packet: Packet, now: float) -> None:
        if isinstance(packet, Ack):
            if self._stage == RUNNING:
                self._on_ack(packet.block, now)
            elif self._stage == HANDSHAKE and packet.block == 0:
                self._start_sending(self._blksize, self._window, now)
        elif isinstance(packet, Data):
            self._abort(ErrorCode.ILLEGAL_OPERATION, "DATA sent to the side that sends the file")
        # A repeated request or OACK: the retransmission timer covers it.

    def _retransmit(self, now: float) -> None:
        if self._stage == HANDSHAKE:
            self._resend_handshake(now)
        else:
            self._send_window(now)

    def _at_first_exchange(self) -> bool:
        return self._stage == HANDSHAKE or (self._stage == RUNNING and self._acked == 0)

    def _waiting_for(self) -> str:
        if self._stage == HANDSHAKE:
            return self._handshake_what
        return f"ACK of block {self._sent & 0xFFFF}"

    def _done(self) -> int:
        return min(self._acked * self._blksize, self._size)

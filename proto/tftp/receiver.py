"""The receiving half of the data pump (RFC 1350 lock-step, RFC 7440 windows).

The receiver appends blocks in order; blocks from ahead within the window are
kept until the missing one arrives (reordering costs nothing then). It ACKs:

* after each full window (``windowsize`` blocks since its last ACK);
* after the last block (shorter than blksize; ServerWrite waits for its owner);
* on a gap (a block from ahead): the last in-order block, once per gap, so the
  sender resends the window after it;
* on a duplicate (an old block) while everything received is acknowledged:
  the same ACK again, since the sender evidently missed it;
* on its own timeout: the last in-order block (or, before any block, the
  handshake answer again), with backoff and the retry limit.

After the final ACK it dallies: a retransmitted final DATA (the sender missed
the final ACK) gets the final ACK again, and the dally starts over; when the
dally ends, the transfer is finished.

Block numbers wrap from 65535 to 0; a wire number is placed within half the
number space (32768 blocks) of the expected block.
"""

from __future__ import annotations

from ipgwsim.proto.net import Address
from ipgwsim.proto.tftp.events import TransferComplete
from ipgwsim.proto.tftp.options import TimerPolicy
from ipgwsim.proto.tftp.packets import (
    DATA_ACK_HEADER,
    Ack,
    ErrorCode,
    Opcode,
    OptionAck,
    Packet,
)
from ipgwsim.proto.tftp.transfer import DALLY, HANDSHAKE, OWNER, RUNNING, Transfer

_pack = DATA_ACK_HEADER.pack
_ACK = int(Opcode.ACK)
_DATA_OPCODE = bytes((0, Opcode.DATA))
_ERROR_OPCODE = bytes((0, Opcode.ERROR))


class BlockReceiver(Transfer):
    """A transfer that receives a file: ClientRead and ServerWrite."""

    def __init__(self, peer: Address | None, to: Address, timers: TimerPolicy) -> None:
        super().__init__(peer, to, timers)
        self._buf = bytearray()
        #: The next block in order (numbered without limit), in-order blocks since the last ACK.
        self._expected = 1
        self._count = 0
        #: A gap ACK was sent for the current expected block.
        self._gap_acked = False
        #: The last ACK (or handshake answer) sent, resent as it is.
        self._ack_packet = b""
        self._max_size: int | None = None
        self._too_large = ""
        #: Blocks from ahead within the window (a late block is awaited), by number.
        self._early: dict[int, bytes] = {}

    @property
    def received(self) -> bytes:
        """What arrived so far, in order (a copy: peek once, not per block)."""
        return bytes(self._buf)

    @property
    def received_size(self) -> int:
        """How many bytes arrived so far, in order."""
        return len(self._buf)

    def receive(self, data: bytes, src: Address, now: float) -> None:
        if self.finished:
            return
        if src != self.peer:
            self._from_stranger(data, src, now)
            return
        stage = self._stage
        if stage == RUNNING and len(data) >= 4 and data[1] == 3 and data[0] == 0:
            self._on_data((data[2] << 8) | data[3], data, now)  # the hot path: DATA
        elif stage == DALLY:
            if data[:2] == _DATA_OPCODE:  # the sender missed the final ACK
                self._out.append((self._ack_packet, self._to))
                self._deadline = now + self._dally_time()
        elif stage == OWNER:
            if data[:2] == _ERROR_OPCODE:  # a retransmitted last DATA is ignored
                self._from_peer(data, now)
        else:
            self._from_peer(data, now)

    def _start_receiving(self, blksize: int, windowsize: int) -> None:
        self._blksize = blksize
        self._window = windowsize
        self._stage = RUNNING

    def _send_ack(self, now: float) -> None:
        """ACK the last in-order block."""
        packet = _pack(_ACK, (self._expected - 1) & 0xFFFF)
        self._ack_packet = packet
        self._out.append((packet, self._to))
        self._count = 0
        self._deadline = now + self._current

    def _on_data(self, block: int, data: bytes, now: float) -> None:
        """DATA (wire block number, whole datagram) from the peer while blocks flow."""
        delta = (block - self._expected) & 0xFFFF
        if delta == 0:
            if self._take(data, block, now) and self._early:
                self._take_early(now)
        elif delta < 0x8000:  # from ahead: a block is missing (lost, or late)
            if delta < self._window:
                self._early.setdefault(self._expected + delta, data)
            if not self._gap_acked:
                self._gap_acked = True
                self._send_ack(now)
        elif self._count == 0:  # old: the sender missed our last ACK
            self._out.append((self._ack_packet, self._to))

    def _take(self, data: bytes, block: int, now: float) -> bool:
        """Append the expected block; False when the transfer stops taking blocks."""
        size = len(data) - 4
        blksize = self._blksize
        if size > blksize:
            self._abort(
                ErrorCode.ILLEGAL_OPERATION,
                f"DATA block {block} carries {size} bytes, more than blksize {blksize}",
            )
            return False
        buf = self._buf
        if self._max_size is not None and len(buf) + size > self._max_size:
            self._abort(ErrorCode.DISK_FULL, self._too_large)
            return False
        buf += memoryview(data)[4:]
        self._expected += 1
        self._gap_acked = False
        if self._tries:
            self._reset_backoff()
        if size < blksize:
            self._early.clear()
            self._progress()
            self._last_block(now)
            return False
        count = self._count + 1
        if count >= self._window:
            self._progress()
            self._send_ack(now)
        else:
            self._count = count
            self._deadline = now + self._current
        return True

    def _take_early(self, now: float) -> None:
        """Blocks that came before a late one follow it now."""
        early = self._early
        while (data := early.pop(self._expected, None)) is not None:
            if not self._take(data, self._expected & 0xFFFF, now):
                return
        for stale in [number for number in early if number < self._expected]:
            del early[stale]

    def _last_block(self, now: float) -> None:
        """The last block arrived in order."""
        raise NotImplementedError

    def _confirm_last(self, result: bytes | None, now: float) -> None:
        """Send the final ACK, report success and dally."""
        self._send_ack(now)
        self._events.append(TransferComplete(result))
        self._stage = DALLY
        self._deadline = now + self._dally_time()

    def _on_packet(self, packet: Packet, now: float) -> None:
        if isinstance(packet, OptionAck):
            # The server resent its OACK: our ACK 0 was lost.
            if self._stage == RUNNING and self._expected == 1 and self._count == 0:
                self._out.append((self._ack_packet, self._to))
        elif isinstance(packet, Ack):
            self._abort(ErrorCode.ILLEGAL_OPERATION, "ACK sent to the side that receives the file")
        # A repeated request: the retransmission timer covers it.

    def _retransmit(self, now: float) -> None:
        if self._stage == HANDSHAKE:
            self._resend_handshake(now)
        elif self._count == 0:
            self._out.append((self._ack_packet, self._to))
            self._deadline = now + self._current
        else:
            self._send_ack(now)

    def _at_first_exchange(self) -> bool:
        return self._stage == HANDSHAKE or (
            self._stage == RUNNING and self._expected == 1 and not self._early
        )

    def _waiting_for(self) -> str:
        if self._stage == HANDSHAKE:
            return self._handshake_what
        return f"DATA block {self._expected & 0xFFFF}"

    def _done(self) -> int:
        return len(self._buf)

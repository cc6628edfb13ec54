"""What every TFTP transfer shares: queues, the retransmission timer, failure.

A :class:`Transfer` is one conversation with one peer. Its owner feeds it
datagrams (:meth:`Transfer.receive_datagram`) and timer expiries
(:meth:`Transfer.handle_timer`), sends what :meth:`Transfer.datagrams_to_send`
returns, reads :meth:`Transfer.next_event` and drops the transfer once
:attr:`Transfer.finished` is True.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.tftp.events import Progress, TransferEvent, TransferFailed
from ipgwsim.proto.tftp.options import DEFAULT_BLKSIZE, TimerPolicy, retry_span
from ipgwsim.proto.tftp.packets import (
    Error,
    ErrorCode,
    MalformedPacket,
    Opcode,
    Packet,
    error_packet,
    parse_packet,
)

# Stages of a transfer.
#: Client: waiting for the answer to its request. ServerRead: waiting for ACK 0.
HANDSHAKE: Final = 0
#: Blocks flow.
RUNNING: Final = 1
#: ServerWrite: the last block arrived, waiting for accept() or refuse().
OWNER: Final = 2
#: The final ACK is sent; re-ACK a retransmitted final DATA until the dally ends.
DALLY: Final = 3
#: Over (success or failure).
DONE: Final = 4

#: The answer to a packet from a stranger (RFC 1350: error 5, unknown TID).
UNKNOWN_TID_PACKET: Final = error_packet(ErrorCode.UNKNOWN_TID, "unknown transfer ID")
_ERROR_OPCODE: Final = bytes((0, Opcode.ERROR))


class Transfer:
    """One TFTP transfer, either role; sans-I/O: every method takes ``now``."""

    #: True after success (including the dally) or failure; the owner then drops it.
    finished: bool
    #: The peer's address and port (its TID); a client learns it from the first answer.
    peer: Address | None

    def __init__(self, peer: Address | None, to: Address, timers: TimerPolicy) -> None:
        self.finished = False
        self.peer = peer
        self._to = to
        self._stage = HANDSHAKE
        self._out: list[tuple[bytes, Address]] = []
        # None in the queue stands for a Progress built when it is drained.
        self._events: deque[TransferEvent | None] = deque()
        self._deadline: float | None = None
        self._initial = timers.timeout
        self._current = timers.timeout
        self._backoff = timers.backoff
        self._max_timeout = timers.max_timeout
        self._retries = timers.retries
        self._dally_setting = timers.dally
        self._tries = 0
        self._total: int | None = None
        #: The negotiated parameters; RFC 1350's until the roles learn others.
        self._blksize = DEFAULT_BLKSIZE
        self._window = 1
        #: What a client's request or a server's OACK was (resent in HANDSHAKE).
        self._handshake_packet = b""
        self._handshake_what = ""

    # -------------------- the owner's interface --------------------------------

    @property
    def blksize(self) -> int:
        """Bytes per block."""
        return self._blksize

    @property
    def windowsize(self) -> int:
        """Blocks per window."""
        return self._window

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        """Take one datagram that arrived (from ``datagram.src``) at ``now``."""
        self.receive(datagram[0], datagram[1], now)

    def receive(self, data: bytes, src: Address, now: float) -> None:
        """:meth:`receive_datagram` of the payload ``data`` from ``src``, without a
        :class:`~ipgwsim.proto.net.Datagram` (the owner's per-datagram path)."""
        raise NotImplementedError

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """The datagrams to send, with their destinations, in order; drained."""
        out = self._out
        self._out = []
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must be called next; None: nothing pending."""
        return self._deadline

    def handle_timer(self, now: float) -> None:
        """Retransmit, end the dally, or fail, if the deadline has passed."""
        deadline = self._deadline
        if deadline is None or now < deadline:
            return
        if self._stage == DALLY:
            self._deadline = None
            self._stage = DONE
            self.finished = True
            return
        if self._tries >= self._retries:
            self._fail(
                f"timed out after {self._retries} retries waiting for {self._waiting_for()}",
                None,
                by_peer=False,
            )
            return
        self._tries += 1
        self._current = min(self._current * self._backoff, self._max_timeout)
        self._retransmit(now)

    def request_again(self, now: float) -> bool:
        """The peer sent its request again: it did not hear the transfer's first answer.

        While nothing beyond that answer was exchanged, it is sent again at once (as a
        timeout would, without counting a try) and True is returned. Later a repeated
        request is a stray copy (the network duplicated or delayed it) and changes
        nothing: False.
        """
        if self.finished or not self._at_first_exchange():
            return False
        self._retransmit(now)
        return True

    def next_event(self) -> TransferEvent | None:
        """The next event, or None; drained one at a time."""
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if event is None:
            return Progress(self._done(), self._total)
        return event

    def drop_progress(self) -> bool:
        """Whether nothing but :class:`Progress` is queued; if so, it is dropped.

        For an owner that has no use for a transfer's progress right now (it would read
        and ignore it): True leaves no event queued; False (another event is queued)
        leaves the queue as it is, to be read with :meth:`next_event`.
        """
        events = self._events
        if not events:
            return True
        if len(events) == 1 and events[0] is None:
            events.clear()
            return True
        return False

    # -------------------- for the roles ----------------------------------------

    def _retransmit(self, now: float) -> None:
        """The timer expired with retries left: resend, set the next deadline."""
        raise NotImplementedError

    def _waiting_for(self) -> str:
        """What the transfer waits for, for the timeout message."""
        raise NotImplementedError

    def _at_first_exchange(self) -> bool:
        """Whether the peer has shown no sign yet of hearing the first answer."""
        raise NotImplementedError

    def _done(self) -> int:
        """Bytes confirmed so far, for Progress."""
        raise NotImplementedError

    def _on_packet(self, packet: Packet, now: float) -> None:
        """A well-formed packet other than ERROR from the peer (the slow path)."""
        raise NotImplementedError

    def _progress(self) -> None:
        events = self._events
        if not events or events[-1] is not None:
            events.append(None)

    def _resend_handshake(self, now: float) -> None:
        self._out.append((self._handshake_packet, self._to))
        self._deadline = now + self._current

    def _reset_backoff(self) -> None:
        self._tries = 0
        self._current = self._initial

    def _use_timeout(self, seconds: int | None) -> None:
        """Apply a negotiated timeout option."""
        if seconds is not None:
            self._initial = self._current = float(seconds)
            self._max_timeout = max(self._max_timeout, float(seconds))

    def _dally_time(self) -> float:
        """How long to stay after the final ACK: the peer's whole retry schedule, with the
        timeout the transfer uses (a negotiated one included), unless set."""
        if self._dally_setting is not None:
            return self._dally_setting
        return retry_span(self._initial, self._backoff, self._max_timeout, self._retries)

    def _lock(self, peer: Address) -> None:
        self.peer = peer
        self._to = peer

    def _fail(self, reason: str, code: int | None, *, by_peer: bool) -> None:
        self._events.append(TransferFailed(reason, code, by_peer))
        self._stage = DONE
        self._deadline = None
        self.finished = True

    def _abort(self, code: int, message: str) -> None:
        """Send ERROR ``code`` to the peer and fail."""
        self._out.append((error_packet(code, message), self._to))
        self._fail(message, int(code), by_peer=False)

    def _from_stranger(self, data: bytes, src: Address, now: float) -> None:
        """A datagram from another address than the peer's (a client overrides this)."""
        self._stray(data, src)

    def _stray(self, data: bytes, src: Address) -> None:
        """A datagram from another address or port than the peer's: ERROR 5."""
        if data[:2] != _ERROR_OPCODE:  # never answer an ERROR
            self._out.append((UNKNOWN_TID_PACKET, src))

    def _from_peer(self, data: bytes, now: float) -> None:
        """The slow path for a datagram from the peer: parse, handle ERROR."""
        try:
            packet = parse_packet(data)
        except MalformedPacket as exc:
            if data[:2] == _ERROR_OPCODE:
                self._fail(f"malformed ERROR from the peer: {exc}", None, by_peer=True)
            else:
                self._abort(ErrorCode.ILLEGAL_OPERATION, str(exc))
            return
        if isinstance(packet, Error):
            self._fail(packet.message, int(packet.code), by_peer=True)
            return
        self._on_packet(packet, now)

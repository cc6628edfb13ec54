"""The server role: one transfer per request, created by the owner.

The owner (the device's TFTP-mode server) parses a request that arrives on
its port, decides whether the file exists or may be written, and creates a
:class:`ServerRead` or :class:`ServerWrite` for the requesting address; it
routes later datagrams to that transfer by address.

Modes: "octet" is served; "netascii" (any case) is accepted and transferred
byte for byte, unchanged (a boot code serves images and config text as they
are); "mail" and unknown modes get ERROR 4.
"""

from __future__ import annotations

from ipgwsim.proto.errors import LocalProtocolError
from ipgwsim.proto.net import Address
from ipgwsim.proto.tftp.events import OptionsNegotiated, UploadComplete
from ipgwsim.proto.tftp.options import DEFAULT_TIMERS, OptionPolicy, TimerPolicy, negotiate
from ipgwsim.proto.tftp.packets import (
    ErrorCode,
    OptionAck,
    ReadRequest,
    WriteRequest,
    encode_ack,
    encode_packet,
)
from ipgwsim.proto.tftp.receiver import BlockReceiver
from ipgwsim.proto.tftp.sender import BlockSender
from ipgwsim.proto.tftp.transfer import DALLY, DONE, HANDSHAKE, OWNER

#: Modes a server accepts, in lower case; both transfer bytes unchanged.
SERVED_MODES = frozenset({"octet", "netascii"})


def mode_error(mode: str) -> str | None:
    """Why ``mode`` is refused (ERROR 4), or None when it is served."""
    lower = mode.lower()
    if lower in SERVED_MODES:
        return None
    if lower == "mail":
        return "mail mode is not supported"
    return f"unknown transfer mode {mode!r}"


class ServerRead(BlockSender):
    """Serves ``data`` to ``peer`` for an RRQ; tsize is answered with ``len(data)``."""

    def __init__(
        self,
        request: ReadRequest,
        peer: Address,
        data: bytes,
        now: float,
        *,
        policy: OptionPolicy,
        timers: TimerPolicy = DEFAULT_TIMERS,
    ) -> None:
        super().__init__(peer, peer, timers, data)
        self.request = request
        self._result = data
        refused = mode_error(request.mode)
        if refused is not None:
            self._abort(ErrorCode.ILLEGAL_OPERATION, refused)
            return
        negotiated = negotiate(request.options, policy, tsize=len(data))
        self._use_timeout(negotiated.timeout)
        self._events.append(
            OptionsNegotiated(negotiated.options, negotiated.blksize, negotiated.windowsize)
        )
        if not negotiated.reply:
            self._start_sending(negotiated.blksize, negotiated.windowsize, now)
            return
        self._blksize = negotiated.blksize
        self._window = negotiated.windowsize
        self._handshake_packet = encode_packet(OptionAck(negotiated.reply))
        self._handshake_what = "ACK 0 to the OACK"
        self._stage = HANDSHAKE
        self._resend_handshake(now)


class ServerWrite(BlockReceiver):
    """Receives a file from ``peer`` for a WRQ; the owner accepts or refuses it.

    When the last block arrives, :class:`UploadComplete` is emitted and the
    last block is not acknowledged until the owner calls :meth:`accept` (the
    final ACK, then the dally) or :meth:`refuse`; a retransmitted last DATA
    meanwhile is ignored and no timer runs. More than ``max_size`` bytes (or
    a tsize option above it) get ERROR 3 with the ``too_large`` text.
    """

    def __init__(
        self,
        request: WriteRequest,
        peer: Address,
        now: float,
        *,
        policy: OptionPolicy,
        timers: TimerPolicy = DEFAULT_TIMERS,
        max_size: int | None = None,
        too_large: str = "file too large",
    ) -> None:
        super().__init__(peer, peer, timers)
        self.request = request
        self._max_size = max_size
        self._too_large = too_large
        refused = mode_error(request.mode)
        if refused is not None:
            self._abort(ErrorCode.ILLEGAL_OPERATION, refused)
            return
        negotiated = negotiate(request.options, policy)
        if max_size is not None and negotiated.tsize is not None and negotiated.tsize > max_size:
            self._abort(ErrorCode.DISK_FULL, too_large)
            return
        self._use_timeout(negotiated.timeout)
        self._total = negotiated.tsize
        self._events.append(
            OptionsNegotiated(negotiated.options, negotiated.blksize, negotiated.windowsize)
        )
        self._start_receiving(negotiated.blksize, negotiated.windowsize)
        answer = encode_packet(OptionAck(negotiated.reply)) if negotiated.reply else encode_ack(0)
        self._ack_packet = answer
        self._out.append((answer, peer))
        self._deadline = now + self._current

    def _last_block(self, now: float) -> None:
        self._stage = OWNER
        self._deadline = None
        self._events.append(UploadComplete(bytes(self._buf)))

    def accept(self, now: float) -> None:
        """After UploadComplete: send the final ACK, report success and dally."""
        if self._stage != OWNER:
            raise LocalProtocolError("accept() is allowed only after UploadComplete")
        self._confirm_last(None, now)

    def refuse(self, code: ErrorCode, message: str, now: float) -> None:
        """Send ERROR ``code`` with ``message`` to the peer and fail; any time before accept()."""
        if self._stage in (DALLY, DONE):
            raise LocalProtocolError("the transfer is already over or accepted")
        self._abort(code, message)

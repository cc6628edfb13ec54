"""The client role: read or write one file from a server.

The client sends its request to ``server`` (port 69, or whatever it was
given, even a broadcast address) and retransmits it on its timeout. The
first valid answer, from whatever address and port, fixes the peer (the
server's TID); datagrams from anywhere else then get ERROR 5 and are ignored.
Before that, malformed or unexpected datagrams are ignored.

Options: ``tsize`` is sent as 0 in an RRQ and as the size of the data in a
WRQ, whatever value was given. An OACK is checked (:func:`validate_oack`);
a bad one gets ERROR 8 and fails the transfer. A plain answer (DATA 1 to an
RRQ, ACK 0 to a WRQ) means the server ignored the options: 512-byte blocks,
lock-step. If the server answers the request with ERROR 8 (or 0 or 4) and
``fallback`` is true, the client asks once more without options, after a
:class:`FallbackToPlain` event; an ERROR that ends with :data:`SEND_AGAIN` is no
refusal of the options but a failed transfer the caller may start again, and an
ERROR 0 that says the server is busy (:func:`is_busy`) is no refusal either: the
transfer fails with the server's text, for the caller to wait and ask again.
"""

from __future__ import annotations

from collections.abc import Mapping

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError
from ipgwsim.proto.net import Address
from ipgwsim.proto.tftp.events import FallbackToPlain, OptionsNegotiated
from ipgwsim.proto.tftp.options import (
    DEFAULT_BLKSIZE,
    DEFAULT_TIMERS,
    Negotiated,
    TimerPolicy,
    validate_oack,
)
from ipgwsim.proto.tftp.packets import (
    SEND_AGAIN,
    Ack,
    Data,
    Error,
    ErrorCode,
    MalformedPacket,
    OptionAck,
    Packet,
    ReadRequest,
    WriteRequest,
    encode_packet,
    error_packet,
    is_busy,
    parse_packet,
)
from ipgwsim.proto.tftp.receiver import BlockReceiver
from ipgwsim.proto.tftp.sender import BlockSender
from ipgwsim.proto.tftp.transfer import HANDSHAKE, Transfer

#: Errors at the request that make a client with options try without them.
FALLBACK_CODES = frozenset(
    {ErrorCode.OPTION_REFUSED, ErrorCode.NOT_DEFINED, ErrorCode.ILLEGAL_OPERATION}
)


class _Request:
    """A client's request: its options and its bytes, with and without options."""

    def __init__(
        self,
        kind: type[ReadRequest] | type[WriteRequest],
        filename: str,
        options: Mapping[str, str] | None,
        tsize: int,
        fallback: bool,
    ) -> None:
        wanted = dict(options or {})
        names = [name.lower() for name in wanted]
        if len(set(names)) != len(names):
            raise LocalProtocolError(f"options repeat a name (ignoring case): {sorted(wanted)}")
        for name in wanted:
            if name.lower() == "tsize":
                wanted[name] = str(tsize)
        self.kind = kind
        self.filename = filename
        self.options = wanted
        self.fallback = fallback
        self.packet = encode_packet(kind(filename, "octet", wanted))
        self.what = f"an answer to the {'RRQ' if kind is ReadRequest else 'WRQ'}"

    def fallback_reason(self, error: Error) -> str | None:
        """Why the client falls back to a plain request after ``error``, or None."""
        if not (self.fallback and self.options and error.code in FALLBACK_CODES):
            return None
        if error.message.endswith(SEND_AGAIN):
            return None  # not the options: the server could not set the transfer up
        if is_busy(error):
            return None  # not the options: the server serves nothing new right now
        return f"the server refused the options with ERROR {int(error.code)}: {error.message}"

    def drop_options(self) -> None:
        self.options = {}
        self.fallback = False
        self.packet = encode_packet(self.kind(self.filename, "octet", {}))


def _send_request(transfer: Transfer, request: _Request, now: float) -> None:
    """Send ``request`` as the handshake: resent on timeout until the first answer."""
    transfer._handshake_packet = request.packet
    transfer._handshake_what = request.what
    transfer._stage = HANDSHAKE
    transfer._resend_handshake(now)


def _answer(
    transfer: Transfer, request: _Request, data: bytes, src: Address, now: float
) -> Packet | Negotiated | None:
    """A datagram from a stranger to a client: the first answer of a server, or a stray.

    Once the client has its peer, a stranger gets ERROR 5. Before, this is the
    first answer of a server: handles ERROR and checks an OACK. Returns the
    :class:`Negotiated` of a valid OACK, another packet for the role to judge,
    or None when the datagram is dealt with (or ignored).
    """
    if transfer.peer is not None:
        transfer._stray(data, src)
        return None
    try:
        packet = parse_packet(data)
    except MalformedPacket:
        return None
    if isinstance(packet, Error):
        reason = request.fallback_reason(packet)
        if reason is None:
            transfer._fail(packet.message, int(packet.code), by_peer=True)
            return None
        transfer._events.append(FallbackToPlain(reason))
        request.drop_options()
        transfer._reset_backoff()
        _send_request(transfer, request, now)
        return None
    if not isinstance(packet, OptionAck):
        return packet
    try:
        negotiated = validate_oack(request.options, packet.options)
    except RemoteProtocolError as exc:
        transfer._out.append((error_packet(ErrorCode.OPTION_REFUSED, str(exc)), src))
        transfer._fail(str(exc), int(ErrorCode.OPTION_REFUSED), by_peer=False)
        return None
    transfer._lock(src)
    transfer._reset_backoff()
    transfer._use_timeout(negotiated.timeout)
    transfer._events.append(
        OptionsNegotiated(negotiated.options, negotiated.blksize, negotiated.windowsize)
    )
    return negotiated


def _plain(transfer: Transfer, src: Address) -> None:
    """The server answered without OACK: RFC 1350 parameters."""
    transfer._lock(src)
    transfer._reset_backoff()
    transfer._events.append(OptionsNegotiated({}, DEFAULT_BLKSIZE, 1))


class ClientRead(BlockReceiver):
    """Reads ``filename`` from ``server``; TransferComplete carries the file."""

    def __init__(
        self,
        filename: str,
        server: Address,
        now: float,
        *,
        options: dict[str, str] | None = None,
        timers: TimerPolicy = DEFAULT_TIMERS,
        fallback: bool = True,
    ) -> None:
        super().__init__(None, server, timers)
        self.server = server
        self._request = _Request(ReadRequest, filename, options, 0, fallback)
        _send_request(self, self._request, now)

    def _from_stranger(self, data: bytes, src: Address, now: float) -> None:
        answer = _answer(self, self._request, data, src, now)
        if isinstance(answer, Negotiated):
            self._total = answer.tsize
            self._start_receiving(answer.blksize, answer.windowsize)
            self._send_ack(now)  # ACK 0: the OACK is accepted
        elif isinstance(answer, Data) and answer.block == 1:
            _plain(self, src)
            self._start_receiving(DEFAULT_BLKSIZE, 1)
            self._on_data(1, data, now)

    def _last_block(self, now: float) -> None:
        self._confirm_last(bytes(self._buf), now)


class ClientWrite(BlockSender):
    """Writes ``data`` as ``filename`` to ``server``."""

    def __init__(
        self,
        filename: str,
        server: Address,
        data: bytes,
        now: float,
        *,
        options: dict[str, str] | None = None,
        timers: TimerPolicy = DEFAULT_TIMERS,
        fallback: bool = True,
    ) -> None:
        super().__init__(None, server, timers, data)
        self.server = server
        self._request = _Request(WriteRequest, filename, options, len(data), fallback)
        _send_request(self, self._request, now)

    def _from_stranger(self, data: bytes, src: Address, now: float) -> None:
        answer = _answer(self, self._request, data, src, now)
        if isinstance(answer, Negotiated):
            self._start_sending(answer.blksize, answer.windowsize, now)
        elif isinstance(answer, Ack) and answer.block == 0:
            _plain(self, src)
            self._start_sending(DEFAULT_BLKSIZE, 1, now)

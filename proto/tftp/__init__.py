"""A sans-I/O TFTP engine, both roles: RFC 1350 with options (RFC 2347, 2348, 2349, 7440).

No sockets, clocks, sleeps or threads: a transfer takes datagrams and the
current time (``now``, seconds, any monotonic origin) and gives datagrams,
a deadline and events. The shape (as aioquic and h11)::

    transfer.receive_datagram(datagram, now)                   # a proto.net.Datagram
    transfer.datagrams_to_send()  -> [(bytes, address), ...]   # drained
    transfer.get_timer()          -> absolute deadline or None
    transfer.handle_timer(now)
    transfer.next_event()         -> event or None              # one at a time
    transfer.finished             # drop the transfer when True

Roles
    :class:`ServerRead` serves bytes for an RRQ, :class:`ServerWrite` takes
    a WRQ's bytes (the owner accepts or refuses them after
    :class:`UploadComplete`), :class:`ClientRead` and :class:`ClientWrite` are
    the client side. The data pump is shared (``sender``, ``receiver``).

Options
    blksize, tsize, timeout and windowsize; names and mode are
    case-insensitive. A server grants only the options of its
    :class:`OptionPolicy` (a hardware profile's ``boot.tftp_options``); others
    are not acknowledged. If it grants none it answers as plain RFC 1350
    (DATA 1 to an RRQ, ACK 0 to a WRQ), not with an empty OACK. Out-of-range
    values: blksize below 8 is ignored, above the policy maximum granted as
    the maximum; windowsize 1..65535 is clamped to the policy maximum; timeout
    must be 1..255 s. A client checks an OACK (only asked options, blksize
    and windowsize no larger than asked, timeout as asked; otherwise ERROR 8)
    and, with ``fallback``, repeats a request refused with ERROR 8 (or 0, 4)
    once without options (:class:`FallbackToPlain`); not an ERROR whose text
    ends with :data:`SEND_AGAIN` (the server could not set the transfer up: the
    caller sends the same request again), nor an ERROR 0 whose text starts with
    :data:`BUSY` (the server is busy: the caller waits and asks again).

Windows and retransmission (RFC 7440, RFC 1123)
    The sender sends ``windowsize`` blocks after the last acknowledged one;
    the receiver ACKs each full window, the last block, and the last in-order
    block on a gap (once per gap), and re-ACKs on a duplicate once its ACKs
    are all out. Blocks from ahead within the window are kept until the
    missing one arrives, so reordering inside a window costs no resend. A
    sender ignores duplicate ACKs and retransmits only on its own timeout (no
    Sorcerer's Apprentice syndrome). Timeouts (:class:`TimerPolicy`): the
    first wait is ``timeout``, each retransmission multiplies it by
    ``backoff`` up to ``max_timeout``; after ``retries`` retransmissions
    without progress the next expiry fails the transfer with "timed out after
    N retries waiting for ...". A negotiated timeout option replaces the
    initial timeout. Both sides retransmit: the data sender its window (or
    its request or OACK), the data receiver its last ACK (or its request).

Dally
    The side that sends the final ACK (ClientRead, ServerWrite after
    accept()) reports TransferComplete at once, then stays ``dally`` seconds
    (default: the whole retry schedule of its timers, ``TimerPolicy.retry_span()``,
    31 s by default: as long as a peer with those timers retransmits): a
    retransmitted final DATA gets the final ACK again and restarts the dally.
    ``finished`` becomes True when it ends.
    The data sender is finished when the final ACK arrives.

Rollover
    Files of more than 65535 blocks wrap the block number from 65535 to 0,
    as tftp-hpa and curl do. Peers that wrap to 1 are not supported: their
    block 1 after 65535 is taken as a gap, and the transfer times out.

Modes
    "octet" and "netascii" (any case) are accepted and transfer bytes
    unchanged: no CR/LF conversion. "mail" and unknown modes get ERROR 4.
    A client always asks for "octet".

Stray packets
    A datagram from another address or port than the peer's gets ERROR 5
    "unknown transfer ID" to its sender (unless it is an ERROR) and does not
    disturb the transfer.

A transfer as a node
    :class:`TransferNode` puts a transfer at its address (``local``), so that the
    one drive loop of every sans-I/O node (``proto.node.Pump``) drives it.

What an owner must do
    Send every datagram of ``datagrams_to_send()`` after each call into the
    transfer; call ``handle_timer(now)`` when ``get_timer()`` has passed;
    drain ``next_event()``; drop the transfer when ``finished``. A server
    owner parses requests arriving on its port (:func:`parse_packet`),
    answers unknown files itself (ERROR 1 via :func:`error_packet`), creates
    one server transfer per request, routes datagrams from that request's
    address and port to it (a repeated request from a live peer can go to it
    too: it is ignored), and after :class:`UploadComplete` calls
    :meth:`ServerWrite.accept` or :meth:`ServerWrite.refuse` (no timer runs
    until then). Progress events merge while undrained.
"""

from __future__ import annotations

from ipgwsim.proto.tftp.client import ClientRead, ClientWrite
from ipgwsim.proto.tftp.events import (
    FallbackToPlain,
    OptionsNegotiated,
    Progress,
    TransferComplete,
    TransferEvent,
    TransferFailed,
    UploadComplete,
)
from ipgwsim.proto.tftp.node import TransferNode
from ipgwsim.proto.tftp.options import (
    DEFAULT_TIMERS,
    KNOWN_OPTIONS,
    Negotiated,
    OptionPolicy,
    TimerPolicy,
    negotiate,
    option_number,
    validate_oack,
)
from ipgwsim.proto.tftp.packets import (
    BUSY,
    SEND_AGAIN,
    Ack,
    Data,
    Error,
    ErrorCode,
    MalformedPacket,
    Opcode,
    OptionAck,
    Packet,
    ReadRequest,
    WriteRequest,
    encode_packet,
    error_packet,
    is_busy,
    parse_packet,
)
from ipgwsim.proto.tftp.server import ServerRead, ServerWrite
from ipgwsim.proto.tftp.transfer import Transfer

__all__ = [
    "BUSY",
    "DEFAULT_TIMERS",
    "KNOWN_OPTIONS",
    "SEND_AGAIN",
    "Ack",
    "ClientRead",
    "ClientWrite",
    "Data",
    "Error",
    "ErrorCode",
    "FallbackToPlain",
    "MalformedPacket",
    "Negotiated",
    "Opcode",
    "OptionAck",
    "OptionPolicy",
    "OptionsNegotiated",
    "Packet",
    "Progress",
    "ReadRequest",
    "ServerRead",
    "ServerWrite",
    "TimerPolicy",
    "Transfer",
    "TransferComplete",
    "TransferEvent",
    "TransferFailed",
    "TransferNode",
    "UploadComplete",
    "WriteRequest",
    "encode_packet",
    "error_packet",
    "is_busy",
    "negotiate",
    "option_number",
    "parse_packet",
    "validate_oack",
]

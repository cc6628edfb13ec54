"""A TFTP client and the server transfers of its requests, paired in virtual time.

For tests of :mod:`ipgwsim.proto.tftp`, and for users who want to drive their own
sans-I/O TFTP client or server code against the project's engine: a client
:class:`~ipgwsim.proto.tftp.Transfer` (yours or :class:`~ipgwsim.proto.tftp.ClientRead`
/ :class:`~ipgwsim.proto.tftp.ClientWrite`) talks to whatever server transfers a
port-69 owner (a :data:`Serve` function: yours, or :func:`serving`) creates.
:class:`Net` carries the datagrams between them in a small delivery loop, decides the
fate of each one (delivered, dropped, duplicated or delayed behind the others) and
moves a virtual clock to the next deadline when nothing is in flight. No sockets, no
sleeps::

    net = Net(ClientRead("boot.bin", SERVER, 0.0), serving({"boot.bin": data})).run()
    assert outcome(net.client_events) == TransferComplete(data)

The client sits at :data:`CLIENT`; each server transfer gets its own port (TID) on
the server's address, :data:`TID` for the first. :func:`exchange` pairs one client
and one server transfer directly, without the port-69 owner, all at one instant.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.node import Pump, drain_events
from ipgwsim.proto.tftp import (
    DEFAULT_TIMERS,
    ErrorCode,
    OptionPolicy,
    Packet,
    ReadRequest,
    ServerRead,
    ServerWrite,
    TimerPolicy,
    Transfer,
    TransferComplete,
    TransferEvent,
    TransferFailed,
    TransferNode,
    UploadComplete,
    WriteRequest,
    error_packet,
    parse_packet,
)

__all__ = [
    "ALL_OPTIONS",
    "CLIENT",
    "SERVER",
    "STRANGER",
    "TID",
    "Fate",
    "Net",
    "Sent",
    "Serve",
    "deliver_all",
    "drain",
    "exchange",
    "outcome",
    "payload",
    "serving",
]

#: A policy that grants every option the engine knows.
ALL_OPTIONS = OptionPolicy()

#: The client's address and port.
CLIENT: Address = ("192.168.0.10", 40000)
#: Where the client sends its request: the port-69 owner.
SERVER: Address = ("192.168.0.1", 69)
#: The first server transfer's address and port (its TID); the next get 50002, ...
TID: Address = ("192.168.0.1", 50001)
#: A third party, for stray packets.
STRANGER: Address = ("192.168.0.99", 40001)


def payload(size: int, seed: int = 1) -> bytes:
    """``size`` bytes that differ from block to block."""
    return bytes((i * 7 + seed + i // 251) & 0xFF for i in range(size))


@dataclass
class Sent:
    """One datagram on the virtual wire."""

    data: bytes
    src: Address
    dst: Address
    #: Its number among all datagrams sent, from 0.
    index: int

    @property
    def opcode(self) -> int:
        return (self.data[0] << 8) | self.data[1]

    @property
    def block(self) -> int:
        """The block number of a DATA or ACK (the error code of an ERROR)."""
        return (self.data[2] << 8) | self.data[3]


#: What the owner of port 69 does with a request: a transfer, an answer, or nothing.
Serve = Callable[[Packet, Address, float], Transfer | bytes | None]
#: The fate of the n-th datagram sent: "deliver", "drop", "dup" or "delay".
Fate = Callable[[int, Sent], str]


def deliver_all(index: int, sent: Sent) -> str:
    """The fate of every datagram on a clean wire."""
    return "deliver"


@dataclass
class Net:
    """Carries datagrams between one client and the server transfers of its requests.

    A datagram to the port of a server transfer goes to it; one to port 69 (of any
    address, a broadcast too) goes to the live server transfer of its sender if there
    is one, else to ``serve``, whose transfer gets its own port (TID) from 50001 on and
    whose bytes are sent back from that port. Each datagram's fate is decided once,
    when it is taken from the queue: "deliver", "drop", "dup" (delivered twice) or
    "delay" (put at the end of the queue, then delivered). Time moves only when nothing
    is in flight: to the earliest deadline. With ``auto_accept``, a server's
    :class:`~ipgwsim.proto.tftp.UploadComplete` is accepted at once.
    """

    client: Transfer
    serve: Serve
    now: float = 0.0
    fate: Fate = deliver_all
    auto_accept: bool = True
    servers: dict[Address, Transfer] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    client_events: list[TransferEvent] = field(default_factory=list)
    events_of: dict[Address, list[TransferEvent]] = field(default_factory=dict)
    queue: deque[tuple[Sent, bool]] = field(default_factory=deque)
    #: The one drive loop of each transfer: the client's first, then one per server.
    pumps: list[Pump[TransferEvent]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.pumps.append(
            Pump(TransferNode(self.client, CLIENT), self._send, self.client_events.append)
        )

    @property
    def server(self) -> Transfer:
        """The first server transfer."""
        return next(iter(self.servers.values()))

    @property
    def server_events(self) -> list[TransferEvent]:
        """The events of the first server transfer."""
        return next(iter(self.events_of.values()))

    def _send(self, datagram: Datagram) -> None:
        sent = Sent(datagram.data, datagram.src, datagram.dst, len(self.sent))
        self.sent.append(sent)
        self.queue.append((sent, False))

    def _add_server(self, tid: Address, server: Transfer) -> None:
        events: list[TransferEvent] = []
        self.servers[tid] = server
        self.events_of[tid] = events

        def sink(event: TransferEvent) -> None:
            events.append(event)
            if isinstance(event, UploadComplete) and self.auto_accept:
                if not isinstance(server, ServerWrite):
                    raise AssertionError(f"UploadComplete from {server!r}, no ServerWrite")
                server.accept(self.now)

        self.pumps.append(Pump(TransferNode(server, tid), self._send, sink))

    def collect(self) -> None:
        """Queue what the transfers send and record their events (one pump each)."""
        for pump in self.pumps:
            pump.flush()

    def deliver(self, sent: Sent) -> None:
        """Hand ``sent`` to its receiver now."""
        datagram = Datagram(sent.data, sent.src, sent.dst)
        if sent.dst == CLIENT:
            self.client.receive_datagram(datagram, self.now)
        elif sent.dst in self.servers:
            self.servers[sent.dst].receive_datagram(datagram, self.now)
        elif sent.dst[1] == SERVER[1]:  # port 69, or a broadcast
            for server in self.servers.values():
                if server.peer == sent.src and not server.finished:
                    server.receive_datagram(datagram, self.now)
                    return
            tid = (SERVER[0], 50001 + len(self.servers))
            answer = self.serve(parse_packet(sent.data), sent.src, self.now)
            if isinstance(answer, bytes):
                self._send(Datagram(answer, tid, sent.src))
            elif answer is not None:
                self._add_server(tid, answer)

    def run(self, max_steps: int = 2_000_000) -> Net:
        """Until nothing is in flight and no timer is pending."""
        for _ in range(max_steps):
            self.collect()
            if self.queue:
                sent, fated = self.queue.popleft()
                fate = "deliver" if fated else self.fate(sent.index, sent)
                if fate == "deliver":
                    self.deliver(sent)
                elif fate == "dup":
                    self.deliver(sent)
                    self.collect()
                    self.deliver(sent)
                elif fate == "delay":
                    self.queue.append((sent, True))
                continue
            due = [deadline for p in self.pumps if (deadline := p.deadline) is not None]
            if not due:
                return self
            self.now = max(self.now, min(due))
            for pump in self.pumps:
                deadline = pump.deadline
                if deadline is not None and deadline <= self.now:
                    pump.timer(self.now)
        raise AssertionError(f"no end after {max_steps} steps")

    def datagrams(self, opcode: int, src: Address | None = None) -> list[Sent]:
        """The datagrams sent with ``opcode`` (from ``src`` only, if given)."""
        return [s for s in self.sent if s.opcode == opcode and src in (None, s.src)]


def serving(
    files: dict[str, bytes],
    policy: OptionPolicy = ALL_OPTIONS,
    timers: TimerPolicy = DEFAULT_TIMERS,
    max_size: int | None = None,
) -> Serve:
    """A port-69 owner: serves ``files``, takes every upload.

    A read of another file gets ERROR 1; an upload larger than ``max_size`` gets
    ERROR 3 "too big".
    """

    def serve(request: Packet, peer: Address, now: float) -> Transfer | bytes | None:
        if isinstance(request, ReadRequest):
            if request.filename not in files:
                return error_packet(ErrorCode.FILE_NOT_FOUND, "file not found")
            data = files[request.filename]
            return ServerRead(request, peer, data, now, policy=policy, timers=timers)
        if isinstance(request, WriteRequest):
            return ServerWrite(
                request,
                peer,
                now,
                policy=policy,
                timers=timers,
                max_size=max_size,
                too_large="too big",
            )
        return None

    return serve


def outcome(events: list[TransferEvent]) -> TransferComplete | TransferFailed:
    """The one final event of a transfer (AssertionError if there is not exactly one)."""
    final = [e for e in events if isinstance(e, TransferComplete | TransferFailed)]
    if len(final) != 1:
        raise AssertionError(events)
    return final[0]


def exchange(client: Transfer, server: Transfer, now: float) -> list[tuple[bytes, Address]]:
    """Carry datagrams between a client and a server (at TID) until both are quiet.

    Returns every datagram moved, with its destination; those to another address
    than the other side's are not delivered.
    """
    moved: list[tuple[bytes, Address]] = []
    while True:
        from_client = client.datagrams_to_send()
        from_server = server.datagrams_to_send()
        if not from_client and not from_server:
            return moved
        for data, dst in from_client:
            moved.append((data, dst))
            if dst == TID:
                server.receive_datagram(Datagram(data, CLIENT, TID), now)
        for data, dst in from_server:
            moved.append((data, dst))
            if dst == CLIENT:
                client.receive_datagram(Datagram(data, TID, CLIENT), now)


def drain(transfer: Transfer) -> list[TransferEvent]:
    """The events ``transfer`` has queued, drained."""
    events: list[TransferEvent] = drain_events(transfer)
    return events

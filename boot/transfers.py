"""The TFTP transfers a device in TFTP mode runs: their ports and their bounds.

A request gets a transfer port of its own (RFC 1350 TIDs), picked at random from
:data:`TID_RANGE`, never one the network could not open before. The pool is bounded
(:data:`MAX_TRANSFERS`, :data:`MAX_TRANSFERS_PER_CLIENT`, one upload at a time,
:data:`MAX_OPEN_TRANSFERS` with the dallying ones); a transfer whose client never
answered makes room for a new request (:data:`UNANSWERED_GRACE`, :data:`KNOWN_CLIENTS`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ipgwsim.boot.requests import PortPolicy, Refusal
from ipgwsim.events import ConsoleOutput, Event, PortClosed, PortOpened
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.tftp import (
    Error,
    ErrorCode,
    ReadRequest,
    ServerRead,
    ServerWrite,
    WriteRequest,
    encode_packet,
)

#: The transfer ports a device picks for its TFTP transfers (RFC 1350 TIDs).
TID_RANGE = (49152, 65535)
#: Transfer ports that could not be opened are not picked again (up to this many).
MAX_FAILED_PORTS = 1024
#: Transfers a device runs at once (DECISION: boot code serves one or a few at a time;
#: more would let a flood of requests that are never acknowledged take every port).
MAX_TRANSFERS = 8
#: Running transfers one client address may have at once (DECISION, as above).
MAX_TRANSFERS_PER_CLIENT = 2
#: Transfers a device keeps open, dallying ones included: past it the oldest dallying one
#: ends early (it only waits to answer a lost last ACK again), so ports stay bounded.
MAX_OPEN_TRANSFERS = 64
#: Device seconds after which a running transfer whose client has sent nothing on it (its
#: first answer is due for a retransmission) may be ended to serve a new request when the
#: device or that client is at its limit; the oldest such one goes first. DECISION: a real
#: client answers within a round trip, the requests of a flood never; so a flood takes the
#: places of its own earlier requests, not those of the clients that answer.
UNANSWERED_GRACE = 1.0
#: Client addresses remembered as having answered a transfer (the newest ones). DECISION:
#: a request from one of them may end an unanswered transfer at once, without the grace,
#: as a device prefers the clients it has worked with to strangers under a flood.
KNOWN_CLIENTS = 256
#: Random picks of a transfer port before the range is searched in order.
PORT_PICKS = 64


@dataclass
class Transfer:
    """One TFTP transfer: its port, its client, the file and the protocol engine."""

    local: Address
    peer: Address
    name: str
    engine: ServerRead | ServerWrite
    #: Device time of the request.
    opened: float
    header_checked: bool = False
    #: An upload of an image (its header is checked as soon as it is in).
    image: bool = False
    #: The last block is confirmed; only dallying is left (not busy any more).
    complete: bool = False
    #: The client has sent something on the transfer port.
    answered: bool = False

    @property
    def running(self) -> bool:
        return not self.complete and not self.engine.finished


class Transfers:
    """The open transfers of one device by their local address, the oldest first.

    It appends to the ``events`` and ``outgoing`` lists it is given (those of
    :class:`~ipgwsim.boot.tftpmode.TftpMode`).
    """

    def __init__(
        self,
        *,
        port: int,
        rng: random.Random,
        port_policy: PortPolicy | None,
        events: list[Event],
        outgoing: list[Datagram],
    ) -> None:
        self.port = port
        self.rng = rng
        self.port_policy = port_policy
        self._events = events
        self._outgoing = outgoing
        self._open: dict[Address, Transfer] = {}
        #: Addresses of clients that answered a transfer, the newest last.
        self._known: dict[str, None] = {}
        #: Transfer ports the network could not open (not picked again).
        self._failed_ports: set[int] = set()

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, local: Address) -> bool:
        return local in self._open

    def __iter__(self) -> Iterator[Transfer]:
        return iter(list(self._open.values()))

    def get(self, local: Address) -> Transfer | None:
        return self._open.get(local)

    def busy_reason(self) -> str | None:
        """Why the device is busy with transfers (a dallying one does not count)."""
        running = [t for t in self._open.values() if not t.complete]
        if running:
            return f"busy: a transfer is running ({running[0].name})"
        return None

    def add(self, transfer: Transfer) -> None:
        self._open[transfer.local] = transfer
        self._events.append(PortOpened(transfer.local))

    def close(self, local: Address) -> None:
        del self._open[local]
        self._events.append(PortClosed(local))

    def close_all(self) -> None:
        for local in list(self._open):
            self.close(local)

    def port_failed(self, local: Address) -> None:
        """The port of ``local`` could not be opened: it is not picked again."""
        self._failed_ports.add(local[1])
        if len(self._failed_ports) > MAX_FAILED_PORTS:
            self._failed_ports = {local[1]}

    def transfer_for(self, packet: ReadRequest | WriteRequest, peer: Address) -> Transfer | None:
        """The running transfer that ``packet`` from ``peer`` started, if it is a repeat."""
        for transfer in self._open.values():
            if transfer.peer == peer and transfer.running and transfer.engine.request == packet:
                return transfer
        return None

    def _port_free(self, ip: str, port: int) -> bool:
        address = (ip, port)
        return (
            address not in self._open
            and port != self.port
            and port not in self._failed_ports
            and (self.port_policy is None or self.port_policy(address))
        )

    def pick_port(self, ip: str) -> int:
        """A random free transfer port; after :data:`PORT_PICKS` misses the range is searched
        in order from a random start, so the search always ends."""
        low, high = TID_RANGE
        for _ in range(PORT_PICKS):
            port = self.rng.randint(low, high)
            if self._port_free(ip, port):
                return port
        span = high - low + 1
        start = self.rng.randrange(span)
        for offset in range(span):
            port = low + (start + offset) % span
            if self._port_free(ip, port):
                return port
        raise Refusal(ErrorCode.NOT_DEFINED, "busy: no transfer port is free; try again later")

    def check_capacity(self, peer: Address, now: float, *, upload: bool) -> None:
        """Refuse a transfer past :data:`MAX_TRANSFERS` or :data:`MAX_TRANSFERS_PER_CLIENT`
        running ones (or a second upload), unless an unanswered one can make room
        (:data:`UNANSWERED_GRACE`); end the oldest dallying ones past
        :data:`MAX_OPEN_TRANSFERS`."""
        running = [t for t in self._open.values() if t.running]
        if len(running) >= MAX_TRANSFERS and not self._make_room(running, peer, now):
            raise Refusal(
                ErrorCode.NOT_DEFINED,
                f"busy: {len(running)} transfers are running, the most this device serves "
                "at once; try again when one has ended",
            )
        mine = [t for t in self._open.values() if t.running and t.peer[0] == peer[0]]
        if len(mine) >= MAX_TRANSFERS_PER_CLIENT and not self._make_room(mine, peer, now):
            raise Refusal(
                ErrorCode.NOT_DEFINED,
                f"busy: {peer[0]} has {len(mine)} transfers running, the most one client may "
                "have at once; finish one first",
            )
        uploads = [
            t for t in self._open.values() if t.running and isinstance(t.engine, ServerWrite)
        ]
        if upload and uploads and not self._make_room(uploads, peer, now):
            raise Refusal(ErrorCode.NOT_DEFINED, "busy: another upload is running")
        done = [local for local, t in self._open.items() if not t.running]
        for local in done[: max(0, len(self._open) - MAX_OPEN_TRANSFERS + 1)]:
            self.close(local)  # the oldest first: dicts keep their order

    def answered(self, transfer: Transfer) -> None:
        transfer.answered = True
        client = transfer.peer[0]
        self._known.pop(client, None)
        self._known[client] = None
        if len(self._known) > KNOWN_CLIENTS:
            del self._known[next(iter(self._known))]

    def _make_room(self, transfers: list[Transfer], peer: Address, now: float) -> bool:
        """End the oldest of ``transfers`` whose client has not answered for
        :data:`UNANSWERED_GRACE` (at once for a request of a :data:`KNOWN_CLIENTS` one);
        whether there was one. Its client is told, from the transfer's port, to send its
        request again."""
        grace = 0.0 if peer[0] in self._known else UNANSWERED_GRACE
        for transfer in transfers:  # the oldest first: dicts keep their order
            waited = now - transfer.opened
            if transfer.answered or waited < grace:
                continue
            reason = (
                f"busy: no answer for {waited:.3g} s, so this transfer made room for another "
                "request; send the request again"
            )
            self._events.append(
                ConsoleOutput(f"tftp: {transfer.name} with {transfer.peer[0]} ended: {reason}")
            )
            error = Datagram(
                encode_packet(Error(ErrorCode.NOT_DEFINED, reason)), transfer.local, transfer.peer
            )
            self._outgoing.append(error)
            self.close(transfer.local)
            return True
        return False

"""TFTP conversations: a client and a server transfer on a virtual network.

Each test pairs a client of :mod:`ipgwsim.proto.tftp` with the server
transfers an in-test port-69 owner creates, carries datagrams between them
in a small delivery loop and moves a virtual clock to the next deadline when
nothing is in flight. No sockets, no sleeps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from ipgwsim.proto.net import Address
from ipgwsim.proto.tftp import (
    DEFAULT_TIMERS,
    Ack,
    ClientRead,
    ClientWrite,
    Data,
    Error,
    ErrorCode,
    FallbackToPlain,
    Opcode,
    OptionAck,
    OptionPolicy,
    OptionsNegotiated,
    Packet,
    Progress,
    ReadRequest,
    ServerRead,
    ServerWrite,
    TimerPolicy,
    Transfer,
    TransferComplete,
    TransferEvent,
    TransferFailed,
    UploadComplete,
    WriteRequest,
    encode_packet,
    error_packet,
    parse_packet,
)

ALL_OPTIONS = OptionPolicy()
WINDOWED = {"blksize": "1468", "windowsize": "16"}


def payload(size: int, seed: int = 1) -> bytes:
    """``size`` bytes that differ from block to block."""
    return bytes((i * 7 + seed + i // 251) & 0xFF for i in range(size))


# -------------------- a tiny virtual network (virtual time, no sockets) --------

CLIENT: Address = ("192.168.0.10", 40000)
SERVER: Address = ("192.168.0.1", 69)
STRANGER: Address = ("192.168.0.99", 40001)

#: What the owner of port 69 does with a request: a transfer, an answer, or nothing.
Serve = Callable[[Packet, Address, float], Transfer | bytes | None]
#: The fate of the n-th datagram sent: "deliver", "drop", "dup" or "delay".
Fate = Callable[[int, "Sent"], str]


def deliver_all(index: int, sent: Sent) -> str:
    return "deliver"


@dataclass
class Sent:
    """One datagram on the virtual wire."""

    data: bytes
    src: Address
    dst: Address
    index: int

    @property
    def opcode(self) -> int:
        return (self.data[0] << 8) | self.data[1]

    @property
    def block(self) -> int:
        return (self.data[2] << 8) | self.data[3]


@dataclass
class Net:
    """Carries datagrams between one client and the server transfers of its requests.

    Each server transfer gets its own port (TID) from 50001 on. Time moves
    only when nothing is in flight: to the earliest deadline.
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

    @property
    def server(self) -> Transfer:
        """The first server transfer."""
        return next(iter(self.servers.values()))

    @property
    def server_events(self) -> list[TransferEvent]:
        return next(iter(self.events_of.values()))

    def _send(self, data: bytes, src: Address, dst: Address) -> None:
        sent = Sent(data, src, dst, len(self.sent))
        self.sent.append(sent)
        self.queue.append((sent, False))

    def collect(self) -> None:
        for data, dst in self.client.datagrams_to_send():
            self._send(data, CLIENT, dst)
        while (event := self.client.next_event()) is not None:
            self.client_events.append(event)
        for tid, server in self.servers.items():
            for data, dst in server.datagrams_to_send():
                self._send(data, tid, dst)
            while (event := server.next_event()) is not None:
                self.events_of[tid].append(event)
                if isinstance(event, UploadComplete) and self.auto_accept:
                    assert isinstance(server, ServerWrite)
                    server.accept(self.now)
                    self.collect()
                    return

    def deliver(self, sent: Sent) -> None:
        if sent.dst == CLIENT:
            self.client.receive_datagram(sent.data, sent.src, self.now)
        elif sent.dst in self.servers:
            self.servers[sent.dst].receive_datagram(sent.data, sent.src, self.now)
        elif sent.dst[1] == SERVER[1]:  # port 69, or a broadcast
            for server in self.servers.values():
                if server.peer == sent.src and not server.finished:
                    server.receive_datagram(sent.data, sent.src, self.now)
                    return
            tid = (SERVER[0], 50001 + len(self.servers))
            answer = self.serve(parse_packet(sent.data), sent.src, self.now)
            if isinstance(answer, bytes):
                self._send(answer, tid, sent.src)
            elif answer is not None:
                self.servers[tid] = answer
                self.events_of[tid] = []

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
            transfers = [self.client, *self.servers.values()]
            due = [timer for t in transfers if (timer := t.get_timer()) is not None]
            if not due:
                return self
            self.now = max(self.now, min(due))
            for transfer in transfers:
                timer = transfer.get_timer()
                if timer is not None and timer <= self.now:
                    transfer.handle_timer(self.now)
        raise AssertionError(f"no end after {max_steps} steps")

    def datagrams(self, opcode: int, src: Address | None = None) -> list[Sent]:
        return [s for s in self.sent if s.opcode == opcode and src in (None, s.src)]


def serving(
    files: dict[str, bytes],
    policy: OptionPolicy = ALL_OPTIONS,
    timers: TimerPolicy = DEFAULT_TIMERS,
    max_size: int | None = None,
) -> Serve:
    """A port-69 owner: serves ``files``, takes every upload."""

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
    """The one final event of a transfer."""
    final = [e for e in events if isinstance(e, TransferComplete | TransferFailed)]
    assert len(final) == 1, events
    return final[0]


TID: Address = ("192.168.0.1", 50001)


def exchange(client: Transfer, server: Transfer, now: float) -> list[tuple[bytes, Address]]:
    """Carry datagrams between a client and a server (at TID) until both are quiet."""
    moved: list[tuple[bytes, Address]] = []
    while True:
        from_client = client.datagrams_to_send()
        from_server = server.datagrams_to_send()
        if not from_client and not from_server:
            return moved
        for data, dst in from_client:
            moved.append((data, dst))
            if dst == TID:
                server.receive_datagram(data, CLIENT, now)
        for data, dst in from_server:
            moved.append((data, dst))
            if dst == CLIENT:
                client.receive_datagram(data, TID, now)


def drain(transfer: Transfer) -> list[TransferEvent]:
    events: list[TransferEvent] = []
    while (event := transfer.next_event()) is not None:
        events.append(event)
    return events


def blocks_of(net: Net, opcode: int) -> list[int]:
    return [sent.block for sent in net.datagrams(opcode)]


# -------------------- whole files, both directions ----------------------------

SIZES = [0, 1, 511, 512, 513, 1024, 5000]
OPTION_SETS = [None, WINDOWED, {"blksize": "8", "windowsize": "3"}]


@pytest.mark.parametrize("options", OPTION_SETS, ids=["plain", "windowed", "tiny"])
@pytest.mark.parametrize("size", SIZES)
def test_read(size: int, options: dict[str, str] | None) -> None:
    data = payload(size)
    net = Net(ClientRead("boot.bin", SERVER, 0.0, options=options), serving({"boot.bin": data}))
    net.run()
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    assert net.client.finished
    assert net.server.finished
    blksize = int((options or {}).get("blksize", "512"))
    assert blocks_of(net, Opcode.DATA) == [n & 0xFFFF for n in range(1, size // blksize + 2)]
    assert net.now == 8.0  # the client dallied max_timeout after its final ACK at 0


@pytest.mark.parametrize("options", OPTION_SETS, ids=["plain", "windowed", "tiny"])
@pytest.mark.parametrize("size", SIZES)
def test_write(size: int, options: dict[str, str] | None) -> None:
    data = payload(size, seed=5)
    net = Net(ClientWrite("fw.bin", SERVER, data, 0.0, options=options), serving({})).run()
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]
    assert outcome(net.server_events) == TransferComplete(None)
    assert outcome(net.client_events) == TransferComplete(None)
    assert net.client.finished
    assert net.server.finished
    blksize = int((options or {}).get("blksize", "512"))
    assert len(net.datagrams(Opcode.DATA)) == size // blksize + 1


def test_windows_are_acknowledged_at_their_ends() -> None:
    data = payload(1468 * 40 + 100)  # 41 blocks: windows of 16, 16 and 9
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), serving({"f": data})).run()
    assert blocks_of(net, Opcode.ACK) == [0, 16, 32, 41]
    assert outcome(net.client_events) == TransferComplete(data)
    progress = [e for e in net.client_events if isinstance(e, Progress)]
    assert [p.done for p in progress] == [1468 * 16, 1468 * 32, len(data)]

    net = Net(ClientWrite("f", SERVER, data, 0.0, options=WINDOWED), serving({})).run()
    assert len(net.datagrams(Opcode.OACK)) == 1
    assert blocks_of(net, Opcode.ACK) == [16, 32, 41]
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]


def test_windowsize_16_blksize_1468_moves_a_megabyte() -> None:
    data = payload(1 << 20)
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), serving({"f": data})).run()
    assert outcome(net.client_events) == TransferComplete(data)
    blocks = len(data) // 1468 + 1
    assert len(net.datagrams(Opcode.DATA)) == blocks
    assert len(net.datagrams(Opcode.ACK)) == 1 + -(-blocks // 16)


def test_progress_of_a_lock_step_read() -> None:
    data = payload(1100)
    net = Net(ClientRead("f", SERVER, 0.0, options={"tsize": "0"}), serving({"f": data})).run()
    client = [(e.done, e.total) for e in net.client_events if isinstance(e, Progress)]
    assert client == [(512, 1100), (1024, 1100), (1100, 1100)]
    server = [(e.done, e.total) for e in net.server_events if isinstance(e, Progress)]
    assert server == [(512, 1100), (1024, 1100)]


@pytest.mark.parametrize("windowsize", ["1", "16"])
def test_block_numbers_roll_over_to_zero(windowsize: str) -> None:
    data = payload(8 * 70000 + 3)  # 70001 blocks of 8 bytes
    options = {"blksize": "8", "windowsize": windowsize}
    net = Net(ClientRead("big", SERVER, 0.0, options=options), serving({"big": data})).run()
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    blocks = blocks_of(net, Opcode.DATA)
    assert len(blocks) == 70001
    assert blocks[65534:65538] == [65535, 0, 1, 2]
    assert blocks[-1] == 70001 - 65536


def test_upload_rolls_over_too() -> None:
    data = payload(8 * 66000, seed=9)  # 66001 blocks, the last one empty
    options = {"blksize": "8", "windowsize": "8"}
    net = Net(ClientWrite("big", SERVER, data, 0.0, options=options), serving({})).run()
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]
    assert outcome(net.client_events) == TransferComplete(None)
    acks = blocks_of(net, Opcode.ACK)
    assert acks[-1] == 66001 - 65536
    assert 0 in acks


# -------------------- option negotiation ---------------------------------------


def test_all_options_granted() -> None:
    data = payload(9000)
    asked = {"blksize": "1468", "windowsize": "16", "tsize": "0", "timeout": "2"}
    net = Net(ClientRead("f", SERVER, 0.0, options=asked), serving({"f": data})).run()
    first = parse_packet(net.datagrams(Opcode.OACK)[0].data)
    granted = {"blksize": "1468", "windowsize": "16", "tsize": "9000", "timeout": "2"}
    assert first == OptionAck(granted)
    assert net.client_events[0] == OptionsNegotiated(granted, 1468, 16)
    assert net.server_events[0] == OptionsNegotiated(granted, 1468, 16)
    assert outcome(net.client_events) == TransferComplete(data)
    assert net.now == 8.0  # dally: max_timeout, which the timeout option of 2 s leaves alone


def test_policy_grants_a_subset() -> None:
    data = payload(3000)
    policy = OptionPolicy(supported=frozenset({"blksize", "tsize"}))
    asked = {"blksize": "1024", "windowsize": "16", "tsize": "0"}
    net = Net(ClientRead("f", SERVER, 0.0, options=asked), serving({"f": data}, policy)).run()
    assert parse_packet(net.datagrams(Opcode.OACK)[0].data) == OptionAck(
        {"blksize": "1024", "tsize": "3000"}
    )
    assert net.client_events[0] == OptionsNegotiated({"blksize": "1024", "tsize": "3000"}, 1024, 1)
    assert blocks_of(net, Opcode.ACK) == [0, 1, 2, 3]  # windowsize 1: every block
    assert outcome(net.client_events) == TransferComplete(data)


def test_policy_limits_are_granted() -> None:
    policy = OptionPolicy(max_blksize=1024, max_windowsize=4)
    asked = {"blksize": "65464", "windowsize": "64"}
    data = payload(10000)
    net = Net(ClientRead("f", SERVER, 0.0, options=asked), serving({"f": data}, policy)).run()
    assert net.client_events[0] == OptionsNegotiated(
        {"blksize": "1024", "windowsize": "4"}, 1024, 4
    )
    assert outcome(net.client_events) == TransferComplete(data)


def test_no_granted_option_means_a_plain_read() -> None:
    data = payload(600)
    policy = OptionPolicy(supported=frozenset())
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), serving({"f": data}, policy)).run()
    server_first = next(s for s in net.sent if s.src != CLIENT)
    assert parse_packet(server_first.data) == Data(1, data[:512])
    assert not net.datagrams(Opcode.OACK)
    assert net.client_events[0] == OptionsNegotiated({}, 512, 1)
    assert outcome(net.client_events) == TransferComplete(data)


def test_no_granted_option_means_a_plain_write() -> None:
    data = payload(600)
    policy = OptionPolicy(supported=frozenset({"timeout"}))
    net = Net(ClientWrite("f", SERVER, data, 0.0, options=WINDOWED), serving({}, policy)).run()
    server_first = next(s for s in net.sent if s.src != CLIENT)
    assert parse_packet(server_first.data) == Ack(0)
    assert net.client_events[0] == OptionsNegotiated({}, 512, 1)
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]


def test_option_names_are_case_insensitive() -> None:
    data = payload(3000)
    net = Net(ClientRead("f", SERVER, 0.0, options={"BlkSize": "1000"}), serving({"f": data}))
    net.run()
    assert parse_packet(net.datagrams(Opcode.OACK)[0].data) == OptionAck({"BlkSize": "1000"})
    assert net.client_events[0] == OptionsNegotiated({"blksize": "1000"}, 1000, 1)
    assert outcome(net.client_events) == TransferComplete(data)


def test_tsize_of_a_read() -> None:
    data = payload(5000)
    options = {"tsize": "123"}  # a client always asks with 0
    net = Net(ClientRead("f", SERVER, 0.0, options=options), serving({"f": data})).run()
    assert parse_packet(net.sent[0].data) == ReadRequest("f", "octet", {"tsize": "0"})
    assert net.client_events[0] == OptionsNegotiated({"tsize": "5000"}, 512, 1)
    assert {e.total for e in net.client_events if isinstance(e, Progress)} == {5000}


def test_tsize_of_a_write() -> None:
    data = payload(5000)
    net = Net(ClientWrite("f", SERVER, data, 0.0, options={"tsize": "0"}), serving({})).run()
    assert parse_packet(net.sent[0].data) == WriteRequest("f", "octet", {"tsize": "5000"})
    assert net.server_events[0] == OptionsNegotiated({"tsize": "5000"}, 512, 1)
    assert {e.total for e in net.server_events if isinstance(e, Progress)} == {5000}
    assert {e.total for e in net.client_events if isinstance(e, Progress)} == {5000}


# -------------------- fallback and OACK checks -----------------------------------


def refusing(code: int, files: dict[str, bytes]) -> Serve:
    """A port-69 owner that refuses every request with options."""
    plain = serving(files)

    def serve(request: Packet, peer: Address, now: float) -> Transfer | bytes | None:
        if isinstance(request, ReadRequest | WriteRequest) and request.options:
            return error_packet(code, "options not supported")
        return plain(request, peer, now)

    return serve


@pytest.mark.parametrize("code", [ErrorCode.OPTION_REFUSED, ErrorCode.NOT_DEFINED, 4])
def test_fallback_to_a_plain_read(code: int) -> None:
    data = payload(1500)
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), refusing(code, {"f": data})).run()
    requests = [parse_packet(s.data) for s in net.sent if s.dst == SERVER]
    assert requests == [ReadRequest("f", "octet", WINDOWED), ReadRequest("f", "octet", {})]
    reason = f"the server refused the options with ERROR {code}: options not supported"
    assert net.client_events[:2] == [FallbackToPlain(reason), OptionsNegotiated({}, 512, 1)]
    assert outcome(net.client_events) == TransferComplete(data)


def test_fallback_to_a_plain_write() -> None:
    data = payload(1500)
    net = Net(ClientWrite("f", SERVER, data, 0.0, options=WINDOWED), refusing(8, {})).run()
    assert isinstance(net.client_events[0], FallbackToPlain)
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]


def test_no_fallback_when_disabled() -> None:
    client = ClientRead("f", SERVER, 0.0, options=WINDOWED, fallback=False)
    net = Net(client, refusing(8, {"f": b"x"})).run()
    assert net.client_events == [TransferFailed("options not supported", 8, True)]
    assert len([s for s in net.sent if s.dst == SERVER]) == 1


def test_no_fallback_for_other_errors_or_plain_requests() -> None:
    net = Net(ClientRead("missing", SERVER, 0.0, options=WINDOWED), serving({})).run()
    assert net.client_events == [TransferFailed("file not found", 1, True)]
    net = Net(ClientRead("f", SERVER, 0.0), lambda *_: error_packet(8, "no")).run()
    assert net.client_events == [TransferFailed("no", 8, True)]


def test_fallback_happens_once() -> None:
    net = Net(
        ClientRead("f", SERVER, 0.0, options=WINDOWED), lambda *_: error_packet(8, "no")
    ).run()
    assert [type(e) for e in net.client_events] == [FallbackToPlain, TransferFailed]
    assert net.client_events[1] == TransferFailed("no", 8, True)


@pytest.mark.parametrize(
    ("oack", "reason"),
    [
        ({"blksize": "2048"}, "the server granted blksize 2048, asked 1024"),
        ({"windowsize": "4"}, "the server granted option 'windowsize', which was not asked"),
        ({"blksize": "x"}, "the server granted blksize 'x', which is no number"),
    ],
)
@pytest.mark.parametrize("direction", ["read", "write"])
def test_a_bad_oack_is_refused(oack: dict[str, str], reason: str, direction: str) -> None:
    client: Transfer
    if direction == "read":
        client = ClientRead("f", SERVER, 0.0, options={"blksize": "1024"})
    else:
        client = ClientWrite("f", SERVER, b"abc", 0.0, options={"blksize": "1024"})
    net = Net(client, lambda *_: encode_packet(OptionAck(oack))).run()
    assert net.client_events == [TransferFailed(reason, 8, False)]
    error = net.sent[-1]
    assert (error.dst, parse_packet(error.data)) == (TID, Error(8, reason))


def test_an_oack_to_a_request_without_options_is_refused() -> None:
    net = Net(ClientRead("f", SERVER, 0.0), lambda *_: encode_packet(OptionAck({"tsize": "1"})))
    net.run()
    assert net.client_events == [
        TransferFailed("the server granted option 'tsize', which was not asked", 8, False)
    ]


# -------------------- ServerWrite: size limit ------------------------------------


def test_upload_larger_than_max_size_gets_error_3() -> None:
    data = payload(3000)
    net = Net(ClientWrite("f", SERVER, data, 0.0), serving({}, max_size=2000)).run()
    assert outcome(net.server_events) == TransferFailed("too big", 3, False)
    assert outcome(net.client_events) == TransferFailed("too big", 3, True)
    assert net.server.received_size == 1536  # type: ignore[attr-defined]
    assert blocks_of(net, Opcode.ACK) == [0, 1, 2, 3]


def test_upload_of_exactly_max_size_is_taken() -> None:
    data = payload(2000)
    net = Net(ClientWrite("f", SERVER, data, 0.0), serving({}, max_size=2000)).run()
    assert outcome(net.server_events) == TransferComplete(None)


def test_tsize_above_max_size_is_refused_at_once() -> None:
    data = payload(3000)
    client = ClientWrite("f", SERVER, data, 0.0, options={"tsize": "0", "blksize": "1024"})
    net = Net(client, serving({}, max_size=2999)).run()
    server_sent = [parse_packet(s.data) for s in net.sent if s.src == TID]
    assert server_sent == [Error(ErrorCode.DISK_FULL, "too big")]
    assert net.server_events == [TransferFailed("too big", 3, False)]
    assert net.client_events == [TransferFailed("too big", 3, True)]


# -------------------- dally ------------------------------------------------------


def test_lost_final_ack_is_repeated_during_the_dally() -> None:
    data = payload(1100)

    def fate(index: int, sent: Sent) -> str:
        is_final_ack = sent.opcode == Opcode.ACK and sent.block == 3
        return "drop" if is_final_ack and sent.src == CLIENT and sent.index < 8 else "deliver"

    net = Net(ClientRead("f", SERVER, 0.0), serving({"f": data}), fate=fate).run()
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    assert blocks_of(net, Opcode.ACK) == [1, 2, 3, 3]
    assert blocks_of(net, Opcode.DATA) == [1, 2, 3, 3]
    assert net.now == 9.0  # the dally restarted at 1.0, when the final DATA came again


# -------------------- strangers ---------------------------------------------------


def test_stray_packets_get_error_5_and_the_transfer_goes_on() -> None:
    data = payload(3000)

    def fate(index: int, sent: Sent) -> str:
        if index == 6:
            net.client.receive_datagram(encode_packet(Data(4, b"evil")), STRANGER, net.now)
            net.server.receive_datagram(encode_packet(Ack(4)), STRANGER, net.now)
            net.server.receive_datagram(error_packet(0, "stray error"), STRANGER, net.now)
        return "deliver"

    net = Net(ClientRead("f", SERVER, 0.0), serving({"f": data}), fate=fate)
    net.run()
    to_stranger = [(s.src, parse_packet(s.data)) for s in net.sent if s.dst == STRANGER]
    unknown = Error(ErrorCode.UNKNOWN_TID, "unknown transfer ID")
    assert to_stranger == [(CLIENT, unknown), (TID, unknown)]
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    assert len(net.datagrams(Opcode.DATA)) == 6

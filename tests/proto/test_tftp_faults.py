"""TFTP under loss, duplication, reordering and silence, in virtual time.

The delivery loop of :mod:`ipgwsim.testing.tftp_pair`, as in
``test_tftp_conversations.py``, decides the fate of each datagram: delivered,
dropped, duplicated or delayed behind the others. Timeouts are checked to the
exact deadline of the backoff.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipgwsim.proto.net import Datagram
from ipgwsim.proto.node import drain_events
from ipgwsim.proto.tftp import (
    Ack,
    ClientRead,
    ClientWrite,
    Data,
    Opcode,
    OptionAck,
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
    parse_packet,
)
from ipgwsim.testing.tftp_pair import (
    ALL_OPTIONS,
    CLIENT,
    SERVER,
    TID,
    Fate,
    Net,
    Sent,
    deliver_all,
    outcome,
    payload,
    serving,
)


def make_net(direction: str, data: bytes, options: dict[str, str] | None, fate: Fate) -> Net:
    client: Transfer
    if direction == "read":
        client = ClientRead("f", SERVER, 0.0, options=options)
        return Net(client, serving({"f": data}), fate=fate)
    client = ClientWrite("f", SERVER, data, 0.0, options=options)
    return Net(client, serving({}), fate=fate)


def only(chosen: int, fate: str) -> Fate:
    """``fate`` for the datagram sent as number ``chosen``; the others are delivered."""

    def decide(index: int, sent: Sent) -> str:
        return fate if index == chosen else "deliver"

    return decide


def received(net: Net, direction: str) -> bytes | None:
    """The file as the receiving side got it, or None."""
    if direction == "read":
        done = [e.data for e in net.client_events if isinstance(e, TransferComplete)]
    elif not net.servers:
        return None
    else:
        done = [e.data for e in net.server_events if isinstance(e, UploadComplete)]
    assert len(done) <= 1
    return done[0] if done else None


def assert_success(net: Net, direction: str, data: bytes) -> None:
    assert received(net, direction) == data
    assert isinstance(outcome(net.client_events), TransferComplete)
    assert isinstance(outcome(net.server_events), TransferComplete)
    assert net.client.finished
    assert all(server.finished for server in net.servers.values())


SCENARIOS = [
    ("read", 1100, None),
    ("read", 1024, None),
    ("write", 1100, None),
    ("write", 0, None),
    ("read", 1050, {"blksize": "100", "windowsize": "4", "tsize": "0"}),
    ("read", 800, {"blksize": "100", "windowsize": "4"}),
    ("write", 1050, {"blksize": "100", "windowsize": "4"}),
    ("write", 800, {"blksize": "100", "windowsize": "4", "tsize": "0"}),
]
IDS = [f"{d}-{n}-{'windowed' if o else 'plain'}" for d, n, o in SCENARIOS]


# -------------------- loss, duplication, reordering ------------------------------


@pytest.mark.parametrize(("direction", "size", "options"), SCENARIOS, ids=IDS)
def test_loss_of_any_single_datagram(
    direction: str, size: int, options: dict[str, str] | None
) -> None:
    data = payload(size)
    clean = make_net(direction, data, options, deliver_all).run()
    assert_success(clean, direction, data)
    for lost in range(len(clean.sent)):
        net = make_net(direction, data, options, only(lost, "drop")).run()
        assert_success(net, direction, data)
        assert len(net.sent) > len(clean.sent)  # something was sent again


@pytest.mark.parametrize(("direction", "size", "options"), SCENARIOS, ids=IDS)
def test_duplicates_cause_no_extra_data(
    direction: str, size: int, options: dict[str, str] | None
) -> None:
    """No Sorcerer's Apprentice: a duplicated ACK never makes the sender send DATA."""
    data = payload(size)
    blocks = size // int((options or {}).get("blksize", "512")) + 1
    for duplicated in ("all", "acks"):

        def fate(index: int, sent: Sent, duplicated: str = duplicated) -> str:
            return "dup" if duplicated == "all" or sent.opcode == Opcode.ACK else "deliver"

        net = make_net(direction, data, options, fate).run()
        assert_success(net, direction, data)
        assert len(net.datagrams(Opcode.DATA)) == blocks
        assert net.now == 31.0  # no timeout fired: only the dally passed


@pytest.mark.parametrize(("direction", "size", "options"), SCENARIOS[4:], ids=IDS[4:])
def test_reordering_inside_a_window(
    direction: str, size: int, options: dict[str, str] | None
) -> None:
    data = payload(size)
    clean = make_net(direction, data, options, deliver_all).run()
    for late in [s.index for s in clean.sent if s.opcode == Opcode.DATA]:
        net = make_net(direction, data, options, only(late, "delay")).run()
        assert_success(net, direction, data)
        assert len(net.datagrams(Opcode.DATA)) <= len(clean.datagrams(Opcode.DATA)) + 4


def test_a_gap_is_acknowledged_once_and_the_window_resent() -> None:
    server = ServerRead(
        ReadRequest("f", "octet", {"blksize": "8", "windowsize": "4"}),
        CLIENT,
        payload(100),
        0.0,
        policy=ALL_OPTIONS,
    )
    server.datagrams_to_send()
    server.receive_datagram(Datagram(encode_packet(Ack(0)), CLIENT, TID), 0.0)
    window = [parse_packet(d) for d, _ in server.datagrams_to_send()]
    assert [p.block for p in window if isinstance(p, Data)] == [1, 2, 3, 4]
    client = ClientRead("f", SERVER, 0.0, options={"blksize": "8", "windowsize": "4"})
    client.datagrams_to_send()
    client.receive_datagram(
        Datagram(encode_packet(OptionAck({"blksize": "8", "windowsize": "4"})), TID, CLIENT), 0
    )
    assert client.datagrams_to_send() == [(encode_packet(Ack(0)), TID)]
    for block in (1, 3, 4):  # 2 is lost
        client.receive_datagram(Datagram(encode_packet(window[block - 1]), TID, CLIENT), 0.1)
    assert client.datagrams_to_send() == [(encode_packet(Ack(1)), TID)]  # once
    server.receive_datagram(Datagram(encode_packet(Ack(1)), CLIENT, TID), 0.2)
    resent = [parse_packet(d) for d, _ in server.datagrams_to_send()]
    assert [p.block for p in resent if isinstance(p, Data)] == [2, 3, 4, 5]
    server.receive_datagram(
        Datagram(encode_packet(Ack(1)), CLIENT, TID), 0.3
    )  # the duplicate: ignored
    assert server.datagrams_to_send() == []


# -------------------- timeouts, to the exact deadline ----------------------------


def run_silent(transfer: Transfer) -> tuple[list[float], list[tuple[float, bytes]]]:
    """Let ``transfer`` time out alone; its deadlines and what it sent, with the time."""
    deadlines: list[float] = []
    sent: list[tuple[float, bytes]] = []
    now = 0.0
    for _ in range(100):
        sent += [(now, data) for data, _ in transfer.datagrams_to_send()]
        deadline = transfer.get_timer()
        if deadline is None:
            return deadlines, sent
        deadlines.append(deadline)
        transfer.handle_timer(deadline - 0.001)  # too early: nothing happens
        assert transfer.datagrams_to_send() == []
        now = deadline
        transfer.handle_timer(now)
    raise AssertionError("never gave up")


def failure(transfer: Transfer) -> TransferEvent | None:
    events: list[TransferEvent] = drain_events(transfer)
    return events[-1] if events else None


def test_client_request_times_out_with_backoff() -> None:
    client = ClientRead("f", SERVER, 0.0)
    deadlines, sent = run_silent(client)
    assert deadlines == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]
    request = encode_packet(ReadRequest("f"))
    assert sent == [(t, request) for t in (0.0, 1.0, 3.0, 7.0, 15.0, 23.0)]
    assert failure(client) == TransferFailed(
        "timed out after 5 retries waiting for an answer to the RRQ", None, False
    )
    assert client.finished


def test_server_read_times_out_waiting_for_an_ack() -> None:
    timers = TimerPolicy(timeout=0.5, backoff=3.0, max_timeout=4.0, retries=3)
    server = ServerRead(ReadRequest("f"), CLIENT, b"abc", 0.0, policy=ALL_OPTIONS, timers=timers)
    deadlines, sent = run_silent(server)
    assert deadlines == [0.5, 2.0, 6.0, 10.0]
    data1 = encode_packet(Data(1, b"abc"))
    assert sent == [(t, data1) for t in (0.0, 0.5, 2.0, 6.0)]
    assert failure(server) == TransferFailed(
        "timed out after 3 retries waiting for ACK of block 1", None, False
    )


def test_server_read_times_out_waiting_for_ack_0() -> None:
    request = ReadRequest("f", "octet", {"blksize": "1024"})
    server = ServerRead(request, CLIENT, b"abc", 0.0, policy=ALL_OPTIONS)
    deadlines, sent = run_silent(server)
    assert deadlines == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]
    assert {data for _, data in sent} == {encode_packet(OptionAck({"blksize": "1024"}))}
    assert failure(server) == TransferFailed(
        "timed out after 5 retries waiting for ACK 0 to the OACK", None, False
    )


def test_server_write_times_out_waiting_for_data() -> None:
    server = ServerWrite(WriteRequest("f"), CLIENT, 0.0, policy=ALL_OPTIONS)
    deadlines, sent = run_silent(server)
    assert deadlines == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]
    assert [data for _, data in sent] == [encode_packet(Ack(0))] * 6
    assert failure(server) == TransferFailed(
        "timed out after 5 retries waiting for DATA block 1", None, False
    )


def test_client_write_times_out_mid_window() -> None:
    client = ClientWrite("f", SERVER, payload(5000), 0.0, options={"windowsize": "2"})
    client.datagrams_to_send()
    client.receive_datagram(
        Datagram(encode_packet(OptionAck({"windowsize": "2"})), TID, CLIENT), 0.0
    )
    client.receive_datagram(Datagram(encode_packet(Ack(2)), TID, CLIENT), 0.5)
    client.receive_datagram(Datagram(encode_packet(Ack(2)), TID, CLIENT), 0.6)  # duplicate: nothing
    first = [parse_packet(d) for d, _ in client.datagrams_to_send()]
    assert [p.block for p in first if isinstance(p, Data)] == [1, 2, 3, 4]
    assert client.get_timer() == 1.5
    client.handle_timer(1.5)
    again = [parse_packet(d) for d, _ in client.datagrams_to_send()]
    assert [p.block for p in again if isinstance(p, Data)] == [3, 4]
    assert client.get_timer() == 3.5


def test_progress_resets_the_backoff() -> None:
    server = ServerRead(ReadRequest("f"), CLIENT, payload(1100), 0.0, policy=ALL_OPTIONS)
    server.handle_timer(1.0)
    server.handle_timer(3.0)
    assert server.get_timer() == 7.0
    server.receive_datagram(Datagram(encode_packet(Ack(1)), CLIENT, TID), 3.5)
    assert server.get_timer() == 4.5
    server.handle_timer(4.5)
    assert server.get_timer() == 6.5


def test_the_first_answer_resets_the_backoff_of_the_request() -> None:
    client = ClientRead("f", SERVER, 0.0, options={"blksize": "1024"})
    client.handle_timer(1.0)
    client.handle_timer(3.0)
    assert client.get_timer() == 7.0
    client.receive_datagram(
        Datagram(encode_packet(OptionAck({"blksize": "1024"})), TID, CLIENT), 4.0
    )
    assert client.get_timer() == 5.0  # ACK 0 waits the first timeout again
    client.handle_timer(5.0)
    assert client.get_timer() == 7.0


def test_a_negotiated_timeout_sets_the_first_wait() -> None:
    request = ReadRequest("f", "octet", {"timeout": "3"})
    server = ServerRead(request, CLIENT, b"abc", 0.0, policy=ALL_OPTIONS)
    assert server.datagrams_to_send() == [(encode_packet(OptionAck({"timeout": "3"})), CLIENT)]
    deadlines, _ = run_silent(server)
    assert deadlines == [3.0, 9.0, 17.0, 25.0, 33.0, 41.0]

    client = ClientRead("f", SERVER, 0.0, options={"timeout": "10"})
    client.receive_datagram(Datagram(encode_packet(OptionAck({"timeout": "10"})), TID, CLIENT), 0.0)
    assert client.get_timer() == 10.0
    client.handle_timer(10.0)
    assert client.get_timer() == 20.0  # max_timeout rises to the option: no backoff above it


def test_a_lost_ack_0_is_recovered_by_the_server_resending_its_oack() -> None:
    client = ClientRead("f", SERVER, 0.0, options={"blksize": "1024"})
    client.datagrams_to_send()
    oack = encode_packet(OptionAck({"blksize": "1024"}))
    client.receive_datagram(Datagram(oack, TID, CLIENT), 0.1)
    assert client.datagrams_to_send() == [(encode_packet(Ack(0)), TID)]
    client.receive_datagram(Datagram(oack, TID, CLIENT), 1.1)
    assert client.datagrams_to_send() == [(encode_packet(Ack(0)), TID)]
    client.receive_datagram(Datagram(encode_packet(Data(1, b"x")), TID, CLIENT), 1.2)
    client.receive_datagram(Datagram(oack, TID, CLIENT), 1.3)  # too late now: ignored
    assert client.datagrams_to_send() == [(encode_packet(Ack(1)), TID)]


# -------------------- random schedules ---------------------------------------------

FATES = ["deliver", "deliver", "drop", "dup", "delay"]


@settings(max_examples=300)
@given(
    direction=st.sampled_from(["read", "write"]),
    size=st.integers(0, 1500),
    blksize=st.sampled_from([8, 100, 512]),
    windowsize=st.sampled_from([1, 2, 5]),
    schedule=st.lists(st.sampled_from(FATES), min_size=1, max_size=40),
    horizon=st.integers(0, 400),
)
def test_random_faults_never_corrupt_or_hang(
    *, direction: str, size: int, blksize: int, windowsize: int, schedule: list[str], horizon: int
) -> None:
    """The schedule repeats over the first ``horizon`` datagrams; then all are delivered."""
    data = payload(size, seed=size)
    options = {"blksize": str(blksize), "windowsize": str(windowsize)}
    drops = 0

    def fate(index: int, sent: Sent) -> str:
        nonlocal drops
        chosen = schedule[index % len(schedule)] if index < horizon else "deliver"
        drops += chosen == "drop"
        return chosen

    net = make_net(direction, data, options, fate).run(max_steps=200_000)
    assert net.client.finished
    assert all(server.finished for server in net.servers.values())
    got = received(net, direction)
    assert got is None or got == data
    client_done = isinstance(outcome(net.client_events), TransferComplete)
    server_done = bool(net.servers) and isinstance(outcome(net.server_events), TransferComplete)
    sender_done, receiver_done = (
        (server_done, client_done) if direction == "read" else (client_done, server_done)
    )
    if sender_done:
        assert receiver_done
    assert receiver_done == (got == data)
    if drops <= 2:  # duplicates and delays lose nothing; two losses cost two retries
        assert client_done
        assert server_done

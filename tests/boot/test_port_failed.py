"""TFTP mode's transfer ports (sans-I/O, one device): one that could not be opened, and
floods of requests that would take them all.

The runtime tells the device with ``Device.port_failed`` when the network cannot bind a
port the device opened (the runtime side is in ``tests/runtime/test_transfer_port.py``).
A flood of read requests that are never acknowledged once opened a transfer each, until
the port range was used up and the port search never ended: now a device holds at most
``MAX_TRANSFERS`` and a client ``MAX_TRANSFERS_PER_CLIENT``, and the rest are refused.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from ipgwsim.boot.requests import Refusal
from ipgwsim.boot.transfers import (
    MAX_OPEN_TRANSFERS,
    MAX_TRANSFERS,
    MAX_TRANSFERS_PER_CLIENT,
    TID_RANGE,
    UNANSWERED_GRACE,
)
from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import ConsoleOutput, Event, Mode, PortClosed, PortOpened
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import Datagram
from ipgwsim.proto.node import drain_events
from ipgwsim.proto.tftp import (
    SEND_AGAIN,
    Ack,
    Data,
    Error,
    ErrorCode,
    OptionAck,
    ReadRequest,
    WriteRequest,
    encode_packet,
    parse_packet,
)

IP = "10.0.0.5"
CLIENT = "10.0.0.9"
BLOCKED = 50_000


class PlannedPorts(random.Random):
    """A device's randomness whose next TFTP transfer ports are chosen by the test."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(7)
        self.ports = ports

    def randint(self, a: int, b: int) -> int:
        if (a, b) == TID_RANGE and self.ports:
            return self.ports.pop(0)
        return super().randint(a, b)


def _device(ports: list[int]) -> Device:
    """An IP6000 without firmware (so in TFTP mode from power-on) that took ``IP``."""
    profile = find_profile("IP6000")
    device = Device(
        profile,
        factory_flash(profile, firmware=False),
        Instance.numbered("ip6000-1", 1),
        rng=PlannedPorts(ports),
    )
    device.power_on(0.0)
    assert device.mode is Mode.TFTP_MODE
    setip = gwload.SetIp(
        1,
        gwload.ANY_MAC,
        6000,
        ip=IPv4Address(IP),
        mask=IPv4Address("255.0.0.0"),
        gateway=IPv4Address("0.0.0.0"),
    )
    device.receive_datagram(
        Datagram(gwload.encode_message(setip), (CLIENT, 40000), ("255.255.255.255", 69)), 1.0
    )
    _drain(device)
    device.datagrams_to_send()
    assert device.ip == IP
    return device


def _drain(device: Device) -> list[Event]:
    events: list[Event] = drain_events(device)
    return events


def _request(
    device: Device,
    packet: ReadRequest | WriteRequest,
    now: float,
    client: tuple[str, int] = (CLIENT, 40001),
) -> list[Event]:
    data = encode_packet(packet)
    device.receive_datagram(Datagram(data, client, (IP, 69)), now)
    return _drain(device)


def test_a_read_whose_port_cannot_be_opened_ends_at_once_with_an_error() -> None:
    device = _device([BLOCKED])
    events = _request(device, ReadRequest("config"), 2.0)
    assert PortOpened((IP, BLOCKED)) in events
    # What the runtime does when binding fails; the DATA queued from there cannot leave.
    device.port_failed((IP, BLOCKED), "address in use", 2.0)
    after = _drain(device)
    assert PortClosed((IP, BLOCKED)) in after
    [line] = [e.line for e in after if isinstance(e, ConsoleOutput)]
    assert line.startswith(f"tftp: config with {CLIENT} ended: transfer port {BLOCKED} ")
    [error] = device.datagrams_to_send()
    # From the port the request came to (the transfer port does not exist), to the client.
    assert (error.src, error.dst) == ((IP, 69), (CLIENT, 40001))
    assert parse_packet(error.data) == Error(
        ErrorCode.NOT_DEFINED,
        f"transfer port {BLOCKED} cannot be opened (address in use); {SEND_AGAIN}",
    )
    assert device.get_timer() is None  # nothing left to retransmit
    assert device.boot.tftp is not None
    assert device.boot.tftp.transfers_running == 0

    # The retry gets another port, even when the device's draw is the failed one again.
    assert isinstance(device.boot.rng, PlannedPorts)
    device.boot.rng.ports.append(BLOCKED)
    events = _request(device, ReadRequest("config"), 3.0)
    [opened] = [e for e in events if isinstance(e, PortOpened)]
    assert opened.address[1] != BLOCKED
    [data] = device.datagrams_to_send()
    assert data.src == opened.address
    packet = parse_packet(data.data)
    assert isinstance(packet, Data)
    assert packet.block == 1


def test_an_upload_whose_port_cannot_be_opened_does_not_leave_the_device_busy() -> None:
    device = _device([BLOCKED])
    _request(device, WriteRequest("config"), 2.0)
    device.port_failed((IP, BLOCKED), "address in use", 2.0)
    _drain(device)
    [error] = device.datagrams_to_send()
    assert isinstance(parse_packet(error.data), Error)
    # Sent again: no "busy: another upload is running", the upload starts on a new port.
    events = _request(device, WriteRequest("config"), 2.5)
    [opened] = [e for e in events if isinstance(e, PortOpened)]
    [ack] = device.datagrams_to_send()
    assert ack.src == opened.address
    assert not isinstance(parse_packet(ack.data), Error)


def test_a_port_failure_of_no_transfer_changes_nothing() -> None:
    device = _device([])
    device.port_failed((IP, 69), "address in use", 2.0)  # the control port: SETIP's business
    device.port_failed((IP, 60_000), "address in use", 2.0)
    assert _drain(device) == []
    assert device.datagrams_to_send() == []
    assert device.ip == IP


def _errors(device: Device) -> list[Error]:
    return [
        packet
        for datagram in device.datagrams_to_send()
        if isinstance(packet := parse_packet(datagram.data), Error)
    ]


def test_a_read_flood_from_one_client_opens_two_transfers() -> None:
    device = _device([])
    assert device.boot.tftp is not None
    for n in range(500):  # never acknowledged, each from a port of its own
        _request(device, ReadRequest("config"), 2.0, (CLIENT, 20000 + n))
    assert device.boot.tftp.transfers_running == MAX_TRANSFERS_PER_CLIENT
    errors = _errors(device)
    assert len(errors) == 500 - MAX_TRANSFERS_PER_CLIENT
    assert errors[0] == Error(
        ErrorCode.NOT_DEFINED,
        f"busy: {CLIENT} has 2 transfers running, the most one client may have at once; "
        "finish one first",
    )


def test_a_read_flood_from_many_clients_opens_a_bounded_number() -> None:
    device = _device([])
    assert device.boot.tftp is not None
    for n in range(300):
        _request(device, ReadRequest("config"), 2.0, (f"10.1.{n // 250}.{n % 250 + 1}", 30000))
    assert device.boot.tftp.transfers_running == MAX_TRANSFERS
    errors = _errors(device)
    assert len(errors) == 300 - MAX_TRANSFERS
    assert errors[-1] == Error(
        ErrorCode.NOT_DEFINED,
        "busy: 8 transfers are running, the most this device serves at once; try again "
        "when one has ended",
    )
    # When the flood's transfers have timed out, a client is served again.
    while (deadline := device.get_timer()) is not None and deadline < 600.0:
        device.handle_timer(deadline)  # retransmissions, then giving up
        _drain(device)
        device.datagrams_to_send()
    assert device.boot.tftp.transfers_running == 0
    events = _request(device, ReadRequest("config"), 601.0)
    assert any(isinstance(e, PortOpened) for e in events)


def test_the_port_search_ends_when_no_port_is_free() -> None:
    device = _device([])
    tftp = device.boot.tftp
    assert tftp is not None
    low, high = TID_RANGE
    tftp.transfers._failed_ports = set(range(low, high + 1))  # as if every port had failed
    with pytest.raises(Refusal, match=r"^busy: no transfer port is free; try again later$"):
        tftp.transfers.pick_port(str(tftp.ip))
    tftp.transfers._failed_ports.discard(high)
    assert tftp.transfers.pick_port(str(tftp.ip)) == high


def _write_to_the_end(device: Device, client: tuple[str, int], now: float) -> None:
    """A whole upload of a one-block config; the device then dallies after its last ACK."""
    _request(device, WriteRequest("config"), now, client)
    [ack] = device.datagrams_to_send()
    assert parse_packet(ack.data) == Ack(0)
    text = b"config change CMD0 /name dally\r\n"
    device.receive_datagram(Datagram(encode_packet(Data(1, text)), client, ack.src), now)
    _drain(device)
    [last] = device.datagrams_to_send()
    assert parse_packet(last.data) == Ack(1)


def test_uploads_one_after_another_are_all_served_and_their_dallies_bounded() -> None:
    device = _device([])
    tftp = device.boot.tftp
    assert tftp is not None
    for n in range(MAX_OPEN_TRANSFERS + 10):  # faster than their dallies end
        _write_to_the_end(device, (CLIENT, 20000 + n), 2.0)
        assert tftp.transfers_running == min(n + 1, MAX_OPEN_TRANSFERS)


def _flood(device: Device, count: int, now: float) -> list[tuple[str, int]]:
    """``count`` read requests from clients of their own that never answer."""
    clients = [(f"10.2.0.{n + 1}", 30000) for n in range(count)]
    for client in clients:
        _request(device, ReadRequest("config"), now, client)
    device.datagrams_to_send()
    return clients


def test_a_flood_that_never_answers_makes_room_for_a_client_that_does() -> None:
    device = _device([])
    tftp = device.boot.tftp
    assert tftp is not None
    flood = _flood(device, MAX_TRANSFERS, 2.0)
    assert tftp.transfers_running == MAX_TRANSFERS
    # Within the grace the flood's transfers may still be answered: a new client waits.
    _request(device, ReadRequest("config"), 2.0 + UNANSWERED_GRACE / 2)
    assert _errors(device)[0].message.startswith("busy: 8 transfers are running")
    # Past it the oldest unanswered transfer ends, its client told from its port, and the
    # new client is served.
    events = _request(device, ReadRequest("config"), 2.0 + UNANSWERED_GRACE)
    out = device.datagrams_to_send()
    [ended] = [d for d in out if d.dst == flood[0]]
    assert parse_packet(ended.data) == Error(
        ErrorCode.NOT_DEFINED,
        f"busy: no answer for {UNANSWERED_GRACE:g} s, so this transfer made room for another "
        "request; send the request again",
    )
    assert ended.src[1] != 69  # the transfer's port: the client knows it as the transfer's
    assert any(isinstance(e, PortClosed) and e.address == ended.src for e in events)
    [served] = [parse_packet(d.data) for d in out if d.dst == (CLIENT, 40001)]
    assert isinstance(served, Data)
    assert served.block == 1
    assert tftp.transfers_running == MAX_TRANSFERS


def test_transfers_whose_clients_answer_are_never_ended_for_a_new_request() -> None:
    device = _device([])
    tftp = device.boot.tftp
    assert tftp is not None
    for n in range(MAX_TRANSFERS):  # uploads one after another would be refused: reads
        client = (f"10.3.0.{n + 1}", 30000)
        _request(device, ReadRequest("config", options={"blksize": "8"}), 2.0, client)
        [first] = [d for d in device.datagrams_to_send() if d.dst == client]
        assert parse_packet(first.data) == OptionAck({"blksize": "8"})
        # The client acknowledges the OACK and so answers; block 1 of 8 bytes follows.
        device.receive_datagram(Datagram(encode_packet(Ack(0)), client, first.src), 2.1)
        _drain(device)
        device.datagrams_to_send()
    _request(device, ReadRequest("config"), 30.0)
    assert _errors(device)[0].message.startswith("busy: 8 transfers are running")
    assert tftp.transfers_running == MAX_TRANSFERS


def test_an_upload_that_never_answers_makes_room_for_the_next_one() -> None:
    device = _device([])
    hostile = ("10.4.0.1", 30000)
    _request(device, WriteRequest("config"), 2.0, hostile)
    device.datagrams_to_send()  # its ACK 0, never answered
    _request(device, WriteRequest("config"), 2.5)
    assert _errors(device) == [Error(ErrorCode.NOT_DEFINED, "busy: another upload is running")]
    _request(device, WriteRequest("config"), 2.0 + UNANSWERED_GRACE)
    out = [(d.dst, parse_packet(d.data)) for d in device.datagrams_to_send()]
    assert (
        hostile,
        Error(
            ErrorCode.NOT_DEFINED,
            f"busy: no answer for {UNANSWERED_GRACE:g} s, so this transfer made room for another "
            "request; send the request again",
        ),
    ) in out
    assert ((CLIENT, 40001), Ack(0)) in out


def test_a_client_that_answered_before_is_served_at_once_under_a_flood() -> None:
    device = _device([])
    tftp = device.boot.tftp
    assert tftp is not None
    # CLIENT reads the config once to the end: an answering client.
    _request(device, ReadRequest("config"), 1.5)
    while data := [d for d in device.datagrams_to_send() if d.dst == (CLIENT, 40001)]:
        packet = parse_packet(data[-1].data)
        assert isinstance(packet, Data)
        ack = Datagram(encode_packet(Ack(packet.block)), (CLIENT, 40001), data[-1].src)
        device.receive_datagram(ack, 1.5)
        _drain(device)
    flood = _flood(device, MAX_TRANSFERS, 2.0)
    # A stranger waits for the grace; the known client does not.
    _request(device, ReadRequest("config"), 2.0, ("10.9.9.9", 30000))
    assert _errors(device)[0].message.startswith("busy: 8 transfers are running")
    _request(device, ReadRequest("config"), 2.0, (CLIENT, 40002))
    out = device.datagrams_to_send()
    [ended] = [d for d in out if d.dst == flood[0]]
    assert parse_packet(ended.data) == Error(
        ErrorCode.NOT_DEFINED,
        "busy: no answer for 0 s, so this transfer made room for another request; "
        "send the request again",
    )
    [served] = [parse_packet(d.data) for d in out if d.dst == (CLIENT, 40002)]
    assert isinstance(served, Data)

"""TFTP mode learns that a transfer port could not be opened (sans-I/O, one device).

The runtime tells the device with ``Device.port_failed`` when the network cannot bind a
port the device opened (the runtime side is in ``tests/runtime/test_transfer_port.py``).
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

from ipgwsim.boot.tftpmode import TID_RANGE
from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import ConsoleOutput, Event, Mode, PortClosed, PortOpened
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import Datagram
from ipgwsim.proto.tftp import (
    SEND_AGAIN,
    Data,
    Error,
    ErrorCode,
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
    events = []
    while (event := device.next_event()) is not None:
        events.append(event)
    return events


def _request(device: Device, packet: ReadRequest | WriteRequest, now: float) -> list[Event]:
    data = encode_packet(packet)
    device.receive_datagram(Datagram(data, (CLIENT, 40001), (IP, 69)), now)
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

"""TFTP mode on its own, driven through the node protocol every core spells the same:
``accepts(dst)``, ``receive_datagram(datagram, now)``, ``datagrams_to_send()``,
``next_event()``, ``get_timer()``, ``handle_timer(now)``."""

from __future__ import annotations

import random
from ipaddress import IPv4Address

from ipgwsim.boot import RunningBoot, TftpMode
from ipgwsim.device import factory_flash
from ipgwsim.events import PortClosed, PortOpened
from ipgwsim.flash.image import SlotStatus
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, UNSPECIFIED, Datagram
from ipgwsim.proto.node import drain_events
from ipgwsim.proto.tftp import ReadRequest, encode_packet

MAC = bytes.fromhex("009033010203")
PORT = 10_000
CLIENT = ("10.0.0.9", 40_000)


def _mode() -> TftpMode:
    profile = find_profile("IP6000")
    mode = TftpMode(
        profile,
        mac=MAC,
        port=PORT,
        rng=random.Random(3),
        boot=RunningBoot(build=1000),
        partitions=PartitionTable(factory_flash(profile, firmware=False), profile),
        firmware=SlotStatus(None, "empty"),
        state=gwload.DeviceState.TFTP_MODE,
    )
    mode.start()
    return mode


def _events(mode: TftpMode) -> list[object]:
    return list(drain_events(mode))


def test_a_discover_is_answered_through_the_node_protocol() -> None:
    mode = _mode()
    assert _events(mode) == [PortOpened((LIMITED_BROADCAST, PORT))]
    assert mode.accepts((LIMITED_BROADCAST, PORT))
    assert not mode.accepts(("10.0.0.5", PORT))  # no address yet
    discover = gwload.encode_message(gwload.Discover(7, gwload.ANY_MAC, gwload.ANY_GWTYPE))
    mode.receive_datagram(Datagram(discover, CLIENT, (LIMITED_BROADCAST, PORT)), 0.0)
    (hello,) = mode.datagrams_to_send()
    assert hello.src == (UNSPECIFIED, PORT)
    assert hello.dst == (LIMITED_BROADCAST, CLIENT[1])
    message = gwload.parse_message(hello.data)
    assert isinstance(message, gwload.Hello)
    assert message.xid == 7
    assert mode.datagrams_to_send() == []  # handed out once
    assert mode.get_timer() is None


def test_a_transfer_opens_a_port_arms_a_timer_and_ends_with_stop() -> None:
    mode = _mode()
    setip = gwload.SetIp(
        1,
        MAC,
        gwload.ANY_GWTYPE,
        ip=IPv4Address("10.0.0.5"),
        mask=IPv4Address("255.0.0.0"),
        gateway=IPv4Address("0.0.0.0"),
    )
    mode.receive_datagram(
        Datagram(gwload.encode_message(setip), CLIENT, (LIMITED_BROADCAST, PORT)), 0.0
    )
    mode.datagrams_to_send()
    _events(mode)
    rrq = encode_packet(ReadRequest(mode.files.config_name, "octet", {}))
    mode.receive_datagram(Datagram(rrq, CLIENT, ("10.0.0.5", PORT)), 1.0)
    (data,) = mode.datagrams_to_send()
    assert data.dst == CLIENT
    assert data.src[1] != PORT
    assert mode.accepts(data.src)
    assert PortOpened(data.src) in _events(mode)
    deadline = mode.get_timer()
    assert deadline is not None
    assert deadline > 1.0
    mode.handle_timer(deadline)
    (again,) = mode.datagrams_to_send()
    assert again.data == data.data  # the unanswered block is sent again
    mode.stop()
    assert PortClosed(data.src) in _events(mode)
    assert not mode.accepts(data.src)

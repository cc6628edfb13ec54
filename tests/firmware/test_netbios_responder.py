"""The firmware's NetBIOS name service: a real Firmware with a fixed ETH0 address answers."""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest
from scapy.layers.netbios import NBNSHeader, NBNSNodeStatusRequest, NBNSQueryRequest

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import ConsoleOutput, Event, PortClosed, PortOpened
from ipgwsim.firmware import Firmware
from ipgwsim.firmware.config import defaults
from ipgwsim.firmware.netbios import ANSWER_TTL, NetbiosResponder, netbios_names
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.proto.net import Address, Datagram, NetworkCapabilities
from ipgwsim.proto.netbios import (
    WILDCARD,
    NameQueryRequest,
    NameQueryResponse,
    NbAddress,
    NetbiosName,
    NmFlags,
    NodeName,
    NodeStatusRequest,
    NodeStatusResponse,
    NodeType,
    encode_packet,
    parse_packet,
)
from ipgwsim.proto.node import drain_events
from ipgwsim.testing.lab import DeviceNode
from ipgwsim.testing.vnet import Endpoint, VirtualNetwork

IP6000 = find_profile("IP6000")
IP800 = find_profile("IP800")
SERIAL = "009033100001"
FIXED = "config change ETH0 /addr 10.0.0.5 /mask 255.255.255.0\r\n"
IP = "10.0.0.5"
BROADCAST: Address = ("255.255.255.255", 137)
CLIENT: Address = ("10.0.0.9", 40123)
NAMES = ("009033100001", "IP6000-10-00-01")


def _start(
    profile: Profile = IP6000, serial: str = SERIAL, config: str = FIXED
) -> tuple[Firmware, list[Event]]:
    flash = factory_flash(profile)
    ConfigRing(PartitionTable(flash, profile)["config"]).write(defaults(profile).render() + config)
    firmware = Firmware(
        profile,
        profile.firmware.build,
        partitions=PartitionTable(flash, profile),
        rng=random.Random(1),
        serial=serial,
        network=NetworkCapabilities(netbios=True),
    )
    return firmware, _events(firmware)


def _events(firmware: Firmware) -> list[Event]:
    return drain_events(firmware)


def _ports(events: list[Event]) -> list[Event]:
    return [e for e in events if isinstance(e, PortOpened | PortClosed)]


def _responder(firmware: Firmware) -> NetbiosResponder:
    [responder] = [s for s in firmware.services if isinstance(s, NetbiosResponder)]
    return responder


def _ask(
    firmware: Firmware, data: bytes, dst: Address = BROADCAST, src: Address = CLIENT
) -> list[Datagram]:
    firmware.receive_datagram(Datagram(data, src, dst), 1.0)
    return firmware.datagrams_to_send()


def _query(name: str, suffix: int = 0x00, tid: int = 0x1234, **kw: NmFlags) -> bytes:
    return encode_packet(NameQueryRequest(tid, NetbiosName(name, suffix), **kw))


def test_ports_open_for_the_fixed_address() -> None:
    firmware, events = _start()
    assert firmware.address == (IP, "255.255.255.0")
    assert _ports(events) == [PortOpened(BROADCAST), PortOpened((IP, 137))]
    assert ConsoleOutput(f"NetBIOS: answering for {', '.join(NAMES)} at {IP}") in events
    assert firmware.accepts(BROADCAST)
    assert firmware.accepts((IP, 137))
    assert firmware.accepts(("10.0.0.255", 137))  # the subnet's broadcast (nmblookup -B)
    assert not firmware.accepts(("10.0.0.6", 137))
    assert not firmware.accepts((IP, 138))


def test_names() -> None:
    assert netbios_names("IP6000", SERIAL) == NAMES
    assert netbios_names("IP800", "0090330614b3") == ("0090330614B3", "IP800-06-14-B3")
    assert netbios_names("IP6000-LONGNAME", SERIAL) == ("009033100001",)


@pytest.mark.parametrize("dst", [BROADCAST, (IP, 137), ("10.0.0.255", 137)])
@pytest.mark.parametrize("suffix", [0x00, 0x20])
@pytest.mark.parametrize("name", NAMES)
def test_a_query_for_its_name_is_answered(name: str, suffix: int, dst: Address) -> None:
    firmware, _ = _start()
    [answer] = _ask(firmware, _query(name, suffix), dst)
    assert answer.src == (IP, 137)
    assert answer.dst == CLIENT
    assert parse_packet(answer.data) == NameQueryResponse(
        0x1234,
        NetbiosName(name, suffix),
        (NbAddress(IPv4Address(IP), group=False, node_type=NodeType.B),),
        ttl=ANSWER_TTL,
        flags=NmFlags.AUTHORITATIVE | NmFlags.RECURSION_DESIRED,
    )


@pytest.mark.parametrize("flags", [NmFlags(0), NmFlags.RECURSION_DESIRED])
def test_unicast_queries_as_nmblookup_U_sends_them(flags: NmFlags) -> None:
    """``nmblookup -U 10.0.0.5 [-R] 009033100001``: no B flag, RD only with -R."""
    firmware, _ = _start()
    [answer] = _ask(firmware, _query("009033100001", flags=flags), (IP, 137))
    response = parse_packet(answer.data)
    assert isinstance(response, NameQueryResponse)
    assert response.addresses == (NbAddress(IPv4Address(IP)),)


def test_names_are_case_insensitive() -> None:
    firmware, _ = _start()
    [answer] = _ask(firmware, _query("ip6000-10-00-01"))
    response = parse_packet(answer.data)
    assert isinstance(response, NameQueryResponse)
    assert response.name == NetbiosName("ip6000-10-00-01", 0)  # echoed as asked
    assert response.addresses[0].ip == IPv4Address(IP)


@pytest.mark.parametrize("suffix", [0x00, 0x20])
@pytest.mark.parametrize("name", [b"009033100001", b"IP6000-10-00-01"])
def test_scapy_queries_are_answered(name: bytes, suffix: int) -> None:
    firmware, _ = _start()
    letters = ((0x41 + (suffix >> 4)) << 8) | (0x41 + (suffix & 0xF))
    query = NBNSHeader(NAME_TRN_ID=0x0BAD) / NBNSQueryRequest(QUESTION_NAME=name, SUFFIX=letters)
    [answer] = _ask(firmware, bytes(query), src=("10.0.0.77", 137))
    assert answer.dst == ("10.0.0.77", 137)
    dissected = NBNSHeader(answer.data)
    assert (dissected.NAME_TRN_ID, dissected.RESPONSE) == (0x0BAD, 1)
    asked = (dissected.RR_NAME, dissected.SUFFIX)
    assert asked == (name, letters)
    assert dissected.TTL == ANSWER_TTL
    assert [e.NB_ADDRESS for e in dissected.ADDR_ENTRY] == [IP]


@pytest.mark.parametrize(
    "name",
    [
        NetbiosName("009033100002"),  # another device
        NetbiosName("IP6000-10-00-02"),
        NetbiosName("IP800-10-00-01"),  # another model's form
        NetbiosName("009033100001", 0x03),  # a suffix it does not answer
        NetbiosName("009033100001", 0x1D),
        NetbiosName("IP6000-10-00-01", 0x1B),
        NetbiosName("009033100001", 0x00, "SCOPE"),  # another scope
        NetbiosName("*"),  # a wildcard name query
    ],
    ids=str,
)
def test_other_names_get_no_answer(name: NetbiosName) -> None:
    firmware, _ = _start()
    assert _ask(firmware, encode_packet(NameQueryRequest(1, name))) == []


def test_garbage_responses_and_registrations_are_ignored() -> None:
    firmware, _ = _start()
    name = NetbiosName("009033100001")
    response = NameQueryResponse(1, name, (NbAddress(IPv4Address("10.0.0.9")),), ttl=1)
    status = NodeStatusResponse(1, WILDCARD, (NodeName("X", 0),), bytes(6))
    registration = bytearray(_query("009033100001"))
    registration[2] = 0x28  # opcode 5
    for data in (
        b"",
        b"\x00" * 11,
        b"garbage that is no packet at all",
        encode_packet(response),
        encode_packet(status),
        bytes(registration),
        _query("009033100001")[:-3],
    ):
        assert _ask(firmware, data) == []
    # Nobody to answer to:
    assert _ask(firmware, _query("009033100001"), src=("0.0.0.0", 68)) == []
    assert _ask(firmware, _query("009033100001"), src=("10.0.0.9", 0)) == []
    # It still answers afterwards.
    assert len(_ask(firmware, _query("009033100001"))) == 1


@pytest.mark.parametrize(
    "asked",
    [
        WILDCARD,
        NetbiosName("*", 0x20),
        NetbiosName("009033100001", 0x20),
        NetbiosName("IP6000-10-00-01"),
    ],
    ids=str,
)
def test_node_status(asked: NetbiosName) -> None:
    firmware, _ = _start()
    [answer] = _ask(firmware, encode_packet(NodeStatusRequest(0x77, asked)), (IP, 137))
    assert (answer.src, answer.dst) == ((IP, 137), CLIENT)
    assert parse_packet(answer.data) == NodeStatusResponse(
        0x77,
        asked,
        (
            NodeName("009033100001", 0x00),
            NodeName("009033100001", 0x20),
            NodeName("IP6000-10-00-01", 0x00),
            NodeName("IP6000-10-00-01", 0x20),
        ),
        bytes.fromhex(SERIAL),
    )


def test_node_status_as_nmblookup_A_sends_it() -> None:
    """``nmblookup -A 10.0.0.5``: ``*<00>`` padded with NULs, type NBSTAT, no flags, unicast."""
    firmware, _ = _start()
    request = NBNSHeader(NAME_TRN_ID=0x1111, NM_FLAGS=0) / NBNSNodeStatusRequest(
        QUESTION_NAME=b"*" + b"\x00" * 14, SUFFIX=0x4141, QUESTION_TYPE=0x21
    )
    [answer] = _ask(firmware, bytes(request), (IP, 137))
    dissected = NBNSHeader(answer.data)
    assert (dissected.NAME_TRN_ID, dissected.RESPONSE, int(dissected.NM_FLAGS)) == (0x1111, 1, 0x40)
    assert dissected.RR_TYPE == 0x21
    assert [(n.NETBIOS_NAME, n.SUFFIX, n.NAME_FLAGS) for n in dissected.NODE_NAME] == [
        (b"009033100001   ", 0x00, 0x04),
        (b"009033100001   ", 0x20, 0x04),
        (b"IP6000-10-00-01", 0x00, 0x04),
        (b"IP6000-10-00-01", 0x20, 0x04),
    ]
    assert dissected.MAC_ADDRESS == "00:90:33:10:00:01"


def test_node_status_for_another_name_gets_no_answer() -> None:
    firmware, _ = _start()
    request = NodeStatusRequest(1, NetbiosName("009033100002"))
    assert _ask(firmware, encode_packet(request), (IP, 137)) == []


def test_the_old_name_form_on_an_ip800() -> None:
    firmware, _ = _start(IP800, "0090330614b3")
    [answer] = _ask(firmware, _query("IP800-06-14-B3", 0x20))
    response = parse_packet(answer.data)
    assert isinstance(response, NameQueryResponse)
    assert response.addresses == (NbAddress(IPv4Address(IP)),)
    [answer] = _ask(firmware, _query("0090330614B3"))
    assert isinstance(parse_packet(answer.data), NameQueryResponse)
    assert _ask(firmware, _query("IP6000-06-14-B3")) == []
    [status] = _ask(firmware, encode_packet(NodeStatusRequest(2)))
    response = parse_packet(status.data)
    assert isinstance(response, NodeStatusResponse)
    assert {n.name for n in response.names} == {"0090330614B3", "IP800-06-14-B3"}
    assert response.mac == bytes.fromhex("0090330614b3")


def test_without_an_address_it_is_silent_and_opens_no_port() -> None:
    firmware, events = _start(config="config change ETH0 /dhcp client\r\n")
    assert firmware.address is None
    assert _ports(events) == []
    assert not firmware.accepts(BROADCAST)
    responder = _responder(firmware)
    assert not responder.accepts(BROADCAST)
    # Even handed a query directly, it does not answer.
    responder.receive_datagram(Datagram(_query("009033100001"), CLIENT, BROADCAST), 1.0)
    assert responder.datagrams_to_send() == []
    assert _events(firmware) == []


def test_the_address_goes_and_comes_back() -> None:
    firmware, _ = _start()
    firmware.drop_address("lease ended")
    assert _ports(_events(firmware)) == [PortClosed((IP, 137))]
    assert not firmware.accepts(BROADCAST)
    responder = _responder(firmware)
    responder.receive_datagram(Datagram(_query("009033100001"), CLIENT, BROADCAST), 2.0)
    assert responder.datagrams_to_send() == []

    firmware.set_address("10.0.0.6", "255.255.255.0", how="test")
    # The broadcast port is still open: only the unicast one is opened again.
    assert _ports(_events(firmware)) == [PortOpened(("10.0.0.6", 137))]
    [answer] = _ask(firmware, _query("009033100001"))
    assert answer.src == ("10.0.0.6", 137)
    response = parse_packet(answer.data)
    assert isinstance(response, NameQueryResponse)
    assert response.addresses == (NbAddress(IPv4Address("10.0.0.6")),)


def test_a_new_address_moves_the_unicast_port() -> None:
    firmware, _ = _start()
    firmware.set_address("10.0.1.5", "255.255.255.0", how="test")
    assert _ports(_events(firmware)) == [PortClosed((IP, 137)), PortOpened(("10.0.1.5", 137))]
    assert not firmware.accepts((IP, 137))
    assert firmware.accepts(("10.0.1.255", 137))
    firmware.set_address("10.0.1.5", "255.255.255.0", how="the same again")
    assert _ports(_events(firmware)) == []


def test_without_netbios_nothing_listens() -> None:
    flash = factory_flash(IP6000)
    ConfigRing(PartitionTable(flash, IP6000)["config"]).write(defaults(IP6000).render() + FIXED)
    firmware = Firmware(
        IP6000, IP6000.firmware.build, partitions=PartitionTable(flash, IP6000), serial=SERIAL
    )
    assert _ports(_events(firmware)) == []
    assert not firmware.accepts(BROADCAST)


def test_a_device_answers_over_the_virtual_network() -> None:
    """End to end: a broadcast query from a PC on the segment, the answer back to its port."""
    flash = factory_flash(IP800)
    ConfigRing(PartitionTable(flash, IP800)["config"]).write(defaults(IP800).render() + FIXED)
    net = VirtualNetwork(rng=random.Random(1))
    device = Device(
        IP800,
        flash,
        Instance("ip800-1", "0090330614b3"),
        rng=random.Random(2),
        network=NetworkCapabilities(netbios=True),
    )
    node = DeviceNode(device, net)
    net.attach(node)
    pc = Endpoint("0.0.0.0", 40000, source_ip="10.0.0.9")
    net.attach(pc)
    device.power_on(net.now)
    assert net.run_until(lambda: device.firmware is not None and device.accepts(BROADCAST), 120)
    pc.sendto(_query("IP800-06-14-B3", tid=42), BROADCAST)
    assert net.run_until(lambda: bool(pc.received), 1.0)
    [answer] = pc.received
    assert (answer.src, answer.dst) == ((IP, 137), ("10.0.0.9", 40000))
    response = parse_packet(answer.data)
    assert isinstance(response, NameQueryResponse)
    assert response.transaction_id == 42
    assert response.addresses == (NbAddress(IPv4Address(IP)),)

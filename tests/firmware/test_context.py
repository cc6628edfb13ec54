"""The firmware's services see it through a narrow context, not the whole Firmware.

A service runs on a small fake context (so it needs nothing else of the firmware), the
firmware is each context (mypy checks the assignments below), and no service module names
the Firmware or its private members.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ipgwsim.firmware.config import Config, defaults
from ipgwsim.firmware.context import (
    AdminContext,
    DeviceInfo,
    DhcpContext,
    ServiceContext,
    UpdateContext,
)
from ipgwsim.firmware.dhcp import CLIENT_BROADCAST, DhcpClient
from ipgwsim.firmware.netbios import NetbiosResponder
from ipgwsim.firmware.running import Firmware
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.proto.dhcp import MessageType, parse_message
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.netbios import (
    NameQueryRequest,
    NameQueryResponse,
    NetbiosName,
    encode_packet,
    parse_packet,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("admin.py", "conf.py", "dhcp.py", "netbios.py", "update.py")


@dataclass
class FakeContext:
    """Just what a network service may use; records what it did."""

    profile: Profile
    serial: str = "00904f102a3b"
    build: str = "08-6000.08"
    boot_build: int | None = 8
    hardware_id: str = "IP6000-10-2a-3b"
    active: Config = field(init=False)
    address: tuple[str, str] | None = None
    now: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    ports: set[Address] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.active = defaults(self.profile)

    def open_port(self, address: Address) -> None:
        self.ports.add(address)

    def close_port(self, address: Address) -> None:
        self.ports.discard(address)

    def log_event(self, text: str) -> None:
        self.lines.append(f"log: {text}")

    def say(self, line: str) -> None:
        self.lines.append(line)

    def set_address(self, ip: str, mask: str, *, gateway: str = "0.0.0.0", how: str) -> None:
        self.address = (ip, mask)

    def drop_address(self, why: str) -> None:
        self.address = None


def test_netbios_runs_on_a_fake_context() -> None:
    context = FakeContext(find_profile("IP6000"), address=("10.0.0.5", "255.255.255.0"))
    responder = NetbiosResponder(context)
    assert context.ports == {("255.255.255.255", 137), ("10.0.0.5", 137)}
    assert context.lines == ["NetBIOS: answering for 00904F102A3B, IP6000-10-2A-3B at 10.0.0.5"]
    query = NameQueryRequest(7, NetbiosName("00904F102A3B", 0x00))
    responder.receive_datagram(
        Datagram(encode_packet(query), ("10.0.0.9", 137), ("10.0.0.255", 137)), 1.0
    )
    (answer,) = responder.datagrams_to_send()
    response = parse_packet(answer.data)
    assert isinstance(response, NameQueryResponse)
    assert str(response.addresses[0].ip) == "10.0.0.5"


def test_dhcp_runs_on_a_fake_context() -> None:
    context = FakeContext(find_profile("IP6000"))
    client = DhcpClient(context, 0.0)
    assert context.ports == {CLIENT_BROADCAST}
    (discover,) = client.datagrams_to_send()
    message = parse_message(discover.data)
    assert message.kind is MessageType.DISCOVER
    assert message.chaddr == bytes.fromhex(context.serial)
    assert context.lines == ["log: DHCP: discover"]


def test_the_firmware_is_every_context() -> None:
    firmware = Firmware(find_profile("IP6000"), "08-6000.08")
    contexts: tuple[DeviceInfo, ServiceContext, DhcpContext, UpdateContext, AdminContext] = (
        firmware,
        firmware,
        firmware,
        firmware,
        firmware,
    )
    assert all(c is firmware for c in contexts)


def test_no_service_names_the_firmware_or_its_private_members() -> None:
    for name in SERVICES:
        text = (ROOT / "firmware" / name).read_text(encoding="utf-8")
        assert "firmware.running import" not in text, f"firmware/{name} imports the Firmware"
        private = re.findall(r"(?:firmware|context)\._[a-z]\w*", text)
        assert not private, f"firmware/{name} uses private members: {private}"

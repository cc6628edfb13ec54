"""The byte examples of the gwload contract (docs/gwload-protocol.md, section 3) are what
the project's codec (``ipgwsim.proto.gwload``, construct) and its Wireshark/scapy layers
(``ipgwsim.runtime.capture``) make and read: the two declarations and the text a stranger
implements from are held together byte for byte."""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from ipgwsim.proto.gwload import (
    ANY_MAC,
    Ack,
    Discover,
    Hello,
    Message,
    Nak,
    NakCode,
    Opcode,
    SetIp,
    encode_message,
    parse_message,
)
from ipgwsim.runtime.capture import GWLOAD, GWLOAD_ACK, GWLOAD_HELLO, GWLOAD_NAK, GWLOAD_SETIP

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "gwload-protocol.md"
XID, MAC, MAC_TEXT = 0x01020304, bytes.fromhex("009033100001"), "00:90:33:10:00:01"
HEADER: dict[str, Any] = {"xid": XID, "mac": MAC_TEXT, "gwtype": 6000}

#: Each example of the contract: its message, and the same built from the scapy layers.
EXAMPLES: dict[str, tuple[Message, Any]] = {
    "DISCOVER": (
        Discover(xid=XID, mac=ANY_MAC, gwtype=6000),
        GWLOAD(opcode="DISCOVER", xid=XID, mac="00:00:00:00:00:00", gwtype=6000),
    ),
    "HELLO": (
        Hello(
            xid=XID,
            mac=MAC,
            gwtype=6000,
            ip=IPv4Address("192.168.0.1"),
            mask=IPv4Address("255.255.255.0"),
            state=1,
            boot_build=145,
            model="IP6000",
            firmware_build="08-6000.08",
            config_name="config",
        ),
        GWLOAD(**HEADER)
        / GWLOAD_HELLO(
            ip="192.168.0.1",
            mask="255.255.255.0",
            state=1,
            boot_build=145,
            model=b"IP6000",
            firmware_build=b"08-6000.08",
            config_name=b"config",
        ),
    ),
    "SETIP": (
        SetIp(
            xid=XID,
            mac=MAC,
            gwtype=6000,
            ip=IPv4Address("10.0.0.5"),
            mask=IPv4Address("255.0.0.0"),
            gateway=IPv4Address("0.0.0.0"),
        ),
        GWLOAD(**HEADER) / GWLOAD_SETIP(ip="10.0.0.5", mask="255.0.0.0", gateway="0.0.0.0"),
    ),
    "ACK": (
        Ack(xid=XID, mac=MAC, gwtype=6000, acked=Opcode.RESET),
        GWLOAD(**HEADER) / GWLOAD_ACK(acked="RESET"),
    ),
    "NAK": (
        Nak(xid=XID, mac=MAC, gwtype=6000, code=NakCode.BUSY, text="busy"),
        GWLOAD(**HEADER) / GWLOAD_NAK(code="BUSY", text=b"busy"),
    ),
}


def contract_examples() -> dict[str, bytes]:
    """The hex examples of the contract, by the message name their caption starts with."""
    text = CONTRACT.read_text()
    block = text[text.index("Examples, byte for byte") :]
    block = block[block.index("```") + 3 :]
    block = block[: block.index("```")]
    examples: dict[str, bytes] = {}
    for paragraph in block.strip().split("\n\n"):
        lines = paragraph.splitlines()
        caption = next(i for i, line in enumerate(lines) if line.rstrip().endswith(":"))
        name = lines[0].split(",")[0].split()[0]
        hexes = " ".join(lines[caption + 1 :])
        assert re.fullmatch(r"[0-9a-f ]+", hexes), hexes
        examples[name] = bytes.fromhex(hexes)
    return examples


def test_the_contract_has_an_example_for_each_of_these() -> None:
    assert set(contract_examples()) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_codec_makes_and_reads_the_contracts_bytes(name: str) -> None:
    golden = contract_examples()[name]
    msg, _ = EXAMPLES[name]
    assert encode_message(msg) == golden
    assert parse_message(golden) == msg


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_scapy_layers_make_and_read_the_contracts_bytes(name: str) -> None:
    golden = contract_examples()[name]
    _, layers = EXAMPLES[name]
    assert bytes(layers) == golden
    dissected = GWLOAD(golden)
    assert bytes(dissected) == golden
    assert dissected.xid == XID
    assert dissected.gwtype == 6000

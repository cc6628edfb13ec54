"""Hypothesis strategies for the wire formats, for ipgwsim's tests and users' own.

Every strategy yields values that :func:`ipgwsim.proto.gwload.encode_message` accepts, so
``parse_message(encode_message(m)) == m`` holds for each of them. Enumerated fields
(``state``, ``acked``, ``code``) are mostly enum members and sometimes other integers of
the same width, as a newer peer might send.
"""

from __future__ import annotations

import enum
import ipaddress

from hypothesis import strategies as st

from ipgwsim.proto.gwload import (
    ANY_GWTYPE,
    ANY_MAC,
    Ack,
    DeviceState,
    Discover,
    Go,
    Hello,
    Message,
    Nak,
    NakCode,
    Opcode,
    Reset,
    SetIp,
)

__all__ = [
    "acks",
    "ascii_strings",
    "discovers",
    "gos",
    "gwload_messages",
    "gwtypes",
    "hellos",
    "ipv4_addresses",
    "macs",
    "naks",
    "resets",
    "set_ips",
    "xids",
]


def macs() -> st.SearchStrategy[bytes]:
    """MAC addresses, :data:`~ipgwsim.proto.gwload.ANY_MAC` among them."""
    return st.one_of(st.just(ANY_MAC), st.binary(min_size=6, max_size=6))


def ipv4_addresses() -> st.SearchStrategy[ipaddress.IPv4Address]:
    """Any IPv4 address, 0.0.0.0 and 255.255.255.255 included."""
    return st.one_of(
        st.sampled_from(
            [ipaddress.IPv4Address("0.0.0.0"), ipaddress.IPv4Address("255.255.255.255")]
        ),
        st.ip_addresses(v=4),
    )


def xids() -> st.SearchStrategy[int]:
    """Transaction ids: 32-bit unsigned integers."""
    return st.integers(min_value=0, max_value=2**32 - 1)


def gwtypes() -> st.SearchStrategy[int]:
    """Gateway types: 0 (any), the usual model numbers and any other 16-bit value."""
    return st.one_of(
        st.sampled_from([ANY_GWTYPE, 800, 1200, 3000, 6000]),
        st.integers(min_value=0, max_value=0xFFFF),
    )


def ascii_strings(max_size: int = 255) -> st.SearchStrategy[str]:
    """Strings of ASCII characters (control characters included), at most ``max_size``."""
    return st.text(st.characters(max_codepoint=0x7F), max_size=max_size)


def _flags() -> st.SearchStrategy[int]:
    return st.one_of(st.just(0), st.integers(min_value=0, max_value=0xFF))


def _enum_or_int(enum_: type[enum.IntEnum], bits: int) -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from(list(enum_)), st.integers(min_value=0, max_value=(1 << bits) - 1)
    )


def _u16() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=0xFFFF)


def discovers() -> st.SearchStrategy[Discover]:
    return st.builds(Discover, xid=xids(), mac=macs(), gwtype=gwtypes(), flags=_flags())


def hellos() -> st.SearchStrategy[Hello]:
    return st.builds(
        Hello,
        xid=xids(),
        mac=macs(),
        gwtype=gwtypes(),
        flags=_flags(),
        ip=ipv4_addresses(),
        mask=ipv4_addresses(),
        state=_enum_or_int(DeviceState, 8),
        boot_build=_u16(),
        model=st.one_of(st.sampled_from(["IP800", "IP6000", "IP0011"]), ascii_strings()),
        firmware_build=st.one_of(st.sampled_from(["", "10.00 sr12"]), ascii_strings()),
        config_name=st.one_of(st.sampled_from(["config", "c"]), ascii_strings()),
    )


def set_ips() -> st.SearchStrategy[SetIp]:
    return st.builds(
        SetIp,
        xid=xids(),
        mac=macs(),
        gwtype=gwtypes(),
        flags=_flags(),
        ip=ipv4_addresses(),
        mask=ipv4_addresses(),
        gateway=ipv4_addresses(),
    )


def gos() -> st.SearchStrategy[Go]:
    return st.builds(Go, xid=xids(), mac=macs(), gwtype=gwtypes(), flags=_flags())


def resets() -> st.SearchStrategy[Reset]:
    return st.builds(Reset, xid=xids(), mac=macs(), gwtype=gwtypes(), flags=_flags())


def acks() -> st.SearchStrategy[Ack]:
    return st.builds(
        Ack,
        xid=xids(),
        mac=macs(),
        gwtype=gwtypes(),
        flags=_flags(),
        acked=_enum_or_int(Opcode, 16),
    )


def naks() -> st.SearchStrategy[Nak]:
    return st.builds(
        Nak,
        xid=xids(),
        mac=macs(),
        gwtype=gwtypes(),
        flags=_flags(),
        code=_enum_or_int(NakCode, 16),
        text=ascii_strings(),
    )


def gwload_messages() -> st.SearchStrategy[Message]:
    """Any gwload control message."""
    return st.one_of(discovers(), hellos(), set_ips(), gos(), resets(), acks(), naks())

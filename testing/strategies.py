"""Hypothesis strategies for ipgwsim's tests and users' own.

* gwload messages: every one is a value :func:`ipgwsim.proto.gwload.encode_message`
  accepts, so ``parse_message(encode_message(m)) == m`` holds for each. Enumerated
  fields (``state``, ``acked``, ``code``) are mostly enum members and sometimes other
  integers of the same width, as a newer peer might send.
* configs of the config language (``ipgwsim.firmware.config``), and netmasks.
* firmware and boot code images (:func:`images`) and uploads a device refuses, each
  with the refusal it meets (:func:`broken_images`).
* reset button holds and press sequences (:func:`holds`, :func:`presses`).
* DHCP messages (:func:`dhcp_messages`): every one is a value
  :func:`ipgwsim.proto.dhcp.encode_message` accepts.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from ipgwsim.boot.timing import MIN_CLEARING_S
from ipgwsim.firmware.config import MAX_POLL_MINUTES, SCHEMA, Config
from ipgwsim.hw_profiles import Profile, ResetButton
from ipgwsim.proto.dhcp import DhcpMessage, MessageType
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
from ipgwsim.runtime.extras import extra_imports
from ipgwsim.testing.image_strategies import (
    BrokenImage,
    broken_images,
    image_capacity,
    images,
    resolve_profiles,
)

with extra_imports(__name__):
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument

__all__ = [
    "acks",
    "ascii_strings",
    "dhcp_messages",
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

_M = TypeVar("_M", bound=Message)


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


def _messages(kind: type[_M], **body: st.SearchStrategy[Any]) -> st.SearchStrategy[_M]:
    """Messages of ``kind``: the header every gwload message shares, then ``body``."""
    return st.builds(kind, xid=xids(), mac=macs(), gwtype=gwtypes(), flags=_flags(), **body)


def discovers() -> st.SearchStrategy[Discover]:
    return _messages(Discover)


def hellos() -> st.SearchStrategy[Hello]:
    return _messages(
        Hello,
        ip=ipv4_addresses(),
        mask=ipv4_addresses(),
        state=_enum_or_int(DeviceState, 8),
        boot_build=_u16(),
        model=st.one_of(st.sampled_from(["IP800", "IP6000", "IP0011"]), ascii_strings()),
        firmware_build=st.one_of(st.sampled_from(["", "10.00 sr12"]), ascii_strings()),
        config_name=st.one_of(st.sampled_from(["config", "c"]), ascii_strings()),
    )


def set_ips() -> st.SearchStrategy[SetIp]:
    return _messages(SetIp, ip=ipv4_addresses(), mask=ipv4_addresses(), gateway=ipv4_addresses())


def gos() -> st.SearchStrategy[Go]:
    return _messages(Go)


def resets() -> st.SearchStrategy[Reset]:
    return _messages(Reset)


def acks() -> st.SearchStrategy[Ack]:
    return _messages(Ack, acked=_enum_or_int(Opcode, 16))


def naks() -> st.SearchStrategy[Nak]:
    return _messages(Nak, code=_enum_or_int(NakCode, 16), text=ascii_strings())


def gwload_messages() -> st.SearchStrategy[Message]:
    """Any gwload control message."""
    return st.one_of(discovers(), hellos(), set_ips(), gos(), resets(), acks(), naks())


# -- the config language (ipgwsim.firmware.config) ----------------------------------------


__all__ += ["config_tokens", "configs", "netmasks"]


def config_tokens() -> st.SearchStrategy[str]:
    """Values a config line carries as one token: printable ASCII, no blank, no leading '/'."""
    return st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1).filter(
        lambda s: not s.startswith("/")
    )


def netmasks() -> st.SearchStrategy[str]:
    """Netmasks in dotted form, /0 to /32."""
    return st.integers(min_value=0, max_value=32).map(
        lambda n: str(ipaddress.IPv4Address((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF))
    )


def _known_value(module: str, param: str) -> st.SearchStrategy[str | None]:
    if SCHEMA[module][param].flag:
        return st.none()
    minutes = st.integers(min_value=0, max_value=MAX_POLL_MINUTES).map(str)
    host = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", fullmatch=True)
    path = st.from_regex(r"(/[A-Za-z0-9._~#%-]{0,10}){0,3}/?", fullmatch=True)
    urls = st.builds(
        lambda s, h, p: f"{s}://{h}{p}", st.sampled_from(["http", "https"]), host, path
    )
    special: dict[str, st.SearchStrategy[str]] = {
        "url": urls,
        "addr": st.ip_addresses(v=4).map(str),
        "mask": netmasks(),
        "dhcp": st.sampled_from(["off", "client", "server", "auto"]),
        "poll": minutes,
        "poll-fast": minutes,
        "mode": st.sampled_from(["legacy", "pbx"]),
    }
    if module == "CMD0" and param == "user":
        user = config_tokens().filter(lambda s: "," not in s)
        return st.builds(lambda u, p: f"{u},{p}", user, config_tokens())
    return special.get(param, config_tokens())


_PARAM_NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
_MODULE_NAMES = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"), min_size=1, max_size=10
)


@st.composite
def _module_params(draw: st.DrawFn, module: str) -> dict[str, str | None]:
    known = SCHEMA.get(module, {})
    params: dict[str, str | None] = {}
    for name in draw(st.lists(st.sampled_from(sorted(known)), unique=True)) if known else []:
        params[name] = draw(_known_value(module, name))
    others = st.lists(
        st.tuples(_PARAM_NAMES.filter(lambda n: n not in known), st.none() | config_tokens()),
        max_size=3,
        unique_by=lambda pair: pair[0],
    )
    for name, value in draw(others):
        params.setdefault(name, value)
    return params


@st.composite
def configs(draw: st.DrawFn) -> Config:
    """Configs of known modules with valid values, unknown modules and unknown parameters;
    every one renders to text that :meth:`Config.parse` reads back to it."""
    names = draw(st.lists(st.sampled_from(sorted(SCHEMA)) | _MODULE_NAMES, unique=True, max_size=8))
    return Config({name: draw(_module_params(name)) for name in names})


__all__ += ["BrokenImage", "broken_images", "image_capacity", "images"]


# -- the reset button (ipgwsim.boot.button, boot/README.md) ---------------------------------


__all__ += ["Press", "holds", "presses"]


@dataclass(frozen=True)
class Press:
    """One press of the reset button: wait ``gap`` seconds, then hold it ``hold`` seconds.

    Run one through a :class:`~ipgwsim.testing.lab.Lab` with
    ``lab.run(p.gap); lab.press(node, p.hold)``.
    """

    hold: float
    gap: float


def _check_seconds(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise InvalidArgument(f"{name} must be a finite number of seconds >= 0, not {value!r}")


def _resets(profile: str | Profile | None) -> list[ResetButton]:
    """The distinct reset button timings of the profiles, in a fixed order."""
    timings = {p.reset for p in resolve_profiles(profile)}
    return sorted(timings, key=lambda r: (r.medium_s, r.long_s, r.blink_period_s))


def _holds_of(reset: ResetButton, max_hold: float | None) -> st.SearchStrategy[float]:
    top = max_hold if max_hold is not None else 2 * reset.long_s
    near: set[float] = {0.0}
    for threshold in (reset.medium_s, reset.long_s):
        near |= {threshold, math.nextafter(threshold, 0.0), math.nextafter(threshold, math.inf)}
        near |= {threshold + d for d in (-0.05, -0.001, 0.001, 0.05)}
    # A release at the moment of a blink: the device orders the two by its own timer.
    blinks = int(min(top, reset.long_s + reset.blink_period_s) / reset.blink_period_s)
    near |= {n * reset.blink_period_s for n in range(1, blinks + 1)}
    return st.one_of(
        st.sampled_from(sorted(h for h in near if 0.0 <= h <= top)),
        st.floats(min_value=0.0, max_value=top, allow_nan=False, allow_infinity=False),
    )


def holds(
    profile: str | Profile | None = None, *, max_hold: float | None = None
) -> st.SearchStrategy[float]:
    """Seconds to hold the reset button, from 0 to ``max_hold`` (twice the profile's
    ``reset.long_s`` when None).

    Often on, just below (the next float down, 1 ms, 50 ms) or just above each
    threshold of the profile's press classification (``reset.medium_s``,
    ``reset.long_s``), at a multiple of ``reset.blink_period_s``, else anywhere in
    range. ``profile`` is as for :func:`images` (None: the thresholds of every
    shipped model). What a hold does is what the device's own
    :func:`ipgwsim.boot.button.classify_press` says of it:
    ``classify_press(hold, profile.reset)`` is ``Press.SHORT`` (restart),
    ``Press.MEDIUM`` (TFTP mode) or ``Press.LONG`` (config cleared, then TFTP mode).
    The device measures the hold on its own clock: a hold of exactly a threshold
    that starts at a time other than 0 may measure a float's width shorter.
    """
    _check_seconds("max_hold", max_hold)
    resets = _resets(profile)
    return st.sampled_from(resets).flatmap(lambda r: _holds_of(r, max_hold))


def presses(
    profile: str | Profile | None = None,
    *,
    min_size: int = 1,
    max_size: int = 5,
    max_hold: float | None = None,
    max_gap: float = 30.0,
) -> st.SearchStrategy[list[Press]]:
    """Sequences of ``min_size`` to ``max_size`` presses of one device's reset button.

    Holds are :func:`holds` of the profile (one profile per sequence when ``profile``
    is None); gaps are 0 to ``max_gap`` seconds, often 0 (a press the moment the last
    one ended, while the device restarts or clears its config) or the shortest time
    a long reset takes (``ipgwsim.boot.timing.MIN_CLEARING_S``).
    """
    _check_seconds("max_hold", max_hold)
    _check_seconds("max_gap", max_gap)
    if not 0 <= min_size <= max_size:
        raise InvalidArgument(f"need 0 <= min_size <= max_size, not {min_size}, {max_size}")
    usual = sorted(g for g in (0.0, 0.001, MIN_CLEARING_S) if g <= max_gap)
    gaps = st.one_of(
        st.sampled_from(usual),
        st.floats(min_value=0.0, max_value=max_gap, allow_nan=False, allow_infinity=False),
    )

    def sequences(reset: ResetButton) -> st.SearchStrategy[list[Press]]:
        each = st.builds(Press, hold=_holds_of(reset, max_hold), gap=gaps)
        return st.lists(each, min_size=min_size, max_size=max_size)

    resets = _resets(profile)
    return st.sampled_from(resets).flatmap(sequences)


# -- DHCP ------------------------------------------------------------------------------

_dhcp_addresses = st.builds(
    lambda n: ".".join(str(b) for b in n.to_bytes(4, "big")), st.integers(0, 2**32 - 1)
)
_u32 = st.integers(0, 2**32 - 1)
_latin1 = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
_nul_free_tail = st.binary(max_size=20).map(lambda b: b.rstrip(b"\0"))


def _dhcp_other(max_size: int) -> st.SearchStrategy[tuple[tuple[int, bytes], ...]]:
    free = [c for c in range(1, 255) if c not in {1, 3, 6, 12, 50, 51, 52, 53, 54, 55, 56}]
    free = [c for c in free if c not in {57, 58, 59, 60, 61}]
    pairs = st.lists(
        st.tuples(st.sampled_from(free), st.binary(max_size=max_size)),
        max_size=4,
        unique_by=lambda pair: pair[0],
    )
    return pairs.map(tuple)


def dhcp_messages(long_values: bool = True) -> st.SearchStrategy[DhcpMessage]:
    """Every message :func:`~ipgwsim.proto.dhcp.encode_message` accepts (long values,
    which the encoder splits, when asked)."""
    big = 300 if long_values else 60
    return st.builds(
        DhcpMessage,
        kind=st.sampled_from(MessageType),
        xid=_u32,
        chaddr=st.binary(min_size=6, max_size=16 if long_values else 6),
        htype=st.integers(0, 255),
        hops=st.integers(0, 255),
        secs=st.integers(0, 0xFFFF),
        flags=st.integers(0, 0xFFFF),
        ciaddr=_dhcp_addresses,
        yiaddr=_dhcp_addresses,
        siaddr=_dhcp_addresses,
        giaddr=_dhcp_addresses,
        sname=_nul_free_tail,
        file=_nul_free_tail,
        mask=st.none() | _dhcp_addresses,
        routers=st.lists(_dhcp_addresses, max_size=big // 4).map(tuple),
        dns=st.lists(_dhcp_addresses, max_size=4).map(tuple),
        hostname=st.none() | _latin1,
        requested_ip=st.none() | _dhcp_addresses,
        lease_time=st.none() | _u32,
        server_id=st.none() | _dhcp_addresses,
        parameters=st.lists(st.integers(1, 254), max_size=big).map(tuple),
        message=st.none() | _latin1,
        max_size=st.none() | st.integers(0, 0xFFFF),
        t1=st.none() | _u32,
        t2=st.none() | _u32,
        vendor_class=st.none() | st.binary(min_size=1, max_size=30),
        client_id=st.none() | st.binary(min_size=2, max_size=20),
        other=_dhcp_other(big),
    )

"""RTP, telephone events, G.711: golden bytes, scapy as an oracle, the ITU tables, round trips."""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.rtp import RTP, RTPExtension
from scapy.packet import Raw

from ipgwsim.proto import rtp
from ipgwsim.proto.errors import LocalProtocolError
from ipgwsim.proto.rtp import (
    ALAW_DECODE,
    ALAW_ENCODE,
    FIXED_HEADER,
    ULAW_DECODE,
    ULAW_ENCODE,
    MalformedRtp,
    RtpPacket,
    TelephoneEvent,
    alaw_decode,
    alaw_encode,
    encode_event,
    encode_packet,
    event_key,
    parse_event,
    parse_packet,
    ulaw_decode,
    ulaw_encode,
)

# ---------------------------------------------------------------- golden bytes, by hand

PAYLOAD = bytes(range(1, 9))

SIMPLE = (
    bytes.fromhex(
        "80"  # V=2, P=0, X=0, CC=0
        "00"  # M=0, PT=0 (PCMU)
        "1234"  # sequence
        "000000a0"  # timestamp 160
        "deadbeef"  # SSRC
    )
    + PAYLOAD
)
SIMPLE_PACKET = RtpPacket(
    payload_type=0, sequence=0x1234, timestamp=160, ssrc=0xDEADBEEF, payload=PAYLOAD
)

WITH_CSRCS = (
    bytes.fromhex(
        "82"  # V=2, CC=2
        "88"  # M=1, PT=8 (PCMA)
        "ffff"  # sequence 65535
        "ffffffff"  # timestamp
        "00000001"  # SSRC
        "11111111"  # CSRC 1
        "22222222"  # CSRC 2
    )
    + PAYLOAD
)
WITH_CSRCS_PACKET = RtpPacket(
    payload_type=8,
    sequence=0xFFFF,
    timestamp=0xFFFFFFFF,
    ssrc=1,
    payload=PAYLOAD,
    marker=True,
    csrcs=(0x11111111, 0x22222222),
)

EVERYTHING = bytes.fromhex(
    "b1"  # V=2, P=1, X=1, CC=1
    "65"  # M=0, PT=101
    "0007"  # sequence
    "00000140"  # timestamp 320
    "cafebabe"  # SSRC
    "0badf00d"  # CSRC
    "bede"  # extension profile (RFC 8285's one-byte headers)
    "0002"  # extension length: 2 words
    "1122334455667788"  # the extension, skipped
    "058a0320"  # payload: a telephone event
    "00000004"  # padding: 4 bytes, the last one counts them
)
EVERYTHING_PACKET = RtpPacket(
    payload_type=101,
    sequence=7,
    timestamp=320,
    ssrc=0xCAFEBABE,
    payload=bytes.fromhex("058a0320"),
    csrcs=(0x0BADF00D,),
)


@pytest.mark.parametrize(
    ("data", "packet"),
    [(SIMPLE, SIMPLE_PACKET), (WITH_CSRCS, WITH_CSRCS_PACKET)],
    ids=["simple", "csrcs"],
)
def test_golden_both_ways(data: bytes, packet: RtpPacket) -> None:
    assert parse_packet(data) == packet
    assert encode_packet(packet) == data


def test_padding_and_extension_are_removed() -> None:
    assert parse_packet(EVERYTHING) == EVERYTHING_PACKET


def test_golden_padding_counts_itself() -> None:
    # a count of 1 is the count byte alone
    assert parse_packet(EVERYTHING[:-4] + b"\x01") == EVERYTHING_PACKET
    assert encode_packet(SIMPLE_PACKET, padding=3) == (
        bytes([0xA0]) + SIMPLE[1:] + bytes.fromhex("000003")
    )
    assert encode_packet(SIMPLE_PACKET, padding=1) == bytes([0xA0]) + SIMPLE[1:] + b"\x01"


def test_padding_leaves_the_payload() -> None:
    data = bytes([0xA0]) + SIMPLE[1:12] + b"\x09\x00\x00\x03"
    assert parse_packet(data).payload == b"\x09"
    assert parse_packet(bytes([0xA0]) + SIMPLE[1:12] + b"\x00\x02").payload == b""


def test_empty_payload() -> None:
    packet = parse_packet(SIMPLE[:12])
    assert packet.payload == b""
    assert encode_packet(packet) == SIMPLE[:12]


# ---------------------------------------------------------------- malformed


def _with_first(first: int, rest: bytes = SIMPLE[1:]) -> bytes:
    return bytes([first]) + rest


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short for the RTP header: 0 of 12 bytes"),
        (SIMPLE[:11], "too short for the RTP header: 11 of 12 bytes"),
        (_with_first(0x00), "version 0, expected 2"),
        (_with_first(0x40), "version 1, expected 2"),
        (_with_first(0xC0), "version 3, expected 2"),
        (_with_first(0x83), "3 CSRCs need 24 bytes, the packet is 20"),
        (_with_first(0x8F, SIMPLE[1:12]), "15 CSRCs need 72 bytes, the packet is 12"),
        (_with_first(0x90, SIMPLE[1:12]), "too short for the header extension: 12 bytes"),
        (
            _with_first(0x90, SIMPLE[1:12] + bytes.fromhex("bede0003") + bytes(8)),
            "a header extension of 3 words needs 28 bytes, the packet is 24",
        ),
        (_with_first(0xA0, SIMPLE[1:12]), "the padding bit is set but there is no padding count"),
        (_with_first(0xA0, SIMPLE[1:] + b"\x00"), "padding count 0: the count includes itself"),
        (
            _with_first(0xA0, SIMPLE[1:] + b"\x0a"),
            "padding count 10 is more than the 9 bytes after the headers",
        ),
    ],
)
def test_malformed(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedRtp) as info:
        parse_packet(data)
    assert str(info.value) == reason


@given(st.binary(max_size=80))
def test_garbage_parses_or_is_malformed(data: bytes) -> None:
    try:
        packet = parse_packet(data)
    except MalformedRtp:
        return
    assert parse_packet(encode_packet(packet)) == packet


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"payload_type": 128}, "payload_type"),
        ({"payload_type": -1}, "payload_type"),
        ({"sequence": 0x10000}, "sequence"),
        ({"sequence": True}, "sequence"),
        ({"timestamp": 1 << 32}, "timestamp"),
        ({"ssrc": -1}, "ssrc"),
        ({"ssrc": 1.0}, "ssrc"),
        ({"csrcs": (1 << 32,)}, "csrc"),
        ({"csrcs": tuple(range(16))}, "csrcs"),
        ({"csrcs": [1]}, "csrcs"),
        ({"marker": 1}, "marker"),
        ({"payload": "text"}, "payload"),
    ],
)
def test_encode_refuses_what_does_not_fit(changes: dict[str, Any], field: str) -> None:
    fields: dict[str, Any] = {
        "payload_type": 0,
        "sequence": 1,
        "timestamp": 2,
        "ssrc": 3,
        "payload": b"x",
    }
    fields.update(changes)
    with pytest.raises(LocalProtocolError, match=f"^{field} must be"):
        encode_packet(RtpPacket(**fields))


@pytest.mark.parametrize("padding", [-1, 256])
def test_encode_refuses_bad_padding(padding: int) -> None:
    with pytest.raises(LocalProtocolError, match=r"^padding must be"):
        encode_packet(SIMPLE_PACKET, padding=padding)


def test_encode_refuses_other_things() -> None:
    with pytest.raises(LocalProtocolError, match="not an RtpPacket"):
        encode_packet(SIMPLE)  # type: ignore[arg-type]


# ---------------------------------------------------------------- round trips

u32 = st.integers(0, 0xFFFFFFFF)
packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(u32, max_size=15).map(tuple),
)


@given(packets, st.integers(0, 255))
def test_round_trip(packet: RtpPacket, padding: int) -> None:
    data = encode_packet(packet, padding=padding)
    assert len(data) == 12 + 4 * len(packet.csrcs) + len(packet.payload) + padding
    assert parse_packet(data) == packet


@given(st.binary(min_size=12, max_size=12))
def test_the_compiled_fixed_header_is_the_declared_one(data: bytes) -> None:
    declared = {k: v for k, v in FIXED_HEADER.parse(data).items() if not k.startswith("_")}
    assert dict(rtp._FIXED.parse(data)) == declared
    assert rtp._FIXED.build(FIXED_HEADER.parse(data)) == data


# ---------------------------------------------------------------- scapy as the oracle


@given(packets)
def test_scapy_reads_what_we_write(packet: RtpPacket) -> None:
    theirs = RTP(encode_packet(packet))
    assert theirs.version == 2
    assert theirs.padding == 0
    assert theirs.extension == 0
    assert theirs.numsync == len(packet.csrcs)
    assert theirs.marker == packet.marker
    assert theirs.payload_type == packet.payload_type
    assert theirs.sequence == packet.sequence
    assert theirs.timestamp == packet.timestamp
    assert theirs.sourcesync == packet.ssrc
    assert tuple(theirs.sync) == packet.csrcs
    assert bytes(theirs.payload) == packet.payload


@given(packets, st.none() | st.tuples(st.integers(0, 0xFFFF), st.lists(u32, max_size=4)))
def test_we_read_what_scapy_writes(
    packet: RtpPacket, extension: tuple[int, list[int]] | None
) -> None:
    theirs = RTP(
        marker=int(packet.marker),
        payload_type=packet.payload_type,
        sequence=packet.sequence,
        timestamp=packet.timestamp,
        sourcesync=packet.ssrc,
        sync=list(packet.csrcs),
    )
    if extension is not None:
        profile, words = extension
        theirs.extension = 1
        theirs /= RTPExtension(header_id=profile, header=words)
    theirs /= Raw(packet.payload)
    assert parse_packet(bytes(theirs)) == packet


def test_we_read_scapy_padding() -> None:
    theirs = RTP(padding=1, sequence=5, sourcesync=9) / Raw(PAYLOAD + b"\x00\x00\x03")
    assert parse_packet(bytes(theirs)) == RtpPacket(
        payload_type=0, sequence=5, timestamp=0, ssrc=9, payload=PAYLOAD
    )


# ---------------------------------------------------------------- telephone events


def test_event_golden() -> None:
    # RFC 4733 2.3: event 8 bits, E, R, volume 6 bits, duration 16 bits
    data = bytes.fromhex("058a0320")  # "5", end, -10 dBm0, 800 (100 ms)
    event = TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert parse_event(data) == event
    assert encode_event(event) == data
    assert encode_event(TelephoneEvent(event=11)) == bytes.fromhex("0b000000")


def test_event_reserved_bit_is_ignored() -> None:
    assert parse_event(bytes.fromhex("0b7fffff")) == TelephoneEvent(
        event=11, end=False, volume=63, duration=0xFFFF
    )


@pytest.mark.parametrize("size", [0, 3, 5, 8])
def test_event_of_another_size_is_malformed(size: int) -> None:
    with pytest.raises(MalformedRtp, match=f"a telephone-event payload is 4 bytes, got {size}"):
        parse_event(bytes(size))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event": 256}, "event"),
        ({"volume": 64}, "volume"),
        ({"duration": 0x10000}, "duration"),
        ({"end": 1}, "end"),
    ],
)
def test_event_encode_refuses_what_does_not_fit(changes: dict[str, Any], field: str) -> None:
    fields: dict[str, Any] = {"event": 1}
    fields.update(changes)
    with pytest.raises(LocalProtocolError, match=f"^{field} must be"):
        encode_event(TelephoneEvent(**fields))


@given(
    st.builds(
        TelephoneEvent,
        event=st.integers(0, 255),
        end=st.booleans(),
        volume=st.integers(0, 63),
        duration=st.integers(0, 0xFFFF),
    )
)
def test_event_round_trip(event: TelephoneEvent) -> None:
    assert parse_event(encode_event(event)) == event


def test_event_keys() -> None:
    assert [event_key(e) for e in range(17)] == [*"0123456789*#ABCD", None]
    assert event_key(-1) is None


# ---------------------------------------------------------------- G.711: known values

ALL = np.arange(-32768, 32768, dtype=np.int32)


def test_known_values() -> None:
    assert ALAW_DECODE[0xD5] == 8
    assert ALAW_DECODE[0x55] == -8
    assert ALAW_DECODE[0xAA] == 32256
    assert ALAW_DECODE[0x2A] == -32256
    assert ULAW_DECODE[0xFF] == 0
    assert ULAW_DECODE[0x7F] == 0  # "negative zero"
    assert ULAW_DECODE[0xFE] == 8
    assert ULAW_DECODE[0x80] == 32124
    assert ULAW_DECODE[0x00] == -32124
    assert alaw_encode([0, 7, -1, 32767, -32768]) == bytes.fromhex("d5d555aa2a")
    assert ulaw_encode([0, 3, 32767, -32768]) == bytes.fromhex("ffff8000")
    # silence is 0xD5 / 0xFF
    assert alaw_encode(np.zeros(3, dtype=np.int16)) == b"\xd5" * 3
    assert ulaw_encode(np.zeros(3, dtype=np.int16)) == b"\xff" * 3


def test_tables() -> None:
    assert ALAW_DECODE.dtype == np.int16
    assert ALAW_DECODE.shape == ULAW_DECODE.shape == (256,)
    assert ALAW_ENCODE.dtype == np.uint8
    assert ALAW_ENCODE.shape == ULAW_ENCODE.shape == (65536,)
    assert len(set(ALAW_DECODE.tolist())) == 256  # A-law has no negative zero
    assert len(set(ULAW_DECODE.tolist())) == 255
    with pytest.raises(ValueError, match="read-only"):
        ALAW_DECODE[0] = 1


# ---------------------------------------------------------------- G.711: the ITU tables
#
# ITU-T G.711 Tables 1 and 2 by their segments: each segment is 16 intervals of one step
# size; a sample in an interval is coded by its segment and interval number, and decoded
# to the interval's middle. A-law works on the 12-bit magnitude of a 13-bit sample, the
# code's even bits inverted; µ-law on the magnitude of a 14-bit sample, the first interval
# [0, 1) half as wide, the 7 magnitude bits inverted. The sign bit is 1 for positive
# samples.

# (first decision value, step) of segments 0..7
ALAW_SEGMENTS = [
    (0, 2), (32, 2), (64, 4), (128, 8), (256, 16), (512, 32), (1024, 64), (2048, 128),
]  # fmt: skip
ULAW_SEGMENTS = [
    (-1, 2), (31, 4), (95, 8), (223, 16), (479, 32), (991, 64), (2015, 128), (4063, 256),
]  # fmt: skip


def _decision_values(segments: list[tuple[int, int]]) -> list[int]:
    return [start + step * q for start, step in segments for q in range(16)]


ALAW_DECISIONS = _decision_values(ALAW_SEGMENTS)
ULAW_DECISIONS = [0, *_decision_values(ULAW_SEGMENTS)[1:]]


def itu_alaw(x: int) -> int:
    magnitude = x >> 3 if x >= 0 else (-x - 1) >> 3  # 13 bits, one's complement negative
    code = bisect.bisect_right(ALAW_DECISIONS, magnitude) - 1
    return (code | (0x80 if x >= 0 else 0)) ^ 0x55


def itu_ulaw(x: int) -> int:
    magnitude = x >> 2 if x >= 0 else -(x >> 2)  # 14 bits
    code = min(bisect.bisect_right(ULAW_DECISIONS, magnitude) - 1, 127)
    return (0x80 if x >= 0 else 0) | (code ^ 0x7F)


def itu_alaw_value(code: int) -> int:
    c = code ^ 0x55
    start, step = ALAW_SEGMENTS[(c >> 4) & 7]
    middle = start + step * (c & 15) + step // 2
    return 8 * middle if c & 0x80 else -8 * middle


def itu_ulaw_value(code: int) -> int:
    c = code & 0x7F ^ 0x7F
    start, step = ULAW_SEGMENTS[c >> 4]
    middle = 0 if c == 0 else start + step * (c & 15) + step // 2
    return 4 * middle if code & 0x80 else -4 * middle


def test_decoding_is_the_itu_reconstruction_values() -> None:
    assert ALAW_DECODE.tolist() == [itu_alaw_value(c) for c in range(256)]
    assert ULAW_DECODE.tolist() == [itu_ulaw_value(c) for c in range(256)]


def test_encoding_is_the_itu_decision_intervals() -> None:
    samples = ALL.tolist()
    assert ALAW_ENCODE[ALL.astype(np.uint16)].tolist() == [itu_alaw(x) for x in samples]
    assert ULAW_ENCODE[ALL.astype(np.uint16)].tolist() == [itu_ulaw(x) for x in samples]


# ---------------------------------------------------------------- G.711: round trips


@pytest.mark.parametrize(
    ("encode", "decode", "largest", "floor", "ratio"),
    [(alaw_encode, alaw_decode, 32256, 8, 32), (ulaw_encode, ulaw_decode, 32124, 12, 19)],
    ids=["alaw", "ulaw"],
)
def test_error_bounds(encode: Any, decode: Any, largest: int, floor: int, ratio: int) -> None:
    """Every 16-bit sample comes back within half a step of its segment and the bits below
    the law's resolution: A-law steps are 1/16 of the segment's start (1/32 of a sample
    at worst); µ-law's biased segments make it 1/19.8 at the start of segment 1. Near 0
    the error is the dropped low bits and half the smallest step."""
    back = decode(encode(ALL)).astype(np.int32)
    error = np.abs(back - ALL)
    inside = np.abs(ALL) <= largest
    assert (error[inside] <= np.maximum(floor, np.abs(ALL[inside]) / ratio)).all()
    assert (error[~inside] <= 32768 - largest).all()  # beyond the largest code: clipped
    assert (np.diff(back) >= 0).all()  # monotonic
    assert (np.sign(back) * np.sign(ALL) >= 0).all()  # never the wrong sign


@given(st.binary(max_size=64))
def test_codes_round_trip(data: bytes) -> None:
    assert alaw_encode(alaw_decode(data)) == data
    assert ulaw_encode(ulaw_decode(data)) == data.replace(b"\x7f", b"\xff")  # -0 is 0


@given(st.lists(st.integers(-32768, 32767), max_size=64))
def test_samples_round_trip_once(samples: list[int]) -> None:
    """Coding twice changes nothing more: a decoded value is its own code's value."""
    for encode, decode in [(alaw_encode, alaw_decode), (ulaw_encode, ulaw_decode)]:
        once = decode(encode(samples))
        assert len(once) == len(samples)
        assert once.dtype == np.int16
        assert decode(encode(once)).tolist() == once.tolist()


def test_encode_takes_wider_integers_in_range() -> None:
    assert alaw_encode(np.array([0, 32767], dtype=np.int64)) == b"\xd5\xaa"
    assert ulaw_encode(np.array([[0], [0]], dtype=np.uint8)) == b"\xff\xff"
    assert ulaw_encode([]) == b""


@pytest.mark.parametrize(
    ("samples", "reason"),
    [
        (np.array([0.5]), "PCM samples must be integers"),
        (np.array([32768], dtype=np.int32), "PCM samples must be 16-bit"),
        ([-32769], "PCM samples must be 16-bit"),
    ],
)
def test_encode_refuses_other_samples(samples: Any, reason: str) -> None:
    for encode in (alaw_encode, ulaw_encode):
        with pytest.raises(LocalProtocolError, match=reason):
            encode(samples)

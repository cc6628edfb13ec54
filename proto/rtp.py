"""RTP packets (RFC 3550), telephone events (RFC 4733) and G.711 (ITU-T G.711): sans-I/O.

**RTP.** :func:`parse_packet` turns the bytes of one UDP payload into an
:class:`RtpPacket` and :func:`encode_packet` turns one back into bytes. The layout is
declared once with construct: the 12-byte fixed header (:data:`FIXED_HEADER`: the two
flag bytes, sequence, timestamp, SSRC), then ``CC`` CSRCs of 4 bytes, then, with the X
bit, a header extension (16-bit profile, 16-bit length in 32-bit words, the words), then
the payload, then, with the P bit, padding whose last byte counts the padding bytes,
itself included. The flag bytes are split with the masks below (``V`` 2 bits, ``P``,
``X``, ``CC`` 4 bits; ``M``, ``PT`` 7 bits) rather than a ``BitStruct``: the conference
mixer parses and builds one header per participant every 20 ms, and the fixed header is
compiled (``Struct.compile``), which is several times faster than a ``BitStruct``.

Choices where RFC 3550 leaves room:

- **Version** 2 only; anything else is malformed (:class:`MalformedRtp` says why).
- **Padding is removed**: a padding count of 0 (the count includes itself) or larger
  than what follows the headers is malformed. :func:`encode_packet` adds padding only
  when asked (``padding=N``).
- **The header extension is skipped**: it is checked to fit, and its content is not
  kept (nothing here uses one); :func:`encode_packet` never writes one.
- **RTCP** is not told apart here: an RTCP packet on the same port (RFC 5761) parses as
  RTP with the marker bit and payload type 72..76; the caller's payload type check
  drops it.
- :class:`RtpPacket` keeps what a receiver needs: marker, payload type, sequence,
  timestamp, SSRC, CSRCs and the payload without padding. ``parse_packet(encode_packet(p))
  == p`` for every valid packet. Packets are not validated on construction;
  :func:`encode_packet` refuses a field that does not fit with
  :class:`~ipgwsim.proto.errors.LocalProtocolError` naming it.

**Telephone events** (RFC 4733, which obsoletes RFC 2833): the 4-byte payload of a
``telephone-event`` packet, :class:`TelephoneEvent` with :func:`parse_event` and
:func:`encode_event`. A payload of another size is malformed (RFC 2198 redundancy is not
taken). :data:`EVENT_KEYS` names the DTMF events 0..15 (RFC 4733 3.2).

**G.711** between 16-bit linear PCM (numpy ``int16``) and bytes (one byte a sample):
:data:`ULAW_DECODE` / :data:`ALAW_DECODE` are the 256-entry decode tables and
:data:`ULAW_ENCODE` / :data:`ALAW_ENCODE` the 65536-entry encode tables (indexed by the
sample's bits as ``uint16``), built at import by :func:`ulaw_compress` /
:func:`alaw_compress`, vectorized versions of the ITU-T G.711 encoding rules (the same
arithmetic as the reference code of Sun Microsystems used by sox, SpanDSP and CPython's
old ``audioop``). A-law works on 13-bit samples (the top 13 bits: ``x >> 3``), µ-law on
14-bit samples (``x >> 2``); decoding gives those values back scaled to 16 bits, so
A-law ``0xD5`` is +8, µ-law ``0xFF`` is 0 and ``0x7F`` is "-0", also 0. The largest
decoded values are ±32256 (A-law) and ±32124 (µ-law).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from construct import (
    BitsInteger,
    BitStruct,
    Construct,
    ConstructError,
    Container,
    Flag,
    Int8ub,
    Int16ub,
    Int32ub,
    Struct,
)

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    Pcm = npt.NDArray[np.int16]
    Codes = npt.NDArray[np.uint8]

__all__ = [
    "ALAW_DECODE",
    "ALAW_ENCODE",
    "EVENT_KEYS",
    "FIXED_HEADER",
    "HEADER_SIZE",
    "ULAW_DECODE",
    "ULAW_ENCODE",
    "VERSION",
    "MalformedRtp",
    "RtpPacket",
    "TelephoneEvent",
    "alaw_compress",
    "alaw_decode",
    "alaw_encode",
    "encode_event",
    "encode_packet",
    "event_key",
    "parse_event",
    "parse_packet",
    "ulaw_compress",
    "ulaw_decode",
    "ulaw_encode",
]

#: The RTP version this module speaks (RFC 3550).
VERSION: Final = 2
#: The size of the fixed header.
HEADER_SIZE: Final = 12
#: The size of a telephone-event payload.
EVENT_SIZE: Final = 4
#: The DTMF events 0..15 of RFC 4733 3.2, by event code.
EVENT_KEYS: Final = "0123456789*#ABCD"

# The first byte: V (2 bits), P, X, CC (4 bits); the second: M, PT (7 bits).
_VERSION_SHIFT = 6
_PADDING = 0x20
_EXTENSION = 0x10
_CSRC_COUNT = 0x0F
_MARKER = 0x80
_PAYLOAD_TYPE = 0x7F
_MAX_CSRCS = 15
_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF


class MalformedRtp(RemoteProtocolError):
    """Bytes that are not a valid RTP packet or telephone event; ``str()`` says why."""


# --------------------------------------------------------------------------- the format

#: The fixed header; ``first`` and ``second`` are the flag bytes (masks above).
FIXED_HEADER = Struct(
    "first" / Int8ub,
    "second" / Int8ub,
    "sequence" / Int16ub,
    "timestamp" / Int32ub,
    "ssrc" / Int32ub,
)
_FIXED: Construct[Any, Any] = FIXED_HEADER.compile()
_CSRC = Int32ub
_EXTENSION_HEADER = Struct("profile" / Int16ub, "length" / Int16ub)
_EVENT = BitStruct(
    "event" / BitsInteger(8),
    "end" / Flag,
    "reserved" / Flag,
    "volume" / BitsInteger(6),
    "duration" / BitsInteger(16),
)


@dataclass(frozen=True, kw_only=True)
class RtpPacket:
    """One RTP packet as a receiver sees it (version 2; padding and extension removed)."""

    #: 0..127 (RFC 3551: 0 PCMU, 8 PCMA; 96..127 dynamic, e.g. telephone-event).
    payload_type: int
    #: 0..65535, +1 for each packet the source sends.
    sequence: int
    #: 0..2**32-1, the sampling instant of the first sample, in the payload's clock.
    timestamp: int
    #: 0..2**32-1, the source.
    ssrc: int
    payload: bytes = b""
    #: For audio: the first packet of a talkspurt (RFC 3551 4.1).
    marker: bool = False
    #: The contributing sources, at most 15.
    csrcs: tuple[int, ...] = ()


def _check_int(value: object, name: str, top: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise LocalProtocolError(f"{name} must be an integer in 0..{top}, got {value!r}")
    return value


def encode_packet(packet: RtpPacket, *, padding: int = 0) -> bytes:
    """The bytes of ``packet``, with ``padding`` bytes of padding (0..255) if asked."""
    if not isinstance(packet, RtpPacket):
        raise LocalProtocolError(f"not an RtpPacket: {packet!r}")
    payload_type = _check_int(packet.payload_type, "payload_type", _PAYLOAD_TYPE)
    if not isinstance(packet.payload, bytes | bytearray):
        raise LocalProtocolError(f"payload must be bytes, got {packet.payload!r}")
    if not isinstance(packet.marker, bool):
        raise LocalProtocolError(f"marker must be a bool, got {packet.marker!r}")
    csrcs = packet.csrcs
    if not isinstance(csrcs, tuple) or len(csrcs) > _MAX_CSRCS:
        raise LocalProtocolError(f"csrcs must be a tuple of at most 15, got {csrcs!r}")
    _check_int(padding, "padding", 0xFF)
    first = VERSION << _VERSION_SHIFT | len(csrcs)
    if padding:
        first |= _PADDING
    header = _FIXED.build(
        {
            "first": first,
            "second": _MARKER * packet.marker | payload_type,
            "sequence": _check_int(packet.sequence, "sequence", _U16),
            "timestamp": _check_int(packet.timestamp, "timestamp", _U32),
            "ssrc": _check_int(packet.ssrc, "ssrc", _U32),
        }
    )
    parts = [header]
    parts.extend(_CSRC.build(_check_int(c, "csrc", _U32)) for c in csrcs)
    parts.append(bytes(packet.payload))
    if padding:
        parts.append(bytes(padding - 1) + bytes((padding,)))
    return b"".join(parts)


def parse_packet(data: bytes) -> RtpPacket:
    """The packet in ``data``; :class:`MalformedRtp` says what is wrong with it."""
    data = bytes(data)
    size = len(data)
    if size < HEADER_SIZE:
        raise MalformedRtp(f"too short for the RTP header: {size} of {HEADER_SIZE} bytes")
    header: Container[Any] = _FIXED.parse(data)
    first: int = header.first
    version = first >> _VERSION_SHIFT
    if version != VERSION:
        raise MalformedRtp(f"version {version}, expected {VERSION}")
    count = first & _CSRC_COUNT
    offset = HEADER_SIZE + 4 * count
    if size < offset:
        raise MalformedRtp(f"{count} CSRCs need {offset} bytes, the packet is {size}")
    csrcs = tuple(_CSRC.parse(data[i : i + 4]) for i in range(HEADER_SIZE, offset, 4))
    if first & _EXTENSION:
        if size < offset + 4:
            raise MalformedRtp(f"too short for the header extension: {size} bytes")
        extension: Container[Any] = _EXTENSION_HEADER.parse(data[offset : offset + 4])
        offset += 4 + 4 * extension.length
        if size < offset:
            raise MalformedRtp(
                f"a header extension of {extension.length} words needs {offset} bytes, "
                f"the packet is {size}"
            )
    end = size
    if first & _PADDING:
        if end == offset:
            raise MalformedRtp("the padding bit is set but there is no padding count")
        padding = data[-1]
        if padding == 0:
            raise MalformedRtp("padding count 0: the count includes itself")
        if padding > end - offset:
            raise MalformedRtp(
                f"padding count {padding} is more than the {end - offset} bytes after the headers"
            )
        end -= padding
    second: int = header.second
    return RtpPacket(
        payload_type=second & _PAYLOAD_TYPE,
        sequence=header.sequence,
        timestamp=header.timestamp,
        ssrc=header.ssrc,
        payload=data[offset:end],
        marker=bool(second & _MARKER),
        csrcs=csrcs,
    )


# --------------------------------------------------------------------------- telephone events


@dataclass(frozen=True, kw_only=True)
class TelephoneEvent:
    """The payload of an RFC 4733 telephone-event packet."""

    #: 0..255; 0..15 are the DTMF keys of :data:`EVENT_KEYS`.
    event: int
    #: The E bit: the last packet(s) of the event.
    end: bool = False
    #: 0..63, the power level in -dBm0 (0 is loudest).
    volume: int = 0
    #: 0..65535, the event's duration so far in timestamp units (8 kHz for DTMF).
    duration: int = 0


def event_key(event: int) -> str | None:
    """The DTMF key of event code ``event`` (``"0"``..``"9"``, ``*``, ``#``, ``A``..``D``)."""
    return EVENT_KEYS[event] if 0 <= event < len(EVENT_KEYS) else None


def encode_event(event: TelephoneEvent) -> bytes:
    """The 4 bytes of ``event`` (the reserved bit is 0)."""
    if not isinstance(event.end, bool):
        raise LocalProtocolError(f"end must be a bool, got {event.end!r}")
    value = {
        "event": _check_int(event.event, "event", 0xFF),
        "end": event.end,
        "reserved": False,
        "volume": _check_int(event.volume, "volume", 0x3F),
        "duration": _check_int(event.duration, "duration", _U16),
    }
    try:
        return _EVENT.build(value)
    except ConstructError as e:  # pragma: no cover - every field is checked above
        raise LocalProtocolError(f"cannot encode {event!r}: {e}") from None


def parse_event(payload: bytes) -> TelephoneEvent:
    """The event in a telephone-event payload (the reserved bit is ignored)."""
    if len(payload) != EVENT_SIZE:
        raise MalformedRtp(f"a telephone-event payload is {EVENT_SIZE} bytes, got {len(payload)}")
    fields: Container[Any] = _EVENT.parse(bytes(payload))
    return TelephoneEvent(
        event=fields.event, end=fields.end, volume=fields.volume, duration=fields.duration
    )


# --------------------------------------------------------------------------- G.711

# Where each of the 8 segments ends: A-law on the 12-bit magnitude of a 13-bit sample,
# µ-law on the biased (+33) magnitude of a 14-bit sample.
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ULAW_BIAS = 0x21
_ULAW_CLIP = 8158  # the largest magnitude whose biased value stays in segment 7


def alaw_compress(pcm: Pcm) -> Codes:
    """G.711 A-law codes of 16-bit samples (their top 13 bits), vectorized."""
    x = pcm.astype(np.int32) >> 3
    negative = x < 0
    magnitude = np.where(negative, -x - 1, x)  # 0..4095
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    code = (segment << 4) | ((magnitude >> np.maximum(segment, 1)) & 0x0F)
    code = np.where(negative, code, code | 0x80)  # the sign bit is 1 for positive
    return (code ^ 0x55).astype(np.uint8)  # even bits inverted


def ulaw_compress(pcm: Pcm) -> Codes:
    """G.711 µ-law codes of 16-bit samples (their top 14 bits), vectorized."""
    x = pcm.astype(np.int32) >> 2
    negative = x < 0
    biased = np.minimum(np.where(negative, -x, x), _ULAW_CLIP) + _ULAW_BIAS
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, biased)
    code = (segment << 4) | ((biased >> (segment + 1)) & 0x0F)
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)  # all bits inverted


def _alaw_expand(codes: Codes) -> Pcm:
    a = codes.astype(np.int32) ^ 0x55
    quant = (a & 0x0F) << 4
    segment = (a >> 4) & 0x07
    t = np.where(segment == 0, quant + 8, (quant + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _ulaw_expand(codes: Codes) -> Pcm:
    u = ~codes.astype(np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + (_ULAW_BIAS << 2)) << ((u >> 4) & 0x07)
    return np.where(u & 0x80, (_ULAW_BIAS << 2) - t, t - (_ULAW_BIAS << 2)).astype(np.int16)


_ALL_CODES: Codes = np.arange(256, dtype=np.uint8)
_ALL_SAMPLES: Pcm = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.int16)

#: Code -> 16-bit sample.
ALAW_DECODE: Final[Pcm] = _alaw_expand(_ALL_CODES)
ULAW_DECODE: Final[Pcm] = _ulaw_expand(_ALL_CODES)
#: Sample (as ``uint16``: ``pcm.view(np.uint16)``) -> code.
ALAW_ENCODE: Final[Codes] = alaw_compress(_ALL_SAMPLES)
ULAW_ENCODE: Final[Codes] = ulaw_compress(_ALL_SAMPLES)
for _table in (ALAW_DECODE, ULAW_DECODE, ALAW_ENCODE, ULAW_ENCODE):
    _table.flags.writeable = False


def _samples(pcm: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    """``pcm`` as int16 samples viewed as uint16 (the encode tables' index)."""
    a = np.asarray(pcm)
    if a.size == 0:
        return np.zeros(0, dtype=np.uint16)
    if a.dtype != np.int16:
        if a.dtype.kind not in "iu":
            raise LocalProtocolError(f"PCM samples must be integers, got {a.dtype}")
        if a.min() < -0x8000 or a.max() > 0x7FFF:
            raise LocalProtocolError("PCM samples must be 16-bit: -32768..32767")
        a = a.astype(np.int16)
    return a.reshape(-1).view(np.uint16)


def alaw_encode(pcm: npt.ArrayLike) -> bytes:
    """A-law bytes of 16-bit linear samples."""
    return ALAW_ENCODE[_samples(pcm)].tobytes()


def ulaw_encode(pcm: npt.ArrayLike) -> bytes:
    """µ-law bytes of 16-bit linear samples."""
    return ULAW_ENCODE[_samples(pcm)].tobytes()


def alaw_decode(data: bytes) -> Pcm:
    """16-bit linear samples of A-law bytes."""
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_decode(data: bytes) -> Pcm:
    """16-bit linear samples of µ-law bytes."""
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]

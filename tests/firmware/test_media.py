"""The conference mixer: tones through rooms, clipping, silence, timing, drops, DTMF."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.firmware.media import (
    FRAME_MS,
    MAX_BUFFER_FRAMES,
    MAX_CATCH_UP,
    PT_EVENT,
    PT_PCMA,
    PT_PCMU,
    Mixer,
)
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.node import Node, Pump
from ipgwsim.proto.rtp import (
    RtpPacket,
    TelephoneEvent,
    alaw_decode,
    alaw_encode,
    encode_event,
    encode_packet,
    parse_packet,
    ulaw_decode,
    ulaw_encode,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    Pcm = npt.NDArray[np.int16]

RATE = 8000
FRAME = 160
FRAME_S = FRAME_MS / 1000
DEVICE_IP = "10.0.0.5"
#: One second: 1 Hz per FFT bin, so 440 Hz and 1000 Hz fall on bins exactly.
WINDOW = RATE
AMPLITUDE = 8000
#: How close a heard tone's amplitude is to the sent one: two G.711 codings (the phone's
#: and the mixer's) of a tone whose period is a few samples put part of their error on
#: the tone itself; a step at this level is 256 (3 %). Measured: 1000 Hz through PCMA
#: then PCMU comes out at 8319 (+4 %).
LEVEL = 0.05
#: The most a tone that must not be heard may read: -60 dB of a tone. A participant's own
#: voice mixed back even at -40 dB (a telephone's sidetone) would read 80: the mixer sums
#: at unity gain. G.711's noise cannot put that much there: it falls on the harmonics of
#: the tones coded (multiples of 40 Hz for 440 Hz, of 1000 Hz for 1000 Hz); measured,
#: 440 Hz through PCMU then PCMA reads 1.8 at 1000 Hz, 1000 Hz reads 4e-15 at 440 Hz.
QUIET = AMPLITUDE / 1000
#: G.711's largest spur anywhere: measured 62 (-42 dB) for 440 + 1000 Hz.
NOISE = AMPLITUDE / 50

ENCODE = {PT_PCMU: ulaw_encode, PT_PCMA: alaw_encode}
DECODE = {PT_PCMU: ulaw_decode, PT_PCMA: alaw_decode}

#: What a source says in frame ``i``: the packets' samples (none: it sends nothing).
Source = Callable[[int], list["Pcm"]]


def tone(freq: float, amplitude: int = AMPLITUDE) -> Source:
    def frame(i: int) -> list[Pcm]:
        n = np.arange(i * FRAME, (i + 1) * FRAME)
        return [np.round(amplitude * np.sin(2 * np.pi * freq * n / RATE)).astype(np.int16)]

    return frame


def silence(i: int) -> list[Pcm]:
    return [np.zeros(FRAME, dtype=np.int16)]


def nothing(i: int) -> list[Pcm]:
    return []


def until(frames: int, source: Source) -> Source:
    return lambda i: source(i) if i < frames else []


def noise(seed: int, amplitude: int = 3000) -> Source:
    rng = np.random.default_rng(seed)
    return lambda i: [rng.integers(-amplitude, amplitude, FRAME).astype(np.int16)]


@dataclass
class Phone:
    """The far end of one call: its RTP stream to the device."""

    call_id: str
    payload_type: int
    port: int
    ssrc: int
    sequence: int = 1000
    timestamp: int = 5000
    #: The payloads it sent, in order.
    sent: list[bytes] = field(default_factory=list)

    @property
    def address(self) -> Address:
        return ("10.0.0.100", self.port)

    @property
    def device(self) -> Address:
        return (DEVICE_IP, 30000 + self.port)

    def rtp(self, samples: Pcm) -> bytes:
        payload = ENCODE[self.payload_type](samples)
        self.sent.append(payload)
        packet = RtpPacket(
            payload_type=self.payload_type,
            sequence=self.sequence,
            timestamp=self.timestamp,
            ssrc=self.ssrc,
            payload=payload,
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp += len(samples)
        return encode_packet(packet)

    def event(self, event: int, timestamp: int, duration: int, *, end: bool = False) -> bytes:
        payload = encode_event(TelephoneEvent(event=event, end=end, volume=10, duration=duration))
        packet = RtpPacket(
            payload_type=PT_EVENT,
            sequence=self.sequence,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        return encode_packet(packet)


def to_mixer(phone: Phone, data: bytes) -> Datagram:
    """``data`` sent by ``phone`` to its participant's ``local`` address."""
    return Datagram(data, phone.address, phone.device)


def ticked(mixer: Mixer, now: float) -> list[Datagram]:
    """The packets of every frame due by ``now``: the timer runs, its packets drained."""
    mixer.handle_timer(now)
    return mixer.datagrams_to_send()


class Bench:
    """A mixer, its phones, and the device time in whole frames."""

    def __init__(self, *, on_digit: Callable[[str, str], None] | None = None) -> None:
        self.mixer = Mixer(on_digit=on_digit, rng=random.Random(7))
        self.phones: dict[str, Phone] = {}
        self.frame = 0
        self.received: dict[str, list[RtpPacket]] = defaultdict(list)
        self.ticks: list[int] = []

    @property
    def now(self) -> float:
        return self.frame * FRAME_S

    def join(self, call_id: str, room: int, payload_type: int = PT_PCMU) -> Phone:
        phone = Phone(call_id, payload_type, 6000 + 2 * len(self.phones), 0x5000 + len(self.phones))
        self.phones[call_id] = phone
        self.mixer.join(
            call_id,
            room,
            payload_type=payload_type,
            local=phone.device,
            remote=phone.address,
            now=self.now,
        )
        return phone

    def run(self, frames: int, sources: dict[str, Source]) -> None:
        """``frames`` frames: the phones send what their sources say, then the mixer ticks."""
        by_address = {phone.address: phone for phone in self.phones.values()}
        for _ in range(frames):
            for call_id, source in sources.items():
                for samples in source(self.frame):
                    self.receive(call_id, self.phones[call_id].rtp(samples))
            self.frame += 1
            assert self.mixer.get_timer() == pytest.approx(self.now)
            datagrams = ticked(self.mixer, self.now)
            self.ticks.append(len(datagrams))
            for datagram in datagrams:
                phone = by_address[datagram.dst]
                assert datagram.src == phone.device
                self.received[phone.call_id].append(parse_packet(datagram.data))

    def receive(self, call_id: str, data: bytes) -> None:
        self.mixer.receive_datagram(to_mixer(self.phones[call_id], data), self.now + 0.015)

    def heard(self, call_id: str, last: int | None = None) -> Pcm:
        """What ``call_id`` was sent, decoded (the last ``last`` samples)."""
        phone = self.phones[call_id]
        samples = np.concatenate(
            [DECODE[phone.payload_type](p.payload) for p in self.received[call_id]]
        )
        return samples if last is None else samples[-last:]


def amplitudes(samples: Pcm) -> npt.NDArray[np.float64]:
    """The amplitude of each 1 Hz bin over one second (WINDOW samples)."""
    assert len(samples) == WINDOW
    return np.abs(np.fft.rfft(samples.astype(np.float64))) * 2 / WINDOW


# ---------------------------------------------------------------- mixing, proven with tones


def test_each_hears_the_others_and_not_itself() -> None:
    bench = Bench()
    bench.join("a", 1, PT_PCMU)
    bench.join("b", 1, PT_PCMA)
    bench.join("c", 1, PT_PCMU)
    bench.run(60, {"a": tone(440), "b": tone(1000), "c": silence})

    c = amplitudes(bench.heard("c", WINDOW))
    assert c[440] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert c[1000] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert np.delete(c, [440, 1000]).max() < NOISE
    # A hears B's tone at full level and nothing of its own (QUIET says why), B the same
    a = amplitudes(bench.heard("a", WINDOW))
    assert a[1000] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert a[440] < QUIET
    b = amplitudes(bench.heard("b", WINDOW))
    assert b[440] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert b[1000] < QUIET


def test_the_mix_is_exact() -> None:
    """Frame j of the stream to each phone is the others' frame j - 1, decoded, summed,
    coded in its own law (the jitter buffer starts with 2 frames waiting)."""
    bench = Bench()
    phones = [bench.join("a", 1, PT_PCMU), bench.join("b", 1, PT_PCMA), bench.join("c", 1)]
    bench.run(12, {"a": noise(1), "b": noise(2), "c": noise(3)})
    for phone in phones:
        received = bench.received[phone.call_id]
        assert len(received) == 12
        assert received[0].payload == ENCODE[phone.payload_type](np.zeros(FRAME, np.int16))
        for j in range(1, 12):
            total = sum(
                DECODE[other.payload_type](other.sent[j - 1]).astype(np.int32)
                for other in phones
                if other is not phone
            )
            assert received[j].payload == ENCODE[phone.payload_type](total)


def test_loud_tones_saturate_instead_of_wrapping() -> None:
    bench = Bench()
    a, b = bench.join("a", 1, PT_PCMU), bench.join("b", 1, PT_PCMA)
    bench.join("c", 1, PT_PCMA)
    bench.run(30, {"a": tone(440, 30000), "b": tone(1000, 30000), "c": silence})
    received = bench.received["c"]
    saturated = 0
    for j in range(1, 30):
        total = ulaw_decode(a.sent[j - 1]).astype(np.int32) + alaw_decode(b.sent[j - 1])
        heard = alaw_decode(received[j].payload)
        assert received[j].payload == alaw_encode(np.clip(total, -32768, 32767))
        loud = np.abs(total) > 32767
        assert (np.sign(heard[loud]) == np.sign(total[loud])).all()  # no wrap-around
        assert (np.abs(heard[loud]) == 32256).all()  # A-law's largest value
        saturated += int(loud.sum())
    assert saturated > 100
    # one 30000 tone alone fits: A hears B's unclipped
    assert np.abs(bench.heard("a")).max() < 31000


# ---------------------------------------------------------------- silence and timing


def test_a_participant_who_stops_sending_contributes_silence() -> None:
    bench = Bench()
    for call_id in "abc":
        bench.join(call_id, 1)
    bench.run(80, {"a": tone(440), "b": until(20, tone(1000)), "c": silence})
    assert bench.ticks == [3] * 80  # every frame on time, for everyone
    c = amplitudes(bench.heard("c", WINDOW))
    assert c[440] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert c[1000] < QUIET
    for call_id in "abc":
        received = bench.received[call_id]
        assert [p.sequence - received[0].sequence for p in received] == list(range(80))
        assert [p.timestamp - received[0].timestamp for p in received] == [
            FRAME * i for i in range(80)
        ]
    # B talks again: heard after the jitter buffer has filled again (2 frames)
    bench.run(55, {"a": tone(440), "b": tone(1000), "c": silence})
    assert amplitudes(bench.heard("c", WINDOW))[1000] == pytest.approx(AMPLITUDE, rel=LEVEL)


def test_nobody_sending_still_gives_frames() -> None:
    bench = Bench()
    bench.join("a", 1, PT_PCMA)
    bench.join("b", 1)
    bench.run(10, {})
    assert bench.ticks == [2] * 10
    assert {p.payload for p in bench.received["a"]} == {b"\xd5" * FRAME}
    assert {p.payload for p in bench.received["b"]} == {b"\xff" * FRAME}


def test_alone_in_a_room_hears_silence() -> None:
    bench = Bench()
    bench.join("a", 3)
    bench.run(5, {"a": tone(440)})
    assert bench.ticks == [1] * 5
    assert {p.payload for p in bench.received["a"]} == {b"\xff" * FRAME}


def test_the_stream_to_each_participant() -> None:
    bench = Bench()
    a, b = bench.join("a", 1, PT_PCMU), bench.join("b", 1, PT_PCMA)
    bench.run(4, {})
    for phone in (a, b):
        received = bench.received[phone.call_id]
        assert [p.marker for p in received] == [True, False, False, False]
        assert {p.payload_type for p in received} == {phone.payload_type}
        assert {len(p.payload) for p in received} == {FRAME}
        assert {p.csrcs for p in received} == {()}
        assert len({p.ssrc for p in received}) == 1
    assert bench.received["a"][0].ssrc != bench.received["b"][0].ssrc


def test_ssrcs_are_drawn_from_the_rng_or_counted() -> None:
    def ssrcs(mixer: Mixer) -> list[int]:
        for i in range(3):
            mixer.join(
                str(i), 1, payload_type=PT_PCMU, local=("1.1.1.1", i), remote=("2.2.2.2", i), now=0
            )
        return [parse_packet(d.data).ssrc for d in ticked(mixer, 0.02)]

    assert ssrcs(Mixer(rng=random.Random(1))) == ssrcs(Mixer(rng=random.Random(1)))
    assert len(set(ssrcs(Mixer(rng=random.Random(1))))) == 3
    assert ssrcs(Mixer()) == [1, 2, 3]


def test_ticks_follow_the_frame_grid_and_catch_up_a_few_frames() -> None:
    mixer = Mixer()
    assert mixer.get_timer() is None
    assert ticked(mixer, 1.0) == []
    mixer.join("a", 1, payload_type=PT_PCMU, local=("1.1.1.1", 1), remote=("2.2.2.2", 1), now=10.0)
    assert mixer.get_timer() == pytest.approx(10.02)
    assert ticked(mixer, 10.019) == []
    first = ticked(mixer, 10.02)
    assert len(first) == 1
    assert mixer.get_timer() == pytest.approx(10.04)
    # 9 frames are due (10.04 .. 10.20): 3 are sent, 6 skipped
    late = [parse_packet(d.data) for d in ticked(mixer, 10.2)]
    assert len(late) == MAX_CATCH_UP
    assert mixer.skipped_frames == 6
    assert mixer.get_timer() == pytest.approx(10.22)
    after = parse_packet(ticked(mixer, 10.22)[0].data)
    start = parse_packet(first[0].data)
    assert [p.sequence - start.sequence for p in [*late, after]] == [1, 2, 3, 4]
    # the timestamp says when: frame 10 (10.22 s) is 10 frames after the first
    assert [p.timestamp - start.timestamp for p in [*late, after]] == [160, 320, 480, 1600]


def test_the_clock_stops_when_everyone_has_left() -> None:
    bench = Bench()
    bench.join("a", 1)
    bench.run(3, {})
    bench.mixer.leave("a")
    assert bench.mixer.get_timer() is None
    assert ticked(bench.mixer, 10.0) == []
    bench.frame = 100
    bench.join("b", 2)
    assert bench.mixer.get_timer() == pytest.approx(bench.now + FRAME_S)


# ---------------------------------------------------------------- rooms


def test_two_rooms_do_not_hear_each_other() -> None:
    bench = Bench()
    bench.join("a", 1)
    bench.join("b", 1)
    bench.join("c", 2, PT_PCMA)
    bench.join("d", 2, PT_PCMA)
    assert bench.mixer.rooms() == {1: ["a", "b"], 2: ["c", "d"]}
    bench.run(60, {"a": tone(440), "b": silence, "c": tone(1000), "d": silence})
    b = amplitudes(bench.heard("b", WINDOW))
    d = amplitudes(bench.heard("d", WINDOW))
    assert b[440] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert d[1000] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert b[1000] < QUIET
    assert d[440] < QUIET


def test_leaving() -> None:
    bench = Bench()
    for call_id in "abc":
        bench.join(call_id, 1)
    sources = {"a": tone(440), "b": tone(1000), "c": silence}
    bench.run(20, sources)
    bench.mixer.leave("b")
    bench.mixer.leave("b")  # again: nothing happens
    bench.mixer.leave("never joined")
    assert bench.mixer.participants(1) == ["a", "c"]
    del sources["b"]
    bench.run(60, sources)
    assert bench.ticks == [3] * 20 + [2] * 60
    assert len(bench.received["b"]) == 20
    c = amplitudes(bench.heard("c", WINDOW))
    assert c[440] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert c[1000] < QUIET
    # what B sends after leaving is dropped
    bench.receive("b", bench.phones["b"].rtp(np.zeros(FRAME, np.int16)))
    assert bench.mixer.drops == Counter({"unknown call": 1})


def test_moving_to_another_room() -> None:
    bench = Bench()
    for call_id in "abc":
        bench.join(call_id, 1)
    bench.join("d", 2)
    sources = {"a": tone(440), "b": tone(1000), "c": silence, "d": silence}
    bench.run(20, sources)
    b_before = bench.received["b"][-1]
    bench.mixer.move("b", 2)
    assert bench.mixer.rooms() == {1: ["a", "c"], 2: ["b", "d"]}
    assert bench.mixer.participants(2) == ["b", "d"]
    assert bench.mixer.participants(7) == []
    bench.run(60, sources)
    c = amplitudes(bench.heard("c", WINDOW))
    d = amplitudes(bench.heard("d", WINDOW))
    b = amplitudes(bench.heard("b", WINDOW))
    assert c[440] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert c[1000] < QUIET
    assert d[1000] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert d[440] < QUIET
    assert b[440] < QUIET
    # B's stream goes on across the move
    assert bench.received["b"][20].sequence == (b_before.sequence + 1) & 0xFFFF
    assert bench.received["b"][20].ssrc == b_before.ssrc
    with pytest.raises(KeyError, match="no participant 'x'"):
        bench.mixer.move("x", 1)


def test_joining_again_changes_the_call_and_keeps_its_stream() -> None:
    bench = Bench()
    bench.join("a", 1)
    bench.join("b", 1)
    bench.run(3, {})
    bench.mixer.join(
        "a", 4, payload_type=PT_PCMA, local=(DEVICE_IP, 1), remote=("10.0.0.7", 2), now=bench.now
    )
    assert bench.mixer.rooms() == {1: ["b"], 4: ["a"]}
    datagrams = ticked(bench.mixer, bench.now + FRAME_S)
    moved = next(d for d in datagrams if d.dst == ("10.0.0.7", 2))
    assert moved.src == (DEVICE_IP, 1)
    packet = parse_packet(moved.data)
    assert packet.payload_type == PT_PCMA
    assert packet.sequence == (bench.received["a"][-1].sequence + 1) & 0xFFFF
    assert packet.ssrc == bench.received["a"][-1].ssrc


def test_join_takes_only_g711() -> None:
    with pytest.raises(ValueError, match="payload type 18 is neither PCMU"):
        Mixer().join("a", 1, payload_type=18, local=("1.1.1.1", 1), remote=("2.2.2.2", 2), now=0)


# ---------------------------------------------------------------- the jitter buffer


def test_packets_of_10_and_30_ms_are_rechunked() -> None:
    def ten_ms(i: int) -> list[Pcm]:
        (frame,) = tone(440)(i)
        return [frame[:80], frame[80:]]

    def thirty_ms(i: int) -> list[Pcm]:
        # packet p covers samples 240p .. 240p+239 and leaves at (p + 1) * 30 ms
        n = np.arange(RATE * 2)
        signal = np.round(AMPLITUDE * np.sin(2 * np.pi * 1000 * n / RATE)).astype(np.int16)
        return [
            signal[240 * p : 240 * (p + 1)]
            for p in range(100)
            if i * FRAME_MS < (p + 1) * 30 <= (i + 1) * FRAME_MS
        ]

    bench = Bench()
    bench.join("a", 1)
    bench.join("b", 1, PT_PCMA)
    bench.join("c", 1)
    bench.run(70, {"a": ten_ms, "b": thirty_ms, "c": silence})
    c = amplitudes(bench.heard("c", WINDOW))
    assert c[440] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert c[1000] == pytest.approx(AMPLITUDE, rel=LEVEL)
    assert np.delete(c, [440, 1000]).max() < NOISE
    frames = bench.heard("c")[3 * FRAME :].reshape(-1, FRAME)
    assert (np.abs(frames).max(axis=1) > AMPLITUDE).all()  # no frame of silence: no gaps
    assert bench.mixer.discarded_samples == 0


def test_a_burst_pushes_the_oldest_samples_out() -> None:
    bench = Bench()
    a = bench.join("a", 1)
    bench.join("b", 1)
    for i in range(10):
        bench.receive("a", a.rtp(np.full(FRAME, 100 * (i + 1), np.int16)))
    assert bench.mixer.discarded_samples == (10 - MAX_BUFFER_FRAMES) * FRAME
    bench.run(6, {})
    heard = [int(ulaw_decode(p.payload)[0]) for p in bench.received["b"]]
    assert heard == [int(ulaw_decode(ulaw_encode([v]))[0]) for v in (600, 700, 800, 900, 1000, 0)]


# ---------------------------------------------------------------- a node


def test_the_mixer_is_a_node_driven_by_the_pump() -> None:
    mixer = Mixer(rng=random.Random(3))
    node: Node = mixer
    sent: list[Datagram] = []
    pump: Pump[object] = Pump(node, send=sent.append)
    a = Phone("a", PT_PCMU, 6000, 0x5000)
    b = Phone("b", PT_PCMA, 6002, 0x5001)
    for phone in (a, b):
        mixer.join(
            phone.call_id,
            1,
            payload_type=phone.payload_type,
            local=phone.device,
            remote=phone.address,
            now=0.0,
        )
    assert pump.deadline == pytest.approx(FRAME_S)
    pump.receive(to_mixer(a, a.rtp(np.zeros(FRAME, np.int16))), 0.015)
    assert sent == []  # receiving sends nothing
    pump.timer(FRAME_S)
    assert {(d.src, d.dst) for d in sent} == {(a.device, a.address), (b.device, b.address)}
    assert [parse_packet(d.data).payload_type for d in sent] == [PT_PCMU, PT_PCMA]
    assert mixer.datagrams_to_send() == []  # the pump drained them
    assert pump.deadline == pytest.approx(2 * FRAME_S)
    assert mixer.dropped == 0


def test_datagrams_go_to_the_participant_at_their_destination() -> None:
    bench = Bench()
    a = bench.join("a", 1)
    b = bench.join("b", 1)
    assert bench.mixer.accepts(a.device)
    assert bench.mixer.accepts(b.device)
    assert not bench.mixer.accepts((DEVICE_IP, 1))
    assert not bench.mixer.accepts(a.address)  # where it sends to is not where it listens
    # joining again at another local address moves what the mixer accepts
    bench.mixer.join(
        "a", 1, payload_type=PT_PCMU, local=(DEVICE_IP, 1), remote=a.address, now=bench.now
    )
    assert bench.mixer.accepts((DEVICE_IP, 1))
    assert not bench.mixer.accepts(a.device)
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))  # to its old address: nobody's
    assert bench.mixer.drops == Counter({"unknown call": 1})
    moved = Datagram(a.rtp(np.zeros(FRAME, np.int16)), a.address, (DEVICE_IP, 1))
    bench.mixer.receive_datagram(moved, bench.now)
    assert bench.mixer.dropped == 1
    bench.mixer.leave("a")
    assert not bench.mixer.accepts((DEVICE_IP, 1))
    assert bench.mixer.accepts(b.device)


def test_two_participants_at_one_address() -> None:
    digits: list[tuple[str, str]] = []
    mixer = Mixer(on_digit=lambda call_id, key: digits.append((call_id, key)))
    local = (DEVICE_IP, 1)
    for call_id in "ab":
        mixer.join(call_id, 1, payload_type=PT_PCMU, local=local, remote=("10.0.0.9", 2), now=0)
    phone = Phone("x", PT_PCMU, 2, 0x5000)
    press = Datagram(phone.event(1, 0, 160), phone.address, local)
    mixer.receive_datagram(press, 0.0)
    assert digits == [("b", "1")]  # the one that joined last
    mixer.leave("b")
    assert mixer.accepts(local)  # the other one is still there
    mixer.receive_datagram(Datagram(phone.event(2, 160, 160), phone.address, local), 0.0)
    assert digits == [("b", "1"), ("a", "2")]
    mixer.leave("a")
    assert not mixer.accepts(local)


# ---------------------------------------------------------------- drops


def test_what_cannot_be_used_is_dropped_and_counted() -> None:
    bench = Bench()
    a = bench.join("a", 1, PT_PCMU)
    bench.join("b", 1)
    good = a.rtp(np.full(FRAME, 1000, np.int16))
    pcma = encode_packet(RtpPacket(payload_type=PT_PCMA, sequence=1, timestamp=0, ssrc=1))
    rtcp = bytes.fromhex("80c8000600000001") + bytes(20)  # an RTCP sender report
    bench.receive("a", b"\x00")
    bench.receive("a", bytes([0x40]) + good[1:])  # version 1
    bench.receive("a", pcma)
    bench.receive("a", rtcp)
    nobody = Phone("nobody", PT_PCMU, 5000, 0x4FFF)  # to a port no participant has
    bench.mixer.receive_datagram(to_mixer(nobody, good), bench.now)
    bench.receive("a", good)
    bench.receive("a", good)  # the same sequence number again
    bench.receive("a", a.event(5, 0, 160)[:-1])  # an event of 3 bytes
    assert bench.mixer.dropped == 7
    assert bench.mixer.drops == Counter(
        {"malformed": 3, "payload type": 2, "unknown call": 1, "late": 1}
    )
    bench.run(3, {"a": silence})
    assert bench.ticks == [2, 2, 2]


def test_late_and_new_sources() -> None:
    bench = Bench()
    a = bench.join("a", 1)
    bench.join("b", 1)
    first = a.rtp(np.zeros(FRAME, np.int16))
    second = a.rtp(np.zeros(FRAME, np.int16))
    bench.receive("a", second)
    bench.receive("a", first)  # older: dropped
    assert bench.mixer.drops == Counter({"late": 1})
    a.ssrc, a.sequence = 77, 0  # a new source (a re-INVITE): its numbering starts over
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))
    a.sequence = 0xFFFF
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))  # 65535 is before 0: late
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))  # 0 again: a duplicate
    a.sequence = 101
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))  # ahead: taken
    a.sequence = 0
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))  # 101 back: numbering anew, taken
    a.sequence = 40000
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))  # far away: taken
    a.sequence = 39900
    bench.receive("a", a.rtp(np.zeros(FRAME, np.int16)))  # 100 back: late
    assert bench.mixer.drops == Counter({"late": 4})


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_receive_never_raises(packets: list[bytes]) -> None:
    mixer = Mixer(on_digit=lambda call_id, key: None)
    mixer.join("a", 1, payload_type=PT_PCMU, local=("1.1.1.1", 1), remote=("2.2.2.2", 2), now=0)
    for data in packets:
        mixer.receive_datagram(Datagram(data, ("2.2.2.2", 2), ("1.1.1.1", 1)), 0.0)
        events = Datagram(b"\x80\x65" + data, ("2.2.2.2", 2), ("1.1.1.1", 1))
        mixer.receive_datagram(events, 0.0)  # as telephone events
    assert len(ticked(mixer, 0.02)) == 1


# ---------------------------------------------------------------- DTMF


def test_digits_are_reported_once_per_event() -> None:
    digits: list[tuple[str, str]] = []
    bench = Bench(on_digit=lambda call_id, key: digits.append((call_id, key)))
    a = bench.join("a", 1)
    b = bench.join("b", 1)

    def press(phone: Phone, event: int, timestamp: int) -> None:
        for duration in (160, 320, 480):
            bench.receive(phone.call_id, phone.event(event, timestamp, duration))
        for _ in range(3):  # the end packet, sent three times
            bench.receive(phone.call_id, phone.event(event, timestamp, 640, end=True))

    press(a, 5, 1000)
    press(a, 11, 3000)
    press(a, 5, 5000)  # the same key again
    press(b, 10, 1000)
    press(a, 12, 7000)  # "A": not a digit
    press(a, 16, 8000)  # flash: not a digit
    bench.receive("a", a.event(9, 9000, 640, end=True))  # only the end arrived
    assert digits == [("a", "5"), ("a", "#"), ("a", "5"), ("b", "*"), ("a", "9")]
    assert bench.mixer.dropped == 0


def test_events_do_not_disturb_the_audio() -> None:
    bench = Bench(on_digit=lambda call_id, key: None)
    a = bench.join("a", 1)
    bench.join("b", 1)
    bench.run(10, {"a": tone(440)})
    bench.receive("a", a.event(1, 0, 160))
    bench.run(50, {"a": tone(440)})
    assert amplitudes(bench.heard("b", WINDOW))[440] == pytest.approx(AMPLITUDE, rel=LEVEL)


def test_digits_without_a_listener_are_ignored() -> None:
    bench = Bench()
    a = bench.join("a", 1)
    bench.receive("a", a.event(1, 0, 160))
    assert bench.mixer.dropped == 0


# ---------------------------------------------------------------- membership, as a model

ops = st.lists(
    st.tuples(
        st.sampled_from(["join", "move", "leave", "tick"]),
        st.sampled_from("abcdef"),
        st.integers(0, 3),
    ),
    max_size=40,
)


@given(ops)
def test_membership_against_a_model(steps: list[tuple[str, str, int]]) -> None:
    mixer = Mixer(rng=random.Random(0))
    model: dict[str, int] = {}
    now = 0.0
    for op, call_id, room in steps:
        if op == "join":
            mixer.join(
                call_id,
                room,
                payload_type=PT_PCMU,
                local=("1.1.1.1", 1),
                remote=(call_id, 1),
                now=now,
            )
            model[call_id] = room
        elif op == "move" and call_id in model:
            mixer.move(call_id, room)
            model[call_id] = room
        elif op == "leave":
            mixer.leave(call_id)
            model.pop(call_id, None)
        elif op == "tick":
            now += FRAME_S
            datagrams = ticked(mixer, now)
            assert sorted(d.dst[0] for d in datagrams) == sorted(model)
        expected: dict[int, list[str]] = defaultdict(list)
        for member, member_room in model.items():
            expected[member_room].append(member)
        assert mixer.rooms() == dict(sorted(expected.items()))
        for r in range(4):
            assert mixer.participants(r) == expected.get(r, [])
        assert (mixer.get_timer() is None) == (not model)

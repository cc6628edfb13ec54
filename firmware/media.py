"""The conference interface's media: RTP in, a mix per room, RTP out (sans-I/O).

:class:`Mixer` is what the CONF interface's calls (``conf.py``, the SIP side) hand their
media to. Each call is a participant in a room: it sends G.711 RTP (PCMU or PCMA) and
RFC 4733 telephone events to the mixer, at its ``local`` address, and every 20 ms the
mixer sends it one packet with the sum of what the *other* participants of its room said.
The mixer is a node (``ipgwsim.proto.node``): :meth:`Mixer.receive_datagram` takes the
packets, :meth:`Mixer.get_timer` is the next frame, :meth:`Mixer.handle_timer` mixes the
frames due and :meth:`Mixer.datagrams_to_send` gives their packets. The codec is
``ipgwsim.proto.rtp``. The decisions are in firmware/README.md, "Conference media".
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.rtp import (
    ALAW_DECODE,
    ALAW_ENCODE,
    EVENT_KEYS,
    ULAW_DECODE,
    ULAW_ENCODE,
    MalformedRtp,
    RtpPacket,
    encode_packet,
    parse_event,
    parse_packet,
)

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "FRAME_MS",
    "FRAME_SAMPLES",
    "MAX_BUFFER_FRAMES",
    "MAX_CATCH_UP",
    "MAX_MISORDER",
    "PREFILL_FRAMES",
    "PT_EVENT",
    "PT_PCMA",
    "PT_PCMU",
    "SAMPLE_RATE",
    "Mixer",
]

PT_PCMU, PT_PCMA, PT_EVENT = 0, 8, 101
FRAME_MS = 20  # 160 samples at 8 kHz
SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = SAMPLE_RATE * FRAME_MS // 1000
#: A participant's audio starts playing once this many frames wait (again after it ran dry).
PREFILL_FRAMES: Final = 2
#: At most this many frames wait; more push the oldest samples out.
MAX_BUFFER_FRAMES: Final = 5
#: At most this many frames are sent by one ``handle_timer``; the mixer skips the rest.
MAX_CATCH_UP: Final = 3
#: A packet at most this many sequence numbers behind the newest is late, and dropped.
MAX_MISORDER: Final = 100
#: The keys reported to ``on_digit`` (RFC 4733 events 0..11).
DIGITS: Final = EVENT_KEYS[:12]

_FRAME_S = FRAME_MS / 1000
_EPSILON = 1e-9  # float slack when comparing device times with the frame grid
_EMPTY: Final = np.zeros(0, dtype=np.int16)  # no samples waiting
_DECODE = {PT_PCMU: ULAW_DECODE, PT_PCMA: ALAW_DECODE}
#: Row 0 µ-law, row 1 A-law: one fancy index encodes a whole tick.
_ENCODE = np.stack([ULAW_ENCODE, ALAW_ENCODE])
_ENCODE_ROW = {PT_PCMU: 0, PT_PCMA: 1}
_RECENT_EVENTS = 8


@dataclass(eq=False)
class _Participant:
    call_id: str
    room: int
    payload_type: int
    local: Address
    remote: Address
    order: int
    # what it is sent
    ssrc: int
    sequence: int
    timestamp_base: int
    first_frame: int
    sent: int = 0
    # what it sends
    pending: npt.NDArray[np.int16] = field(default_factory=lambda: _EMPTY)
    playing: bool = False
    rx_ssrc: int | None = None
    rx_sequence: int = 0
    recent_events: deque[tuple[int, int, int]] = field(
        default_factory=lambda: deque(maxlen=_RECENT_EVENTS)
    )

    def take_frame(self) -> npt.NDArray[np.int16] | None:
        """The next frame it said, or None (silence: nothing waits, or still filling)."""
        if not self.playing:
            if len(self.pending) < PREFILL_FRAMES * FRAME_SAMPLES:
                return None
            self.playing = True
        if len(self.pending) < FRAME_SAMPLES:
            self.playing = False  # ran dry: fill again before playing on
            return None
        frame = self.pending[:FRAME_SAMPLES]
        self.pending = self.pending[FRAME_SAMPLES:]
        return frame


def _late(sequence: int, last: int) -> bool:
    """Whether ``sequence`` repeats ``last`` or is at most MAX_MISORDER before it.

    A number further back is taken as the source numbering anew (RFC 3550 A.1 does
    the same after two such packets), so a sender that starts over never goes unheard.
    """
    return (last - sequence) & 0xFFFF <= MAX_MISORDER


class Mixer:
    """Rooms of participants, each hearing the others of its room; see the module doc.

    A node (``ipgwsim.proto.node.Node``): a datagram is for the participant whose
    ``local`` is its destination.
    """

    def __init__(
        self,
        *,
        on_digit: Callable[[str, str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``on_digit(call_id, key)`` is called once per RFC 4733 event ``0``-``9*#``.

        ``rng`` draws each participant's SSRC, first sequence number and first timestamp
        (RFC 3550: random); without one they are a counter from 1, 0 and 0.
        """
        self._on_digit = on_digit
        self._rng = rng
        self._participants: dict[str, _Participant] = {}
        #: Who sends from and receives at each local address (the one that joined last).
        self._by_local: dict[Address, _Participant] = {}
        self._outbox: list[Datagram] = []
        self._joins = 0
        self._epoch: float | None = None
        self._frame = 0  # the index of the next frame due, at epoch + frame * 20 ms
        self._layout: _Layout | None = None
        #: Packets ``receive_datagram`` dropped; ``drops`` says why ("unknown call":
        #: no participant at its destination, "malformed", "payload type", "late").
        self.dropped = 0
        self.drops: Counter[str] = Counter()
        #: Samples pushed out of full jitter buffers.
        self.discarded_samples = 0
        #: Frames ``handle_timer`` skipped because it was called too late to catch up.
        self.skipped_frames = 0

    # ------------------------------------------------------------------ membership

    def join(
        self,
        call_id: str,
        room: int,
        *,
        payload_type: int,
        local: Address,
        remote: Address,
        now: float,
    ) -> None:
        """A participant: it sends RTP to ``remote`` from ``local``; PT_PCMU or PT_PCMA.

        Joining again with the same ``call_id`` (a re-INVITE) changes its room, payload
        type and addresses; its outgoing stream (SSRC, sequence, timestamp) goes on.
        Datagrams to ``local`` are its from now on.
        """
        if payload_type not in _DECODE:
            raise ValueError(f"payload type {payload_type} is neither PCMU (0) nor PCMA (8)")
        if self._epoch is None:  # the first participant starts the clock
            self._epoch, self._frame = now, 1
        existing = self._participants.get(call_id)
        if existing is not None:
            if existing.local != local:
                self._unindex(existing)
            existing.room, existing.payload_type = room, payload_type
            existing.local, existing.remote = local, remote
            self._by_local[local] = existing
        else:
            self._joins += 1
            if self._rng is not None:
                ssrc = self._rng.getrandbits(32)
                sequence = self._rng.getrandbits(16)
                timestamp = self._rng.getrandbits(32)
            else:
                ssrc, sequence, timestamp = self._joins, 0, 0
            self._participants[call_id] = self._by_local[local] = _Participant(
                call_id,
                room,
                payload_type,
                local,
                remote,
                order=self._joins,
                ssrc=ssrc,
                sequence=sequence,
                timestamp_base=timestamp,
                first_frame=self._frame,
            )
        self._layout = None

    def move(self, call_id: str, room: int) -> None:
        """Put the participant into ``room`` (KeyError if it has not joined)."""
        participant = self._participants.get(call_id)
        if participant is None:
            raise KeyError(f"no participant {call_id!r}")
        participant.room = room
        self._layout = None

    def leave(self, call_id: str) -> None:
        """The participant is gone (nothing happens if it never joined or already left)."""
        participant = self._participants.pop(call_id, None)
        if participant is None:
            return
        self._unindex(participant)
        self._layout = None
        if not self._participants:
            self._epoch = None

    def _unindex(self, participant: _Participant) -> None:
        """Its ``local`` is no longer its: another participant's there, if one is."""
        local = participant.local
        if self._by_local.get(local) is not participant:
            return
        del self._by_local[local]
        for other in self._participants.values():
            if other is not participant and other.local == local:
                self._by_local[local] = other
                break

    def participants(self, room: int) -> list[str]:
        """The call ids in ``room``, in the order they joined."""
        return [p.call_id for p in self._participants.values() if p.room == room]

    def rooms(self) -> dict[int, list[str]]:
        """Every room with someone in it (by number) and its call ids, in join order."""
        rooms: dict[int, list[str]] = {}
        for p in self._participants.values():
            rooms.setdefault(p.room, []).append(p.call_id)
        return dict(sorted(rooms.items()))

    # ------------------------------------------------------------------ receiving

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        self.drops[reason] += 1

    def accepts(self, dst: Address) -> bool:
        """Whether a participant sends from and receives at ``dst``."""
        return dst in self._by_local

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        """One RTP packet for the participant at its destination; what cannot be used is
        dropped and counted. Never raises."""
        participant = self._by_local.get(datagram.dst)
        if participant is None:
            self._drop("unknown call")
            return
        try:
            packet = parse_packet(datagram.data)
        except MalformedRtp:
            self._drop("malformed")
            return
        if packet.payload_type == PT_EVENT:
            self._event(participant, packet)
        elif packet.payload_type != participant.payload_type:
            self._drop("payload type")
        elif participant.rx_ssrc == packet.ssrc and _late(packet.sequence, participant.rx_sequence):
            self._drop("late")
        else:
            participant.rx_ssrc, participant.rx_sequence = packet.ssrc, packet.sequence
            self._store(participant, packet.payload)

    def _store(self, participant: _Participant, payload: bytes) -> None:
        samples = _DECODE[participant.payload_type][np.frombuffer(payload, dtype=np.uint8)]
        pending = np.concatenate((participant.pending, samples))
        excess = len(pending) - MAX_BUFFER_FRAMES * FRAME_SAMPLES
        if excess > 0:
            self.discarded_samples += excess
            pending = pending[excess:]
        participant.pending = pending

    def _event(self, participant: _Participant, packet: RtpPacket) -> None:
        try:
            event = parse_event(packet.payload)
        except MalformedRtp:
            self._drop("malformed")
            return
        key = (packet.ssrc, packet.timestamp, event.event)
        if key in participant.recent_events:
            return
        participant.recent_events.append(key)
        if event.event < len(DIGITS) and self._on_digit is not None:
            self._on_digit(participant.call_id, DIGITS[event.event])

    # ------------------------------------------------------------------ sending

    def get_timer(self) -> float | None:
        """The device time of the next 20 ms frame; None while nobody is in a room."""
        if self._epoch is None:
            return None
        return self._epoch + self._frame * _FRAME_S

    def handle_timer(self, now: float) -> None:
        """Queue the packets of every frame due by ``now`` (at most MAX_CATCH_UP frames)."""
        done = 0
        while self._epoch is not None and self._epoch + self._frame * _FRAME_S <= now + _EPSILON:
            if done == MAX_CATCH_UP:
                self._skip(math.floor((now + _EPSILON - self._epoch) / _FRAME_S) + 1)
                break
            self._mix(self._outbox)
            self._frame += 1
            done += 1

    def datagrams_to_send(self) -> list[Datagram]:
        """The packets queued by :meth:`handle_timer` since the last call (drained)."""
        out, self._outbox = self._outbox, []
        return out

    def _skip(self, frame: int) -> None:
        """Go on at ``frame``; each participant's audio of the frames in between is lost."""
        missed = frame - self._frame
        self.skipped_frames += missed
        self._frame = frame
        for participant in self._participants.values():
            for _ in range(missed):
                if participant.take_frame() is None:
                    break

    def _mix(self, datagrams: list[Datagram]) -> None:
        layout = self._layout
        if layout is None:
            layout = self._layout = _Layout.of(list(self._participants.values()))
        members = layout.members
        frames = np.zeros((len(members), FRAME_SAMPLES), dtype=np.int32)
        for row, participant in enumerate(members):
            frame = participant.take_frame()
            if frame is not None:
                frames[row] = frame
        # every row hears its room's sum minus itself, saturated to 16 bits
        sums = np.add.reduceat(frames, layout.room_starts, axis=0)
        heard = sums[layout.room_of] - frames
        np.clip(heard, -0x8000, 0x7FFF, out=heard)
        codes = _ENCODE[layout.encode_rows, heard.astype(np.uint16)]
        for row, participant in enumerate(members):
            packet = RtpPacket(
                payload_type=participant.payload_type,
                sequence=participant.sequence,
                timestamp=(
                    participant.timestamp_base
                    + (self._frame - participant.first_frame) * FRAME_SAMPLES
                )
                & 0xFFFF_FFFF,
                ssrc=participant.ssrc,
                payload=codes[row].tobytes(),
                marker=participant.sent == 0,
            )
            participant.sequence = (participant.sequence + 1) & 0xFFFF
            participant.sent += 1
            datagrams.append(Datagram(encode_packet(packet), participant.local, participant.remote))


@dataclass(frozen=True)
class _Layout:
    """The participants sorted by room, where each room starts, and how to encode each."""

    members: list[_Participant]
    room_starts: npt.NDArray[np.intp]
    room_of: npt.NDArray[np.intp]
    encode_rows: npt.NDArray[np.intp]

    @classmethod
    def of(cls, participants: list[_Participant]) -> _Layout:
        members = sorted(participants, key=lambda p: (p.room, p.order))
        starts: list[int] = []
        room_of: list[int] = []
        for row, participant in enumerate(members):
            if row == 0 or participant.room != members[row - 1].room:
                starts.append(row)
            room_of.append(len(starts) - 1)
        return cls(
            members,
            np.array(starts, dtype=np.intp),
            np.array(room_of, dtype=np.intp),
            np.array([[_ENCODE_ROW[p.payload_type]] for p in members], dtype=np.intp),
        )

"""How many conference participants one ``Mixer`` serves in real time (run by hand).

    .venv/bin/python benchmarks/bench_mixer.py            # full run, about a minute
    .venv/bin/python benchmarks/bench_mixer.py --quick    # fewer ticks, a smaller search
    .venv/bin/python benchmarks/bench_mixer.py --json out.json  # also write the numbers

One ``ipgwsim.firmware.media.Mixer`` with N participants, half PCMU and half PCMA, each
sending a 20 ms packet of its own sine tone every tick, in two layouts:

- **one room**: all N in room 0 (each hears the other N - 1);
- **rooms of 3-5**: rooms of 3, 4, 5, 3, 4, 5, ... participants (the last one smaller).

A *period* is what the device must do every 20 ms: ``receive_datagram`` one packet from
each participant (parse, decode, jitter buffer) and one ``handle_timer`` (mix, encode, N
packets out, drained by ``datagrams_to_send``). The packets are built outside the timer.
Each N is warmed up, then ``--ticks`` periods are timed with ``time.perf_counter`` and
the median is shown, with the 95th percentile (garbage collection, the machine's other
work). The search doubles N until a period's median passes the budget, then bisects: the
largest N whose period takes less than 20 ms (real time) and less than 10 ms (half the
CPU left for the rest). Next to it: the hardware profiles' ``[conference] channels``.
Nothing is asserted; the table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ipgwsim.firmware.media import FRAME_MS, PT_PCMA, PT_PCMU, Mixer
from ipgwsim.hw_profiles import load_profiles
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.rtp import RtpPacket, alaw_encode, encode_packet, ulaw_encode

FRAME = 160
FRAME_S = FRAME_MS / 1000
BUDGETS_MS = (20.0, 10.0)
ENCODE = {PT_PCMU: ulaw_encode, PT_PCMA: alaw_encode}


@dataclass(frozen=True)
class Sample:
    participants: int
    layout: str
    tick_ms: float
    period_ms: float
    period_p95_ms: float


def room_sizes(n: int, layout: str) -> list[int]:
    if layout == "one room":
        return [n]
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(min(3 + len(sizes) % 3, n - sum(sizes)))
    return sizes


class Load:
    """A mixer with ``n`` talking participants and their packets, frame by frame."""

    def __init__(self, n: int, layout: str) -> None:
        self.mixer = Mixer(rng=random.Random(n))
        self.calls: list[tuple[Address, Address, int, int]] = []  # local, remote, pt, ssrc
        call = 0
        for room, size in enumerate(room_sizes(n, layout)):
            for _ in range(size):
                payload_type = PT_PCMU if call % 2 == 0 else PT_PCMA
                local, remote = ("10.0.0.5", 30000 + 2 * call), ("10.0.1.1", 40000 + 2 * call)
                self.mixer.join(
                    f"call-{call}",
                    room,
                    payload_type=payload_type,
                    local=local,
                    remote=remote,
                    now=0.0,
                )
                self.calls.append((local, remote, payload_type, 0x1000 + call))
                call += 1
        self.frame = 0
        # one second of each participant's tone, coded, cut into frames
        n_samples = np.arange(8000)
        self.audio = [
            ENCODE[payload_type](
                np.round(
                    6000 * np.sin(2 * np.pi * (200 + 37 * (i % 90)) * n_samples / 8000)
                ).astype(np.int16)
            )
            for i, (_, _, payload_type, _) in enumerate(self.calls)
        ]

    def packets(self) -> list[Datagram]:
        """Each participant's packet of the current frame, from its remote to its local."""
        at = (self.frame % 50) * FRAME
        return [
            Datagram(
                encode_packet(
                    RtpPacket(
                        payload_type=payload_type,
                        sequence=self.frame & 0xFFFF,
                        timestamp=(self.frame * FRAME) & 0xFFFF_FFFF,
                        ssrc=ssrc,
                        payload=self.audio[i][at : at + FRAME],
                    )
                ),
                remote,
                local,
            )
            for i, (local, remote, payload_type, ssrc) in enumerate(self.calls)
        ]

    def period(self) -> tuple[float, float]:
        """One 20 ms period, timed: (receive + tick, tick) in seconds."""
        packets = self.packets()
        self.frame += 1
        now = self.frame * FRAME_S
        receive = self.mixer.receive_datagram
        start = time.perf_counter()
        for datagram in packets:
            receive(datagram, now)
        middle = time.perf_counter()
        self.mixer.handle_timer(now)
        sent = self.mixer.datagrams_to_send()
        end = time.perf_counter()
        if len(sent) != len(self.calls) or self.mixer.dropped:
            raise RuntimeError(f"{len(sent)} packets sent, {self.mixer.dropped} dropped")
        return end - start, end - middle


def measure(n: int, layout: str, ticks: int) -> Sample:
    load = Load(n, layout)
    for _ in range(10):  # fill the jitter buffers, warm the caches
        load.period()
    periods: list[float] = []
    tick_times: list[float] = []
    for _ in range(ticks):
        period, tick = load.period()
        periods.append(period * 1e3)
        tick_times.append(tick * 1e3)
    periods.sort()
    return Sample(
        n,
        layout,
        statistics.median(tick_times),
        statistics.median(periods),
        periods[min(len(periods) - 1, int(0.95 * len(periods)))],
    )


def largest_within(
    budget_ms: float, layout: str, sample: Callable[[int, str], Sample], start: int
) -> int:
    """The largest N whose period's median stays below ``budget_ms``."""
    low, high = 0, start
    while sample(high, layout).period_ms < budget_ms:
        low, high = high, high * 2
    while high - low > max(1, low // 50):  # within 2 %
        middle = (low + high) // 2
        if sample(middle, layout).period_ms < budget_ms:
            low = middle
        else:
            high = middle
    return low


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks per N")
    parser.add_argument("--ticks", type=int, help="periods timed per N (default 200, quick 40)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ticks = args.ticks or (40 if args.quick else 200)
    layouts = ("one room", "rooms of 3-5")
    cache: dict[tuple[int, str], Sample] = {}

    def sample(n: int, layout: str) -> Sample:
        if (n, layout) not in cache:
            progress(f"{layout}: {n} participants")
            cache[n, layout] = measure(n, layout, ticks)
        return cache[n, layout]

    gc.collect()
    table_ns = [3, 5, 10, 30, 60, 100, 150, 300, 600, 1000]
    if args.quick:
        table_ns = [3, 10, 60, 150, 600]
    for layout in layouts:
        for n in table_ns:
            sample(n, layout)
    capacity = {
        (layout, budget): largest_within(budget, layout, sample, 64)
        for layout in layouts
        for budget in BUDGETS_MS
    }

    print(
        f"Mixer capacity: {platform.python_implementation()} {platform.python_version()}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"{platform.platform()}; median of {ticks} periods per N"
    )
    print()
    print(f"{'N':>6}  {'layout':<13} {'tick ms':>9} {'period ms':>10} {'p95 ms':>8}  per call")
    for layout in layouts:
        for n in sorted(n for n, lay in cache if lay == layout):
            s = cache[n, layout]
            print(
                f"{n:>6}  {layout:<13} {s.tick_ms:>9.3f} {s.period_ms:>10.3f} "
                f"{s.period_p95_ms:>8.3f}  {1e3 * s.period_ms / n:6.1f} us"
            )
    print()
    print("largest N whose period (receive N packets + one tick) has a median below:")
    for layout in layouts:
        cells = ", ".join(f"{budget:g} ms: {capacity[layout, budget]}" for budget in BUDGETS_MS)
        print(f"  {layout:<13} {cells}")
    profiles = load_profiles()
    channels = ", ".join(
        f"{p.model} {p.conference.channels}"
        for p in sorted(profiles.values(), key=lambda p: (-p.conference.channels, p.model))
    )
    print(f"profiles' [conference] channels: {channels}")
    if args.json is not None:
        payload = {
            "machine": {
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "numpy": np.__version__,
                "nproc": str(os.cpu_count()),
                "platform": platform.platform(),
            },
            "ticks": ticks,
            "samples": [asdict(cache[key]) for key in sorted(cache, key=lambda k: (k[1], k[0]))],
            "capacity": [
                {"layout": layout, "budget_ms": budget, "participants": capacity[layout, budget]}
                for layout in layouts
                for budget in BUDGETS_MS
            ],
            "channels": {p.model: p.conference.channels for p in profiles.values()},
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

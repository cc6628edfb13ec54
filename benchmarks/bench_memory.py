"""The memory an idle device costs, by component (run by hand, not a test).

    .venv/bin/python benchmarks/bench_memory.py               # 1,000 devices; RSS 1,000-3,000
    .venv/bin/python benchmarks/bench_memory.py --quick       # 100 devices, RSS of 100 and 200
    .venv/bin/python benchmarks/bench_memory.py --count 500 --rss-counts 1000 4000
    .venv/bin/python benchmarks/bench_memory.py --json out.json

One runtime on loopback in virtual time (``ManualClock``), in this process. For each of
two states of an idle IP6000, separately:

- **firmware**: factory flash, powered on, its firmware running;
- **TFTP mode**: the same, then a 1.8 s press on the reset button of each;

the script adds ``--count`` devices, lets 30 device seconds pass, collects the garbage
and compares two ``tracemalloc`` snapshots (taken before the devices were added and
after). Each allocation still live is put to one component by the innermost frame of
its traceback that lies in ipgwsim (or, before that, in ``asyncio``'s timers or the
socket modules); a line that makes a ``random.Random`` is the component "random
generators" wherever it is. The bytes per device are the sum divided by the count.
Beside it, the objects the garbage collector tracks that are new after the devices were
added, counted by type with ``sys.getsizeof`` (their own size, not what they refer to;
``bytes`` and ``str`` are not tracked by the collector and are left out of that table).

Then the resident set size (``psutil``) per device: for each of ``--rss-counts``, a
fresh process of this script adds that many devices with running firmware and no
tracemalloc, and reports (RSS after - RSS before) / count. Each device has a pty for its
console, so a runtime holds at most ``/proc/sys/kernel/pty/max`` devices (4,096 by
default), less the ptys others use: a count above that is reported as not run.

Goal (docs/benchmarks.md, *Memory per idle device*): 10,000 idle devices with running
firmware in one runtime under 2 GiB, that is under 2 GiB / 10,000 (209.7 KiB) RSS per
device at the largest count measured.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import linecache
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from hostinfo import loadavg

import ipgwsim
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, manual_runtime

MODEL = "IP6000"
GIB = 1024**3
#: 10,000 idle devices in under 2 GiB.
GOAL_DEVICES = 10_000
GOAL_BYTES_PER_DEVICE = 2 * GIB / GOAL_DEVICES
#: Device seconds the devices idle before the second snapshot.
IDLE_S = 30.0
#: Frames kept per allocation: enough to reach ipgwsim from the stdlib's allocations.
FRAMES = 25

#: The package's own folders (src/ipgwsim holds symlinks to them; both are matched).
PACKAGE_DIRS = tuple(
    {str(Path(ipgwsim.__file__).resolve().parent), str(Path(ipgwsim.__file__).parent)}
)

#: ipgwsim's modules by component (the first match of "layer/module" wins).
COMPONENTS = (
    ("flash/nor.py", "flash: NorFlash sectors and wear"),
    ("flash/", "flash: partitions, stores, faults"),
    ("boot/", "boot code"),
    ("firmware/", "firmware"),
    ("device/", "device model"),
    ("runtime/link.py", "link"),
    ("runtime/impair.py", "link"),
    ("runtime/capture.py", "link"),
    ("runtime/console.py", "console"),
    ("runtime/consoleclients.py", "console"),
    ("runtime/terminal.py", "terminals"),
    ("runtime/host", "host (DeviceHost, its web and fetches)"),
    ("runtime/loopback.py", "sockets (loopback network)"),
    ("runtime/network.py", "sockets (loopback network)"),
    ("runtime/", "runtime (registry, state, presses)"),
    ("proto/", "protocol cores"),
    ("events/", "events"),
    ("hw_profiles/", "hardware profiles"),
)
#: Standard-library files that name the component themselves.
STDLIB = (
    ("asyncio/events.py", "timers (asyncio handles)"),
    ("asyncio/base_events.py", "timers (asyncio handles)"),
    ("selectors.py", "sockets (selector)"),
    ("asyncio/selector_events.py", "sockets (selector)"),
    ("socket.py", "sockets (selector)"),
)
RANDOM = "random generators"


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def package_path(filename: str) -> str | None:
    """``layer/module.py`` of a file of ipgwsim, or None."""
    for root in PACKAGE_DIRS:
        if filename.startswith(root + os.sep):
            return filename[len(root) + 1 :]
    return None


def component_of(trace: tracemalloc.Traceback) -> str:
    """The component an allocation belongs to (module docstring)."""
    frames = list(reversed(trace))  # tracemalloc lists the oldest frame first
    inner = frames[0]
    if "Random(" in linecache.getline(inner.filename, inner.lineno):
        return RANDOM
    for frame in frames:
        for suffix, name in STDLIB:
            if frame.filename.endswith(os.sep + suffix):
                return name
        path = package_path(frame.filename)
        if path is not None:
            if "Random(" in linecache.getline(frame.filename, frame.lineno):
                return RANDOM
            for prefix, name in COMPONENTS:
                if path.startswith(prefix):
                    return name
            return f"other ipgwsim ({path})"
    return "other (Python, libraries)"


@dataclass
class Row:
    name: str
    bytes_per_device: float
    blocks_per_device: float


@dataclass
class Census:
    state: str
    count: int
    bytes_per_device: float = 0.0
    components: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    types: list[Row] = field(default_factory=list)
    random_generators_per_device: float = 0.0


def live_ids() -> set[int]:
    gc.collect()
    return {id(o) for o in gc.get_objects()}


async def settle(runtime: Runtime, clock: ManualClock, state: str, count: int) -> None:
    """Add ``count`` devices and leave them idle in ``state``; SystemExit if one is not."""
    hosts = runtime.add_devices(MODEL, count)
    await clock.advance(IDLE_S)
    if state == "TFTP mode":
        released = [runtime.press(host.name, 1.8) for host in hosts]
        await clock.advance(1.8)
        await asyncio.gather(*released)
        await clock.advance(IDLE_S)
    modes = Counter(host.device.boot.mode.value for host in hosts)
    if modes != Counter({state: count}):
        raise SystemExit(f"bench_memory: the devices are not all idle in {state}: {modes}")


async def census(state: str, count: int) -> Census:
    ports = Ports()
    with tempfile.TemporaryDirectory(prefix="bench_memory.") as tmp:
        async with manual_runtime(Path(tmp) / "state", ports) as (runtime, clock):
            # One device first: what the first costs once (imports, caches) is not per device.
            await settle(runtime, clock, state, 1)
            gc.collect()
            before_ids = {id(o) for o in gc.get_objects()}
            tracemalloc.start(FRAMES)
            before = tracemalloc.take_snapshot()
            await settle(runtime, clock, state, count)
            gc.collect()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            new = [o for o in gc.get_objects() if id(o) not in before_ids and o is not before_ids]
            del before_ids
            result = Census(state, count)
            by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for obj in new:
                entry = by_type[type(obj).__qualname__]
                entry[0] += sys.getsizeof(obj)
                entry[1] += 1
            randoms = sum(1 for o in new if type(o) is random.Random)
            del new
            result.random_generators_per_device = randoms / count
            result.types = top(
                [Row(name, b / count, n / count) for name, (b, n) in by_type.items()], 25
            )
            diff = after.compare_to(before, "traceback")
            components: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            lines: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for stat in diff:
                if stat.size_diff <= 0:
                    continue
                name = component_of(stat.traceback)
                components[name][0] += stat.size_diff
                components[name][1] += stat.count_diff
                frame = stat.traceback[-1]
                path = package_path(frame.filename) or frame.filename.rsplit(os.sep, 2)[-1]
                key = f"{name}: {path}:{frame.lineno}"
                lines[key][0] += stat.size_diff
                lines[key][1] += stat.count_diff
            result.components = top(
                [Row(n, b / count, c / count) for n, (b, c) in components.items()], 100
            )
            result.lines = top([Row(n, b / count, c / count) for n, (b, c) in lines.items()], 30)
            result.bytes_per_device = sum(r.bytes_per_device for r in result.components)
            return result


def top(rows: list[Row], n: int) -> list[Row]:
    return sorted(rows, key=lambda r: -r.bytes_per_device)[:n]


# -- RSS per device, one fresh process per count ------------------------------------------


async def rss_child(count: int) -> dict[str, float]:
    ports = Ports()
    me = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="bench_memory.") as tmp:
        async with manual_runtime(Path(tmp) / "state", ports) as (runtime, clock):
            await settle(runtime, clock, "running firmware", 1)
            gc.collect()
            before = me.memory_info().rss
            started = time.perf_counter()
            await settle(runtime, clock, "running firmware", count)
            added_s = time.perf_counter() - started
            gc.collect()
            after = me.memory_info().rss
    return {"count": count, "rss_before": before, "rss_after": after, "add_s": added_s}


@dataclass
class RssRow:
    count: int
    rss_before: float = 0.0
    rss_after: float = 0.0
    bytes_per_device: float = 0.0
    add_s: float = 0.0
    problem: str = ""


def pty_max() -> int | None:
    try:
        return int(Path("/proc/sys/kernel/pty/max").read_text())
    except (OSError, ValueError):
        return None


def rss_row(count: int) -> RssRow:
    limit = pty_max()
    if limit is not None and count > limit:
        return RssRow(count, problem=f"not run: more devices than ptys (kernel.pty.max {limit})")
    done = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(count)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return RssRow(count, problem=f"failed (exit {done.returncode}): {tail}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return RssRow(
        count,
        data["rss_before"],
        data["rss_after"],
        (data["rss_after"] - data["rss_before"]) / count,
        data["add_s"],
    )


# -- report -----------------------------------------------------------------------------


@dataclass
class Report:
    count: int
    censuses: list[Census] = field(default_factory=list)
    rss: list[RssRow] = field(default_factory=list)
    goal_bytes_per_device: float = GOAL_BYTES_PER_DEVICE
    goal_devices: int = GOAL_DEVICES


def print_census(c: Census) -> None:
    print(
        f"\n{c.count} x {MODEL} idle in {c.state}: {c.bytes_per_device:,.0f} bytes per device"
        f" (tracemalloc), {c.random_generators_per_device:g} random.Random per device"
    )
    width = max(len(r.name) for r in c.components)
    print(f"  {'component':<{width}}  {'bytes/device':>12}  {'blocks':>7}")
    for r in c.components:
        print(f"  {r.name:<{width}}  {r.bytes_per_device:12,.0f}  {r.blocks_per_device:7.1f}")
    print("  lines (the innermost frame of the allocation):")
    width = max(len(r.name) for r in c.lines)
    for r in c.lines:
        print(f"    {r.name:<{width}}  {r.bytes_per_device:10,.0f}  {r.blocks_per_device:6.1f}")
    print("  objects the garbage collector tracks, by type (sys.getsizeof, per device):")
    width = max(len(r.name) for r in c.types)
    for r in c.types:
        print(f"    {r.name:<{width}}  {r.bytes_per_device:10,.0f}  {r.blocks_per_device:6.1f}")


def print_report(report: Report) -> None:
    for c in report.censuses:
        print_census(c)
    if report.rss:
        print(f"\nRSS per device, {MODEL} running firmware (psutil, a fresh process each):")
        for r in report.rss:
            if r.problem:
                print(f"  {r.count:>6,} devices: {r.problem}")
            else:
                print(
                    f"  {r.count:>6,} devices: {r.bytes_per_device / 1024:7.1f} KiB per device"
                    f" (RSS {r.rss_before / 2**20:.1f} -> {r.rss_after / 2**20:.1f} MiB,"
                    f" added in {r.add_s:.1f} s)"
                )
        measured = [r for r in report.rss if not r.problem]
        if measured:
            largest = max(measured, key=lambda r: r.count)
            ok = largest.bytes_per_device < GOAL_BYTES_PER_DEVICE
            per_device = largest.bytes_per_device / 1024
            print(
                f"\n[{'PASS' if ok else 'MISS'}] RSS per device {per_device:.1f}"
                f" KiB at {largest.count:,} devices (goal: under {GOAL_BYTES_PER_DEVICE / 1024:.1f}"
                f" KiB, {GOAL_DEVICES:,} devices in 2 GiB)"
            )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The memory an idle device costs.")
    parser.add_argument("--count", type=int, help="devices of the census (default 1000)")
    parser.add_argument("--quick", action="store_true", help="100 devices, RSS of 100 and 200")
    parser.add_argument(
        "--rss-counts", type=int, nargs="*", help="device counts for RSS (default 1000 2000 3000)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count is None:
        args.count = 100 if args.quick else 1000
    if args.rss_counts is None:
        args.rss_counts = [100, 200] if args.quick else [1000, 2000, 3000]
    if args.count < 1 or any(n < 1 for n in args.rss_counts):
        parser.error("--count and --rss-counts must be 1 or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rss_child is not None:
        print(json.dumps(asyncio.run(rss_child(args.rss_child))))
        return 0
    print(
        f"ipgwsim memory benchmark: {args.count} x {MODEL}; python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, "
        f"load average {loadavg()}"
    )
    report = Report(args.count)
    for state in ("running firmware", "TFTP mode"):
        progress(f"census of {args.count} devices in {state}")
        report.censuses.append(asyncio.run(census(state, args.count)))
    for count in args.rss_counts:
        progress(f"RSS of {count} devices running firmware")
        report.rss.append(rss_row(count))
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    return 1 if any(r.problem.startswith("failed") for r in report.rss) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks of the flash layer on the shipped IP6000 profile (run by hand, not a test).

    .venv/bin/python benchmarks/bench_flash.py            # full run, about 15 s
    .venv/bin/python benchmarks/bench_flash.py --quick    # short run, about 5 s
    .venv/bin/python benchmarks/bench_flash.py --json out.json

Sections (``benchmarks/README.md`` says what each number means):

1. config ring writes per second (4 KiB and 32 KiB config texts, ring wrapped many times);
2. mount time and ``dump()`` time of a wrapped ring;
3. vars ``set()`` per second and mount time with 200 vars; flash directory
   ``add_item`` per second and mount time with 5,000 items of about 200 bytes;
4. power-cut sweep throughput (cut points per second), ATOMIC and TORN, as in
   ``tests/flash/test_ring.py``;
5. memory of an idle device with a 32 MiB flash (``memory_bytes()``, tracemalloc,
   RSS growth measured in a fresh subprocess);
6. save/load time and disk use of the sparse flash image file.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hostinfo import cpu_model

from ipgwsim.flash.errors import PowerLost
from ipgwsim.flash.faults import CutMode, FaultInjector, PowerCut
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.formats import KV_RECORD_OVERHEAD, RING_HEADER_SIZE
from ipgwsim.flash.image import ImageKind, build_image, store_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarFlags, VarStore
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.runtime.flashfile import load_flash, save_flash
from ipgwsim.testing.flash import region_of, small_flash

MODEL = "IP6000"
KIB = 1024
MIB = 1024 * 1024

# -- settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How much work each benchmark does; ``--quick`` scales everything down."""

    quick: bool
    #: Times the 4 KiB / 32 KiB ring is wrapped in one round of the write benchmark.
    ring_wraps: int
    ring_rounds: int
    #: Mounts (and dumps) timed for the median.
    ring_mounts: int
    vars_sets: int
    vars_rounds: int
    vars_mounts: int
    fd_items: int
    fd_rounds: int
    fd_mounts: int
    sweep_repeats: int
    file_repeats: int


FULL = Settings(
    quick=False,
    ring_wraps=10,
    ring_rounds=5,
    ring_mounts=50,
    vars_sets=20_000,
    vars_rounds=3,
    vars_mounts=20,
    fd_items=5_000,
    fd_rounds=3,
    fd_mounts=10,
    sweep_repeats=5,
    file_repeats=10,
)
QUICK = Settings(
    quick=True,
    ring_wraps=3,
    ring_rounds=2,
    ring_mounts=10,
    vars_sets=5_000,
    vars_rounds=1,
    vars_mounts=5,
    fd_items=5_000,
    fd_rounds=1,
    fd_mounts=3,
    sweep_repeats=1,
    file_repeats=3,
)

# -- results -------------------------------------------------------------------------


@dataclass
class Result:
    """One number of the table, with the raw samples it was computed from."""

    section: str
    name: str
    value: float
    unit: str
    note: str = ""
    samples: list[float] = field(default_factory=list)


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def of(count: int, noun: str = "") -> str:
    """How a value was summarised: ``median of 5 rounds``, or ``1 round``."""
    if count > 1:
        return f"median of {count} {noun}s" if noun else f"median of {count}"
    return f"1 {noun or 'run'}"


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Seconds taken by each of ``repeats`` calls of ``fn``."""
    gc.collect()
    samples: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def new_table(profile: Profile) -> PartitionTable:
    return PartitionTable(NorFlash(profile.flash), profile)


def region_wear(table: PartitionTable, name: str) -> list[int]:
    """Erase counts of the sectors of region ``name``."""
    part = table[name]
    first = part.region.offset // part.sector_size
    return [table.flash.wear(first + s) for s in range(part.sector_count)]


# -- realistic config text -----------------------------------------------------------

MODULES = (
    "CMD0",
    "IP0",
    "ETH0",
    "ETH1",
    "SIP",
    "H323",
    "PBX0",
    "GW1",
    "GW2",
    "DHCP0",
    "NTP",
    "SYSLOG",
    "TONE",
    "RELAY0",
    "FLASHDIR0",
    "HTTP0",
)
PARAMS = (
    "name",
    "addr",
    "mask",
    "gw",
    "port",
    "mode",
    "user",
    "trace",
    "domain",
    "coder",
    "timeout",
    "prio",
    "dns",
    "proxy",
    "reg",
    "max",
)


def _value(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if kind == 1:
        return rng.choice(("on", "off", "auto", "G711A,G729,G722"))
    if kind == 2:
        return str(rng.randrange(65536))
    if kind == 3:
        return f"user{rng.randrange(10_000)}@pbx.example.com"
    return f"{rng.randrange(1 << 32):08x}"


def config_text(serial: int, size: int) -> str:
    """A config of exactly ``size`` bytes of ``config change MODULE /param value`` lines.

    Each ``serial`` gives different values, so consecutive writes all differ.
    """
    rng = random.Random(serial)
    lines = [f"config change CMD0 /name ip6000-{serial:08d} /location lab-{serial % 97}\r\n"]
    total = len(lines[0])
    pad_prefix = "config change CMD0 /note "
    reserve = len(pad_prefix) + 2 + 8
    line_no = 0
    while True:
        module = MODULES[line_no % len(MODULES)]
        param = PARAMS[rng.randrange(len(PARAMS))]
        line = f"config change {module} /{param}{line_no} {_value(rng)}\r\n"
        if total + len(line) > size - reserve:
            break
        lines.append(line)
        total += len(line)
        line_no += 1
    lines.append(pad_prefix + "n" * (size - total - len(pad_prefix) - 2) + "\r\n")
    text = "".join(lines)
    if len(text.encode("utf-8")) != size:
        raise AssertionError(f"config text is {len(text)} bytes, not {size}")
    return text


# -- 1 and 2: the config ring --------------------------------------------------------


def bench_ring(profile: Profile, settings: Settings, size: int) -> list[Result]:
    """Writes per second of ``size``-byte configs, then mount and dump of the full ring."""
    label = f"{size // KIB} KiB"
    table = new_table(profile)
    region = table["config"].size
    writes = -(-settings.ring_wraps * region // (size + RING_HEADER_SIZE)) + 1
    progress(f"ring: generating {writes} configs of {label}")
    texts = [config_text(serial, size) for serial in range(1, writes + 1)]
    rates: list[float] = []
    wraps = 0
    for round_no in range(settings.ring_rounds):
        progress(f"ring: {label} round {round_no + 1}/{settings.ring_rounds}, {writes} writes")
        table = new_table(profile)
        ring = ConfigRing(table["config"])
        gc.collect()
        start = time.perf_counter()
        for text in texts:
            ring.write(text)
        elapsed = time.perf_counter() - start
        rates.append(writes / elapsed)
        wraps = min(region_wear(table, "config"))
    if wraps < 2:
        raise AssertionError(f"the {label} ring wrapped only {wraps} times")
    part = table["config"]
    mounted = ConfigRing(part)
    if mounted.newest_text() != texts[-1]:
        raise AssertionError("a mount of the full ring did not find the newest config")
    generations = len(mounted.generations())
    dump_len = len(mounted.dump())
    progress(f"ring: {label} mount x{settings.ring_mounts}")
    mounts = timed(lambda: ConfigRing(part), settings.ring_mounts)
    dumps = timed(mounted.dump, settings.ring_mounts)
    tracemalloc.start()
    ConfigRing(part)
    mount_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ring_note = f"{region // KIB} KiB ring, every sector erased >= {wraps}x"
    return [
        Result(
            "1 config ring",
            f"ConfigRing.write, {label} config",
            median(rates),
            "writes/s",
            f"{writes} distinct writes per round, {ring_note}; {of(settings.ring_rounds, 'round')}",
            rates,
        ),
        Result(
            "2 ring mount",
            f"mount ConfigRing, wrapped ring of {label} configs",
            median(mounts) * 1e3,
            "ms",
            f"{generations} valid generations in the ring; {of(settings.ring_mounts)}",
            [s * 1e3 for s in mounts],
        ),
        Result(
            "2 ring mount",
            f"ring.dump(), wrapped ring of {label} configs",
            median(dumps) * 1e3,
            "ms",
            f"dump is {dump_len} bytes; {of(settings.ring_mounts)}",
            [s * 1e3 for s in dumps],
        ),
        Result(
            "2 ring mount",
            f"mount ConfigRing, {label} configs: tracemalloc peak",
            mount_peak / KIB,
            "KiB",
            "transient memory of one mount (the region is read whole)",
            [float(mount_peak)],
        ),
    ]


# -- 3: vars and the flash directory -------------------------------------------------

VAR_COUNT = 200
VAR_VALUE = 16


def var_name(index: int) -> str:
    return f"{MODULES[index % len(MODULES)]}/VAR{index:03d}"


def var_value(serial: int) -> bytes:
    return f"{serial:0{VAR_VALUE}d}".encode("ascii")


def bench_vars(profile: Profile, settings: Settings) -> list[Result]:
    rates: list[float] = []
    compactions = 0
    for round_no in range(settings.vars_rounds):
        progress(f"vars: round {round_no + 1}/{settings.vars_rounds}, {settings.vars_sets} sets")
        store = VarStore(new_table(profile)["vars"])
        gc.collect()
        start = time.perf_counter()
        for serial in range(settings.vars_sets):
            store.set(var_name(serial % VAR_COUNT), var_value(serial))
        elapsed = time.perf_counter() - start
        rates.append(settings.vars_sets / elapsed)
        compactions = store.log.generation - 1
    results = [
        Result(
            "3 vars/flashdir",
            f"VarStore.set, {VAR_COUNT} vars",
            median(rates),
            "sets/s",
            f"{settings.vars_sets} sets cycling {VAR_COUNT} names, {compactions} compactions; "
            f"{of(settings.vars_rounds, 'round')}",
            rates,
        )
    ]
    # A log where each of the 200 vars was set once: 200 records to replay.
    table = new_table(profile)
    part = table["vars"]
    store = VarStore(part)
    for index in range(VAR_COUNT):
        store.set(var_name(index), var_value(index))
    progress(f"vars: mount x{settings.vars_mounts}")
    fresh = timed(lambda: VarStore(part), settings.vars_mounts)
    # The same 200 vars with the bank filled up to the next compaction: the most
    # records a mount ever replays for them.
    log = store.log
    unit = part.program_unit
    record = -(-(KV_RECORD_OVERHEAD + len(var_name(0)) + VAR_VALUE) // unit) * unit
    serial = VAR_COUNT
    while log.append_at + record <= log.bank_size:
        store.set(var_name(serial % VAR_COUNT), var_value(serial))
        serial += 1
    if log.generation != 1 or len(VarStore(part).all()) != VAR_COUNT:
        raise AssertionError("the vars log compacted while it was being filled")
    records = serial
    full = timed(lambda: VarStore(part), settings.vars_mounts)
    results += [
        Result(
            "3 vars/flashdir",
            f"mount VarStore, {VAR_COUNT} vars, {VAR_COUNT} records",
            median(fresh) * 1e3,
            "ms",
            f"each var set once; {of(settings.vars_mounts)}",
            [s * 1e3 for s in fresh],
        ),
        Result(
            "3 vars/flashdir",
            f"mount VarStore, {VAR_COUNT} vars, full bank",
            median(full) * 1e3,
            "ms",
            f"{records} records in the {log.bank_size // KIB} KiB bank (next set compacts); "
            f"{of(settings.vars_mounts)}",
            [s * 1e3 for s in full],
        ),
    ]
    return results


def fd_key(index: int) -> str:
    return f"cn=User {index:05d},ou=users,o=pbx"


def fd_value(index: int) -> bytes:
    rng = random.Random(index)
    text = (
        f"cn=User {index:05d};e164={rng.randrange(10**6):06d};h323=u{index};"
        f"mail=u{index}@pbx.example.com;node=root;pbx=master;"
        f"cfnr={rng.randrange(10**4)};filter=normal;"
    )
    value = text.encode("ascii")
    size = 200 - len(fd_key(index).encode("ascii"))
    return (value + b"." * size)[:size]


def bench_flashdir(profile: Profile, settings: Settings) -> list[Result]:
    items = settings.fd_items
    keys = [fd_key(i) for i in range(items)]
    values = [fd_value(i) for i in range(items)]
    rates: list[float] = []
    table = new_table(profile)
    for round_no in range(settings.fd_rounds):
        progress(f"flashdir: round {round_no + 1}/{settings.fd_rounds}, {items} items")
        table = new_table(profile)
        fdir = FlashDir(table["flashdir"])
        gc.collect()
        start = time.perf_counter()
        for key, value in zip(keys, values, strict=True):
            fdir.add_item(key, value)
        elapsed = time.perf_counter() - start
        rates.append(items / elapsed)
    part = table["flashdir"]
    if len(FlashDir(part)) != items:
        raise AssertionError("the flash directory lost items")
    progress(f"flashdir: mount x{settings.fd_mounts}")
    mounts = timed(lambda: FlashDir(part), settings.fd_mounts)
    tracemalloc.start()
    FlashDir(part)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    log = FlashDir(part).log
    stored = log.append_at
    return [
        Result(
            "3 vars/flashdir",
            "FlashDir.add_item, ~200 B items",
            median(rates),
            "items/s",
            f"{items} new items (key+value = 200 B) into an empty directory; "
            f"{of(settings.fd_rounds, 'round')}",
            rates,
        ),
        Result(
            "3 vars/flashdir",
            f"mount FlashDir, {items} items",
            median(mounts) * 1e3,
            "ms",
            f"{stored // KIB} KiB of records; {of(settings.fd_mounts)}",
            [s * 1e3 for s in mounts],
        ),
        Result(
            "3 vars/flashdir",
            f"mount FlashDir, {items} items: tracemalloc peak",
            peak / KIB,
            "KiB",
            f"transient memory of one mount ({log.bank_size // KIB} KiB bank read whole)",
            [float(peak)],
        ),
    ]


# -- 4: power-cut sweep --------------------------------------------------------------
# The workload and checks of tests/flash/test_ring.py::test_power_cut_sweep_every_operation.

SWEEP_SECTOR = 256
SWEEP_SECTORS = 5
SWEEP_UNIT = 2


def sweep_ring(faults: FaultInjector) -> ConfigRing:
    flash = small_flash(
        sectors=SWEEP_SECTORS + 2, sector_size=SWEEP_SECTOR, unit=SWEEP_UNIT, faults=faults
    )
    return ConfigRing(region_of(flash, "config", 1, SWEEP_SECTORS))


def sweep_config(i: int, size: int) -> str:
    head = f"config change CMD0 /name device{i} /log on\r\n"
    return head + "# " + "x" * max(0, size - len(head) - 4) + "\r\n"


def sweep_workload() -> list[str]:
    rng = random.Random(7)
    return [sweep_config(i, rng.randrange(40, 380)) for i in range(1, 41)]


def sweep_once(texts: list[str], total: int, mode: CutMode) -> None:
    """Cut the power at every operation 1..total in turn; check each outcome."""
    for at_op in range(1, total + 1):
        faults = FaultInjector(cut=PowerCut(at_op, mode), rng=random.Random(at_op))
        ring = sweep_ring(faults)
        done = len(texts)
        for index, text in enumerate(texts):
            try:
                ring.write(text)
            except PowerLost:
                done = index
                break
        if done == len(texts):
            raise AssertionError(f"the power cut at operation {at_op} never happened")
        ring.partition.flash.power_on()
        after = ConfigRing(ring.partition)
        committed = texts[done - 1] if done else None
        if after.newest_text() not in {committed, texts[done]}:
            raise AssertionError(
                f"cut at operation {at_op} ({mode.value}): wrong newest config\n"
                + ring.partition.flash.faults.describe()
            )
        rest = texts[done + 1 :]
        for text in rest:
            after.write(text)
        final = ConfigRing(after.partition).newest_text()
        if final != (rest[-1] if rest else after.newest_text()):
            raise AssertionError(f"cut at operation {at_op} ({mode.value}): ring broken after")


def bench_sweep(settings: Settings) -> list[Result]:
    texts = sweep_workload()
    counter = FaultInjector()
    ring = sweep_ring(counter)
    for text in texts:
        ring.write(text)
    total = counter.count
    results: list[Result] = []
    for mode in (CutMode.ATOMIC, CutMode.TORN):
        progress(f"sweep: {mode.value}, {total} cut points x{settings.sweep_repeats}")
        run = partial(sweep_once, texts, total, mode)
        samples = [total / s for s in timed(run, settings.sweep_repeats)]
        results.append(
            Result(
                "4 power-cut sweep",
                f"linear sweep, {mode.value.upper()}",
                median(samples),
                "cuts/s",
                f"{total} cut points (40 writes, {SWEEP_SECTORS}x{SWEEP_SECTOR} B ring, "
                f"unit {SWEEP_UNIT}), each checked; {of(settings.sweep_repeats, 'sweep')}",
                samples,
            )
        )
    return results


# -- 5: memory of an idle device -----------------------------------------------------

FEW_VARS = (
    ("UPDATE/PROT", b"08-6000.08", VarFlags.PERSISTENT),
    ("UPDATE/CHECK", b"1732630000", VarFlags.PERSISTENT),
    ("CMD0/AUTH", b"scrypt$16384$8$1$admin$" + b"0" * 32 + b"$" + b"0" * 64, VarFlags.CRYPTED),
    ("ETH0/MAC", bytes.fromhex("009033010203"), VarFlags.PERSISTENT | VarFlags.BINARY),
)


@dataclass
class Device:
    """The flash of an idle device and its mounted stores."""

    flash: NorFlash
    table: PartitionTable
    ring: ConfigRing
    vars: VarStore
    flashdir: FlashDir


def firmware_image(profile: Profile, payload_size: int = MIB) -> bytes:
    payload = random.Random(6000).randbytes(payload_size)
    return build_image(ImageKind.FIRMWARE, profile.model, profile.firmware.build, payload)


def build_device(profile: Profile, config: str, image: bytes | None) -> Device:
    """A 32 MiB flash with one config, a few vars and (optionally) a firmware image."""
    flash = NorFlash(profile.flash)
    table = PartitionTable(flash, profile)
    ring = ConfigRing(table["config"])
    ring.write(config)
    store = VarStore(table["vars"])
    for name, value, flags in FEW_VARS:
        store.set(name, value, flags)
    fdir = FlashDir(table["flashdir"])
    if image is not None:
        store_image(table["prot"], image)
    return Device(flash, table, ring, store, fdir)


def proc_status_kib(key: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def child_measure(kind: str, metric: str) -> dict[str, Any]:
    """Run in a fresh process: build the device, measure one metric."""
    profile = find_profile(MODEL)
    config = config_text(1, 4 * KIB)
    image = firmware_image(profile) if kind == "firmware" else None
    # Warm up construct and the imports on a throwaway tiny flash, off the books.
    warm = sweep_ring(FaultInjector())
    warm.write(sweep_config(1, 100))
    del warm
    gc.collect()
    out: dict[str, Any] = {"kind": kind, "metric": metric}
    if metric == "rss":
        before = proc_status_kib("VmRSS")
        device = build_device(profile, config, image)
        gc.collect()
        after = proc_status_kib("VmRSS")
        out |= {
            "rss_before_kib": before,
            "rss_after_kib": after,
            "hwm_kib": proc_status_kib("VmHWM"),
        }
    else:
        tracemalloc.start()
        device = build_device(profile, config, image)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out |= {"traced_current": current, "traced_peak": peak}
    out["memory_bytes"] = device.flash.memory_bytes()
    out["written_sectors"] = sum(1 for _ in device.flash.written_sectors())
    return out


def run_child(kind: str, metric: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, metric]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_memory(profile: Profile) -> list[Result]:
    results: list[Result] = []
    size = profile.flash.size // MIB
    for kind, label in (
        ("config", "one config + 4 vars"),
        ("firmware", "one config + 4 vars + 1 MiB firmware"),
    ):
        progress(f"memory: device with {label} (fresh subprocesses)")
        rss = run_child(kind, "rss")
        traced = run_child(kind, "tracemalloc")
        what = f"{size} MiB flash, {label}"
        results += [
            Result(
                "5 memory",
                f"flash.memory_bytes(), {what}",
                rss["memory_bytes"] / KIB,
                "KiB",
                f"the written sectors kept up to their last programmed byte "
                f"({rss['written_sectors']} not erased)",
                [float(rss["memory_bytes"])],
            ),
            Result(
                "5 memory",
                f"tracemalloc current, {what}",
                traced["traced_current"] / KIB,
                "KiB",
                "Python allocations still live after building and mounting the device",
                [float(traced["traced_current"])],
            ),
            Result(
                "5 memory",
                f"tracemalloc peak, {what}",
                traced["traced_peak"] / KIB,
                "KiB",
                "most Python memory live at once while building it",
                [float(traced["traced_peak"])],
            ),
            Result(
                "5 memory",
                f"RSS growth, {what}",
                float(rss["rss_after_kib"] - rss["rss_before_kib"]),
                "KiB",
                f"VmRSS {rss['rss_before_kib']} -> {rss['rss_after_kib']} KiB in a fresh "
                f"process (VmHWM {rss['hwm_kib']} KiB)",
                [float(rss["rss_before_kib"]), float(rss["rss_after_kib"])],
            ),
        ]
    return results


# -- 6: the flash image file ---------------------------------------------------------


def bench_flash_file(profile: Profile, settings: Settings, tmpdir: str | None) -> list[Result]:
    device = build_device(profile, config_text(1, 4 * KIB), firmware_image(profile))
    expected = dict(device.flash.written_sectors())
    with tempfile.TemporaryDirectory(dir=tmpdir, prefix="bench-flash-") as folder:
        path = Path(folder) / "ip6000.flash"
        progress(f"flash file: save/load x{settings.file_repeats} in {folder}")
        saves = timed(lambda: save_flash(device.flash, path), settings.file_repeats)
        loads = timed(lambda: load_flash(path, profile.flash), settings.file_repeats)
        if dict(load_flash(path, profile.flash).written_sectors()) != expected:
            raise AssertionError("the loaded flash differs from the saved one")
        stat = path.stat()
        apparent, on_disk = stat.st_size, stat.st_blocks * 512
    data_bytes = len(expected) * profile.flash.sector_size
    return [
        Result(
            "6 flash file",
            "save_flash, device with 1 MiB firmware",
            median(saves) * 1e3,
            "ms",
            f"includes fsync; {of(settings.file_repeats)}",
            [s * 1e3 for s in saves],
        ),
        Result(
            "6 flash file",
            "load_flash, device with 1 MiB firmware",
            median(loads) * 1e3,
            "ms",
            f"{of(settings.file_repeats)}",
            [s * 1e3 for s in loads],
        ),
        Result(
            "6 flash file",
            "file size (apparent, st_size)",
            apparent / KIB,
            "KiB",
            "header + the whole 32 MiB flash as a sparse file",
            [float(apparent)],
        ),
        Result(
            "6 flash file",
            "disk used (st_blocks*512)",
            on_disk / KIB,
            "KiB",
            f"{len(expected)} data sectors = {data_bytes // KIB} KiB + header",
            [float(on_disk)],
        ),
    ]


# -- main ----------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = cpu_model()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "platform": platform.platform(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def format_value(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def print_table(results: list[Result]) -> None:
    name_w = max(len(r.name) for r in results)
    value_w = max(len(format_value(r.value)) for r in results)
    unit_w = max(len(r.unit) for r in results)
    section = ""
    for r in results:
        if r.section != section:
            section = r.section
            print(f"\n[{section}]")
        print(
            f"  {r.name:<{name_w}}  {format_value(r.value):>{value_w}} {r.unit:<{unit_w}}  {r.note}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the ipgwsim flash layer on the IP6000 profile."
    )
    parser.add_argument("--quick", action="store_true", help="a short run (under ~15 s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    parser.add_argument(
        "--tmpdir", metavar="DIR", help="where to save the flash image file (default: $TMPDIR)"
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "METRIC"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        kind, metric = args.child
        print(json.dumps(child_measure(kind, metric)))
        return 0
    settings = QUICK if args.quick else FULL
    profile = find_profile(MODEL)
    info = machine()
    started = time.perf_counter()
    print(
        f"ipgwsim flash benchmarks ({'quick' if settings.quick else 'full'} run), "
        f"profile {profile.model}: {profile.flash.size // MIB} MiB flash, "
        f"{profile.flash.sector_size // KIB} KiB sectors, "
        f"program unit {profile.flash.program_unit}"
    )
    print(
        f"python {info['python']} on {info['cpu']} ({info['nproc']} CPUs), {info['date_utc']} UTC"
    )
    results: list[Result] = []
    results += bench_ring(profile, settings, 4 * KIB)
    results += bench_ring(profile, settings, 32 * KIB)
    results.sort(key=lambda r: r.section)
    results += bench_vars(profile, settings)
    results += bench_flashdir(profile, settings)
    results += bench_sweep(settings)
    results += bench_memory(profile)
    results += bench_flash_file(profile, settings, args.tmpdir)
    elapsed = time.perf_counter() - started
    print_table(results)
    print(f"\ntotal time {elapsed:.1f} s")
    if args.json is not None:
        payload = {
            "machine": info,
            "settings": asdict(settings),
            "elapsed_s": elapsed,
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

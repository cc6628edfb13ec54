"""1,000 concurrent ``gwload /prot`` uploads into one runtime process (run by hand).

    .venv/bin/python benchmarks/bench_upload.py                  # 1,000 devices, 4 MiB each
    .venv/bin/python benchmarks/bench_upload.py --quick          # 20 devices (smoke run)
    .venv/bin/python benchmarks/bench_upload.py --count 200 --concurrency 8 --json out.json

Starts ``ipgwsim run IP6000 --count N`` (the shipped profile: a 12 MiB ``prot`` region)
as its own process with the pieces of ``bench_fleet.py``, and puts every device in TFTP
mode with a distinct address: a 1.8 s press each through the control socket, one
broadcast DISCOVER, SETIP by MAC to 127.100.x.y. Then it gives every device a firmware
image of ``--size`` bytes (default 4 MiB; one valid IP6000 image made with
``build_image``, the same file for all) with the project's real client, one process
per upload:

    gwload /gwtype 6000 /i 127.100.x.y /prot FILE /port P /bcast 127.255.255.255 /json

``--concurrency K`` of them at a time. Each upload is gwload's whole job: the type
check of the device at that address, the WRQ, the transfer, the wait while the device
programs its flash, and the RESET that starts the new firmware. Afterwards every
device is checked through the control API's ``status``: it runs firmware, and that
firmware is the uploaded build (the boot code started it only after checking the
image's header and its CRC32 over the whole image in the flash). It reports the total
time, uploads/s, MiB/s, per-upload time percentiles, peak memory and CPU of the runtime
(every process of it) and of the driver (this process and its gwload processes), the
load average, and the time the runtime takes to stop (it saves every flash). Exit
status 1 on any failure. ``benchmarks/README.md`` and ``docs/benchmarks.md`` explain it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from bench_fleet import (
    PORTS,
    FleetError,
    GwloadSocket,
    RuntimeProcess,
    discover_all,
    press_all,
    progress,
    setip_all,
)
from bench_gwload import tool
from hostinfo import loadavg

from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.hw_profiles import find_profile
from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.tools.mkimage_cmd import size_argument

MIB = 1024 * 1024
MODEL = "IP6000"
GWTYPE = "6000"
BROADCAST = "127.255.255.255"
#: The build of the uploaded image (the factory firmware is another one).
BUILD = "91-6000.42"
RUNNING = "running firmware"
DEFAULT_COUNT = 1000
QUICK_COUNT = 20
#: Uploads running at once unless --concurrency says otherwise: on 2 cores 8 was about as
#: fast as 16 with 1,000 devices (16 and 32 were faster with 100) with half the processes
#: (docs/benchmarks.md, *Bulk upload benchmark*, *Choosing the concurrency*).
DEFAULT_CONCURRENCY = 8
#: Device time runs this much faster than real time. The device's TFTP timers are device
#: time: it gives up on a transfer after 31 device seconds without a datagram (1 + 2 + 4
#: + 8 + 8 + 8 s, 5 retries), which at --speed 100 is 0.31 s real, less than a
#: loaded host may leave a gwload process unscheduled (docs/benchmarks.md).
DEFAULT_SPEED = 10.0
#: One gwload run may take at most this long.
UPLOAD_TIMEOUT = 600.0
#: Real seconds allowed for every device to run the new firmware after the uploads.
SETTLE_TIMEOUT = 120.0


# -- measuring processes ------------------------------------------------------------


def vm_kib(pid: int, name: str) -> int:
    """``VmRSS`` or ``VmHWM`` of a process from ``/proc/PID/status``, in KiB (0 if gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0])
    return 0


def tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant of it (a runtime with --workers has several)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def is_gwload(proc: psutil.Process) -> bool:
    """Whether the child runs gwload already: between its vfork and its exec a child still
    has this process's command line and memory (and high-water mark)."""
    try:
        return any("gwload" in part for part in proc.cmdline())
    except psutil.Error:
        return False


@dataclass
class Sampler:
    """Samples memory of the runtime and of the gwload processes every ``period`` s."""

    runtime_pid: int
    period: float = 0.25
    runtime_rss_peak_kib: int = 0
    gwload_rss_peak_kib: int = 0
    gwload_peak_processes: int = 0
    #: The largest VmHWM of one gwload process seen (its own: counted after its exec).
    gwload_hwm_kib: int = 0
    load1_peak: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.period):
            runtime = sum(vm_kib(p.pid, "VmRSS") for p in tree(self.runtime_pid))
            self.runtime_rss_peak_kib = max(self.runtime_rss_peak_kib, runtime)
            gwloads = [p for p in me.children() if p.pid != self.runtime_pid and is_gwload(p)]
            rss = sum(vm_kib(p.pid, "VmRSS") for p in gwloads)
            for proc in gwloads:
                self.gwload_hwm_kib = max(self.gwload_hwm_kib, vm_kib(proc.pid, "VmHWM"))
            if rss > self.gwload_rss_peak_kib:
                self.gwload_rss_peak_kib = rss
                self.gwload_peak_processes = len(gwloads)
            self.load1_peak = max(self.load1_peak, os.getloadavg()[0])

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# -- the uploads --------------------------------------------------------------------


@dataclass
class Upload:
    """One gwload run."""

    ip: str
    seconds: float  # from starting the process to its exit
    status: int
    transfer_s: float | None = None  # gwload's own time of the transfer (WRQ to last ACK)
    granted: dict[str, str] | None = None
    error: str | None = None


def gwload_argv(ip: str, port: int, image: Path) -> list[str]:
    return [
        *tool("gwload"),
        "/gwtype",
        GWTYPE,
        "/i",
        ip,
        "/prot",
        str(image),
        "/port",
        str(port),
        "/bcast",
        BROADCAST,
        "/json",
    ]


def upload(ip: str, port: int, image: Path, size: int) -> Upload:
    argv = gwload_argv(ip, port, image)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=UPLOAD_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return Upload(ip, time.perf_counter() - started, -1, error="gwload timed out")
    seconds = time.perf_counter() - started
    result = Upload(ip, seconds, done.returncode)
    try:
        document: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        result.error = f"gwload exited with {done.returncode} without its JSON: {last}"
        return result
    if not document.get("ok"):
        error = document.get("error") or {}
        result.error = f"gwload exited with {done.returncode}: {error.get('message')}"
        return result
    steps = [s for s in document["steps"] if s["step"] == "upload" and s["name"] == "prot"]
    if len(steps) != 1 or steps[0]["bytes"] != size:
        result.error = f"gwload's JSON has no upload of {size} bytes of prot: {steps}"
        return result
    if not any(s["step"] == "reset" for s in document["steps"]):
        result.error = "gwload did not restart the device"
        return result
    result.transfer_s = float(steps[0]["seconds"])
    result.granted = steps[0]["options"]
    return result


def upload_all(
    addresses: list[str], port: int, image: Path, size: int, concurrency: int
) -> list[Upload]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda ip: upload(ip, port, image, size), addresses))


def check_all(state: Path, names: set[str], timeout: float) -> tuple[list[str], float]:
    """Until every device runs firmware BUILD (or ``timeout``); the problems, the wait."""
    started = time.monotonic()
    with ControlClient(state, timeout=60) as client:
        while True:
            devices = {d["name"]: d for d in client.request("status")["devices"]}
            problems = []
            for name in sorted(names):
                device = devices.get(name)
                if device is None:
                    problems.append(f"{name}: not in the runtime's status")
                elif device["mode"] != RUNNING or device["firmware_build"] != BUILD:
                    problems.append(
                        f"{name}: {device['mode']!r} with firmware {device['firmware_build']!r}, "
                        f"not {RUNNING!r} with {BUILD!r}"
                    )
            waited = time.monotonic() - started
            if not problems or waited > timeout:
                return problems, waited
            time.sleep(0.2)


# -- the report ---------------------------------------------------------------------


@dataclass
class Report:
    count: int
    size: int
    concurrency: int
    workers: int
    speed: float
    start_s: float = 0.0
    setup_s: float = 0.0  # presses, DISCOVER, SETIP
    upload_s: float = 0.0  # first gwload started -> last gwload ended
    settle_s: float = 0.0  # after the last gwload until every device runs the new build
    stop_s: float | None = None
    uploads: list[Upload] = field(default_factory=list)
    runtime_hwm_kib: int = 0
    runtime_rss_before_kib: int = 0
    runtime_rss_after_kib: int = 0
    runtime_rss_peak_kib: int = 0
    runtime_cpu_s: float = 0.0
    driver_hwm_kib: int = 0
    gwload_max_rss_kib: int = 0
    gwload_rss_peak_kib: int = 0
    gwload_peak_processes: int = 0
    driver_cpu_s: float = 0.0
    load_start: str = ""
    load_end: str = ""
    load1_peak: float = 0.0
    state_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None

    def percentiles(self) -> dict[str, float]:
        times = sorted(u.seconds for u in self.uploads if u.error is None)
        if not times:
            return {}
        cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else []

        def at(p: int) -> float:
            return cuts[p - 1] if cuts else times[0]

        return {"min": times[0], "p50": at(50), "p90": at(90), "p99": at(99), "max": times[-1]}

    def headline(self) -> dict[str, float]:
        ok = [u for u in self.uploads if u.error is None]
        total = self.upload_s + self.settle_s
        return {
            "total_s": total,
            "uploads_per_s": len(ok) / total if total else 0.0,
            "mib_per_s": len(ok) * self.size / MIB / total if total else 0.0,
            "runtime_peak_mib": self.runtime_hwm_kib / 1024,
            "runtime_per_device_mib": (self.runtime_hwm_kib / 1024) / self.count,
        }


def print_report(report: Report) -> None:
    n, mib = report.count, report.size / MIB
    print(
        f"\n{n} x {MODEL}, one {mib:g} MiB image each by gwload /prot, "
        f"{report.concurrency} at a time, runtime workers {report.workers}, "
        f"speed {report.speed:g}x"
    )
    head = report.headline()
    rows = [
        ("start (process start -> all devices added)", f"{report.start_s:.2f} s"),
        ("presses + DISCOVER + SETIP", f"{report.setup_s:.2f} s"),
        ("uploads (first gwload start -> last exit)", f"{report.upload_s:.2f} s"),
        ("until every device runs the new build", f"{report.settle_s:.2f} s"),
        ("total (uploads + settle)", f"{head['total_s']:.2f} s"),
        ("uploads/s", f"{head['uploads_per_s']:.2f}"),
        ("aggregate MiB/s (images into flash)", f"{head['mib_per_s']:.1f}"),
    ]
    if report.stop_s is not None:
        rows.append(("stop (SIGTERM, saves every flash)", f"{report.stop_s:.2f} s"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>10}")
    pct = report.percentiles()
    if pct:
        print(
            "\nper upload (gwload start -> exit): "
            + ", ".join(f"{k} {v:.2f} s" for k, v in pct.items())
        )
        transfers = sorted(u.transfer_s for u in report.uploads if u.transfer_s is not None)
        if transfers:
            print(
                f"its transfer alone (gwload's own figure): median "
                f"{statistics.median(transfers):.2f} s, max {transfers[-1]:.2f} s; granted "
                f"{report.uploads[0].granted}"
            )
    print("\nmemory and CPU:")
    print(
        f"  runtime: VmHWM {report.runtime_hwm_kib / 1024:.1f} MiB "
        f"({report.runtime_hwm_kib / 1024 / n:.2f} MiB a device); VmRSS before the uploads "
        f"{report.runtime_rss_before_kib / 1024:.1f} MiB, after "
        f"{report.runtime_rss_after_kib / 1024:.1f} MiB; CPU during the uploads "
        f"{report.runtime_cpu_s:.1f} s"
    )
    print(
        f"  driver: this process VmHWM {report.driver_hwm_kib / 1024:.1f} MiB; gwload "
        f"processes: largest {report.gwload_max_rss_kib / 1024:.1f} MiB each, at most "
        f"{report.gwload_rss_peak_kib / 1024:.1f} MiB together ({report.gwload_peak_processes} "
        f"running); CPU (this process and every gwload) {report.driver_cpu_s:.1f} s"
    )
    print(f"  flash image files after the stop: {report.state_bytes / MIB:.0f} MiB on disk")
    print(
        f"\nload average: {report.load_start} before the uploads, {report.load_end} after "
        f"(1-minute peak {report.load1_peak:.2f})"
    )
    if report.problems:
        print(f"\n{len(report.problems)} problem(s):")
        for text in report.problems[:20]:
            print(f"  {text}")
        if len(report.problems) > 20:
            print(f"  ... and {len(report.problems) - 20} more")


def write_json(path: Path, report: Report) -> None:
    payload = {
        **asdict(report),
        "uploads": [asdict(u) for u in report.uploads],
        "percentiles_s": report.percentiles(),
        "headline": report.headline(),
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"raw numbers written to {path}")


# -- main ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Many IP6000 in one runtime, each given a firmware image by gwload /prot."
    )
    parser.add_argument("--count", type=int, help=f"devices (default {DEFAULT_COUNT})")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_COUNT} devices")
    parser.add_argument("--size", type=size_argument, default=4 * MIB, help="image size (4M)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"gwload uploads running at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="passed to ipgwsim run as --workers N when N > 1"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"device speed (default {DEFAULT_SPEED:g})",
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="control connections pressing at once"
    )
    parser.add_argument(
        "--window", type=int, default=8, help="devices waiting for a SETIP answer at once"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=600.0, help="seconds allowed for the start"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    args = parser.parse_args(argv)
    if args.count is None:
        args.count = QUICK_COUNT if args.quick else DEFAULT_COUNT
    for name in ("count", "concurrency", "workers", "connections", "window"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be 1 or more, not {getattr(args, name)}")
    if args.size <= IMAGE_HEADER_SIZE:
        parser.error(f"--size must be more than {IMAGE_HEADER_SIZE} bytes, not {args.size}")
    prot = find_profile(MODEL).region("prot").size
    if args.size > prot:
        parser.error(f"--size: the {MODEL}'s prot region holds {prot} bytes, not {args.size}")
    return args


def workers_refused(runtime: RuntimeProcess) -> str | None:
    """The runtime's one line refusing ``--workers``, if that is why it exited."""
    if runtime.proc is None or runtime.proc.poll() is None:
        return None
    for line in runtime.log_path.read_text(errors="replace").splitlines():
        if "--workers" in line:
            return line.strip()
    return None


def run(args: argparse.Namespace, runtime: RuntimeProcess, image: Path, report: Report) -> None:
    """Everything but the stop."""
    count = args.count
    progress(f"starting {count} x {MODEL} (port {runtime.port}, workers {args.workers})")
    try:
        report.start_s = runtime.start(args.start_timeout)
    except FleetError:
        refused = workers_refused(runtime)
        if args.workers > 1 and refused is not None:
            report.skipped = f"--workers {args.workers} refused by ipgwsim run: {refused}"
            return
        raise
    names = [f"ip6000-{n}" for n in range(1, count + 1)]
    setup_started = time.perf_counter()
    progress(f"pressing the reset button of {count} devices for 1.8 s")
    report.problems += press_all(runtime.state, names, args.connections)
    gw = GwloadSocket(runtime.port)
    try:
        found = discover_all(gw, count)
        if len(found.hellos) != count:
            report.problems.append(f"{len(found.hellos)} HELLOs for {count} devices")
        progress(f"{len(found.hellos)} HELLOs; SETIP each by MAC")
        addresses, problems, _sent = setip_all(gw, sorted(found.hellos), args.window)
        report.problems += problems
    finally:
        gw.close()
    report.setup_s = time.perf_counter() - setup_started
    if not report.problems:
        measure(args, runtime, image, sorted(addresses.values()), report)


def driver_cpu(
    before: tuple[resource.struct_rusage, resource.struct_rusage],
    after: tuple[resource.struct_rusage, resource.struct_rusage],
) -> float:
    """CPU seconds of this process and its waited-for children between two getrusage pairs."""
    return sum(
        a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime
        for a, b in zip(after, before, strict=True)
    )


def measure(
    args: argparse.Namespace,
    runtime: RuntimeProcess,
    image: Path,
    addresses: list[str],
    report: Report,
) -> None:
    """The uploads and the check, with memory, CPU and load around them."""
    names = {f"ip6000-{n}" for n in range(1, args.count + 1)}
    report.runtime_rss_before_kib = sum(vm_kib(p.pid, "VmRSS") for p in tree(runtime.pid))
    report.load_start = loadavg()
    progress(f"{len(addresses)} uploads of {args.size} bytes, {args.concurrency} at a time")
    sampler = Sampler(runtime.pid)
    cpu_before = cpu_seconds(tree(runtime.pid))
    usage_before = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    sampler.start()
    started = time.perf_counter()
    try:
        report.uploads = upload_all(addresses, runtime.port, image, args.size, args.concurrency)
        report.upload_s = time.perf_counter() - started
        report.problems += [f"{u.ip}: {u.error}" for u in report.uploads if u.error]
        progress("checking that every device runs the uploaded firmware")
        # A device whose upload failed will not run the build: then one look is enough.
        settle = 0.0 if report.problems else SETTLE_TIMEOUT
        problems, report.settle_s = check_all(runtime.state, names, settle)
        report.problems += problems
    finally:
        sampler.stop()
    report.runtime_cpu_s = cpu_seconds(tree(runtime.pid)) - cpu_before
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report.driver_cpu_s = driver_cpu(usage_before, (self_after, children_after))
    # Not RUSAGE_CHILDREN's ru_maxrss: a child started by vfork and exec inherits this
    # process's high-water mark there.
    report.gwload_max_rss_kib = sampler.gwload_hwm_kib
    report.driver_hwm_kib = self_after.ru_maxrss
    report.gwload_rss_peak_kib = sampler.gwload_rss_peak_kib
    report.gwload_peak_processes = sampler.gwload_peak_processes
    report.load1_peak = sampler.load1_peak
    report.runtime_hwm_kib = sum(vm_kib(p.pid, "VmHWM") for p in tree(runtime.pid))
    report.runtime_rss_after_kib = sum(vm_kib(p.pid, "VmRSS") for p in tree(runtime.pid))
    report.runtime_rss_peak_kib = sampler.runtime_rss_peak_kib
    report.load_end = loadavg()


def state_bytes(state: Path) -> int:
    """Disk blocks the state directory's files take (flash images are sparse)."""
    return sum(p.stat().st_blocks * 512 for p in state.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"ipgwsim bulk upload benchmark: {args.count} x {MODEL}, {args.size / MIB:g} MiB each, "
        f"concurrency {args.concurrency}; python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, "
        f"load average {loadavg()}"
    )
    report = Report(args.count, args.size, args.concurrency, args.workers, args.speed)
    tmp = Path(tempfile.mkdtemp(prefix="bench_upload."))
    image = tmp / f"ip6000-{BUILD}.bin"
    payload = random.Random(1).randbytes(args.size - IMAGE_HEADER_SIZE)
    image.write_bytes(build_image(ImageKind.FIRMWARE, MODEL, BUILD, payload))
    runtime = RuntimeProcess(tmp / "state", PORTS.udp(), args.count, args.speed)
    if args.workers > 1:
        runtime.argv += ["--workers", str(args.workers)]
    try:
        run(args, runtime, image, report)
    except (FleetError, RuntimeSetupError, ControlError, OSError) as exc:
        print(f"\nbench_upload: {exc}", file=sys.stderr)
        print(runtime.tail(), file=sys.stderr)
        report.problems.append(str(exc) or type(exc).__name__)
    finally:
        if runtime.proc is not None and report.skipped is None:
            progress("stopping the runtime (it saves every flash)")
            report.stop_s = runtime.stop()
            report.state_bytes = state_bytes(runtime.state)
        else:
            runtime.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if report.skipped is not None:
        print(f"bench_upload: skipped: {report.skipped}")
        if args.json is not None:
            write_json(args.json, report)
        return 0
    print_report(report)
    if args.json is not None:
        write_json(args.json, report)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

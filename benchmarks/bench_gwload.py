"""A 16 MiB ``gwload /prot`` upload end to end, next to tftp-hpa's client (run by hand).

    .venv/bin/python benchmarks/bench_gwload.py              # 16 MiB, 3 runs each
    .venv/bin/python benchmarks/bench_gwload.py --quick      # 1 MiB, 1 run each (smoke run)
    .venv/bin/python benchmarks/bench_gwload.py --size 4M --repeat 5 --json out.json

One simulated IP6000 (``ipgwsim run`` with the benchmark profile
``benchmarks/profiles/ip6000-bench.toml``, 20 MiB ``prot`` region, ``--speed 100``) is
put into TFTP mode with ``ipgwsim press ip6000-1 --hold 1.8``. Then, in turn:

- **gwload**: ``gwload /gwtype 6000 /i IP /setip /prot FILE /noreset /port P /bcast
  127.255.255.255`` (the console script, a new process each run), timed from the start
  of the command to its exit; its ``sent, N bytes in X s`` line gives the transfer alone.
- **tftp-hpa**: ``tftp IP P -m binary -c put FILE prot`` (tftp-hpa's client), timed the
  same way. Its command line has no TFTP options; the benchmark catches its WRQ once on
  a socket of its own and prints which options it sent (tftp-hpa 5.2: none, so plain
  RFC 1350, 512-byte blocks, lock-step).
- **gwload /setip only**: the same gwload command without ``/prot /noreset``: what a
  gwload run costs besides the transfer (Python start, DISCOVER, SETIP).

The two tools push two images of the same size that differ only in their build string,
so every upload changes the device's firmware build. After each upload the benchmark
polls ``ipgwsim status --json`` until the device is no longer ``programming flash``
and has the uploaded build (not timed). The median of ``--repeat`` runs is shown, and
the ratios. Exit status 1 if anything failed. ``benchmarks/README.md`` explains it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from hostinfo import cpu_model, loadavg

from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.hw_profiles import find_profile
from ipgwsim.testing.loopback import Ports, free_loopback_ip
from ipgwsim.tools.mkimage_cmd import size_argument

#: Ports reserved for this process's servers and runtimes until it ends, which no
#: other program on the host gets meanwhile (test runs go on beside a benchmark).
PORTS = Ports()

MIB = 1024 * 1024
PROFILES = Path(__file__).resolve().parent / "profiles"
MODEL = "IP6000"
GWTYPE = "6000"
DEVICE = "ip6000-1"
BROADCAST = "127.255.255.255"
#: The firmware builds of the images gwload and tftp-hpa push (HELLO/status show which).
BUILDS = {"gwload": "91-6000.01", "tftp-hpa": "91-6000.02"}
PROGRAMMING = "programming flash"
TFTP_MODE = "TFTP mode"
#: Real seconds the device may take to start, and to program an image.
STARTUP_TIMEOUT = 60.0
PROGRAMMING_TIMEOUT = 120.0
#: A single command (one upload) may take at most this long.
COMMAND_TIMEOUT = 300.0
#: gwload's report of an upload: ``prot: FILE sent, N bytes in X s (Y MiB/s; OPTIONS)``.
SENT = re.compile(
    r"sent, (?P<bytes>\d+) bytes in (?P<seconds>[\d.]+) s \([\d.]+ MiB/s; (?P<opt>.*)\)"
)


class BenchError(Exception):
    """Setting up or checking failed; the benchmark cannot go on."""


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def tool(name: str) -> list[str]:
    """The console script ``name`` next to this Python (the venv's), else ``python -m``."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    if name == "ipgwsim":
        return [sys.executable, "-m", "ipgwsim.tools.cli"]
    return [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]


# -- the device -----------------------------------------------------------------------


@dataclass
class Runtime:
    """The ``ipgwsim run`` process with one device; stopped by :meth:`stop`."""

    state: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    def start(self, speed: float) -> None:
        argv = [*tool("ipgwsim"), "run", MODEL, "--count", "1", "--state", str(self.state)]
        argv += ["--port", str(self.port), "--speed", f"{speed:g}"]
        argv += ["--profiles-dir", str(PROFILES)]
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until("the device runtime to start", lambda: bool(self.status()), STARTUP_TIMEOUT)

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-10:]
            raise BenchError(
                f"ipgwsim run exited with {self.proc.returncode}:\n  " + "\n  ".join(tail)
            )

    def status(self) -> list[dict[str, Any]]:
        """``ipgwsim status --json``; empty while the runtime is not up yet."""
        self.check_alive()
        done = subprocess.run(
            [*tool("ipgwsim"), "status", "--json", "--state", str(self.state)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            return []
        devices: list[dict[str, Any]] = json.loads(done.stdout)
        return devices

    def press(self) -> None:
        argv = [*tool("ipgwsim"), "press", DEVICE, "--hold", "1.8", "--state", str(self.state)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        if done.returncode != 0 or f"{DEVICE}: {TFTP_MODE}" not in done.stdout:
            raise BenchError(f"a 1.8 s press did not give TFTP mode:\n{done.stdout}{done.stderr}")

    def wait_programmed(self, build: str) -> float:
        """Until the device is not busy and has ``build``; returns the real seconds waited."""
        start = time.monotonic()

        def programmed() -> bool:
            (device,) = self.status()
            if device["mode"] == PROGRAMMING:
                return False
            if device["mode"] != TFTP_MODE:
                raise BenchError(f"after the upload the device is in {device['mode']!r}")
            return bool(device["firmware_build"] == build)

        wait_until(f"the device to program build {build}", programmed, PROGRAMMING_TIMEOUT)
        return time.monotonic() - start

    def stop(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            if self.log is not None:
                self.log.close()


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


# -- the clients ------------------------------------------------------------------------


@dataclass
class Run:
    """One timed command."""

    seconds: float  # from the start of the command to its exit
    transfer: float | None = None  # gwload's own figure for the transfer
    granted: str = ""


@dataclass
class Row:
    name: str
    command: str
    runs: list[Run] = field(default_factory=list)
    #: Real seconds spent waiting for programming after each run (not part of the time).
    waits: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    def median_transfer(self) -> float | None:
        values = [run.transfer for run in self.runs if run.transfer is not None]
        return statistics.median(values) if values else None


def timed(argv: Sequence[str]) -> tuple[float, str]:
    """Run ``argv``; (seconds from start to exit, its output). BenchError if it failed."""
    start = time.perf_counter()
    done = subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=COMMAND_TIMEOUT,
    )
    seconds = time.perf_counter() - start
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited with {done.returncode}:\n{output}")
    return seconds, output


def gwload_argv(ip: str, port: int, image: Path | None) -> list[str]:
    argv = [*tool("gwload"), "/gwtype", GWTYPE, "/i", ip, "/setip"]
    if image is not None:
        argv += ["/prot", str(image), "/noreset"]
    return [*argv, "/port", str(port), "/bcast", BROADCAST]


def run_gwload(ip: str, port: int, image: Path | None, size: int) -> Run:
    seconds, output = timed(gwload_argv(ip, port, image))
    if image is None:
        if f"has {ip}" not in output:
            raise BenchError(f"gwload /setip did not report the address:\n{output}")
        return Run(seconds)
    match = SENT.search(output)
    if match is None or int(match["bytes"]) != size:
        raise BenchError(f"gwload did not report sending {size} bytes:\n{output}")
    return Run(seconds, float(match["seconds"]), match["opt"])


def hpa_argv(ip: str, port: int, image: Path) -> list[str]:
    return ["tftp", ip, str(port), "-m", "binary", "-c", "put", str(image), "prot"]


def run_hpa(ip: str, port: int, image: Path) -> Run:
    seconds, output = timed(hpa_argv(ip, port, image))
    # tftp-hpa reports a refusal or a timeout on its output; its exit status is not enough.
    if "Error" in output or "timed out" in output.lower():
        raise BenchError(f"tftp-hpa put failed:\n{output}")
    return Run(seconds)


def hpa_request_options(image: Path) -> str:
    """The options tftp-hpa's client puts in its WRQ: catch one on a socket of our own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        proc = subprocess.Popen(
            hpa_argv("127.0.0.1", sock.getsockname()[1], image),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            data, _ = sock.recvfrom(2048)
        finally:
            proc.kill()
            proc.wait()
    fields = data[2:].split(b"\0")[:-1]
    name, mode, pairs = fields[0], fields[1], fields[2:]
    options = [f"{pairs[i].decode()}={pairs[i + 1].decode()}" for i in range(0, len(pairs) - 1, 2)]
    return f"WRQ {name.decode()!r} mode {mode.decode()!r}, options: " + (
        ", ".join(options) if options else "none (plain RFC 1350: 512-byte blocks, lock-step)"
    )


def hpa_version() -> str:
    try:
        done = subprocess.run(["tftp", "-V"], capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


# -- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A gwload /prot upload end to end vs tftp-hpa's client, on loopback."
    )
    parser.add_argument("--size", type=size_argument, help="image size (default 16M)")
    parser.add_argument("--repeat", type=int, help="runs per tool (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 MiB, 1 run each")
    parser.add_argument("--speed", type=float, default=100.0, help="device speed (default 100)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = MIB if args.quick else 16 * MIB
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    if args.size <= IMAGE_HEADER_SIZE:
        parser.error(f"--size must be more than {IMAGE_HEADER_SIZE} bytes")
    prot = find_profile(MODEL, PROFILES).region("prot").size
    if args.size > prot:
        parser.error(f"--size: the benchmark profile's prot region holds {prot} bytes")
    return args


def machine() -> dict[str, str]:
    cpu = cpu_model()
    return {
        "python": platform.python_version(),
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "kernel": f"{platform.system()} {platform.release()}",
        "tftp-hpa": hpa_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "loadavg_start": loadavg(),
    }


def machine_line(info: dict[str, str]) -> str:
    return (
        f"python {info['python']} on {info['cpu']} ({info['nproc']} CPUs), "
        f"{info['kernel']}; {info['tftp-hpa']}; {info['date_utc']} UTC; "
        f"load average {info['loadavg_start']}"
    )


def measure(tmp: Path, size: int, repeat: int, speed: float) -> tuple[list[Row], str]:
    payload = random.Random(1).randbytes(size - IMAGE_HEADER_SIZE)
    images: dict[str, Path] = {}
    for name, build in BUILDS.items():
        images[name] = tmp / f"ip6000-{build}.bin"
        images[name].write_bytes(build_image(ImageKind.FIRMWARE, MODEL, build, payload))
    hpa_options = hpa_request_options(images["tftp-hpa"])
    port = PORTS.udp()
    runtime = Runtime(tmp / "state", port, tmp / "runtime.log")
    try:
        progress(f"starting ipgwsim run (port {port}, speed {speed:g}x)")
        runtime.start(speed)
        progress("press 1.8 s: TFTP mode")
        runtime.press()
        ip = free_loopback_ip(port)
        command = " ".join(gwload_argv(ip, port, images["gwload"]))
        rows = [
            Row("gwload /setip /prot /noreset", command),
            Row("tftp-hpa put", " ".join(hpa_argv(ip, port, images["tftp-hpa"]))),
            Row("gwload /setip only", " ".join(gwload_argv(ip, port, None))),
        ]
        # The first gwload run gives the device its address; later ones SETIP it again.
        for number in range(1, repeat + 1):
            for row in rows:
                progress(f"run {number}/{repeat}: {row.name}")
                if row.name.startswith("gwload /setip /prot"):
                    row.runs.append(run_gwload(ip, port, images["gwload"], size))
                    row.waits.append(runtime.wait_programmed(BUILDS["gwload"]))
                elif row.name == "tftp-hpa put":
                    row.runs.append(run_hpa(ip, port, images["tftp-hpa"]))
                    row.waits.append(runtime.wait_programmed(BUILDS["tftp-hpa"]))
                else:
                    row.runs.append(run_gwload(ip, port, None, size))
        runtime.check_alive()
    finally:
        runtime.stop()
    return rows, hpa_options


def report(rows: list[Row], size: int, hpa_options: str) -> dict[str, float | None]:
    """Print the table and the ratios; returns the ratios (None where not defined)."""
    mib = size / MIB
    print(f"\n{'command':<30}{'median':>9}{'min':>9}{'max':>9}{'MiB/s':>9}  runs (s)")
    for row in rows:
        times = [run.seconds for run in row.runs]
        speed = f"{mib / row.median():.1f}" if "only" not in row.name else "-"
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"{row.name:<30}{row.median():>8.2f}s{min(times):>8.2f}s{max(times):>8.2f}s"
            f"{speed:>9}  {shown}"
        )
        transfer = row.median_transfer()
        if transfer is not None:
            transfers = ", ".join(f"{run.transfer:.2f}" for run in row.runs if run.transfer)
            print(
                f"{'  its transfer (own line)':<30}{transfer:>8.2f}s"
                f"{min(r.transfer or 0 for r in row.runs):>8.2f}s"
                f"{max(r.transfer or 0 for r in row.runs):>8.2f}s"
                f"{mib / transfer:>9.1f}  {transfers}"
            )
    gw, hpa, setip = rows
    transfer = gw.median_transfer()
    print(f"\ngwload granted: {gw.runs[-1].granted}")
    print(f"tftp-hpa sent: {hpa_options}")
    print(
        "\ngwload vs tftp-hpa (tftp-hpa median time / gwload median time; > 1: gwload is faster):"
    )
    ratios: dict[str, float | None] = {
        "whole_commands": hpa.median() / gw.median(),
        "transfer": None,
        "minus_setip": None,
    }
    print(f"  whole commands                         {hpa.median() / gw.median():6.2f}x")
    if transfer:
        ratios["transfer"] = hpa.median() / transfer
        print(f"  gwload's transfer (its own line)       {hpa.median() / transfer:6.2f}x")
    upload_only = gw.median() - setip.median()
    if upload_only > 0:
        ratios["minus_setip"] = hpa.median() / upload_only
        print(f"  gwload's command minus /setip only     {hpa.median() / upload_only:6.2f}x")
    waits = gw.waits + hpa.waits
    print(
        f"\nwaiting for programming after {len(waits)} uploads (not timed): "
        f"median {statistics.median(waits):.2f} s, max {max(waits):.2f} s"
    )
    print(f"load average at the end {loadavg()}")
    return ratios


def write_json(
    args: argparse.Namespace,
    *,
    info: dict[str, str],
    rows: list[Row],
    hpa_options: str,
    ratios: dict[str, float | None],
) -> None:
    """The numbers the report printed, for ``benchmarks/run_all.py`` and other tools."""
    payload: dict[str, Any] = {
        "machine": {**info, "loadavg_end": loadavg()},
        "size": args.size,
        "repeat": args.repeat,
        "speed": args.speed,
        "rows": [
            {
                "name": row.name,
                "command": row.command,
                "median_s": row.median(),
                "median_transfer_s": row.median_transfer(),
                "runs": [asdict(run) for run in row.runs],
                "waits": row.waits,
            }
            for row in rows
        ],
        "gwload_granted": rows[0].runs[-1].granted,
        "tftp_hpa_request": hpa_options,
        "ratios_hpa_time_over_gwload_time": ratios,
    }
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"raw numbers written to {args.json}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for needed in ("tftp",):
        if shutil.which(needed) is None:
            print(f"bench_gwload: {needed} is not installed (Debian: tftp-hpa)", file=sys.stderr)
            return 1
    size: int = args.size
    print(
        f"gwload upload benchmark: a {size}-byte ({size / MIB:g} MiB) firmware image to one "
        f"simulated {MODEL} in TFTP mode (speed {args.speed:g}x), {args.repeat} run(s) each"
    )
    info = machine()
    print(machine_line(info))
    tmp = Path(tempfile.mkdtemp(prefix="bench_gwload."))
    try:
        rows, hpa_options = measure(tmp, size, args.repeat, args.speed)
    except (BenchError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"\nbench_gwload: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ncommand: {rows[0].command}")
    print(f"command: {rows[1].command}")
    ratios = report(rows, size, hpa_options)
    if args.json is not None:
        write_json(args, info=info, rows=rows, hpa_options=hpa_options, ratios=ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())

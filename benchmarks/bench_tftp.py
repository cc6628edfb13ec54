"""TFTP throughput: a simulated device vs tftp-hpa vs tftpy (run by hand, not a test).

    .venv/bin/python benchmarks/bench_tftp.py              # 16 MiB, 3 runs per cell
    .venv/bin/python benchmarks/bench_tftp.py --quick      # 1 MiB, 1 run per cell (smoke run)
    .venv/bin/python benchmarks/bench_tftp.py --size 4M --repeat 5 --json out.json

One client (``ipgwsim.runtime.tftpclient``, in this process) moves the same bytes to
and from three servers, each in its own process, all on loopback:

- **device**: one simulated IP6000 in TFTP mode (``ipgwsim run`` with the benchmark
  profile ``benchmarks/profiles/ip6000-bench.toml``, whose regions take 16 MiB), after a
  1.8 s press and gwload DISCOVER/SETIP. Upload = WRQ ``prot`` of a valid firmware
  image; download = RRQ ``config`` (the config ring dump) after a config text of the
  same size was uploaded. After each upload the benchmark waits until the device has
  programmed the image and is back in TFTP mode; that wait is not part of the time.
- **tftp-hpa**: ``in.tftpd`` on a loopback port.
- **tftpy**: ``tftpy.TftpServer`` (a hidden ``--child-tftpy`` mode of this script).

Each cell (direction x blksize 512/1468/8192 x windowsize 1/16) is run ``--repeat``
times; the table shows the median MiB/s and what each server granted. The goal ratios
are printed with PASS/MISS. The exit status is 1 if any transfer failed or any
received file differs from what was sent. ``benchmarks/README.md`` explains the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ipaddress
import json
import os
import platform
import random
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

from ipgwsim.flash.dumptext import several_generations
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE, RING_MARKER
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.tftp import TimerPolicy
from ipgwsim.runtime.control import ControlClient
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.tftpclient import TftpClientError, TransferResult, tftp_get, tftp_put
from ipgwsim.testing.loopback import Ports, free_loopback_ip
from ipgwsim.testing.needs import find_program
from ipgwsim.tools.mkimage_cmd import size_argument

KIB = 1024
MIB = 1024 * 1024
PROFILES = Path(__file__).resolve().parent / "profiles"
MODEL = "IP6000"
DEVICE = "ip6000-1"
HOST = "127.0.0.1"

#: Ports reserved for this process's servers and runtimes until it ends, which no
#: other program on the host gets meanwhile (test runs go on beside a benchmark).
PORTS = Ports()
BROADCAST = "127.255.255.255"
BLKSIZES = (512, 1468, 8192)
WINDOWS = (1, 16)
SERVERS = ("device", "tftp-hpa", "tftpy")
DIRECTIONS = ("download", "upload")
#: Firmware builds of the two images the device gets in turn (HELLO shows which one it has).
BUILDS = ("90-6000.01", "90-6000.02")
UPLOAD_NAME = "prot"
CONFIG_NAME = "config"
#: How long the device may take to be back in TFTP mode after an upload (real seconds).
PROGRAMMING_TIMEOUT = 120.0
STARTUP_TIMEOUT = 60.0


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """Setting up or checking failed; the benchmark cannot go on."""


# -- what is transferred -------------------------------------------------------------

MODULES = ("CMD0", "IP0", "ETH0", "SIP", "H323", "PBX0", "GW1", "GW2", "DHCP0", "NTP")
PARAMS = ("name", "addr", "mask", "gw", "port", "mode", "user", "trace", "coder", "proxy")


def config_text(size: int) -> bytes:
    """Exactly ``size`` bytes of ``config change MODULE /param value`` lines.

    Every line names a module of its own (``CMD00``, ``IP01``, ...): a config the boot
    code takes is one generation, one ``config change`` line per module, and a module
    named twice would start a second one, which it refuses (flash/dumptext.py).
    """
    rng = random.Random(size)
    pad_prefix = "config change CMD0 /note "
    reserve = len(pad_prefix) + 2 + 1
    lines: list[str] = []
    total = 0
    number = 0
    while True:
        module = f"{MODULES[number % len(MODULES)]}{number}"
        param = PARAMS[rng.randrange(len(PARAMS))]
        line = f"config change {module} /{param}{number} {rng.randrange(1 << 32):08x}\r\n"
        if total + len(line) > size - reserve:
            break
        lines.append(line)
        total += len(line)
        number += 1
    lines.append(pad_prefix + "n" * (size - total - len(pad_prefix) - 2) + "\r\n")
    data = "".join(lines).encode("ascii")
    if len(data) != size or RING_MARKER in data:
        raise AssertionError(f"config text of {len(data)} bytes, not {size}")
    if (why := several_generations(data)) is not None:
        raise AssertionError(f"the config text would be refused: {why}")
    return data


def firmware_images(size: int) -> tuple[bytes, ...]:
    """Two valid firmware images of exactly ``size`` bytes, one per build of ``BUILDS``."""
    payload = random.Random(1).randbytes(size - IMAGE_HEADER_SIZE)
    return tuple(build_image(ImageKind.FIRMWARE, MODEL, build, payload) for build in BUILDS)


def limits() -> tuple[int, int]:
    """The largest config text and firmware image the benchmark profile takes."""
    profile = find_profile(MODEL, PROFILES)
    table = PartitionTable(NorFlash(profile.flash), profile)
    return ConfigRing(table["config"]).max_text, table["prot"].size


# -- processes -----------------------------------------------------------------------


class Processes:
    """The server processes this benchmark started; :meth:`stop_all` ends them all."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.items: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        log = (self.logdir / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: children go with it
            )
        except BaseException:
            log.close()
            raise
        self.items.append((name, proc, log))
        return proc

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logdir / f"{name}.log"
        try:
            text = path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {name}| {line}" for line in text[-lines:])

    def check_alive(self) -> None:
        for name, proc, _ in self.items:
            if proc.poll() is not None:
                raise BenchError(
                    f"{name} (pid {proc.pid}) exited with {proc.returncode}:\n{self.log_tail(name)}"
                )

    def stop_all(self) -> None:
        for name, proc, log in reversed(self.items):
            try:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        progress(f"{name} did not stop on SIGTERM; killing pid {proc.pid}")
                        proc.kill()
                        proc.wait()
                # Children it left behind (in.tftpd forks one per transfer).
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            finally:
                log.close()
        self.items.clear()


def wait_until(what: str, check: Callable[[], bool], timeout: float, pause: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(pause)


# -- peers: tftp-hpa and tftpy -------------------------------------------------------


def tftpy_child(root: str, port: int) -> int:
    """The hidden ``--child-tftpy`` mode: serve ``root`` on HOST:port until killed."""
    import tftpy  # noqa: PLC0415  (only the child needs it)

    tftpy.TftpServer(root).listen(HOST, port)
    return 0


def tftpy_version() -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version("tftpy")
    except Exception:
        return "unknown"


def hpa_version() -> str:
    try:
        done = subprocess.run(
            [find_program("in.tftpd") or "in.tftpd", "-V"],
            capture_output=True,
            text=True,
            check=False,
        )
        text = (done.stdout or done.stderr).strip().splitlines()
        return text[0] if text else "unknown"
    except OSError:
        return "not installed"


@dataclass
class Peer:
    """A TFTP server with a folder: it serves ``config`` and receives ``prot`` there."""

    name: str
    root: Path
    address: tuple[str, int]

    def wait_ready(self, procs: Processes) -> None:
        (self.root / "ready").write_bytes(b"ready\n")
        quick = TimerPolicy(timeout=0.2, retries=1)

        def answers() -> bool:
            procs.check_alive()
            try:
                return tftp_get(self.address, "ready", timers=quick).data == b"ready\n"
            except TftpClientError:
                return False

        wait_until(f"{self.name} to answer on {self.address[0]}:{self.address[1]}", answers, 20)

    def check_upload(self, expected: bytes) -> str | None:
        """Compare what arrived with what was sent; remove it. Returns what differs."""
        path = self.root / UPLOAD_NAME

        def complete() -> bool:
            return path.exists() and path.stat().st_size >= len(expected)

        with contextlib.suppress(BenchError):
            wait_until(f"{path} to be complete", complete, 10, pause=0.01)
        try:
            got = path.read_bytes()
        except OSError as exc:
            return f"{self.name} did not store the upload: {exc}"
        path.unlink()
        if got != expected:
            return f"{self.name} stored {len(got)} bytes that differ from the {len(expected)} sent"
        return None


def start_hpa(procs: Processes, root: Path) -> Peer:
    in_tftpd = find_program("in.tftpd")  # in /usr/sbin, often not on a user's PATH
    if in_tftpd is None:
        raise BenchError("in.tftpd is not installed (Debian: apt-get install tftpd-hpa)")
    port = PORTS.udp()
    argv = [in_tftpd, "-L", "-a", f"{HOST}:{port}", "-s", str(root), "-c", "-p"]
    if os.geteuid() == 0:
        argv += ["-u", "root"]
    procs.start("tftp-hpa", argv)
    return Peer("tftp-hpa", root, (HOST, port))


def start_tftpy(procs: Processes, root: Path) -> Peer:
    port = PORTS.udp()
    script = str(Path(__file__).resolve())
    procs.start("tftpy", [sys.executable, script, "--child-tftpy", str(root), str(port)])
    return Peer("tftpy", root, (HOST, port))


# -- the device ----------------------------------------------------------------------


class Gwload:
    """A gwload client socket: bound to 0.0.0.0, sends to the loopback broadcast."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.xid = random.Random().randrange(1 << 31)

    def close(self) -> None:
        self.sock.close()

    def ask(self, make: Callable[[int], gwload.Message], tries: int = 5) -> gwload.Message:
        """Send ``make(xid)`` by broadcast until a reply with that xid comes (1 s apart)."""
        for _ in range(tries):
            self.xid = (self.xid + 1) & 0xFFFFFFFF
            message = make(self.xid)
            self.sock.sendto(gwload.encode_message(message), (BROADCAST, self.port))
            deadline = time.monotonic() + 1.0
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    data, _src = self.sock.recvfrom(2048)
                except TimeoutError:
                    break
                try:
                    reply = gwload.parse_message(data)
                except gwload.MalformedMessage:
                    continue
                if reply.xid == self.xid and not isinstance(reply, gwload.Discover):
                    return reply
        raise BenchError(f"no answer to gwload {type(make(0)).__name__} after {tries} tries")


@dataclass
class Device:
    """The simulated device under test, in its own ``ipgwsim run`` process."""

    state: Path
    port: int
    ip: str = ""
    mac: bytes = b""
    control: ControlClient | None = None
    gw: Gwload | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def start(self, procs: Processes, speed: float, profile: Path | None) -> None:
        argv = [sys.executable]
        if profile is not None:
            argv += ["-m", "cProfile", "-o", str(profile)]
        argv += ["-m", "ipgwsim.tools.cli", "run", MODEL, "--count", "1"]
        argv += ["--state", str(self.state), "--port", str(self.port), "--speed", f"{speed:g}"]
        argv += ["--profiles-dir", str(PROFILES)]
        procs.start("device", argv)

        def started() -> bool:
            procs.check_alive()
            if self.control is None:
                try:
                    self.control = ControlClient(self.state, timeout=30)
                except RuntimeSetupError:
                    return False
            return bool(self.control.request("status")["devices"])

        wait_until("the device runtime to start", started, STARTUP_TIMEOUT)

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.gw is not None:
            self.gw.close()

    def mode(self) -> str:
        assert self.control is not None
        return str(self.control.request("status")["devices"][0]["mode"])

    def enter_tftp_mode(self) -> None:
        assert self.control is not None
        reply = self.control.request("press", device=DEVICE, hold=1.8)
        if reply["mode"] != "TFTP mode":
            raise BenchError(f"after a 1.8 s press the device is in {reply['mode']!r}")

    def setip(self) -> None:
        self.gw = Gwload(self.port)
        hello = self.gw.ask(lambda xid: gwload.Discover(xid, gwload.ANY_MAC, 6000))
        if not isinstance(hello, gwload.Hello):
            raise BenchError(f"DISCOVER got {hello}")
        self.mac = hello.mac
        self.ip = free_loopback_ip(self.port)
        ip = ipaddress.IPv4Address(self.ip)
        mask = ipaddress.IPv4Address("255.0.0.0")
        none = ipaddress.IPv4Address("0.0.0.0")
        reply = self.gw.ask(
            lambda xid: gwload.SetIp(xid, self.mac, 6000, ip=ip, mask=mask, gateway=none)
        )
        if not isinstance(reply, gwload.Hello) or reply.ip != ip:
            raise BenchError(f"SETIP {self.ip} got {reply}")

    def hello(self) -> gwload.Hello:
        assert self.gw is not None
        reply = self.gw.ask(lambda xid: gwload.Discover(xid, self.mac, 6000))
        if not isinstance(reply, gwload.Hello):
            raise BenchError(f"DISCOVER got {reply}")
        return reply

    def wait_programmed(self, build: str) -> float:
        """Wait until the device is back in TFTP mode with ``build``; real seconds waited."""
        start = time.monotonic()
        wait_until("the device to program the image", lambda: self.mode() == "TFTP mode",
                   PROGRAMMING_TIMEOUT, pause=0.01)  # fmt: skip
        hello = self.hello()
        if hello.firmware_build != build:
            raise BenchError(
                f"after programming the device has firmware {hello.firmware_build!r}, "
                f"not the uploaded {build!r}"
            )
        return time.monotonic() - start


# -- measuring -----------------------------------------------------------------------


@dataclass
class Cell:
    """One server x direction x blksize x windowsize, with every run of it."""

    server: str
    direction: str
    blksize: int
    windowsize: int
    seconds: list[float] = field(default_factory=list)
    #: Options the server granted, as ``blksize/windowsize`` actually used.
    granted: str = ""
    options: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    #: Growth of the host's UDP RcvbufErrors counter during each run (datagrams a full
    #: socket buffer dropped, on any socket of the host).
    drops: list[int] = field(default_factory=list)
    #: False if ``--servers``/``--directions``/``--blksizes``/``--windows`` left it out.
    selected: bool = True

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.server, self.direction, self.blksize, self.windowsize)

    def mibs(self, size: int) -> float | None:
        if not self.seconds:
            return None
        return size / MIB / statistics.median(self.seconds)


@dataclass
class Bench:
    size: int
    config: bytes
    images: tuple[bytes, ...]
    dump: bytes
    device: Device
    peers: dict[str, Peer]
    cells: dict[tuple[str, str, int, int], Cell]
    programming_waits: list[float] = field(default_factory=list)
    uploads_to_device: int = 0

    def address(self, server: str) -> tuple[str, int]:
        return self.device.address if server == "device" else self.peers[server].address

    def run_once(self, cell: Cell) -> None:
        options = {"blksize": str(cell.blksize), "windowsize": str(cell.windowsize)}
        address = self.address(cell.server)
        image = self.images[0]
        if cell.server == "device" and cell.direction == "upload":
            image = self.images[self.uploads_to_device % len(self.images)]
        result: TransferResult
        before = udp_rcvbuf_errors()
        try:
            if cell.direction == "download":
                result = tftp_get(address, CONFIG_NAME, options=options)
            else:
                result = tftp_put(address, UPLOAD_NAME, image, options=options)
        except TftpClientError as exc:
            cell.failures.append(f"{cell.direction} failed: {exc}")
            return
        finally:
            cell.drops.append(udp_rcvbuf_errors() - before)
        problem: str | None = None
        if cell.direction == "download":
            if result.data != self.dump:
                got = len(result.data or b"")
                problem = f"downloaded {got} bytes that differ from the {len(self.dump)} expected"
        elif cell.server == "device":
            self.uploads_to_device += 1
            build = BUILDS[(self.uploads_to_device - 1) % len(BUILDS)]
            try:
                self.programming_waits.append(self.device.wait_programmed(build))
            except BenchError as exc:
                problem = str(exc)
        else:
            problem = self.peers[cell.server].check_upload(image)
        if problem is not None:
            cell.failures.append(problem)
            return
        cell.seconds.append(result.seconds)
        cell.granted = f"{result.blksize}/{result.windowsize}"
        cell.options = result.options


def udp_rcvbuf_errors() -> int:
    """The host's UDP ``RcvbufErrors`` counter (``/proc/net/snmp``), or 0 if unreadable."""
    try:
        lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    except OSError:
        return 0
    udp = [line[1:] for line in lines if line and line[0] == "Udp:"]
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return 0
    return int(udp[1][udp[0].index("RcvbufErrors")])


def make_cells(only: argparse.Namespace | None = None) -> dict[tuple[str, str, int, int], Cell]:
    # The three servers of one setting run back to back, so that they meet the same
    # conditions on a shared machine. Cells left out by ``only`` stay in the table as "-".
    def chosen(cell: Cell) -> bool:
        if only is None:
            return True
        return (
            cell.server in only.servers
            and cell.direction in only.directions
            and cell.blksize in only.blksizes
            and cell.windowsize in only.windows
        )

    cells = [
        Cell(server, direction, blksize, window)
        for direction in DIRECTIONS
        for blksize in BLKSIZES
        for window in WINDOWS
        for server in SERVERS
    ]
    for cell in cells:
        cell.selected = chosen(cell)
    return {cell.key: cell for cell in cells}


def measure(bench: Bench, repeat: int, profiler: cProfile.Profile | None) -> None:
    chosen = [cell for cell in bench.cells.values() if cell.selected]
    total = len(chosen) * repeat
    done = 0
    for round_no in range(repeat):
        for cell in chosen:
            done += 1
            progress(
                f"run {round_no + 1}/{repeat}: {cell.server} {cell.direction} "
                f"blksize {cell.blksize} windowsize {cell.windowsize} ({done}/{total})"
            )
            if profiler is not None:
                profiler.enable()
            try:
                bench.run_once(cell)
            finally:
                if profiler is not None:
                    profiler.disable()
            if cell.failures and len(cell.failures) > round_no:
                progress(f"FAILED: {cell.failures[-1]}")


# -- the report ----------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "FAILED" if value is None else f"{value:.2f}"


def print_table(bench: Bench, repeat: int) -> None:
    size = bench.size
    print(
        f"\nMiB/s, median of {repeat} run(s) of {size / MIB:g} MiB each; "
        "in brackets the blksize/windowsize the server granted"
    )
    head = ["direction", "blksize", "window", *SERVERS]
    rows = [head]
    for direction in DIRECTIONS:
        for blksize in BLKSIZES:
            for window in WINDOWS:
                row = [direction, str(blksize), str(window)]
                for server in SERVERS:
                    cell = bench.cells[(server, direction, blksize, window)]
                    granted = f" ({cell.granted})" if cell.granted else ""
                    shown = fmt(cell.mibs(size)) if cell.selected else "-"
                    row.append(shown + granted)
                rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells))
        if number == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print("\nOptions granted (last run of each cell, as the OACK said; {} = no OACK):")
    for server in SERVERS:
        seen = sorted(
            {
                json.dumps(cell.options, sort_keys=True)
                for cell in bench.cells.values()
                if cell.server == server and cell.granted
            }
        )
        print(f"  {server}: {'; '.join(seen)}")
    dropped = [cell for cell in bench.cells.values() if sum(cell.drops)]
    print(
        "\nDatagrams dropped by a full socket buffer during a cell (the host's UDP "
        "RcvbufErrors, per run):"
    )
    for cell in dropped:
        print(
            f"  {cell.server} {cell.direction} {cell.blksize}/{cell.windowsize}: "
            f"{', '.join(str(d) for d in cell.drops)}"
        )
    if not dropped:
        print("  none")


@dataclass
class Goal:
    name: str
    ratios: list[tuple[str, float | None]]
    target: float
    strict: bool = False

    @property
    def passed(self) -> bool:
        return all(
            r is not None and (r > self.target if self.strict else r >= self.target)
            for _, r in self.ratios
        )


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def best(bench: Bench, server: str, direction: str, windows: Sequence[int]) -> float | None:
    values = [
        bench.cells[(server, direction, b, w)].mibs(bench.size) for b in BLKSIZES for w in windows
    ]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def goals(bench: Bench) -> list[Goal]:
    def mibs(server: str, direction: str, blksize: int, window: int) -> float | None:
        return bench.cells[(server, direction, blksize, window)].mibs(bench.size)

    lockstep = Goal(
        "device lock-step (windowsize 1) vs tftpy at the same blksize",
        [
            (f"{d} {b}", ratio(mibs("device", d, b, 1), mibs("tftpy", d, b, 1)))
            for d in DIRECTIONS
            for b in BLKSIZES
        ],
        1.5,
    )
    windowed = Goal(
        "device best windowsize-16 cell vs tftpy's best cell",
        [
            (d, ratio(best(bench, "device", d, (16,)), best(bench, "tftpy", d, WINDOWS)))
            for d in DIRECTIONS
        ],
        3.0,
    )
    hpa = Goal(
        "device best windowsize-16 cell vs tftp-hpa's best cell (faster)",
        [
            (d, ratio(best(bench, "device", d, (16,)), best(bench, "tftp-hpa", d, WINDOWS)))
            for d in DIRECTIONS
        ],
        1.0,
        strict=True,
    )
    return [lockstep, windowed, hpa]


def print_goals(bench: Bench) -> list[Goal]:
    results = goals(bench)
    if not all(cell.selected for cell in bench.cells.values()):
        print("\nGoals: not judged, only some of the cells ran")
        return []
    print("\nGoals:")
    for goal in results:
        op = ">" if goal.strict else ">="
        verdict = "PASS" if goal.passed else "MISS"
        shown = ", ".join(f"{label} {fmt(r)}x" for label, r in goal.ratios)
        print(f"  [{verdict}] {goal.name} (goal {op} {goal.target:g}x): {shown}")
    print("\nFor reference, device windowsize 16 vs tftpy's best at the same blksize:")
    for d in DIRECTIONS:
        parts = []
        for b in BLKSIZES:
            tftpy_best = max(
                (
                    v
                    for w in WINDOWS
                    if (v := bench.cells[("tftpy", d, b, w)].mibs(bench.size)) is not None
                ),
                default=None,
            )
            dev = bench.cells[("device", d, b, 16)].mibs(bench.size)
            parts.append(f"{b} {fmt(ratio(dev, tftpy_best))}x")
        print(f"  {d}: {', '.join(parts)}")
    return results


ECHO_SERVER = """
import selectors, socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ)
while True:
    sel.select()
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
"""


def echo_round_trip(blksize: int, count: int = 5000) -> float:
    """Seconds per round trip of a DATA-sized datagram to a bare Python echo process.

    The ceiling of any Python lock-step transfer on this machine: one datagram
    each way per block and nothing else done.
    """
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        message = bytes(blksize + 4)
        start = time.perf_counter()
        for _ in range(count):
            sock.sendto(message, ("127.0.0.1", port))
            sock.recvfrom(65535)
        elapsed = time.perf_counter() - start
        sock.close()
    finally:
        proc.kill()
        proc.wait()
    return elapsed / count


def print_ceilings(bench: Bench) -> list[dict[str, Any]]:
    """Lock-step results next to what a bare echo allows on this machine (also returned)."""
    print("\nLock-step ceiling (bare Python UDP echo on loopback, one block per round trip):")
    found: list[dict[str, Any]] = []
    for blksize in BLKSIZES:
        rtt = echo_round_trip(blksize)
        ceiling = blksize / rtt / MIB
        cells = []
        shares: dict[str, float | None] = {}
        for server in SERVERS:
            cell = bench.cells[(server, "download", blksize, 1)]
            shares[server] = ratio(cell.mibs(bench.size), ceiling)
            cells.append(f"{server} {fmt(shares[server]) if cell.selected else '-'}")
        print(
            f"  blksize {blksize}: round trip {rtt * 1e6:.0f} us, ceiling {ceiling:.1f} MiB/s; "
            f"download share of it: {', '.join(cells)}"
        )
        found.append(
            {
                "blksize": blksize,
                "round_trip_us": rtt * 1e6,
                "ceiling_mibs": ceiling,
                "download_share": shares,
            }
        )
    return found


def machine() -> dict[str, str]:
    cpu = cpu_model()
    return {
        "python": platform.python_version(),
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "platform": platform.platform(),
        "tftp-hpa": hpa_version(),
        "tftpy": tftpy_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "loadavg_start": loadavg(),
    }


# -- main ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="TFTP throughput of a simulated device vs tftp-hpa vs tftpy on loopback."
    )
    parser.add_argument("--size", type=size_argument, help="bytes per transfer (default 16M)")
    parser.add_argument("--repeat", type=int, help="runs per cell (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 MiB, 1 run per cell")
    parser.add_argument(
        "--speed",
        type=float,
        default=100.0,
        help="device time speed of the runtime (default 100: programming waits pass quickly)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write cProfile data: DIR/device.prof (runtime process), DIR/client.prof",
    )
    parser.add_argument(
        "--servers", nargs="+", choices=SERVERS, default=list(SERVERS),
        help="run only these servers' cells (default all); cells not run show as -",
    )  # fmt: skip
    parser.add_argument(
        "--directions", nargs="+", choices=DIRECTIONS, default=list(DIRECTIONS),
        help="run only these directions (default both)",
    )  # fmt: skip
    parser.add_argument(
        "--blksizes", nargs="+", type=int, choices=BLKSIZES, default=list(BLKSIZES),
        help="run only these blksizes (default 512 1468 8192)",
    )  # fmt: skip
    parser.add_argument(
        "--windows", nargs="+", type=int, choices=WINDOWS, default=list(WINDOWS),
        help="run only these windowsizes (default 1 16; 1 is lock-step)",
    )  # fmt: skip
    parser.add_argument("--child-tftpy", nargs=2, metavar=("ROOT", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = MIB if args.quick else 16 * MIB
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        parser.error("--repeat must be 1 or more")
    if args.size < IMAGE_HEADER_SIZE + 1:
        parser.error(f"--size must be more than {IMAGE_HEADER_SIZE} bytes")
    return args


def setup_device(device: Device, config: bytes) -> bytes:
    """Press, DISCOVER, SETIP, upload the config; returns the config dump the device serves."""
    progress("device: press 1.8 s (TFTP mode)")
    device.enter_tftp_mode()
    device.setip()
    progress(f"device: SETIP {device.ip} done; uploading a {len(config)}-byte config")
    put = tftp_put(device.address, CONFIG_NAME, config, options={"blksize": "8192"})
    progress(f"device: config stored ({put.seconds:.2f} s); reading the dump once")
    dump = tftp_get(device.address, CONFIG_NAME, options={"blksize": "8192"}).data or b""
    if config not in dump:
        raise BenchError("the device's config dump does not contain the uploaded config")
    return dump


def start_servers(tmp: Path, procs: Processes, device: Device, args: argparse.Namespace,
                  config: bytes) -> tuple[bytes, dict[str, Peer]]:  # fmt: skip
    """Start the device runtime and the peers; returns the device's dump and the peers."""
    progress(f"starting the device runtime (state {device.state}, port {device.port})")
    profile = args.profile.resolve() / "device.prof" if args.profile is not None else None
    device.start(procs, args.speed, profile)
    dump = setup_device(device, config)
    peers: dict[str, Peer] = {}
    for name, starter in (("tftp-hpa", start_hpa), ("tftpy", start_tftpy)):
        if name not in args.servers:
            continue
        root = tmp / name
        root.mkdir()
        (root / CONFIG_NAME).write_bytes(dump)
        peers[name] = starter(procs, root)
    for peer in peers.values():
        peer.wait_ready(procs)
    shown = [f"device {device.ip}:{device.port}"]
    shown += [f"{p.name} {p.address[0]}:{p.address[1]}" for p in peers.values()]
    progress("servers: " + ", ".join(shown))
    return dump, peers


def report(bench: Bench, args: argparse.Namespace, info: dict[str, str], elapsed: float) -> bool:
    """Print the table, the goals and the failures (and write --json); False if any failed."""
    print_table(bench, args.repeat)
    results = print_goals(bench)
    ceilings = print_ceilings(bench)
    waits = bench.programming_waits
    if waits:
        print(
            f"\nDevice uploads: {len(waits)}; waiting for programming (not timed) took "
            f"{statistics.median(waits):.2f} s median, {max(waits):.2f} s max"
        )
    failures = [(cell, f) for cell in bench.cells.values() for f in cell.failures]
    if failures:
        print(f"\n{len(failures)} FAILED transfer(s):")
        for cell, text in failures:
            print(f"  {cell.server} {cell.direction} {cell.blksize}/{cell.windowsize}: {text}")
    info["loadavg_end"] = loadavg()
    print(f"\ntotal time {elapsed:.1f} s; load average at the end {info['loadavg_end']}")
    if args.json is not None:
        payload: dict[str, Any] = {
            "machine": info,
            "size": bench.size,
            "repeat": args.repeat,
            "speed": args.speed,
            "cells": [
                {**asdict(cell), "median_mibs": cell.mibs(bench.size)}
                for cell in bench.cells.values()
            ],
            "goals": [
                {
                    "name": g.name,
                    "target": g.target,
                    "strict": g.strict,
                    "passed": g.passed,
                    "ratios": g.ratios,
                }
                for g in results
            ],
            "ceilings": ceilings,
            "programming_waits": waits,
            "failures": len(failures),
            "elapsed_s": elapsed,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    return not failures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_tftpy:
        return tftpy_child(args.child_tftpy[0], int(args.child_tftpy[1]))
    size: int = args.size
    max_text, prot_size = limits()
    if size > min(max_text, prot_size):
        print(
            f"--size {size} is too large: the benchmark profile takes a config of at most "
            f"{max_text} bytes and an image of at most {prot_size}",
            file=sys.stderr,
        )
        return 2
    info = machine()
    print(
        f"ipgwsim TFTP benchmark: {size} bytes ({size / MIB:g} MiB) per transfer, "
        f"{args.repeat} run(s) per cell, device speed {args.speed:g}x"
    )
    print(
        f"python {info['python']} on {info['cpu']} ({info['nproc']} CPUs); "
        f"{info['tftp-hpa']}; tftpy {info['tftpy']}; {info['date_utc']} UTC; "
        f"load average {info['loadavg_start']}"
    )
    progress("making the config text and the firmware images")
    config = config_text(size)
    images = firmware_images(size)
    tmp = Path(tempfile.mkdtemp(prefix="bench_tftp."))
    procs = Processes(tmp)
    device = Device(tmp / "state", PORTS.udp())
    profiler = cProfile.Profile() if args.profile is not None else None
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        dump, peers = start_servers(tmp, procs, device, args, config)
        bench = Bench(size, config, images, dump, device, peers, make_cells(args))
        measure(bench, args.repeat, profiler)
        procs.check_alive()
    except (BenchError, TftpClientError, RuntimeSetupError, OSError) as exc:
        print(f"\nbench_tftp: {exc}", file=sys.stderr)
        for name, _, _ in procs.items:
            tail = procs.log_tail(name)
            if tail:
                print(tail, file=sys.stderr)
        return 1
    finally:
        device.close()
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        if profiler is not None and args.profile is not None:
            profiler.dump_stats(str(args.profile / "client.prof"))
    ok = report(bench, args, info, time.perf_counter() - started)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

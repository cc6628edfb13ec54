"""TFTP throughput: a simulated device vs tftp-hpa and pure-Python servers, three clients.

    .venv/bin/python benchmarks/bench_tftp.py              # 8 MiB, 3 runs per cell
    .venv/bin/python benchmarks/bench_tftp.py --quick      # 1 MiB, 1 run per cell (smoke run)
    .venv/bin/python benchmarks/bench_tftp.py --size 4M --repeat 5 --json out.json

Three clients move the same bytes to and from six servers, each server in its own
process, all on loopback. The clients: the project's own (``ipgwsim.runtime.tftpclient``,
in this process), the PyPI package ``tftp``'s ``TFTPClient`` (asks for blksize and
windowsize; in this process) and tftp-hpa's ``tftp`` binary (asks for no option: 512-byte
blocks, lock-step; a process per transfer). The servers:

- **device**: one simulated IP6000 in TFTP mode (``ipgwsim run`` with the benchmark
  profile ``benchmarks/profiles/ip6000-bench.toml``, whose regions take 16 MiB), after a
  1.8 s press and gwload DISCOVER/SETIP. Upload = WRQ ``prot`` of a valid firmware
  image; download = RRQ ``config`` (the config ring dump) after a config text of the
  same size was uploaded. After each upload the benchmark waits until the device has
  programmed the image and is back in TFTP mode; that wait is not part of the time.
- **tftp-hpa**: ``in.tftpd`` on a loopback port.
- the pure-Python servers from PyPI that serve RRQ and WRQ: **tftpy**, **partftpy**,
  **py3tftp** and **pytftp** (the package ``tftp``), each in a hidden ``--child-server``
  mode of this script.

Each cell (client x server x direction x blksize 512/1468/8192 x windowsize 1/16; the
tftp-hpa client only 512/1) is run ``--repeat`` times; the table shows the median MiB/s
and what each server granted. The goals are printed with PASS/MISS and, where missed,
why (from the measured times per block, the server's CPU per block and a bare echo's
round trip). The exit status is 1 if any transfer failed or any received file differs
from what was sent. ``benchmarks/README.md`` explains the rows.
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
from collections.abc import Callable, Mapping, Sequence
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
#: The pure-Python TFTP servers from PyPI that serve RRQ and WRQ on Python 3.11 (the
#: candidates left out, and why, are in docs/benchmarks.md). ``pytftp`` is the package
#: ``tftp`` (its command is ``pytftp``).
PURE_PYTHON = ("tftpy", "partftpy", "py3tftp", "pytftp")
SERVERS = ("device", "tftp-hpa", *PURE_PYTHON)
#: Clients: the project's own (``ipgwsim.runtime.tftpclient``), the PyPI package ``tftp``'s
#: ``TFTPClient`` (asks for blksize and windowsize) and tftp-hpa's ``tftp`` binary (asks
#: for no option: RFC 1350, 512-byte blocks, lock-step).
CLIENTS = ("ipgwsim", "pytftp", "tftp-hpa")
#: The settings (blksize, windowsize) a client runs; a client not named runs them all.
CLIENT_SETTINGS: dict[str, tuple[tuple[int, int], ...]] = {"tftp-hpa": ((512, 1),)}
#: The servers that grant no windowsize: asked for a window they run lock-step, the
#: transfer of their windowsize-1 row, which stands for their windowsize-16 row too (a
#: lock-step cell whose OACK grants a windowsize fails, saying this list is wrong).
WINDOWLESS = ("tftp-hpa", "tftpy", "partftpy")
#: Why a server's cells of :data:`NOT_RUN` that stand for nothing are left out of a goal's
#: comparison, short enough for the goal's line (the whole reason is printed as "not run").
LEFT_OUT: dict[tuple[str, str, bool], str] = {
    ("py3tftp", "upload", True): (
        "not run: its windowed uploads took 0.3-7 MiB/s when tried apart from this benchmark"
    ),
}
#: Cells not run, and why: (server, direction, windowed or not) -> the reason.
NOT_RUN: dict[tuple[str, str, bool], str] = {
    ("py3tftp", "upload", True): (
        "py3tftp 1.3.0 receives a window so slowly (0.3-7 MiB/s, thousands of datagrams "
        "dropped by a full socket buffer) that its windowed uploads would take minutes"
    ),
} | {
    (server, direction, True): (
        f"{', '.join(WINDOWLESS)} grant no windowsize: asked for one they run lock-step, so "
        "their windowsize-16 rows are their windowsize-1 transfers, not run twice (the "
        "goals use the windowsize-1 numbers)"
    )
    for server in WINDOWLESS
    for direction in ("download", "upload")
}
DIRECTIONS = ("download", "upload")
#: Goals of the work order: in lock-step the device at least as fast as the fastest
#: pure-Python server and at least 1.5x tftpy; with a window at least 1.3x the best other
#: server (pure-Python or tftp-hpa) at the same setting.
LOCKSTEP_VS_TFTPY = 1.5
WINDOWED_VS_BEST = 1.3
#: Firmware builds of the two images the device gets in turn (HELLO shows which one it has).
BUILDS = ("90-6000.01", "90-6000.02")
UPLOAD_NAME = "prot"
CONFIG_NAME = "config"
#: How long the device may take to be back in TFTP mode after an upload (real seconds).
PROGRAMMING_TIMEOUT = 120.0
#: Retransmissions (8 s apart at most) the config upload and first dump of the set-up
#: may take: about 4 minutes.
SETUP_RETRIES = 30
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


# -- peers: tftp-hpa and the pure-Python servers ---------------------------------------


def server_child(name: str, root: str, port: int) -> int:
    """The hidden ``--child-server NAME ROOT PORT`` mode: serve ``root`` until killed."""
    # Each peer is imported only in its own child process.
    if name == "tftpy":
        import tftpy  # noqa: PLC0415

        tftpy.TftpServer(root).listen(HOST, port)
    elif name == "partftpy":
        from partftpy.TftpServer import TftpServer  # noqa: PLC0415

        TftpServer(root).listen(HOST, port)
    elif name == "py3tftp":
        # py3tftp serves its working directory; this is its own __main__ without the
        # argument parsing (and its INFO line per transfer left out).
        import asyncio  # noqa: PLC0415

        from py3tftp.protocols import TFTPServerProtocol  # noqa: PLC0415

        os.chdir(root)
        loop = asyncio.new_event_loop()
        timeouts = {b"timeout": 0.5, b"conn_timeout": 3.0}
        listen = loop.create_datagram_endpoint(
            lambda: TFTPServerProtocol(HOST, loop, timeouts), local_addr=(HOST, port)
        )
        loop.run_until_complete(listen)
        loop.run_forever()
    elif name == "pytftp":
        import tftp  # noqa: PLC0415

        server = tftp.TFTPServer(root, listen=[HOST], port=port, writable=True, overwrite=True)
        server.serve_forever()
    else:
        raise SystemExit(f"bench_tftp: no server {name!r}; the servers are {PURE_PYTHON}")
    return 0


def package_version(name: str) -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version(name)
    except Exception:
        return "not installed"


#: The PyPI distribution of each pure-Python peer (server or client).
DISTRIBUTIONS = {"tftpy": "tftpy", "partftpy": "partftpy", "py3tftp": "py3tftp", "pytftp": "tftp"}


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


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds process ``pid``'s threads have run so far; None if unknown.

    The sum of the first field of each ``/proc/PID/task/TID/schedstat`` (nanoseconds on
    a CPU): ``/proc/PID/stat`` counts in clock ticks (10 ms), too coarse for a transfer
    of a tenth of a second. A thread that ended between two readings is not counted.
    """
    if pid is None:
        return None
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    for task in tasks:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


@dataclass
class Peer:
    """A TFTP server with a folder: it serves ``config`` and receives ``prot`` there."""

    name: str
    root: Path
    address: tuple[str, int]
    #: The process that does the transfers (None: tftp-hpa, which forks one per transfer).
    pid: int | None = None

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


def start_pure_python(name: str, procs: Processes, root: Path) -> Peer:
    port = PORTS.udp()
    script = str(Path(__file__).resolve())
    proc = procs.start(name, [sys.executable, script, "--child-server", name, str(root), str(port)])
    return Peer(name, root, (HOST, port), proc.pid)


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
    pid: int | None = None

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
        self.pid = procs.start("device", argv).pid

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

#: A cell's key: client, server, direction, blksize, windowsize.
Key = tuple[str, str, str, int, int]


@dataclass
class Cell:
    """One client x server x direction x blksize x windowsize, with every run of it."""

    client: str
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
    #: CPU seconds the server's process used during each run (none for tftp-hpa's server,
    #: which forks a process per transfer).
    server_cpu: list[float] = field(default_factory=list)
    #: False if ``--clients``/``--servers``/``--directions``/``--blksizes``/``--windows``
    #: left it out; a client's cells outside its settings are not made at all.
    selected: bool = True
    #: Why the cell is never run (:data:`NOT_RUN`); empty if it is.
    not_run: str = ""

    @property
    def key(self) -> Key:
        return (self.client, self.server, self.direction, self.blksize, self.windowsize)

    def mibs(self, size: int) -> float | None:
        if not self.seconds:
            return None
        return size / MIB / statistics.median(self.seconds)

    def blocks(self, size: int) -> int:
        """DATA blocks of one transfer (the last one short or empty)."""
        block = int(self.granted.split("/")[0]) if self.granted else self.blksize
        return size // block + 1

    def cpu_per_block(self, size: int) -> float | None:
        """The server's median CPU seconds per DATA block, or None if not measured."""
        if not self.server_cpu:
            return None
        return statistics.median(self.server_cpu) / self.blocks(size)


def client_settings(client: str) -> tuple[tuple[int, int], ...]:
    return CLIENT_SETTINGS.get(client, tuple((b, w) for b in BLKSIZES for w in WINDOWS))


class HpaClient:
    """tftp-hpa's ``tftp`` binary, one process per transfer, timed from start to exit."""

    def __init__(self, workdir: Path) -> None:
        program = find_program("tftp")
        if program is None:
            raise BenchError("tftp-hpa's client tftp is not installed (Debian: tftp-hpa)")
        self.program = program
        self.workdir = workdir
        workdir.mkdir(exist_ok=True)

    def transfer(self, address: tuple[str, int], direction: str, data: bytes) -> TransferResult:
        local = self.workdir / ("got" if direction == "download" else "sent")
        if direction == "download":
            local.unlink(missing_ok=True)
            command = ["get", CONFIG_NAME, str(local)]
        else:
            local.write_bytes(data)
            command = ["put", str(local), UPLOAD_NAME]
        argv = [self.program, address[0], str(address[1]), "-m", "binary", "-c", *command]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        seconds = time.perf_counter() - start
        # tftp-hpa 5.2's client exits 0 after some errors too: what it says tells.
        said = (done.stdout + done.stderr).strip()
        if done.returncode != 0 or said:
            raise TftpClientError(
                f"tftp exited with {done.returncode}: {said or '(nothing)'}", None
            )
        got = local.read_bytes() if direction == "download" else None
        return TransferResult(data=got, options={}, blksize=512, windowsize=1, seconds=seconds)


def pytftp_transfer(address: tuple[str, int], direction: str, data: bytes,
                    blksize: int, windowsize: int) -> TransferResult:  # fmt: skip
    """One transfer with the PyPI package ``tftp``'s client, asking for blksize and windowsize
    only (no tsize or timeout option, as the project's client)."""
    import io  # noqa: PLC0415

    import tftp  # noqa: PLC0415

    client = tftp.TFTPClient(address[0], address[1], blksize=blksize, windowsize=windowsize,
                             tsize=False, timeout_option=False)  # fmt: skip
    try:
        if direction == "download":
            sink = io.BytesIO()
            result = client.download(CONFIG_NAME, sink)
            got: bytes | None = sink.getvalue()
        else:
            result = client.upload(UPLOAD_NAME, data)
            got = None
    except tftp.TFTPError as exc:
        raise TftpClientError(f"{type(exc).__name__}: {exc}", None) from exc
    negotiated = result.negotiated
    return TransferResult(
        data=got,
        options={str(k): str(v) for k, v in negotiated.options.items()},
        blksize=negotiated.blksize,
        windowsize=negotiated.windowsize,
        seconds=result.duration,
    )


@dataclass
class Bench:
    size: int
    config: bytes
    images: tuple[bytes, ...]
    dump: bytes
    device: Device
    peers: dict[str, Peer]
    cells: dict[Key, Cell]
    hpa_client: HpaClient | None = None
    programming_waits: list[float] = field(default_factory=list)
    uploads_to_device: int = 0

    def address(self, server: str) -> tuple[str, int]:
        return self.device.address if server == "device" else self.peers[server].address

    def server_pid(self, server: str) -> int | None:
        return self.device.pid if server == "device" else self.peers[server].pid

    def transfer(self, cell: Cell, image: bytes) -> TransferResult:
        address = self.address(cell.server)
        if cell.client == "tftp-hpa":
            assert self.hpa_client is not None
            return self.hpa_client.transfer(address, cell.direction, image)
        if cell.client == "pytftp":
            return pytftp_transfer(address, cell.direction, image, cell.blksize, cell.windowsize)
        options = {"blksize": str(cell.blksize), "windowsize": str(cell.windowsize)}
        if cell.direction == "download":
            return tftp_get(address, CONFIG_NAME, options=options)
        return tftp_put(address, UPLOAD_NAME, image, options=options)

    def run_once(self, cell: Cell) -> None:
        image = self.images[0]
        if cell.server == "device" and cell.direction == "upload":
            image = self.images[self.uploads_to_device % len(self.images)]
        result: TransferResult
        pid = self.server_pid(cell.server)
        before, cpu_before = udp_rcvbuf_errors(), process_cpu(pid)
        try:
            result = self.transfer(cell, image)
        except TftpClientError as exc:
            cell.failures.append(f"{cell.direction} failed: {exc}")
            return
        finally:
            cell.drops.append(udp_rcvbuf_errors() - before)
        cpu_after = process_cpu(pid)
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
        if cell.server in WINDOWLESS and "windowsize" in result.options:
            problem = (
                f"{cell.server} granted windowsize {result.options['windowsize']}: it is "
                "not windowless, run its windowsize-16 cells (WINDOWLESS in bench_tftp.py)"
            )
        if problem is not None:
            cell.failures.append(problem)
            return
        cell.seconds.append(result.seconds)
        if cpu_before is not None and cpu_after is not None:
            cell.server_cpu.append(cpu_after - cpu_before)
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


def make_cells(only: argparse.Namespace | None = None) -> dict[Key, Cell]:
    # The servers of one setting run back to back, and the clients of one setting too,
    # so that they meet the same conditions on a shared machine. Cells left out by
    # ``only`` stay in the table as "-".
    def chosen(cell: Cell) -> bool:
        if only is None:
            return True
        return (
            cell.client in only.clients
            and cell.server in only.servers
            and cell.direction in only.directions
            and cell.blksize in only.blksizes
            and cell.windowsize in only.windows
        )

    cells = [
        Cell(client, server, direction, blksize, window)
        for direction in DIRECTIONS
        for blksize in BLKSIZES
        for window in WINDOWS
        for client in CLIENTS
        if (blksize, window) in client_settings(client)
        for server in SERVERS
    ]
    for cell in cells:
        cell.selected = chosen(cell)
        cell.not_run = NOT_RUN.get((cell.server, cell.direction, cell.windowsize > 1), "")
    return {cell.key: cell for cell in cells}


def measure(bench: Bench, repeat: int, profiler: cProfile.Profile | None) -> None:
    chosen = [cell for cell in bench.cells.values() if cell.selected and not cell.not_run]
    total = len(chosen) * repeat
    done = 0
    for round_no in range(repeat):
        for cell in chosen:
            done += 1
            progress(
                f"run {round_no + 1}/{repeat}: {cell.client} client, {cell.server} "
                f"{cell.direction} blksize {cell.blksize} windowsize {cell.windowsize} "
                f"({done}/{total})"
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
    for client in CLIENTS:
        print(f"\nclient {client}:")
        head = ["direction", "blksize", "window", *SERVERS]
        rows = [head]
        for direction in DIRECTIONS:
            for blksize, window in client_settings(client):
                row = [direction, str(blksize), str(window)]
                for server in SERVERS:
                    cell = bench.cells[(client, server, direction, blksize, window)]
                    granted = f" ({cell.granted})" if cell.granted else ""
                    shown = "not run" if cell.not_run else fmt(cell.mibs(size))
                    shown = shown if cell.selected else "-"
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
                if cell.server == server and cell.granted and cell.client != "tftp-hpa"
            }
        )
        print(f"  {server}: {'; '.join(seen)}")
    reasons = sorted({cell.not_run for cell in bench.cells.values() if cell.not_run})
    for reason in reasons:
        print(f"\nnot run: {reason}")
    dropped = [cell for cell in bench.cells.values() if sum(cell.drops)]
    print(
        "\nDatagrams dropped by a full socket buffer during a cell (the host's UDP "
        "RcvbufErrors, per run):"
    )
    for cell in dropped:
        print(
            f"  {cell.client} client, {cell.server} {cell.direction} "
            f"{cell.blksize}/{cell.windowsize}: {', '.join(str(d) for d in cell.drops)}"
        )
    if not dropped:
        print("  none")


@dataclass
class Goal:
    name: str
    ratios: list[tuple[str, float | None]]
    target: float
    strict: bool = False
    #: For each ratio under its target: the measured ceiling and why (from the numbers).
    why: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.ratios) and all(
            r is not None and (r > self.target if self.strict else r >= self.target)
            for _, r in self.ratios
        )


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


@dataclass(frozen=True)
class Measured:
    """What the goals are judged on, by cell key (client, server, direction, blksize,
    windowsize): the median MiB/s and the server's median CPU seconds per DATA block;
    and the round trip of a bare echo (seconds) by blksize. ``failed`` says of each cell
    with a failed run how many failed (its median is of the others); ``left_out`` why a
    cell that is not run stands for nothing."""

    mibs: Mapping[Key, float | None]
    cpu_per_block: Mapping[Key, float | None] = field(default_factory=dict)
    round_trip: Mapping[int, float] = field(default_factory=dict)
    failed: Mapping[Key, str] = field(default_factory=dict)
    left_out: Mapping[Key, str] = field(default_factory=dict)

    @classmethod
    def of(cls, bench: Bench, round_trip: Mapping[int, float]) -> Measured:
        """The cells that ran; a windowless server's windowed cell is its lock-step one."""
        mibs: dict[Key, float | None] = {}
        cpu: dict[Key, float | None] = {}
        failed: dict[Key, str] = {}
        left_out: dict[Key, str] = {}
        for cell in bench.cells.values():
            ran = cell
            if cell.not_run and cell.server in WINDOWLESS and cell.windowsize > 1:
                client, server, direction, blksize, _ = cell.key
                ran = bench.cells.get((client, server, direction, blksize, 1), cell)
            if cell.selected and ran.not_run:
                why = LEFT_OUT.get((cell.server, cell.direction, cell.windowsize > 1))
                left_out[cell.key] = why or ran.not_run
            if not cell.selected or ran.not_run or not ran.selected:
                continue
            mibs[cell.key] = ran.mibs(bench.size)
            cpu[cell.key] = ran.cpu_per_block(bench.size)
            if ran.failures:
                runs = len(ran.failures) + len(ran.seconds)
                failed[cell.key] = f"{len(ran.failures)} of {runs} runs failed"
        return cls(mibs, cpu, round_trip, failed, left_out)

    def settings(self, window: Callable[[int], bool]) -> list[tuple[str, str, int, int]]:
        """(client, direction, blksize, windowsize) with a device cell, in key order."""
        return list(
            dict.fromkeys(
                (c, d, b, w) for (c, s, d, b, w) in self.mibs if s == "device" and window(w)
            )
        )

    def fastest(self, servers: Sequence[str], setting: tuple[str, str, int, int]) -> tuple[
        str, float | None]:  # fmt: skip
        """The fastest of ``servers`` at ``setting`` (name, MiB/s); ("", None) if any of them
        has no number or a failed run (:meth:`incomplete`), or none ran."""
        client, direction, blksize, window = setting
        if self.incomplete(servers, setting):
            return "", None
        found = [
            (v, s)
            for s in servers
            if (v := self.mibs.get((client, s, direction, blksize, window))) is not None
        ]
        if not found:
            return "", None
        value, name = max(found)
        return name, value

    def incomplete(self, servers: Sequence[str], setting: tuple[str, str, int, int]) -> list[
        str]:  # fmt: skip
        """The cells of ``servers`` at ``setting`` that cannot be compared, each as "server
        (why)": every run failed, some failed, or the cell is missing and not left out."""
        client, direction, blksize, window = setting
        found = []
        for server in servers:
            key = (client, server, direction, blksize, window)
            if key in self.left_out:
                continue
            if key not in self.mibs:
                found.append(f"{server} (not measured)")
            elif self.mibs[key] is None:
                found.append(f"{server} ({self.failed.get(key, 'every run failed')})")
            elif key in self.failed:
                found.append(f"{server} ({self.failed[key]})")
        return found

    def left_out_of(self, servers: Sequence[str], setting: tuple[str, str, int, int]) -> list[
        str]:  # fmt: skip
        """The servers of ``servers`` left out at ``setting``, each as "server (why)"."""
        client, direction, blksize, window = setting
        return [
            f"{server} {why}"
            for server in servers
            if (why := self.left_out.get((client, server, direction, blksize, window)))
        ]


def label(setting: tuple[str, str, int, int]) -> str:
    client, direction, blksize, window = setting
    shown = f"{client} {direction} {blksize}"
    return shown if window == 1 else f"{shown}/{window}"


def us_per_block(blksize: int, mibs: float) -> float:
    return blksize / (mibs * MIB) * 1e6


def lockstep_why(m: Measured, setting: tuple[str, str, int, int], device: float | None,
                 need: float | None, against: str, *,
                 reached: tuple[str, float | None] | None = None) -> str:  # fmt: skip
    """Why a lock-step ratio is short: the device's time per block next to the echo's.
    ``reached``: the server compared with and its own MiB/s (a server faster than the
    echo shows that the echo bounds nothing)."""
    shown = label(setting)
    if device is None or need is None:
        return f"{shown}: not measured (a transfer failed)"
    client, direction, blksize, window = setting
    took, allowed = us_per_block(blksize, device), us_per_block(blksize, need)
    text = (
        f"{shown}: the device took {took:.0f} µs a block ({device:.1f} MiB/s); "
        f"{against} needs {allowed:.0f} µs ({need:.1f} MiB/s)"
    )
    cpu = m.cpu_per_block.get((client, "device", direction, blksize, window))
    if cpu is not None:
        text += f"; the device's process was busy {cpu * 1e6:.0f} µs of each block"
    rtt = m.round_trip.get(blksize)
    if rtt is not None:
        rtt_us = rtt * 1e6
        ceiling = blksize / rtt / MIB
        text += (
            f"; a bare Python echo's round trip is {rtt_us:.0f} µs, the lock-step ceiling "
            f"{ceiling:.1f} MiB/s"
        )
        server, speed = reached if reached is not None else ("", None)
        if allowed <= rtt_us and speed is not None and us_per_block(blksize, speed) < rtt_us:
            text += (
                f": the goal asks for less than that round trip, which {server} beat, so the"
                f" echo bounds nothing here; the device would need {took - allowed:.0f} µs"
                " less a block"
            )
        elif allowed <= rtt_us:
            text += ": the goal lies above this machine's ceiling"
        else:
            text += (
                f": the device's work beyond a bare round trip, {took - rtt_us:.0f} µs a block, "
                f"would have to shrink to {allowed - rtt_us:.0f} µs"
            )
    return text


def windowed_why(m: Measured, setting: tuple[str, str, int, int], device: float | None,
                 need: float | None, against: str) -> str:  # fmt: skip
    """Why a windowed ratio is short: the device's CPU per block against the goal's time."""
    shown = label(setting)
    if device is None or need is None:
        return f"{shown}: not measured (a transfer failed)"
    client, direction, blksize, window = setting
    took, allowed = us_per_block(blksize, device), us_per_block(blksize, need)
    text = (
        f"{shown}: the device took {took:.1f} µs a block ({device:.1f} MiB/s); "
        f"{against} needs {allowed:.1f} µs ({need:.1f} MiB/s)"
    )
    cpu = m.cpu_per_block.get((client, "device", direction, blksize, window))
    if cpu is not None and cpu > 0:
        busy = cpu * 1e6
        text += (
            f"; its process was busy {busy:.1f} µs of each block ({busy / took:.0%} of the "
            f"time), so one core allows it at most {blksize / cpu / MIB:.1f} MiB/s here"
        )
        if busy > allowed:
            text += ": the device's own work per block is the limit"
        else:
            text += ": the rest is waiting (the client, the kernel, the window's pacing)"
    return text


def compared(m: Measured, goal: Goal, setting: tuple[str, str, int, int],
             servers: Sequence[str], against: str) -> bool:  # fmt: skip
    """Whether every cell of the device and ``servers`` at ``setting`` can be compared. If not
    (a cell with a failed run or no number), the setting counts as missed: its ratio is
    n/a and a why line names the cells. A failed peer says nothing of the device's speed,
    and a median of the runs that did not fail would hide the ones that did."""
    bad = m.incomplete(("device", *servers), setting)
    if not bad:
        return True
    shown = label(setting)
    goal.ratios.append((f"{shown} (vs {against}: {', '.join(bad)})", None))
    goal.why.append(
        f"{shown}: not judged, a cell of the comparison has a failed run or no number: "
        + ", ".join(bad)
    )
    return False


def versus(m: Measured, name: str, servers: Sequence[str],
           setting: tuple[str, str, int, int]) -> str:  # fmt: skip
    """A goal line's "(vs NAME)", naming the servers left out of the comparison and why."""
    left = m.left_out_of(servers, setting)
    return f"(vs {name}; left out: {'; '.join(left)})" if left else f"(vs {name})"


def judge(m: Measured) -> list[Goal]:
    """The work order's goals on the measured numbers, each with why where it is missed."""
    lockstep = m.settings(lambda w: w == 1)
    windowed = m.settings(lambda w: w > 1)
    fastest = Goal("device lock-step >= the fastest pure-Python server", [], 1.0)
    tftpy = Goal(f"device lock-step >= {LOCKSTEP_VS_TFTPY:g}x tftpy", [], LOCKSTEP_VS_TFTPY)
    best = Goal(
        f"device with a window >= {WINDOWED_VS_BEST:g}x the best other server",
        [],
        WINDOWED_VS_BEST,
    )
    for setting in lockstep:
        client, direction, blksize, window = setting
        device = m.mibs.get((client, "device", direction, blksize, window))
        if compared(m, fastest, setting, PURE_PYTHON, "the pure-Python servers"):
            name, top = m.fastest(PURE_PYTHON, setting)
            r = ratio(device, top)
            shown = versus(m, name or "none", PURE_PYTHON, setting)
            fastest.ratios.append((f"{label(setting)} {shown}", r))
            if r is None or r < fastest.target:
                fastest.why.append(
                    lockstep_why(
                        m,
                        setting,
                        device,
                        top,
                        name or "the goal",
                        reached=(name or "the goal", top),
                    )
                )
        if compared(m, tftpy, setting, ("tftpy",), "tftpy"):
            slow = m.mibs.get((client, "tftpy", direction, blksize, window))
            r = ratio(device, slow)
            tftpy.ratios.append((label(setting), r))
            need = None if slow is None else slow * tftpy.target
            if r is None or r < tftpy.target:
                against = f"{tftpy.target:g}x tftpy"
                tftpy.why.append(
                    lockstep_why(m, setting, device, need, against, reached=("tftpy", slow))
                )
    others = tuple(s for s in SERVERS if s != "device")
    for setting in windowed:
        client, direction, blksize, window = setting
        device = m.mibs.get((client, "device", direction, blksize, window))
        if not compared(m, best, setting, others, "the other servers"):
            continue
        name, top = m.fastest(others, setting)
        r = ratio(device, top)
        best.ratios.append((f"{label(setting)} {versus(m, name or 'none', others, setting)}", r))
        if r is None or r < best.target:
            need = None if top is None else top * best.target
            against = f"{best.target:g}x {name or 'the best'}"
            best.why.append(windowed_why(m, setting, device, need, against))
    return [goal for goal in (fastest, tftpy, best) if goal.ratios]


def lockstep_report(m: Measured) -> list[dict[str, Any]]:
    """For every lock-step setting: device / tftp-hpa's server, and each server's share of
    the echo ceiling at that blksize (reported, not judged)."""
    found = []
    for setting in m.settings(lambda w: w == 1):
        client, direction, blksize, window = setting
        rtt = m.round_trip.get(blksize)
        ceiling = None if rtt is None else blksize / rtt / MIB
        device = m.mibs.get((client, "device", direction, blksize, window))
        hpa = m.mibs.get((client, "tftp-hpa", direction, blksize, window))
        shares = {
            s: ratio(m.mibs.get((client, s, direction, blksize, window)), ceiling)
            for s in SERVERS
            if (client, s, direction, blksize, window) in m.mibs
        }
        found.append(
            {
                "client": client,
                "direction": direction,
                "blksize": blksize,
                "device_vs_tftp_hpa": ratio(device, hpa),
                "ceiling_mibs": ceiling,
                "share": shares,
            }
        )
    return found


def print_goals(bench: Bench, measured: Measured) -> list[Goal]:
    if not all(cell.selected for cell in bench.cells.values()):
        print("\nGoals: not judged, only some of the cells ran")
        return []
    results = judge(measured)
    print("\nGoals:")
    for goal in results:
        op = ">" if goal.strict else ">="
        verdict = "PASS" if goal.passed else "MISS"
        shown = ", ".join(f"{name} {fmt(r)}x" for name, r in goal.ratios)
        print(f"  [{verdict}] {goal.name} (goal {op} {goal.target:g}x): {shown}")
        for line in goal.why:
            print(f"      why: {line}")
    return results


ECHO_SERVER = """
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
buffer = bytearray(65536)
view = memoryview(buffer)
while True:
    size, peer = s.recvfrom_into(buffer)
    s.sendto(view[:size], peer)
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
        sock.connect(("127.0.0.1", port))
        message = bytes(blksize + 4)
        buffer = bytearray(65536)  # no datagram object made per answer
        start = time.perf_counter()
        for _ in range(count):
            sock.send(message)
            sock.recv_into(buffer)
        elapsed = time.perf_counter() - start
        sock.close()
    finally:
        proc.kill()
        proc.wait()
    return elapsed / count


def print_ceilings(report: list[dict[str, Any]], round_trip: Mapping[int, float]) -> None:
    """Lock-step results next to what a bare echo allows on this machine."""
    print("\nLock-step ceiling (bare Python UDP echo on loopback, one block per round trip):")
    for blksize, rtt in round_trip.items():
        print(
            f"  blksize {blksize}: round trip {rtt * 1e6:.0f} us, "
            f"ceiling {blksize / rtt / MIB:.1f} MiB/s"
        )
    print("Lock-step: device / tftp-hpa's server, and each server's share of the ceiling:")

    def shown(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    for row in report:
        shares = ", ".join(f"{s} {shown(v)}" for s, v in row["share"].items())
        print(
            f"  {row['client']} {row['direction']} {row['blksize']}: device / tftp-hpa "
            f"{shown(row['device_vs_tftp_hpa'])}x; share: {shares}"
        )


def machine() -> dict[str, str]:
    cpu = cpu_model()
    info = {
        "python": platform.python_version(),
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "platform": platform.platform(),
        "tftp-hpa": hpa_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "loadavg_start": loadavg(),
    }
    for name, dist in DISTRIBUTIONS.items():
        info[name] = package_version(dist)
    return info


# -- main ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="TFTP throughput of a simulated device vs tftp-hpa and pure-Python "
        "servers on loopback, with three clients."
    )
    parser.add_argument("--size", type=size_argument, help="bytes per transfer (default 8M)")
    parser.add_argument("--repeat", type=int, help="runs per cell (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 MiB, 1 run per cell")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="device time speed of the runtime (default 1: the device's TFTP timers are a "
        "real device's, 1 s to the first retransmission; faster makes the untimed "
        "programming waits short but the timers short too, see docs/benchmarks.md)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write cProfile data: DIR/device.prof (runtime process), DIR/client.prof",
    )
    parser.add_argument(
        "--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS),
        help="run only these clients' cells (default all)",
    )  # fmt: skip
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
    parser.add_argument(
        "--child-server", nargs=3, metavar=("NAME", "ROOT", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = MIB if args.quick else 8 * MIB
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
    # Not timed: patient timers, for a device that writes the config to its ring while
    # other work on the machine takes most of the CPU.
    patient = TimerPolicy(retries=SETUP_RETRIES)
    options = {"blksize": "8192"}
    put = tftp_put(device.address, CONFIG_NAME, config, options=options, timers=patient)
    progress(f"device: config stored ({put.seconds:.2f} s); reading the dump once")
    dump = tftp_get(device.address, CONFIG_NAME, options=options, timers=patient).data or b""
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
    for name in SERVERS[1:]:
        if name not in args.servers:
            continue
        root = tmp / name
        root.mkdir()
        (root / CONFIG_NAME).write_bytes(dump)
        if name == "tftp-hpa":
            peers[name] = start_hpa(procs, root)
        else:
            peers[name] = start_pure_python(name, procs, root)
    for peer in peers.values():
        peer.wait_ready(procs)
    shown = [f"device {device.ip}:{device.port}"]
    shown += [f"{p.name} {p.address[0]}:{p.address[1]}" for p in peers.values()]
    progress("servers: " + ", ".join(shown))
    return dump, peers


def report(bench: Bench, args: argparse.Namespace, info: dict[str, str], elapsed: float) -> bool:
    """Print the table, the goals and the failures (and write --json); False if any failed."""
    print_table(bench, args.repeat)
    progress("measuring the echo round trip of this machine")
    round_trip = {blksize: echo_round_trip(blksize) for blksize in args.blksizes}
    measured = Measured.of(bench, round_trip)
    results = print_goals(bench, measured)
    lockstep = lockstep_report(measured)
    print_ceilings(lockstep, round_trip)
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
            "servers": list(SERVERS),
            "pure_python": list(PURE_PYTHON),
            "clients": list(CLIENTS),
            "cells": [
                {
                    **asdict(cell),
                    "median_mibs": cell.mibs(bench.size),
                    "cpu_per_block_us": None
                    if (cpu := cell.cpu_per_block(bench.size)) is None
                    else cpu * 1e6,
                }
                for cell in bench.cells.values()
            ],
            "goals": [
                {
                    "name": g.name,
                    "target": g.target,
                    "strict": g.strict,
                    "passed": g.passed,
                    "ratios": g.ratios,
                    "why": g.why,
                }
                for g in results
            ],
            "round_trip_us": {str(b): rtt * 1e6 for b, rtt in round_trip.items()},
            "lockstep": lockstep,
            "programming_waits": waits,
            "failures": len(failures),
            "elapsed_s": elapsed,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    return not failures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_server:
        name, root, port = args.child_server
        return server_child(name, root, int(port))
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
        f"{info['tftp-hpa']}; "
        + "; ".join(f"{name} {info[name]}" for name in DISTRIBUTIONS)
        + f"; {info['date_utc']} UTC; "
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
        hpa_client = HpaClient(tmp / "tftp-hpa-client") if "tftp-hpa" in args.clients else None
        bench = Bench(size, config, images, dump, device, peers, make_cells(args), hpa_client)
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

"""A fleet of simulated IP6000 in one runtime process (run by hand, not a test).

    .venv/bin/python benchmarks/bench_fleet.py             # 1,000 devices
    .venv/bin/python benchmarks/bench_fleet.py --quick     # 50 devices (smoke run)
    .venv/bin/python benchmarks/bench_fleet.py --count 200 --json out.json

Starts ``ipgwsim run IP6000 --count N --state TMP --port P --speed X`` as its own
process, then:

1. puts every device in TFTP mode: a 1.8 s press each through the control socket
   (``--connections`` presses at a time, one control connection each);
2. one broadcast gwload DISCOVER, collecting one HELLO per device (repeated with a new
   xid, as a gwload client does, only if HELLOs are missing after a quiet second);
3. SETIP by MAC to a distinct 127.100.x.y for every device (``--window`` outstanding);
4. RRQ ``config`` from every device at its new address, checking that the dump holds
   ``config change CMD0 /name IP6000`` (``--readers`` transfers at a time).

It reports the time to start the devices, each phase, the whole
discover/setip/read round, and VmRSS/VmHWM of the runtime process (``/proc/PID/status``)
after the start, after the presses and after the round; the goal is under 200 MiB.
Exit status 1 if a device is missing, refuses, or serves a wrong config.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from hostinfo import loadavg

from ipgwsim.proto import gwload
from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.tftpclient import TftpClientError, tftp_get
from ipgwsim.testing.loopback import Ports

#: Ports reserved for this process's servers and runtimes until it ends, which no
#: other program on the host gets meanwhile (test runs go on beside a benchmark).
PORTS = Ports()

MIB = 1024 * 1024
MODEL = "IP6000"
GWTYPE = 6000
BROADCAST = "127.255.255.255"
EXPECTED = b"config change CMD0 /name IP6000"
#: Memory goal for the runtime process with 1,000 devices.
GOAL_MIB = 200
GOAL_DEVICES = 1000
MASK = ipaddress.IPv4Address("255.0.0.0")
NO_GATEWAY = ipaddress.IPv4Address("0.0.0.0")


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


class FleetError(Exception):
    """Something went wrong; the benchmark cannot go on."""


def address_of(index: int) -> ipaddress.IPv4Address:
    """The address device number ``index`` (0-based) gets: 127.100.0.1, 127.100.0.2, ..."""
    if index >= 254 * 256:
        raise FleetError("at most 65,024 devices get an address in this benchmark")
    return ipaddress.IPv4Address(f"127.100.{index // 254}.{index % 254 + 1}")


# -- the runtime process -------------------------------------------------------------


@dataclass
class Memory:
    """VmRSS and VmHWM of the runtime process at one moment, in KiB."""

    when: str
    rss_kib: int
    hwm_kib: int


def memory(pid: int, when: str) -> Memory:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return Memory(when, fields["VmRSS"], fields["VmHWM"])


class RuntimeProcess:
    """``ipgwsim run`` in its own process (stdout and stderr go to a log file).

    ``run_args``: what it runs (default ``IP6000 --count COUNT``); ``ready``: the text of
    its output that says every device was added (default its summary line)."""

    def __init__(
        self,
        state: Path,
        port: int,
        count: int,
        speed: float,
        *,
        run_args: Sequence[str] | None = None,
        ready: str | None = None,
    ) -> None:
        self.state = state
        self.port = port
        self.count = count
        self.log_path = state.parent / "runtime.log"
        self._log: IO[bytes] | None = None
        self.argv = [
            sys.executable,
            "-m",
            "ipgwsim.tools.cli",
            "run",
            *(run_args if run_args is not None else [MODEL, "--count", str(count)]),
            "--state",
            str(state),
            "--port",
            str(port),
            "--speed",
            f"{speed:g}",
        ]
        self.ready = (ready if ready is not None else f"ipgwsim: {count} x {MODEL}").encode()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float) -> float:
        """Start it; returns the seconds until it printed that all devices run."""
        self._log = self.log_path.open("wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        offset = 0  # the log read so far (a device table of 10,000 lines is long)
        while True:
            if self.proc.poll() is not None:
                raise FleetError(f"the runtime exited with {self.proc.returncode}:\n{self.tail()}")
            with self.log_path.open("rb") as log:
                log.seek(max(0, offset - len(self.ready)))
                text = log.read()
                offset = log.tell()
            if self.ready in text:
                return time.perf_counter() - started
            if time.monotonic() > deadline:
                raise FleetError(f"the runtime did not start within {timeout:.0f} s")
            time.sleep(0.02)

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        # The device table is long: show the log's first lines and its end.
        shown = text[:3] + (["..."] if len(text) > 3 + lines else []) + text[3:][-lines:]
        return "\n".join(f"    runtime| {line}" for line in shown)

    def stop(self) -> float | None:
        """SIGTERM (the runtime saves every flash), wait; the seconds it took, or None."""
        if self.proc is None:
            return None
        started = time.perf_counter()
        took: float | None = None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=300)
                    took = time.perf_counter() - started
                except subprocess.TimeoutExpired:
                    progress(f"the runtime did not stop on SIGTERM; killing pid {self.proc.pid}")
                    self.proc.kill()
                    self.proc.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        finally:
            if self._log is not None:
                self._log.close()
        return took


# -- phases --------------------------------------------------------------------------


def press_all(state: Path, names: list[str], connections: int) -> list[str]:
    """A 1.8 s press on every device; returns the problems (devices not in TFTP mode)."""
    local = threading.local()
    clients: list[ControlClient] = []
    lock = threading.Lock()

    def press(name: str) -> str | None:
        client = getattr(local, "client", None)
        if client is None:
            client = ControlClient(state, timeout=60)
            local.client = client
            with lock:
                clients.append(client)
        try:
            reply = client.request("press", device=name, hold=1.8)
        except ControlError as exc:
            return f"{name}: press refused: {exc}"
        if reply["mode"] != "TFTP mode":
            return f"{name}: after a 1.8 s press it is in {reply['mode']!r}"
        return None

    try:
        with ThreadPoolExecutor(connections) as pool:
            results = list(pool.map(press, names))
    finally:
        for client in clients:
            client.close()
    return [r for r in results if r is not None]


class GwloadSocket:
    """A gwload client socket: bound to 0.0.0.0 with SO_BROADCAST, large receive buffer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
        self.sock.bind(("0.0.0.0", 0))
        self.xid = random.Random().randrange(1 << 30)

    def next_xid(self) -> int:
        self.xid = (self.xid + 1) & 0xFFFFFFFF
        return self.xid

    def send(self, message: gwload.Message) -> None:
        self.sock.sendto(gwload.encode_message(message), (BROADCAST, self.port))

    def receive(self, timeout: float) -> tuple[gwload.Message, tuple[str, int]] | None:
        """The next gwload message within ``timeout`` seconds (garbage skipped), or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(2048)
            except TimeoutError:
                return None
            with contextlib.suppress(gwload.MalformedMessage):
                return gwload.parse_message(data), src
        return None

    def close(self) -> None:
        self.sock.close()


@dataclass
class Discovery:
    hellos: dict[bytes, gwload.Hello]
    discovers_sent: int
    seconds: float


def discover_all(gw: GwloadSocket, count: int, tries: int = 5) -> Discovery:
    """DISCOVER by broadcast until ``count`` devices said HELLO (a quiet second ends a try)."""
    hellos: dict[bytes, gwload.Hello] = {}
    started = time.perf_counter()
    sent = 0
    for _ in range(tries):
        xid = gw.next_xid()
        gw.send(gwload.Discover(xid, gwload.ANY_MAC, GWTYPE))
        sent += 1
        while len(hellos) < count:
            got = gw.receive(1.0)
            if got is None:
                break
            message, _src = got
            if isinstance(message, gwload.Hello) and message.xid == xid:
                hellos.setdefault(message.mac, message)
        if len(hellos) >= count:
            break
    return Discovery(hellos, sent, time.perf_counter() - started)


def setip_all(
    gw: GwloadSocket, macs: list[bytes], window: int, tries: int = 5
) -> tuple[dict[bytes, str], list[str], int]:
    """SETIP every MAC to its address, ``window`` devices waiting for an answer at a time.

    As a gwload client: a request unanswered for a second is sent again (new xid), at
    most ``tries`` times. A late answer to an earlier try counts too. Returns the
    addresses taken (by MAC), the problems, and how many SETIPs were sent.
    """
    todo = list(enumerate(macs))
    todo.reverse()
    #: mac -> (address, time of the last try, tries so far)
    waiting: dict[bytes, tuple[ipaddress.IPv4Address, float, int]] = {}
    #: every xid sent -> the MAC it was for
    xids: dict[int, bytes] = {}
    done: dict[bytes, str] = {}
    problems: list[str] = []

    def send(mac: bytes, ip: ipaddress.IPv4Address, attempt: int) -> None:
        xid = gw.next_xid()
        xids[xid] = mac
        gw.send(gwload.SetIp(xid, mac, GWTYPE, ip=ip, mask=MASK, gateway=NO_GATEWAY))
        waiting[mac] = (ip, time.monotonic(), attempt)

    while todo or waiting:
        while todo and len(waiting) < window:
            index, mac = todo.pop()
            send(mac, address_of(index), 1)
        got = gw.receive(0.1)
        if got is not None:
            message, src = got
            mac = xids.get(message.xid, b"")
            if mac in waiting:
                ip = waiting[mac][0]
                if isinstance(message, gwload.Hello) and message.ip == ip and src[0] == str(ip):
                    done[mac] = str(ip)
                else:
                    problems.append(f"{gwload.format_mac(mac)}: SETIP {ip} answered {message}")
                del waiting[mac]
        now = time.monotonic()
        for mac, (ip, at, attempt) in list(waiting.items()):
            if now - at < 1.0:
                continue
            if attempt >= tries:
                del waiting[mac]
                problems.append(f"{gwload.format_mac(mac)}: no answer to SETIP {ip}")
            else:
                send(mac, ip, attempt + 1)
    return done, problems, len(xids)


def read_all(addresses: list[str], port: int, readers: int) -> list[str]:
    """RRQ config from every address; returns the problems."""

    def read(ip: str) -> str | None:
        try:
            # dally=0: the time is the reads', not the client's wait after its last ACK
            result = tftp_get((ip, port), "config", options={"blksize": "1468"}, dally=0.0)
        except TftpClientError as exc:
            return f"{ip}: RRQ config failed: {exc}"
        if EXPECTED not in (result.data or b""):
            return f"{ip}: the config dump does not contain {EXPECTED.decode()!r}"
        return None

    with ThreadPoolExecutor(readers) as pool:
        return [r for r in pool.map(read, addresses) if r is not None]


# -- main ----------------------------------------------------------------------------


@dataclass
class Report:
    count: int
    speed: float
    start_s: float = 0.0
    press_s: float = 0.0
    discover_s: float = 0.0
    discovers_sent: int = 0
    hellos: int = 0
    setip_s: float = 0.0
    setips_sent: int = 0
    read_s: float = 0.0
    round_s: float = 0.0
    stop_s: float | None = None
    memory: list[Memory] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def run_fleet(args: argparse.Namespace, tmp: Path, report: Report) -> RuntimeProcess:
    runtime = RuntimeProcess(tmp / "state", PORTS.udp(), args.count, args.speed)
    progress(f"starting {args.count} x {MODEL} (port {runtime.port}, speed {args.speed:g}x)")
    report.start_s = runtime.start(args.start_timeout)
    return runtime


def exercise(args: argparse.Namespace, runtime: RuntimeProcess, report: Report) -> None:
    count = args.count
    names = [f"ip6000-{n}" for n in range(1, count + 1)]
    time.sleep(0.5)  # let the runtime settle after printing its table
    report.memory.append(memory(runtime.pid, "after start (firmware running)"))
    progress(f"pressing the reset button of {count} devices for 1.8 s")
    problems, report.press_s = timed(lambda: press_all(runtime.state, names, args.connections))
    report.problems += problems
    report.memory.append(memory(runtime.pid, "after the presses (TFTP mode)"))
    gw = GwloadSocket(runtime.port)
    try:
        round_started = time.perf_counter()
        progress("DISCOVER")
        found = discover_all(gw, count)
        report.discover_s, report.discovers_sent = found.seconds, found.discovers_sent
        report.hellos = len(found.hellos)
        if len(found.hellos) != count:
            report.problems.append(f"{len(found.hellos)} HELLOs for {count} devices")
        macs = sorted(found.hellos)
        progress(f"{len(macs)} HELLOs; SETIP each by MAC")
        (addresses, problems, report.setips_sent), report.setip_s = timed(
            lambda: setip_all(gw, macs, args.window)
        )
        report.problems += problems
        progress(f"{len(addresses)} addresses set; RRQ config from each")
        problems, report.read_s = timed(
            lambda: read_all(sorted(addresses.values()), runtime.port, args.readers)
        )
        report.problems += problems
        report.round_s = time.perf_counter() - round_started
    finally:
        gw.close()
    report.memory.append(memory(runtime.pid, "after discover/setip/read"))


def print_report(report: Report) -> None:
    n = report.count
    print(f"\nfleet of {n} x {MODEL} in one runtime process, speed {report.speed:g}x")
    rows = [
        ("start (process start -> all devices added)", f"{report.start_s:.2f} s", ""),
        ("press 1.8 s each (control socket)", f"{report.press_s:.2f} s", ""),
        (
            "DISCOVER -> HELLOs",
            f"{report.discover_s:.2f} s",
            f"{report.hellos} HELLOs, {report.discovers_sent} DISCOVER(s) sent",
        ),
        ("SETIP by MAC", f"{report.setip_s:.2f} s", f"{report.setips_sent} SETIPs sent"),
        ("RRQ config", f"{report.read_s:.2f} s", ""),
        ("whole round (discover + setip + read)", f"{report.round_s:.2f} s", ""),
    ]
    if report.stop_s is not None:
        rows.append(("stop (SIGTERM, saves every flash)", f"{report.stop_s:.2f} s", ""))
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>9}  {note}")
    print("\nmemory of the runtime process (/proc/PID/status):")
    for m in report.memory:
        print(
            f"  {m.when:<32}  VmRSS {m.rss_kib / 1024:7.1f} MiB  VmHWM {m.hwm_kib / 1024:7.1f} MiB"
        )
    if report.memory:
        peak = max(m.hwm_kib for m in report.memory) / 1024
        verdict = "PASS" if peak < GOAL_MIB else "MISS"
        print(f"\n[{verdict}] peak VmHWM {peak:.1f} MiB (goal: under {GOAL_MIB} MiB)")
    if report.problems:
        print(f"\n{len(report.problems)} problem(s):")
        for text in report.problems[:20]:
            print(f"  {text}")
        if len(report.problems) > 20:
            print(f"  ... and {len(report.problems) - 20} more")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="1,000 simulated IP6000 in one runtime process.")
    parser.add_argument("--count", type=int, help="number of devices (default 1000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 devices")
    parser.add_argument("--speed", type=float, default=100.0, help="device speed (default 100)")
    parser.add_argument(
        "--connections", type=int, default=32, help="control connections pressing at once"
    )
    parser.add_argument(
        "--window", type=int, default=8, help="devices waiting for a SETIP answer at once"
    )
    parser.add_argument("--readers", type=int, default=8, help="RRQs running at once")
    parser.add_argument(
        "--start-timeout", type=float, default=600.0, help="seconds allowed for the start"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    args = parser.parse_args(argv)
    if args.count is None:
        args.count = 50 if args.quick else GOAL_DEVICES
    if args.count < 1 or args.connections < 1 or args.window < 1 or args.readers < 1:
        parser.error("--count, --connections, --window and --readers must be 1 or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"ipgwsim fleet benchmark: {args.count} x {MODEL}; python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, "
        f"load average {loadavg()}"
    )
    report = Report(args.count, args.speed)
    tmp = Path(tempfile.mkdtemp(prefix="bench_fleet."))
    runtime: RuntimeProcess | None = None
    try:
        runtime = run_fleet(args, tmp, report)
        progress(f"{args.count} devices up after {report.start_s:.2f} s")
        exercise(args, runtime, report)
    except (FleetError, RuntimeSetupError, ControlError, OSError) as exc:
        print(f"\nbench_fleet: {exc}", file=sys.stderr)
        if runtime is not None:
            print(runtime.tail(), file=sys.stderr)
        return 1
    finally:
        if runtime is not None:
            progress("stopping the runtime")
            report.stop_s = runtime.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print_report(report)
    print(f"\nload average at the end {loadavg()}")
    if args.json is not None:
        payload = {**asdict(report), "goal_mib": GOAL_MIB, "goal_devices": GOAL_DEVICES}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())

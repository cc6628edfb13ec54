"""A soak: one runtime of many devices under legitimate and hostile load (run by hand).

    .venv/bin/python benchmarks/bench_soak.py                  # 200 devices, 120 s of load
    .venv/bin/python benchmarks/bench_soak.py --quick          # 20 devices, 20 s
    .venv/bin/python benchmarks/bench_soak.py --count 200 --duration 300 --json out.json

Starts ``ipgwsim run --lab LAB`` as its own process: ``--count`` IP6000, each from a
starting config with its own ETH0 address (``10.77.x.y``, served as ``127.77.x.y``) and
web server. One device in 25 (at least 2) is put in TFTP mode by a 1.8 s press and given
an address with gwload SETIP (``127.78.0.n``). Then, for ``--duration`` seconds, at the
same time:

legitimate work, each kind in its own threads, every operation checked:

- *config writes over HTTP*: ``/!config change CMD0 /name NEW`` and ``/!config write``;
  the write is acknowledged by ``config written as generation N``;
- *reads over HTTP*: ``/CMD0/box_info.xml`` of any device, which names its serial;
- *TFTP mode*: ``GET config`` (the dump holds the device's name) and ``PUT config`` of a
  config with a new name, acknowledged by the last ACK;
- *the control socket*: ``status`` every 0.1 s, its latency measured;

hostile work:

- an RRQ flood on the TFTP-mode devices, never ACKed, from 64 client ports;
- idle HTTP connections, as many as ``--idle`` (reopened when closed), half of them on
  one device; slow headers, one byte a second, on 50 more;
- garbage datagrams to the gwload/TFTP port, garbage bytes to the web servers;
- wrong HTTP Basic passwords from 8 threads.

A legitimate operation that fails is tried again (at most 3 times, 0.5 s apart), as a
provisioning system would; the report counts first tries and final failures. The
runtime's VmRSS is sampled every second. At the end the load stops, the runtime is
stopped with SIGTERM (it saves every flash) and started again from the same lab and
state, and every device's config is read back over HTTP (``/cfg.txt``): its name must be
its last acknowledged one (or a later one whose answer was lost). Exit status 1 if an
acknowledged write was lost or the runtime died.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from hostinfo import cpu_model, loadavg

from ipgwsim.proto import tftp
from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.gwloadclient import GwloadError, Lab, setip
from ipgwsim.runtime.tftpclient import tftp_get, tftp_put
from ipgwsim.testing.loopback import Ports

PORTS = Ports()
MODEL = "IP6000"
GWTYPE = 6000
#: Every device's admin password is set by its starting config (stored as scrypt).
AUTH = "Basic " + base64.b64encode(b"admin:soak-pw").decode()
WRONG = "Basic " + base64.b64encode(b"admin:guess").decode()
WRITTEN = re.compile(r"config written as generation (\d+)")
TRIES = 3


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


class SoakError(Exception):
    """The soak cannot go on."""


def firmware_ip(index: int) -> str:
    """Device ``index``'s ETH0 address in its config (10.77.x.y; 127.77.x.y on loopback)."""
    return f"10.77.{index // 250}.{index % 250 + 1}"


def loopback(ip: str) -> str:
    return "127." + ip.split(".", 1)[1]


def config_text(name: str, ip: str) -> str:
    return (
        f"config change CMD0 /name {name} /user admin,soak-pw\r\n"
        f"config change ETH0 /addr {ip} /mask 255.255.0.0 /dhcp off\r\n"
    )


# -- the runtime -----------------------------------------------------------------------


def write_lab(tmp: Path, count: int, port: int, http_port: int, speed: float) -> Path:
    lines = [
        "schema = 1",
        "[runtime]",
        f"port = {port}",
        f"speed = {speed:g}",
        'state = "state"',
        f"http_port = {http_port}",
    ]
    for i in range(count):
        cfg = tmp / f"soak-{i + 1}.txt"
        cfg.write_text(config_text(f"soak-{i + 1}", firmware_ip(i)))
        lines += ["[[device]]", f'model = "{MODEL}"', f'name = "soak-{i + 1}"', f'config = "{cfg}"']
    lab = tmp / "lab.toml"
    lab.write_text("\n".join(lines) + "\n")
    return lab


class RuntimeProcess:
    """``ipgwsim run --lab`` in its own process; its output goes to a log file."""

    def __init__(self, lab: Path, log: Path) -> None:
        self.lab, self.log_path = lab, log
        self.state = lab.parent / "state"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, count: int, timeout: float) -> float:
        self._log = self.log_path.open("ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ipgwsim.tools.cli", "run", "--lab", str(self.lab)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SoakError(f"the runtime exited with {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(ControlError, RuntimeSetupError, OSError):
                with ControlClient(self.state, timeout=5) as control:
                    devices = control.request("status")["devices"]
                if sum(1 for d in devices if d["ip"]) == count:
                    return time.perf_counter() - started
            if time.monotonic() > deadline:
                raise SoakError(f"the devices did not all have an address within {timeout:.0f} s")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-8:])
        return ""

    def stop(self) -> float:
        assert self.proc is not None
        started = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise SoakError("the runtime did not stop on SIGTERM within 300 s") from None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
        return time.perf_counter() - started


# -- counting ------------------------------------------------------------------------


@dataclass
class Counter:
    """One kind of work: how often it was done and how it went."""

    done: int = 0
    first_try: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)

    def note(self, error: str) -> None:
        key = error[:80]
        self.errors[key] = self.errors.get(key, 0) + 1


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinds: dict[str, Counter] = {}

    def __getitem__(self, kind: str) -> Counter:
        with self.lock:
            return self.kinds.setdefault(kind, Counter())


def legit(tally: Tally, kind: str, operation: Callable[[], object], stop: threading.Event) -> bool:
    """Run ``operation`` up to :data:`TRIES` times; count it under ``kind``."""
    counter = tally[kind]
    started = time.perf_counter()
    for attempt in range(TRIES):
        try:
            operation()
        except Exception as exc:  # every failure is counted and reported
            counter.note(f"{type(exc).__name__}: {exc}")
            if stop.is_set() and attempt == 0:
                return False  # the load ended meanwhile: not an operation of the soak
            time.sleep(0.5)
            continue
        with tally.lock:
            counter.done += 1
            counter.first_try += attempt == 0
            counter.seconds.append(time.perf_counter() - started)
        return True
    with tally.lock:
        counter.failed += 1
    return False


def http(url: str, auth: str | None = AUTH, timeout: float = 10.0) -> str:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", auth)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return str(response.read().decode("utf-8", "replace"))


# -- legitimate work -------------------------------------------------------------------


@dataclass
class Writes:
    """What was asked of each device's config and what was acknowledged."""

    attempted: dict[str, list[str]] = field(default_factory=dict)
    acked: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, device: str, name: str) -> None:
        with self.lock:
            self.attempted.setdefault(device, []).append(name)

    def ack(self, device: str, name: str) -> None:
        with self.lock:
            self.acked[device] = name


class Soak:
    def __init__(self, args: argparse.Namespace, port: int, http_port: int) -> None:
        self.args = args
        self.port = port
        self.http_port = http_port
        self.stop = threading.Event()
        self.tally = Tally()
        self.writes = Writes()
        self.hostile: dict[str, int] = {}
        self.hostile_lock = threading.Lock()
        self.latencies: list[float] = []
        #: name -> loopback address, for the devices running firmware
        self.web: dict[str, str] = {}
        #: name -> (TFTP-mode address, the firmware address its configs keep)
        self.tftp: dict[str, tuple[str, str]] = {}

    def count(self, what: str, n: int = 1) -> None:
        with self.hostile_lock:
            self.hostile[what] = self.hostile.get(what, 0) + n

    def loop(self, body: Callable[[int], None]) -> Callable[[], None]:
        def run() -> None:
            n = 0
            while not self.stop.is_set():
                body(n)
                n += 1

        return run

    def http_writer(self, devices: list[str]) -> Callable[[int], None]:
        def body(n: int) -> None:
            device = devices[n % len(devices)]
            base = f"http://{self.web[device]}:{self.http_port}/!"
            new = f"{device}-w{n}"
            self.writes.attempt(device, new)

            def write() -> None:
                http(base + f"config%20change%20CMD0%20/name%20{new}")
                out = http(base + "config%20write")
                if not WRITTEN.search(out):
                    raise SoakError(f"config write answered {out.strip()!r}")

            if legit(self.tally, "HTTP config write", write, self.stop):
                self.writes.ack(device, new)

        return body

    def http_reader(self, n: int) -> None:
        device = random.choice(list(self.web))

        def read() -> None:
            out = http(f"http://{self.web[device]}:{self.http_port}/CMD0/box_info.xml", None)
            if "serial=" not in out:
                raise SoakError(f"box_info.xml without a serial: {out[:60]!r}")

        legit(self.tally, "HTTP read", read, self.stop)

    def tftp_worker(self, device: str) -> Callable[[int], None]:
        address, keep = self.tftp[device]
        server = (address, self.port)

        def body(n: int) -> None:
            def get() -> None:
                data = tftp_get(server, "config", dally=0.0).data or b""
                if b"config change CMD0 /name" not in data:
                    raise SoakError("the config dump holds no name")

            legit(self.tally, "TFTP GET config", get, self.stop)
            new = f"{device}-t{n}"
            self.writes.attempt(device, new)
            text = config_text(new, keep).encode()
            if legit(
                self.tally, "TFTP PUT config", lambda: tftp_put(server, "config", text), self.stop
            ):
                self.writes.ack(device, new)

        return body

    def control_prober(self, n: int) -> None:
        started = time.perf_counter()

        def status() -> None:
            with ControlClient(self.args.state, timeout=10) as control:
                control.request("status")

        if legit(self.tally, "control status", status, self.stop):
            self.latencies.append(time.perf_counter() - started)
        time.sleep(0.1)

    # -- hostile work ------------------------------------------------------------------

    def rrq_flood(self) -> None:
        targets = [(a, self.port) for a, _ in self.tftp.values()]
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
        for k, s in enumerate(socks):  # 64 clients of their own, not the legitimate ones'
            s.bind((f"127.66.0.{k + 1}", 0))
            s.setblocking(False)
        rrq = tftp.encode_packet(tftp.ReadRequest("config", "octet"))
        n = 0
        try:
            while not self.stop.is_set():
                for _ in range(20):
                    socks[n % 64].sendto(rrq, targets[n % len(targets)])
                    n += 1
                for s in socks:  # read and drop what came back (DATA, ERROR)
                    with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
                        while True:
                            s.recv(2048)
                            self.count("RRQ flood: answers")
                self.count("RRQ flood: requests", 20)
                time.sleep(1 / self.args.flood_rate * 20)
        finally:
            for s in socks:
                s.close()

    def idle_http(self) -> None:
        held: list[socket.socket] = []
        one = next(iter(self.web.values()))
        addresses = list(self.web.values())
        try:
            while not self.stop.is_set():
                alive = []
                for s in held:  # closed by the server? (a read of b"" or an error)
                    try:
                        if s.recv(1, socket.MSG_DONTWAIT) == b"":
                            raise ConnectionResetError
                        alive.append(s)
                    except BlockingIOError:
                        alive.append(s)
                    except OSError:
                        s.close()
                        self.count("idle HTTP: closed by the device")
                held = alive
                while len(held) < self.args.idle and not self.stop.is_set():
                    target = one if len(held) % 2 else random.choice(addresses)
                    s = socket.socket()
                    s.settimeout(2)
                    try:
                        s.connect((target, self.http_port))
                    except OSError:
                        s.close()
                        self.count("idle HTTP: connect failed")
                        break
                    s.setblocking(False)  # the check above must not wait
                    held.append(s)
                    self.count("idle HTTP: opened")
                time.sleep(0.5)
        finally:
            for s in held:
                s.close()

    def slow_headers(self) -> None:
        conns: list[tuple[socket.socket, Iterator[int]]] = []
        request = f"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n" + "X: y\r\n" * 500
        try:
            while not self.stop.is_set():
                while len(conns) < 50:
                    s = socket.socket()
                    s.settimeout(2)
                    try:
                        s.connect((random.choice(list(self.web.values())), self.http_port))
                    except OSError:
                        s.close()
                        self.count("slow headers: connect failed")
                        break
                    conns.append((s, iter(request.encode())))
                kept = []
                for s, rest in conns:
                    try:
                        s.send(bytes([next(rest)]))
                        kept.append((s, rest))
                        self.count("slow headers: bytes")
                    except (OSError, StopIteration):
                        s.close()
                        self.count("slow headers: closed")
                conns = kept
                time.sleep(1.0)
        finally:
            for s, _ in conns:
                s.close()

    def garbage(self) -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        rng = random.Random(7)
        targets = [a for a, _ in self.tftp.values()] + list(self.web.values())
        try:
            while not self.stop.is_set():
                for _ in range(20):
                    data = rng.randbytes(rng.randint(1, 600))
                    target = rng.choice([*targets, "127.255.255.255"])
                    with contextlib.suppress(OSError):
                        udp.sendto(data, (target, self.port))
                    self.count("garbage datagrams")
                tcp = socket.socket()
                tcp.settimeout(2)
                with contextlib.suppress(OSError):
                    tcp.connect((rng.choice(list(self.web.values())), self.http_port))
                    tcp.sendall(rng.randbytes(rng.randint(1, 2000)) + b"\r\n\r\n")
                    tcp.recv(200)
                    self.count("garbage HTTP requests")
                tcp.close()
                time.sleep(0.1)
        finally:
            udp.close()

    def wrong_logins(self, n: int) -> None:
        address = random.choice(list(self.web.values()))
        try:
            http(f"http://{address}:{self.http_port}/!config%20show", WRONG, timeout=10)
            self.count("wrong logins: accepted (!)")
        except urllib.error.HTTPError as exc:
            self.count(f"wrong logins: answered {exc.code}")
        except OSError as exc:
            self.count(f"wrong logins: {type(exc).__name__}")


# -- phases ------------------------------------------------------------------------------


def enter_tftp_mode(soak: Soak, names: list[str], macs: dict[str, str]) -> None:
    lab = Lab(port=soak.port, broadcast="127.255.255.255")
    for k, name in enumerate(names):
        with ControlClient(soak.args.state, timeout=30) as control:
            status = control.request("press", device=name, hold=1.8)
        if status["mode"] != "TFTP mode":
            raise SoakError(f"{name} is not in TFTP mode after the press: {status['mode']}")
        address = f"127.78.0.{k + 1}"
        mac = bytes.fromhex(macs[name].replace(":", ""))
        try:
            setip(lab, address, gwtype=GWTYPE, mac=mac, mask="255.0.0.0", busy_wait=10)
        except GwloadError as exc:
            raise SoakError(f"SETIP {address} for {name}: {exc}") from None
        soak.tftp[name] = (address, soak.web.pop(name).replace("127.", "10.", 1))


def verify(soak: Soak) -> tuple[int, int, list[str]]:
    """Read every device's name back; (acknowledged and found, found later, problems)."""
    kept, later, problems = 0, 0, []
    for device, acked in sorted(soak.writes.acked.items()):
        address = loopback(soak.tftp[device][1]) if device in soak.tftp else soak.web[device]
        try:
            text = http(f"http://{address}:{soak.http_port}/cfg.txt", timeout=30)
        except OSError as exc:
            problems.append(f"{device}: /cfg.txt: {exc}")
            continue
        found = re.search(r"config change CMD0 /name (\S+)", text)
        name = found.group(1) if found else None
        tried = soak.writes.attempted[device]
        if name == acked:
            kept += 1
        elif name in tried and tried.index(name) > tried.index(acked):
            later += 1  # a write whose answer was lost: newer than the acknowledged one
        else:
            problems.append(f"{device}: acknowledged {acked}, found {name}")
    return kept, later, problems


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(soak: Soak, runtime: RuntimeProcess) -> list[tuple[float, int, int]]:
    """Every kind of work at once for ``--duration`` s; (seconds, VmRSS KiB, fds) each s."""
    args = soak.args
    rss: list[tuple[float, int, int]] = [(0.0, runtime.rss_kib(), runtime.fds())]
    writers = [list(soak.web)[k :: args.writers] for k in range(args.writers)]
    threads = [soak.loop(soak.http_writer(ds)) for ds in writers if ds]
    threads += [soak.loop(soak.http_reader) for _ in range(2)]
    threads += [soak.loop(soak.tftp_worker(name)) for name in soak.tftp]
    threads += [soak.loop(soak.control_prober)]
    threads += [soak.rrq_flood, soak.idle_http, soak.slow_headers, soak.garbage]
    threads += [soak.loop(soak.wrong_logins) for _ in range(8)]
    running = [threading.Thread(target=t, daemon=True) for t in threads]
    progress(f"load for {args.duration:g} s ({len(running)} threads)")
    started = time.monotonic()
    for t in running:
        t.start()
    while (elapsed := time.monotonic() - started) < args.duration:
        time.sleep(1.0)
        if not runtime.alive():
            raise SoakError(f"the runtime died during the load: {runtime.tail()}")
        rss.append((elapsed, runtime.rss_kib(), runtime.fds()))
    soak.stop.set()
    for t in running:
        t.join(timeout=60)
    return rss


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    port, http_port = PORTS.udp(), PORTS.tcp()
    lab = write_lab(tmp, args.count, port, http_port, args.speed)
    args.state = tmp / "state"
    runtime = RuntimeProcess(lab, tmp / "runtime.log")
    report: dict[str, Any] = {"count": args.count, "duration": args.duration}
    progress(f"starting {args.count} x {MODEL}")
    report["start_s"] = runtime.start(args.count, timeout=600)
    soak = Soak(args, port, http_port)
    try:
        with ControlClient(args.state, timeout=30) as control:
            devices = control.request("status")["devices"]
        macs = {d["name"]: d["mac"] for d in devices}
        soak.web = {d["name"]: d["ip"] for d in devices}
        tftp_names = [d["name"] for d in devices[:: max(1, min(25, args.count // 2))]]
        progress(f"TFTP mode for {len(tftp_names)} devices")
        enter_tftp_mode(soak, tftp_names, macs)
        report["rss"] = load(soak, runtime)
        progress("stopping the runtime (SIGTERM) and starting it again")
        report["stop_s"] = runtime.stop()
        again = RuntimeProcess(lab, tmp / "runtime.log")
        report["restart_s"] = again.start(args.count, timeout=600)
        try:
            kept, later, problems = verify(soak)
        finally:
            again.stop()
    finally:
        if runtime.alive():
            runtime.stop()
    report["legit"] = {k: asdict(c) for k, c in soak.tally.kinds.items()}
    report["hostile"] = soak.hostile
    report["control_latency_s"] = {
        "median": statistics.median(soak.latencies) if soak.latencies else None,
        "p99": percentile(soak.latencies, 0.99),
        "max": max(soak.latencies, default=None),
    }
    report["verify"] = {
        "acknowledged": len(soak.writes.acked),
        "kept": kept,
        "newer": later,
        "lost": problems,
    }
    return report


def print_report(report: dict[str, Any]) -> None:
    print(f"\nsoak: {report['count']} x {MODEL}, {report['duration']:g} s of load")
    print(
        f"start {report['start_s']:.1f} s, stop {report['stop_s']:.1f} s, "
        f"start again {report['restart_s']:.1f} s; load average {loadavg()}"
    )
    print("\n| legitimate work | completed | at the first try | failed | median s | p99 s |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, c in sorted(report["legit"].items()):
        med = statistics.median(c["seconds"]) if c["seconds"] else float("nan")
        print(
            f"| {kind} | {c['done']} | {c['first_try']} | {c['failed']} | {med:.3f} | "
            f"{percentile(c['seconds'], 0.99):.3f} |"
        )
    for kind, c in sorted(report["legit"].items()):
        for error, n in sorted(c["errors"].items(), key=lambda e: -e[1])[:3]:
            print(f"    {kind}: {n} x {error}")
    lat = report["control_latency_s"]
    print(
        f"\ncontrol socket status: median {lat['median']:.3f} s, p99 {lat['p99']:.3f} s, "
        f"max {lat['max']:.3f} s"
    )
    print("\n| hostile work | count |\n|---|---:|")
    for what, n in sorted(report["hostile"].items()):
        print(f"| {what} | {n} |")
    rss = report["rss"]
    quarter = max(1, len(rss) // 4)
    first = statistics.mean(r for _, r, _ in rss[1 : quarter + 1] or rss[:1])
    last = statistics.mean(r for _, r, _ in rss[-quarter:])
    print(
        f"\nruntime VmRSS: before the load {rss[0][1] / 1024:.1f} MiB, first quarter "
        f"{first / 1024:.1f} MiB, last quarter {last / 1024:.1f} MiB, "
        f"max {max(r for _, r, _ in rss) / 1024:.1f} MiB; descriptors max "
        f"{max(f for _, _, f in rss)}"
    )
    v = report["verify"]
    print(
        f"\nacknowledged writes: {v['acknowledged']} devices; after a restart "
        f"{v['kept']} hold the last acknowledged config, {v['newer']} a later one "
        f"whose answer was lost, {len(v['lost'])} lost"
    )
    for problem in v["lost"]:
        print(f"    LOST: {problem}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="devices (default 200)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--speed", type=float, default=10.0, help="device time per second")
    parser.add_argument("--writers", type=int, default=4, help="HTTP config writer threads")
    parser.add_argument("--idle", type=int, default=3000, help="idle HTTP connections held")
    parser.add_argument("--flood-rate", type=float, default=400.0, help="RRQs per second")
    parser.add_argument("--quick", action="store_true", help="20 devices, 20 s")
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.duration, args.idle = 20, 20.0, 500
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the idle connections
    print(
        f"ipgwsim soak benchmark; python {platform.python_version()}, {os.cpu_count()} cores "
        f"({cpu_model()}), load average {loadavg()}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="ipgwsim-soak-") as tmp:
        try:
            report = run(args, Path(tmp))
        except SoakError as exc:
            print(f"bench_soak: {exc}", file=sys.stderr)
            return 1
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 1 if report["verify"]["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())

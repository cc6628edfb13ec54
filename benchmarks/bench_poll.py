"""A fleet of IP6000 polling one update server (run by hand, not a test).

    .venv/bin/python benchmarks/bench_poll.py                      # 1,000, 5,000, 10,000
    .venv/bin/python benchmarks/bench_poll.py --quick              # 50 and 100 devices, short
    .venv/bin/python benchmarks/bench_poll.py --counts 2000 --intervals 3 --json out.json
    .venv/bin/python benchmarks/bench_poll.py --counts 1000 10000 --workers 1 2  # speed-up

For each count (and each ``--workers`` value) the script:

1. writes a lab file with one ``[[device]]`` table per device, each starting from a config
   of its own: ETH0 a fixed address of its own (``127.B.x.y``, mask 255.0.0.0, B one
   random second octet per run) and ``UP1 /url http://127.0.0.1:PORT/#m/ /poll P
   /poll-fast 1``;
2. starts the update server: this script in a process of its own (``--server``), an
   aiohttp server on 127.0.0.1 that records each request's arrival (``time.time()``),
   the serial in its path and the client's address, and answers a small update script
   (a comment and ``mod cmd FLASHMAN0 info state``: it runs, writes nothing);
3. starts ``ipgwsim run --lab LAB --speed S [--workers N]`` as its own process (the lab
   says ``console_pty = false``: more devices than the kernel has ptys);
4. lets the devices poll, then stops the server and the runtime and reads the records.

Polling times. ``/poll P`` with P = interval (real seconds) x speed / 60 whole minutes,
so that at ``--speed S`` one poll interval is ``--interval`` real seconds (60 by default:
one minute). A device is *new* until its first successful script download, and a new
device polls every ``/poll-fast`` minutes (docs/update-server.md, *Polling*); with
``/poll-fast 1`` each device polls once 1 device minute after its start (1 real second at
speed 60), stops being new with that download, and from then on polls every ``/poll``:
the steady interval is what is measured, from every device's second poll on.

Measures:

- **due and lateness** (the server's view): a poll's due time is that device's previous
  poll's arrival + the interval; its lateness is arrival - due (negative: early). The share
  within 1 s is of ``|lateness| <= 1 s``; the worst lateness is the largest. Every poll
  that fell due in the measured window (below) after a poll in it is judged: one that
  came after the window's end with its lateness as it came, one that had not come when
  the server stopped as late by at least that much (left out only while that is under a
  second). Polls before the window are not: a device's first poll comes while the
  runtime is still adding devices, and its delay belongs to the start, not to the steady
  interval. A device that never polled fails the timing goal. The runtime does not
  publish when a device decided to poll, so there is no device-side view.
- **window**: from the moment every device has polled once (the last first poll) for
  ``--intervals`` intervals; polls/s sustained = polls arriving in the window / its length
  (the ideal is count / interval).
- **memory**: VmHWM of the runtime process (``/proc/PID/status``), plus that of each of
  its child processes (workers) when there are any: the sum;
- **CPU**: user + system seconds of the runtime (and its children) from ``/proc/PID/stat``
  over the window, divided by the window's length: cores in use; also of the server.
- the time from the runtime's start to its device table (all devices added).

``--workers 1 2`` runs one worker at every count and 2 at the largest count, and reports
the two side by side; a runtime that refuses ``--workers`` (a version without it) makes
that run a line ``skipped: this runtime refuses --workers 2``.

Goals (docs/benchmarks.md, *Update-server polling benchmark*): 10,000 devices under
2 GiB peak; every poll within 1 s of its due time at a 1-minute real interval.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench_fleet import FleetError, RuntimeProcess
from hostinfo import loadavg

from ipgwsim.testing.loopback import Ports

#: Ports reserved for this process's server and runtimes until it ends.
PORTS = Ports()

MODEL = "IP6000"
GIB = 1024**3
GOAL_DEVICES = 10_000
GOAL_BYTES = 2 * GIB
GOAL_INTERVAL_S = 60.0
GOAL_ON_TIME_S = 1.0
#: The script every poll gets: it runs and changes nothing.
SCRIPT = b"# ipgwsim bench_poll\r\nmod cmd FLASHMAN0 info state\r\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The server's own page: how many devices have polled so far (no device asks for it).
SEEN = "/-/seen"


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


class PollError(FleetError):
    """Something went wrong; this count cannot be measured."""


# -- the update server (a process of its own) -------------------------------------------


def serve(port: int, out: Path) -> None:
    """Answer every GET with SCRIPT and record it; at SIGTERM write the records to ``out``."""
    from aiohttp import web  # noqa: PLC0415 (only the server process needs it)

    records: list[tuple[float, str, str]] = []
    seen: set[str] = set()

    async def handle(request: web.Request) -> web.Response:
        arrived = time.time()
        serial = request.path.strip("/").split("/", 1)[0]
        records.append((arrived, serial, request.remote or ""))
        seen.add(serial)
        return web.Response(body=SCRIPT, content_type="text/plain")

    async def count_seen(request: web.Request) -> web.Response:
        return web.Response(text=str(len(seen)))

    async def main() -> None:
        app = web.Application()
        app.router.add_route("GET", SEEN, count_seen)
        app.router.add_route("GET", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print("ready", flush=True)
        await stop.wait()
        await runner.cleanup()
        out.write_text(json.dumps(records))

    asyncio.run(main())


class Server:
    """The update server process."""

    def __init__(self, tmp: Path) -> None:
        self.port = PORTS.tcp()
        self.out = tmp / "polls.json"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--server", str(self.port), str(self.out)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise PollError(f"the update server did not start (exit {self.proc.wait()})")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/#m/"

    def seen(self) -> int:
        """How many devices have polled so far."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(f"GET {SEEN} HTTP/1.0\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        return int(answer.split(b"\r\n\r\n", 1)[1])

    def cpu_s(self) -> float:
        return cpu_seconds([self.proc.pid])

    def stop(self) -> list[tuple[float, str, str]]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)
        if not self.out.exists():
            raise PollError(f"the update server wrote no records (exit {self.proc.returncode})")
        return [(r[0], r[1], r[2]) for r in json.loads(self.out.read_text())]


# -- the runtime process ----------------------------------------------------------------


def status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0])
    return 0


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (its workers), from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            with contextlib.suppress(OSError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                found += kids
                todo += kids
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def address_of(second: int, index: int) -> str:
    if index >= 254 * 256:
        raise PollError("at most 65,024 devices get an address in this benchmark")
    return f"127.{second}.{index // 254}.{index % 254 + 1}"


def write_lab(tmp: Path, count: int, url: str, poll_minutes: int, http_port: int) -> Path:
    """A lab file of ``count`` devices, each with a config of its own (module docstring)."""
    second = random.Random().randint(16, 250)
    configs = tmp / "configs"
    configs.mkdir()
    lines = ["schema = 1", "", "[runtime]", f"http_port = {http_port}", "console_pty = false", ""]
    for n in range(count):
        ip = address_of(second, n)
        cfg = configs / f"d{n + 1}.txt"
        cfg.write_text(
            f"config change ETH0 /dhcp off /addr {ip} /mask 255.0.0.0\r\n"
            f"config change UP1 /url {url} /poll {poll_minutes} /poll-fast 1\r\n"
        )
        lines += ["[[device]]", f'model = "{MODEL}"', f'name = "d{n + 1}"']
        lines += [f'config = "configs/{cfg.name}"', ""]
    lab = tmp / "lab.toml"
    lab.write_text("\n".join(lines))
    return lab


class PollRuntime(RuntimeProcess):
    """``ipgwsim run --lab`` in its own process, and its workers' pids."""

    def __init__(self, tmp: Path, lab: Path, count: int, speed: float, workers: int) -> None:
        more = ["--workers", str(workers)] if workers != 1 else []
        # The device table's header comes once every device was added.
        super().__init__(
            tmp / "state", PORTS.udp(), count, speed,
            run_args=["--lab", str(lab), *more], ready="\nNAME ",
        )  # fmt: skip

    def pids(self) -> list[int]:
        return [self.pid, *children(self.pid)]


# -- one run -------------------------------------------------------------------------------


@dataclass
class Run:
    count: int
    workers: int
    speed: float
    interval_s: float
    poll_minutes: int
    start_s: float = 0.0
    first_polls_s: float = 0.0
    window_s: float = 0.0
    polls: int = 0
    polls_per_s: float = 0.0
    ideal_polls_per_s: float = 0.0
    judged: int = 0
    on_time: int = 0
    on_time_share: float = 0.0
    worst_late_s: float = 0.0
    worst_early_s: float = 0.0
    lateness_p50_s: float = 0.0
    lateness_p99_s: float = 0.0
    #: The most polls one device made in the window (the ideal: intervals, or one more).
    most_polls_of_a_device: int = 0
    #: Judged polls more than 1 s after / before their due time.
    late: int = 0
    early: int = 0
    #: How far apart the judged polls' due times lie (the 1st to the 99th percentile), and
    #: the polls/s the runtime made while they were due (judged / (p99 arrival - p1 due)).
    due_spread_s: float = 0.0
    burst_polls_per_s: float = 0.0
    missing: int = 0
    hwm_kib: int = 0
    processes: int = 1
    runtime_cores: float = 0.0
    server_cores: float = 0.0
    load_before: str = ""
    load_after: str = ""
    problem: str = ""
    #: Polls due in the window that had not come when the server stopped (judged late).
    unanswered: int = 0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def analyse(
    run: Run,
    records: list[tuple[float, str, str]],
    window: tuple[float, float],
    stopped: float | None = None,
) -> None:
    """Due times, lateness and rates from the server's records (module docstring).

    Every poll that fell due in the window after a poll in it is judged, also one that
    came after the window's end (its lateness as it came) or not at all before the server
    stopped at ``stopped`` (late by at least ``stopped - due``: judged late when that is
    more than the goal's second, else left out, as nobody can know yet)."""
    t0, t1 = window
    stopped = t1 if stopped is None else stopped
    by_device: dict[str, list[float]] = {}
    for arrived, serial, _remote in sorted(records):
        by_device.setdefault(serial, []).append(arrived)
    run.missing = run.count - len(by_device)
    lateness: list[float] = []
    dues: list[float] = []
    arrivals: list[float] = []
    run.polls = 0
    run.unanswered = 0
    for times in by_device.values():
        for number, previous in enumerate(times):
            due = previous + run.interval_s
            if previous < t0 or due > t1:
                continue
            if number + 1 < len(times):
                arrived = times[number + 1]
                lateness.append(arrived - due)
                dues.append(due)
                arrivals.append(arrived)
            elif stopped - due > GOAL_ON_TIME_S:  # due, and not come when the server stopped
                lateness.append(stopped - due)
                run.unanswered += 1
        mine = sum(1 for t in times if t0 < t <= t1)
        run.polls += mine
        run.most_polls_of_a_device = max(run.most_polls_of_a_device, mine)
    run.window_s = t1 - t0
    run.polls_per_s = run.polls / run.window_s if run.window_s > 0 else 0.0
    run.ideal_polls_per_s = run.count / run.interval_s
    run.judged = len(lateness)
    run.on_time = sum(1 for x in lateness if abs(x) <= GOAL_ON_TIME_S)
    run.late = sum(1 for x in lateness if x > GOAL_ON_TIME_S)
    run.early = sum(1 for x in lateness if x < -GOAL_ON_TIME_S)
    run.on_time_share = run.on_time / run.judged if run.judged else 0.0
    run.worst_late_s = max(lateness, default=0.0)
    run.worst_early_s = min(lateness, default=0.0)
    run.lateness_p50_s = percentile(lateness, 50)
    run.lateness_p99_s = percentile(lateness, 99)
    if dues:
        run.due_spread_s = percentile(dues, 99) - percentile(dues, 1)
        busy = percentile(arrivals, 99) - percentile(dues, 1)
        run.burst_polls_per_s = 0.98 * len(dues) / busy if busy > 0 else 0.0


def wait_first_polls(
    args: argparse.Namespace, count: int, server: Server, runtime: PollRuntime
) -> None:
    """Until every device has polled once (``/poll-fast 1``: soon after its start)."""
    limit = args.interval + 60.0
    deadline = time.monotonic() + limit
    while (seen := server.seen()) < count:
        if time.monotonic() > deadline:
            raise PollError(f"only {seen} of {count} devices polled within {limit:g} s")
        if runtime.proc is not None and runtime.proc.poll() is not None:
            raise PollError(f"the runtime exited with {runtime.proc.returncode}:\n{runtime.tail()}")
        time.sleep(0.5)


def observe(args: argparse.Namespace, run: Run, server: Server, runtime: PollRuntime) -> None:
    """The measured window: CPU, memory, then the server's records (module docstring)."""
    cpu0 = cpu_seconds(runtime.pids())
    server_cpu0 = server.cpu_s()
    t0 = time.time()
    progress(f"measuring {args.intervals} intervals of {args.interval:g} s")
    time.sleep(args.intervals * args.interval)
    t1 = time.time()
    pids = runtime.pids()
    run.processes = len(pids)
    run.runtime_cores = (cpu_seconds(pids) - cpu0) / (t1 - t0)
    run.server_cores = (server.cpu_s() - server_cpu0) / (t1 - t0)
    run.hwm_kib = sum(status_kib(pid, "VmHWM") for pid in pids)
    records = server.stop()
    analyse(run, records, (t0, t1), time.time())
    if run.missing:
        run.problem = f"{run.missing} device(s) never polled"
    if run.unanswered:
        run.problem = "; ".join(
            p for p in (run.problem, f"{run.unanswered} due poll(s) never came") if p
        )


def measure(args: argparse.Namespace, count: int, workers: int) -> Run:
    poll_minutes = round(args.interval * args.speed / 60)
    run = Run(count, workers, args.speed, args.interval, poll_minutes)
    run.load_before = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench_poll."))
    server: Server | None = None
    runtime: PollRuntime | None = None
    try:
        server = Server(tmp)
        lab = write_lab(tmp, count, server.url, poll_minutes, PORTS.tcp())
        runtime = PollRuntime(tmp, lab, count, args.speed, workers)
        progress(f"{count} devices, {workers} worker(s): starting the runtime")
        try:
            run.start_s = runtime.start(args.start_timeout)
        except FleetError as exc:
            if workers != 1 and "unrecognized arguments: --workers" in str(exc):
                run.problem = f"skipped: this runtime refuses --workers {workers}"
                return run
            raise
        began = time.monotonic()
        progress(f"{count} devices up after {run.start_s:.1f} s; waiting for every first poll")
        wait_first_polls(args, count, server, runtime)
        run.first_polls_s = time.monotonic() - began
        observe(args, run, server, runtime)
    except FleetError as exc:
        run.problem = str(exc)
        if runtime is not None:
            print(runtime.tail(), file=sys.stderr)
    finally:
        if server is not None:
            with contextlib.suppress(PollError, subprocess.TimeoutExpired):
                server.stop()
        if runtime is not None:
            runtime.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        run.load_after = loadavg()
    return run


# -- report ---------------------------------------------------------------------------------


@dataclass
class Goal:
    goal: str
    measured: str
    #: True, False, or None (not judged: ``why`` says why).
    passed: bool | None
    #: For a miss: the measured ceiling and why, derived from the numbers.
    why: str = ""


@dataclass
class Report:
    speed: float
    interval_s: float
    intervals: int
    runs: list[Run] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    goal_devices: int = GOAL_DEVICES
    goal_bytes: int = GOAL_BYTES
    goal_interval_s: float = GOAL_INTERVAL_S
    goal_on_time_s: float = GOAL_ON_TIME_S


def judge(report: Report) -> list[Goal]:
    """The two goals (module docstring), with the ceiling and its reason for a miss."""
    runs = measured(report)
    memory_goal = f"peak memory of {GOAL_DEVICES:,} devices under {GOAL_BYTES / GIB:g} GiB"
    timing_goal = (
        f"every poll within {GOAL_ON_TIME_S:g} s of its due time, {GOAL_DEVICES:,} devices,"
        f" one poll a minute"
    )
    goal_run = next((r for r in runs if r.count == GOAL_DEVICES), None)
    if goal_run is None:
        why = f"no run of {GOAL_DEVICES:,} devices with 1 worker"
        return [Goal(memory_goal, "", None, why), Goal(timing_goal, "", None, why)]
    peak = goal_run.hwm_kib * 1024
    memory = Goal(
        memory_goal,
        f"{peak / 2**20:,.0f} MiB ({goal_run.hwm_kib / goal_run.count:.1f} KiB per device)",
        peak < GOAL_BYTES,
    )
    if not memory.passed and len(runs) >= 2:
        low = runs[0]
        slope = (goal_run.hwm_kib - low.hwm_kib) * 1024 / (goal_run.count - low.count)
        fixed = low.hwm_kib * 1024 - slope * low.count
        fits = int((GOAL_BYTES - fixed) / slope) if slope > 0 else 0
        memory.why = (
            f"each device beyond {low.count:,} adds {slope / 1024:.1f} KiB of peak memory"
            f" (measured from {low.count:,} to {goal_run.count:,}), so {GOAL_BYTES / GIB:g} GiB"
            f" hold about {fits:,} devices"
        )
    timing = Goal(
        timing_goal,
        f"{goal_run.on_time_share * 100:.2f} % of {goal_run.judged:,} polls, worst"
        f" {goal_run.worst_late_s:.3f} s late"
        + ("" if report.interval_s == GOAL_INTERVAL_S else f" (at {report.interval_s:g} s)"),
        goal_run.judged > 0
        and goal_run.on_time == goal_run.judged
        and goal_run.missing == 0
        and report.interval_s == GOAL_INTERVAL_S,
    )
    if not timing.passed:
        on_time = [r.count for r in runs if r.judged and r.on_time == r.judged and not r.missing]
        ceiling = (
            f"all polls on time up to {max(on_time):,} devices"
            if on_time
            else (f"not all polls on time at any count measured (the smallest: {runs[0].count:,})")
        )
        rate = goal_run.burst_polls_per_s
        if goal_run.late:
            cause = (
                f"{goal_run.late:,} polls came more than 1 s late"
                f" (p99 {goal_run.lateness_p99_s:+.3f} s): the polls fall due within"
                f" {goal_run.due_spread_s:.1f} s of each other and"
                f" the runtime made {rate:,.0f} polls/s while they were due"
            )
        else:
            cause = "no poll came more than 1 s late"
        if goal_run.missing:
            cause += f"; {goal_run.missing:,} device(s) never polled at all"
        timing.why = (
            f"{ceiling}; at {goal_run.count:,}: {cause}; {goal_run.early:,} polls came more"
            f" than 1 s early (worst {goal_run.worst_early_s:+.1f} s: a device that polled"
            f" again soon after its previous poll, or whose previous poll was late); the"
            f" runtime used {goal_run.runtime_cores:.2f} cores in {goal_run.processes}"
            f" process(es), the update server {goal_run.server_cores:.2f}; load average"
            f" before {goal_run.load_before}"
        )
    return [memory, timing]


def print_report(report: Report) -> None:
    print(
        f"\nupdate-server polling: IP6000 running firmware on loopback, speed {report.speed:g}x,"
        f" one poll every {report.interval_s:g} s of real time, {report.intervals} intervals"
        " measured"
    )
    header = (
        f"  {'devices':>7} {'wrk':>3} {'start':>7} {'peak MiB':>9} {'KiB/dev':>8} {'polls/s':>8}"
        f" {'ideal':>6} {'within 1 s':>11} {'worst late':>10} {'p99':>7} {'cores':>6}"
        f" {'server':>6}"
    )
    print(header)
    for r in report.runs:
        if r.problem and not r.judged:
            print(f"  {r.count:>7,} {r.workers:>3}  {r.problem}")
            continue
        print(
            f"  {r.count:>7,} {r.workers:>3} {r.start_s:6.1f}s {r.hwm_kib / 1024:9.1f}"
            f" {r.hwm_kib / r.count:8.1f} {r.polls_per_s:8.1f} {r.ideal_polls_per_s:6.1f}"
            f" {r.on_time_share * 100:10.2f}% {r.worst_late_s:9.3f}s {r.lateness_p99_s:6.3f}s"
            f" {r.runtime_cores:6.2f} {r.server_cores:6.2f}"
            + (f"  ({r.problem})" if r.problem else "")
        )
    for line in report.notes:
        print(line)
    for goal in report.goals:
        if goal.passed is None:
            print(f"[not judged] {goal.goal}: {goal.why}")
            continue
        print(f"[{'PASS' if goal.passed else 'MISS'}] {goal.goal}: {goal.measured}")
        if goal.why:
            print(f"       {goal.why}")


def measured(report: Report, workers: int = 1) -> list[Run]:
    return sorted(
        (r for r in report.runs if r.workers == workers and r.judged), key=lambda r: r.count
    )


def growth_notes(report: Report) -> list[str]:
    lines: list[str] = []
    runs = measured(report)
    if len(runs) >= 2:
        low, high = runs[0], runs[-1]
        lines.append(
            f"growth {low.count:,} -> {high.count:,} devices (x{high.count / low.count:g}):"
            f" peak memory x{high.hwm_kib / low.hwm_kib:.2f},"
            f" polls/s x{high.polls_per_s / max(low.polls_per_s, 1e-9):.2f},"
            f" runtime CPU x{high.runtime_cores / max(low.runtime_cores, 1e-9):.2f}"
        )
    for r in report.runs:
        if r.workers == 1 or not r.judged:
            continue
        one = next((o for o in runs if o.count == r.count), None)
        if one is not None:
            lines.append(
                f"{r.workers} workers at {r.count:,} devices: CPU {r.runtime_cores:.2f} cores"
                f" vs {one.runtime_cores:.2f}, within 1 s {r.on_time_share * 100:.2f}%"
                f" vs {one.on_time_share * 100:.2f}%, worst lateness {r.worst_late_s:.3f} s"
                f" vs {one.worst_late_s:.3f} s"
            )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="IP6000 fleets polling one update server.")
    parser.add_argument(
        "--counts", type=int, nargs="+", help="device counts (default 1000 5000 10000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="50 and 100 devices, 2 intervals of 20 s"
    )
    parser.add_argument("--speed", type=float, default=60.0, help="device speed (default 60)")
    parser.add_argument(
        "--interval", type=float, help="real seconds between two polls of a device (default 60)"
    )
    parser.add_argument("--intervals", type=int, help="intervals measured (default 2)")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="ipgwsim run --workers N; 1 at every count, others at the largest (default 1)",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=900.0, help="seconds allowed for the start"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw numbers")
    parser.add_argument("--server", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.server is not None:
        return args
    if args.counts is None:
        args.counts = [50, 100] if args.quick else [1000, 5000, 10_000]
    if args.interval is None:
        args.interval = 20.0 if args.quick else GOAL_INTERVAL_S
    if args.intervals is None:
        args.intervals = 2
    if min(args.counts) < 1 or args.intervals < 1 or min(args.workers) < 1 or args.speed <= 0:
        parser.error("--counts, --intervals and --workers must be 1 or more, --speed above 0")
    minutes = args.interval * args.speed / 60
    if minutes < 1 or abs(minutes - round(minutes)) > 1e-9:
        parser.error(
            f"--interval {args.interval:g} s at --speed {args.speed:g} is {minutes:g} device"
            " minutes: /poll takes whole minutes, 1 or more"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.server is not None:
        serve(int(args.server[0]), Path(args.server[1]))
        return 0
    print(
        f"ipgwsim update-server polling benchmark: {args.counts} x {MODEL}, workers"
        f" {args.workers}; python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average {loadavg()}"
    )
    report = Report(args.speed, args.interval, args.intervals)
    for workers in args.workers:
        # One worker at every count; more only at the largest (the speed-up).
        for count in args.counts if workers == 1 else [max(args.counts)]:
            run = measure(args, count, workers)
            report.runs.append(run)
            if run.problem:
                progress(f"{count} devices, {workers} worker(s): {run.problem}")
    report.notes = growth_notes(report)
    report.goals = judge(report)
    print_report(report)
    print(f"\nload average at the end {loadavg()}")
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"raw numbers written to {args.json}")
    failed = [r for r in report.runs if r.problem and not r.problem.startswith("skipped")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

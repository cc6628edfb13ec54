"""Start-up time of whole commands and the pytest plugin's cost (run by hand, not a test).

    .venv/bin/python benchmarks/bench_startup.py                 # 20 rounds
    .venv/bin/python benchmarks/bench_startup.py --quick         # 5 rounds
    .venv/bin/python benchmarks/bench_startup.py --json out.json
    .venv/bin/python benchmarks/bench_startup.py --bin OTHER/.venv/bin   # another install
    .venv/bin/python benchmarks/bench_startup.py --compare OLD/.venv/bin # both, side by side

Each command runs as a whole process, as a user starts it (the scripts ``ipgwsim`` and
``gwload`` and the ``python`` of ``--bin``, default the directory of this Python):

- ``ipgwsim --version``;
- ``ipgwsim status`` of a state directory where no runtime runs (its error, exit 2);
- ``ipgwsim status`` of a runtime with one IP6000 on loopback (started once, before the
  rounds, by that installation's ``ipgwsim run``, and stopped after them);
- ``gwload /help``;
- ``python -m pytest`` of one trivial test in a folder of its own, with ipgwsim's plugin
  (loaded from its ``pytest11`` entry point, as in any environment where ipgwsim is
  installed) and with ``-p no:ipgwsim``.

The commands run side by side: each round runs every command once, in the same order
(with ``--compare``, every command of both installations), so that other work on the
machine weighs on all of them alike. Each round's wall time comes from
``time.perf_counter`` around ``subprocess.run``; the table gives the median, the fastest
and the slowest of the rounds, and the median CPU time (user and system) of the process,
which other work on the machine moves less than the wall time. The plugin's cost is the
difference between the two pytest runs' medians, in wall time and in CPU time; its goal
is judged on the CPU time, since a pytest run takes most of a second and on a busy
machine the wall times of two runs differ by more than the cost looked for. Goals
(``docs/benchmarks.md``): each command's median wall time under 0.25 s, the plugin's
cost under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hostinfo import cpu_model, loadavg

from ipgwsim.testing.loopback import Ports

#: Goals: each command's median, and the plugin's cost (docs/benchmarks.md).
COMMAND_GOAL_S = 0.25
PLUGIN_GOAL_S = 0.050
WITH_PLUGIN = "pytest, one test, with the plugin"
WITHOUT_PLUGIN = "pytest, one test, -p no:ipgwsim"
TRIVIAL_TEST = "def test_trivial():\n    assert 1 + 1 == 2\n"


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    name: str
    command: str
    exit_status: int
    median_s: float
    min_s: float
    max_s: float
    #: CPU time (user + system) of the process, median: less moved by other work.
    cpu_median_s: float
    samples: list[float]


@dataclass
class Install:
    """One installation's commands and what they measured."""

    bin_dir: Path
    commands: dict[str, tuple[list[str], Path | None]]
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)

    def rows(self, work: Path) -> list[Row]:
        return [
            Row(
                name,
                " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv)).replace(
                    str(work), "TMP"
                ),
                self.statuses[name],
                statistics.median(self.samples[name]),
                min(self.samples[name]),
                max(self.samples[name]),
                statistics.median(self.cpu[name]),
                [round(t, 5) for t in self.samples[name]],
            )
            for name, (argv, _) in self.commands.items()
        ]

    def plugin(self, times: dict[str, list[float]]) -> float:
        """The median pytest run with the plugin minus the median one without it."""
        return statistics.median(times[WITH_PLUGIN]) - statistics.median(times[WITHOUT_PLUGIN])


@contextmanager
def running_runtime(bin_dir: Path, state: Path, env: dict[str, str]) -> Iterator[None]:
    """``ipgwsim run IP6000`` on loopback until the block ends (SIGINT then)."""
    with Ports() as ports:
        port = ports.udp()
        child = subprocess.Popen(
            [str(bin_dir / "ipgwsim"), "run", "IP6000", "--state", str(state),
             "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line.startswith("ipgwsim: "):
                child.kill()
                _, err = child.communicate()
                raise SystemExit(f"bench_startup: the runtime did not start: {line!r} {err!r}")
            yield
        finally:
            child.send_signal(signal.SIGINT)
            child.communicate(timeout=60)


def commands_of(bin_dir: Path, work: Path, tests: Path) -> dict[str, tuple[list[str], Path | None]]:
    ipgwsim = str(bin_dir / "ipgwsim")
    pytest = [str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    pytest.append("test_trivial.py")
    return {
        "ipgwsim --version": ([ipgwsim, "--version"], None),
        "ipgwsim status, no runtime": ([ipgwsim, "status", "--state", str(work / "empty")], None),
        "ipgwsim status, one device": ([ipgwsim, "status", "--state", str(work / "state")], None),
        "gwload /help": ([str(bin_dir / "gwload"), "/help"], None),
        WITH_PLUGIN: (pytest, tests),
        WITHOUT_PLUGIN: ([*pytest, "-p", "no:ipgwsim"], tests),
    }


def run_once(install: Install, name: str, env: dict[str, str]) -> None:
    argv, cwd = install.commands[name]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, cwd=cwd, env=env, check=False)
    install.samples.setdefault(name, []).append(time.perf_counter() - start)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    install.cpu.setdefault(name, []).append(cpu)
    install.statuses[name] = done.returncode
    wanted = 2 if name == "ipgwsim status, no runtime" else 0
    if done.returncode != wanted:
        raise SystemExit(
            f"bench_startup: {install.bin_dir}: {name}: exit status {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )


def measure(rounds: int, bin_dirs: list[Path]) -> list[tuple[Install, list[Row]]]:
    """Every command of every installation once per round, side by side."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        env = dict(os.environ, IPGWSIM_REGISTRY=str(work / "registry"))
        tests = work / "tests"
        tests.mkdir()
        (tests / "pytest.ini").write_text("[pytest]\n")
        (tests / "test_trivial.py").write_text(TRIVIAL_TEST)
        installs = []
        for number, bin_dir in enumerate(bin_dirs):
            own = work / str(number)
            (own / "empty").mkdir(parents=True)
            installs.append(Install(bin_dir, commands_of(bin_dir, own, tests)))
            stack.enter_context(running_runtime(bin_dir, own / "state", env))
        for number in range(rounds):
            for install in installs:
                for name in install.commands:
                    run_once(install, name, env)
            progress(f"round {number + 1}/{rounds}")
        return [(install, install.rows(work)) for install in installs]


def report(install: Install, rows: list[Row]) -> None:
    """Print one installation's table."""
    plugin_s, plugin_cpu_s = install.plugin(install.samples), install.plugin(install.cpu)
    print(f"{install.bin_dir}")
    head = f"{'command':38s} {'median':>8s} {'fastest':>8s} {'slowest':>8s} {'CPU':>8s}  goal"
    print(head)
    for row in rows:
        verdict = "PASS" if row.median_s < COMMAND_GOAL_S else "MISS"
        if row.name.startswith("pytest"):
            verdict = "-"
        print(
            f"{row.name:38s} {row.median_s * 1e3:6.0f}ms {row.min_s * 1e3:6.0f}ms "
            f"{row.max_s * 1e3:6.0f}ms {row.cpu_median_s * 1e3:6.0f}ms  {verdict}"
        )
    verdict = "PASS" if plugin_cpu_s < PLUGIN_GOAL_S else "MISS"
    print(
        f"{'the plugin (with - without)':38s} {plugin_s * 1e3:6.0f}ms {'':17s} "
        f"{plugin_cpu_s * 1e3:6.0f}ms  {verdict}"
    )


def as_json(install: Install, rows: list[Row]) -> dict[str, Any]:
    return {
        "bin": str(install.bin_dir),
        "rows": [asdict(row) for row in rows],
        "plugin_s": install.plugin(install.samples),
        "plugin_cpu_s": install.plugin(install.cpu),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="rounds (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument(
        "--bin",
        type=Path,
        default=Path(sys.executable).parent,
        metavar="DIR",
        help="where ipgwsim, gwload and python are (default: this Python's directory)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="DIR",
        help="another installation's bin directory, measured in the same rounds",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    if rounds < 1:
        parser.error("--rounds must be 1 or more")
    load_before = loadavg()
    bins = [args.bin] + ([args.compare] if args.compare is not None else [])
    measured = measure(rounds, bins)
    load_after = loadavg()
    print(f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{rounds} rounds; load average {load_before} before, {load_after} after")
    results = []
    for install, rows in measured:
        print()
        report(install, rows)
        results.append(as_json(install, rows))
    if args.json is not None:
        payload = {
            "rounds": rounds,
            "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
            "load_before": load_before,
            "load_after": load_after,
            "command_goal_s": COMMAND_GOAL_S,
            "plugin_goal_s": PLUGIN_GOAL_S,
            **results[0],
            "compared": results[1:],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

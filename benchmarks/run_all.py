"""Run every benchmark of ``benchmarks/`` and write one page of results (run by hand).

    .venv/bin/python benchmarks/run_all.py                  # full run -> docs/benchmark-results.md
    .venv/bin/python benchmarks/run_all.py --quick          # short run; the page goes to stdout
    .venv/bin/python benchmarks/run_all.py --only tftp gwload --out /tmp/results.md
    .venv/bin/python benchmarks/run_all.py --json-dir DIR   # keep each benchmark's JSON and output
    .venv/bin/python benchmarks/run_all.py --json-dir DIR --only tftp --reuse  # tftp again

Each benchmark runs as its own process (``sys.executable benchmarks/bench_NAME.py ...
--json FILE``), one after another, never two at once. Their progress lines go to
stderr. Then one markdown page is written: the machine, the exact command, and for
every benchmark a summary of the JSON it wrote: the headline numbers, the ratio
ipgwsim / peer where the benchmark compares with a peer, and PASS or MISS for the
goals that the benchmark or ``docs/benchmarks.md`` sets. A benchmark that cannot run
here (not root, a missing tool) is listed as skipped with the reason. The exit status
is 1 if any benchmark failed (the page is written first and shows the failure); a MISS
is a result, not a failure.

Without ``--out``, a full run of all benchmarks writes ``docs/benchmark-results.md``;
a ``--quick`` or ``--only`` run prints the page to stdout, so that a partial or short
run does not replace the page of the last full run. ``--out -`` always prints it.

With ``--json-dir DIR`` the JSON files stay in DIR, with ``run_all.json``. ``--reuse``
then keeps the results of that earlier run and runs only the benchmarks named by
``--only`` (none without it), for one benchmark that other work on the machine
disturbed; the page names the command that ran each benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

from hostinfo import cpu_model, loadavg

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
DOCS = ROOT / "docs"
DEFAULT_OUT = DOCS / "benchmark-results.md"
MIB = 1024 * 1024
#: A benchmark still running after this many seconds is stopped and counted as failed.
DEFAULT_TIMEOUT = 1800.0
#: Lines of a failed benchmark's stderr shown on the page.
TAIL_LINES = 25

#: The one goal docs/benchmarks.md (section "Flash benchmarks", "What the numbers
#: say") gives the flash layer: a 32 MiB flash with one config costs well under 1 MiB.
#: It is met "in the steady state, not at its peak", so the steady-state numbers of
#: the device with one config are judged and the tracemalloc peak is only shown.
FLASH_GOAL_KIB = 1024.0
FLASH_GOAL_DEVICE = "one config + 4 vars"
FLASH_GOAL_ROWS = ("flash.memory_bytes()", "tracemalloc current", "RSS growth")


# -- what a summary is -----------------------------------------------------------------


@dataclass
class GoalResult:
    goal: str
    measured: str
    verdict: str  # PASS, MISS, or "not judged: ..."


@dataclass
class Summary:
    """What the page shows of one benchmark's JSON."""

    headline: str
    versus: str  # the ratio against the peers, or "no peer"
    goals: list[GoalResult] = field(default_factory=list)
    #: Markdown lines of the benchmark's own section (tables).
    body: list[str] = field(default_factory=list)


Summarizer = Callable[[Any, bool], Summary]


@dataclass(frozen=True)
class Spec:
    """One benchmark script and how to run and summarise it."""

    name: str
    script: str
    title: str
    #: The heading of its section in docs/benchmarks.md (the link's anchor).
    docs_heading: str
    quick_args: tuple[str, ...]
    full_args: tuple[str, ...]
    summarize: Summarizer
    needs_root: bool = False
    #: (executable, where it comes from) that must be on PATH.
    tools: tuple[tuple[str, str], ...] = ()

    def skip_reason(self) -> str | None:
        if self.needs_root and os.geteuid() != 0:
            return "needs root, for the network namespaces it creates"
        for exe, package in self.tools:
            if shutil.which(exe) is None:
                return f"`{exe}` is not installed, {package}"
        return None


# -- small helpers -----------------------------------------------------------------------


def fnum(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table(head: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A markdown table; ``align`` has an ``l`` or ``r`` per column (default: ``lrrr...``)."""
    align = align or "l" + "r" * (len(head) - 1)
    rules = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(rules) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(passed: bool) -> str:
    return "**PASS**" if passed else "**MISS**"


def goals_text(goals: list[GoalResult]) -> str:
    if not goals:
        return "none set"
    counts: dict[str, int] = {}
    for goal in goals:
        key = goal.verdict.strip("*") if goal.verdict.startswith("**") else "not judged"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {key}" for key, n in counts.items())


def goals_table(goals: list[GoalResult]) -> list[str]:
    if not goals:
        return []
    return [
        "Goals:",
        "",
        *table(
            ["goal", "measured", "result"],
            [[g.goal, g.measured, g.verdict] for g in goals],
            align="lll",
        ),
    ]


# -- flash ---------------------------------------------------------------------------------

FLASH_HEADLINES = (
    "ConfigRing.write, 4 KiB config",
    "ConfigRing.write, 32 KiB config",
    "mount ConfigRing, wrapped ring of 4 KiB configs",
    "VarStore.set, 200 vars",
    "mount VarStore, 200 vars, full bank",
    "FlashDir.add_item, ~200 B items",
    "mount FlashDir, 5000 items",
    "linear sweep, ATOMIC",
    "linear sweep, TORN",
    "flash.memory_bytes(), 32 MiB flash, one config + 4 vars",
    "tracemalloc current, 32 MiB flash, one config + 4 vars",
    "tracemalloc peak, 32 MiB flash, one config + 4 vars",
    "RSS growth, 32 MiB flash, one config + 4 vars",
    "save_flash, device with 1 MiB firmware",
    "load_flash, device with 1 MiB firmware",
)


def flash_value(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def summarize_flash(data: Any, quick: bool) -> Summary:
    results: list[dict[str, Any]] = data["results"]
    shown = [r for r in results if r["name"] in FLASH_HEADLINES]
    rows = [[r["name"], f"{flash_value(r['value'])} {r['unit']}", r["note"]] for r in shown]
    goal_rows = [
        r
        for r in results
        if r["name"].startswith(FLASH_GOAL_ROWS) and r["name"].endswith(FLASH_GOAL_DEVICE)
    ]
    goals: list[GoalResult] = []
    if goal_rows:
        passed = all(r["unit"] == "KiB" and r["value"] < FLASH_GOAL_KIB for r in goal_rows)
        measured = ", ".join(f"{r['name'].split(',')[0]} {r['value']:.1f} KiB" for r in goal_rows)
        goals.append(
            GoalResult(
                f"32 MiB flash with one config: well under {FLASH_GOAL_KIB:g} KiB (steady state)",
                measured,
                verdict(passed),
            )
        )
    by_name = {r["name"]: r for r in results}
    ring = by_name.get("ConfigRing.write, 4 KiB config")
    memory = by_name.get("flash.memory_bytes(), 32 MiB flash, one config + 4 vars")
    parts = []
    if ring is not None:
        parts.append(f"config ring {flash_value(ring['value'])} {ring['unit']} (4 KiB)")
    if memory is not None:
        parts.append(
            f"idle 32 MiB device: {flash_value(memory['value'])} {memory['unit']} of flash data"
        )
    settings = data.get("settings", {})
    body = [
        f"{len(shown)} of the {len(results)} numbers "
        f"({'quick' if settings.get('quick') else 'full'} settings); the others are in "
        "the benchmark's JSON and output.",
        "",
        *table(["measure", "value", "how"], rows, align="lrl"),
        *goals_table(goals),
    ]
    return Summary("; ".join(parts), "no peer", goals, body)


# -- tftp ----------------------------------------------------------------------------------


def tftp_goals(data: Any) -> tuple[list[GoalResult], list[str]]:
    """bench_tftp.py's goals, and for each missed one the lines that say why."""
    goals: list[GoalResult] = []
    why: list[str] = []
    for goal in data["goals"]:
        op = ">" if goal.get("strict") else "≥"
        measured = ", ".join(f"{label} {fratio(r)}" for label, r in goal["ratios"])
        goals.append(
            GoalResult(
                f"{goal['name']}: {op} {goal['target']:g}x", measured, verdict(goal["passed"])
            )
        )
        if goal.get("why"):
            why += [f"Why *{goal['name']}* is missed (the measured ceiling, per setting):", ""]
            why += [f"- {line}" for line in goal["why"]]
            why.append("")
    return goals, why


def tftp_cell_text(cell: dict[str, Any] | None) -> str:
    """A cell of bench_tftp.py's table: MiB/s (granted), or why there is no number."""
    if cell is None:
        return "n/a"
    if not cell.get("selected", True):
        return "-"
    if cell.get("not_run"):
        return "not run"
    if cell["median_mibs"] is None:
        return "FAILED"
    return f"{cell['median_mibs']:.2f} ({cell['granted']})"


def summarize_tftp(data: Any, quick: bool) -> Summary:
    # Results of bench_tftp.py before it had several clients name no client: the project's.
    cells: dict[tuple[str, str, str, int, int], dict[str, Any]] = {
        (c.get("client", "ipgwsim"), c["server"], c["direction"], c["blksize"], c["windowsize"]): c
        for c in data["cells"]
    }
    servers: list[str] = data.get("servers") or list(
        dict.fromkeys(c["server"] for c in data["cells"])
    )
    clients: list[str] = data.get("clients") or ["ipgwsim"]
    directions = list(dict.fromkeys(c["direction"] for c in data["cells"]))
    windows = sorted({c["windowsize"] for c in data["cells"]})

    def mibs(client: str, server: str, direction: str, blksize: int, window: int) -> float | None:
        cell = cells.get((client, server, direction, blksize, window))
        return None if cell is None else cell["median_mibs"]

    size_mib = data["size"] / MIB
    body = [
        f"MiB/s, median of {data['repeat']} run(s) of {size_mib:g} MiB per cell, for each "
        "client; in brackets the blksize/windowsize the server granted (a server that "
        "grants no windowsize runs lock-step in the windowsize-16 rows). tftp-hpa's client "
        "asks for no option: 512-byte blocks, lock-step.",
        "",
    ]
    for client in clients:
        settings = list(dict.fromkeys((d, b, w) for (c, _s, d, b, w) in cells if c == client))
        rows = [
            [d, str(b), str(w), *(tftp_cell_text(cells.get((client, s, d, b, w))) for s in servers)]
            for d, b, w in settings
        ]
        body += [
            f"Client **{client}**:",
            "",
            *table(
                ["direction", "blksize", "windowsize asked", *servers],
                rows,
                align="lll" + "r" * len(servers),
            ),
        ]
    reasons = sorted({c["not_run"] for c in data["cells"] if c.get("not_run")})
    body += [f"Not run: {reason}." for reason in reasons]
    if reasons:
        body.append("")
    goals, why = tftp_goals(data)
    body += goals_table(goals)
    body += why
    round_trip = data.get("round_trip_us") or {}
    lockstep = data.get("lockstep") or []
    if round_trip and lockstep:
        body += [
            "Lock-step against tftp-hpa's server and the machine's echo ceiling (the round "
            "trip of a bare Python UDP echo with a DATA-sized datagram, and the MiB/s one "
            "block per round trip allows): "
            + ", ".join(
                f"blksize {b}: {rtt:.0f} µs, {int(b) / (rtt / 1e6) / MIB:.1f} MiB/s"
                for b, rtt in round_trip.items()
            )
            + ". Share of that ceiling per server:",
            "",
            *table(
                ["client", "direction", "blksize", "device / tftp-hpa", *servers],
                [
                    [
                        row["client"],
                        row["direction"],
                        str(row["blksize"]),
                        fratio(row["device_vs_tftp_hpa"]),
                        *(fnum(row["share"].get(s)) for s in servers),
                    ]
                    for row in lockstep
                ],
                align="lll" + "r" * (1 + len(servers)),
            ),
        ]
    drops = {
        server: sum(sum(c["drops"]) for c in data["cells"] if c["server"] == server)
        for server in servers
    }
    failed = sum(len(c["failures"]) for c in data["cells"])
    waits = data.get("programming_waits") or []
    body.append(
        "Datagrams dropped by a full socket buffer (host UDP RcvbufErrors during the cells): "
        + ", ".join(f"{s} {n}" for s, n in drops.items())
        + f". Failed transfers: {failed}."
        + (
            f" Untimed waits for programming after {len(waits)} device uploads: median "
            f"{statistics.median(waits):.2f} s."
            if waits
            else ""
        )
    )
    body.append("")
    pure = [s for s in data.get("pure_python") or [] if s in servers]

    def best(server: str, direction: str, only: Sequence[int]) -> float | None:
        values = [
            mibs(c, server, direction, b, w)
            for (c, s, d, b, w) in cells
            if c == "ipgwsim" and s == server and d == direction and w in only
        ]
        present = [v for v in values if v is not None]
        return max(present) if present else None

    windowed = [w for w in windows if w > 1]
    headline = "device, best windowed cell (ipgwsim client): " + ", ".join(
        f"{d} {fnum(best('device', d, windowed), 1)} MiB/s" for d in directions
    )
    parts = []
    for d in directions:
        others = [v for s in servers if s != "device" and (v := best(s, d, windows)) is not None]
        top = max(others) if others else None
        parts.append(
            f"{d}: {fratio(ratio(best('device', d, windowed), top))} the best other server"
        )
    lockstep_ratios = []
    for c, s, d, b, w in cells:
        if s == "device" and w == 1:
            fastest = [v for p in pure if (v := mibs(c, p, d, b, w)) is not None]
            r = ratio(mibs(c, s, d, b, w), max(fastest) if fastest else None)
            if r is not None:
                lockstep_ratios.append(r)
    if lockstep_ratios:
        parts.append(
            f"lock-step {min(lockstep_ratios):.2f}x to {max(lockstep_ratios):.2f}x the fastest "
            "pure-Python server"
        )
    return Summary(headline, "; ".join(parts), goals, body)


# -- gwload --------------------------------------------------------------------------------


def summarize_gwload(data: Any, quick: bool) -> Summary:
    size_mib = data["size"] / MIB
    rows = []
    for row in data["rows"]:
        runs = [run["seconds"] for run in row["runs"]]
        speed = "n/a" if "only" in row["name"] else f"{size_mib / row['median_s']:.1f}"
        rows.append(
            [
                row["name"],
                f"{row['median_s']:.2f} s",
                f"{min(runs):.2f} s",
                f"{max(runs):.2f} s",
                speed,
            ]
        )
        if row["median_transfer_s"] is not None:
            transfers = [run["transfer"] for run in row["runs"] if run["transfer"] is not None]
            rows.append(
                [
                    "  its transfer (gwload's own line)",
                    f"{row['median_transfer_s']:.2f} s",
                    f"{min(transfers):.2f} s",
                    f"{max(transfers):.2f} s",
                    f"{size_mib / row['median_transfer_s']:.1f}",
                ]
            )
    ratios: dict[str, float | None] = data["ratios_hpa_time_over_gwload_time"]
    labels = {
        "whole_commands": "whole commands",
        "transfer": "gwload's transfer alone (its own line)",
        "minus_setip": "gwload's command minus the `/setip only` median",
    }
    body = [
        f"A {size_mib:g} MiB firmware image to one device in TFTP mode; median of "
        f"{data['repeat']} run(s) of each command, timed from its start to its exit.",
        "",
        *table(["command", "median", "min", "max", "MiB/s"], rows),
        "Ratio gwload / tftp-hpa's client (tftp-hpa median time / gwload median time; "
        "above 1: gwload is faster):",
        "",
        *table(
            ["compared", "gwload / tftp-hpa"],
            [[labels.get(k, k), fratio(v)] for k, v in ratios.items()],
        ),
        f"gwload was granted: {data['gwload_granted']}. tftp-hpa's client sent: "
        f"{data['tftp_hpa_request']}.",
        "",
        "No goal is set for this benchmark.",
        "",
    ]
    gw = data["rows"][0]
    headline = f"`gwload /prot` of {size_mib:g} MiB: {gw['median_s']:.2f} s whole command"
    if gw["median_transfer_s"] is not None:
        headline += f" ({size_mib / gw['median_transfer_s']:.1f} MiB/s transfer)"
    versus = (
        f"{fratio(ratios.get('whole_commands'))} tftp-hpa put (whole commands), "
        f"{fratio(ratios.get('transfer'))} (transfer alone)"
    )
    return Summary(headline, versus, [], body)


# -- fleet ---------------------------------------------------------------------------------


def summarize_fleet(data: Any, quick: bool) -> Summary:
    count = data["count"]
    phases = [
        ("start (process start to all devices added)", data["start_s"], ""),
        ("press 1.8 s each (control socket)", data["press_s"], ""),
        (
            "DISCOVER to HELLOs",
            data["discover_s"],
            f"{data['hellos']} HELLOs, {data['discovers_sent']} DISCOVER(s)",
        ),
        ("SETIP by MAC", data["setip_s"], f"{data['setips_sent']} SETIPs sent"),
        ("RRQ config", data["read_s"], ""),
        ("whole round (DISCOVER + SETIP + RRQ)", data["round_s"], ""),
        ("stop (SIGTERM, saves every flash)", data["stop_s"], ""),
    ]
    memory = data["memory"]
    peak = max(m["hwm_kib"] for m in memory) / 1024 if memory else None
    body = [
        f"{count} x IP6000 in one runtime process, speed {data['speed']:g}x.",
        "",
        *table(
            ["phase", "time", "note"],
            [[name, f"{fnum(s)} s", note] for name, s, note in phases],
            align="lrl",
        ),
        *table(
            ["memory of the runtime process", "VmRSS", "VmHWM"],
            [
                [m["when"], f"{m['rss_kib'] / 1024:.1f} MiB", f"{m['hwm_kib'] / 1024:.1f} MiB"]
                for m in memory
            ],
        ),
    ]
    if data["problems"]:
        body += [f"Problems: {len(data['problems'])} (first: {data['problems'][0]}).", ""]
    goals: list[GoalResult] = []
    goal_mib, goal_devices = data.get("goal_mib"), data.get("goal_devices")
    if goal_mib is not None and peak is not None:
        name = f"peak VmHWM under {goal_mib} MiB with {goal_devices:,} devices"
        measured = f"{peak:.1f} MiB with {count:,} devices"
        if count == goal_devices:
            goals.append(GoalResult(name, measured, verdict(peak < goal_mib)))
        else:
            goals.append(GoalResult(name, measured, f"not judged: {count} devices"))
    body += goals_table(goals)
    headline = f"{count:,} devices: round {data['round_s']:.2f} s"
    if peak is not None:
        headline += f", peak {peak:.1f} MiB"
    return Summary(headline, "no peer", goals, body)


# -- netns ---------------------------------------------------------------------------------


def summarize_netns(data: Any, quick: bool) -> Summary:
    rows = [
        [
            str(r["count"]),
            f"{r['create_s']:.2f} s",
            f"{r['create_ms_per_device']:.1f} ms",
            f"{r['teardown_s']:.2f} s",
            f"{r['teardown_ms_per_device']:.1f} ms",
            f"{r['rss_kib_per_device']:.1f} KiB",
            f"{r['kernel_kib_per_device']:.1f} KiB",
            str(r["left_over"]),
        ]
        for r in data
    ]
    body = [
        *table(
            [
                "devices",
                "create",
                "per device",
                "remove",
                "per device",
                "RSS per device",
                "kernel memory per device",
                "namespaces left",
            ],
            rows,
            align="r" * 8,
        ),
        "No goal is set for this benchmark. The kernel memory is `MemTotal - MemAvailable` "
        "of the whole machine, so other work on it shows there.",
        "",
    ]
    last = max(data, key=lambda r: r["count"])
    headline = (
        f"{last['count']} devices: create {last['create_ms_per_device']:.0f} ms, remove "
        f"{last['teardown_ms_per_device']:.0f} ms per device; {last['left_over']} left"
    )
    return Summary(headline, "no peer", [], body)


# -- mixer ---------------------------------------------------------------------------------


def summarize_mixer(data: Any, quick: bool) -> Summary:
    samples = {(s["participants"], s["layout"]): s for s in data["samples"]}
    capacity = data["capacity"]
    layouts = list(dict.fromkeys(c["layout"] for c in capacity))
    budgets = list(dict.fromkeys(c["budget_ms"] for c in capacity))
    cap = {(c["layout"], c["budget_ms"]): c["participants"] for c in capacity}
    channels: dict[str, int] = data["channels"]
    most = max(channels.values()) if channels else None
    rows = []
    for layout in layouts:
        ns = [most] if most is not None else []
        ns += [cap[layout, b] for b in budgets]
        for n in dict.fromkeys(ns):
            s = samples.get((n, layout))
            if s is None:
                continue
            rows.append(
                [
                    str(n),
                    layout,
                    f"{s['tick_ms']:.3f}",
                    f"{s['period_ms']:.3f}",
                    f"{s['period_p95_ms']:.3f}",
                    f"{1e3 * s['period_ms'] / n:.1f} µs",
                ]
            )
    body = [
        "Largest number of participants whose period (receive one packet from each, one "
        f"tick) has a median below the budget; median of {data['ticks']} periods per N:",
        "",
        *table(
            ["layout", *(f"below {b:g} ms" for b in budgets)],
            [[layout, *(str(cap[layout, b]) for b in budgets)] for layout in layouts],
        ),
        "Periods at the largest profile channel count and at those limits (ms):",
        "",
        *table(["N", "layout", "tick", "period", "p95", "per participant"], rows, align="rlrrrr"),
        "Profiles' `[conference] channels`: "
        + ", ".join(f"{m} {n}" for m, n in sorted(channels.items(), key=lambda i: (-i[1], i[0])))
        + ". No goal is set for this benchmark.",
        "",
    ]
    per = [
        1e3 * s["period_ms"] / s["participants"] for s in data["samples"] if s["participants"] >= 30
    ]
    budget = budgets[0] if budgets else None
    headline = (
        f"below {budget:g} ms: "
        + ", ".join(f"{layout} {cap[layout, budget]}" for layout in layouts)
        + " participants"
        if budget is not None
        else ""
    )
    if per:
        headline += f"; {statistics.median(per):.1f} µs per participant (median, N ≥ 30)"
    versus = "no peer" + (f" (largest profile channel count: {most})" if most else "")
    return Summary(headline, versus, [], body)


# -- startup ---------------------------------------------------------------------------------


def summarize_startup(data: Any, quick: bool) -> Summary:
    command_goal, plugin_goal = data["command_goal_s"], data["plugin_goal_s"]
    rows = [
        [
            r["name"],
            f"`{r['command']}`",
            f"{r['median_s'] * 1e3:.0f} ms",
            f"{r['min_s'] * 1e3:.0f} ms",
            f"{r['max_s'] * 1e3:.0f} ms",
            f"{r['cpu_median_s'] * 1e3:.0f} ms",
        ]
        for r in data["rows"]
    ]
    plugin_ms, plugin_cpu_ms = data["plugin_s"] * 1e3, data["plugin_cpu_s"] * 1e3
    body = [
        f"Whole processes, {data['rounds']} rounds; each round runs every command once, side "
        f"by side. Load average {data['load_before']} before, {data['load_after']} after.",
        "",
        *table(
            ["command", "as run", "median", "fastest", "slowest", "CPU (median)"],
            rows,
            align="llrrrr",
        ),
        f"The pytest plugin's cost (the median run with it minus the median without it): "
        f"{plugin_ms:.0f} ms wall time, {plugin_cpu_ms:.0f} ms CPU time (the goal is judged on "
        "the CPU time: on a busy machine two runs' wall times differ by more than the cost).",
        "",
    ]
    goals = [
        GoalResult(
            f"{r['name']}: median under {command_goal * 1e3:.0f} ms",
            f"{r['median_s'] * 1e3:.0f} ms",
            verdict(r["median_s"] < command_goal),
        )
        for r in data["rows"]
        if not r["name"].startswith("pytest")
    ]
    goals.append(
        GoalResult(
            f"the pytest plugin's cost under {plugin_goal * 1e3:.0f} ms (CPU time)",
            f"{plugin_cpu_ms:.0f} ms",
            verdict(plugin_cpu_ms < plugin_goal * 1e3),
        )
    )
    body += goals_table(goals)
    medians = {r["name"]: r["median_s"] * 1e3 for r in data["rows"]}
    headline = (
        f"`ipgwsim --version` {medians['ipgwsim --version']:.0f} ms, `gwload /help` "
        f"{medians['gwload /help']:.0f} ms (medians), plugin {plugin_cpu_ms:.0f} ms CPU"
    )
    return Summary(headline, "no peer", goals, body)


# -- memory per idle device ------------------------------------------------------------------


def summarize_memory(data: Any, quick: bool) -> Summary:
    body: list[str] = []
    headline_parts = []
    for census in data["censuses"]:
        per = census["bytes_per_device"]
        headline_parts.append(f"{census['state']} {per / 1024:.1f} KiB")
        body += [
            f"{census['count']:,} x IP6000 idle in {census['state']}: {per:,.0f} bytes of heap "
            f"per device (tracemalloc), {census['random_generators_per_device']:g} "
            "random.Random per device.",
            "",
            *table(
                ["component", "bytes per device"],
                [[r["name"], f"{r['bytes_per_device']:,.0f}"] for r in census["components"]],
                align="lr",
            ),
        ]
    rss = [r for r in data["rss"] if not r["problem"]]
    if data["rss"]:
        body += table(
            ["devices (running firmware)", "RSS per device", "note"],
            [
                [
                    f"{r['count']:,}",
                    f"{r['bytes_per_device'] / 1024:.1f} KiB" if not r["problem"] else "",
                    r["problem"],
                ]
                for r in data["rss"]
            ],
            align="rrl",
        )
    goals: list[GoalResult] = []
    goal = data["goal_bytes_per_device"]
    if rss:
        largest = max(rss, key=lambda r: r["count"])
        per = largest["bytes_per_device"]
        goals.append(
            GoalResult(
                f"RSS per idle device under {goal / 1024:.1f} KiB "
                f"({data['goal_devices']:,} devices in 2 GiB)",
                f"{per / 1024:.1f} KiB at {largest['count']:,} devices",
                verdict(per < goal),
            )
        )
        headline_parts.append(f"RSS {per / 1024:.1f} KiB at {largest['count']:,}")
    body += goals_table(goals)
    return Summary("heap per idle device: " + ", ".join(headline_parts), "no peer", goals, body)


# -- bench_upload.py: many concurrent gwload /prot uploads (begin) -------------------------


def summarize_upload(data: Any, quick: bool) -> Summary:
    """bench_upload.py's JSON: one image to every device of a runtime; no goal is set."""
    count, size_mib = data["count"], data["size"] / MIB
    if data.get("skipped"):
        return Summary(f"skipped: {data['skipped']}", "no peer")
    head, pct = data["headline"], data["percentiles_s"]
    rows = [
        ["start (process start to all devices added)", f"{fnum(data['start_s'])} s"],
        ["presses + DISCOVER + SETIP", f"{fnum(data['setup_s'])} s"],
        ["uploads (first gwload started to last ended)", f"{fnum(data['upload_s'])} s"],
        ["until every device runs the uploaded build", f"{fnum(data['settle_s'])} s"],
        ["**total** (uploads + until running)", f"{fnum(head['total_s'])} s"],
        ["uploads/s", fnum(head["uploads_per_s"])],
        ["aggregate MiB/s", fnum(head["mib_per_s"], 1)],
        ["stop (SIGTERM, saves every flash)", f"{fnum(data['stop_s'])} s"],
    ]
    if pct:
        rows.append(
            [
                "per upload: p50 / p90 / p99 / max",
                " / ".join(f"{pct[k]:.2f}" for k in ("p50", "p90", "p99", "max")) + " s",
            ]
        )
    memory = [
        ["runtime peak (VmHWM)", f"{data['runtime_hwm_kib'] / 1024:.1f} MiB"],
        ["runtime VmRSS before / after the uploads",
         f"{data['runtime_rss_before_kib'] / 1024:.1f} / "
         f"{data['runtime_rss_after_kib'] / 1024:.1f} MiB"],
        ["runtime CPU during the uploads", f"{data['runtime_cpu_s']:.1f} s"],
        ["driver peak (VmHWM, this process)", f"{data['driver_hwm_kib'] / 1024:.1f} MiB"],
        ["gwload processes at once: RSS together (largest one)",
         f"{data['gwload_rss_peak_kib'] / 1024:.1f} MiB "
         f"({data['gwload_max_rss_kib'] / 1024:.1f} MiB)"],
        ["driver CPU (this process and every gwload)", f"{data['driver_cpu_s']:.1f} s"],
        ["load average before / after the uploads (1-min peak)",
         f"{data['load_start']} / {data['load_end']} ({data['load1_peak']:.2f})"],
    ]  # fmt: skip
    body = [
        f"{count:,} x IP6000 in one runtime process (workers {data['workers']}), each given "
        f"a {size_mib:g} MiB firmware by its own `gwload /prot` process, "
        f"{data['concurrency']} at a time, speed {data['speed']:g}x.",
        "",
        *table(["phase", "time"], rows),
        *table(["memory, CPU, load", "measured"], memory),
    ]
    if data["problems"]:
        body += [f"Problems: {len(data['problems'])} (first: {data['problems'][0]}).", ""]
    headline = (
        f"{count:,} x {size_mib:g} MiB: {head['total_s']:.1f} s, "
        f"{head['uploads_per_s']:.2f} uploads/s, runtime peak {head['runtime_peak_mib']:.0f} MiB"
    )
    return Summary(headline, "no peer", [], body)


# -- bench_upload.py (end) -----------------------------------------------------------------


# -- update-server polling (bench_poll.py) -------------------------------------------------


def summarize_poll(data: Any, quick: bool) -> Summary:
    rows = []
    for r in data["runs"]:
        if r["problem"] and not r["judged"]:
            rows.append([f"{r['count']:,}", str(r["workers"]), r["problem"], *[""] * 7])
            continue
        rows.append(
            [
                f"{r['count']:,}",
                str(r["workers"]),
                f"{r['start_s']:.1f} s",
                f"{r['hwm_kib'] / 1024:.1f} MiB",
                f"{r['hwm_kib'] / r['count']:.1f} KiB",
                f"{r['polls_per_s']:.1f} ({r['ideal_polls_per_s']:.1f})",
                f"{r['on_time_share'] * 100:.2f} % of {r['judged']:,}",
                f"{r['worst_late_s']:.3f} s",
                f"{r['runtime_cores']:.2f}",
                f"{r['server_cores']:.2f}",
            ]
        )
    body = [
        f"IP6000 running firmware on loopback, each polling one update server every "
        f"{data['interval_s']:g} s of real time (speed {data['speed']:g}x), "
        f"{data['intervals']} intervals measured after every device's first poll.",
        "",
        *table(
            [
                "devices",
                "workers",
                "start",
                "peak memory (VmHWM)",
                "per device",
                "polls/s (ideal)",
                "within 1 s of due",
                "worst lateness",
                "runtime CPU (cores)",
                "server CPU",
            ],
            rows,
            align="rrrrrrrrrr",
        ),
        *data.get("notes", []),
        "",
        *[
            f"{r['count']:,} devices, {r['workers']} worker(s): {r['problem']}."
            for r in data["runs"]
            if r["problem"] and r["judged"]
        ],
        "",
    ]
    goals = [GoalResult(g["goal"], g["measured"], g_verdict(g)) for g in data.get("goals", [])]
    body += goals_table(goals)
    for g in data.get("goals", []):
        if g["passed"] is False and g.get("why"):
            body += [f"*{g['goal']}*: {g['why']}", ""]
    speedup = poll_speedup(data["runs"])
    if speedup:
        body += [speedup, ""]
    judged = [r for r in data["runs"] if r["judged"] and r["workers"] == 1]
    if judged:
        top = max(judged, key=lambda r: r["count"])
        headline = (
            f"{top['count']:,} devices: peak {top['hwm_kib'] / 1024:.0f} MiB, "
            f"{top['on_time_share'] * 100:.1f} % of polls within 1 s"
        )
    else:
        headline = "no count measured"
    return Summary(headline, "no peer", goals, body)


def poll_speedup(runs: list[dict[str, Any]]) -> str | None:
    """The speed-up from 1 worker to more at the largest count both ran: the start (every
    device added) and the share of polls on time, side by side; None if they did not."""
    ran = [r for r in runs if r["judged"]]
    counts = {r["count"] for r in ran if r["workers"] > 1}
    if not counts:
        return None
    count = max(counts)
    one = [r for r in ran if r["count"] == count and r["workers"] == 1]
    more = [r for r in ran if r["count"] == count and r["workers"] > 1]
    if not one:
        return None
    base = one[0]
    parts = [
        f"{r['workers']} workers: start {base['start_s']:.1f} s -> {r['start_s']:.1f} s "
        f"(speed-up {fratio(ratio(base['start_s'], r['start_s']))}), polls within 1 s "
        f"{base['on_time_share'] * 100:.1f} % -> {r['on_time_share'] * 100:.1f} %, runtime CPU "
        f"{base['runtime_cores']:.2f} -> {r['runtime_cores']:.2f} cores"
        for r in more
    ]
    return f"**Speed-up, {count:,} devices, 1 worker vs more:** " + "; ".join(parts) + "."


def g_verdict(goal: dict[str, Any]) -> str:
    if goal["passed"] is None:
        return f"not judged: {goal['why']}"
    return verdict(bool(goal["passed"]))


# -- the benchmarks ------------------------------------------------------------------------

SPECS = (
    Spec(
        "flash",
        "bench_flash.py",
        "Flash layer",
        "Flash benchmarks",
        ("--quick",),
        (),
        summarize_flash,
    ),
    Spec(
        "tftp",
        "bench_tftp.py",
        "TFTP throughput: device vs tftp-hpa and pure-Python servers, three clients",
        "TFTP throughput benchmark",
        ("--quick",),
        (),
        summarize_tftp,
        tools=(("in.tftpd", "Debian package tftpd-hpa"), ("tftp", "Debian package tftp-hpa")),
    ),
    Spec(
        "gwload",
        "bench_gwload.py",
        "gwload upload vs tftp-hpa's client",
        "gwload upload benchmark",
        ("--quick",),
        (),
        summarize_gwload,
        tools=(("tftp", "Debian package tftp-hpa"),),
    ),
    Spec(
        "fleet",
        "bench_fleet.py",
        "Fleet: many devices in one runtime",
        "Fleet benchmark",
        ("--quick",),
        (),
        summarize_fleet,
    ),
    Spec(
        "memory",
        "bench_memory.py",
        "Memory per idle device",
        "Memory per idle device",
        ("--quick",),
        (),
        summarize_memory,
    ),
    Spec(
        "upload",
        "bench_upload.py",
        "Bulk upload: gwload /prot to many devices at once",
        "Bulk upload benchmark",
        ("--quick",),
        (),
        summarize_upload,
    ),
    Spec(
        "poll",
        "bench_poll.py",
        "Update-server polling: fleets at provisioning scale",
        "Update-server polling benchmark",
        ("--quick",),
        ("--counts", "1000", "10000", "--workers", "1", "2"),
        summarize_poll,
    ),
    Spec(
        "netns",
        "bench_netns.py",
        "Namespace mode: devices per machine",
        "Namespace mode benchmark",
        ("--counts", "10"),
        (),
        summarize_netns,
        needs_root=True,
    ),
    Spec(
        "mixer",
        "bench_mixer.py",
        "Conference mixer: participants in real time",
        "Conference mixer benchmark",
        ("--quick",),
        (),
        summarize_mixer,
    ),
    Spec(
        "startup",
        "bench_startup.py",
        "Start-up: whole commands and the pytest plugin",
        "Start-up benchmark",
        ("--quick",),
        (),
        summarize_startup,
    ),
)
NAMES = tuple(spec.name for spec in SPECS)


# -- the machine ---------------------------------------------------------------------------


def first_line(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    cpu = cpu_model()
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    info = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "cores_usable": str(len(os.sched_getaffinity(0))),
        "memory": memory,
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "ipgwsim": package_version("ipgwsim"),
        "tftpy": package_version("tftpy"),
        "partftpy": package_version("partftpy"),
        "py3tftp": package_version("py3tftp"),
        "pytftp": package_version("tftp"),
        "numpy": package_version("numpy"),
        "pyroute2": package_version("pyroute2"),
        "in.tftpd": first_line(["in.tftpd", "-V"]) if shutil.which("in.tftpd") else "not installed",
        "tftp": first_line(["tftp", "-V"]) if shutil.which("tftp") else "not installed",
    }
    if shutil.which("dpkg-query"):
        for package in ("tftpd-hpa", "tftp-hpa"):
            info[f"dpkg {package}"] = first_line(["dpkg-query", "-W", "-f", "${Version}", package])
    return info


def busy_ticks() -> int | None:
    """Machine-wide user + nice + system time from /proc/stat, in clock ticks."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- running -------------------------------------------------------------------------------


@dataclass
class Outcome:
    spec: Spec
    status: str  # ok, failed, skipped, not selected
    reason: str = ""
    command: str = ""
    returncode: int | None = None
    seconds: float = 0.0
    started_utc: str = ""
    load_before: str = ""
    load_after: str = ""
    #: CPU time the benchmark's processes used / wall time (cores busy on average).
    own_cores: float | None = None
    #: CPU time the rest of the machine used meanwhile / wall time.
    other_cores: float | None = None
    stderr_tail: list[str] = field(default_factory=list)
    #: The run_all command that ran it, and when (differs from this run with --reuse).
    origin_command: str = ""
    origin_started_utc: str = ""
    summary: Summary | None = None

    SAVED = (
        "status",
        "reason",
        "command",
        "returncode",
        "seconds",
        "started_utc",
        "load_before",
        "load_after",
        "own_cores",
        "other_cores",
        "stderr_tail",
        "origin_command",
        "origin_started_utc",
    )

    def to_json(self) -> dict[str, Any]:
        saved: dict[str, Any] = {"name": self.spec.name}
        saved |= {key: getattr(self, key) for key in self.SAVED}
        saved["headline"] = self.summary.headline if self.summary else None
        saved["versus"] = self.summary.versus if self.summary else None
        saved["goals"] = [asdict(g) for g in self.summary.goals] if self.summary else []
        return saved

    @classmethod
    def from_json(cls, spec: Spec, saved: dict[str, Any]) -> Outcome:
        outcome = cls(spec, saved["status"])
        for key in cls.SAVED:
            setattr(outcome, key, saved[key])
        return outcome

    def summarize(self, json_path: Path, quick: bool) -> None:
        """Make the summary from the benchmark's JSON (a JSON that cannot be read fails it)."""
        if not json_path.exists():
            if self.status == "ok":
                self.status, self.reason = "failed", "it wrote no JSON"
            return
        try:
            self.summary = self.spec.summarize(json.loads(json_path.read_text()), quick)
        except Exception as exc:  # a summary that cannot be made is a failure, not a crash
            self.status = "failed"
            self.reason = "; ".join(
                filter(None, [self.reason, f"its JSON could not be read: {exc!r}"])
            )


def shown_path(path: Path | str, base: Path = ROOT) -> str:
    """``path`` relative to ``base`` if it is inside it (symlinks not followed), else absolute."""
    absolute = Path(os.path.abspath(path))
    with contextlib.suppress(ValueError):
        return str(absolute.relative_to(base))
    return str(absolute)


def tee(stream: TextIO, name: str, keep: deque[str]) -> None:
    for line in stream:
        keep.append(line.rstrip("\n"))
        print(f"  [{name}] {line}", end="", file=sys.stderr, flush=True)


def stop_group(proc: subprocess.Popen[str]) -> None:
    """Stop a benchmark that ran too long.

    SIGINT first, so that its ``finally`` blocks stop what it started (runtimes,
    namespaces); then SIGTERM; then SIGKILL to what is left of its process group.
    """
    for sig, grace in ((signal.SIGINT, 60.0), (signal.SIGTERM, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # What is left of its process group (it was started in a session of its own).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_one(spec: Spec, quick: bool, json_dir: Path, timeout: float) -> Outcome:
    json_path = json_dir / f"{spec.name}.json"
    out_path = json_dir / f"{spec.name}.out"
    json_path.unlink(missing_ok=True)
    args = spec.quick_args if quick else spec.full_args
    argv = [sys.executable, str(BENCHMARKS / spec.script), *args, "--json", str(json_path)]
    shown = [shown_path(sys.executable), f"benchmarks/{spec.script}", *args]
    outcome = Outcome(spec, "ok", command=shlex.join([*shown, "--json", shown_path(json_path)]))
    outcome.started_utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    outcome.load_before = loadavg()
    keep: deque[str] = deque(maxlen=TAIL_LINES)
    cpu_before, busy_before = children_cpu(), busy_ticks()
    started = time.perf_counter()
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stderr is not None
        reader = threading.Thread(target=tee, args=(proc.stderr, spec.name, keep), daemon=True)
        reader.start()
        try:
            outcome.returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            outcome.returncode = proc.returncode
            outcome.status, outcome.reason = "failed", f"still running after {timeout:.0f} s"
        except BaseException:
            stop_group(proc)
            raise
        reader.join(timeout=10)
    outcome.seconds = time.perf_counter() - started
    outcome.load_after = loadavg()
    own = children_cpu() - cpu_before
    busy_after = busy_ticks()
    outcome.own_cores = own / outcome.seconds
    if busy_before is not None and busy_after is not None:
        busy = (busy_after - busy_before) / os.sysconf("SC_CLK_TCK")
        outcome.other_cores = max(0.0, busy - own) / outcome.seconds
    outcome.stderr_tail = list(keep)
    if outcome.status == "ok" and outcome.returncode != 0:
        outcome.status, outcome.reason = "failed", f"exit status {outcome.returncode}"
    outcome.summarize(json_path, quick)
    return outcome


# -- the page ------------------------------------------------------------------------------


def anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def status_text(outcome: Outcome) -> str:
    if outcome.status == "ok":
        return "ran"
    if outcome.status == "failed":
        return f"**FAILED**: {outcome.reason}"
    return f"{outcome.status}: {outcome.reason}"


def cores(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


@dataclass
class Run:
    """This invocation of run_all."""

    command: str
    quick: bool
    started_utc: str
    ended_utc: str = ""
    seconds: float = 0.0
    load_start: str = ""
    load_end: str = ""
    note: str = ""


def render(outcomes: list[Outcome], info: dict[str, str], run: Run, out: Path | None) -> str:
    base = out.resolve().parent if out is not None else DOCS
    docs_link = os.path.relpath(DOCS / "benchmarks.md", base)
    readme_link = os.path.relpath(BENCHMARKS / "README.md", base)
    ran = [o.spec.name for o in outcomes if o.origin_command == run.command and o.command]
    earlier = [o for o in outcomes if o.origin_command and o.origin_command != run.command]
    if earlier:
        how = (
            "Every benchmark in `benchmarks/`, run by `benchmarks/run_all.py` one after "
            "another; some were run again later with `--reuse`, which keeps the other "
            "results. The table under *Run* names the command that ran each."
        )
    else:
        how = "One run of every benchmark in `benchmarks/`, one after another, with one command."
    lines = [
        "# Benchmark results",
        "",
        "<!-- Written by benchmarks/run_all.py from the benchmarks' JSON; run it again "
        "instead of editing this page. -->",
        "",
        f"{how} What each benchmark measures, its goals, and explanations of earlier runs "
        f"are in [`docs/benchmarks.md`]({docs_link}); how to run each one alone is in "
        f"[`benchmarks/README.md`]({readme_link}). Every number on this page comes from "
        "the JSON the benchmarks wrote in the runs named below.",
        "",
    ]
    if run.quick:
        lines += [
            "**This was a `--quick` run**: smaller sizes, fewer repeats and devices. Its "
            "numbers are noisier and not comparable with a full run.",
            "",
        ]
    rows = [
        ["command (from the repository root)", f"`{run.command}`"],
        ["mode", "quick (`--quick`)" if run.quick else "full"],
        ["started", f"{run.started_utc} UTC"],
        ["ended", f"{run.ended_utc} UTC ({run.seconds / 60:.1f} min for this command)"],
    ]
    total = sum(o.seconds for o in outcomes if o.command)
    rows.append(["time of the benchmarks on this page", f"{total / 60:.1f} min"])
    if earlier:
        rows.append(["benchmarks run by this command", ", ".join(ran) or "none"])
        origins = dict.fromkeys((o.origin_command, o.origin_started_utc) for o in earlier)
        for command, started in origins:
            names = [o.spec.name for o in earlier if o.origin_command == command]
            rows.append(
                [
                    f"kept from an earlier run: {', '.join(names)}",
                    f"`{command}`, started {started} UTC",
                ]
            )
    rows += [
        ["CPU (`/proc/cpuinfo` model name)", info["cpu"]],
        ["cores", f"{info['cores']} ({info['cores_usable']} usable by the run)"],
        ["memory", info["memory"]],
        ["kernel", info["kernel"]],
        ["Python", f"{info['python']} (`{shown_path(sys.executable)}`)"],
        ["ipgwsim", info["ipgwsim"]],
        [
            "peers and tools",
            f"tftpy {info['tftpy']}; partftpy {info.get('partftpy', 'n/a')}; "
            f"py3tftp {info.get('py3tftp', 'n/a')}; tftp (pytftp) {info.get('pytftp', 'n/a')}; "
            f"`in.tftpd -V`: {info['in.tftpd']}"
            + (f" (dpkg {info['dpkg tftpd-hpa']})" if "dpkg tftpd-hpa" in info else "")
            + f"; `tftp -V`: {info['tftp']}"
            + (f" (dpkg {info['dpkg tftp-hpa']})" if "dpkg tftp-hpa" in info else "")
            + f"; numpy {info['numpy']}; pyroute2 {info['pyroute2']}",
        ],
        [
            "load average (1, 5, 15 min)",
            f"{run.load_start} at the start, {run.load_end} at the end",
        ],
    ]
    if run.note:
        rows.append(["note", run.note])
    lines += [
        "## Run",
        "",
        *table(["", ""], rows, align="ll"),
        "Other work on the machine changes these numbers. For each benchmark the page gives "
        "the load average before and after it, and *other CPU*: the CPU time the rest of "
        "the machine used while it ran, in cores busy on average (machine-wide user and "
        "system time from `/proc/stat`, minus what the benchmark's own processes used; an "
        "estimate). Compare ratios within one run rather than absolute numbers across runs.",
        "",
        "## Summary",
        "",
    ]
    rows = []
    for o in outcomes:
        link = f"[{o.spec.name}](#{anchor(section_title(o.spec))})"
        s = o.summary
        ran_it = o.status in ("ok", "failed") and o.command
        rows.append(
            [
                link,
                status_text(o),
                f"{o.seconds:.0f} s" if ran_it else "n/a",
                cores(o.other_cores) if ran_it else "n/a",
                s.headline if s else "n/a",
                s.versus if s else "n/a",
                goals_text(s.goals) if s else "n/a",
            ]
        )
    lines += table(
        ["benchmark", "result", "time", "other CPU", "headline", "ipgwsim / peer", "goals"],
        rows,
        align="llrrlll",
    )
    for o in outcomes:
        lines += section(o, docs_link, run)
    return "\n".join(lines).rstrip("\n") + "\n"


def section_title(spec: Spec) -> str:
    return f"{spec.title} ({spec.script})"


def section(o: Outcome, docs_link: str, run: Run) -> list[str]:
    spec = o.spec
    lines = [f"## {section_title(spec)}", ""]
    target = f"{docs_link}#{anchor(spec.docs_heading)}"
    explained = f"[`docs/benchmarks.md`, *{spec.docs_heading}*]({target})"
    if not o.command:
        return [*lines, f"Not run: {o.reason}. Explanations: {explained}.", ""]
    lines += [f"`{o.command}`", ""]
    if o.origin_command != run.command:
        lines += [
            f"Kept from an earlier run: `{o.origin_command}` (started {o.origin_started_utc} UTC).",
            "",
        ]
    lines += [
        f"Started {o.started_utc} UTC, {o.seconds:.1f} s, exit status {o.returncode}; load "
        f"average {o.load_before} before, {o.load_after} after; CPU busy on average: the "
        f"benchmark {cores(o.own_cores)} cores, other CPU {cores(o.other_cores)}. "
        f"Explanations: {explained}.",
        "",
    ]
    if o.status == "failed":
        lines += [f"**FAILED**: {o.reason}. The last lines it wrote to stderr:", "", "```text"]
        lines += o.stderr_tail or ["(nothing)"]
        lines += ["```", ""]
    if o.summary is not None:
        lines += o.summary.body
    return lines


# -- main ------------------------------------------------------------------------------------


def write_summary(path: Path, outcomes: list[Outcome], info: dict[str, str], run: Run) -> None:
    """What the page says, machine-readable (``run_all.json``; ``--reuse`` reads it)."""
    payload = {
        "run": asdict(run),
        "machine": info,
        "benchmarks": [o.to_json() for o in outcomes],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def earlier_outcomes(json_dir: Path, quick: bool) -> dict[str, Outcome]:
    """The outcomes kept in ``json_dir/run_all.json`` (for ``--reuse``), with summaries."""
    path = json_dir / "run_all.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"run_all: --reuse needs {path} from an earlier run: {exc}") from exc
    if saved["run"]["quick"] != quick:
        mode = "a --quick" if saved["run"]["quick"] else "a full"
        raise SystemExit(f"run_all: {path} is from {mode} run; run with the same mode")
    specs = {spec.name: spec for spec in SPECS}
    found: dict[str, Outcome] = {}
    for item in saved["benchmarks"]:
        spec = specs.get(item["name"])
        if spec is None or not item["command"]:
            continue
        outcome = Outcome.from_json(spec, item)
        outcome.summarize(json_dir / f"{spec.name}.json", quick)
        found[spec.name] = outcome
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run every benchmark, one after another, and write one page of results."
    )
    parser.add_argument("--quick", action="store_true", help="each benchmark's short run")
    parser.add_argument(
        "--only", nargs="+", choices=NAMES, metavar="NAME", help=f"run only these: {NAMES}"
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="where the page goes ('-': stdout). Default: docs/benchmark-results.md for a "
        "full run of all benchmarks (also with --reuse), stdout for --quick or --only",
    )
    parser.add_argument(
        "--json-dir",
        type=Path,
        metavar="DIR",
        help="keep each benchmark's JSON and stdout here, and run_all.json "
        "(default: a temporary directory)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --json-dir: keep the results of the earlier run in DIR and run only the "
        "benchmarks named by --only (none without --only); the page says which command "
        "ran each",
    )
    parser.add_argument(
        "--note", default="", metavar="TEXT", help="a note for the page, e.g. what else ran"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds one benchmark may take before it is stopped (default {DEFAULT_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if args.reuse and args.json_dir is None:
        parser.error("--reuse needs --json-dir (of an earlier run)")
    return args


def command_line() -> str:
    """This command as typed, with ``cd`` first if it was not started in the repository."""
    cwd = Path.cwd()
    python = os.path.relpath(os.path.abspath(sys.executable), cwd)
    if python.startswith(".."):
        python = sys.executable
    command = shlex.join([python, *sys.argv])
    if cwd.resolve() != ROOT:
        command = f"cd {shlex.quote(str(cwd))} && {command}"
    return command


def run_benchmarks(
    args: argparse.Namespace, run: Run, json_dir: Path, earlier: dict[str, Outcome]
) -> list[Outcome]:
    """Each benchmark in turn (or its earlier outcome, or why it is not run)."""
    outcomes: list[Outcome] = []
    for number, spec in enumerate(SPECS, 1):
        step = f"[{number}/{len(SPECS)}] {spec.name}"
        if (args.only or args.reuse) and spec.name not in (args.only or ()):
            if spec.name in earlier:
                print(f"{step}: kept from the earlier run", file=sys.stderr)
                outcomes.append(earlier[spec.name])
            else:
                outcomes.append(Outcome(spec, "not selected", "not named by `--only`"))
            continue
        reason = spec.skip_reason()
        if reason is not None:
            print(f"{step}: skipped, {reason}", file=sys.stderr)
            outcomes.append(Outcome(spec, "skipped", reason))
            continue
        print(f"{step}: {spec.script}", file=sys.stderr)
        outcome = run_one(spec, args.quick, json_dir, args.timeout)
        outcome.origin_command, outcome.origin_started_utc = run.command, run.started_utc
        note = f" ({outcome.reason})" if outcome.reason else ""
        print(f"{step}: {outcome.status} after {outcome.seconds:.1f} s{note}", file=sys.stderr)
        outcomes.append(outcome)
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out is None:
        partial = (args.quick or args.only) and not args.reuse
        out: Path | None = None if partial else DEFAULT_OUT
    else:
        out = None if args.out == "-" else Path(args.out)
    run = Run(command_line(), args.quick, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    run.note = args.note
    run.load_start = loadavg()
    info = machine()
    started = time.perf_counter()
    keep = args.json_dir is not None
    json_dir = args.json_dir if keep else Path(tempfile.mkdtemp(prefix="run_all."))
    json_dir.mkdir(parents=True, exist_ok=True)
    try:
        earlier = earlier_outcomes(json_dir, args.quick) if args.reuse else {}
        outcomes = run_benchmarks(args, run, json_dir, earlier)
        run.ended_utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        run.seconds = time.perf_counter() - started
        run.load_end = loadavg()
        if keep:
            write_summary(json_dir / "run_all.json", outcomes, info, run)
    finally:
        if not keep:
            shutil.rmtree(json_dir, ignore_errors=True)
    page = render(outcomes, info, run, out)
    if out is None:
        sys.stdout.write(page)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        part.write_text(page)
        part.replace(out)
        print(f"page written to {shown_path(out, Path.cwd())}", file=sys.stderr)
    failed = [o.spec.name for o in outcomes if o.status == "failed"]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

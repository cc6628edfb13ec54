"""bench_tftp.py's cells, goals and their explanations, and run_all's page of them.

The goal logic is judged on given numbers (each goal both PASS and MISS); one real run
of the benchmark, small and on a few cells, checks that every client moves the bytes.
No speed is asserted: speed targets are the benchmark's, on an idle machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ipgwsim.proto.tftp import TimerPolicy
from ipgwsim.runtime.tftpclient import TransferResult

# The benchmarks are scripts in benchmarks/, not a package: they are imported from there
# (with what they import, hostinfo).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_tftp
import run_all
from bench_tftp import (
    CLIENTS,
    PURE_PYTHON,
    SERVERS,
    Key,
    Measured,
    judge,
    make_cells,
)

MIB = 1024 * 1024


Setting = tuple[int, int]


def speeds(
    device: float,
    others: dict[str, float],
    *,
    clients: tuple[str, ...] = ("ipgwsim",),
    settings: tuple[Setting, ...] = ((512, 1), (8192, 16)),
) -> dict[Key, float | None]:
    """Every server's MiB/s in every given setting: ``device`` for the device, else
    ``others`` (a server not named there runs at 10)."""
    found: dict[Key, float | None] = {}
    for client in clients:
        for direction in ("download", "upload"):
            for blksize, window in settings:
                for server in SERVERS:
                    value = device if server == "device" else others.get(server, 10.0)
                    found[(client, server, direction, blksize, window)] = value
    return found


def goal(goals: list[bench_tftp.Goal], start: str) -> bench_tftp.Goal:
    (found,) = [g for g in goals if g.name.startswith(start)]
    return found


def test_lockstep_goals_pass_when_the_device_leads_every_pure_python_server() -> None:
    # tftpy 10, the fastest pure-Python server 14 (pytftp); device 15: >= 14 and >= 1.5 x 10.
    goals = judge(Measured(speeds(15.0, {"pytftp": 14.0, "tftp-hpa": 40.0})))
    fastest = goal(goals, "device lock-step >= the fastest")
    tftpy = goal(goals, "device lock-step >= 1.5x tftpy")
    assert fastest.passed
    assert tftpy.passed
    assert fastest.why == []
    assert tftpy.why == []
    # tftp-hpa (C) is faster still: the lock-step goals compare with pure Python only.
    assert [label for label, _ in fastest.ratios] == [
        "ipgwsim download 512 (vs pytftp)",
        "ipgwsim upload 512 (vs pytftp)",
    ]
    assert fastest.ratios[0][1] == pytest.approx(15 / 14)


def test_lockstep_goals_miss_on_one_setting_and_say_why() -> None:
    numbers = speeds(15.0, {"pytftp": 14.0})
    numbers[("ipgwsim", "device", "upload", 512, 1)] = 12.0  # 1.2x tftpy, below pytftp
    cpu: dict[Key, float | None] = {("ipgwsim", "device", "upload", 512, 1): 30e-6}
    goals = judge(Measured(numbers, cpu, {512: 20e-6}))
    fastest = goal(goals, "device lock-step >= the fastest")
    tftpy = goal(goals, "device lock-step >= 1.5x tftpy")
    assert not fastest.passed
    assert not tftpy.passed
    (why,) = fastest.why
    # 512 bytes at 12 MiB/s is 40.7 µs a block; pytftp's 14 MiB/s is 34.9 µs.
    assert why.startswith("ipgwsim upload 512: the device took 41 µs a block (12.0 MiB/s)")
    assert "pytftp needs 35 µs (14.0 MiB/s)" in why
    assert "busy 30 µs of each block" in why
    assert "round trip is 20 µs, the lock-step ceiling 24.4 MiB/s" in why
    assert "21 µs a block, would have to shrink to 15 µs" in why
    (why,) = tftpy.why
    assert "1.5x tftpy needs 33 µs (15.0 MiB/s)" in why


def test_a_lockstep_goal_above_the_echo_ceiling_is_said_to_be() -> None:
    # The echo's round trip (50 µs at 512: 9.8 MiB/s) is slower than the goal asks, and
    # no server reached that: the goal lies above the ceiling.
    numbers = speeds(8.0, {"pytftp": 9.0, "tftpy": 7.0})
    goals = judge(Measured(numbers, {}, {512: 50e-6}))
    why = goal(goals, "device lock-step >= 1.5x tftpy").why
    assert why
    assert all(line.endswith("the goal lies above this machine's ceiling") for line in why)


def test_a_lockstep_goal_below_the_echo_round_trip_is_not_called_a_ceiling() -> None:
    # The echo's round trip (50 µs at 512: 9.8 MiB/s) is slower than the goal asks, and
    # than pytftp: it bounds nothing, and the line says what the device lacks.
    numbers = speeds(8.0, {"pytftp": 14.0})
    goals = judge(Measured(numbers, {}, {512: 50e-6}))
    why = goal(goals, "device lock-step >= the fastest").why
    assert why
    # 512 bytes at 8 MiB/s: 61 µs a block; pytftp's 14 MiB/s: 35 µs.
    assert all(
        line.endswith(
            "the goal asks for less than that round trip, which pytftp beat, so the echo"
            " bounds nothing here; the device would need 26 µs less a block"
        )
        for line in why
    )


def test_windowed_goal_passes_at_1_3x_the_best_other_server_and_misses_below() -> None:
    # At 8192/16 the best other server is tftp-hpa (C) at 100: the device needs 130.
    others = {"tftp-hpa": 100.0, "pytftp": 90.0}
    windowed = goal(judge(Measured(speeds(130.0, others))), "device with a window")
    assert windowed.passed
    assert [label for label, _ in windowed.ratios] == [
        "ipgwsim download 8192/16 (vs tftp-hpa)",
        "ipgwsim upload 8192/16 (vs tftp-hpa)",
    ]
    cpu: dict[Key, float | None] = {
        ("ipgwsim", "device", d, 8192, 16): 60e-6 for d in ("download", "upload")
    }
    missed = goal(judge(Measured(speeds(129.0, others), cpu)), "device with a window")
    assert not missed.passed
    assert len(missed.why) == 2
    # 8192 bytes at 129 MiB/s: 60.6 µs a block, of which 60 µs busy: one core allows
    # 130.2 MiB/s, and 1.3 x 100 MiB/s needs 60.1 µs a block.
    assert "the device took 60.6 µs a block (129.0 MiB/s)" in missed.why[0]
    assert "1.3x tftp-hpa needs 60.1 µs (130.0 MiB/s)" in missed.why[0]
    assert "one core allows it at most 130.2 MiB/s here" in missed.why[0]
    assert missed.why[0].endswith(
        "the rest is waiting (the client, the kernel, the window's pacing)"
    )
    busy = dict.fromkeys(cpu, 7e-05)
    limited = goal(judge(Measured(speeds(100.0, others), busy)), "device with a window")
    assert limited.why[0].endswith("the device's own work per block is the limit")


def test_a_failed_device_cell_is_a_miss_not_a_pass() -> None:
    numbers = speeds(100.0, {})
    numbers[("ipgwsim", "device", "download", 512, 1)] = None
    fastest = goal(judge(Measured(numbers)), "device lock-step >= the fastest")
    assert not fastest.passed
    assert (
        "ipgwsim download 512: not judged, a cell of the comparison has a failed run or no "
        "number: device (every run failed)"
    ) in fastest.why


def test_failed_competitors_make_the_setting_a_miss_not_a_pass_against_the_rest() -> None:
    # Every pure-Python server but tftpy failed at download 512: the device, faster than
    # tftpy, must not pass "the fastest pure-Python server" against tftpy alone.
    numbers = speeds(100.0, {"tftpy": 10.0})
    for server in ("pytftp", "py3tftp", "partftpy"):
        numbers[("ipgwsim", server, "download", 512, 1)] = None
    numbers[("ipgwsim", "tftp-hpa", "download", 8192, 16)] = None
    goals = judge(Measured(numbers))
    fastest = goal(goals, "device lock-step >= the fastest")
    assert not fastest.passed
    (why,) = fastest.why
    assert why == (
        "ipgwsim download 512: not judged, a cell of the comparison has a failed run or no "
        "number: partftpy (every run failed), py3tftp (every run failed), pytftp (every run "
        "failed)"
    )
    assert dict(fastest.ratios)["ipgwsim download 512 (vs the pure-Python servers: "
                                "partftpy (every run failed), py3tftp (every run failed), "
                                "pytftp (every run failed))"] is None  # fmt: skip
    # tftpy itself ran: the 1.5x tftpy goal is judged and passes.
    assert goal(goals, "device lock-step >= 1.5x tftpy").passed
    # tftp-hpa failed at download 8192/16: the windowed goal misses there, naming it.
    windowed = goal(goals, "device with a window")
    assert not windowed.passed
    assert windowed.why == [
        "ipgwsim download 8192/16: not judged, a cell of the comparison has a failed run or "
        "no number: tftp-hpa (every run failed)"
    ]


def test_a_device_cell_with_some_runs_failed_is_not_judged_on_the_rest() -> None:
    # 2 of 3 device runs failed at upload 512; the one that ran was fast.
    bench = small_bench()
    for cell in bench.cells.values():
        cell.seconds = [1.0, 1.0, 1.0]
    device = bench.cells[("ipgwsim", "device", "upload", 512, 1)]
    device.seconds = [0.01]
    device.failures = ["upload failed: timed out", "upload failed: timed out"]
    for key, cell in bench.cells.items():
        if key[1] == "device" and cell is not device:
            cell.seconds = [0.01, 0.01, 0.01]
    goals = judge(Measured.of(bench, {}))
    for name in ("device lock-step >= the fastest", "device lock-step >= 1.5x tftpy"):
        found = goal(goals, name)
        assert not found.passed
        assert found.why == [
            "ipgwsim upload 512: not judged, a cell of the comparison has a failed run or "
            "no number: device (2 of 3 runs failed)"
        ]
    assert goal(goals, "device with a window").passed


def test_the_goal_line_names_the_servers_left_out_and_why() -> None:
    bench = small_bench()
    for cell in bench.cells.values():
        cell.seconds = [{"device": 0.01, "pytftp": 0.5}.get(cell.server, 1.0)]
    windowed = goal(judge(Measured.of(bench, {})), "device with a window")
    assert windowed.passed
    shown = dict(windowed.ratios)
    why = "not run: its windowed uploads took 0.3-7 MiB/s when tried apart from this benchmark"
    assert f"ipgwsim upload 8192/16 (vs pytftp; left out: py3tftp {why})" in shown
    # Downloads leave nobody out.
    assert "ipgwsim download 8192/16 (vs pytftp)" in shown


def test_every_client_is_judged_on_its_own_cells() -> None:
    numbers = speeds(15.0, {"pytftp": 14.0}, clients=("ipgwsim", "pytftp"))
    numbers[("pytftp", "tftpy", "download", 512, 1)] = 20.0  # only with the pytftp client
    fastest = goal(judge(Measured(numbers)), "device lock-step >= the fastest")
    assert not fastest.passed
    assert [label for label, r in fastest.ratios if r is not None and r < 1] == [
        "pytftp download 512 (vs tftpy)"
    ]


def test_cells_each_client_runs() -> None:
    cells = make_cells()
    hpa = {(c.direction, c.blksize, c.windowsize) for c in cells.values() if c.client == "tftp-hpa"}
    assert hpa == {("download", 512, 1), ("upload", 512, 1)}
    for client in ("ipgwsim", "pytftp"):
        mine = [c for c in cells.values() if c.client == client]
        assert len(mine) == 2 * 3 * 2 * len(SERVERS)
    assert {c.client for c in cells.values()} == set(CLIENTS)
    not_run = {c.key for c in cells.values() if c.not_run}
    windowed = [
        (client, direction, blksize, 16)
        for client in ("ipgwsim", "pytftp")
        for direction in ("download", "upload")
        for blksize in (512, 1468, 8192)
    ]
    assert not_run == {
        (client, server, direction, blksize, window)
        for client, direction, blksize, window in windowed
        for server in ("tftp-hpa", "tftpy", "partftpy", "py3tftp")
        if server != "py3tftp" or direction == "upload"
    }
    assert set(PURE_PYTHON) < set(SERVERS)


def small_bench() -> bench_tftp.Bench:
    device = bench_tftp.Device(Path("unused"), 0)
    peers = {"tftpy": bench_tftp.Peer("tftpy", Path("unused"), ("127.0.0.1", 0))}
    return bench_tftp.Bench(MIB, b"", (b"",), b"dump", device, peers, make_cells())


def test_a_windowless_servers_windowed_row_is_its_lockstep_transfer() -> None:
    bench = small_bench()
    bench.cells[("ipgwsim", "tftpy", "download", 8192, 1)].seconds = [0.5]
    bench.cells[("ipgwsim", "pytftp", "download", 8192, 16)].seconds = [0.25]
    measured = Measured.of(bench, {})
    assert measured.mibs[("ipgwsim", "tftpy", "download", 8192, 16)] == 2.0
    assert measured.mibs[("ipgwsim", "tftpy", "download", 8192, 1)] == 2.0
    assert measured.mibs[("ipgwsim", "pytftp", "download", 8192, 16)] == 4.0
    # py3tftp's windowed uploads are not run and stand for nothing.
    assert ("ipgwsim", "py3tftp", "upload", 8192, 16) not in measured.mibs


def test_a_windowless_server_that_grants_a_window_fails_its_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = small_bench()
    granted = TransferResult(b"dump", {"blksize": "512", "windowsize": "16"}, 512, 16, 1.0)
    monkeypatch.setattr(bench, "transfer", lambda cell, image: granted)
    cell = bench.cells[("ipgwsim", "tftpy", "download", 512, 1)]
    bench.run_once(cell)
    assert cell.seconds == []
    assert cell.failures == [
        "tftpy granted windowsize 16: it is not windowless, run its windowsize-16 cells "
        "(WINDOWLESS in bench_tftp.py)"
    ]
    plain = TransferResult(b"dump", {"blksize": "512"}, 512, 1, 1.0)
    monkeypatch.setattr(bench, "transfer", lambda cell, image: plain)
    bench.run_once(cell)
    assert cell.seconds == [1.0]


def test_the_devices_timers_are_a_real_devices_by_default() -> None:
    # Device time runs at real time unless asked: the device's first retransmission and
    # its giving up are then what a real device (and in.tftpd, 1 s) wait, in real seconds.
    speed = bench_tftp.parse_args([]).speed
    timers = TimerPolicy()
    assert timers.timeout / speed == 1.0
    assert timers.retry_span() / speed == 31.0
    assert bench_tftp.parse_args(["--speed", "10"]).speed == 10.0


def page_data(device: float) -> dict[str, object]:
    """What bench_tftp.py --json writes, for two settings of the ipgwsim client."""
    numbers = speeds(device, {"pytftp": 14.0, "tftp-hpa": 30.0})
    cells = [
        {
            "client": client,
            "server": server,
            "direction": direction,
            "blksize": blksize,
            "windowsize": window,
            "median_mibs": value,
            "granted": f"{blksize}/{window}",
            "failures": [],
            "drops": [0],
            "selected": True,
            "not_run": "",
        }
        for (client, server, direction, blksize, window), value in numbers.items()
    ]
    measured = Measured(numbers, {}, {512: 20e-6, 8192: 25e-6})
    goals = judge(measured)
    return {
        "size": 8 * MIB,
        "repeat": 3,
        "servers": list(SERVERS),
        "pure_python": list(PURE_PYTHON),
        "clients": ["ipgwsim"],
        "cells": cells,
        "goals": [
            {
                "name": g.name,
                "target": g.target,
                "strict": g.strict,
                "passed": g.passed,
                "ratios": g.ratios,
                "why": g.why,
            }
            for g in goals
        ],
        "round_trip_us": {"512": 20.0, "8192": 25.0},
        "lockstep": bench_tftp.lockstep_report(measured),
        "programming_waits": [0.1],
    }


def test_run_all_page_shows_pass_and_miss_with_why() -> None:
    passed = run_all.summarize_tftp(json.loads(json.dumps(page_data(200.0))), False)
    assert [g.verdict for g in passed.goals] == ["**PASS**"] * 3
    assert not any(line.startswith("Why") for line in passed.body)
    missed = run_all.summarize_tftp(json.loads(json.dumps(page_data(12.0))), False)
    assert [g.verdict for g in missed.goals] == ["**MISS**"] * 3
    text = "\n".join(missed.body)
    assert "Why *device lock-step >= the fastest pure-Python server* is missed" in text
    assert "- ipgwsim download 512: the device took 41 µs a block (12.0 MiB/s)" in text
    assert "lock-step ceiling 24.4 MiB/s" in text
    # The lock-step table: device / tftp-hpa's server and the share of the echo ceiling.
    assert "| ipgwsim | download | 512 | 0.40x | 0.49 | 1.23 |" in text
    assert "lock-step 0.86x to 0.86x the fastest pure-Python server" in missed.versus


@pytest.mark.integration
@pytest.mark.requires("tftp")
def test_a_small_run_moves_the_bytes_with_every_client(tmp_path: Path) -> None:
    out = tmp_path / "tftp.json"
    script = Path(bench_tftp.__file__)
    # At the default speed 1: at 100 the device's own retransmissions would give up
    # within a fraction of a real second, which a test run on a busy host (other test
    # runs beside it) can take from the client between two blocks.
    argv = [sys.executable, str(script), "--size", "64K", "--repeat", "1", "--blksizes", "512",
            "--servers", "device", "pytftp", "--json", str(out)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    data = json.loads(out.read_text())
    ran = [c for c in data["cells"] if c["selected"] and not c["not_run"]]
    assert {c["client"] for c in ran} == set(CLIENTS)
    assert {c["server"] for c in ran} == {"device", "pytftp"}
    for cell in ran:
        assert cell["failures"] == [], cell
        assert len(cell["seconds"]) == 1, cell
    tftp_hpa = [c for c in ran if c["client"] == "tftp-hpa"]
    assert {c["granted"] for c in tftp_hpa} == {"512/1"}
    assert all(c["options"] == {} for c in tftp_hpa)  # it asked for no option
    windowed = {
        c["server"]: c["granted"] for c in ran if c["client"] == "pytftp" and c["windowsize"] == 16
    }
    assert windowed == {"device": "512/16", "pytftp": "512/16"}
    assert data["goals"] == []  # only some cells ran: not judged
    assert "Goals: not judged, only some of the cells ran" in done.stdout

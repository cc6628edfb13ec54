"""bench_poll.py's judging of the polls: what counts as due, late, on time, and the goal."""

from __future__ import annotations

import sys
from pathlib import Path

# The benchmarks are scripts in benchmarks/, not a package (see test_bench_tftp.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_poll import GOAL_DEVICES, GOAL_INTERVAL_S, Report, Run, analyse, judge

WINDOW = (1000.0, 1120.0)  # two intervals of 60 s


def run_of(count: int = 3) -> Run:
    return Run(count, 1, 60.0, GOAL_INTERVAL_S, 60)


def test_every_poll_on_time_is_judged_on_time() -> None:
    run = run_of()
    records = [(t, serial, "") for serial in "abc" for t in (1000.5, 1060.6, 1120.4)]
    analyse(run, records, WINDOW, stopped=1121.0)
    # Due in the window: the 2nd (1060.5) and the 3rd (1120.6 > 1120: not due in it).
    assert (run.judged, run.on_time, run.unanswered) == (3, 3, 0)


def test_a_poll_due_in_the_window_that_comes_after_it_is_judged_as_it_came() -> None:
    run = run_of(1)
    records = [(1000.5, "a", ""), (1062.0, "a", ""), (1125.0, "a", "")]
    analyse(run, records, WINDOW, stopped=1126.0)
    # 1062.0 is 1.5 s late; 1125.0 fell due at 1122.0, after the window: not judged.
    assert (run.judged, run.late, run.on_time) == (1, 1, 0)
    records = [(1000.5, "a", ""), (1059.5, "a", ""), (1122.0, "a", "")]
    analyse(run, records, WINDOW, stopped=1124.0)
    # Due at 1119.5, in the window, came at 1122.0 after its end: 2.5 s late.
    assert (run.judged, run.late) == (2, 1)
    assert run.worst_late_s == 2.5


def test_a_due_poll_that_never_came_is_late() -> None:
    run = run_of(1)
    analyse(run, [(1000.5, "a", "")], WINDOW, stopped=1125.0)
    # Due at 1060.5: 64.5 s without it when the server stopped.
    assert (run.judged, run.late, run.unanswered) == (1, 1, 1)
    # Due less than the goal's second before the stop: nobody knows yet, not judged.
    analyse(run, [(1000.5, "a", ""), (1060.5, "a", "")], (1000.0, 1120.6), stopped=1121.0)
    assert (run.judged, run.on_time, run.unanswered) == (1, 1, 0)


def test_a_device_that_never_polled_misses_the_timing_goal() -> None:
    report = Report(speed=60.0, interval_s=GOAL_INTERVAL_S, intervals=2)
    run = Run(GOAL_DEVICES, 1, 60.0, GOAL_INTERVAL_S, 60)
    records = [(t, str(n), "") for n in range(GOAL_DEVICES - 1) for t in (1000.5, 1060.5)]
    analyse(run, records, WINDOW, stopped=1121.0)
    assert run.on_time == run.judged == GOAL_DEVICES - 1
    assert run.missing == 1
    run.hwm_kib = 1024
    report.runs.append(run)
    _, timing = judge(report)
    assert timing.passed is False
    assert "1 device(s) never polled at all" in timing.why
    run.missing = 0
    _, timing = judge(report)
    assert timing.passed is True

"""run_all's page of bench_poll.py: the speed-up from 1 worker to 2, side by side."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The benchmarks are scripts in benchmarks/, not a package (see test_bench_tftp.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import run_all


def measured(count: int, workers: int, start: float, share: float, cores: float) -> dict[str, Any]:
    return {
        "count": count,
        "workers": workers,
        "judged": 100,
        "problem": None,
        "start_s": start,
        "hwm_kib": 1024.0 * count / 10,
        "polls_per_s": count / 60,
        "ideal_polls_per_s": count / 60,
        "on_time_share": share,
        "worst_late_s": 0.5,
        "runtime_cores": cores,
        "server_cores": 0.1,
    }


def test_the_speed_up_of_two_workers_is_on_the_page() -> None:
    runs = [
        measured(1000, 1, 9.0, 0.9, 0.05),
        measured(10000, 1, 80.0, 0.6, 0.3),
        measured(10000, 2, 50.0, 0.95, 0.35),
    ]
    data = {"runs": runs, "interval_s": 60, "speed": 60, "intervals": 3, "goals": []}
    page = "\n".join(run_all.summarize_poll(data, quick=False).body)
    assert (
        "**Speed-up, 10,000 devices, 1 worker vs more:** 2 workers: start 80.0 s -> 50.0 s "
        "(speed-up 1.60x), polls within 1 s 60.0 % -> 95.0 %, runtime CPU 0.30 -> 0.35 cores."
    ) in page


def test_no_speed_up_without_a_run_of_more_workers() -> None:
    skipped = measured(10000, 2, 0.0, 0.0, 0.0)
    skipped.update(judged=0, problem="skipped: this runtime refuses --workers 2")
    runs = [measured(10000, 1, 80.0, 0.6, 0.3), skipped]
    assert run_all.poll_speedup(runs) is None
    data = {"runs": runs, "interval_s": 60, "speed": 60, "intervals": 3, "goals": []}
    assert "Speed-up" not in "\n".join(run_all.summarize_poll(data, quick=False).body)

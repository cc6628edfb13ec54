"""What the benchmarks say about the machine they ran on (imported by each of them)."""

from __future__ import annotations

import contextlib
from pathlib import Path


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews the numbers)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or ``unknown``."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"

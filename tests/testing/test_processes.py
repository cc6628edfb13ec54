"""The helpers that run ipgwsim's commands as processes in tests."""

from __future__ import annotations

import sys
from pathlib import Path

from ipgwsim.testing.loopback import run
from ipgwsim.testing.processes import read_line, running

#: A program that says when its SIGTERM handler is in place; the handler leaves a mark
#: (as a runtime saves its flash and removes its namespaces) and ends the program.
CHILD = """
import signal, sys
from pathlib import Path

def stop(signum, frame):
    Path(sys.argv[1]).write_text("stopped by SIGTERM")
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
signal.pause()
"""


def test_a_process_left_running_is_stopped_with_sigterm_so_it_cleans_up(tmp_path: Path) -> None:
    mark = tmp_path / "mark"

    async def main() -> int | None:
        async with running(sys.executable, "-c", CHILD, str(mark)) as proc:
            assert await read_line(proc.stdout) == "ready"
        return proc.returncode

    assert run(main(), timeout=60) == 0
    assert mark.read_text() == "stopped by SIGTERM"

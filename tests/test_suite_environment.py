"""The suite's own environment: gwload's settings exported in the developer's shell
reach no test (the autouse fixture of tests/conftest.py), and so no program a test
starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Wrong for any test: a port nothing listens on, a broadcast no device hears, a state
#: directory where no runtime runs.
EXPORTED = {
    "IPGWSIM_GWLOAD_PORT": "1",
    "IPGWSIM_GWLOAD_BCAST": "127.0.0.1",
    "IPGWSIM_STATE": "/nonexistent/ipgwsim-state",
}


def test_no_gwload_setting_reaches_a_test() -> None:
    assert [name for name in EXPORTED if name in os.environ] == []


def test_not_even_when_the_shell_exported_them(tmp_path: Path) -> None:
    """The test above, in a pytest run started with the settings exported."""
    here = Path(__file__)
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--basetemp", str(tmp_path / "inner"),
            f"{here}::test_no_gwload_setting_reaches_a_test",
        ],
        cwd=here.parent.parent,
        env={**os.environ, **EXPORTED},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout

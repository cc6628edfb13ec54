"""ipgwsim's programs are found where ipgwsim is installed, whatever PATH says."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ipgwsim.testing.programs import PROGRAMS, program_argv

ROOT = Path(__file__).resolve().parents[2]


def test_every_installed_script_is_known() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = config["project"]["scripts"]
    assert {name: entry.split(":")[0] for name, entry in scripts.items()} == PROGRAMS


def test_the_script_next_to_the_interpreter_is_taken() -> None:
    argv = program_argv(["gwload", "/help"])
    assert argv == [str(Path(sys.executable).parent / "gwload"), "/help"]


def test_without_a_script_the_module_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = tmp_path / "bin" / "python3"  # an interpreter whose bin has no gwload
    python.parent.mkdir()
    python.symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(python))
    argv = program_argv(["gwload", "/version"])
    assert argv == [str(python), "-m", "ipgwsim.tools.gwload_cmd", "/version"]
    # ipgwsim as a checkout on PYTHONPATH, its dependencies from this venv
    path = [str(ROOT / "src"), *(p for p in sys.path if p.endswith("site-packages"))]
    env = {"PATH": os.defpath, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gwload (ipgwsim ")


@pytest.mark.parametrize("argv", [["tftp", "-c", "get", "x"], ["./gwload"], []])
def test_other_programs_are_left_to_path(argv: list[str]) -> None:
    assert program_argv(argv) == argv

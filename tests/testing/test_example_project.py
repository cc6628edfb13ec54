"""The example project of docs/example-project runs as a user runs it: copied to a
folder of its own, its tests run by the README's last step, ``.venv/bin/pytest`` (the
venv's pytest script, by its path) in a new process, with ipgwsim found as an installed
package (the plugin by its entry point) and the venv's bin not on PATH, as in a shell
that did not activate the venv: gwload is found where ipgwsim is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ipgwsim.testing.needs import unavailable
from ipgwsim.testing.netns import root

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).parents[2] / "docs" / "example-project"


@pytest.mark.requires("tftp")
def test_the_example_project_passes(tmp_path: Path, installed_scripts_off_path: str) -> None:
    project = tmp_path / "gwtools"
    shutil.copytree(PROJECT, project)
    env = dict(os.environ)
    assert env["PATH"] == installed_scripts_off_path
    env["PYTHONPATH"] = str(project)  # instead of `pip install -e .`
    report = tmp_path / "report.xml"
    pytest_script = Path(sys.executable).parent / "pytest"  # the README's .venv/bin/pytest
    done = subprocess.run(
        [str(pytest_script), "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts == {
        "tests": 7,
        "failures": 0,
        "errors": 0,
        "skipped": 0 if root() else 1,  # the namespace test needs root
    }
    if not root():
        unavailable("the example project's namespace test needs root and /dev/net/tun")

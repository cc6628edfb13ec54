"""The labgrid example of docs/labgrid-example runs as a lab runs it: ``ipgwsim run``
serves a simulated IP6000 (its console on TCP, RFC 2217), and labgrid's pytest plugin
(``--lg-env``) drives it through the example's environment file and drivers, in a
virtual environment of its own.

labgrid brings pyserial-labgrid, its own pyserial that is imported as ``serial`` too: it
cannot share ipgwsim's environment. ``scripts/setup-labgrid`` (which ``scripts/test`` runs
after ``scripts/setup``) makes ``.venv-labgrid`` beside ``.venv`` at set-up time: labgrid
from the example's requirements.txt, ipgwsim (editable, without its pyserial) and ipgwsim's
other dependencies. The test only checks that it is there and current (``--check``): when
not, it is skipped, and fails in CI, with the one line that names the command. The example
runs there as a process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ipgwsim.testing.loopback import Ports, free_loopback_ip
from ipgwsim.testing.loopback import run as run_async
from ipgwsim.testing.needs import unavailable
from ipgwsim.testing.processes import IPGWSIM, read_until, running, stop

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "docs" / "labgrid-example"
VENV = REPO / ".venv-labgrid"
SETUP = REPO / "scripts" / "setup-labgrid"
#: The RFC 2217 port of the example's environment file (ipgwsim run --console-port 5100).
EXAMPLE_CONSOLE = "port: 5101"


@pytest.fixture(scope="module")
def labgrid_python() -> Path:
    """The Python of ``.venv-labgrid``, which must be there and current (made at set-up
    time, never by the test: a test run needs no package index)."""
    done = subprocess.run(
        [str(SETUP), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        unavailable(done.stderr.strip() or f"{SETUP.name} --check: exit status {done.returncode}")
    return VENV / "bin" / "python"


def _checkout_copy(tmp_path: Path) -> Path:
    """What ``scripts/setup-labgrid`` reads of a checkout, copied into ``tmp_path``."""
    for part in (
        "scripts/setup-labgrid",
        "pyproject.toml",
        "docs/labgrid-example/requirements.txt",
    ):
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / part, tmp_path / part)
    return tmp_path / "scripts" / "setup-labgrid"


def test_check_names_the_command_when_the_environment_is_missing_or_stale(
    tmp_path: Path,
) -> None:
    setup = _checkout_copy(tmp_path)
    line = ".venv-labgrid is missing or out of date: run scripts/setup-labgrid\n"
    missing = subprocess.run([setup, "--check"], capture_output=True, text=True, check=False)
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", line)
    # There, but made from something else (an older pyproject.toml, script or Python).
    (tmp_path / ".venv-labgrid" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-labgrid" / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / ".venv-labgrid" / "made-from.txt").write_text("0000 3.0.0\n")
    stale = subprocess.run([setup, "--check"], capture_output=True, text=True, check=False)
    assert (stale.returncode, stale.stderr) == (1, line)
    wrong = subprocess.run([setup, "--chek"], capture_output=True, text=True, check=False)
    assert (wrong.returncode, wrong.stderr) == (
        2,
        "scripts/setup-labgrid: unknown argument '--chek' (only --check)\n",
    )


def _copy_example(tmp_path: Path, console_port: int) -> Path:
    """The example in a folder of its own, its environment file's RFC 2217 port this
    run's (labgrid takes the port as a number, which a ``!template`` cannot give)."""
    project = tmp_path / "labgrid-example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    env_file = project / "ip6000.yaml"
    text = env_file.read_text()
    assert text.count(EXAMPLE_CONSOLE) == 1, f"{env_file.name} has no {EXAMPLE_CONSOLE!r}"
    env_file.write_text(text.replace(EXAMPLE_CONSOLE, f"port: {console_port}"))
    return project


@pytest.mark.requires("tftp")
@pytest.mark.timeout(960)  # lab() has 900 s
def test_labgrid_drives_the_tftp_recovery(
    tmp_path: Path, ports: Ports, labgrid_python: Path
) -> None:
    udp, http, console = ports.udp(), ports.tcp(), ports.tcp(2)
    state = tmp_path / "state"
    project = _copy_example(tmp_path, console + 1)
    report = tmp_path / "report.xml"
    env = {
        **os.environ,
        "PYTHONPATH": str(project),
        "LG_IPGWSIM_STATE": str(state),
        "LG_GATEWAY_IP": free_loopback_ip(udp),
        "LG_GWLOAD_PORT": str(udp),
        "LG_GWLOAD_BCAST": "127.255.255.255",
    }
    for name in ("IPGWSIM_GWLOAD_PORT", "IPGWSIM_GWLOAD_BCAST", "IPGWSIM_STATE", "LG_ENV"):
        env.pop(name, None)
    argv = [str(labgrid_python), "-m", "pytest", "-p", "no:cacheprovider"]
    argv += ["--lg-env", "ip6000.yaml", f"--junitxml={report}"]

    async def lab() -> subprocess.CompletedProcess[str]:
        run_argv = ["run", "IP6000", "--state", str(state), "--port", str(udp)]
        run_argv += ["--http-port", str(http), "--console-port", str(console), "--speed", "10"]
        async with running(*IPGWSIM, *run_argv) as runtime:
            line = await read_until(runtime.stdout, "ip6000-1  console on TCP:")
            assert f"rfc2217://127.0.0.1:{console + 1}" in line, line
            done = await _in_thread(argv, project, env)
            await stop(runtime)
        return done

    done = run_async(lab(), timeout=900)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": 4, "failures": 0, "errors": 0, "skipped": 0}


async def _in_thread(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )

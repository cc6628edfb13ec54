"""The labgrid example of docs/labgrid-example runs as a lab runs it: ``ipgwsim run``
serves a simulated IP6000 (its console on TCP, RFC 2217), and labgrid's pytest plugin
(``--lg-env``) drives it through the example's environment file and drivers, in a
virtual environment of its own.

labgrid brings pyserial-labgrid, its own pyserial that is imported as ``serial`` too: it
cannot share ipgwsim's environment. So the test keeps ``.venv-labgrid`` beside ``.venv``
(made once, again only when what it is made from changes; runs at the same time take
turns on a lock): labgrid from the example's requirements.txt, ipgwsim (editable, without
its pyserial) and ipgwsim's other dependencies. The example runs there as a process.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipgwsim.testing.loopback import Ports, free_loopback_ip
from ipgwsim.testing.loopback import run as run_async
from ipgwsim.testing.processes import IPGWSIM, read_until, running, stop

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "docs" / "labgrid-example"
VENV = REPO / ".venv-labgrid"
#: The RFC 2217 port of the example's environment file (ipgwsim run --console-port 5100).
EXAMPLE_CONSOLE = "port: 5101"


def _pip(venv: Path, *args: str) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"pip install {' '.join(args)}: {done.stderr[-3000:]}"


def _made_from() -> str:
    """What the environment is made from: labgrid's requirements, ipgwsim's dependencies,
    this file (the recipe) and the Python version."""
    digest = hashlib.sha256()
    for path in (EXAMPLE / "requirements.txt", REPO / "pyproject.toml", Path(__file__)):
        digest.update(path.read_bytes())
    return f"{digest.hexdigest()} {sys.version.splitlines()[0]}"


def _ipgwsim_dependencies_but_pyserial() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [d for d in project["dependencies"] if not re.match(r"pyserial\b", d)]
    assert len(wanted) == len(project["dependencies"]) - 1, "pyserial is not a dependency"
    return wanted


@pytest.fixture(scope="module")
def labgrid_python() -> Iterator[Path]:
    """The Python of ``.venv-labgrid``, made or brought up to date under a lock."""
    with open(REPO / "pyproject.toml", "rb") as lock:  # always there; read is enough
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = VENV / "made-from.txt"
        wanted = _made_from()
        if not (stamp.exists() and stamp.read_text() == wanted):
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
            _pip(VENV, "-r", str(EXAMPLE / "requirements.txt"))
            _pip(VENV, "--no-deps", "-e", str(REPO))
            _pip(VENV, *_ipgwsim_dependencies_but_pyserial())
            stamp.write_text(wanted)
        yield VENV / "bin" / "python"


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
@pytest.mark.timeout(1200)  # the first run makes .venv-labgrid
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

"""The event loop a runtime runs on (``ipgwsim.runtime.loops``): ``--loop`` and
``$IPGWSIM_LOOP``, asyncio's loop by default, uvloop when asked where it is installed.

The runtime's own tests on uvloop are in ``tests/runtime/test_fast_path.py`` (a transfer
through a whole runtime on each loop)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from ipgwsim.runtime import loops
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.loops import LOOP_VARIABLE, choose_loop, run_on, uvloop_installed
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.needs import unavailable
from ipgwsim.testing.processes import IPGWSIM, read_line, running


def test_asyncio_by_default_auto_takes_uvloop_where_it_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(LOOP_VARIABLE, raising=False)
    monkeypatch.setattr(loops, "uvloop_installed", lambda: True)
    assert choose_loop(None) == "asyncio"
    assert choose_loop("auto") == "uvloop"
    assert choose_loop("uvloop") == "uvloop"
    monkeypatch.setattr(loops, "uvloop_installed", lambda: False)
    assert choose_loop(None) == "asyncio"
    assert choose_loop("auto") == "asyncio"
    with pytest.raises(RuntimeSetupError) as caught:
        choose_loop("uvloop")
    assert str(caught.value) == (
        "--loop uvloop: uvloop is not installed: pip install 'ipgwsim[fast]'"
    )


def test_the_variable_chooses_when_the_option_is_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loops, "uvloop_installed", lambda: True)
    monkeypatch.setenv(LOOP_VARIABLE, "auto")
    assert choose_loop(None) == "uvloop"
    assert choose_loop("asyncio") == "asyncio"  # the option wins
    monkeypatch.setenv(LOOP_VARIABLE, "tokio")
    with pytest.raises(RuntimeSetupError) as caught:
        choose_loop(None)
    assert str(caught.value) == (
        "IPGWSIM_LOOP: unknown event loop 'tokio'; choose one of auto, asyncio, uvloop"
    )
    monkeypatch.setattr(loops, "uvloop_installed", lambda: False)
    monkeypatch.setenv(LOOP_VARIABLE, "uvloop")
    with pytest.raises(RuntimeSetupError) as caught:
        choose_loop(None)
    assert str(caught.value) == (
        "IPGWSIM_LOOP uvloop: uvloop is not installed: pip install 'ipgwsim[fast]'"
    )


@pytest.mark.parametrize("name", ["asyncio", "uvloop"])
def test_run_on_runs_a_coroutine_on_the_loop_it_names(name: str) -> None:
    if name == "uvloop" and not uvloop_installed():
        unavailable("uvloop is not installed (pip install 'ipgwsim[fast]')")

    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    module = run_on(name, which())
    assert module.startswith("uvloop" if name == "uvloop" else "asyncio")


@pytest.mark.integration
@pytest.mark.parametrize("name", ["asyncio", "uvloop"])
def test_ipgwsim_run_says_its_loop_and_serves_gwload_on_it(
    tmp_path: Path, ports: Ports, name: str
) -> None:
    if name == "uvloop" and not uvloop_installed():
        unavailable("uvloop is not installed (pip install 'ipgwsim[fast]')")
    port = ports.udp()
    argv = [
        "run", "IP6000", "--empty-firmware", "--loop", name, "--state", str(tmp_path / "state"),
        "--port", str(port), "--http-port", str(ports.tcp()), "--no-console-tcp",
        "--log-level", "debug",
    ]  # fmt: skip

    async def main() -> None:
        async with running(*IPGWSIM, *argv) as runner:
            assert await read_line(runner.stderr) == f"ipgwsim run: event loop: {name}"
            await read_line(runner.stdout)  # the summary: the devices are added
            scan = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ipgwsim.tools.gwload_cmd", "/scan", "/port", str(port),
                "/bcast", "127.255.255.255", "/tries", "5", "/timeout", "0.5",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            scanned, _ = await asyncio.wait_for(scan.communicate(), 30)
            assert scan.returncode == 0, scanned
            assert b"1 device(s) in TFTP mode" in scanned

    run(main(), timeout=120)

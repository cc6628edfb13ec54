"""gwload for scripts and loopback, as processes against ``ipgwsim run`` as a process.

Where it looked when nothing answered (and the hint at the loopback runtimes of this
host), the port and broadcast from the environment and from a runtime's state
directory, and ``/json``: one JSON document on stdout per run, whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run
from ipgwsim.testing.netns import add_address, add_bridge, lab_namespace, netlink
from ipgwsim.testing.processes import GWLOAD, IPGWSIM, finished, read_line, running
from ipgwsim.testing.simulator import Simulator
from ipgwsim.tools.gwload_cmd import (
    EXIT_NO_DEVICE,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TRANSFER,
    EXIT_USAGE,
    main,
)
from ipgwsim.tools.gwload_where import resolve

pytestmark = pytest.mark.integration

LOOPBACK = "127.255.255.255"
FAST = ("/tries", "2", "/timeout", "0.2")


class Lab:
    """An ``ipgwsim run IP6000`` process on a state directory and port of the test's."""

    def __init__(self, state: Path, port: int) -> None:
        self.state = state
        self.port = port
        self.ip = free_loopback_ip(port)

    async def ipgwsim(self, *args: str) -> str:
        rc, out, err = await finished(*IPGWSIM, *args, "--state", str(self.state))
        assert rc == 0, err
        return out

    async def tftp_mode(self) -> None:
        await self.ipgwsim("press", "ip6000-1", "--hold", "1.8")


async def gwload(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """A gwload process: its exit status, stdout and stderr."""
    return await finished(*GWLOAD, *args, env=env)


async def gwload_json(*args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A gwload process with /json: its one document (nothing else on stdout), checked
    against its exit status."""
    rc, out, _ = await gwload(*args, "/json", env=env)
    doc = json.loads(out)  # the whole of stdout is one JSON document
    assert isinstance(doc, dict)
    assert doc["status"] == rc
    assert doc["ok"] is (rc == 0)
    return doc


@asynccontextmanager
async def running_lab(tmp_path: Path, ports: Ports) -> AsyncIterator[Lab]:
    lab = Lab(tmp_path / "state", ports.udp())
    async with running(
        *IPGWSIM, "run", "IP6000", "--state", str(lab.state), "--port", str(lab.port),
        "--http-port", str(ports.tcp()), "--speed", "1000", "--no-console-tcp",
    ) as runner:  # fmt: skip
        summary = await read_line(runner.stdout, timeout=30)
        assert summary.startswith("ipgwsim: 1 x IP6000 on loopback"), summary
        yield lab


# -- where gwload looked ------------------------------------------------------------------


@pytest.mark.usefixtures("private_registry")
def test_a_scan_that_misses_the_loopback_runtime_says_where_it_is(
    tmp_path: Path, ports: Ports
) -> None:
    wrong = ports.udp()  # a port no runtime listens on

    async def main_() -> None:
        async with running_lab(tmp_path, ports) as lab:
            # No device in TFTP mode yet, but gwload reached the runtime: no hint.
            rc, out, _ = await gwload("/scan", "/port", str(lab.port), "/bcast", LOOPBACK, *FAST)
            assert rc == EXIT_NO_DEVICE
            where = f"{LOOPBACK}:{lab.port}"
            assert out == f"gwload: no device in TFTP mode answered a broadcast to {where}\n"

            await lab.tftp_mode()
            rc, out, _ = await gwload("/scan", "/port", str(wrong), "/bcast", LOOPBACK, *FAST)
            assert rc == EXIT_NO_DEVICE
            said, hint = out.splitlines()
            assert said == f"gwload: no device in TFTP mode answered a broadcast to " \
                           f"{LOOPBACK}:{wrong}"  # fmt: skip
            assert hint == (
                f"gwload: hint: a broadcast to {LOOPBACK}:{wrong} reaches no ipgwsim runtime "
                f"on loopback; those running on this host hear {LOOPBACK} (port {lab.port}, "
                f"state directory {lab.state}): try /bcast {LOOPBACK} /port {lab.port} "
                f"(or /state {lab.state})"
            )

            # The hint's way works, and so does its other one.
            for way in (["/bcast", LOOPBACK, "/port", str(lab.port)], ["/state", str(lab.state)]):
                rc, out, err = await gwload("/scan", *way)
                assert rc == EXIT_OK, out + err
                assert "gwload: 1 device(s) in TFTP mode" in out

            # A setip that discovers nothing hints the same way.
            rc, out, _ = await gwload("/i", lab.ip, "/setip", "/port", str(wrong), *FAST)
            assert rc == EXIT_NO_DEVICE
            assert out.splitlines()[-1].startswith("gwload: hint: a broadcast to ")

    run(main_(), timeout=240)


def test_no_hint_without_a_runtime_on_loopback(
    tmp_path: Path, ports: Ports, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IPGWSIM_REGISTRY", str(tmp_path / "empty-registry"))
    rc, out, _ = run(gwload("/scan", "/port", str(ports.udp()), "/bcast", LOOPBACK, *FAST))
    assert rc == EXIT_NO_DEVICE
    assert "hint" not in out
    assert not (tmp_path / "empty-registry").exists()  # a client makes no registry


@pytest.mark.usefixtures("private_registry")
def test_the_hint_names_a_simulator_without_a_state_option(ports: Ports) -> None:
    """A Simulator (and the demo) has no control socket: /state could not ask it."""
    wrong = str(ports.udp())
    with Simulator() as sim:
        sim.add("IP6000").press(1.8)
        rc, out, _ = run(gwload("/scan", "/port", wrong, "/bcast", LOOPBACK, *FAST))
        assert rc == EXIT_NO_DEVICE
        hint = out.splitlines()[-1]
        assert hint.endswith(f"try /bcast {LOOPBACK} /port {sim.port}"), hint
        rc, out, _ = run(gwload("/scan", "/port", str(sim.port), "/bcast", LOOPBACK))
        assert rc == EXIT_OK, out


@pytest.mark.requires("netns")
@pytest.mark.usefixtures("private_registry")
def test_the_vendor_broadcast_on_a_host_with_a_loopback_runtime(
    tmp_path: Path, ports: Ports
) -> None:
    """The usual slip: ``gwload /scan`` with the vendor's broadcast, 255.255.255.255, while
    the devices run on loopback. In a namespace of the test's own (a bridge with the
    default route: the broadcast goes nowhere), runtime and gwload both."""
    with lab_namespace() as ns:
        add_bridge(ns, "lab0")
        add_address(ns, "lab0", "10.77.0.1/24")

        def default_route() -> None:
            with IPRoute(netns=ns) as ipr:
                ipr.route("add", dst="0.0.0.0/0", gateway="10.77.0.254")

        netlink(default_route)
        inside = ["ip", "netns", "exec", ns]
        state, port = tmp_path / "state", ports.udp()

        async def main_() -> None:
            async with running(
                *inside, *IPGWSIM, "run", "IP6000", "--state", str(state), "--port", str(port),
                "--http-port", str(ports.tcp()), "--speed", "1000", "--no-console-tcp",
            ) as runner:  # fmt: skip
                await read_line(runner.stdout, timeout=30)
                rc, out, err = await finished(*inside, *GWLOAD, "/scan", "/port", str(port), *FAST)
                assert rc == EXIT_NO_DEVICE, out + err
                said, hint = out.splitlines()
                assert said.endswith(f"answered a broadcast to 255.255.255.255:{port}")
                assert hint.endswith(f"try /bcast {LOOPBACK} /port {port} (or /state {state})")

        run(main_(), timeout=120)


# -- port and broadcast without typing them ---------------------------------------------------


@pytest.mark.usefixtures("private_registry")
def test_port_and_broadcast_from_the_environment_and_the_state_directory(
    tmp_path: Path, ports: Ports
) -> None:
    wrong = str(ports.udp())

    async def main_() -> None:
        async with running_lab(tmp_path, ports) as lab:
            await lab.tftp_mode()
            port, state = str(lab.port), str(lab.state)
            env_both = {"IPGWSIM_GWLOAD_PORT": port, "IPGWSIM_GWLOAD_BCAST": LOOPBACK}
            found = [
                ((), env_both),
                (("/state", state), {}),
                ((), {"IPGWSIM_STATE": state}),
                # the command line before the environment before the state directory
                (("/port", port), {"IPGWSIM_GWLOAD_PORT": wrong, "IPGWSIM_STATE": state}),
                (("/state", state), {"IPGWSIM_STATE": str(tmp_path / "elsewhere")}),
            ]
            for args, env in found:
                rc, out, err = await gwload("/scan", *args, "/v", env=env)
                assert rc == EXIT_OK, (args, env, out, err)
                assert "gwload: 1 device(s) in TFTP mode" in out
            # /v says where each came from (on stderr)
            _, _, err = await gwload("/scan", "/v", env={"IPGWSIM_STATE": state})
            origin = f"the runtime of state directory {state}"
            assert f"port {port} ({origin}), broadcast {LOOPBACK} ({origin})" in err

            # the environment before the state directory: its port is used, and missed
            rc, out, _ = await gwload("/scan", *FAST, env={"IPGWSIM_GWLOAD_PORT": wrong,
                                                           "IPGWSIM_STATE": state})  # fmt: skip
            assert rc == EXIT_NO_DEVICE
            assert f"answered a broadcast to {LOOPBACK}:{wrong}" in out

            # the whole recovery's first step with nothing but the state directory
            rc, out, err = await gwload("/i", lab.ip, "/setip", env={"IPGWSIM_STATE": state})
            assert rc == EXIT_OK, out + err
            assert f"has {lab.ip}" in out

        # The runtime has stopped: /state names no running runtime, an error...
        rc, out, err = await gwload("/scan", "/state", str(lab.state))
        assert (rc, out) == (EXIT_USAGE, "")
        assert err.startswith(
            f"gwload: /state: no ipgwsim runtime is running with state directory {lab.state} "
        )
        assert len(err.splitlines()) == 1
        # ... and $IPGWSIM_STATE is passed over for the defaults (gwload on them:
        # test_a_state_directory_exported_without_a_runtime_is_passed_over)
        where = resolve(None, None, None, {"IPGWSIM_STATE": str(lab.state)})
        assert (where.port, where.bcast) == (69, "255.255.255.255")
        assert (where.port_from, where.bcast_from) == ("default", "default")
        assert where.passed_over is not None
        assert where.passed_over.startswith(
            f"IPGWSIM_STATE: no ipgwsim runtime is running with state directory {lab.state} "
        )
        # Not asked when the command line says everything.
        rc, _, err = await gwload("/scan", "/port", wrong, "/bcast", LOOPBACK, *FAST,
                                  env={"IPGWSIM_STATE": str(lab.state)})  # fmt: skip
        assert rc == EXIT_NO_DEVICE, err

    run(main_(), timeout=240)


@pytest.mark.requires("netns")
def test_a_state_directory_exported_without_a_runtime_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shell still exports ``IPGWSIM_STATE`` (its runtime has stopped) while its user
    aims gwload at a device on the vendor's port and broadcast: devices in namespaces,
    gwload in their lab's namespace as on a PC on their segment."""
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    monkeypatch.setenv("IPGWSIM_STATE", str(stopped))  # gwload inherits it
    with Simulator(tmp_path / "state", network="netns") as sim:
        gw = sim.add("IP6000")
        gw.press(1.8)
        assert sim.lab is not None
        command = ["/gwtype", "6000", "/i", "192.168.0.5", "/setip", "/port", "69", "/v"]
        rc, out, err = run(finished("ip", "netns", "exec", sim.lab, *GWLOAD, *command))
        assert rc == EXIT_OK, out + err
        assert gw.address == "192.168.0.5"
        lines = err.splitlines()
        assert "  port 69 (/port), broadcast 255.255.255.255 (default)" in lines
        passed = f"  IPGWSIM_STATE: no ipgwsim runtime is running with state directory {stopped} "
        assert any(line.startswith(passed) and line.endswith("; not used") for line in lines)
    assert sim.leftovers() == []


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"IPGWSIM_GWLOAD_PORT": "sixty"}, "IPGWSIM_GWLOAD_PORT: 'sixty' is not a port number"),
        ({"IPGWSIM_GWLOAD_PORT": "70000"}, "IPGWSIM_GWLOAD_PORT: '70000' is not between 1 and"),
        ({"IPGWSIM_GWLOAD_BCAST": "127.1"}, "IPGWSIM_GWLOAD_BCAST: '127.1' is not an IPv4"),
    ],
)
def test_bad_values_in_the_environment_are_refused(
    env: dict[str, str],
    said: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["/scan"]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"gwload: {said}")
    assert len(err.splitlines()) == 1


# -- /json ------------------------------------------------------------------------------------


def test_an_interrupted_run_names_the_step_at_work(tmp_path: Path, ports: Ports) -> None:
    """Ctrl-C while gwload asks a device that does not answer (a port of the test's own
    that no device listens on): exit 130, and the document names the step."""
    port = ports.udp()
    config = tmp_path / "config.txt"
    argv = ["/i", free_loopback_ip(port), "/getcfg", str(config), "/port", str(port),
            "/tries", "1000", "/timeout", "1", "/v", "/json"]  # fmt: skip

    async def main_() -> tuple[int | None, bytes]:
        proc = await asyncio.create_subprocess_exec(
            *GWLOAD, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stderr is not None
        while not (await proc.stderr.readline()).startswith(b"  -> "):  # its first request
            assert not proc.stderr.at_eof(), "gwload ended before it asked"
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode, out

    rc, out = run(main_(), timeout=120)
    doc = json.loads(out)
    assert rc == doc["status"] == 130
    assert doc["ok"] is False
    assert doc["error"] == {"step": "getcfg", "message": "interrupted", "hint": None}
    assert not config.exists()


def _keys(doc: dict[str, Any]) -> set[str]:
    return set(doc)


COMMON = {"command", "ok", "status", "port", "broadcast", "notes", "capture", "error"}
DEVICE = {"mac", "model", "gwtype", "boot_build", "firmware_build", "ip"}


@pytest.mark.usefixtures("private_registry")
def test_json_documents_of_real_runs(tmp_path: Path, ports: Ports) -> None:
    """Each shape of docs/gwload.md, *JSON output*, from a real run."""
    wrong = str(ports.udp())

    async def main_() -> None:
        async with running_lab(tmp_path, ports) as lab:
            device = await json_scans(lab, wrong)
            await json_setip_getcfg_refused(lab, tmp_path, device)
            await json_uploads_and_a_timeout(lab, tmp_path, device)
        # a usage error: exit 1, the same text as on stderr without /json
        rc, _, err = await gwload("/scan", "/i", lab.ip, "/setip")
        doc = await gwload_json("/scan", "/i", lab.ip, "/setip")
        assert rc == doc["status"] == EXIT_USAGE
        assert doc == {
            "command": "scan",
            "ok": False,
            "status": EXIT_USAGE,
            "error": {"step": None, "message": err.strip().removeprefix("gwload: "), "hint": None},
        }

    run(main_(), timeout=240)


async def json_scans(lab: Lab, wrong: str) -> dict[str, Any]:
    state = ("/state", str(lab.state))
    # scan, nothing in TFTP mode: an error with the place it looked
    doc = await gwload_json("/scan", *state, *FAST)
    assert _keys(doc) == COMMON | {"devices"}
    assert (doc["command"], doc["status"], doc["devices"]) == ("scan", EXIT_NO_DEVICE, [])
    assert (doc["port"], doc["broadcast"]) == (lab.port, LOOPBACK)
    where = f"{LOOPBACK}:{lab.port}"
    assert doc["error"] == {
        "step": "scan",
        "message": f"no device in TFTP mode answered a broadcast to {where}",
        "hint": None,
    }
    # ... and where it missed the runtime, with the hint
    doc = await gwload_json("/scan", "/port", wrong, "/bcast", LOOPBACK, *FAST)
    assert doc["error"]["hint"].endswith(f"/port {lab.port} (or /state {lab.state})")

    await lab.tftp_mode()
    doc = await gwload_json("/scan", *state)
    assert doc["status"] == EXIT_OK
    assert doc["error"] is None
    (device,) = doc["devices"]
    assert device == {
        "mac": "00:90:33:10:00:01",
        "model": "IP6000",
        "gwtype": 6000,
        "boot_build": 145,
        "firmware_build": "08-6000.08",
        "ip": None,
    }
    return dict(device)


async def json_setip_getcfg_refused(lab: Lab, tmp_path: Path, device: dict[str, Any]) -> None:
    state = ("/state", str(lab.state))
    # setip and getcfg, with a capture
    config, pcap = tmp_path / "config.txt", tmp_path / "gwload.pcapng"
    doc = await gwload_json(
        "/gwtype", "6000", "/i", lab.ip, "/setip", "/getcfg", str(config),
        "/pcap", str(pcap), *state,
    )  # fmt: skip
    assert _keys(doc) == COMMON | {"steps", "done"}
    assert (doc["command"], doc["capture"]) == ("load", str(pcap))
    setip, getcfg = doc["steps"]
    assert setip == {"step": "setip", **device, "ip": lab.ip}
    assert getcfg == {
        "step": "getcfg",
        "name": "config",
        "file": str(config),
        "dump": f"{config}.dump",
        "bytes": len(Path(f"{config}.dump").read_bytes()),
        "generations": 1,
        "newest_line": 1,
        "torn": None,
    }
    assert doc["done"] == [f"address {lab.ip}", f"config read to {config}"]

    # refused (NAK): exit 4, the device's reason as the line for people has it
    rc, human, _ = await gwload("/i", "10.1.2.3", "/setip", *state)
    doc = await gwload_json("/i", "10.1.2.3", "/setip", *state)
    assert rc == doc["status"] == EXIT_REFUSED
    assert doc["error"]["step"] == "setip"
    assert human.splitlines()[-1] == f"gwload: failed: {doc['error']['message']}"
    assert "is not on the loopback network" in doc["error"]["message"]

    # GO; the lines for people go to stderr, stdout has the document only
    rc, out, err = await gwload("/i", lab.ip, "/go", "/json", *state)
    assert rc == EXIT_OK, err
    doc = json.loads(out)
    assert doc["steps"] == [{"step": "go", "mac": device["mac"]}]
    assert doc["done"] == ["firmware started"]
    assert err.splitlines() == [
        "gwload: go: the device starts its firmware",
        "gwload: done: firmware started",
    ]
    await lab.tftp_mode()


async def json_uploads_and_a_timeout(lab: Lab, tmp_path: Path, device: dict[str, Any]) -> None:
    state = ("/state", str(lab.state))
    config = tmp_path / "config.txt"
    # a firmware and a config upload, then RESET
    image = tmp_path / "ip6000.bin"
    image.write_bytes(build_image(ImageKind.FIRMWARE, "IP6000", "13r2", bytes(200_000)))
    doc = await gwload_json(
        "/i", lab.ip, "/setip", "/prot", str(image), "/cfg", str(config), *state
    )
    steps = doc["steps"]
    assert [s["step"] for s in steps] == ["setip", "upload", "upload", "reset"]
    prot, cfg = steps[1], steps[2]
    assert set(prot) == {"step", "name", "file", "bytes", "seconds", "options"}
    sent = ("prot", str(image), image.stat().st_size)
    assert (prot["name"], prot["file"], prot["bytes"]) == sent
    assert prot["options"]["blksize"] == "1468"
    assert (cfg["name"], cfg["bytes"]) == ("config", config.stat().st_size)
    assert steps[3] == {"step": "reset", "mac": device["mac"]}
    assert doc["done"][-1] == "device restarted"

    # a transfer that times out (the device is off): exit 3
    await lab.ipgwsim("power", "ip6000-1", "off")
    doc = await gwload_json("/i", lab.ip, "/getcfg", str(config), *state, *FAST)
    assert doc["status"] == EXIT_TRANSFER
    assert doc["error"]["step"] == "getcfg"
    assert "timed out" in doc["error"]["message"]

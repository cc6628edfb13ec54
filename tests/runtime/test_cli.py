"""``ipgwsim run`` as a process, and the control commands against it (real sockets, ptys)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import find_profile
from ipgwsim.runtime.flashfile import load_flash
from ipgwsim.testing.loopback import Ports, reserved_ports, run
from ipgwsim.testing.processes import IPGWSIM, ipgwsim, read_line, running
from ipgwsim.tools.cli import main as cli_main

pytestmark = pytest.mark.integration

NO_COUNTS = dict.fromkeys(("datagrams", "dropped", "duplicated", "reordered", "corrupted"), 0)


@pytest.mark.usefixtures("private_registry")
def test_run_and_control_commands(tmp_path: Path, ports: Ports) -> None:
    state = str(tmp_path / "state")
    port = ports.udp()
    http_port = ports.tcp()

    async def main() -> None:
        argv = [
            "run", "IP6000", "--count", "2", "--state", state, "--port", str(port), "--http-port",
            str(http_port), "--speed", "1000",
        ]  # fmt: skip
        async with running(*IPGWSIM, *argv) as runner:
            await check_listing(runner, state, port)
            await check_status(state, http_port)
            await check_press_and_watch(state)
            await check_power_cut_and_console(state)
            await check_errors(state)
            await check_stop(runner, state)

    run(main(), timeout=120)


async def check_listing(runner: asyncio.subprocess.Process, state: str, port: int) -> None:
    summary = await read_line(runner.stdout)
    assert summary.startswith("ipgwsim: 2 x IP6000 on loopback")
    assert f"127.255.255.255:{port}" in summary
    header = (await read_line(runner.stdout)).split()
    assert header == ["NAME", "MODEL", "MAC", "CONSOLE", "MODE", "LED"]
    for number in (1, 2):
        line = await read_line(runner.stdout)
        name, model, mac, pty, *rest = line.split()
        assert (name, model, mac) == (f"ip6000-{number}", "IP6000", f"00:90:33:10:00:0{number}")
        assert pty.startswith("/dev/pts/")
        assert " ".join(rest) == "running firmware steady green"
        assert Path(state, name, "console").resolve() == Path(pty)


async def check_status(state: str, http_port: int) -> None:
    rc, out, err = await ipgwsim("status", "--json", "--state", state)
    assert rc == 0, err
    devices = json.loads(out)
    assert devices[0] == {
        "name": "ip6000-1",
        "model": "IP6000",
        "mac": "00:90:33:10:00:01",
        "mode": "running firmware",
        "led": "steady green",
        "ip": None,
        "boot_build": 145,
        "firmware_build": "08-6000.08",
        "link": None,
        "impairment": None,
        "counters": {"sent": NO_COUNTS, "received": NO_COUNTS},
        "degraded": None,
        "http_port": http_port,
        "web": None,
        "web_error": None,
    }
    assert [d["name"] for d in devices] == ["ip6000-1", "ip6000-2"]

    rc, out, err = await ipgwsim("status", "--state", state)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME", "MODEL", "MAC", "MODE", "LED", "IP", "WEB", "BOOT", "FIRMWARE",
        "IMPAIRMENT", "DROP/DUP/REORD/CORRUPT",
    ]  # fmt: skip
    assert lines[1].split() == [
        "ip6000-1", "IP6000", "00:90:33:10:00:01", "running", "firmware", "steady", "green",
        "-", "-", "(port", f"{http_port})", "145", "08-6000.08", "-", "0/0/0/0",
    ]  # fmt: skip


async def check_press_and_watch(state: str) -> None:
    """watch, then press: both see the blinks and the TFTP mode."""
    watcher = await asyncio.create_subprocess_exec(
        *IPGWSIM, "watch", "ip6000-1", "--state", state,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert "watching ip6000-1" in await read_line(watcher.stderr)
        rc, out, err = await ipgwsim(
            "press", "00:90:33:10:00:01", "--hold", "1.8", "--state", state
        )
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0] == "ip6000-1: reset button held 1.8 s"
        events = [line.split("] ", 1)[1] for line in lines[1:-1]]
        assert events == [
            "LED: blinking while the button is held",
            "blink 1",
            "blink 2",
            "blink 3",
            "LED: steady orange",
            "mode: TFTP mode (reset button held 1.8 s)",
        ]
        assert lines[-1] == "ip6000-1: TFTP mode, LED steady orange"
        watched = [(await read_line(watcher.stdout)).split("] ", 1)[1] for _ in events]
        assert watched == [f"ip6000-1  {event}" for event in events]
        watcher.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(watcher.wait(), 10) == 0
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()


async def check_power_cut_and_console(state: str) -> None:
    rc, out, err = await ipgwsim("power", "ip6000-2", "off", "--state", state)
    assert (rc, out) == (0, "ip6000-2: power off: off, LED off\n"), err
    rc, out, err = await ipgwsim("power", "ip6000-2", "on", "--state", state)
    assert (rc, out) == (0, "ip6000-2: power on: running firmware, LED steady green\n"), err

    rc, out, err = await ipgwsim(
        "cut", "009033100001", "--at-op", "2", "--mode", "atomic", "--state", state
    )
    assert rc == 0, err
    assert out.startswith("ip6000-1: power cut armed at flash operation ")
    assert out.endswith(" (atomic, 2 from now)\n")
    armed = out.split()[7]
    assert armed.isdigit()

    rc, out, err = await ipgwsim("console", "ip6000-1", "--lines", "3", "--state", state)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ip6000-1: console /dev/pts/")
    assert len(lines) == 4
    assert lines[-1].endswith(f"] power cut armed at flash operation {armed} (atomic)")


async def check_errors(state: str) -> None:
    """Errors are one line, exit status 2."""
    rc, out, err = await ipgwsim("press", "ip6000-9", "--state", state)
    assert (rc, out) == (2, "")
    assert err == (
        "ipgwsim press: no device 'ip6000-9' in this runtime (devices: ip6000-1, ip6000-2)\n"
    )
    with reserved_ports("udp") as (port,):
        rc, out, err = await ipgwsim("run", "IP6000", "--state", state, "--port", str(port))
    assert rc == 2
    assert err.startswith(f"ipgwsim run: state directory {state} is in use")
    assert len(err.splitlines()) == 1


async def check_stop(runner: asyncio.subprocess.Process, state: str) -> None:
    runner.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(runner.communicate(), 20)
    assert runner.returncode == 0, rest
    assert b"stopping, saving flash images" in rest[0]
    for name in ("ip6000-1", "ip6000-2"):
        assert sorted(p.name for p in Path(state, name).iterdir()) == [
            "flash.img",
            "instance.toml",
        ]
    assert not Path(state, "control.sock").exists()


async def start_run(ports: Ports, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    """``ipgwsim run ...`` in the background (its web servers on a port of the test's);
    its first line (the summary)."""
    runner = await asyncio.create_subprocess_exec(
        *IPGWSIM, "run", *args, "--speed", "1000", "--no-console-tcp",
        "--http-port", str(ports.tcp()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        return runner, await read_line(runner.stdout)
    except BaseException:
        runner.kill()
        await runner.wait()
        raise


async def stop_run(runner: asyncio.subprocess.Process) -> None:
    if runner.returncode is None:
        runner.send_signal(signal.SIGTERM)
        await asyncio.wait_for(runner.communicate(), 20)


def test_a_port_in_use_by_a_runtime_is_refused_to_run_and_to_the_demo(
    tmp_path: Path, ports: Ports
) -> None:
    """The reproduction: a runtime on a port, then another one and ``ipgwsim demo`` on it."""
    port = str(ports.udp())
    lab_a = tmp_path / "lab-a"

    async def main() -> None:
        runner, summary = await start_run(ports, "IP6000", "--port", port, "--state", str(lab_a))
        try:
            assert summary.startswith("ipgwsim: 1 x IP6000 on loopback"), summary
            holder = (
                f"UDP port {port} is in use by the ipgwsim runtime of state directory {lab_a} "
                f"(pid {runner.pid})"
            )
            rc, out, err = await ipgwsim("run", "IP6000", "--port", port, "--state",
                                         str(tmp_path / "lab-b"))  # fmt: skip
            assert (rc, out) == (2, "")
            assert err == (
                f"ipgwsim run: {holder}: use another --port (to share a port, start both "
                f"with --share-port)\n"
            )
            rc, out, err = await ipgwsim("run", "IP6000", "--port", port, "--share-port",
                                         "--state", str(tmp_path / "lab-b"))  # fmt: skip
            assert rc == 2
            assert err.startswith(f"ipgwsim run: {holder}: ")
            # The demo runs a runtime of its own: refused the same way, before anything.
            rc, out, err = await ipgwsim("demo", "--port", port, "--http-port",
                                         str(ports.tcp()))  # fmt: skip
            assert (rc, out) == (2, "")
            assert err.startswith(f"ipgwsim demo: {holder}: use another --port")
            assert len(err.splitlines()) == 1
        finally:
            await stop_run(runner)

    run(main(), timeout=120)


def test_runtimes_that_share_a_port_both_answer_gwload(tmp_path: Path, ports: Ports) -> None:
    port = str(ports.udp())

    async def main() -> None:
        runners = []
        try:
            for name in ("lab-a", "lab-b"):
                runner, summary = await start_run(
                    ports, "IP6000", "--empty-firmware", "--port", port, "--share-port",
                    "--state", str(tmp_path / name),
                )  # fmt: skip
                runners.append(runner)
                assert summary.endswith(f"127.255.255.255:{port} (shared), speed 1000x, "
                                        f"state {tmp_path / name}; Ctrl-C stops")  # fmt: skip
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ipgwsim.tools.gwload_cmd",
                "/scan", "/port", port, "/bcast", "127.255.255.255",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            text = out.decode()
            assert proc.returncode == 0, text
            assert "2 device(s) in TFTP mode" in text  # two MACs: one of each runtime
            macs = [line.split()[0] for line in text.splitlines() if line.startswith("00:90:33")]
            assert len(set(macs)) == 2
        finally:
            for runner in runners:
                await stop_run(runner)

    run(main(), timeout=120)


def _listening(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its sockets, found in /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add(int(fields[1].rsplit(":", 1)[1], 16))
    return found


def test_run_serves_the_consoles_on_tcp_only_when_asked(tmp_path: Path, ports: Ports) -> None:
    """By default nothing listens for a console and no TCP URL is printed; with
    ``--console-tcp`` the two ports of the device listen and are printed."""

    async def listing(state: Path, *flags: str) -> tuple[str, str, set[int]]:
        http = ports.tcp()
        argv = [
            "run", "IP6000", "--state", str(state), "--port", str(ports.udp()), "--http-port",
            str(http), "--speed", "1000", *flags,
        ]  # fmt: skip
        async with running(*IPGWSIM, *argv) as runner:
            await read_line(runner.stdout)  # the summary: the devices run
            rc, console, err = await ipgwsim("console", "ip6000-1", "--state", str(state))
            assert rc == 0, err
            listening = _listening(runner.pid) - {http}
            runner.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(runner.communicate(), 20)
            assert runner.returncode == 0
        return out.decode(), console.splitlines()[0], listening

    async def main() -> None:
        out, console, listening = await listing(tmp_path / "off")
        assert listening == set()
        assert "console on TCP" not in out
        assert "://" not in console
        out, console, listening = await listing(tmp_path / "on", "--console-tcp")
        (line,) = [line for line in out.splitlines() if "console on TCP" in line]
        name, _, _, _, raw, rfc = line.split()
        assert name == "ip6000-1"
        assert raw.startswith("socket://127.0.0.1:")
        assert rfc.startswith("rfc2217://127.0.0.1:")
        assert listening == {int(raw.rsplit(":", 1)[1]), int(rfc.rsplit(":", 1)[1])}
        assert console.endswith(f", {raw}, {rfc}")

    run(main(), timeout=120)


def test_run_refuses_a_console_port_without_tcp(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        argv = [
            "run", "IP6000", "--state", str(tmp_path / "state"), "--port", str(ports.udp()),
            "--http-port", str(ports.tcp()), "--console-port", str(ports.tcp(2)),
            "--no-console-tcp",
        ]  # fmt: skip
        async with running(*IPGWSIM, *argv) as runner:
            out, err = await asyncio.wait_for(runner.communicate(), 30)
        assert (runner.returncode, out) == (2, b"")
        assert err.decode() == (
            "ipgwsim run: --console-port serves the consoles on TCP, --no-console-tcp does "
            "not: give one of them\n"
        )

    run(main(), timeout=60)


def test_share_port_is_for_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["run", "IP6000", "--netns", "--share-port"]) == 2
    assert capsys.readouterr().err == (
        "ipgwsim run: --share-port is for loopback (in namespaces every device has its own ports)\n"
    )


@pytest.mark.parametrize(
    ("hold", "why"),
    [
        ("1e300", "hold must be 0 to 3600 device seconds, not 1e+300"),
        ("-1", "hold must be 0 to 3600 device seconds, not -1"),
        ("nan", "hold must be 0 to 3600 device seconds, not nan"),
        ("long", "not a number of seconds: 'long'"),
    ],
)
def test_press_refuses_a_hold_out_of_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hold: str, why: str
) -> None:
    state = str(tmp_path / "nothing-runs-here")
    with pytest.raises(SystemExit) as exited:
        cli_main(["press", "ip6000-1", "--hold", hold, "--state", state])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"ipgwsim press: error: argument --hold: {why}\n")


def test_control_commands_without_a_runtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "nothing-runs-here"
    assert cli_main(["status", "--state", str(state)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"ipgwsim status: no ipgwsim runtime is running with state directory {state} "
        f"(no control socket {state}/control.sock): start one with "
        f"`ipgwsim run MODEL --state {state}`\n"
    )


def test_run_on_a_port_in_use_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ports: Ports
) -> None:
    port = ports.udp()
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.255.255.255", port))
    try:
        status = cli_main(["run", "IP6000", "--state", str(tmp_path / "s"), "--port", str(port)])
    finally:
        squatter.close()
    assert status == 2
    err = capsys.readouterr().err
    assert err == (
        f"ipgwsim run: cannot bind UDP 127.255.255.255:{port}: address in use "
        f"(another program holds it); use another --port\n"
    )
    assert not (tmp_path / "s" / "lock").read_text()  # released: no pid left in it


def test_run_refuses_an_unknown_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ports: Ports
) -> None:
    port = str(ports.udp())
    assert cli_main(["run", "IP9999", "--state", str(tmp_path / "s"), "--port", port]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ipgwsim run: no hardware profile for 'IP9999' (known: ")
    assert not (tmp_path / "s" / "control.sock").exists()


def test_a_mixed_fleet_in_one_runtime(tmp_path: Path, ports: Ports) -> None:
    """``ipgwsim run IP800:2 IP811:3``: one runtime, every device reachable by every tool."""
    state = str(tmp_path / "state")
    port = ports.udp()

    async def main() -> None:
        argv = [
            "run", "IP800:2", "IP811:3", "--state", state, "--port", str(port), "--http-port",
            str(ports.tcp()), "--speed", "1000",
        ]  # fmt: skip
        async with running(*IPGWSIM, *argv) as runner:
            summary = await read_line(runner.stdout)
            assert summary.startswith("ipgwsim: 2 x IP800, 3 x IP811 on loopback")
            rc, out, err = await ipgwsim("status", "--json", "--state", state)
            assert rc == 0, err
            devices = json.loads(out)
            names = ["ip800-1", "ip800-2", "ip811-1", "ip811-2", "ip811-3"]
            assert [d["name"] for d in devices] == names
            assert [d["model"] for d in devices] == ["IP800"] * 2 + ["IP811"] * 3
            assert len({d["mac"] for d in devices}) == 5
            for name in names:
                rc, out, err = await ipgwsim("press", name, "--hold", "1.8", "--state", state)
                assert rc == 0, err
                assert out.splitlines()[-1] == f"{name}: TFTP mode, LED steady orange"
            scan = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ipgwsim.tools.gwload_cmd", "/scan",
                "/port", str(port), "/bcast", "127.255.255.255",
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            listed, _ = await asyncio.wait_for(scan.communicate(), 30)
            assert scan.returncode == 0
            rows = listed.decode().splitlines()
            assert sorted(row.split()[0] for row in rows[1:-1]) == sorted(d["mac"] for d in devices)
            assert rows[-1] == "gwload: 5 device(s) in TFTP mode"
            runner.send_signal(signal.SIGTERM)
            await asyncio.wait_for(runner.communicate(), 20)
            assert runner.returncode == 0

    run(main(), timeout=120)


def test_run_refuses_what_it_cannot_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state", str(tmp_path / "state")]
    cases = [
        (["run", *state], "give a model (ipgwsim run IP6000), models with counts, or --lab"),
        (["run", "IP800:2", "IP811", "--count", "2", *state],
         "--count goes with a single MODEL; for several write MODEL:COUNT"),
        (["run", "IP800:x", *state], "'IP800:x': give a model and an optional count, e.g. IP811:3"),
        (["run", "IP6000", "--lab", str(tmp_path / "lab.toml"), *state],
         f"{tmp_path / 'lab.toml'}: cannot be read: No such file or directory"),
        (["run", "IP6000", "--attach", "host", *state], "--attach needs --netns"),
        (["run", "IP6000", "--speed", "0", *state], "--speed must be a positive number"),
    ]  # fmt: skip
    for argv, message in cases:
        assert cli_main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.err == f"ipgwsim run: {message}\n", argv
    (tmp_path / "lab.toml").write_text('schema = 1\n[[device]]\nmodel = "IP6000"\n')
    assert cli_main(["run", "IP6000", "--lab", str(tmp_path / "lab.toml"), *state]) == 2
    assert capsys.readouterr().err == "ipgwsim run: give either models or --lab, not both\n"


@pytest.mark.usefixtures("private_registry")
def test_run_with_an_impairment_and_a_capture(tmp_path: Path, ports: Ports) -> None:
    state = str(tmp_path / "state")
    pcap = tmp_path / "run.pcapng"
    port = ports.udp()

    async def main() -> None:
        rc, out, err = await ipgwsim("run", "IP6000", "--state", state, "--impair", "loss=30")
        assert (rc, out) == (2, "")
        assert err == "ipgwsim run: --impair: 'loss=30': loss is a percentage: write loss=30%\n"
        argv = [
            "run", "IP6000", "--state", state, "--port", str(port), "--speed", "1000",
            "--http-port", str(ports.tcp()), "--impair", "dup=100%,dir=out,seed=5", "--pcap",
            str(pcap),
        ]  # fmt: skip
        async with running(*IPGWSIM, *argv) as runner:
            lines = [await read_line(runner.stdout) for _ in range(6)]
            assert lines[4] == "impairment on every device: dup=100%,dir=out,seed=5"
            assert lines[5] == f"capture: {pcap} (pcapng, one interface per device)"
            rc, out, err = await ipgwsim("press", "ip6000-1", "--hold", "1.8", "--state", state)
            assert rc == 0, err
            scan = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ipgwsim.tools.gwload_cmd", "/scan", "/port", str(port),
                "/bcast", "127.255.255.255", "/tries", "5", "/timeout", "0.5",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            scanned, _ = await asyncio.wait_for(scan.communicate(), 30)
            assert scan.returncode == 0, scanned
            assert b"00:90:33:10:00:01" in scanned

            rc, out, err = await ipgwsim("status", "--state", state)
            assert rc == 0, err
            row = out.splitlines()[1].split()
            assert row[-2:] == ["dup=100%,dir=out,seed=5", "0/1/0/0"]

            rc, out, err = await ipgwsim(
                "impair", "ip6000-1", "delay=20ms,seed=3", "--state", state
            )
            assert rc == 0, err
            assert out.splitlines() == [
                "ip6000-1: impairment delay=20ms,seed=3 (was dup=100%,dir=out,seed=5)",
                "  sent: 1 datagrams, 0 dropped, 1 duplicated, 0 reordered, 0 corrupted",
                "  received: 1 datagrams, 0 dropped, 0 duplicated, 0 reordered, 0 corrupted",
            ]
            rc, out, err = await ipgwsim("impair", "ip6000-1", "--state", state)
            assert (rc, out.splitlines()[0]) == (0, "ip6000-1: impairment delay=20ms,seed=3")
            rc, out, err = await ipgwsim("impair", "ip6000-1", "dup=5", "--state", state)
            assert (rc, out) == (2, "")
            assert err == "ipgwsim impair: 'dup=5': dup is a percentage: write dup=5%\n"
            rc, out, err = await ipgwsim("impair", "ip6000-1", "off", "--state", state)
            assert rc == 0, err
            assert out.splitlines()[0] == "ip6000-1: impairment off (was delay=20ms,seed=3)"

            runner.send_signal(signal.SIGTERM)
            await asyncio.wait_for(runner.communicate(), 20)
            assert runner.returncode == 0

    run(main(), timeout=120)
    from scapy.utils import rdpcap  # noqa: PLC0415 (scapy is slow to load: only here)

    packets = rdpcap(str(pcap))  # complete after the stop
    assert [(p.sniffed_on, p.direction) for p in packets] == [("ip6000-1", 1), ("ip6000-1", 2)]
    assert packets[1].comments == [b"impairment: duplicated"]


def test_run_a_lab_file(tmp_path: Path, ports: Ports) -> None:
    """``ipgwsim run --lab``: the file's devices, names, starting config and impairment."""
    port = ports.udp()
    (tmp_path / "office-cfg.txt").write_text("config change CMD0 /name office-gw\r\n")
    (tmp_path / "lab.toml").write_text(
        f"""\
schema = 1
[runtime]
port = {port}
http_port = {ports.tcp()}
speed = 1000
state = "state"
console_tcp = false
[[device]]
model = "IP800"
[[device]]
model = "IP811"
name = "far"
impair = "loss=30%,seed=3"
[[device]]
model = "IP6000"
name = "office"
config = "office-cfg.txt"
"""
    )
    state = str(tmp_path / "state")

    async def main() -> None:
        async with running(*IPGWSIM, "run", "--lab", str(tmp_path / "lab.toml")) as runner:
            summary = await read_line(runner.stdout)
            assert summary.startswith("ipgwsim: 1 x IP800, 1 x IP811, 1 x IP6000 on loopback")
            assert f"127.255.255.255:{port}, speed 1000x, state {state};" in summary
            rc, out, err = await ipgwsim("status", "--json", "--state", state)
            assert rc == 0, err
            devices = {d["name"]: d for d in json.loads(out)}
            assert list(devices) == ["ip800-1", "far", "office"]
            assert devices["far"]["impairment"] == "loss=30%,seed=3"
            assert devices["office"]["impairment"] is None
            runner.send_signal(signal.SIGTERM)
            _, errors = await asyncio.wait_for(runner.communicate(), 20)
            assert runner.returncode == 0
            assert f"office: starts from {tmp_path / 'office-cfg.txt'} (full config)" in (
                errors.decode()
            )

    run(main(), timeout=120)
    # The office's saved flash holds the config it started from.
    profile = find_profile("IP6000")
    flash = load_flash(Path(state, "office", "flash.img"), profile.flash)
    newest = ConfigRing(PartitionTable(flash, profile)["config"]).newest_text()
    assert newest is not None
    assert "config change CMD0 /name office-gw" in newest


def test_sighup_stops_a_runtime_as_sigterm_does(tmp_path: Path, ports: Ports) -> None:
    """SIGHUP (the terminal went away) saves every flash and removes the control socket."""
    state = tmp_path / "lab"

    async def main() -> None:
        runner, summary = await start_run(
            ports, "IP6000", "--port", str(ports.udp()), "--state", str(state)
        )
        try:
            assert summary.startswith("ipgwsim: 1 x IP6000 on loopback"), summary
            assert Path(state, "control.sock").exists()
            runner.send_signal(signal.SIGHUP)
            out, err = await asyncio.wait_for(runner.communicate(), 20)
            assert runner.returncode == 0, err
            assert b"stopping, saving flash images" in out
            assert Path(state, "ip6000-1", "flash.img").is_file()
            assert not Path(state, "control.sock").exists()
        finally:
            if runner.returncode is None:
                runner.kill()
                await runner.wait()

    run(main())


def test_run_without_ptys_from_the_command_line(tmp_path: Path, ports: Ports) -> None:
    """``--no-console-pty``: the table says ``-``; ``console`` shows the lines;
    ``console --attach`` without ``--tcp`` is refused with one line."""
    state = str(tmp_path / "state")

    async def main() -> None:
        runner, summary = await start_run(
            ports, "IP6000", "--count", "2", "--port", str(ports.udp()), "--state", state,
            "--no-console-pty",
        )  # fmt: skip
        try:
            assert summary.startswith("ipgwsim: 2 x IP6000 on loopback"), summary
            assert runner.stdout is not None
            header = await read_line(runner.stdout)
            assert header.split()[:5] == ["NAME", "MODEL", "MAC", "CONSOLE", "MODE"]
            row = (await read_line(runner.stdout)).split()
            assert row[0] == "ip6000-1"
            assert row[3] == "-"
            rc, out, err = await ipgwsim("console", "ip6000-1", "--state", state)
            assert rc == 0, err
            assert out.splitlines()[0] == "ip6000-1: console without a pty"
            rc, out, err = await ipgwsim("console", "ip6000-1", "--attach", "--state", state)
            assert rc == 2
            assert err.strip() == (
                "ipgwsim console: ip6000-1 has no pty (the runtime runs with --no-console-pty):"
                " attach with --tcp (start the runtime with --console-tcp too)"
            )
        finally:
            runner.send_signal(signal.SIGTERM)
            await asyncio.wait_for(runner.communicate(), 30)

    run(main(), timeout=120)

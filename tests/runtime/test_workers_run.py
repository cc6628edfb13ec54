"""``ipgwsim run --workers 2`` as a user runs it: real processes, the real ``gwload`` and
``ipgwsim`` commands against it, through the parent's one control socket."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import serial

from ipgwsim.runtime.control import ControlClient
from ipgwsim.runtime.ports import http_bind_problem
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run
from ipgwsim.testing.processes import (
    GWLOAD,
    IPGWSIM,
    finished,
    ipgwsim,
    read_line,
    read_until,
    running,
    stop,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_registry")]


def status(state: Path) -> dict[str, Any]:
    with ControlClient(state, timeout=20) as client:
        return client.request("status")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def console_and_refusals(state: Path) -> None:
    """A console WebSocket to a device of worker 2 through the parent; an unknown device
    and an unknown route are refused as one runtime refuses them."""
    connector = aiohttp.UnixConnector(path=str(state / "control.sock"))
    async with aiohttp.ClientSession(connector=connector, base_url="http://ipgwsim") as client:
        ws = await client.ws_connect("/v1/devices/ip6000-2/console/ws")
        rc, _, err = await ipgwsim("power", "ip6000-2", "off", "--state", str(state))
        assert rc == 0, err
        text = ""
        while "mode: off (switched off)" not in text:
            message = await asyncio.wait_for(ws.receive(), 20)
            assert message.type is aiohttp.WSMsgType.BINARY, message
            text += message.data.decode("utf-8", "replace")
        await ws.close()
        async with client.get("/v1/devices/ip6000-9") as answer:
            assert answer.status == 404
            assert (await answer.json())["error"].startswith(
                "no device 'ip6000-9' in this runtime (devices: ip6000-1, ip6000-2"
            )
        async with client.get("/v1/nothing") as answer:
            assert answer.status == 404
            assert "no route GET /v1/nothing" in (await answer.json())["error"]


async def watch_both(state: Path) -> None:
    """One watch through the parent sees the events of both workers, in order."""
    async with running(*IPGWSIM, "watch", "--json", "--state", str(state)) as w:
        assert "watching all devices" in await read_line(w.stderr)
        for name, on in (("ip6000-2", "on"), ("ip6000-1", "off")):  # worker 2, 1
            rc, _, err = await ipgwsim("power", name, on, "--state", str(state))
            assert rc == 0, err
        seen: list[tuple[float, str, str]] = []
        while {device for _, device, _ in seen} != {"ip6000-1", "ip6000-2"}:
            event = json.loads(await read_line(w.stdout))
            if event["event"] == "mode":
                seen.append((event["time"], event["device"], event["mode"]))
        # Each worker's events come in order; the workers' streams are merged as they
        # come, and their device times (one clock) give the order across workers.
        assert [(device, mode) for _, device, mode in sorted(seen)] == [
            ("ip6000-2", "TFTP mode"),
            ("ip6000-1", "off"),
        ]
        w.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(w.wait(), 10) == 0


def device_routes(state: Path) -> None:
    """Impair, panel, flash, cut and the button reach a device of each worker through
    the parent, and come back as one runtime answers them."""
    with ControlClient(state, timeout=20) as client:
        impaired = client.request("impair", device="ip6000-2", impairment="loss=10%,seed=1")
        assert impaired["device"] == "ip6000-2"
        assert impaired["impairment"].startswith("loss=10%")
        assert client.request("impair", device="ip6000-2")["impairment"].startswith("loss=10%")
        assert client.request("impair", device="ip6000-1")["impairment"] is None
        assert client.request("panel", device="ip6000-2")["ok"]
        assert client.request("flash", device="ip6000-1")["ok"]
        # ip6000-1 makes no flash operation after this (it is only switched off): the
        # armed cut never fires, and the watch below sees only what it is asked.
        assert client.request("cut", device="ip6000-1", at_op=1)["at_op"] >= 1
        down = client.request("button", device="ip6000-3", down=True)
        assert down["button"]["down"] is True
        up = client.request("button", device="ip6000-3", down=False)
        assert up["button"]["down"] is False


def test_two_workers_behind_one_control_socket(tmp_path: Path, ports: Ports) -> None:
    """Discovery reaches the devices of both workers; SETIP and a config read reach one of
    the second; status lists all in order; press, power, watch and a console WebSocket
    work through the parent; SIGTERM saves every flash and leaves nothing behind."""
    state = tmp_path / "state"
    port = ports.udp()
    ip = free_loopback_ip(port)
    argv = [
        *IPGWSIM, "run", "IP6000:3", "--empty-firmware", "--workers", "2",
        "--state", str(state), "--port", str(port), "--http-port", str(ports.tcp()),
    ]  # fmt: skip
    where = ["/port", str(port), "/bcast", "127.255.255.255"]
    scratch = Path(tempfile.mkdtemp(prefix="wk-"))  # short: socket paths live in it

    async def main() -> None:
        async with running(*argv, env={"TMPDIR": str(scratch)}) as runner:
            head = await read_line(runner.stdout)
            assert "3 x IP6000 on loopback" in head
            assert "2 workers (pids " in head
            await read_until(runner.stdout, "ip6000-3 ")  # the listing's last line
            rt = status(state)
            assert [d["name"] for d in rt["devices"]] == ["ip6000-1", "ip6000-2", "ip6000-3"]
            assert [w["devices"] for w in rt["workers"]] == [["ip6000-1", "ip6000-3"], ["ip6000-2"]]
            pids = [w["pid"] for w in rt["workers"]]
            assert rt["network"]["port"] == port
            macs = [d["mac"] for d in rt["devices"]]

            rc, out, err = await finished(*GWLOAD, *where, "/scan")
            assert rc == 0, out + err
            assert sorted(line.split()[0] for line in out.splitlines()[1:4]) == macs

            second = macs[1]  # ip6000-2: worker 2
            cfg = tmp_path / "cfg.txt"
            rc, out, err = await finished(
                *GWLOAD, *where, "/gwtype", "6000", "/mac", second, "/i", ip,
                "/setip", "/getcfg", str(cfg),
            )  # fmt: skip
            assert rc == 0, out + err
            assert cfg.read_text().strip()
            rc, out, err = await ipgwsim("status", "--json", "--state", str(state))
            assert rc == 0, err
            assert [(d["name"], d["ip"]) for d in json.loads(out)] == [
                ("ip6000-1", None),
                ("ip6000-2", ip),
                ("ip6000-3", None),
            ]

            await console_and_refusals(state)
            device_routes(state)
            await watch_both(state)
            rc, out, err = await ipgwsim(
                "press", "ip6000-3", "--hold", "0.2", "--state", str(state)
            )
            assert rc == 0, err
            assert out.startswith("ip6000-3: reset button held 0.2 s")

            assert [p.name[:16] for p in scratch.iterdir()] == ["ipgwsim-workers-"]
            out, err = await stop(runner)
            assert "stopping, saving flash images" in out
        assert all(gone(pid) for pid in pids)
        assert not (state / "control.sock").exists()
        assert list(scratch.iterdir()) == []  # the workers' private folder is gone
        for name in ("ip6000-1", "ip6000-2", "ip6000-3"):
            assert (state / name / "flash.img").is_file()
            assert not (state / name / "console").exists()

    try:
        run(main())
    finally:
        shutil.rmtree(scratch)


def test_a_killed_worker_is_reported_and_the_runtime_stops(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"
    argv = [
        *IPGWSIM, "run", "IP6000:2", "--workers", "2", "--state", str(state),
        "--port", str(ports.udp()), "--http-port", str(ports.tcp()),
    ]  # fmt: skip

    async def main() -> None:
        async with running(*argv) as runner:
            await read_until(runner.stdout, "ip6000-2 ")
            workers = status(state)["workers"]
            os.kill(workers[1]["pid"], signal.SIGKILL)
            _, raw = await asyncio.wait_for(runner.communicate(), 60)
            assert runner.returncode == 1
            line = (
                f"ipgwsim run: worker 2 (pid {workers[1]['pid']}; devices ip6000-2) ended on "
                "its own (killed by SIGKILL): its devices are gone; stopping the runtime"
            )
            assert raw.decode().splitlines().count(line) == 1
            assert gone(workers[0]["pid"])
        # The state directory is free again: the same command starts.
        async with running(*argv) as again:
            await read_until(again.stdout, "ip6000-2 ")
            await stop(again)

    run(main())


def test_what_workers_refuse_and_a_port_another_runtime_holds(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"
    port, http = str(ports.udp()), str(ports.tcp())
    base = ["run", "--port", port, "--http-port", http, "--state", str(state)]

    async def main() -> None:
        for extra, refusal in [
            (["IP6000:2", "--workers", "0"], "--workers must be 1 or more, not 0"),
            (["IP6000:2", "--workers", "3"], "--workers 3 is more than the 2 devices to run"),
            (["IP6000:2", "--workers", "2", "--netns"], "--workers runs on the loopback"),
            (
                ["IP6000:2", "--workers", "2", "--pcap", str(tmp_path / "x.pcapng")],
                "--workers cannot record a capture file",
            ),
        ]:
            rc, _, err = await ipgwsim(*base, *extra)
            assert rc == 2, err
            assert err.startswith(f"ipgwsim run: {refusal}"), err
            assert len(err.splitlines()) == 1, err
        argv = [*IPGWSIM, *base, "IP6000:2", "--workers", "2"]
        async with running(*argv) as runner:
            await read_until(runner.stdout, "ip6000-2 ")
            other = ["run", "IP6000", "--port", port, "--state", str(tmp_path / "other")]
            rc, _, err = await ipgwsim(*other, "--http-port", http)
            assert rc == 2
            assert f"UDP port {port} is in use by" in err
            assert str(state) in err
            await stop(runner)

    run(main())


UI_LINE = re.compile(r"^ui: (http://127\.0\.0\.1:(\d+)/)$")


async def next_sse(response: aiohttp.ClientResponse) -> tuple[str, Any]:
    """The next Server-Sent Event: its kind and its data (``("comment", None)`` for a
    comment only)."""
    kind, data = "message", None
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 20)).decode()
        assert line, "the stream ended"
        if line == "\n":
            return ("comment", None) if data is None else (kind, data)
        field, _, value = line.rstrip("\n").partition(":")
        if field == "event":
            kind = value.strip()
        elif field == "data":
            data = json.loads(value)


def test_the_ui_port_serves_the_page_and_one_sse_watch_of_both_workers(
    tmp_path: Path, ports: Ports
) -> None:
    state = tmp_path / "state"
    http = ports.tcp()
    argv = [
        *IPGWSIM, "run", "IP6000:2", "--workers", "2", "--state", str(state),
        "--port", str(ports.udp()), "--http-port", str(http), "--ui", "0",
        "--console-tcp",
    ]  # fmt: skip

    async def main() -> None:
        async with running(*argv) as runner:
            lines = [await read_line(runner.stdout)]
            while not lines[-1].startswith("ui: "):
                lines.append(await read_line(runner.stdout))
            tcp = [line for line in lines if "console on TCP:" in line]
            assert [line.split()[0] for line in tcp] == ["ip6000-1", "ip6000-2"]
            match = UI_LINE.match(lines[-1])
            assert match is not None, lines[-1]
            url = match[1]
            async with aiohttp.ClientSession() as client:
                async with client.get(url) as page:
                    assert page.status == 200
                    assert "<html" in (await page.text()).lower()
                async with client.get(f"{url}v1/status") as answer:
                    rt = await answer.json()
                assert rt["ui"] == url
                # The UI port's guards stand before the workers, as before one runtime.
                rebound = {"Host": "attacker.example"}
                async with client.get(f"{url}v1/status", headers=rebound) as answer:
                    assert answer.status == 403
                    assert "DNS rebinding guard" in (await answer.json())["error"]
                assert [d["name"] for d in rt["devices"]] == ["ip6000-1", "ip6000-2"]
                # A short press: ip6000-2 (worker 2) restarts with the factory address,
                # and run says where its web server listens, as one process does.
                async with client.post(
                    f"{url}v1/devices/ip6000-2/press", json={"hold": 0.3}
                ) as answer:
                    assert answer.status == 200, await answer.text()
                line = await read_until(runner.stdout, "ip6000-2  web:")
                assert line == f"ip6000-2  web:  http://127.168.0.1:{http}/"
                # Who holds that address is the runtime users see, not worker 2.
                in_use = OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
                problem = http_bind_problem("127.168.0.1", http, in_use)
                assert problem.endswith(
                    "address in use by the ipgwsim runtime of state directory "
                    f"{state} (pid {runner.pid})"
                ), problem
                assert "login: " in await asyncio.to_thread(login_prompt, state)
                sse = {"Accept": "text/event-stream"}
                async with client.get(f"{url}v1/watch", headers=sse) as stream:
                    assert (await next_sse(stream))[0] == "hello"
                    for name in ("ip6000-2", "ip6000-1"):  # worker 2, then worker 1
                        async with client.post(
                            f"{url}v1/devices/{name}/power", json={"on": False}
                        ) as answer:
                            assert answer.status == 200, await answer.text()
                    offs: list[tuple[float, str]] = []
                    while len(offs) < 2:
                        kind, data = await next_sse(stream)
                        assert kind != "hello"  # one hello: the first worker's
                        if kind == "device-event" and data["event"] == "power":
                            offs.append((data["time"], data["device"]))
                    assert [device for _, device in sorted(offs)] == ["ip6000-2", "ip6000-1"]
            await stop(runner)

    run(main())


def login_prompt(state: Path) -> str:
    """What the console of ip6000-2 (worker 2) answers a return with, opened by its
    ``ipgwsim://`` URL on TCP."""
    import ipgwsim.runtime.serialurl  # noqa: F401, PLC0415 (registers ipgwsim://)

    url = f"ipgwsim://ip6000-2?state={state}&tcp"
    with serial.serial_for_url(url, timeout=20) as port:
        port.write(b"\r")
        return port.read_until(b"login: ").decode("utf-8", "replace")


def test_workers_stop_when_their_parent_is_killed(
    tmp_path: Path, ports: Ports, private_registry: Path
) -> None:
    """A parent killed outright (no SIGTERM to pass on) leaves no worker behind: each sees
    its stdin end, saves its flashes and stops; the state directory is free again."""
    state = tmp_path / "state"
    argv = [
        *IPGWSIM, "run", "IP6000:2", "--workers", "2", "--state", str(state),
        "--port", str(ports.udp()), "--http-port", str(ports.tcp()),
    ]  # fmt: skip

    scratch = Path(tempfile.mkdtemp(prefix="wk-"))  # short: socket paths live in it
    env = {"TMPDIR": str(scratch)}

    async def main() -> None:
        async with running(*argv, env=env) as runner:
            await read_until(runner.stdout, "ip6000-2 ")
            assert [p.name[:16] for p in scratch.iterdir()] == ["ipgwsim-workers-"]
            rc, out, err = await ipgwsim(
                "console", "ip6000-2", "--lines", "5", "--state", str(state)
            )
            assert rc == 0, err
            assert out.startswith("ip6000-2: console /dev/pts/"), out
            workers = [psutil.Process(w["pid"]) for w in status(state)["workers"]]
            assert sorted(ours(private_registry)) == sorted(w.pid for w in workers)
            # Worker 2 is held (SIGSTOP) while it would stop: until it has, it still
            # writes in the state directory, so the same command started at once is
            # refused, naming it.
            workers[1].suspend()
            parent = psutil.Process(runner.pid)
            try:
                runner.kill()
                # Not runner.wait(): that waits for its stderr, which worker 2 holds too.
                await asyncio.to_thread(psutil.wait_procs, [parent, workers[0]], 30)
                rc, _, err = await ipgwsim(*argv[len(IPGWSIM) :], env=env)
            finally:
                workers[1].resume()
            assert rc == 2, err
            assert err == (
                f"ipgwsim run: state directory {state} is in use by the workers (pids "
                f"{workers[1].pid}) of an ipgwsim runtime (pid {parent.pid}) that is gone: they "
                "save their flashes and stop; start again when they have\n"
            )
            _, alive = await asyncio.to_thread(psutil.wait_procs, workers, 30)
            assert alive == []
            assert ours(private_registry) == []
            assert list(scratch.iterdir()) == []  # the workers removed the parent's folder
        for name in ("ip6000-1", "ip6000-2"):
            assert (state / name / "flash.img").is_file()
        async with running(*argv, env=env) as again:
            await read_until(again.stdout, "ip6000-2 ")
            await stop(again)
        assert list(scratch.iterdir()) == []  # and the parent, stopped as it should be

    try:
        run(main())
    finally:
        shutil.rmtree(scratch)


def ours(registry: Path) -> list[int]:
    """The worker processes started with this test's registry (other runs' have theirs)."""
    found = []
    for process in psutil.process_iter():
        try:
            if "ipgwsim.tools.runworker" not in process.cmdline():
                continue
            if process.environ().get("IPGWSIM_REGISTRY") == str(registry):
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_worker_that_cannot_start_its_devices_is_one_line(
    tmp_path: Path, ports: Ports, private_registry: Path
) -> None:
    """A device of worker 1 cannot listen for its console (its port is taken): the run
    says so in one line, exit status 2, and no worker is left."""
    state = tmp_path / "state"
    base = ports.tcp(4)  # ip6000-1: base and base + 1; ip6000-2: base + 2 and base + 3
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", base))
    taken.listen()
    argv = [
        "run", "IP6000:2", "--workers", "2", "--state", str(state),
        "--port", str(ports.udp()), "--http-port", str(ports.tcp()),
        "--console-port", str(base),
    ]  # fmt: skip

    async def main() -> None:
        rc, _, err = await ipgwsim(*argv)
        assert rc == 2, err
        assert err.startswith(
            f"ipgwsim run: ip6000-1: cannot listen for the console on 127.0.0.1 (ports {base}/"
        ), err
        assert f"(port {base} is in use by " in err, err
        assert err.endswith(f" (pid {os.getpid()}))\n"), err
        assert len(err.splitlines()) == 1, err
        assert ours(private_registry) == []  # this run's workers are gone
        assert not (state / "control.sock").exists()

    try:
        run(main())
    finally:
        taken.close()


def test_workers_without_ptys(tmp_path: Path, ports: Ports) -> None:
    """``--no-console-pty`` reaches every worker: no device has a pty, the listing says
    ``-`` for each, and a console of the second worker shows its lines."""
    state = tmp_path / "state"
    argv = [
        *IPGWSIM, "run", "IP6000:2", "--workers", "2", "--no-console-pty",
        "--state", str(state), "--port", str(ports.udp()), "--http-port", str(ports.tcp()),
    ]  # fmt: skip

    async def main() -> None:
        async with running(*argv) as runner:
            rows = [await read_until(runner.stdout, f"ip6000-{n} ") for n in (1, 2)]
            assert [row.split()[3] for row in rows] == ["-", "-"]
            rc, out, err = await ipgwsim("console", "ip6000-2", "--state", str(state))
            assert rc == 0, err
            assert out.splitlines()[0] == "ip6000-2: console without a pty"
            await stop(runner)

    run(main())


def test_workers_run_on_the_loop_their_parent_chose(tmp_path: Path, ports: Ports) -> None:
    """``--loop uvloop`` reaches every worker: each says at its start which loop runs it."""
    pytest.importorskip("uvloop")
    state = tmp_path / "state"
    argv = [
        *IPGWSIM, "run", "IP6000:2", "--workers", "2", "--loop", "uvloop", "--log-level",
        "debug", "--state", str(state), "--port", str(ports.udp()), "--http-port",
        str(ports.tcp()),
    ]  # fmt: skip

    async def main() -> None:
        async with running(*argv) as runner:
            await read_until(runner.stdout, "ip6000-2 ")
            _, err = await stop(runner)
        said = sorted(
            line.split("worker ", 1)[1]
            for line in err.splitlines()
            if "worker " in line and "event loop" in line
        )
        assert said == ["1: event loop: uvloop", "2: event loop: uvloop"]

    run(main())

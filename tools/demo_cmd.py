"""``ipgwsim demo``: both password recoveries of Howto:Config or Password Recovery, step by step.

A simulated IP6000 runs on loopback (no root needed). First its history: an admin
logs in on the serial console (pyserial on the device's pty), gives it an address,
an update server URL and a few names, saves the config three times and sets a
password that is then lost.

1. The TFTP recovery: hold the reset button for 1.8 s and watch the ready LED blink
   three times; give the device in TFTP mode an address (``gwload /gwtype 6000 /i IP
   /setip``); read the config ring with the real tftp-hpa client (``tftp ... get
   config``); find the newest generation; add a known admin password and send the
   config back (``gwload ... /setip /cfg config.txt``), which restarts the device.
   Log in with the new password over HTTP (curl, ``http://IP/!config show``) and on the
   console.
2. The update-server recovery: the device polls the update server named in its
   config; a real local HTTP server (``python3 -m http.server``) serves the
   script that sets a new password. The demo lets device time run ahead a minute at
   a time until the device has fetched it, then logs in with that password.

Every step prints what a person would see; the last line says whether it worked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ipgwsim.events import Event, Mode
from ipgwsim.events.render import DEMO_LINES, describe
from ipgwsim.flash.dumptext import DumpedConfig, read_dump
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.errors import describe_error
from ipgwsim.runtime.loopback import LOOPBACK_BROADCAST
from ipgwsim.runtime.ports import (
    DEFAULT_HTTP_PORT,
    DEFAULT_PORT,
    UNPRIVILEGED_HTTP_PORT,
    UNPRIVILEGED_PORT,
    default_port,
)

if TYPE_CHECKING:
    # pyserial, the firmware and the runtime load where they are used: building the
    # parser (every ipgwsim command) stays cheap.
    import serial

    from ipgwsim.runtime.host import DeviceHost
    from ipgwsim.runtime.runtime import Runtime

DEFAULT_IP = "127.0.0.2"
#: The known password the recovery sets (the example of Howto:Config or Password Recovery).
PASSWORD = "ip6000"
#: Device names of the config generations the demo's device was saved with.
HISTORY = ("gw-lab", "gw-office", "gw-office-2")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the TFTP config recovery on a simulated IP6000, step by step",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"UDP port of the devices (default {DEFAULT_PORT} as root, else "
        f"{UNPRIVILEGED_PORT}: ports below 1024 need root; as root also when {DEFAULT_PORT} "
        f"is taken)",
    )
    parser.add_argument(
        "--ip", default=DEFAULT_IP, help=f"address for SETIP (default {DEFAULT_IP})"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="device time per real second (default 1)"
    )
    parser.add_argument(
        "--state", type=Path, default=None, help="state directory (default: a temporary one)"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=None,
        help=f"TCP port of the device's web server (default {DEFAULT_HTTP_PORT} as root, "
        f"else {UNPRIVILEGED_HTTP_PORT}: ports below 1024 need root)",
    )
    parser.add_argument(
        "--update-port",
        type=int,
        default=None,
        help="TCP port of the local update server on 127.0.0.1 (default: a free one)",
    )
    parser.set_defaults(handler=run)


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


async def _tftp(*args: str) -> None:
    tftp = shutil.which("tftp")
    if tftp is None:
        raise OSError("the tftp client is missing: install Debian's tftp-hpa")
    print("$ tftp " + " ".join(args), flush=True)
    proc = await asyncio.create_subprocess_exec(
        tftp, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace").strip()
    if text:
        print(text)
    # tftp-hpa exits 0 even when a transfer fails; it says so on its output
    if proc.returncode != 0 or "Error" in text or "Transfer timed out" in text:
        raise OSError(f"tftp {' '.join(args)} failed: {text or proc.returncode}")


def _default_port() -> int:
    """``ipgwsim run``'s default (:func:`~ipgwsim.runtime.ports.default_port`); as root
    also the unprivileged port when another program holds 69."""
    port = default_port(os.geteuid())
    if port != DEFAULT_PORT:
        return port
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((LOOPBACK_BROADCAST, DEFAULT_PORT))
    except OSError:
        return UNPRIVILEGED_PORT
    finally:
        probe.close()
    return DEFAULT_PORT


def _free_tcp_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    finally:
        probe.close()
    return port


def run(args: argparse.Namespace) -> int:
    port = args.port if args.port is not None else _default_port()
    update_port = args.update_port if args.update_port is not None else _free_tcp_port()
    settings = Settings(port, args.ip, args.speed, args.http_port, update_port)
    if args.state is not None:
        return asyncio.run(_demo(args.state, settings))
    with tempfile.TemporaryDirectory(prefix="ipgwsim-demo-") as state:
        return asyncio.run(_demo(Path(state), settings))


@dataclass(frozen=True)
class Settings:
    port: int
    ip: str
    speed: float
    http_port: int | None
    update_port: int


class DemoFailed(Exception):
    """A step did not give what the procedure expects; ``str()`` says what."""


def _print_events(events: list[tuple[str, Event]]) -> None:
    for _, event in events:
        line = describe(event, DEMO_LINES)
        if line is not None:
            print(line)


async def _press_for_tftp_mode(rt: Runtime, host: DeviceHost) -> None:
    _step("hold the reset button about 1.8 s (the LED must blink 3 times)")
    with rt.watch(host.name) as watcher:
        await rt.press(host.name, 1.8)
        _print_events(watcher.pending())
    mode = host.status().mode
    if mode is not Mode.TFTP_MODE:
        raise DemoFailed(f"the device is in {mode.value}, not TFTP mode")
    print("TFTP mode: the device has no IP address; only gwload can reach it")


async def _read_config(work: Path, ip: str, port: int, name: str) -> DumpedConfig:
    dump_file = work / "config.txt"
    _step(f"read the config with a standard TFTP client: GET {name}")
    await _tftp(ip, str(port), "-m", "binary", "-c", "get", name, str(dump_file))
    dump = dump_file.read_bytes()
    reading = read_dump(dump)
    count = len(reading.generations)
    print(f"{len(dump)} bytes: the config text {count} time(s), oldest first")
    newest = reading.newest
    if newest is None:
        raise DemoFailed("no complete generation in the dump")
    if reading.torn is not None:
        print(f"the last one is taken for a torn write: {reading.torn_reason}")
    print(f"newest generation (generation {newest.position} of the dump, from line {newest.line}):")
    for line in newest.text.splitlines():
        print(f"  {line}")
    return newest


async def _demo(state: Path, settings: Settings) -> int:
    from ipgwsim.runtime.runtime import Runtime  # noqa: PLC0415 (loaded on use)

    clock = ScaledClock(settings.speed)
    async with Runtime(
        state, port=settings.port, clock=clock, control=False, http_port=settings.http_port
    ) as rt:
        try:
            return await _procedure(rt, clock, state, settings)
        except DemoFailed as exc:
            print(f"FAILED: {describe_error(exc)}")
            return 1


async def _gwload(*args: str, port: int) -> str:
    """Run the gwload command line as a user would; its output."""
    shown = " ".join(args)
    loopback = ("/port", str(port), "/bcast", LOOPBACK_BROADCAST)
    print(f"$ gwload {shown} {' '.join(loopback)}", flush=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ipgwsim.tools.gwload_cmd",
        *args,
        *loopback,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace").rstrip()
    if text:
        print(text)
    if proc.returncode != 0:
        raise DemoFailed(f"gwload {shown} exited with status {proc.returncode}")
    return text


class ConsoleUser:
    """A person at the device's serial console (pyserial on its pty)."""

    def __init__(self, host: DeviceHost) -> None:
        self.host = host
        self.port: serial.Serial | None = None

    async def __aenter__(self) -> ConsoleUser:
        import serial  # noqa: PLC0415 (loaded on use)

        self.port = await asyncio.to_thread(serial.Serial, self.host.console.path, timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.port is not None:
            await asyncio.to_thread(self.port.close)

    async def type(self, text: str, until: str, *, show: str | None = None) -> str:
        """Type ``text`` and read until ``until``; print the line as typed (or ``show``)."""
        assert self.port is not None
        port = self.port
        await asyncio.to_thread(port.write, text.encode())
        data = await asyncio.to_thread(port.read_until, until.encode())
        out = data.decode("utf-8", "replace")
        if not out.endswith(until):
            if "login incorrect" in out:
                raise DemoFailed("the console refused the login")
            raise DemoFailed(f"the console stopped before {until!r}: {out[-200:]!r}")
        typed = show if show is not None else text.strip()
        if typed:
            print(f"console> {typed}")
        return out

    async def login(self, user: str, password: str, prompt: str) -> str:
        await self.type("\r", "login: ", show="")
        await self.type(f"{user}\r", "password: ", show=f"login: {user}")
        return await self.type(f"{password}\r", prompt, show="password: " + "*" * len(password))

    async def command(self, line: str, prompt: str) -> str:
        out = await self.type(line + "\r", prompt)
        answer = out[len(line) + 2 : -len(prompt)]
        for shown in answer.splitlines():
            if shown.strip():
                print(f"         {shown}")
        return answer


async def _curl(*args: str) -> tuple[int, str]:
    """Run curl as a user would; (HTTP status, body)."""
    curl = shutil.which("curl")
    if curl is None:
        raise DemoFailed("curl is missing: install Debian's curl (scripts/setup does)")
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"$ curl {shown}", flush=True)
    proc = await asyncio.create_subprocess_exec(
        curl, "-s", "-S", "--max-time", "20", "-w", "\n%{http_code}", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise DemoFailed(f"curl {shown} failed: {err.decode(errors='replace').strip()}")
    body, _, status = out.decode(errors="replace").rpartition("\n")
    print(f"HTTP {status}")
    for line in body.splitlines():
        print(f"  {line}")
    return int(status), body


async def _history(host: DeviceHost, update_url: str) -> str:
    """The admin's sessions on the console; returns the password that is then lost."""
    lost = "forgotten-" + secrets.token_hex(3)
    _step("its history: an admin configures it on the serial console and saves it three times")
    print(f"$ python3 -c 'import serial; serial.Serial(\"{host.console.path}\")'  (pyserial)")
    async with ConsoleUser(host) as console:
        await console.login("admin", PASSWORD, "IP6000> ")
        prompt = "IP6000> "
        await console.command("config change ETH0 /addr 192.168.0.10 /mask 255.255.255.0", prompt)
        await console.command(f"config change UP1 /url {update_url}", prompt)
        for name in HISTORY:
            user = f" /user admin,{lost}" if name == HISTORY[-1] else ""
            shown = f" /user admin,{'*' * len(lost)}" if user else ""
            await console.type(
                f"config change CMD0 /name {name} /log on{user}\r",
                prompt,
                show=f"config change CMD0 /name {name} /log on{shown}",
            )
            await console.command("config write", prompt)
            await console.command("config activate", f"{name}> ")
            prompt = f"{name}> "
        await console.command("reset", "login: ")
    print(f"... and nobody wrote the new password down (it was {lost})")
    return lost


async def _check_http(url: str, password: str, *, wrong: str) -> str:
    _step(f"log in over HTTP with the new password (admin/{password})")
    status, _ = await _curl("-u", f"admin:{wrong}", f"{url}/!config%20show")
    if status != 401:
        raise DemoFailed(f"the web server took the old password {wrong} (HTTP {status})")
    status, body = await _curl("-u", f"admin:{password}", f"{url}/!config%20show")
    if status != 200:
        raise DemoFailed(f"the web server refused admin/{password} (HTTP {status})")
    if "/user" in body:
        raise DemoFailed("config show over HTTP shows /user")
    return body


async def _update_server(work: Path, port: int) -> asyncio.subprocess.Process:
    """``python3 -m http.server`` on 127.0.0.1:port serving ``work``."""
    print(f"$ cd {work} && python3 -m http.server --bind 127.0.0.1 {port}", flush=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
        cwd=work,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    for _ in range(200):  # wait until it listens (a refused connect is quick)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return proc
    proc.kill()
    raise DemoFailed(f"python3 -m http.server did not listen on 127.0.0.1:{port}")


async def _recover_by_update_server(
    host: DeviceHost, clock: ScaledClock, work: Path, port: int, url: str
) -> str:
    name = HISTORY[-1]
    password = "upd4te-" + secrets.token_hex(2)
    _step("the update-server approach: the device polls the update server in its config")
    www = work / "www"
    www.mkdir(exist_ok=True)
    script = www / f"update-{host.profile.model.lower()}.htm"
    script.write_text(
        f"config change CMD0 /name {name} /log on /user admin,{password}\r\n"
        "config write\r\n"
        "config activate\r\n"
        f"config change CMD0 /name {name} /log on\r\n",
        newline="",
    )
    print(f"the script of Howto:Config or Password Recovery, {script.name} in {www}:")
    for line in script.read_text().splitlines():
        print(f"  {line}")
    server = await _update_server(www, port)
    try:
        assert server.stderr is not None
        firmware = host.device.firmware
        for minute in range(1, 32):
            clock.skip(60.0)
            print(f"(device time runs ahead one minute: {minute})")
            try:
                logged = await asyncio.wait_for(server.stderr.readline(), 3)
            except TimeoutError:
                continue
            print(f"update server: {logged.decode(errors='replace').strip()}")
            break
        else:
            raise DemoFailed("the device did not fetch its update script in 31 minutes")
        for _ in range(100):  # the script runs as soon as the answer is in
            firmware = host.device.firmware
            if firmware is not None and firmware.check_login("admin", password):
                break
            await asyncio.sleep(0.02)
        else:
            raise DemoFailed("the update script did not set the password")
        for text in list(host.console.lines)[-8:]:
            if "update" in text:
                print(f"console: {text}")
    finally:
        server.terminate()
        await server.wait()
    await _check_http(url, password, wrong=PASSWORD)
    return password


async def _procedure(rt: Runtime, clock: ScaledClock, state: Path, settings: Settings) -> int:
    port, ip, update_port = settings.port, settings.ip, settings.update_port
    [host] = rt.add_devices("IP6000", 1)
    status = host.status()
    _step(f"a simulated {status.model} on loopback, UDP port {port}")
    print(f"name {status.name}, MAC {status.mac}, console {host.console.path}")
    print(
        f"device: {status.mode.value}, ready LED {status.led.value}, "
        f"firmware {status.firmware_build}, boot code {status.boot_build}"
    )
    update_url = f"http://127.0.0.1:{update_port}/"
    lost = await _history(host, update_url)
    work = state / "lab"
    work.mkdir(exist_ok=True)
    newest = await _recover_by_tftp(rt, host, work, port, ip)

    server = await host.web_settled()
    if server is None:
        raise DemoFailed(f"the device serves no web pages: {host.errors}")
    url = server.url.rstrip("/")
    await _check_http(url, PASSWORD, wrong=lost)

    _step(f"log in on the console with the new password (admin/{PASSWORD})")
    async with ConsoleUser(host) as console:
        prompt = f"{HISTORY[-1]}> "
        await console.login("admin", PASSWORD, prompt)
        shown = await console.command("config show", prompt)
        if "/user" in shown or "CMD0 /name" not in shown:
            raise DemoFailed("config show on the console is not the recovered config")
        await console.command("logout", "login: ")

    password = await _recover_by_update_server(host, clock, work, update_port, url)
    final = host.status()
    print(
        f"\nSUCCESS: config recovered from generation {newest.position} of the dump over TFTP, "
        f"admin/{PASSWORD} taken over HTTP and on the console; the update server then set "
        f"admin/{password}; {final.model} running firmware {final.firmware_build} "
        f"(LED {final.led.value})"
    )
    return 0


async def _recover_by_tftp(
    rt: Runtime, host: DeviceHost, work: Path, port: int, ip: str
) -> DumpedConfig:
    await _press_for_tftp_mode(rt, host)

    _step("give the device in TFTP mode an address")
    await _gwload("/gwtype", "6000", "/i", ip, "/setip", port=port)

    newest = await _read_config(work, ip, port, "config")

    from ipgwsim.firmware.config import with_admin_password  # noqa: PLC0415 (loaded on use)

    _step("set a known admin password on the CMD0 line and send the config with gwload")
    edited = work / "config-new.txt"
    edited.write_text(with_admin_password(newest.text, "admin", PASSWORD), newline="")
    for line in edited.read_text().splitlines():
        print(f"  {line}")
    with rt.watch(host.name) as watcher:
        await _gwload("/gwtype", "6000", "/i", ip, "/setip", "/cfg", str(edited), port=port)
        try:
            first = await watcher.next(timeout=30)
        except TimeoutError as exc:
            raise DemoFailed(f"the device did not restart after gwload /cfg: {exc}") from None
        _print_events([first, *watcher.pending()])
    final = host.status()
    if final.mode is not Mode.FIRMWARE:
        raise DemoFailed(f"the device is in {final.mode.value}")

    _step("the device stored the config; the firmware's first start moved /user into a crypted var")
    for line in list(host.console.lines)[-12:]:
        if any(word in line for word in ("config stored", "crypted", "HTTP:", "ETH0")):
            print(f"console: {line}")
    ring = ConfigRing(PartitionTable(host.device.flash, host.device.profile)["config"])
    texts = [g.text for g in ring.generations()]
    if edited.read_bytes().decode() not in texts:
        raise DemoFailed("the config sent is not in the device's ring")
    if "/user" in (texts[-1] if texts else "/user"):
        raise DemoFailed("the newest config still shows /user")
    number = ring.newest.number if ring.newest is not None else 0
    print(f"newest generation {number} of the ring has no /user:")
    for line in texts[-1].splitlines():
        print(f"  {line}")

    return newest

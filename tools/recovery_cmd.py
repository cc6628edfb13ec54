"""``ipgwsim demo``: the seed's TFTP config recovery on a simulated IP6000, step by step.

A simulated IP6000 runs on loopback (no root needed). The demo holds its reset
button for 1.8 s and watches the ready LED blink three times, gives the device
in TFTP mode an address (``gwload /gwtype 6000 /i IP /setip``), reads the
config ring with the real tftp-hpa client (``tftp ... get config``), finds the
newest generation, adds a known admin password and sends the config back
(``gwload ... /setip /cfg config.txt``), which restarts the device. Every step
prints what a person would see; the last line says whether it worked.

The device's earlier ``config write`` commands are written into its config ring
directly (the firmware's config commands are not simulated yet); everything
after that goes through the device's real interfaces.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from ipgwsim.events import ButtonBlink, Event, LedChanged, Mode, ModeChanged
from ipgwsim.firmware.config import with_admin_password
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing, Generation, newest_generation, scan_records
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.loopback import LOOPBACK_BROADCAST
from ipgwsim.runtime.runtime import Runtime

DEFAULT_IP = "127.0.0.2"
#: The known password the recovery sets (the seed's example).
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
        help="UDP port of the devices (default 69 as root, else 6969)",
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
    parser.set_defaults(handler=run)


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _show(event: Event) -> str | None:
    if isinstance(event, ButtonBlink):
        return f"ready LED: blink {event.count}"
    if isinstance(event, LedChanged):
        return f"ready LED: {event.led.value}"
    if isinstance(event, ModeChanged):
        return f"device: {event.mode.value} ({event.reason})"
    return None


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
    if os.geteuid() != 0:
        return 6969
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((LOOPBACK_BROADCAST, 69))
    except OSError:
        return 6969
    finally:
        probe.close()
    return 69


def run(args: argparse.Namespace) -> int:
    port = args.port if args.port is not None else _default_port()
    if args.state is not None:
        return asyncio.run(_demo(args.state, port, args.ip, args.speed))
    with tempfile.TemporaryDirectory(prefix="ipgwsim-demo-") as state:
        return asyncio.run(_demo(Path(state), port, args.ip, args.speed))


class DemoFailed(Exception):
    """A step did not give what the procedure expects; ``str()`` says what."""


def _print_events(events: list[tuple[str, Event]]) -> None:
    for _, event in events:
        line = _show(event)
        if line is not None:
            print(line)


def _write_history(host: DeviceHost) -> None:
    _step("its history: the admin saved the config three times, then lost the password")
    ring = ConfigRing(PartitionTable(host.device.flash, host.device.profile)["config"])
    for name in HISTORY:
        generation = ring.write(
            f"config change CMD0 /name {name} /log on\r\n"
            "config change ETH0 /addr 192.168.0.10 /mask 255.255.255.0\r\n"
        )
        print(f"config write: generation {generation.number} ({name})")
    host.schedule_save()


async def _press_for_tftp_mode(rt: Runtime, host: DeviceHost) -> None:
    _step("hold the reset button about 1.8 s (the LED must blink 3 times)")
    with rt.watch(host.name) as watcher:
        await rt.press(host.name, 1.8)
        _print_events(watcher.pending())
    mode = host.status().mode
    if mode is not Mode.TFTP_MODE:
        raise DemoFailed(f"the device is in {mode.value}, not TFTP mode")
    print("TFTP mode: the device has no IP address; only gwload can reach it")


async def _read_config(work: Path, ip: str, port: int, name: str) -> Generation:
    dump_file = work / "config.txt"
    _step(f"read the config with a standard TFTP client: GET {name}")
    await _tftp(ip, str(port), "-m", "binary", "-c", "get", name, str(dump_file))
    dump = dump_file.read_bytes()
    generations = list(scan_records(dump))
    print(f"{len(dump)} bytes: {len(generations)} generation(s) of config text in the ring")
    newest = newest_generation(dump)
    if newest is None:
        raise DemoFailed("no complete generation in the dump")
    print(f"newest generation {newest.number}:")
    for line in newest.text.splitlines():
        print(f"  {line}")
    return newest


async def _demo(state: Path, port: int, ip: str, speed: float) -> int:
    async with Runtime(state, port=port, clock=ScaledClock(speed), control=False) as rt:
        try:
            return await _procedure(rt, state, port, ip)
        except DemoFailed as exc:
            print(f"FAILED: {exc}")
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


async def _procedure(rt: Runtime, state: Path, port: int, ip: str) -> int:
    [host] = rt.add_devices("IP6000", 1)
    status = host.status()
    _step(f"a simulated {status.model} on loopback, UDP port {port}")
    print(f"name {status.name}, MAC {status.mac}, console {host.console.path}")
    print(
        f"device: {status.mode.value}, ready LED {status.led.value}, "
        f"firmware {status.firmware_build}, boot code {status.boot_build}"
    )
    _write_history(host)
    await _press_for_tftp_mode(rt, host)

    _step("give the device in TFTP mode an address")
    await _gwload("/gwtype", "6000", "/i", ip, "/setip", port=port)

    work = state / "lab"
    work.mkdir(exist_ok=True)
    newest = await _read_config(work, ip, port, "config")

    _step("set a known admin password on the CMD0 line and send the config with gwload")
    edited = work / "config-new.txt"
    edited.write_text(with_admin_password(newest.text, "admin", PASSWORD), newline="")
    for line in edited.read_text().splitlines():
        print(f"  {line}")
    with rt.watch(host.name) as watcher:
        await _gwload("/gwtype", "6000", "/i", ip, "/setip", "/cfg", str(edited), port=port)
        first = await watcher.next(timeout=30)
        _print_events([first, *watcher.pending()])
    for line in list(host.console.lines)[-12:]:
        if "config stored" in line or "crypted" in line or "user" in line:
            print(f"console: {line}")
    final = host.status()
    if final.mode is not Mode.FIRMWARE:
        raise DemoFailed(f"the device is in {final.mode.value}")

    _step("the firmware's first start moved /user into a crypted var")
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
    firmware = host.device.firmware
    if firmware is None or not firmware.check_login("admin", PASSWORD):
        raise DemoFailed(f"the device does not take admin/{PASSWORD}")
    print(f"login admin/{PASSWORD}: accepted (kept as the crypted var CMD0/AUTH)")
    print(
        f"\nSUCCESS: config recovered from generation {newest.number} of the ring, "
        f"password set, {final.model} running firmware {final.firmware_build} "
        f"(LED {final.led.value})"
    )
    return 0

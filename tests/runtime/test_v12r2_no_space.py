"""The v12r1 → v12r2 upgrade that runs out of flash, and the article's way out (real runtime, curl).

Howto:Firmware Upgrade V12r1 V12r2: "devices may run out of flash memory during upgrade";
the web GUI says ``Firmwareupdate failed:no space``; the way out is: save the entire
configuration, reset to factory defaults, load the saved configuration ("this will
reorganize flash memory usage"), upgrade. Afterwards less flash is allocatable for the
LDAP directory (``mod cmd FLASHMAN0 info state``).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from ipgwsim.events import Mode
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.web import curl, short_press

pytestmark = pytest.mark.integration
needs_curl = pytest.mark.requires("curl")

ADMIN = ("-u", "admin:ip6000")
MIB = 1024 * 1024
#: Keys of the LDAP directory's call-list entries and how often each is rewritten.
KEYS, ROUNDS, VALUE = 100, 36, 3000


def _info(body: str, row: str) -> dict[str, int]:
    """``KEY VALUE`` pairs of one row of ``mod cmd FLASHMAN0 info state``."""
    line = next(line for line in body.split("\r\n") if line.startswith(row + " "))
    words = line.split()[1:]
    return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}


async def _info_state(url: str) -> str:
    status, body = await curl(*ADMIN, f"{url}/!mod%20cmd%20FLASHMAN0%20info%20state")
    assert status == 200, body
    return body


async def _restart(url: str, host: DeviceHost) -> str:
    """``/!reset``: the device restarts; its web server comes back with the next firmware."""
    status, body = await curl(*ADMIN, f"{url}/!reset")
    assert (status, body) == (200, "reset\r\n")
    server = await host.web_settled()
    assert server is not None, host.errors
    return server.url.rstrip("/")


async def _build(url: str) -> str:
    status, body = await curl(f"{url}/CMD0/box_info.xml")
    assert status == 200
    match = re.search(r"IP6000\[([^\]]+)\]", body)
    assert match is not None, body
    return match.group(1)


#: The device's own address, fixed as in any installation (a firmware reset keeps it).
ETH0 = "config change ETH0 /addr 192.168.0.1 /mask 255.255.255.0"


def _images(prot: int, folder: Path) -> tuple[Path, Path]:
    """v12r1 nearly fills the firmware slot; v12r2 is 0.4 MB larger (the article)."""
    v12r1 = build_image(ImageKind.FIRMWARE, "IP6000", "12-6000.01", bytes(prot - MIB))
    v12r2 = build_image(
        ImageKind.FIRMWARE,
        "IP6000",
        "12-6000.20",
        bytes(prot - MIB + 1400 * 1024 - IMAGE_HEADER_SIZE),
    )
    assert len(v12r2) > prot  # it must continue into the flash directory's sectors
    (folder / "v12r1.bin").write_bytes(v12r1)
    (folder / "v12r2.bin").write_bytes(v12r2)
    return folder / "v12r1.bin", folder / "v12r2.bin"


async def _upload(url: str, image: Path) -> tuple[int, str]:
    return await curl(*ADMIN, "-F", f"file=@{image}", f"{url}/upload/prot")


async def _years_of_call_lists(url: str, folder: Path) -> None:
    """The LDAP directory's log fills one bank and moves on to the other."""
    lines = [
        f"mod cmd FLASHDIR0 add-item cn=call{k:03d} (info={r:02d}{'x' * VALUE}"
        for r in range(ROUNDS)
        for k in range(KEYS)
    ]
    churn = folder / "calls.txt"
    churn.write_text(
        "config change CMD0 /name pbx1 /log on\r\n" + ETH0 + "\r\n" + "\r\n".join(lines) + "\r\n"
    )
    status, body = await curl(*ADMIN, "-T", str(churn), f"{url}/upload/config")
    assert status == 200, body


async def _long_reset(rt: Runtime, clock: ManualClock, host: DeviceHost) -> str:
    """Hold the reset button 12 s (factory defaults), then restart from TFTP mode."""
    released = rt.press(host.name, 12.0)
    await clock.advance(12.0)
    await asyncio.wait_for(released, 5)
    for _ in range(600):  # clearing takes its device time
        if host.status().mode is Mode.TFTP_MODE:
            break
        await clock.advance(0.1)
    assert host.status().mode is Mode.TFTP_MODE
    return await short_press(rt, clock, host)  # a short press restarts into the firmware


async def _no_space_then_save(url: str, host: DeviceHost, v12r2: Path, folder: Path) -> Path:
    """The upgrade fails with no space; the old firmware stays; the config is saved."""
    # The upgrade: no space, in the web answer and as the event; the old firmware stays.
    status, body = await _upload(url, v12r2)
    assert status == 507
    assert body.startswith("Firmwareupdate failed:no space\r\n")
    assert "the flash directory holds sectors" in body
    assert "Error 0x00130001 Major FLASHMAN0 no space" in (await curl(*ADMIN, f"{url}/log.txt"))[1]
    host.power(False)
    host.power(True)
    server = await host.web_settled()
    assert server is not None
    assert await _build(url) == "12-6000.01"

    # Save the entire configuration; reset to factory defaults.
    status, saved = await curl(*ADMIN, f"{url}/cfg.txt")
    assert status == 200
    assert saved.count("mod cmd FLASHDIR0 add-item") == KEYS
    (folder / "saved.txt").write_text(saved, newline="")
    # Loading it again without the factory reset reorganizes nothing.
    load = ("-T", str(folder / "saved.txt"), f"{url}/upload/config")
    assert (await curl(*ADMIN, *load))[0] == 200
    assert (await _upload(url, v12r2))[0] == 507
    return folder / "saved.txt"


@needs_curl
def test_v12r2_does_not_fit_until_the_config_is_saved_reset_and_loaded(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            v12r1, v12r2 = _images(host.device.profile.region("prot").size, tmp_path)
            for command in (ETH0, "config write"):
                assert (await curl(*ADMIN, f"{url}/!{command.replace(' ', '%20')}"))[0] == 200
            status, body = await _upload(url, v12r1)
            assert (status, body) == (
                200,
                "Firmwareupdate ok: 12-6000.01 stored, runs after a restart\r\n",
            )
            url = await _restart(url, host)
            assert await _build(url) == "12-6000.01"
            await _years_of_call_lists(url, tmp_path)
            before = _info(await _info_state(url), "ldap")
            assert before["items"] == KEYS

            saved = await _no_space_then_save(url, host, v12r2, tmp_path)
            url = await _long_reset(rt, clock, host)
            status, body = await curl(*ADMIN, f"{url}/!config%20show")
            assert body.startswith("config change CMD0 /name IP6000\r\n")  # factory defaults
            assert _info(await _info_state(url), "ldap")["items"] == 0

            # Load the saved configuration (the directory comes back, compact), upgrade.
            status, body = await curl(*ADMIN, "-T", str(saved), f"{url}/upload/config")
            assert status == 200, body
            assert body.startswith(
                f"config loaded: 2 modules, 0 vars, {KEYS} flash directory items"
            )
            status, body = await _upload(url, v12r2)
            assert (status, body) == (
                200,
                "Firmwareupdate ok: 12-6000.20 stored, runs after a restart\r\n",
            )
            url = await _restart(url, host)
            assert await _build(url) == "12-6000.20"

            # Less room for the LDAP directory than before; every call list is there.
            state = await _info_state(url)
            after = _info(state, "ldap")
            assert after["items"] == KEYS
            assert after["allocatable"] < before["allocatable"]
            assert _info(state, "firmware")["spill"] > 0
            status, calls = await curl(*ADMIN, f"{url}/!mod%20cmd%20FLASHDIR0%20list")
            assert status == 200
            assert calls.count("\r\n") == KEYS
            assert f"cn=call042 (info={ROUNDS - 1:02d}x" in calls

    run(main(), timeout=180)

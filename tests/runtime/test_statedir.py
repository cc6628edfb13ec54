"""The state directory: restart = power cycle with the flash kept, lock, serials, cleanup."""

from __future__ import annotations

import asyncio
import socket
import tomllib
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import tftpy

from ipgwsim.events import Led, Mode
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.proto import gwload
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.devicespec import normalize_mac
from ipgwsim.runtime.errors import StateDirBusy, UnknownDevice
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.runtime.statedir import default_state_dir
from ipgwsim.testing.loopback import Ports, enter_tftp_mode, free_loopback_ip, run

pytestmark = pytest.mark.integration


def newest_config(host: DeviceHost) -> str | None:
    return ConfigRing(PartitionTable(host.flash, host.profile)["config"]).newest_text()


@pytest.mark.usefixtures("private_registry")
def test_restart_keeps_identity_and_config(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"
    port = ports.udp()
    ip = free_loopback_ip(port)
    text = "config change CMD0 /name kept-over-restart\r\n"
    upload = tmp_path / "config.txt"
    upload.write_text(text, newline="")

    async def first_run() -> tuple[str, str]:
        clock = ManualClock()
        async with Runtime(state, port=port, http_port=ports.tcp(), clock=clock) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            await enter_tftp_mode(rt, clock, host.name)
            assert await _setip(port, ip) == ip  # the HELLO comes from the new address
            await asyncio.to_thread(
                tftpy.TftpClient(ip, port).upload, "config", str(upload), timeout=5
            )
            await clock.advance(30)
            assert newest_config(host) == text
            assert host.console.path is not None
            assert (state / host.name / "console").resolve() == Path(host.console.path)
            assert (state / "control.sock").exists()
            return host.name, host.mac

    name, mac = run(first_run())
    assert name == "ip6000-1"
    folder = state / name
    assert sorted(p.name for p in folder.iterdir()) == ["flash.img", "instance.toml"]
    assert not (state / "control.sock").exists()
    instance = tomllib.loads((folder / "instance.toml").read_text())
    assert instance == {"model": "IP6000", "name": "ip6000-1", "serial": "009033100001"}

    async def second_run() -> None:
        clock = ManualClock()
        async with Runtime(state, port=port, http_port=ports.tcp(), clock=clock) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            assert (host.name, host.mac) == (name, mac)
            # A power cycle: the device starts its firmware, with the config kept.
            assert (host.status().mode, host.status().led) == (Mode.FIRMWARE, Led.GREEN)
            assert newest_config(host) == text
            more = rt.add_devices("IP6000", 2)
            assert [h.name for h in more] == ["ip6000-2", "ip6000-3"]

    run(second_run())


async def _setip(port: int, ip: str) -> str:
    """SETIP with the project's codec (the independent client is in the gwload tests)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("0.0.0.0", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        request = gwload.SetIp(
            1,
            gwload.ANY_MAC,
            gwload.ANY_GWTYPE,
            ip=IPv4Address(ip),
            mask=IPv4Address("255.0.0.0"),
            gateway=IPv4Address("0.0.0.0"),
        )
        await loop.sock_sendto(sock, gwload.encode_message(request), ("127.255.255.255", port))
        data, src = await asyncio.wait_for(loop.sock_recvfrom(sock, 2048), 5)
        assert isinstance(gwload.parse_message(data), gwload.Hello)
        return str(src[0])
    finally:
        sock.close()


def test_a_locked_state_dir_is_refused_with_its_name(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"

    async def main() -> None:
        async with Runtime(state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()):
            other = Runtime(state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock())
            with pytest.raises(StateDirBusy, match="in use by another ipgwsim runtime") as info:
                await other.start()
            assert str(state) in str(info.value)
        # Released at stop: the next runtime gets it.
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            assert rt.add_devices("IP800", 1)[0].name == "ip800-1"

    run(main())


@pytest.mark.usefixtures("private_registry")
def test_serials_are_unique_across_models(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"

    async def main() -> None:
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            hosts = rt.add_devices("IP6000", 2) + rt.add_devices("IP800", 2)
            assert [h.name for h in hosts] == ["ip6000-1", "ip6000-2", "ip800-1", "ip800-2"]
            assert [h.mac for h in hosts] == [f"00:90:33:10:00:0{n}" for n in (1, 2, 3, 4)]
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            (late,) = rt.add_devices("811", 1)
            assert (late.name, late.mac) == ("ip811-1", "00:90:33:10:00:05")
            # Devices are found by name or MAC in any spelling.
            for key in (
                "ip811-1",
                "IP811-1",
                "00:90:33:10:00:05",
                "00-90-33-10-00-05",
                "0090.3310.0005",
                "009033100005",
                "0:90:33:10:0:5",
            ):
                assert rt.device(key) is late
            with pytest.raises(UnknownDevice, match=r"no device 'ip6000-1'.*ip811-1"):
                rt.device("ip6000-1")  # on disk, but not running

    run(main())


def test_a_fleet_shares_flash_memory(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"

    async def main(count: int) -> int:
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            hosts = rt.add_devices("IP6000", count)
            assert all(h.status().mode is Mode.FIRMWARE for h in hosts)
            return sum(h.flash.memory_bytes() for h in hosts)

    assert run(main(40)) == 0  # clones of one factory flash: no private sectors
    assert run(main(40)) == 0  # loaded images: equal sectors interned
    assert len(list(state.glob("ip6000-*/flash.img"))) == 40


def test_empty_firmware_devices_start_in_tftp_mode(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with Runtime(
            tmp_path / "s", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1, empty_firmware=True)
            status = host.status()
            assert (status.mode, status.led, status.firmware_build) == (
                Mode.TFTP_MODE,
                Led.RED_FLASHING,
                None,
            )

    run(main())


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IPGWSIM_STATE", str(tmp_path / "explicit"))
    assert default_state_dir() == tmp_path / "explicit"
    monkeypatch.delenv("IPGWSIM_STATE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "ipgwsim"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "ipgwsim"


def test_normalize_mac() -> None:
    assert normalize_mac("00:90:33:AB:CD:EF") == "009033abcdef"
    assert normalize_mac("0:90:33:ab:cd:e") == "009033abcd0e"
    assert normalize_mac("ip6000-1") is None
    assert normalize_mac("00:90:33:ab:cd") is None

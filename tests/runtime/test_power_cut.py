"""Cutting a device's power at a chosen flash operation, during a real TFTP upload."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from ipgwsim.events import Mode, PoweredOff
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.proto import gwload
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, enter_tftp_mode, free_loopback_ip, run

pytestmark = pytest.mark.integration

OLD = "config change CMD0 /name before-the-cut\r\n"
NEW = "config change CMD0 /name during-the-cut\r\nconfig change ETH0 /dhcp off\r\n"


def newest_config(host: DeviceHost) -> str | None:
    return ConfigRing(PartitionTable(host.flash, host.profile)["config"]).newest_text()


async def setip(port: int, ip: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("0.0.0.0", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    request = gwload.SetIp(
        1,
        gwload.ANY_MAC,
        gwload.ANY_GWTYPE,
        ip=IPv4Address(ip),
        mask=IPv4Address("255.0.0.0"),
        gateway=IPv4Address("0.0.0.0"),
    )
    try:
        await loop.sock_sendto(sock, gwload.encode_message(request), ("127.255.255.255", port))
        data, _src = await asyncio.wait_for(loop.sock_recvfrom(sock, 2048), 5)
        assert isinstance(gwload.parse_message(data), gwload.Hello)
    finally:
        sock.close()


async def send_config(ip: str, port: int, text: str) -> socket.socket:
    """A plain RFC 1350 upload (WRQ, ACK 0, one DATA); the socket waits for the last ACK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_sendto(sock, b"\x00\x02config\x00octet\x00", (ip, port))
    ack, transfer = await asyncio.wait_for(loop.sock_recvfrom(sock, 1024), 5)
    assert ack == b"\x00\x04\x00\x00", ack
    data = text.encode()
    assert len(data) < 512
    await loop.sock_sendto(sock, b"\x00\x03\x00\x01" + data, transfer)
    return sock


async def put_config(ip: str, port: int, text: str) -> None:
    with await send_config(ip, port, text) as sock:
        last = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 1024), 5)
        assert last == b"\x00\x04\x00\x01", last


@pytest.mark.parametrize("mode", ["torn", "atomic"])
@pytest.mark.parametrize("at_op", [1, 2])
def test_cut_during_a_config_upload(tmp_path: Path, mode: str, at_op: int, ports: Ports) -> None:
    state = tmp_path / "state"
    port = ports.udp()
    ip = free_loopback_ip(port)
    texts = [f"config change CMD0 /name before-the-cut-{n}\r\n" for n in range(at_op)]
    new = "config change CMD0 /name during-the-cut\r\nconfig change ETH0 /dhcp off\r\n"
    seen: list[str | None] = []

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(state, port=port, http_port=ports.tcp(), clock=clock) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            await enter_tftp_mode(rt, clock, host.name)
            await setip(port, ip)
            await put_config(ip, port, texts[0])
            await clock.advance(30)  # the transfer's dally ends
            armed = rt.cut(host.name, at_op, mode)
            assert armed == host.flash.faults.count + at_op
            for text in texts[1:]:  # a config write is one flash operation here
                await put_config(ip, port, text)
                await clock.advance(30)
            assert newest_config(host) == texts[-1]

            with rt.watch(host.name) as watcher, await send_config(ip, port, new) as sock:
                _name, event = await watcher.next(10)
                while not isinstance(event, PoweredOff):
                    _name, event = await watcher.next(10)
                events = [event]
                with pytest.raises(BlockingIOError):
                    sock.recv(1024)  # no last ACK: the power went off before it
            cuts = [e for e in events if isinstance(e, PoweredOff)]
            assert len(cuts) == 1
            assert f"power lost at flash operation {armed}:" in cuts[0].cause
            assert host.status().mode is Mode.OFF
            assert any("power off: power cut" in line for line in host.console.tail())

            rt.power(host.name, True)
            assert host.status().mode is Mode.FIRMWARE
            survivor = newest_config(host)
            assert survivor in (texts[-1], new), survivor
            if mode == "atomic":
                assert survivor == texts[-1]  # nothing of the interrupted write landed
            seen.append(survivor)
            assert rt.errors == []
        # The saved image says the same after a restart.
        async with Runtime(state, port=port, http_port=ports.tcp(), clock=ManualClock()) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            assert newest_config(host) == seen[0]

    run(main())

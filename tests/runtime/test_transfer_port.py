"""A TFTP transfer port another program holds: the device does not pick it.

The test binds the transfer ports itself and makes the device choose them (its randomness
is given to it), then uses tftp-hpa's ``tftp`` and the repo's gwload as a user would.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
from pathlib import Path

import pytest

from ipgwsim.boot.transfers import TID_RANGE
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.loopback import LoopbackNetwork
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run
from ipgwsim.testing.needs import find_program

pytestmark = pytest.mark.integration

TFTP = find_program("tftp")
GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]


class PlannedPorts(random.Random):
    """A device's randomness whose next TFTP transfer ports are chosen by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.ports: list[int] = []

    def randint(self, a: int, b: int) -> int:
        if (a, b) == TID_RANGE and self.ports:
            return self.ports.pop(0)
        return super().randint(a, b)


def squat_transfer_port(ip: str) -> socket.socket:
    """A socket of the test's own on ``(ip, P)``, P one of the device's transfer ports."""
    rng = random.Random()
    for _ in range(200):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((ip, rng.randint(*TID_RANGE)))
        except OSError:
            sock.close()
            continue
        return sock
    raise AssertionError(f"no transfer port on {ip} could be bound")


async def program(*argv: str, cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.requires("tftp")
def test_a_transfer_port_another_program_holds_is_not_picked(tmp_path: Path, ports: Ports) -> None:
    """Another program (here the test's sockets; on a shared host another runtime's device
    at the same address, or a tool) holds the port the device draws first: the device
    draws again, and tftp-hpa (which never asks twice), gwload and an upload are served at
    once. (A port taken between that check and the bind still ends the transfer with an
    ERROR that asks for the request again: tests/boot/test_port_failed.py.)"""
    assert TFTP is not None
    port = ports.udp()
    ip = free_loopback_ip(port)
    squatters = [squat_transfer_port(ip) for _ in range(3)]
    blocked = [sock.getsockname()[1] for sock in squatters]
    planned = PlannedPorts()
    config = tmp_path / "new.txt"
    config.write_text("config change CMD0 /name first-try\r\n", newline="")
    loopback = ["/port", str(port), "/bcast", "127.255.255.255"]

    async def main() -> None:
        async with Runtime(
            tmp_path / "state",
            port=port,
            http_port=ports.tcp(),
            clock=ManualClock(),
            device_rng=lambda _: planned,
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1, empty_firmware=True)  # TFTP mode
            gwload = [*GWLOAD, "/gwtype", "6000", "/i", ip]
            code, out = await program(*gwload, "/setip", *loopback, cwd=tmp_path)
            assert code == 0, out

            planned.ports = [blocked[0]]
            tftp = [TFTP, ip, str(port), "-m", "binary", "-c"]
            code, out = await program(*tftp, "get", "config", "dump.txt", cwd=tmp_path)
            assert (code, out) == (0, "")
            assert b"config change CMD0 /name IP6000" in (tmp_path / "dump.txt").read_bytes()
            assert planned.ports == []  # the blocked port was drawn, and passed over

            planned.ports = [blocked[1]]
            got = str(tmp_path / "got.txt")
            code, out = await program(*gwload, "/getcfg", got, *loopback, cwd=tmp_path)
            assert code == 0, out
            assert "asks for the request again" not in out, out

            planned.ports = [blocked[2]]
            code, out = await program(*tftp, "put", str(config), "config", cwd=tmp_path)
            assert (code, out) == (0, "")
            lines = host.console.tail()
            assert any("tftp: config stored as generation" in line for line in lines), lines
            assert rt.errors == []  # no bind failed

    try:
        run(main(), timeout=90)
    finally:
        for sock in squatters:
            sock.close()


def test_the_loopback_network_says_whether_a_port_can_be_bound(ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)
    network = LoopbackNetwork(port)
    free = network.port_policy()
    squatter = squat_transfer_port(ip)
    try:
        assert not free(squatter.getsockname())
    finally:
        address = squatter.getsockname()
        squatter.close()
    assert free(address)

"""A TFTP transfer port the runtime cannot bind: the client learns it at once, a retry works.

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

from ipgwsim.boot.tftpmode import TID_RANGE
from ipgwsim.proto.tftp import SEND_AGAIN
from ipgwsim.runtime.clock import ManualClock
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
def test_a_transfer_port_in_use_is_refused_at_once_and_a_retry_works(
    tmp_path: Path, ports: Ports
) -> None:
    assert TFTP is not None
    port = ports.udp()
    ip = free_loopback_ip(port)
    squatters = [squat_transfer_port(ip) for _ in range(3)]
    blocked = [sock.getsockname()[1] for sock in squatters]
    planned = PlannedPorts()
    config = tmp_path / "new.txt"
    config.write_text("config change CMD0 /name after-a-retry\r\n", newline="")
    loopback = ["/port", str(port), "/bcast", "127.255.255.255"]

    def refusal(transfer_port: int) -> str:
        return (
            f"transfer port {transfer_port} cannot be opened (cannot bind UDP {ip}:{transfer_port}"
            f": address in use (another program holds it)); {SEND_AGAIN}"
        )

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

            # tftp-hpa: the ERROR comes at once (tftp-hpa exits 0 and prints it) ...
            planned.ports = [blocked[0]]
            tftp = [TFTP, ip, str(port), "-m", "binary", "-c"]
            code, out = await program(*tftp, "get", "config", "dump.txt", cwd=tmp_path)
            assert f"Error code 0: {refusal(blocked[0])}" in out, out
            # ... and the same request again is served from another port.
            code, out = await program(*tftp, "get", "config", "dump.txt", cwd=tmp_path)
            assert (code, out) == (0, "")
            assert b"config change CMD0 /name IP6000" in (tmp_path / "dump.txt").read_bytes()

            # gwload sends the request again by itself.
            planned.ports = [blocked[1]]
            got = str(tmp_path / "got.txt")
            code, out = await program(*gwload, "/getcfg", got, *loopback, cwd=tmp_path)
            assert code == 0, out
            assert f"the device asks for the request again ({refusal(blocked[1])})" in out
            assert "getcfg: " in out

            # An upload: refused at once, and sent again it is stored (no "busy").
            planned.ports = [blocked[2]]
            code, out = await program(*tftp, "put", str(config), "config", cwd=tmp_path)
            assert f"Error code 0: {refusal(blocked[2])}" in out, out
            code, out = await program(*tftp, "put", str(config), "config", cwd=tmp_path)
            assert (code, out) == (0, "")
            lines = host.console.tail()
            assert any("tftp: config stored as generation" in line for line in lines), lines

            # The runtime said what it could not do, once per port.
            assert rt.errors == [
                f"ip6000-1: cannot bind UDP {ip}:{p}: address in use (another program holds it)"
                for p in blocked
            ]

    try:
        run(main(), timeout=90)
    finally:
        for sock in squatters:
            sock.close()

"""A flood of TFTP read requests on real sockets: the runtime stays responsive.

Every RRQ once opened a transfer on a port of its own; a flood that never acknowledged
took every transfer port, and then the port search looped for ever and the whole runtime
stopped. Here 200 clients (on 20 loopback addresses of the test's own, ports from the
kernel) each send an option-less RRQ for ``config`` and never acknowledge.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from ipgwsim.boot.transfers import MAX_TRANSFERS
from ipgwsim.proto.tftp import Data, Error, ReadRequest, encode_packet, parse_packet
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run

pytestmark = pytest.mark.integration

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]


def client(ip: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind((ip, 0))  # a port the kernel gives: never one another run holds
    return sock


def test_a_read_flood_is_bounded_and_the_runtime_answers(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)
    # 200 sockets, two on each address (each socket's request is a request of its own).
    clients = [client(f"127.88.{a}.{b}") for a in range(1, 21) for b in range(1, 6) for _ in "ab"]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            (host,) = rt.add_devices("IP6000", 1, empty_firmware=True)  # TFTP mode
            setip = await asyncio.create_subprocess_exec(
                *GWLOAD, "/gwtype", "6000", "/i", ip, "/setip", "/port", str(port),
                "/bcast", "127.255.255.255", stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            assert await asyncio.wait_for(setip.wait(), 30) == 0
            request = encode_packet(ReadRequest("config"))
            for sock in clients:
                sock.sendto(request, (ip, port))
            answers = [
                parse_packet((await asyncio.wait_for(loop.sock_recvfrom(sock, 65535), 10))[0])
                for sock in clients
            ]
            served = [a for a in answers if isinstance(a, Data)]
            refused = [a for a in answers if isinstance(a, Error)]
            assert len(served) == MAX_TRANSFERS
            assert len(refused) == len(clients) - MAX_TRANSFERS
            assert all(a.message.startswith("busy: ") for a in refused)
            assert host.device.boot.tftp is not None
            assert host.device.boot.tftp.transfers_running == MAX_TRANSFERS
            assert rt.status()[0].mode.value == "TFTP mode"  # the runtime still answers
            # The flood's transfers give up in device time; then a client is served again.
            await clock.advance(600)
            assert host.device.boot.tftp.transfers_running == 0
            late = client("127.88.99.1")
            clients.append(late)
            late.sendto(request, (ip, port))
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(late, 65535), 10)
            assert isinstance(parse_packet(data), Data)

    try:
        run(main(), timeout=120)
    finally:
        for sock in clients:
            sock.close()

"""gwload's SETIP waits while the device is busy, as its GO, RESET and uploads do.

A read whose last block waits for its final ACK keeps TFTP mode busy (NAK 4) until the
device has given up on it; gwload exited at once with that NAK. The device runs ten times
faster than real time here, so it gives up on its own within a second.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from ipgwsim.proto.tftp import Ack, Data, ReadRequest, encode_packet, parse_packet
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run

pytestmark = pytest.mark.integration

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]


async def gwload(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *GWLOAD, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def test_setip_waits_for_a_read_that_waits_for_its_last_ack(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)
    where = ["/gwtype", "6000", "/port", str(port), "/bcast", "127.255.255.255"]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with Runtime(
            tmp_path / "state", port=port, http_port=ports.tcp(), clock=ScaledClock(10)
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1, empty_firmware=True)  # TFTP mode
            code, out = await gwload(*where, "/i", ip, "/setip")
            assert code == 0, out
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            client.setblocking(False)
            client.bind(("127.0.0.1", 0))
            try:
                client.sendto(encode_packet(ReadRequest("config")), (ip, port))
                while True:  # every block acknowledged but the last
                    data, src = await asyncio.wait_for(loop.sock_recvfrom(client, 65535), 10)
                    packet = parse_packet(data)
                    assert isinstance(packet, Data)
                    if len(packet.payload) < 512:
                        break
                    client.sendto(encode_packet(Ack(packet.block)), src)
                assert host.device.boot.tftp is not None
                assert host.device.boot.tftp.transfers_running == 1
                code, out = await gwload(*where, "/i", ip, "/setip", "/mac", host.mac)
            finally:
                client.close()
            assert code == 0, out
            assert f"has {ip}" in out

    run(main(), timeout=120)

"""gwload and TFTP against devices on loopback, with clients independent of ipgwsim.

The gwload client here is written from ``gwload-protocol.md`` alone (struct, no
``ipgwsim.proto`` import); TFTP is done by tftp-hpa's ``tftp``, by ``curl`` and by
``tftpy``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest
import tftpy

from ipgwsim.events import Led, Mode
from ipgwsim.flash.dumptext import newest_generation
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, enter_tftp_mode, free_loopback_ip, run
from ipgwsim.testing.needs import find_program

pytestmark = pytest.mark.integration

TFTP = find_program("tftp")
CURL = find_program("curl")
need_tftp = pytest.mark.requires("tftp")
need_curl = pytest.mark.requires("curl")


# -- a gwload client from the contract text ------------------------------------------

HEADER = struct.Struct("!HBBI6sH")  # opcode, version, flags, xid, mac, gwtype
DISCOVER, HELLO, SETIP, GO, RESET, ACK, NAK = range(0x4701, 0x4708)
ANY_MAC = bytes(6)


def message(
    opcode: int, xid: int, *, mac: bytes = ANY_MAC, gwtype: int = 0, body: bytes = b""
) -> bytes:
    return HEADER.pack(opcode, 1, 0, xid, mac, gwtype) + body


def setip_body(ip: str, mask: str = "255.0.0.0", gateway: str = "0.0.0.0") -> bytes:
    return socket.inet_aton(ip) + socket.inet_aton(mask) + socket.inet_aton(gateway)


@dataclass
class Reply:
    opcode: int
    version: int
    flags: int
    xid: int
    mac: bytes
    gwtype: int
    body: bytes

    def strings(self, offset: int, count: int) -> list[str]:
        out = []
        for _ in range(count):
            length = self.body[offset]
            out.append(self.body[offset + 1 : offset + 1 + length].decode("ascii"))
            offset += 1 + length
        assert offset == len(self.body)
        return out


def parse(data: bytes) -> Reply:
    opcode, version, flags, xid, mac, gwtype = HEADER.unpack_from(data)
    return Reply(opcode, version, flags, xid, mac, gwtype, data[HEADER.size :])


class GwloadClient:
    """A UDP socket bound to 0.0.0.0 with SO_BROADCAST, used from asyncio."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()

    async def ask(self, data: bytes, to: str = "127.255.255.255") -> tuple[Reply, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.sock, data, (to, self.port))
        reply, src = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 2048), 5)
        return parse(reply), src

    async def setip(self, xid: int, ip: str, mac: bytes = ANY_MAC) -> Reply:
        reply, _src = await self.ask(message(SETIP, xid, mac=mac, gwtype=6000, body=setip_body(ip)))
        return reply


def nak(reply: Reply) -> tuple[int, str]:
    assert reply.opcode == NAK
    (code,) = struct.unpack_from("!H", reply.body)
    length = reply.body[2]
    return code, reply.body[3 : 3 + length].decode("ascii")


# -- the tests ---------------------------------------------------------------------------


@asynccontextmanager
async def device_with_address(tmp_path: Path) -> AsyncIterator[tuple[Runtime, ManualClock, str]]:
    """An IP6000 in TFTP mode that took an address by gwload SETIP."""
    with Ports() as ports:
        port = ports.udp()
        ip = free_loopback_ip(port)
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            rt.add_devices("IP6000", 1)
            await enter_tftp_mode(rt, clock, "ip6000-1")
            client = GwloadClient(port)
            try:
                hello = await client.setip(7, ip)
            finally:
                client.close()
            assert hello.opcode == HELLO
            yield rt, clock, ip
            assert rt.errors == []


DEFAULT_CONFIG = b"config change CMD0 /name IP6000"


@pytest.mark.usefixtures("private_registry")
def test_discover_and_setip(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            await enter_tftp_mode(rt, clock, "ip6000-1")
            client = GwloadClient(port)
            try:
                # DISCOVER by broadcast; the HELLO comes by broadcast (sent from 127.0.0.1).
                hello, src = await client.ask(message(DISCOVER, 0x01020304, gwtype=6000))
                assert src == ("127.0.0.1", port)
                assert (hello.opcode, hello.version, hello.flags) == (HELLO, 1, 0)
                assert hello.xid == 0x01020304
                assert hello.mac == bytes.fromhex("009033100001")
                assert hello.gwtype == 6000
                assert hello.body[0:4] == bytes(4)  # ip: none yet
                assert hello.body[4:8] == bytes(4)  # mask
                assert hello.body[8] == 1  # state: TFTP mode
                assert struct.unpack_from("!H", hello.body, 9) == (145,)  # boot build
                assert hello.strings(11, 3) == ["IP6000", "08-6000.08", "config"]

                # SETIP: the HELLO comes from the new address, with the address in it.
                reply, src = await client.ask(
                    message(SETIP, 7, mac=hello.mac, gwtype=6000, body=setip_body(ip))
                )
                assert src == (ip, port)
                assert (reply.opcode, reply.xid) == (HELLO, 7)
                assert reply.body[0:4] == socket.inet_aton(ip)
                assert reply.body[4:8] == socket.inet_aton("255.0.0.0")
                assert host.status().ip == ip

                # After SETIP it answers unicast, from its address.
                hello, src = await client.ask(message(DISCOVER, 8), to=ip)
                assert (src, hello.opcode, hello.body[0:4]) == ((ip, port), HELLO, reply.body[0:4])
            finally:
                client.close()
            assert rt.errors == []

    run(main())


@need_tftp
def test_tftp_hpa_reads_the_config(tmp_path: Path) -> None:
    assert TFTP is not None

    async def main() -> None:
        async with device_with_address(tmp_path) as (rt, _clock, ip):
            proc = await asyncio.create_subprocess_exec(
                *[TFTP, ip, str(rt.port), "-m", "binary", "-c", "get", "config", "out.txt"],
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(proc.communicate(), 20)
            assert proc.returncode == 0, output
        assert DEFAULT_CONFIG in (tmp_path / "out.txt").read_bytes(), output

    run(main())


@need_curl
def test_curl_reads_the_config(tmp_path: Path) -> None:
    assert CURL is not None

    async def main() -> None:
        async with device_with_address(tmp_path) as (rt, _clock, ip):
            proc = await asyncio.create_subprocess_exec(
                *[CURL, "-sS", "--max-time", "20", f"tftp://{ip}:{rt.port}/config"],
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 25)
            assert proc.returncode == 0, err
            assert DEFAULT_CONFIG in out

    run(main())


def test_tftpy_uploads_a_config_and_reads_it_back(tmp_path: Path) -> None:
    text = "config change CMD0 /name uploaded-by-tftpy\r\nconfig change ETH0 /dhcp off\r\n"
    upload, back = tmp_path / "upload.txt", tmp_path / "back.txt"
    upload.write_text(text, newline="")

    async def main() -> None:
        async with device_with_address(tmp_path) as (rt, clock, ip):
            client_a, client_b = tftpy.TftpClient(ip, rt.port), tftpy.TftpClient(ip, rt.port)
            await asyncio.to_thread(client_a.upload, "config", str(upload), timeout=5)
            await clock.advance(30)  # let the transfer's dally end
            await asyncio.to_thread(client_b.download, "config", str(back), timeout=5)
            lines = rt.device("ip6000-1").console.tail()
            assert any("tftp: config stored as generation" in line for line in lines)
        dump = back.read_bytes()
        # The dump holds the generations as the flash does; the upload is the newest one.
        assert DEFAULT_CONFIG in dump
        assert text.encode() in dump
        newest = newest_generation(dump)
        assert newest is not None
        assert newest.text == text

    run(main())


def test_address_policy_on_loopback(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            first, second = rt.add_devices("IP6000", 2)
            await enter_tftp_mode(rt, clock, "ip6000-1")
            await enter_tftp_mode(rt, clock, "ip6000-2")
            client = GwloadClient(port)
            try:
                mac1, mac2 = first.device.instance.mac, second.device.instance.mac
                code, text = nak(await client.setip(1, "10.0.0.5", mac1))
                assert code == 2
                assert "10.0.0.5" in text
                assert "loopback" in text
                code, text = nak(await client.setip(2, "127.0.0.1", mac1))
                assert code == 2
                assert "host's own address" in text
                assert first.status().ip is None

                assert (await client.setip(3, ip, mac1)).opcode == HELLO
                code, text = nak(await client.setip(4, ip, mac2))
                assert code == 2
                assert text == f"bad address: {ip} is taken by ip6000-1"
                assert second.status().ip is None
                assert first.status().ip == ip
            finally:
                client.close()

    run(main())


def test_setip_to_an_address_another_program_holds_is_refused(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind((ip, port))

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            (host,) = rt.add_devices("IP6000", 1, empty_firmware=True)
            assert (host.status().mode, host.status().led) == (Mode.TFTP_MODE, Led.RED_FLASHING)
            client = GwloadClient(port)
            try:
                code, text = nak(await client.setip(1, ip))
                assert code == 2
                assert "address in use" in text
                assert host.status().ip is None
                # Another address works, and the device answers from it.
                other = free_loopback_ip(port)
                assert (await client.setip(2, other)).body[0:4] == IPv4Address(other).packed
            finally:
                client.close()

    try:
        run(main())
    finally:
        squatter.close()


def test_two_runtimes_asked_to_share_a_port_share_the_broadcast(
    tmp_path: Path, ports: Ports
) -> None:
    """Only when both say so (``share_port``; otherwise the second is refused)."""
    port = ports.udp()
    ip = free_loopback_ip(port)

    async def main() -> None:
        clock = ManualClock()
        async with (
            Runtime(
                tmp_path / "a", port=port, http_port=ports.tcp(), clock=clock, share_port=True
            ) as rt_a,
            Runtime(
                tmp_path / "b", port=port, http_port=ports.tcp(), clock=clock, share_port=True
            ) as rt_b,
        ):
            rt_a.add_devices("IP6000", 1, empty_firmware=True)
            (ip800,) = rt_b.add_devices("IP800", 1, empty_firmware=True)
            client = GwloadClient(port)
            try:
                first, _ = await client.ask(message(DISCOVER, 1))
                second, _ = await asyncio.wait_for(
                    asyncio.get_running_loop().sock_recvfrom(client.sock, 2048), 5
                )
                assert {first.gwtype, parse(second).gwtype} == {6000, 800}
                reply, _ = await client.ask(message(SETIP, 2, gwtype=6000, body=setip_body(ip)))
                assert reply.opcode == HELLO
                reply, _ = await client.ask(message(SETIP, 3, gwtype=800, body=setip_body(ip)))
                code, text = nak(reply)
                assert code == 2
                assert text == (
                    f"bad address: cannot bind UDP {ip}:{port}: address in use "
                    "(another program holds it)"
                )
                assert ip800.status().ip is None
            finally:
                client.close()

    run(main())

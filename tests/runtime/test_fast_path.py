"""A transfer's per-datagram path through a whole runtime on loopback (real sockets,
virtual time): a DATA or ACK in the middle of a transfer is answered by
``DeviceHost.receive_fast`` with one ``sendto``, its retransmission timer still runs in
device time, the link still counts it; with a capture or an impairment on the link it
takes the ordinary path. The sans-I/O equivalence of the two paths is
``tests/boot/test_receive_fast.py``."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from ipgwsim.proto.gwload import Hello, SetIp, encode_message, parse_message
from ipgwsim.proto.tftp import (
    DEFAULT_TIMERS,
    Ack,
    Data,
    ReadRequest,
    encode_packet,
    parse_packet,
)
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.loops import uvloop_installed
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.runtime.tftpclient import tftp_put
from ipgwsim.testing.loopback import Ports, enter_tftp_mode, free_loopback_ip, run, until_devices
from ipgwsim.testing.needs import unavailable

pytestmark = pytest.mark.integration

CONFIG = b"".join(f"config change MOD{n} /param{n} {n * 7919:08x}\r\n".encode() for n in range(60))


class Client(asyncio.DatagramProtocol):
    """A UDP endpoint of the test on 127.0.0.1 (works on either loop)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls) -> Client:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            cls, local_addr=("127.0.0.1", 0), allow_broadcast=True
        )
        client.transport = transport
        return client

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))

    async def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def receive(self) -> tuple[bytes, tuple[str, int]]:
        return await asyncio.wait_for(self.queue.get(), 10.0)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _ready(rt: Runtime, clock: ManualClock, port: int) -> tuple[DeviceHost, str]:
    """One IP6000 in TFTP mode with an address, holding ``CONFIG``."""
    (host,) = rt.add_devices("IP6000", 1)
    await enter_tftp_mode(rt, clock, host.name)
    ip = free_loopback_ip(port)
    client = await Client.open()
    try:
        setip = SetIp(
            xid=2,
            mac=bytes.fromhex(host.record.instance.serial),
            gwtype=6000,
            ip=ipaddress.IPv4Address(ip),
            mask=ipaddress.IPv4Address("255.0.0.0"),
            gateway=ipaddress.IPv4Address("0.0.0.0"),
        )
        await client.send(encode_message(setip), ("127.255.255.255", port))
        hello, _ = await client.receive()
        assert isinstance(parse_message(hello), Hello)
    finally:
        client.close()
    await asyncio.to_thread(tftp_put, (ip, port), "config", CONFIG)
    return host, ip


async def _read_with_a_lost_ack(
    host: DeviceHost, clock: ManualClock, ip: str, port: int
) -> list[bytes]:
    """Read the config in lock-step; block 2 is not acknowledged at first, so the device
    sends it again after its timeout (in device time). The DATA datagrams received."""
    client = await Client.open()
    received: list[bytes] = []
    try:
        await client.send(encode_packet(ReadRequest("config", "octet", {})), (ip, port))
        block = 0
        while True:
            data, src = await client.receive()
            packet = parse_packet(data)
            assert isinstance(packet, Data)
            received.append(data)
            block = packet.block
            if block == 2 and len(received) == 2:
                # No ACK: the device's timer, in device time, sends block 2 again.
                await clock.advance(DEFAULT_TIMERS.timeout)
                continue
            await client.send(encode_packet(Ack(block)), src)
            if len(packet.payload) < 512:
                return received
    finally:
        client.close()


def _transfers(host: DeviceHost) -> int:
    """Running transfers (an upload that ended dallies on in device time)."""
    tftp = host.device.boot.tftp
    assert tftp is not None
    return sum(1 for transfer in tftp.transfers if transfer.running)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_blocks_of_a_transfer_take_the_per_datagram_path(
    tmp_path: Path, ports: Ports, loop: str
) -> None:
    port = ports.udp()

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            host, ip = await _ready(rt, clock, port)
            before = host.fast_datagrams
            counters = host.link.counters()
            received = await _read_with_a_lost_ack(host, clock, ip, port)
            blocks = [parse_packet(data) for data in received]
            numbers = [b.block for b in blocks if isinstance(b, Data)]
            # Block 2 came twice: once answering ACK 1, once on the device's timeout.
            assert numbers[:3] == [1, 2, 2]
            assert received[1] == received[2]
            assert numbers[3:] == list(range(3, numbers[-1] + 1))
            assert numbers[-1] > 3
            await until_devices(rt, lambda: _transfers(host) == 0, "the transfer ended")
            # One ACK a block; all but the last (it ends the transfer) were answered on
            # the fast path.
            acks = numbers[-1]
            assert host.fast_datagrams - before == acks - 1
            after = host.link.counters()
            assert after.received.datagrams - counters.received.datagrams == 1 + acks
            assert after.sent.datagrams - counters.sent.datagrams == len(received)
            assert rt.errors == []

    if loop == "uvloop" and not uvloop_installed():
        unavailable("uvloop is not installed (pip install 'ipgwsim[fast]')")
    run(main(), loop=loop)


@pytest.mark.parametrize("link", ["impaired", "captured"])
def test_an_impaired_or_captured_link_takes_the_ordinary_path(
    tmp_path: Path, ports: Ports, link: str
) -> None:
    port = ports.udp()

    # Active (the link's stage runs) but so rare that nothing is corrupted in this test.
    impairment = Impairment(corrupt=0.000001, seed=1) if link == "impaired" else None
    pcap = tmp_path / "all.pcapng" if link == "captured" else None

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state",
            port=port,
            http_port=ports.tcp(),
            clock=clock,
            impairment=impairment,
            pcap=pcap,
        ) as rt:
            host, ip = await _ready(rt, clock, port)
            before = host.fast_datagrams
            received = await _read_with_a_lost_ack(host, clock, ip, port)
            assert len(received) > 3
            await until_devices(rt, lambda: _transfers(host) == 0, "the transfer ended")
            assert host.fast_datagrams == before

    run(main())

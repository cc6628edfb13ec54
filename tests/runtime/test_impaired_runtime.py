"""Impairments and captures through a whole runtime on loopback (real sockets, virtual time)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.utils import rdpcap

from ipgwsim.events import Event, Mode, ModeChanged
from ipgwsim.proto.gwload import Ack, Discover, Go, Hello, SetIp, encode_message, parse_message
from ipgwsim.runtime.capture import GWLOAD, install_layers
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.runtime.tftpclient import tftp_get
from ipgwsim.testing.loopback import Ports, enter_tftp_mode, free_loopback_ip, run
from ipgwsim.testing.needs import find_program, unavailable

pytestmark = pytest.mark.integration

TSHARK = find_program("tshark")
MASK = ipaddress.IPv4Address("255.0.0.0")
NO_GATEWAY = ipaddress.IPv4Address("0.0.0.0")


class Client:
    """A gwload client socket on 0.0.0.0 with SO_BROADCAST, used from asyncio."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.setblocking(False)

    async def send(self, data: bytes, to: str = "127.255.255.255") -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, (to, self.port))

    async def reply(self, timeout: float = 5.0) -> tuple[object, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        data, src = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 2048), timeout)
        return parse_message(data), src

    def close(self) -> None:
        self.sock.close()


async def setip(client: Client, host: DeviceHost, ip: str) -> None:
    mac = bytes.fromhex(host.record.instance.serial)
    request = SetIp(
        xid=2, mac=mac, gwtype=6000, ip=ipaddress.IPv4Address(ip), mask=MASK, gateway=NO_GATEWAY
    )
    await client.send(encode_message(request))
    hello, src = await client.reply()
    assert isinstance(hello, Hello)
    assert src == (ip, client.port)


def test_duplicates_go_out_and_are_counted_and_captured(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    pcap = tmp_path / "all.pcapng"

    async def main() -> None:
        clock = ManualClock()
        twice = Impairment(duplicate=100, direction="out", seed=3)
        async with Runtime(
            tmp_path / "state",
            port=port,
            http_port=ports.tcp(),
            clock=clock,
            impairment=twice,
            pcap=pcap,
        ) as rt:
            one, other = rt.add_devices("IP6000", 2)
            await enter_tftp_mode(rt, clock, one.name)
            client = Client(port)
            try:
                await client.send(encode_message(Discover(xid=9, mac=bytes(6), gwtype=6000)))
                first, _ = await client.reply()
                second, _ = await client.reply()
            finally:
                client.close()
            assert first == second
            assert isinstance(first, Hello)
            assert first.xid == 9
            counters = one.link.counters()
            assert (counters.sent.datagrams, counters.sent.duplicated) == (1, 1)
            assert counters.received.datagrams == 1  # the DISCOVER, not impaired (dir=out)
            assert other.link.counters().received.datagrams == 0  # in firmware: not for it
            assert one.link.impairment == twice
            assert rt.errors == []
        install_layers(port)  # the test's devices use a free port, not 69
        packets = rdpcap(str(pcap))
        assert [(p.sniffed_on, p.direction) for p in packets] == [
            ("ip6000-1", 1),  # the DISCOVER, as received
            ("ip6000-1", 2),  # the HELLO, as the device sent it once
        ]
        assert packets[1].comments == [b"impairment: duplicated"]
        assert packets[1][GWLOAD].xid == 9
        install_layers()  # port 69 again for building packets

    run(main())


def test_a_delayed_last_word_still_leaves_from_its_port(tmp_path: Path, ports: Ports) -> None:
    """The ACK to GO is delayed; the device leaves TFTP mode at once, the port waits for it."""
    port = ports.udp()
    ip = free_loopback_ip(port)

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            started = asyncio.Event()

            def listen(_host: DeviceHost, event: Event) -> None:
                if isinstance(event, ModeChanged) and event.mode is Mode.FIRMWARE:
                    started.set()

            await enter_tftp_mode(rt, clock, host.name)
            client = Client(port)
            try:
                await setip(client, host, ip)
                rt.subscribe(listen)
                rt.impair(host.name, Impairment(delay=0.05, direction="out", seed=1))
                mac = bytes.fromhex(host.record.instance.serial)
                await client.send(encode_message(Go(xid=4, mac=mac, gwtype=6000)), to=ip)
                await asyncio.wait_for(started.wait(), 5)  # the firmware runs: the address went
                assert host.status().ip != ip
                await clock.advance(0.05)
                ack, src = await client.reply()
            finally:
                client.close()
            assert isinstance(ack, Ack)
            assert (ack.xid, src) == (4, (ip, port))
            assert rt.errors == []

    run(main())


def test_each_call_and_each_change_has_its_impairment(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()

    async def main() -> None:
        async with Runtime(
            tmp_path / "state",
            port=port,
            http_port=ports.tcp(),
            clock=ManualClock(),
            impairment=Impairment(loss=5),
        ) as rt:
            (plain,) = rt.add_devices("IP6000", 1)
            (own,) = rt.add_devices("IP6000", 1, impairment=Impairment(delay=0.02, seed=4))
            (none,) = rt.add_devices("IP6000", 1, impairment=Impairment())
            chosen = rt.impairment
            assert chosen is not None
            assert chosen.seed is not None  # picked once, shown, so the run can be repeated
            assert plain.link.impairment == chosen
            assert own.link.impairment == Impairment(delay=0.02, seed=4)
            assert none.link.impairment is None
            rt.impair("ip6000-1", None)
            assert plain.link.impairment is None
            rt.impair(none.mac, Impairment(reorder=10))  # by its MAC
            reorder = none.link.impairment
            assert reorder is not None
            assert (reorder.reorder, reorder.seed is not None) == (10, True)
            with pytest.raises(RuntimeSetupError, match="no device 'ip6000-9'"):
                rt.impair("ip6000-9", None)

    run(main())


def test_per_call_captures_and_the_control_api(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    state = tmp_path / "state"

    async def main() -> None:
        async with Runtime(
            state,
            port=port,
            http_port=ports.tcp(),
            clock=ManualClock(),
            pcap=tmp_path / "all.pcapng",
        ):
            pass
        assert len(rdpcap(str(tmp_path / "all.pcapng"))) == 0  # no devices: an empty capture

        async with Runtime(
            state,
            port=port,
            http_port=ports.tcp(),
            clock=ManualClock(),
            pcap=tmp_path / "all.pcapng",
        ) as rt:
            rt.add_devices("IP6000", 1, pcap=tmp_path / "first.pcapng")
            rt.add_devices("IP6000", 1)
            with pytest.raises(RuntimeSetupError, match="cannot write the capture"):
                rt.add_devices("IP6000", 1, pcap=tmp_path / "missing" / "x.pcapng")
            assert [d.name for d in rt.devices] == ["ip6000-1", "ip6000-2"]
            assert [c.path.name for c in rt.captures] == ["all.pcapng", "first.pcapng"]

            def control() -> list[dict[str, object]]:
                with ControlClient(state, timeout=10) as client:
                    replies = [client.request("impair", device="ip6000-2", impairment="loss=1%")]
                    replies.append(client.request("impair", device="ip6000-2"))
                    replies.append(client.request("status"))
                    for bad in ("loss=1", "drop=3%"):
                        try:
                            client.request("impair", device="ip6000-2", impairment=bad)
                        except ControlError as exc:
                            replies.append({"error": str(exc)})
                    replies.append(client.request("impair", device="ip6000-2", impairment="off"))
                    return replies

            first, shown, status, bad1, bad2, off = await asyncio.to_thread(control)
            assert first["device"] == "ip6000-2"
            assert first["previous"] is None
            text = first["impairment"]
            assert isinstance(text, str)
            assert text.startswith("loss=1%,seed=")
            assert shown["impairment"] == text
            assert shown["counters"] == {
                "sent": dict.fromkeys(
                    ("datagrams", "dropped", "duplicated", "reordered", "corrupted"), 0
                ),
                "received": dict.fromkeys(
                    ("datagrams", "dropped", "duplicated", "reordered", "corrupted"), 0
                ),
            }
            devices = status["devices"]
            assert isinstance(devices, list)
            assert [(d["name"], d["impairment"]) for d in devices] == [
                ("ip6000-1", None),
                ("ip6000-2", text),
            ]
            assert bad1 == {"error": "'loss=1': loss is a percentage: write loss=1%"}
            assert str(bad2["error"]).startswith("'drop=3%': unknown setting 'drop'")
            assert (off["impairment"], off["previous"]) == (None, text)

        # Both files are complete: the runtime's has both devices, the call's the first.
        assert interface_names(tmp_path / "all.pcapng") == ["ip6000-1", "ip6000-2"]
        assert interface_names(tmp_path / "first.pcapng") == ["ip6000-1"]

    run(main())


def interface_names(path: Path) -> list[str]:
    """The if_name of every interface description block (pcapng, little-endian)."""
    data = path.read_bytes()
    names, offset = [], 0
    while offset < len(data):
        kind, length = struct.unpack_from("<II", data, offset)
        if kind == 1:
            code, size = struct.unpack_from("<HH", data, offset + 16)
            assert code == 2  # if_name comes first
            names.append(data[offset + 20 : offset + 20 + size].decode())
        offset += length
    return names


def need_tshark() -> str:
    if TSHARK is None:
        unavailable("tshark is not installed (Debian package tshark)")
    return TSHARK


def test_tshark_reads_a_runtime_capture_with_gwload_and_tftp(tmp_path: Path, ports: Ports) -> None:
    tshark = need_tshark()
    port = ports.udp()
    ip = free_loopback_ip(port)
    pcap = tmp_path / "run.pcapng"

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock, pcap=pcap
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            await enter_tftp_mode(rt, clock, host.name)
            client = Client(port)
            try:
                await setip(client, host, ip)
            finally:
                client.close()
            got = await asyncio.to_thread(tftp_get, (ip, port), "config")
            assert got.data is not None
            assert b"config change CMD0 /name IP6000" in got.data
            assert rt.errors == []

    run(main())
    done = subprocess.run(
        [
            tshark, "-r", str(pcap), "-d", f"udp.port=={port},tftp", "-T", "fields",
            "-e", "frame.interface_name", "-e", "frame.packet_flags_direction",
            "-e", "ip.src", "-e", "ip.dst", "-e", "tftp.opcode", "-e", "udp.payload",
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert {row[0] for row in rows} == {"ip6000-1"}
    directions = {(row[2], row[3]): row[1] for row in rows}
    assert directions[("127.0.0.1", ip)] == "0x00000001"  # the client's requests: inbound
    assert directions[(ip, "127.0.0.1")] == "0x00000002"  # the device's answers: outbound
    payloads = [row[5] for row in rows]
    assert any(p.startswith("4703") for p in payloads)  # gwload SETIP
    assert any(p.startswith("4702") for p in payloads)  # gwload HELLO
    opcodes = [row[4] for row in rows if not row[5].startswith("47")]
    assert opcodes[0] == "1"  # RRQ config
    assert "3" in opcodes  # DATA
    assert "4" in opcodes  # ACK


def test_status_shows_the_json_fields(tmp_path: Path, ports: Ports) -> None:
    """The status reply is JSON: the impairment and the counters of each device."""
    port = ports.udp()
    state = tmp_path / "state"

    async def main() -> None:
        async with Runtime(
            state,
            port=port,
            http_port=ports.tcp(),
            clock=ManualClock(),
            impairment=Impairment(loss=100, seed=2),
        ) as rt:
            rt.add_devices("IP6000", 1)

            def status() -> str:
                with ControlClient(state, timeout=10) as client:
                    return json.dumps(client.request("status")["devices"][0])

            device = json.loads(await asyncio.to_thread(status))
            assert device["impairment"] == "loss=100%,seed=2"
            assert set(device["counters"]) == {"sent", "received"}

    run(main())

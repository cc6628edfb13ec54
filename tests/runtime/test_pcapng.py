"""The pcapng writer: read back by scapy, by a block walker written from the format, by tshark."""

from __future__ import annotations

import asyncio
import errno
import io
import logging
import os
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.tftp import TFTP_RRQ
from scapy.utils import rdpcap

from ipgwsim.proto.gwload import Discover, encode_message
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.capture import GWLOAD
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.pcapng import CaptureFile, PcapNgWriter, ipv4_udp
from ipgwsim.testing.loopback import run
from ipgwsim.testing.needs import find_program, unavailable

TSHARK = find_program("tshark")

DISCOVER = Datagram(
    encode_message(Discover(xid=5, mac=bytes(6), gwtype=6000)),
    ("127.0.0.1", 40000),
    ("255.255.255.255", 69),
)
RRQ = Datagram(b"\x00\x01config\x00octet\x00", ("127.0.0.1", 40001), ("127.0.0.5", 69))


def blocks(data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of every block, checking both length fields (pcapng, little-endian)."""
    out = []
    offset = 0
    while offset < len(data):
        kind, length = struct.unpack_from("<II", data, offset)
        assert length % 4 == 0
        assert struct.unpack_from("<I", data, offset + length - 4)[0] == length
        out.append((kind, data[offset + 8 : offset + length - 4]))
        offset += length
    assert offset == len(data)
    return out


def options(data: bytes) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    offset = 0
    while offset < len(data):
        code, length = struct.unpack_from("<HH", data, offset)
        if code == 0:
            break
        out.setdefault(code, []).append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length + (-length % 4)
    return out


def write_sample(path: Path) -> None:
    capture = CaptureFile(path)
    one = capture.interface("ip6000-1", "IP6000 00:90:33:10:00:01")
    two = capture.interface("ip6000-2")
    capture.interface("ip6000-3")  # a device that never sends
    assert capture.interface("ip6000-1") == one == 0
    capture.record(one, DISCOVER, "received", 1_700_000_000.25)
    capture.record(two, RRQ, "sent", 1_700_000_000.5, ["impairment: dropped"])
    capture.close()
    assert capture.packets == 2


def test_the_blocks_as_the_format_says(tmp_path: Path) -> None:
    path = tmp_path / "sample.pcapng"
    write_sample(path)
    found = blocks(path.read_bytes())
    assert [kind for kind, _ in found] == [0x0A0D0D0A, 1, 1, 1, 6, 6]
    shb = found[0][1]
    assert struct.unpack_from("<IHHq", shb) == (0x1A2B3C4D, 1, 0, -1)
    assert options(shb[16:])[4][0].startswith(b"ipgwsim ")
    names = []
    for _, body in found[1:4]:
        linktype, _, snaplen = struct.unpack_from("<HHI", body)
        assert (linktype, snaplen) == (228, 0)
        names.append(options(body[8:])[2][0])
    assert names == [b"ip6000-1", b"ip6000-2", b"ip6000-3"]
    assert options(found[1][1][8:])[3] == [b"IP6000 00:90:33:10:00:01"]
    interface, high, low, captured, original = struct.unpack_from("<IIIII", found[5][1])
    assert (interface, (high << 32 | low)) == (1, 1_700_000_000_500_000)
    assert captured == original == 20 + 8 + len(RRQ.data)
    epb_options = options(found[5][1][20 + captured + (-captured % 4) :])
    assert epb_options[2] == [struct.pack("<I", 2)]  # outbound
    assert epb_options[1] == [b"impairment: dropped"]


def test_scapy_reads_names_directions_comments_and_the_packets(tmp_path: Path) -> None:
    path = tmp_path / "sample.pcapng"
    write_sample(path)
    discover, rrq = rdpcap(str(path))
    assert (discover.sniffed_on, discover.direction, discover.comments) == ("ip6000-1", 1, None)
    assert (rrq.sniffed_on, rrq.direction, rrq.comments) == (
        "ip6000-2",
        2,
        [b"impairment: dropped"],
    )
    assert float(discover.time) == pytest.approx(1_700_000_000.25, abs=1e-6)
    assert (discover[IP].src, discover[UDP].sport) == DISCOVER.src
    assert (discover[IP].dst, discover[UDP].dport) == DISCOVER.dst
    assert discover[GWLOAD].xid == 5
    assert rrq[TFTP_RRQ].filename == b"config"
    assert IP(bytes(rrq[IP])).chksum == rrq[IP].chksum  # the header checksum is right


def test_the_ip_header_checksum_verifies() -> None:
    packet = ipv4_udp(RRQ, identification=0x1234)
    words = struct.unpack("!10H", packet[:20])
    total = sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF
    assert struct.unpack_from("!H", packet, 4)[0] == 0x1234
    assert packet[28:] == RRQ.data


def test_the_file_grows_and_is_readable_while_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "growing.pcapng"

    async def main() -> None:
        capture = CaptureFile(path)
        interface = capture.interface("ip6000-1")
        capture.record(interface, DISCOVER, "received", 1.0)
        await asyncio.sleep(0)  # one event-loop turn: flushed
        assert len(rdpcap(str(path))) == 1
        capture.record(interface, RRQ, "sent", 2.0)
        await asyncio.sleep(0)
        assert len(rdpcap(str(path))) == 2
        capture.close()

    run(main())


def test_files_that_cannot_be_written_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(RuntimeSetupError) as failure:
        CaptureFile(tmp_path / "no-such-folder" / "x.pcapng")
    assert str(failure.value) == (
        f"cannot write the capture {tmp_path}/no-such-folder/x.pcapng: No such file or directory"
    )
    if os.path.exists("/dev/full"):
        with pytest.raises(
            RuntimeSetupError, match=r"^cannot write the capture /dev/full: No space"
        ):
            CaptureFile("/dev/full")


class FullDisk(io.BytesIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_write_error_stops_the_capture_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    capture = CaptureFile(tmp_path / "x.pcapng", log=logging.getLogger("test.capture"))
    interface = capture.interface("ip6000-1")
    capture._writer.file = FullDisk()  # the disk fills up
    with caplog.at_level(logging.WARNING, logger="test.capture"):
        capture.record(interface, DISCOVER, "sent", 1.0)
        capture.record(interface, DISCOVER, "sent", 2.0)  # nothing more is tried
    assert capture.error == f"capture {tmp_path}/x.pcapng stopped: No space left on device"
    assert [r.getMessage() for r in caplog.records] == [capture.error]
    assert capture.packets == 0
    capture.close()


def test_a_writer_refuses_an_unknown_interface() -> None:
    writer = PcapNgWriter(io.BytesIO())
    with pytest.raises(ValueError, match="no interface 0 in this capture"):
        writer.packet(0, b"", 0.0)


def tshark_fields(path: Path, *fields: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    assert TSHARK is not None
    argv = [TSHARK, "-r", str(path), "-T", "fields", *extra]
    for field in fields:
        argv += ["-e", field]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


def need_tshark() -> None:
    if TSHARK is None:
        unavailable("tshark is not installed (Debian package tshark)")


def test_tshark_reads_names_directions_comments_and_checksums(tmp_path: Path) -> None:
    need_tshark()
    path = tmp_path / "sample.pcapng"
    write_sample(path)
    rows = tshark_fields(
        path,
        "frame.interface_name",
        "frame.interface_description",
        "frame.packet_flags_direction",
        "frame.comment",
        "ip.checksum.status",
        "tftp.source_file",
        extra=("-o", "ip.check_checksum:TRUE"),
    )
    assert rows == [
        ["ip6000-1", "IP6000 00:90:33:10:00:01", "0x00000001", "", "1", ""],
        ["ip6000-2", "", "0x00000002", "impairment: dropped", "1", "config"],
    ]

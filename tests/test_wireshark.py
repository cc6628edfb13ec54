"""The Wireshark dissector for gwload (``ipgwsim wireshark``), read back by Debian's tshark.

Captures come from a real ``gwload /pcap`` run and from the runtime's own capture against
devices on loopback, and from bytes a test writes with :mod:`ipgwsim.runtime.pcapng`.
Every tshark run gets a fresh ``HOME`` (no personal plugins or preferences of the user's)
and loads the script with ``-X lua_script:PATH``, unless the test installed it there.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import re
import subprocess
from pathlib import Path

import pytest

from ipgwsim.proto.gwload import Hello, Message, Nak, NakCode, SetIp, parse_message
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.pcapng import write_datagrams
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run
from ipgwsim.testing.needs import find_program
from ipgwsim.testing.processes import GWLOAD, finished
from ipgwsim.tools import cli
from ipgwsim.tools.wireshark_cmd import DEFAULT_DIR, script_path

SCRIPT = script_path()

#: The fields each tshark row holds, in this order.
FIELDS = (
    "frame.number",
    "frame.packet_flags_direction",
    "udp.srcport",
    "udp.dstport",
    "udp.payload",
    "_ws.col.Protocol",
    "_ws.col.Info",
    "gwload.opcode",
    "gwload.version",
    "gwload.flags",
    "gwload.xid",
    "gwload.mac",
    "gwload.gwtype",
    "gwload.ip",
    "gwload.mask",
    "gwload.gateway",
    "gwload.state",
    "gwload.boot_build",
    "gwload.model",
    "gwload.firmware_build",
    "gwload.config_name",
    "gwload.acked",
    "gwload.nak_code",
    "gwload.nak_text",
    "gwload.trailing",
    "gwload.malformed",
    "tftp.opcode",
)


def tshark(
    capture: Path,
    home: Path,
    *options: str,
    script: bool = True,
    columns: tuple[str, ...] = FIELDS,
) -> tuple[list[dict[str, str]], str]:
    """tshark's rows for ``capture`` (one dict of ``columns`` per packet) and its -V text."""
    program = find_program("tshark")
    assert program is not None
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "PATH": "/usr/bin:/bin"}
    argv = [program, *(["-X", f"lua_script:{SCRIPT}"] if script else []), *options]
    argv += ["-r", str(capture)]
    fields = [*argv, "-T", "fields", "-E", "occurrence=f"]
    for field in columns:
        fields += ["-e", field]
    done = subprocess.run(fields, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert "Lua" not in done.stderr, done.stderr
    rows = [dict(zip(columns, line.split("\t"), strict=True)) for line in done.stdout.splitlines()]
    verbose = subprocess.run(
        [*argv, "-V"], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert verbose.returncode == 0, verbose.stderr
    assert "Lua Error" not in verbose.stdout
    return rows, verbose.stdout


def gwload_rows(rows: list[dict[str, str]]) -> list[tuple[dict[str, str], Message]]:
    """The rows tshark shows as gwload, each with the message the project's codec reads
    from the same bytes."""
    return [
        (row, parse_message(bytes.fromhex(row["udp.payload"])))
        for row in rows
        if row["_ws.col.Protocol"] == "gwload"
    ]


def check_fields(row: dict[str, str], msg: Message) -> None:
    """What tshark printed for one message is what was sent, field by field."""
    assert int(row["gwload.opcode"], 16) == msg.OPCODE
    assert row["gwload.version"] == "1"
    assert int(row["gwload.xid"], 16) == msg.xid
    assert row["gwload.mac"] == ":".join(f"{b:02x}" for b in msg.mac)
    assert int(row["gwload.gwtype"]) == msg.gwtype
    assert row["gwload.malformed"] == ""
    if isinstance(msg, Hello | SetIp):
        assert row["gwload.ip"] == str(msg.ip)
        assert row["gwload.mask"] == str(msg.mask)
    if isinstance(msg, SetIp):
        assert row["gwload.gateway"] == str(msg.gateway)
    if isinstance(msg, Hello):
        assert int(row["gwload.state"]) == msg.state
        assert int(row["gwload.boot_build"]) == msg.boot_build
        assert row["gwload.model"] == msg.model
        assert row["gwload.firmware_build"] == msg.firmware_build
        assert row["gwload.config_name"] == msg.config_name
    if isinstance(msg, Nak):
        assert int(row["gwload.nak_code"]) == msg.code
        assert row["gwload.nak_text"] == msg.text


# -- the command --------------------------------------------------------------------------


def ipgwsim(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_print_and_path_give_the_packaged_script() -> None:
    status, out, _ = ipgwsim("wireshark", "--print")
    assert status == 0
    assert out == SCRIPT.read_text(encoding="utf-8")
    assert 'Proto("gwload"' in out
    status, out, _ = ipgwsim("wireshark", "--path")
    assert status == 0
    assert Path(out.strip()) == SCRIPT
    assert SCRIPT.is_file()


def test_install_writes_into_the_folder_and_replaces_an_older_copy(tmp_path: Path) -> None:
    folder = tmp_path / "plugins" / "lua"
    status, out, _ = ipgwsim("wireshark", "--install", "--dir", str(folder))
    assert status == 0
    assert out == f"{folder / 'gwload.lua'}\n"
    (folder / "gwload.lua").write_text("-- an older copy\n")
    assert ipgwsim("wireshark", "--install", "--dir", str(folder))[0] == 0
    assert (folder / "gwload.lua").read_text() == SCRIPT.read_text()


def test_the_default_folder_is_wiresharks_personal_lua_plugins_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    status, out, _ = ipgwsim("wireshark", "--install")
    assert status == 0
    assert Path(out.strip()) == tmp_path / ".local/lib/wireshark/plugins/gwload.lua"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--print", "--dir", "x"], "ipgwsim wireshark: --dir goes with --install"),
        (["--print", "--path"], "not allowed with argument"),
        ([], "one of the arguments --install --print --path is required"),
    ],
)
def test_bad_command_lines_say_what_is_wrong(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = cli.main(["wireshark", *argv])
    except SystemExit as exc:  # argparse's own refusals
        status = int(str(exc.code))
    assert status == 2
    assert words in capsys.readouterr().err


def test_an_install_folder_that_is_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    status, _, err = ipgwsim("wireshark", "--install", "--dir", str(blocker))
    assert status == 2
    assert err.startswith("ipgwsim wireshark: ")
    assert str(blocker) in err
    assert len(err.strip().splitlines()) == 1


# -- tshark on made-up bytes --------------------------------------------------------------

HELLO = bytes.fromhex(
    "47020100010203040090331000011770c0a80001ffffff000100910649503630303"
    "00a30382d363030302e303806636f6e666967"
)
MALFORMED = {
    "a HELLO cut short in its model": HELLO[:30],
    "an opcode the contract does not define": bytes.fromhex("4799"),
    "version 2": bytes.fromhex("47010200010203040000000000001770"),
    "a header cut short": bytes.fromhex("470301000102"),
}
RRQ = b"\x00\x01config\x00octet\x00"


def write(path: Path, port: int, payloads: list[bytes]) -> None:
    records = [
        (Datagram(data, ("127.0.0.1", 40000), ("127.0.0.5", port)), "received", 1000.0 + i)
        for i, data in enumerate(payloads)
    ]
    write_datagrams(path, records, interface="test")


@pytest.mark.requires("tshark")
def test_malformed_gwload_is_marked_and_tftp_on_port_69_stays_tftp(tmp_path: Path) -> None:
    capture = tmp_path / "malformed.pcapng"
    write(capture, 69, [HELLO, *MALFORMED.values(), RRQ])
    rows, verbose = tshark(capture, tmp_path)
    assert [row["_ws.col.Protocol"] for row in rows] == ["gwload"] * 5 + ["TFTP"]
    check_fields(rows[0], parse_message(HELLO))
    for row, what in zip(rows[1:5], MALFORMED, strict=True):
        assert row["gwload.malformed"] != "", what
    assert rows[1]["gwload.ip"] == "192.168.0.1"
    assert rows[3]["gwload.xid"] == "0x01020304"  # a wrong version still shows its header
    assert "HELLO model: needs 6 bytes at offset 28, the datagram has 2" in verbose
    assert "unknown gwload opcode 0x4799" in verbose
    assert "version 2: only version 1 is defined" in verbose
    assert rows[5]["tftp.opcode"] == "1"


@pytest.mark.requires("tshark")
def test_the_heuristic_claims_well_formed_gwload_on_any_port_only(tmp_path: Path) -> None:
    """On a port that is not the gwload port, only a datagram with a whole header, a known
    opcode and version 1 is gwload; the preference makes a port the gwload port."""
    capture = tmp_path / "other-port.pcapng"
    version_2 = MALFORMED["version 2"]
    write(capture, 26969, [HELLO, version_2, RRQ])
    rows, _ = tshark(capture, tmp_path)
    # (Wireshark's own TFTP heuristic finds the RRQ)
    assert [row["_ws.col.Protocol"] for row in rows] == ["gwload", "UDP", "TFTP"]
    rows, _ = tshark(capture, tmp_path, "-o", "gwload.port:26969")
    assert [row["_ws.col.Protocol"] for row in rows] == ["gwload", "gwload", "TFTP"]
    assert rows[1]["gwload.malformed"] != ""
    # Decode As: gwload on the port, TFTP for the rest of it
    rows, _ = tshark(capture, tmp_path, "-o", "gwload.port:0", "-d", "udp.port==26969,gwload")
    assert [row["_ws.col.Protocol"] for row in rows] == ["gwload", "gwload", "TFTP"]
    # without the dissector, tshark knows none of it (the test above is not vacuous)
    rows, _ = tshark(capture, tmp_path, script=False, columns=("_ws.col.Protocol",))
    assert [row["_ws.col.Protocol"] for row in rows] == ["UDP", "UDP", "TFTP"]


#: The contract, whose byte-for-byte examples the dissector must read as the text says.
CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "gwload-protocol.md"


def contract_examples() -> dict[str, bytes]:
    """The examples of docs/gwload-protocol.md section 3: each title (the text before the
    hex, up to its first comma or colon) with its bytes."""
    text = CONTRACT.read_text(encoding="utf-8")
    block = text.split("Examples, byte for byte", 1)[1].split("```", 2)[1]
    examples: dict[str, bytes] = {}
    title, caption = "", True
    for line in block.splitlines():
        if re.fullmatch(r"(?:[0-9a-f]{2} )*[0-9a-f]{2}", line.strip()):
            examples[title] = examples.get(title, b"") + bytes.fromhex(line)
            caption = False
        elif line.strip() and not caption:  # the first line of the next caption
            title, caption = re.split(r"[,:]", line, maxsplit=1)[0].strip(), True
        elif line.strip() and not title:
            title = re.split(r"[,:]", line, maxsplit=1)[0].strip()
    return examples


#: The header of every example: version 1, flags 0, xid 0x01020304; requests other than
#: SETIP name any device (zero MAC), replies the device 00:90:33:10:00:01, gwtype 6000.
HEADER = {"gwload.version": "1", "gwload.xid": "0x01020304", "gwload.gwtype": "6000"}
DEVICE = "00:90:33:10:00:01"
#: A GO and a RESET (the contract gives no example of either), written from the header
#: table: the GO with flag bit 0x80 set and two bytes after its (empty) body.
GO_WITH_TRAILING = bytes.fromhex("47 04 01 80 01 02 03 04 00 90 33 10 00 01 17 70 be ef")
RESET = bytes.fromhex("47 05 01 00 01 02 03 04 00 90 33 10 00 01 17 70")


@pytest.mark.requires("tshark")
def test_the_contracts_examples_read_as_the_contract_says(tmp_path: Path) -> None:
    """Every value compared here is read off the contract's text, not computed by the
    project's codec, so a misreading the codec shares with the dissector is caught."""
    examples = contract_examples()
    assert list(examples) == [
        "DISCOVER",
        "HELLO from 192.168.0.1/255.255.255.0",
        "SETIP 10.0.0.5/255.0.0.0",
        "ACK of RESET",
        'NAK 4 "busy"',
    ]
    capture = tmp_path / "contract.pcapng"
    write(capture, 69, [*examples.values(), GO_WITH_TRAILING, RESET])
    rows, verbose = tshark(capture, tmp_path)
    assert [row["_ws.col.Protocol"] for row in rows] == ["gwload"] * 7
    for row in rows:
        assert {name: row[name] for name in HEADER} == HEADER
        assert row["gwload.malformed"] == ""
    discover, hello, setip, ack, nak, go, reset = rows
    assert (discover["gwload.opcode"], discover["gwload.mac"]) == ("0x4701", "00:00:00:00:00:00")
    assert discover["gwload.flags"] == "0x00"
    assert discover["gwload.trailing"] == ""
    assert {name: hello[name] for name in hello if name.startswith("gwload.")} == {
        **{name: "" for name in FIELDS if name.startswith("gwload.")},
        **HEADER,
        "gwload.opcode": "0x4702",
        "gwload.flags": "0x00",
        "gwload.mac": DEVICE,
        "gwload.ip": "192.168.0.1",
        "gwload.mask": "255.255.255.0",
        "gwload.state": "1",
        "gwload.boot_build": "145",
        "gwload.model": "IP6000",
        "gwload.firmware_build": "08-6000.08",
        "gwload.config_name": "config",
    }
    assert "State: TFTP mode (1)" in verbose
    assert (setip["gwload.opcode"], setip["gwload.mac"]) == ("0x4703", DEVICE)
    assert (setip["gwload.ip"], setip["gwload.mask"]) == ("10.0.0.5", "255.0.0.0")
    assert setip["gwload.gateway"] == "0.0.0.0"
    assert (ack["gwload.opcode"], ack["gwload.mac"]) == ("0x4706", DEVICE)
    assert ack["gwload.acked"] == "0x4705"
    assert "Acknowledged opcode: RESET (0x4705)" in verbose
    assert (nak["gwload.opcode"], nak["gwload.mac"]) == ("0x4707", DEVICE)
    assert (nak["gwload.nak_code"], nak["gwload.nak_text"]) == ("4", "busy")
    assert "NAK code: busy (a transfer is running) (4)" in verbose
    assert (go["gwload.opcode"], go["gwload.flags"]) == ("0x4704", "0x80")
    assert go["gwload.trailing"] == "beef"
    assert "Bytes after the body (ignored by version 1)" in verbose
    assert (reset["gwload.opcode"], reset["gwload.trailing"]) == ("0x4705", "")
    assert ack["_ws.col.Info"].startswith("ACK xid=0x01020304 ")
    assert ack["_ws.col.Info"].endswith(" of RESET")
    assert nak["_ws.col.Info"].endswith(' 4 "busy"')


#: An MPEG transport stream packet (188 bytes) as raw-UDP IPTV sends it: sync byte 0x47,
#: then 0x01 0x01 (no error, no unit start, PID 0x101) and 0x10 (payload only, counter 0),
#: so it starts like a gwload DISCOVER, version 1, flags 0x10.
MPEG_TS = bytes.fromhex("47 01 01 10") + bytes(range(184))


@pytest.mark.requires("tshark")
def test_the_heuristic_leaves_an_mpeg_ts_packet_alone_off_the_gwload_port(
    tmp_path: Path,
) -> None:
    """Off the gwload port a datagram is gwload only if it is one whole message: an IPTV
    packet that starts like a DISCOVER is not, a valid message on the same port is."""
    examples = contract_examples()
    capture = tmp_path / "iptv.pcapng"
    not_whole = {
        "a DISCOVER with trailing bytes": examples["DISCOVER"] + b"\x00",
        "a NAK with trailing bytes": examples['NAK 4 "busy"'] + b"\x00",
        "a HELLO one byte longer": examples["HELLO from 192.168.0.1/255.255.255.0"] + b"\x00",
        "a SETIP with a byte after it": examples["SETIP 10.0.0.5/255.0.0.0"] + b"\xff",
        "a HELLO whose model is not ASCII": HELLO[:29] + b"\xc9" + HELLO[30:],
    }
    valid = [examples["DISCOVER"], examples["ACK of RESET"], examples['NAK 4 "busy"'], HELLO]
    write(capture, 5004, [MPEG_TS, *not_whole.values(), *valid])
    rows, verbose = tshark(capture, tmp_path)
    protocols = [row["_ws.col.Protocol"] for row in rows]
    assert protocols[0] != "gwload"
    assert rows[0]["gwload.opcode"] == ""
    assert "ipgwsim gwload" not in verbose.split("\n\n")[0]  # no gwload layer in frame 1
    for (what, _), protocol in zip(not_whole.items(), protocols[1:6], strict=True):
        assert protocol != "gwload", what
    assert protocols[6:] == ["gwload"] * 4
    assert [row["gwload.opcode"] for row in rows[6:]] == ["0x4701", "0x4706", "0x4707", "0x4702"]
    # on the gwload port the same bytes are gwload (a DISCOVER with trailing bytes)
    rows, _ = tshark(capture, tmp_path, "-o", "gwload.port:5004")
    assert [row["_ws.col.Protocol"] for row in rows] == ["gwload"] * 10
    assert rows[0]["gwload.trailing"] != ""


# -- tshark on real captures --------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.requires("tshark")
def test_a_gwload_pcap_capture(tmp_path: Path, ports: Ports) -> None:
    """gwload's own capture of a setip and a config read, against a device on loopback;
    read by a dissector installed with ``ipgwsim wireshark --install``."""
    port = ports.udp()
    ip = free_loopback_ip(port)
    capture = tmp_path / "gwload.pcapng"

    async def main() -> None:
        async with Runtime(
            tmp_path / "state", port=port, http_port=ports.tcp(), clock=ScaledClock(1000)
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            await rt.press(host.name, 1.8)
            status, out, err = await finished(
                *GWLOAD, "/gwtype", "6000", "/i", ip, "/mask", "255.0.0.0", "/setip",
                "/getcfg", str(tmp_path / "c.txt"), "/pcap", str(capture),
                "/port", str(port), "/bcast", "127.255.255.255",
            )  # fmt: skip
            assert status == 0, out + err
            assert rt.errors == []

    run(main(), timeout=120)
    home = tmp_path / "home"
    plugins = home / DEFAULT_DIR.relative_to("~")  # where tshark looks with this HOME
    assert ipgwsim("wireshark", "--install", "--dir", str(plugins))[0] == 0
    rows, _ = tshark(capture, home, "-o", f"gwload.port:{port}", script=False)
    messages = gwload_rows(rows)
    names = [type(msg).__name__ for _, msg in messages]
    assert names[:4] == ["Discover", "Hello", "SetIp", "Hello"]
    for row, msg in messages:
        check_fields(row, msg)
        # pcapng direction: gwload's requests outbound, the device's answers inbound
        sent = type(msg).__name__ in ("Discover", "SetIp")
        assert row["frame.packet_flags_direction"] == ("0x00000002" if sent else "0x00000001")
    setip = messages[2][1]
    assert isinstance(setip, SetIp)
    assert (setip.ip, setip.mask) == (ipaddress.IPv4Address(ip), ipaddress.IPv4Address("255.0.0.0"))
    assert messages[3][1].xid == setip.xid  # the answer echoes the request's xid
    tftp = [row["tftp.opcode"] for row in rows if row["_ws.col.Protocol"] == "TFTP"]
    assert tftp[0] == "1"  # RRQ config
    assert "3" in tftp  # DATA
    assert "4" in tftp  # ACK


@pytest.mark.integration
@pytest.mark.requires("tshark")
def test_a_runtime_capture_with_a_nak(tmp_path: Path, ports: Ports) -> None:
    """The runtime's capture (``ipgwsim run --pcap``): a SETIP the device refuses (NAK 2),
    then one it takes and a config read."""
    port = ports.udp()
    ip = free_loopback_ip(port)
    capture = tmp_path / "run.pcapng"

    async def main() -> None:
        async with Runtime(
            tmp_path / "state",
            port=port,
            http_port=ports.tcp(),
            clock=ScaledClock(1000),
            pcap=capture,
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            await rt.press(host.name, 1.8)
            loopback = ("/port", str(port), "/bcast", "127.255.255.255")
            status, out, _ = await finished(
                *GWLOAD, "/gwtype", "6000", "/i", "10.1.2.3", "/setip", *loopback
            )
            assert status == 4, out  # refused
            status, out, err = await finished(
                *GWLOAD, "/gwtype", "6000", "/i", ip, "/setip",
                "/getcfg", str(tmp_path / "c.txt"), *loopback,
            )  # fmt: skip
            assert status == 0, out + err
            assert rt.errors == []

    run(main(), timeout=120)
    rows, _ = tshark(capture, tmp_path, "-o", f"gwload.port:{port}")
    messages = gwload_rows(rows)
    for row, msg in messages:
        check_fields(row, msg)
        # the device's capture: its answers outbound, the requests inbound
        answer = isinstance(msg, Hello | Nak)
        assert row["frame.packet_flags_direction"] == ("0x00000002" if answer else "0x00000001")
    naks = [(row, msg) for row, msg in messages if isinstance(msg, Nak)]
    assert naks
    row, nak = naks[0]
    assert nak.code == NakCode.BAD_ADDRESS
    assert row["gwload.nak_code"] == "2"
    assert "10.1.2.3" in row["gwload.nak_text"]
    setips = [msg for _, msg in messages if isinstance(msg, SetIp)]
    assert {str(msg.ip) for msg in setips} == {"10.1.2.3", ip}
    tftp = [row["tftp.opcode"] for row in rows if row["_ws.col.Protocol"] == "TFTP"]
    assert tftp[0] == "1"
    assert "3" in tftp
    assert "4" in tftp

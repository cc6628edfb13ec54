"""Lab files: what a good one gives, and the file:key:reason of every kind of bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.devicespec import DeviceSpec, parse_model_counts
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.labfile import LabError, check_lab, load_lab, parse_lab
from ipgwsim.tools.cli import main as cli_main

GOOD = """\
schema = 1

[runtime]
port = 6969
speed = 10
state = "lab-state"
console_port = 7000

[[device]]
model = "IP800"
count = 2

[[device]]
model = "811"
name = "branch"
count = 3
mac = "00-90-33-20-00-01"
console_port = 7100

[[device]]
model = "ip6000"
name = "office"
config = "saved/office-cfg.txt"
http_port = 8081
"""


def lab_error(text: str, tmp_path: Path) -> str:
    with pytest.raises(LabError) as info:
        parse_lab(text, "lab.toml", tmp_path)
    return str(info.value)


def test_a_good_lab_file(tmp_path: Path) -> None:
    lab = parse_lab(GOOD, "lab.toml", tmp_path)
    assert lab.port == 6969
    assert lab.speed == 10.0
    assert lab.state == tmp_path / "lab-state"
    assert lab.console_port == 7000
    assert lab.network == "loopback"
    assert lab.models == ("IP800", "IP811", "IP6000")
    assert lab.device_count == 6
    assert lab.devices == (
        DeviceSpec("IP800", 2),
        DeviceSpec("IP811", 3, name="branch", mac="009033200001", console_port=7100),
        DeviceSpec(
            "IP6000", name="office", config=tmp_path / "saved/office-cfg.txt", http_port=8081
        ),
    )
    assert lab.devices[1].names() == ["branch-1", "branch-2", "branch-3"]
    assert lab.devices[1].macs() == ["009033200001", "009033200002", "009033200003"]
    assert lab.devices[2].names() == ["office"]
    assert lab.devices[0].names() is None
    assert lab.devices[0].macs() is None


def test_consoles_on_tcp_only_when_the_file_asks(tmp_path: Path) -> None:
    """Off by default; a console port asks for them; ``console_tcp`` says so outright."""
    assert parse_lab(GOOD, "lab.toml", tmp_path).console_tcp is True  # console ports
    bare = 'schema = 1\n[[device]]\nmodel = "IP800"\n'
    assert parse_lab(bare, "lab.toml", tmp_path).console_tcp is False
    asked = bare.replace("schema = 1\n", "schema = 1\n[runtime]\nconsole_tcp = true\n")
    assert parse_lab(asked, "lab.toml", tmp_path).console_tcp is True
    own_port = bare + "console_port = 7200\n"
    assert parse_lab(own_port, "lab.toml", tmp_path).console_tcp is True
    refused = own_port.replace("schema = 1\n", "schema = 1\n[runtime]\nconsole_tcp = false\n")
    assert lab_error(refused, tmp_path) == (
        "lab.toml: device.0.console_port: is a console port, but runtime.console_tcp is false"
    )


def test_consoles_without_a_pty_when_the_file_says_so(tmp_path: Path) -> None:
    bare = 'schema = 1\n[[device]]\nmodel = "IP800"\n'
    assert parse_lab(bare, "lab.toml", tmp_path).console_pty is True
    off = bare.replace("schema = 1\n", "schema = 1\n[runtime]\nconsole_pty = false\n")
    assert parse_lab(off, "lab.toml", tmp_path).console_pty is False
    wrong = bare.replace("schema = 1\n", 'schema = 1\n[runtime]\nconsole_pty = "no"\n')
    assert lab_error(wrong, tmp_path).startswith("lab.toml: runtime.console_pty: ")


def test_impairments_and_captures(tmp_path: Path) -> None:
    text = """\
schema = 1
[runtime]
impair = "loss=5%,seed=1"
pcap = "all.pcapng"
[[device]]
model = "IP6000"
impair = "loss=30%,dup=10%,reorder=10%,seed=7"
pcap = "caps/gw.pcapng"
[[device]]
model = "IP811"
impair = "off"
"""
    lab = parse_lab(text, "lab.toml", tmp_path)
    assert lab.impairment == Impairment(loss=5, seed=1)
    assert lab.pcap == tmp_path / "all.pcapng"
    first, second = lab.devices
    assert first.impairment == Impairment(loss=30, duplicate=10, reorder=10, seed=7)
    assert first.pcap == tmp_path / "caps" / "gw.pcapng"
    assert second.impairment == Impairment()  # off: not the runtime's either
    assert second.pcap is None


def test_the_front_panel_port(tmp_path: Path) -> None:
    text = 'schema = 1\n[runtime]\nui = "0.0.0.0:8088"\n[[device]]\nmodel = "IP6000"\n'
    assert parse_lab(text, "lab.toml", tmp_path).ui == ("0.0.0.0", 8088)
    assert parse_lab(GOOD, "lab.toml", tmp_path).ui is None


def test_namespace_attachments(tmp_path: Path) -> None:
    text = """\
schema = 1
[runtime]
network = "netns"
attach = "bridge:br-lab"
[[device]]
model = "IP6000"
attach = "netns:edge"
"""
    lab = parse_lab(text, "lab.toml", tmp_path)
    assert lab.network == "netns"
    assert lab.attachment == Attachment("bridge", "br-lab")
    assert lab.devices[0].attachment == Attachment("netns", "edge")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("schema = 1", "schema = 2"), "lab.toml: schema: must be 1, not 2"),
        (("schema = 1\n", ""), "lab.toml: schema: is missing"),
        (("[runtime]\n", "colour = 1\n[runtime]\n"), "lab.toml: colour: unknown key"),
        (("port = 6969", "port = 6969\nbogus = 1"), "lab.toml: runtime.bogus: unknown key"),
        (("port = 6969", "port = 70000"), "lab.toml: runtime.port: must be a port from 1 to "),
        (("port = 6969", 'port = "6969"'), "lab.toml: runtime.port: must be int, not str"),
        (("speed = 10", "speed = 0"), "lab.toml: runtime.speed: must be a positive number, not"),
        (("speed = 10", "speed = true"), "lab.toml: runtime.speed: must be float, not bool"),
        (
            ('state = "lab-state"', 'state = "lab-state"\nnetwork = "vlan"'),
            "lab.toml: runtime.network: must be 'loopback' or 'netns', not 'vlan'",
        ),
        (
            ('state = "lab-state"', 'state = "lab-state"\nattach = "bridge:br0"'),
            "lab.toml: runtime.attach: needs network = 'netns'",
        ),
        (('model = "IP800"', 'model = "IP999"'), "lab.toml: device.0.model: no hardware profile"),
        (('model = "IP800"', "model = 800"), "lab.toml: device.0.model: must be str, not int"),
        (("count = 2", "count = 0"), "lab.toml: device.0.count: must be positive, not 0"),
        (("count = 2", "count = 2\nfirmware = 1"), "lab.toml: device.0.firmware: unknown key"),
        (
            ('name = "branch"', 'name = "Branch"'),
            "lab.toml: device.1.name: 'Branch-3' is not a device name",
        ),
        (
            ('name = "office"', 'name = "branch-2"'),
            "lab.toml: device.2.name: branch-2 is also a device of device.1",
        ),
        (
            ('mac = "00-90-33-20-00-01"', 'mac = "00:90:33:20:00"'),
            "lab.toml: device.1.mac: '00:90:33:20:00' is not a MAC",
        ),
        (
            ('mac = "00-90-33-20-00-01"', 'mac = "01:00:5e:00:00:01"'),
            "lab.toml: device.1.mac: 01:00:5e:00:00:01 is a multicast MAC",
        ),
        (
            ('mac = "00-90-33-20-00-01"', 'mac = "00:ff:ff:ff:ff:fe"'),
            "lab.toml: device.1.mac: 3 MACs from 00:ff:ff:ff:ff:fe on run past 00:ff:ff:ff:ff:ff",
        ),
        (
            ("http_port = 8081", 'http_port = 8081\nmac = "00:90:33:20:00:03"'),
            "lab.toml: device.2.mac: 00:90:33:20:00:03 is also a MAC of device.1",
        ),
        (
            ("http_port = 8081", "http_port = 8081\nconsole_port = 7105"),
            "lab.toml: device.2.console_port: port 7105 is also a console port of device.1",
        ),
        (
            ("http_port = 8081", 'http_port = 8081\nattach = "host"'),
            "lab.toml: device.2.attach: needs network = 'netns' in [runtime]",
        ),
        (
            ('config = "saved/office-cfg.txt"', 'config = ""'),
            "lab.toml: device.2.config: must not be empty",
        ),
        (
            ("http_port = 8081", 'http_port = 8081\nimpair = "loss=30"'),
            "lab.toml: device.2.impair: 'loss=30': loss is a percentage: write loss=30%",
        ),
        (
            ("console_port = 7000", 'console_port = 7000\nimpair = "lost=3%"'),
            "lab.toml: runtime.impair: 'lost=3%': unknown setting 'lost' (known: loss, dup, ",
        ),
        (
            ("console_port = 7000", "console_port = 7000\npcap = 5"),
            "lab.toml: runtime.pcap: must be str, not int",
        ),
        (
            ("console_port = 7000", 'console_port = 7000\nui = "panel.example:80"'),
            "lab.toml: runtime.ui: 'panel.example' is not an IP address (give [HOST:]PORT, ",
        ),
        (
            ('state = "lab-state"', 'state = "lab-state"\nshare_port = true\nnetwork = "netns"'),
            "lab.toml: runtime.share_port: is for the loopback network",
        ),
    ],
)
def test_every_bad_key_is_named(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    assert lab_error(GOOD.replace(old, new, 1), tmp_path).startswith(expected)


def test_files_that_are_no_lab(tmp_path: Path) -> None:
    assert lab_error("schema = 1\n", tmp_path) == "lab.toml: device: is missing"
    assert lab_error("schema = 1\ndevice = []\n", tmp_path) == (
        "lab.toml: device: must list at least one device ([[device]])"
    )
    assert lab_error("schema = 1\ndevice = [1]\n", tmp_path) == (
        "lab.toml: device.0: must be a table ([[device]])"
    )
    assert lab_error("schema = [", tmp_path).startswith("lab.toml: is not valid TOML: ")
    with pytest.raises(LabError, match=r"missing\.toml: cannot be read: No such file"):
        load_lab(tmp_path / "missing.toml")
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(LabError, match=r"latin1\.toml: is not UTF-8 text"):
        load_lab(tmp_path / "latin1.toml")


def test_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "labs"
    folder.mkdir()
    (folder / "lab.toml").write_text(GOOD)
    lab = load_lab(folder / "lab.toml")
    assert lab.state == folder / "lab-state"
    assert lab.devices[2].config == folder / "saved" / "office-cfg.txt"
    assert lab.source == str(folder / "lab.toml")


def test_check_loads_every_starting_config(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(GOOD)
    lab = load_lab(tmp_path / "lab.toml")
    config = tmp_path / "saved" / "office-cfg.txt"
    with pytest.raises(LabError) as info:
        check_lab(lab)
    assert str(info.value).startswith(
        f"{tmp_path}/lab.toml: device.2.config: {config}: No such file"
    )
    config.parent.mkdir()
    config.write_text("config change CMD0 /name office\r\nconfig chnage ETH0 /dhcp off\r\n")
    with pytest.raises(LabError) as info:
        check_lab(lab)
    assert str(info.value) == (
        f"{tmp_path}/lab.toml: device.2.config: {config}: line 2: config chnage ETH0 /dhcp off: "
        "unknown config verb 'chnage'"
    )
    config.write_text("config change CMD0 /name office\r\n")
    check_lab(lab)


def test_model_counts_on_the_command_line() -> None:
    assert parse_model_counts(["IP800:2", "ip811:3", "6000"]) == [
        ("IP800", 2),
        ("ip811", 3),
        ("6000", None),
    ]
    with pytest.raises(RuntimeSetupError, match=r"'IP800:0': the count must be 1 or more"):
        parse_model_counts(["IP800:0"])
    with pytest.raises(RuntimeSetupError, match=r"'IP800:two': give a model and an optional"):
        parse_model_counts(["IP800:two"])


def test_lab_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text(GOOD)
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "office-cfg.txt").write_text("config change CMD0 /name office\r\n")
    assert cli_main(["lab", "check", str(lab)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{lab}: ok: 6 devices, loopback, port 6969"
    assert out[1].split() == ["DEVICES", "MODEL", "MAC", "STARTS", "FROM", "IMPAIRMENT"]
    assert out[2].split() == ["2", "x", "ip800-N", "IP800", "auto", "factory", "defaults", "off"]
    assert out[3].split() == [
        "branch-1", "..", "branch-3", "IP811", "00:90:33:20:00:01", "and", "on",
        "factory", "defaults", "off",
    ]  # fmt: skip
    config = str(tmp_path / "saved/office-cfg.txt")
    assert out[4].split() == ["office", "IP6000", "auto", config, "off"]

    lab.write_text(GOOD.replace("count = 3", "count = 3\ncolour = 'red'"))
    assert cli_main(["lab", "check", str(lab)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"ipgwsim lab check: {lab}: device.1.colour: unknown key\n"


def test_the_example_of_the_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/lab-file.md: its example checks, and prints what the page shows."""
    page = (Path(__file__).parents[2] / "docs" / "lab-file.md").read_text()
    example = page.split("```toml\n", 1)[1].split("```", 1)[0]
    shown = page.split("prints what it would start:\n\n```\n", 1)[1].split("```", 1)[0]
    (tmp_path / "lab.toml").write_text(example)
    (tmp_path / "office-cfg.txt").write_text("config change CMD0 /name office\r\n")
    assert cli_main(["lab", "check", str(tmp_path / "lab.toml")]) == 0
    out = capsys.readouterr().out
    expected = shown.replace("lab.toml:", f"{tmp_path}/lab.toml:", 1).replace(
        "/home/me/lab", str(tmp_path)
    )
    assert [line.split() for line in out.splitlines()] == [
        line.split() for line in expected.splitlines()
    ]
    error = page.split("$ ipgwsim lab check lab.toml\n", 1)[1].split("\n", 1)[0]
    broken = example.replace(
        "console_port = 7100", 'console_port = 7100\nmac = "00:90:33:20:00:03"', 1
    )
    (tmp_path / "lab.toml").write_text(broken)
    assert cli_main(["lab", "check", str(tmp_path / "lab.toml")]) == 2
    assert capsys.readouterr().err.rstrip("\n") == error.replace(
        "lab.toml:", f"{tmp_path}/lab.toml:", 1
    )

"""Devices with names, MACs and starting configs of their own (the lab file's per-device keys).

A saved configuration comes the way users have it: ``/cfg.txt`` fetched from a running
device with curl, and a ring dump read with tftp-hpa's ``tftp`` in TFTP mode.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipgwsim.events import Led, Mode
from ipgwsim.flash.dumptext import newest_generation
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.testing.simulator import Simulator

pytestmark = pytest.mark.integration

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]
need_tftp = pytest.mark.requires("tftp")
need_curl = pytest.mark.requires("curl")


@pytest.fixture
def sim(tmp_path: Path, private_registry: Path) -> Iterator[Simulator]:
    """On a registry of the test's own: the MACs these tests give are theirs alone."""
    with Simulator(tmp_path / "state") as simulator:
        yield simulator
    assert simulator.leftovers() == []


def test_names_and_macs_of_a_mixed_lab(sim: Simulator) -> None:
    edge = sim.add_many("IP800", 2, name="edge")
    branch = sim.add("IP811", name="branch", mac="00-90-33-20-00-01")
    plain = sim.add("IP6000")
    assert [(g.name, g.model) for g in [*edge, branch, plain]] == [
        ("edge-1", "IP800"),
        ("edge-2", "IP800"),
        ("branch", "IP811"),
        ("ip6000-1", "IP6000"),
    ]
    assert branch.mac == "00:90:33:20:00:01"
    macs = [g.mac for g in sim.gateways]
    assert len(set(macs)) == 4
    assert all(mac.startswith("00:90:33:") for mac in macs)
    assert all(g.mode is Mode.FIRMWARE for g in sim.gateways)
    with pytest.raises(RuntimeSetupError, match=r"^branch: a device of that name runs already$"):
        sim.add("IP811", name="branch")
    with pytest.raises(RuntimeSetupError, match=r"^MAC 00:90:33:20:00:01 is branch's already$"):
        sim.add("IP6000", name="other", mac="00:90:33:20:00:01")
    with pytest.raises(RuntimeSetupError, match=r"^'00:90:33' is not a MAC"):
        sim.add("IP6000", mac="00:90:33")
    # The lab file's MAC checks hold for the Python API too (one check, in DeviceSpec).
    with pytest.raises(RuntimeSetupError, match=r"^01:00:5e:00:00:01 is a multicast MAC"):
        sim.add("IP6000", mac="01:00:5e:00:00:01")
    with pytest.raises(RuntimeSetupError, match=r"^3 MACs from 00:ff:ff:ff:ff:fe on run past"):
        sim.add_many("IP6000", 3, name="past", mac="00:ff:ff:ff:ff:fe")
    assert len(sim.gateways) == 4  # nothing of the refused ones started


@pytest.mark.usefixtures("private_registry")
def test_a_named_device_comes_back_as_itself(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "cfg.txt"
    config.write_text("config change CMD0 /name first-start\r\n")
    with Simulator(state) as sim:
        gw = sim.add("IP811", name="branch", mac="00:90:33:20:00:07", config=config)
        assert "first-start" in (gw.newest_config() or "")
        gw.configure("config change CMD0 /name changed-later", restart=False)
    with Simulator(state) as sim:
        # The saved flash wins: a starting config is for a new device only.
        gw = sim.add("IP811", name="branch", config=config)
        assert gw.mac == "00:90:33:20:00:07"
        assert "changed-later" in (gw.newest_config() or "")
    with Simulator(state) as sim, pytest.raises(RuntimeSetupError) as info:
        sim.add("IP6000", name="branch")
    assert str(info.value) == (
        f"branch: the state directory {state} has it as an IP811, not an IP6000 "
        "(remove its folder, or choose another name)"
    )
    with Simulator(state) as sim, pytest.raises(RuntimeSetupError) as info:
        sim.add("IP811", name="branch", mac="00:90:33:20:00:08")
    assert str(info.value) == (
        "branch: the state directory has it with MAC 00:90:33:20:00:07, not "
        "00:90:33:20:00:08 (remove its folder to make it anew)"
    )


def test_a_starting_config_the_firmware_refuses(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "bad.txt"
    config.write_text("config change CMD0 /name ok\r\nmod cmd NOSUCH0 frob\r\n")
    with pytest.raises(RuntimeSetupError) as info:
        sim.add("IP6000", name="bad", config=config)
    assert str(info.value).startswith(f"bad: starting config {config}: line 2: ")
    assert not (sim.state_dir / "bad").exists()  # a device that never ran leaves nothing
    with pytest.raises(RuntimeSetupError, match=r"starting config .*missing\.txt: cannot be read"):
        sim.add("IP6000", config=tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\r\n")
    with pytest.raises(RuntimeSetupError, match=r"the file is empty: no configuration"):
        sim.add("IP6000", config=empty)


@need_curl
@need_tftp
def test_devices_start_from_a_real_devices_saved_configs(sim: Simulator, tmp_path: Path) -> None:
    original = sim.add("IP6000", name="original")
    original.configure(
        "config change CMD0 /name branch-office /user admin,pass-from-the-field",
        "config change ETH0 /addr 192.168.0.20 /mask 255.255.255.0 /dhcp off",
    )
    url = original.url
    assert url is not None
    saved = tmp_path / "cfg.txt"
    got = sim.run(
        "curl", "-s", "-f", "-o", str(saved), "-u", "admin:pass-from-the-field", f"{url}/cfg.txt"
    )
    assert got.returncode == 0, got.stdout
    assert "vars create CMD0/AUTH" in saved.read_text()  # the crypted password travels

    # TFTP mode: the ring dump, as the recovery of Howto:Config or Password Recovery reads it.
    original.press(1.8)
    original.wait_for(Mode.TFTP_MODE, led=Led.ORANGE)
    done = sim.run(
        *GWLOAD, "/gwtype", "6000", "/i", "127.0.0.33", "/setip",
        "/port", str(sim.port), "/bcast", "127.255.255.255",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    dump = tmp_path / "config-dump.bin"
    got = sim.run("tftp", "-m", "binary", "127.0.0.33", str(sim.port), "-c", "get", "config",
                  str(dump))  # fmt: skip
    assert got.returncode == 0, got.stdout
    newest = newest_generation(dump.read_bytes())
    assert newest is not None

    from_cfg = sim.add("IP6000", name="from-cfg", config=saved)
    from_dump = sim.add("IP6000", name="from-dump", config=dump)
    # The full config brought the crypted password along: it logs in with it.
    from_cfg.login("admin", "pass-from-the-field")
    shown = from_cfg.command("config show")
    assert "config change CMD0 /name branch-office" in shown
    assert from_dump.newest_config() == newest.text
    assert "branch-office" in newest.text
    assert from_cfg.mac != original.mac != from_dump.mac


@pytest.mark.usefixtures("private_registry")
def test_a_mac_in_another_state_directorys_numbers(tmp_path: Path) -> None:
    with Simulator(tmp_path / "a") as first, Simulator(tmp_path / "b") as second:
        assert first.add("IP6000").mac == "00:90:33:10:00:01"  # block 0 is a's
        with pytest.raises(RuntimeSetupError) as info:
            second.add("IP6000", name="mine", mac="00:90:33:10:00:40")
        assert str(info.value) == (
            "MAC 00:90:33:10:00:40 is in the serial numbers 00:90:33:10:00:01-00:90:33:10:00:ff, "
            f"which the state directory {tmp_path / 'a'} holds: give a MAC outside them"
        )
        assert not (tmp_path / "b" / "mine").exists()
        assert second.add("IP6000", name="mine", mac="00:90:33:10:01:40").name == "mine"

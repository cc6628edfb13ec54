"""A lab file of three models runs, and the seed's TFTP recovery works on each of its devices.

One device starts from a ``cfg.txt`` saved from a gateway whose password nobody knows any
more; the recovery reads its ring with tftp-hpa, sets a known password and sends the config
back with the repository's gwload, as the seed describes it.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipgwsim.events import ButtonBlink, Led, Mode
from ipgwsim.firmware.config import with_admin_password
from ipgwsim.flash.ring import newest_generation
from ipgwsim.hw_profiles import find_profile
from ipgwsim.testing.simulator import Gateway, Simulator

pytestmark = pytest.mark.integration

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]
need_tftp = pytest.mark.skipif(shutil.which("tftp") is None, reason="tftp-hpa is not installed")

LAB = """\
schema = 1

[[device]]
model = "IP800"

[[device]]
model = "IP811"
name = "branch"
count = 2

[[device]]
model = "IP6000"
name = "office"
config = "office-cfg.txt"
"""

#: What a gateway's /cfg.txt holds: the office's config with a password nobody remembers.
SAVED = "config change CMD0 /name office /user admin,forgotten-long-ago\r\n"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "state") as simulator:
        yield simulator
    assert simulator.leftovers() == []


def recover(sim: Simulator, gw: Gateway, ip: str, work: Path) -> None:
    """The seed's TFTP recovery, step by step, with the tools users have."""
    profile = find_profile(gw.model)
    gw.press(1.8)
    gw.wait_for(Mode.TFTP_MODE, led=Led.ORANGE)
    assert len(gw.of_type(ButtonBlink)) >= 1
    where = ["/port", str(sim.port), "/bcast", "127.255.255.255"]
    gwtype = str(profile.gwtype)
    done = sim.run(*GWLOAD, "/gwtype", gwtype, "/mac", gw.mac, "/i", ip, "/setip", *where)
    assert done.returncode == 0, done.stdout
    dump = work / f"{gw.name}-config.txt"
    got = sim.run("tftp", "-m", "binary", ip, str(sim.port), "-c", "get", "config", str(dump))
    assert got.returncode == 0, got.stdout
    newest = newest_generation(dump.read_bytes())
    assert newest is not None
    edited = work / f"{gw.name}-new.txt"
    edited.write_text(with_admin_password(newest.text, "admin", "known-now"), newline="")
    done = sim.run(
        *GWLOAD, "/gwtype", gwtype, "/mac", gw.mac, "/i", ip, "/setip", "/cfg", str(edited),
        *where,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    gw.wait_for(Mode.FIRMWARE, led=Led.GREEN)
    gw.login("admin", "known-now")


@need_tftp
def test_the_recovery_on_every_model_of_a_lab(sim: Simulator, tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(LAB)
    (tmp_path / "office-cfg.txt").write_text(SAVED)
    gateways = sim.add_lab(tmp_path / "lab.toml")
    assert [(g.name, g.model) for g in gateways] == [
        ("ip800-1", "IP800"),
        ("branch-1", "IP811"),
        ("branch-2", "IP811"),
        ("office", "IP6000"),
    ]
    office = gateways[-1]
    with pytest.raises(PermissionError):
        office.login("admin", "ip6000")  # the saved config's password holds
    for number, gw in enumerate(gateways, start=10):
        recover(sim, gw, f"127.0.0.{number}", tmp_path)
    assert "config change CMD0 /name office" in office.command("config show")

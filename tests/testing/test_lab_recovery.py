"""A lab file of three models runs, and the TFTP recovery of Howto:Config or Password
Recovery works on each of its devices.

One device starts from a ``cfg.txt`` saved from a gateway whose password nobody knows any more;
the recovery reads its ring with tftp-hpa, sets a known password and sends the config back with
the repository's gwload, as Howto:Config or Password Recovery describes it. One device's link
loses 30 % of its datagrams each way (seeded): there the tools are given their retransmission
settings for a bad link (gwload ``/tries`` and ``/timeout``, tftp-hpa's interactive ``rexmt``
and ``timeout``), and the upload is made with ``/noreset`` followed by a short press of the
reset button, since a lost ACK of RESET cannot be told from a lost RESET.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipgwsim.events import ButtonBlink, Led, Mode
from ipgwsim.firmware.config import with_admin_password
from ipgwsim.flash.dumptext import newest_generation
from ipgwsim.hw_profiles import find_profile
from ipgwsim.runtime.impair import Impairment
from ipgwsim.testing.simulator import Gateway, Simulator

pytestmark = pytest.mark.integration

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]
need_tftp = pytest.mark.requires("tftp")

LAB = """\
schema = 1

[[device]]
model = "IP800"

[[device]]
model = "IP811"
name = "branch"
count = 2

[[device]]
model = "IP811"
name = "far"
impair = "loss=30%,seed=11"

[[device]]
model = "IP6000"
name = "office"
config = "office-cfg.txt"
"""

#: Device seconds after which a transfer whose last ACK was lost has given up.
SETTLE = 60.0
#: What a gateway's /cfg.txt holds: the office's config with a password nobody remembers.
SAVED = "config change CMD0 /name office /user admin,forgotten-long-ago\r\n"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "state") as simulator:
        yield simulator
    assert simulator.leftovers() == []


def tftp_get(sim: Simulator, ip: str, remote: str, local: Path, *, lossy: bool) -> None:
    """tftp-hpa as Howto:Config or Password Recovery uses it; on a lossy link in its
    interactive mode, retransmitting every second (which always exits 0: its own lines say
    how it went)."""
    if not lossy:
        got = sim.run("tftp", "-m", "binary", ip, str(sim.port), "-c", "get", remote, str(local))
        assert got.returncode == 0, got.stdout
        return
    commands = f"binary\nrexmt 1\ntimeout 60\nget {remote} {local}\nquit\n"
    got = subprocess.run(
        ["tftp", ip, str(sim.port)],
        input=commands,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert "Transfer timed out" not in got.stdout + got.stderr, got.stdout
    assert "Error code" not in got.stdout + got.stderr, got.stdout


def recover(sim: Simulator, gw: Gateway, ip: str, work: Path) -> None:
    """The TFTP recovery of Howto:Config or Password Recovery, step by step, with the tools
    users have."""
    profile = find_profile(gw.model)
    lossy = gw.impairment is not None
    bad_link = ["/tries", "20", "/timeout", "0.2"] if lossy else []
    where = ["/port", str(sim.port), "/bcast", "127.255.255.255", *bad_link]
    gwtype = str(profile.gwtype)
    done = sim.run(*GWLOAD, "/gwtype", gwtype, "/mac", gw.mac, "/i", ip, "/setip", *where)
    assert done.returncode == 0, done.stdout
    dump = work / f"{gw.name}-config.txt"
    tftp_get(sim, ip, "config", dump, lossy=lossy)
    if lossy:
        # The client's last ACK may have been lost: the device then sends its last block
        # again until its retries run out, in device time, as a real one does.
        sim.advance(SETTLE)
    newest = newest_generation(dump.read_bytes())
    assert newest is not None
    assert newest.text == gw.newest_config()
    edited = work / f"{gw.name}-new.txt"
    edited.write_text(with_admin_password(newest.text, "admin", "known-now"), newline="")
    upload = ["/cfg", str(edited), *(["/noreset"] if lossy else [])]
    done = sim.run(*GWLOAD, "/gwtype", gwtype, "/mac", gw.mac, "/i", ip, "/setip", *upload, *where)
    assert done.returncode == 0, done.stdout
    if lossy:
        gw.press(0.3)  # a short press: the device restarts
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
        ("far", "IP811"),
        ("office", "IP6000"),
    ]
    far = gateways[3]
    assert far.impairment == Impairment(loss=30, seed=11)
    assert all(g.impairment is None for g in gateways if g is not far)
    office = gateways[-1]
    with pytest.raises(PermissionError):
        office.login("admin", "ip6000")  # the saved config's password holds
    for gw in gateways:
        gw.press(1.8)
        gw.wait_for(Mode.TFTP_MODE, led=Led.ORANGE)
        assert len(gw.of_type(ButtonBlink)) >= 1
    scan = sim.run(
        *GWLOAD, "/scan", "/port", str(sim.port), "/bcast", "127.255.255.255",
        "/tries", "10", "/timeout", "0.2",
    )  # fmt: skip
    assert scan.returncode == 0, scan.stdout
    listed = [line.split()[0] for line in scan.stdout.splitlines()[1:-1]]
    assert sorted(listed) == sorted(g.mac for g in gateways)
    for number, gw in enumerate(gateways, start=10):
        recover(sim, gw, f"127.0.0.{number}", tmp_path)
    assert "config change CMD0 /name office" in office.command("config show")
    assert far.counters.received.dropped + far.counters.sent.dropped > 0  # the link was bad

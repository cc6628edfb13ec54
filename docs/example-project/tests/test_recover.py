"""The site's recovery script against simulated gateways (ipgwsim's pytest plugin).

The devices run on real sockets; gwload and tftp-hpa's tftp are the real programs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ipgwsim.events import Mode
from ipgwsim.testing.simulator import Gateway, Simulator

from gwtools.recover import RecoveryFailed, recover_password

LOST = "forgotten-4711"


def lose_the_password(gw: Gateway) -> None:
    """What happened on site: an admin set a password and nobody wrote it down."""
    gw.configure(f"config change CMD0 /name site-a /user admin,{LOST}")  # then a restart
    with pytest.raises(PermissionError):
        gw.login("admin", gw.model.lower())


def on_loopback(sim: Simulator) -> dict[str, object]:
    """Without root the devices are on loopback: the simulator's port and broadcast."""
    options = ["/port", str(sim.port), "/bcast", "127.255.255.255"]
    return {"gwload_options": options, "tftp_port": sim.port}


@pytest.mark.parametrize("model", ["IP6000", "IP811"])
def test_a_lost_password_is_recovered(ipgwsim_sim: Simulator, model: str, tmp_path: Path) -> None:
    gw = ipgwsim_sim.add(model)
    lose_the_password(gw)
    gw.press(1.8)  # 1.5-2 s: TFTP mode, config kept
    assert gw.mode is Mode.TFTP_MODE

    sent = recover_password(
        "127.0.0.5", "admin", "n3w-secret", workdir=tmp_path, **on_loopback(ipgwsim_sim)
    )

    assert "/name site-a" in sent  # the site's config is kept
    gw.wait_for(Mode.FIRMWARE)
    gw.login("admin", "n3w-secret")
    assert "/name site-a" in gw.command("config show")
    with pytest.raises(PermissionError):
        gw.login("admin", LOST)


def test_after_a_long_press_there_is_nothing_to_recover(
    ipgwsim_gateway: Gateway, ipgwsim_sim: Simulator, tmp_path: Path
) -> None:
    ipgwsim_gateway.press(15.0)  # long: the config is cleared
    ipgwsim_gateway.wait_for(Mode.TFTP_MODE)
    with pytest.raises(RecoveryFailed, match="config ring is empty"):
        recover_password("127.0.0.5", "admin", "x", workdir=tmp_path, **on_loopback(ipgwsim_sim))


@pytest.mark.ipgwsim_netns  # real addresses and port 69; skipped without root
@pytest.mark.ipgwsim_speed(10)
def test_in_a_lab_namespace(
    ipgwsim_sim: Simulator, ipgwsim_gateway: Gateway, tmp_path: Path
) -> None:
    lose_the_password(ipgwsim_gateway)
    ipgwsim_gateway.press(1.8)
    assert ipgwsim_sim.lab is not None
    recover_password(
        "192.168.0.1", "admin", "n3w-secret", workdir=tmp_path,
        prefix=["ip", "netns", "exec", ipgwsim_sim.lab],
    )  # fmt: skip
    ipgwsim_gateway.wait_for(Mode.FIRMWARE)
    ipgwsim_gateway.login("admin", "n3w-secret")

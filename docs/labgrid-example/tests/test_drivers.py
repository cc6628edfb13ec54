"""The drivers' errors: bad settings and an unreachable runtime each give one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ipgwsim_labgrid import IpgwsimButtonDriver, IpgwsimDevice, IpgwsimError, IpgwsimPowerDriver
from labgrid import Target


def test_a_device_without_a_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'device' is empty"):
        IpgwsimDevice(Target("lab"), None, device="", state_dir=str(tmp_path))


def test_a_hold_out_of_range_is_refused(tmp_path: Path) -> None:
    target = Target("lab")
    IpgwsimDevice(target, None, device="ip6000-1", state_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"hold 0 s is not in \(0, 3600\]"):
        IpgwsimButtonDriver(target, None, hold=0)


def test_no_runtime_in_the_state_directory_is_one_clear_line(tmp_path: Path) -> None:
    target = Target("lab")
    IpgwsimDevice(target, None, device="ip6000-1", state_dir=str(tmp_path))
    power = IpgwsimPowerDriver(target, None)
    target.activate(power)
    with pytest.raises(IpgwsimError) as raised:
        power.on()
    message = str(raised.value)
    assert message.startswith("ip6000-1: power: "), message
    assert str(tmp_path) in message, message
    assert "\n" not in message

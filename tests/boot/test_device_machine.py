"""The device state machine (ipgwsim.testing.device_machine) under Hypothesis."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from ipgwsim.testing.device_machine import DeviceMachine


class IP6000Machine(DeviceMachine):
    """No rescue copy: only the two boot code slots keep it alive."""

    profile_name = "IP6000"


SETTINGS = settings(
    # 200 by default; more under IPGWSIM_HYPOTHESIS=thorough (tests/conftest.py)
    max_examples=max(200, settings().max_examples),
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestDeviceIP800 = DeviceMachine.TestCase
TestDeviceIP800.settings = SETTINGS
TestDeviceIP6000 = IP6000Machine.TestCase
TestDeviceIP6000.settings = SETTINGS

"""The config commands of a running firmware under power cuts (ipgwsim.testing.config_machine)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from ipgwsim.testing.config_machine import ConfigMachine


class IP811Machine(ConfigMachine):
    """64 KiB sectors and another default password."""

    profile_name = "IP811"


SETTINGS = settings(
    # Every /user move and login check is an scrypt derivation (~45 ms): half the profile's
    # examples, 50 by default and 1000 under IPGWSIM_HYPOTHESIS=thorough (tests/conftest.py).
    max_examples=max(1, settings().max_examples // 2),
    stateful_step_count=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestConfigIP6000 = ConfigMachine.TestCase
TestConfigIP6000.settings = SETTINGS
TestConfigIP811 = IP811Machine.TestCase
TestConfigIP811.settings = SETTINGS

"""The device state machine (ipgwsim.testing.device_machine) under Hypothesis."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from ipgwsim.testing.device_machine import DeviceMachine

TestDevice = DeviceMachine.TestCase
TestDevice.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

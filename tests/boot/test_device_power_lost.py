"""A power cut in anything the firmware does switches the device off, caught in one place
(``Device._guarded``): a timer, a web request, a fetch's answer, and a console command
typed at the runtime's terminal."""

from __future__ import annotations

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import Event, Mode, PoweredOff
from ipgwsim.firmware import ConsoleSession
from ipgwsim.flash.faults import CutMode
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto.node import drain_events

PROFILE = find_profile("IP6000")


def _running() -> Device:
    device = Device(PROFILE, factory_flash(PROFILE), Instance.numbered("gw", 1))
    device.power_on(0.0)
    drain_events(device)
    assert device.mode is Mode.FIRMWARE
    return device


def _logged_in(device: Device) -> ConsoleSession:
    assert device.firmware is not None
    session = ConsoleSession(device.firmware)
    password = PROFILE.firmware.default_password
    assert device.console_input(session, f"admin\r{password}\r".encode(), 1.0) is not None
    return session


def _power_off_reason(device: Device) -> str:
    events: list[Event] = drain_events(device)
    [off] = [e for e in events if isinstance(e, PoweredOff)]
    return off.cause


def test_a_console_command_that_meets_a_power_cut_switches_the_device_off() -> None:
    device = _running()
    session = _logged_in(device)
    assert device.console_input(session, b"config change CMD0 /name cut\r", 2.0) is not None
    device.cut_power_at(1, CutMode.ATOMIC)
    assert device.console_input(session, b"config write\r", 3.0) is None
    assert device.mode is Mode.OFF
    assert device.firmware is None
    assert _power_off_reason(device).startswith("power cut at flash operation: power lost")


def test_console_input_answers_what_the_session_prints() -> None:
    device = _running()
    session = _logged_in(device)
    out = device.console_input(session, b"config show\r", 2.0)
    assert out is not None
    assert b"IP6000> " in out
    assert device.mode is Mode.FIRMWARE


def test_the_device_notes_when_the_last_power_cut_switched_it_off() -> None:
    """The flash remembers what a cut hit, the device when: the time of the input whose
    flash operation it cut, kept while the device is switched off and on again."""
    device = _running()
    session = _logged_in(device)
    assert device.last_cut_time is None
    at = device.cut_power_at(1, CutMode.TORN)
    assert device.console_input(session, b"config write\r", 7.5) is None
    drain_events(device)
    cut = device.flash.faults.last_cut
    assert cut is not None
    assert cut.at_op == at
    assert device.last_cut_time == 7.5
    device.power_on(9.0)
    drain_events(device)
    device.power_off(12.0)  # switched off: not a cut, the time of the cut stays
    drain_events(device)
    assert device.last_cut_time == 7.5
    device.power_on(13.0)
    drain_events(device)
    session = _logged_in(device)
    device.cut_power_at(1, CutMode.ATOMIC)
    assert device.console_input(session, b"config write\r", 20.0) is None
    drain_events(device)
    assert device.last_cut_time == 20.0

"""The boot code's randomness is made on first use and draws the stream it always drew.

A device seeded by its serial number (or a runtime's device by a seed from the system)
draws one 64-bit firmware seed at each firmware start, and its TFTP transfer ports
after that: the same numbers as from ``random.Random(seed)`` kept from the power-on.
"""

from __future__ import annotations

import random

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import Mode
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto.node import drain_events

PROFILE = find_profile("IP6000")


def _running(rng_seed: int | str | None = None) -> Device:
    instance = Instance.numbered("gw", 1)
    device = Device(PROFILE, factory_flash(PROFILE), instance, rng_seed=rng_seed)
    device.power_on(0.0)
    drain_events(device)
    assert device.mode is Mode.FIRMWARE
    return device


def test_an_idle_running_device_holds_no_boot_generator_and_seeds_its_firmware_as_before() -> None:
    device = _running()
    assert device.boot._rng is None
    kept = random.Random(device.instance.serial)  # what the device held before
    firmware = device.firmware
    assert firmware is not None
    assert firmware.rng.randbytes(16) == random.Random(kept.getrandbits(64)).randbytes(16)


def test_draws_before_and_after_the_generator_is_made_continue_one_stream() -> None:
    device = _running(rng_seed=12345)
    kept = random.Random(12345)
    kept.getrandbits(64)  # the first firmware start
    assert device.boot.firmware_seed() == kept.getrandbits(64)  # a second start
    assert device.boot.firmware_seed() == kept.getrandbits(64)  # a third
    # The generator made now (TFTP mode's transfer ports) goes on from there...
    assert device.boot.rng.randrange(1 << 20) == kept.randrange(1 << 20)
    # ... and later starts draw from it.
    assert device.boot.firmware_seed() == kept.getrandbits(64)
    assert device.boot.rng.random() == kept.random()

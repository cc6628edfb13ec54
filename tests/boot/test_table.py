"""The boot code's table: total, and every (mode, input) pair does what its row says."""

from __future__ import annotations

from itertools import product

import pytest

from ipgwsim.boot import TABLE, Action, BootCode, Input
from ipgwsim.boot.bootcode import ACTIONS
from ipgwsim.boot.button import Press, classify_press
from ipgwsim.boot.requests import ImageUploaded
from ipgwsim.device import factory_flash
from ipgwsim.events import Led, Mode
from ipgwsim.flash.image import ImageKind, build_image, parse_header
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import find_profile

PROFILE = find_profile("IP6000")
MAC = bytes.fromhex("009033100001")


def test_table_is_total_and_every_action_has_its_method() -> None:
    assert set(TABLE) == set(product(Mode, Input))
    assert set(ACTIONS) == set(Action)
    assert {t.action for t in TABLE.values()} <= set(ACTIONS)
    assert all(callable(method) for method in ACTIONS.values())


def test_nothing_but_power_on_leaves_off() -> None:
    for event in Input:
        row = TABLE[Mode.OFF, event]
        if event is Input.POWER_ON:
            assert row.action is Action.POWER_ON
        else:
            assert (row.action, row.next) == (Action.IGNORE, Mode.OFF)


def test_power_always_wins() -> None:
    for mode in Mode:
        if mode is not Mode.OFF:
            assert TABLE[mode, Input.POWER_OFF].next is Mode.OFF
            assert TABLE[mode, Input.POWER_LOST].next is Mode.OFF


@pytest.mark.parametrize(
    ("held", "press"),
    [
        (0.0, Press.SHORT),
        (0.99, Press.SHORT),
        (1.0, Press.MEDIUM),
        (1.8, Press.MEDIUM),
        (9.99, Press.MEDIUM),
        (10.0, Press.LONG),
        (30.0, Press.LONG),
    ],
)
def test_press_classes_follow_the_profile(held: float, press: Press) -> None:
    assert classify_press(held, PROFILE.reset) is press


def _boot_in(mode: Mode) -> BootCode:
    """A boot code brought into ``mode`` the way a person would get there."""
    flash = factory_flash(PROFILE)
    boot = BootCode(PROFILE, flash, mac=MAC)
    if mode is Mode.OFF:
        return boot
    if mode is Mode.DEAD:
        PartitionTable(flash, PROFILE)["boot"].erase_all()
    boot.power_on(0.0)
    if mode in (Mode.TFTP_MODE, Mode.PROGRAMMING):
        boot.press(1.0)
        boot.release(2.8)
    if mode is Mode.PROGRAMMING:
        image = build_image(ImageKind.FIRMWARE, PROFILE.model, "09-new", b"x" * 1000)
        boot._upload = ImageUploaded(ImageKind.FIRMWARE, "prot", image, parse_header(image))
        boot.handle(Input.IMAGE_ACCEPTED, 3.0)
    if mode is Mode.CLEARING:
        boot.press(1.0)
        boot.release(12.0)
    assert boot.mode is mode
    return boot


#: Where the action decides, the modes it may pick for this test's device.
DECIDED: dict[tuple[Input, Mode | None], Mode | None] = {
    (Input.POWER_ON, Mode.OFF): Mode.FIRMWARE,
    (Input.PRESS, None): None,  # stays where it is
    (Input.RELEASE_SHORT, None): Mode.FIRMWARE,
    (Input.RELEASE_MEDIUM, None): Mode.TFTP_MODE,
    (Input.RELEASE_LONG, None): Mode.CLEARING,
    (Input.RESET, None): Mode.FIRMWARE,
    (Input.FIRMWARE_RESET, None): Mode.FIRMWARE,
}


@pytest.mark.parametrize(("mode", "event"), list(product(Mode, Input)))
def test_every_pair_ends_where_the_table_says(mode: Mode, event: Input) -> None:
    boot = _boot_in(mode)
    if event is Input.IMAGE_ACCEPTED:
        image = build_image(ImageKind.FIRMWARE, PROFILE.model, "09-new", b"y" * 1000)
        boot._upload = ImageUploaded(ImageKind.FIRMWARE, "prot", image, parse_header(image))
    releases = (Input.RELEASE_SHORT, Input.RELEASE_MEDIUM, Input.RELEASE_LONG)
    if event in releases and TABLE[mode, Input.PRESS].action is Action.HOLD:
        boot.handle(Input.PRESS, 20.0)  # a release follows a press
    row = TABLE[mode, event]
    boot.handle(event, 30.0)
    expected: Mode | None
    if row.next is not None:
        expected = row.next
    elif event is Input.POWER_ON:
        expected = DECIDED[event, mode]
    else:
        decided = DECIDED[event, None]
        expected = mode if decided is None else decided
    assert boot.mode is expected, f"{mode.name} + {event.name} ({row.action})"
    # The LED always shows the mode (a held button shows its blinking instead).
    if event is not Input.PRESS:
        assert boot.led is boot._mode_led(), (mode, event, boot.led)
    if boot.mode is Mode.OFF:
        assert boot.led is Led.OFF

"""The cues a person reads off the ready LED, at the times the sources give, on every model.

- seed config-or-password-recovery: press "ca. 1,5-2 sec (active LED must blink 3 times)"
  for TFTP mode with the config kept;
- Reference7:Bootcode functionality: a long reset is "10 seconds, or 15 blinks of the ready
  LED"; while the config is cleared "the ready LED is flashing fast", for "some seconds,
  depending on the size of the configuration";
- Course10: "flashing orange = firmware update", whichever way the image came.

Blinks are counted from the LED events at device times (virtual time).
"""

from __future__ import annotations

import pytest

from ipgwsim.events import ButtonBlink, ButtonReleased
from ipgwsim.hw_profiles import load_profiles
from ipgwsim.testing.lab import DeviceNode, Lab

PROFILES = sorted(load_profiles().values(), key=lambda p: p.model)
MODELS = [p.model for p in PROFILES]


def _blinks_at(node: DeviceNode, since: float, at: float) -> int:
    """Blinks the LED showed from ``since`` up to and including device time ``at``."""
    return sum(1 for t, e in node.events if isinstance(e, ButtonBlink) and since <= t <= at)


def _hold(lab: Lab, node: DeviceNode, seconds: float) -> tuple[int, str]:
    """Hold the button ``seconds``: the blinks counted while held, and the press it was."""
    start = lab.now
    lab.press(node, seconds)
    (released,) = node.of_type(ButtonReleased)
    return _blinks_at(node, start, start + seconds), released.press


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("hold", [1.5, 1.8, 2.0])
def test_the_seeds_press_shows_three_blinks_and_gives_tftp_mode(model: str, hold: float) -> None:
    lab = Lab()
    blinks, press = _hold(lab, lab.add(model), hold)
    assert (blinks, press) == (3, "medium")


@pytest.mark.parametrize("model", MODELS)
def test_ten_seconds_are_fifteen_blinks_and_a_long_reset(model: str) -> None:
    lab = Lab()
    blinks, press = _hold(lab, lab.add(model), 10.0)
    assert (blinks, press) == (15, "long")


@pytest.mark.parametrize("model", MODELS)
def test_letting_go_before_the_fifteenth_blink_keeps_the_config(model: str) -> None:
    lab = Lab()
    blinks, press = _hold(lab, lab.add(model), 9.9)
    assert (blinks, press) == (14, "medium")

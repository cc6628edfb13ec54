"""The reset button: how long it was held, and the blinks a person counts.

Reference7:Bootcode functionality: shorter than the profile's ``medium_s`` is a
short reset (restart); from ``medium_s`` up to ``long_s`` is TFTP mode with the
config kept (Howto:Config or Password Recovery: 1.5-2 s, the LED blinks 3 times);
``long_s`` or longer clears the config. The action is chosen when the button is released.
"""

from __future__ import annotations

from enum import Enum

from ipgwsim.hw_profiles.schema import ResetButton


class Press(Enum):
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


def classify_press(held_s: float, timing: ResetButton) -> Press:
    """Which reset a press of ``held_s`` seconds is."""
    if held_s < timing.medium_s:
        return Press.SHORT
    if held_s < timing.long_s:
        return Press.MEDIUM
    return Press.LONG


class HeldButton:
    """A press in progress: when it began and how often the LED has blinked."""

    def __init__(self, timing: ResetButton, now: float) -> None:
        self.timing = timing
        self.since = now
        self.blinks = 0

    def next_blink(self) -> float:
        """When the LED blinks next: the first blink as the button goes down, then one
        per blink period, so that the 15th falls on ``long_s`` (hw_profiles/loader.py)."""
        return self.since + self.blinks * self.timing.blink_period_s

    def blink_due(self, now: float) -> bool:
        """Count a blink if its time has come; True if it did."""
        if now < self.next_blink():
            return False
        self.blinks += 1
        return True

    def release(self, now: float) -> tuple[Press, float]:
        """The press this was, and how long the button was held."""
        held = max(0.0, now - self.since)
        return classify_press(held, self.timing), held

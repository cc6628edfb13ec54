"""The presses of the reset button the runtime accepts (a module of its own, without the
device model, so that ``ipgwsim press`` checks ``--hold`` before anything heavy loads)."""

from __future__ import annotations

import math

from ipgwsim.runtime.errors import RuntimeSetupError

#: The longest press of the reset button, in device seconds (docs/runtime.md: a decision;
#: the longest press a device tells apart, the factory reset, is about 12 s).
MAX_HOLD = 3600.0


def check_hold(hold: float) -> None:
    """Refuse a press held less than 0 or more than :data:`MAX_HOLD` device seconds
    (a whole number too large for a float too: a JSON body can hold one)."""
    try:
        taken = math.isfinite(hold) and 0 <= hold <= MAX_HOLD
        shown = f"{hold:g}"
    except OverflowError:  # an int beyond a float's range: shown by its logarithm
        exponent, fraction = divmod(math.log10(abs(hold)), 1)
        sign = "-" if hold < 0 else ""
        taken, shown = False, f"{sign}{10**fraction:.6g}e+{int(exponent)}"
    if not taken:
        raise RuntimeSetupError(f"hold must be 0 to {MAX_HOLD:g} device seconds, not {shown}")

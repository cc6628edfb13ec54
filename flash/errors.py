"""Errors of the flash layer.

They follow h11's split: :class:`LocalFlashError` means the caller broke a rule
of the part (a 0→1 program in strict mode, an unaligned write), and is a bug in
the code above; the other errors are things a real device meets (a power cut,
a bad sector, a full region) and are handled, not fixed.
"""

from __future__ import annotations

#: The event text of the firmware when an image does not fit (Howto:Firmware Upgrade
#: V12r1 V12r2).
NO_SPACE_EVENT = "Error 0x00130001 Major FLASHMAN0 no space"


class FlashError(Exception):
    """Base of every error raised by :mod:`ipgwsim.flash`."""


class LocalFlashError(FlashError):
    """The caller asked the part for something it cannot do (a bug above the flash)."""


class PowerLost(FlashError):
    """The power was cut during this operation; nothing works until power returns."""

    def __init__(self, op: int, detail: str) -> None:
        self.op = op
        super().__init__(f"power lost at flash operation {op}: {detail}")


class BadSectorError(FlashError):
    """A sector refused a program or erase (worn out or marked bad)."""

    def __init__(self, sector: int, op: str) -> None:
        self.sector = sector
        super().__init__(f"flash sector {sector} is bad: {op} failed")


class NoSpace(FlashError):
    """Something does not fit its region; ``str()`` is a sentence for a user."""

    def __init__(
        self, region: str, needed: int, available: int, what: str = "data", why: str = ""
    ) -> None:
        self.region = region
        self.needed = needed
        self.available = available
        #: Why ``available`` is what it is, when that is not just the region's size.
        self.why = why
        super().__init__(
            f"{NO_SPACE_EVENT}: {what} needs {needed} bytes, "
            f"region {region!r} has {available} bytes for it" + (f": {why}" if why else "")
        )

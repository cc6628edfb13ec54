"""What a device tells the world: events, as frozen dataclasses named as nouns.

The boot code and the firmware emit them; the runtime (or a test) drains them
with ``Device.next_event()`` and acts: it opens and closes sockets for the
addresses a device listens on, shows LED changes, writes console lines to the
device's pty, and saves the flash.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ipgwsim.proto.http import Fetch
from ipgwsim.proto.net import Address


class Led(Enum):
    """What the ready LED shows (the LED table of Course10:Basic - Initial startup and recovery)."""

    OFF = "off"
    GREEN = "steady green"
    ORANGE = "steady orange"
    GREEN_FLASHING = "flashing green"
    #: Clearing the config (long reset): Course10 "flashing green", Reference7 "flashing fast".
    GREEN_FLASHING_FAST = "flashing green fast"
    ORANGE_FLASHING = "flashing orange"
    RED_FLASHING = "flashing red"
    #: TFTP mode on a device without an orange LED: one blink every 2 s.
    BLINK_EVERY_2S = "one blink every 2 s"
    #: The reset button is held: one blink per blink period, for a person to count.
    COUNTING = "blinking while the button is held"


class Mode(Enum):
    """Where a device is, as a person looking at it would say."""

    OFF = "off"
    FIRMWARE = "running firmware"
    TFTP_MODE = "TFTP mode"
    PROGRAMMING = "programming flash"
    CLEARING = "clearing config"
    DEAD = "no valid boot code"


@dataclass(frozen=True)
class ModeChanged:
    mode: Mode
    #: Why, in a few words ("reset button held 1.8 s", "firmware defective").
    reason: str


@dataclass(frozen=True)
class LedChanged:
    led: Led


@dataclass(frozen=True)
class ButtonBlink:
    """One blink of the ready LED while the reset button is held."""

    count: int


@dataclass(frozen=True)
class ButtonReleased:
    """The reset button was let go after ``held`` seconds: a short, medium or long press."""

    held: float
    press: str


@dataclass(frozen=True)
class ConsoleOutput:
    """One line the device prints on its serial console (no line ending)."""

    line: str


@dataclass(frozen=True)
class PortOpened:
    """The device now receives datagrams sent to ``address``.

    ``("255.255.255.255", port)`` means the limited broadcast on that port.
    """

    address: Address


@dataclass(frozen=True)
class PortClosed:
    address: Address


@dataclass(frozen=True)
class AddressAssigned:
    """The device took an IPv4 address (SETIP in TFTP mode)."""

    ip: str
    mask: str
    gateway: str


@dataclass(frozen=True)
class AddressReleased:
    ip: str


class StartCause(Enum):
    """What led to a start of the firmware (``ETH /dhcp auto`` depends on it)."""

    #: Power-up, or a restart by the firmware or by gwload after one.
    POWER_UP = "power-up"
    #: A restart by the reset button: a short press, or TFTP mode entered by the button
    #: (medium or long press) and left by gwload RESET or GO.
    RESET_BUTTON = "reset button"


@dataclass(frozen=True)
class FirmwareStarted:
    """The boot code handed over to the firmware of this build."""

    build: str
    cause: StartCause = StartCause.POWER_UP


@dataclass(frozen=True)
class ResetRequested:
    """The firmware restarts the device (``reset``, ``ireset``, an update script)."""

    reason: str


@dataclass(frozen=True)
class FetchRequested:
    """The firmware asks for an HTTP request (an effect the runtime performs).

    The runtime answers with ``Device.fetch_done(FetchResult(...), now)``.
    """

    fetch: Fetch


@dataclass(frozen=True)
class FlashChanged:
    """The flash was written (the runtime saves its image file)."""

    what: str


@dataclass(frozen=True)
class ImageProgrammed:
    """The running firmware wrote an image (admin upload, update server): ``operations``
    flash operations for ``length`` bytes; the ready LED shows it for as long as that takes."""

    region: str
    operations: int
    length: int


@dataclass(frozen=True)
class PoweredOff:
    """The device lost power: switched off, or a power cut hit a flash operation."""

    cause: str


Event = (
    ModeChanged
    | LedChanged
    | ButtonBlink
    | ButtonReleased
    | ConsoleOutput
    | PortOpened
    | PortClosed
    | AddressAssigned
    | AddressReleased
    | FirmwareStarted
    | ResetRequested
    | FetchRequested
    | FlashChanged
    | ImageProgrammed
    | PoweredOff
)

"""The hardware profile: what one gateway model is, as frozen data.

A profile describes the *hardware and boot code of a model*, never an instance:
serial numbers, MAC addresses and where a device is attached belong to the
runtime's instance file. Every field has one meaning, written beside it.
Values that no public source documents are listed in ``placeholders`` so that
tools can show them as such (``ipgwsim profiles IP811`` marks them with ``*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

#: The names a flash region may have, in the order they usually sit in flash.
REGION_NAMES = ("boot", "altboot", "prot", "config", "vars", "flashdir")
#: Regions every profile must have; ``altboot`` only exists with a rescue copy.
REQUIRED_REGIONS = ("boot", "prot", "config", "vars", "flashdir")


class ConferenceMode(Enum):
    """How the CONF interface picks a room (Howto:Create Conference facility;
    Reference12r2:PBX/Objects/Conference)."""

    #: Firmware before 9: the called number ``<number><digit>#`` selects the room.
    LEGACY = "legacy"
    #: Firmware 9 and later: the PBX's Conference object hands the room over.
    PBX_OBJECT = "pbx_object"


@dataclass(frozen=True)
class Region:
    """One named part of the flash, in bytes from the start of the flash."""

    name: str
    offset: int
    size: int

    @property
    def end(self) -> int:
        """The first byte after the region."""
        return self.offset + self.size


@dataclass(frozen=True)
class FlashGeometry:
    """The NOR part: total size, erase sector size and program unit, in bytes."""

    size: int
    sector_size: int
    program_unit: int

    @property
    def sector_count(self) -> int:
        """How many erase sectors the flash has."""
        return self.size // self.sector_size


@dataclass(frozen=True)
class BootCode:
    """The boot code that ships with the model."""

    #: Build number of the boot code, e.g. 145 for IP6000 boot code in V7.
    build: int
    #: Name of the config file in TFTP mode: ``config`` (newer) or ``c`` (older).
    tftp_config_name: str
    #: Whether the model keeps a rescue copy of the boot code (``altboot``).
    rescue_copy: bool
    #: The boot build from which the rescue copy exists (IP800: 358), if any.
    rescue_from_build: int | None
    #: The oldest boot build with which the documented config recovery works.
    min_recovery_build: int | None
    #: TFTP options (RFC 2347) the boot code accepts.
    tftp_options: tuple[str, ...]


@dataclass(frozen=True)
class ResetButton:
    """How long the reset button is held for each effect, in seconds."""

    #: A press shorter than this restarts the device (short reset).
    medium_s: float
    #: A press at least this long clears the config (long reset); in between is TFTP mode.
    long_s: float
    #: The ready LED blinks once per period while the button is held.
    blink_period_s: float


@dataclass(frozen=True)
class Leds:
    """The ready LED."""

    #: Without an orange LED, TFTP mode is shown by one flash every 2 seconds.
    has_orange: bool


@dataclass(frozen=True)
class Ethernet:
    """One Ethernet interface and its factory address."""

    name: str
    default_address: str
    default_mask: str


@dataclass(frozen=True)
class Telephony:
    """Counts of telephony interfaces."""

    bri: int
    pri: int
    fxs: int
    fxo: int


@dataclass(frozen=True)
class Conference:
    """The CONF interface."""

    channels: int
    mode: ConferenceMode


@dataclass(frozen=True)
class FirmwareInfo:
    """The firmware a factory-new device of this model carries."""

    #: Build string of the factory firmware, e.g. ``13r2 sr14 [13.6042]``.
    build: str
    #: Password of the ``admin`` user after a long reset, e.g. ``ip6000``.
    default_password: str


@dataclass(frozen=True)
class Files:
    """Standard file names of the model's images."""

    firmware: str
    boot: str


@dataclass(frozen=True)
class Profile:
    """One gateway model."""

    model: str
    gwtype: int
    family: str
    supports_gwload: bool
    boot: BootCode
    files: Files
    flash: FlashGeometry
    regions: tuple[Region, ...]
    reset: ResetButton
    leds: Leds
    ethernet: tuple[Ethernet, ...]
    telephony: Telephony
    conference: Conference
    firmware: FirmwareInfo
    #: Dotted keys whose values no public source documents.
    placeholders: frozenset[str] = field(default_factory=frozenset)
    #: Where the profile was loaded from (a path or a package resource name).
    source: str = ""

    def region(self, name: str) -> Region:
        """The region called ``name``; KeyError if the model has none."""
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(f"{self.model} has no flash region {name!r}")

    def has_region(self, name: str) -> bool:
        """Whether the model has a region called ``name``."""
        return any(region.name == name for region in self.regions)

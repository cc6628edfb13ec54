"""Hardware profiles: one TOML file per gateway model, loaded strictly."""

from __future__ import annotations

from ipgwsim.hw_profiles.loader import (
    ProfileError,
    find_profile,
    load_profile_file,
    load_profiles,
    parse_profile,
)
from ipgwsim.hw_profiles.schema import (
    REGION_NAMES,
    BootCode,
    Conference,
    ConferenceMode,
    Ethernet,
    Files,
    FirmwareInfo,
    FlashGeometry,
    Leds,
    Profile,
    Region,
    ResetButton,
    Telephony,
)

__all__ = [
    "REGION_NAMES",
    "BootCode",
    "Conference",
    "ConferenceMode",
    "Ethernet",
    "Files",
    "FirmwareInfo",
    "FlashGeometry",
    "Leds",
    "Profile",
    "ProfileError",
    "Region",
    "ResetButton",
    "Telephony",
    "find_profile",
    "load_profile_file",
    "load_profiles",
    "parse_profile",
]

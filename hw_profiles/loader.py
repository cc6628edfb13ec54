"""Strict loading of hardware profiles from TOML.

Every file is checked completely before a :class:`Profile` exists: unknown keys,
missing keys, wrong types, regions that overlap, are not sector aligned or lie
outside the flash are refused with a :class:`ProfileError` that names the file,
the dotted key and what is wrong. Nothing is guessed and nothing defaults
silently except where a default is written down below.
"""

from __future__ import annotations

import functools
import itertools
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from ipgwsim.hw_profiles.reader import TableReader, TomlError, read_toml_text
from ipgwsim.hw_profiles.schema import (
    REGION_NAMES,
    REQUIRED_REGIONS,
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

#: TFTP options a boot code may accept (RFC 2348, 2349, 7440).
KNOWN_TFTP_OPTIONS = ("blksize", "tsize", "timeout", "windowsize")


class ProfileError(TomlError):
    """A profile file is not acceptable; the message says where and why."""


class _Reader(TableReader):
    """Reads one table of a profile; its errors are :class:`ProfileError`."""

    error = ProfileError


def _address(reader: _Reader, name: str) -> str:
    text = reader.get(name, str)
    try:
        IPv4Address(text)
    except ValueError:
        raise reader._fail(name, f"is not an IPv4 address: {text!r}") from None
    return text


def _mask(reader: _Reader, name: str) -> str:
    text = _address(reader, name)
    try:
        IPv4Network(f"0.0.0.0/{text}")
    except ValueError:
        raise reader._fail(name, f"is not a netmask: {text!r}") from None
    return text


#: The fewest erase sectors a region's store works with (flash/SPEC.md): the config ring
#: keeps its newest record whole while it erases (3), the key-value logs copy between two
#: banks (2), the boot code has two slots (2).
MIN_SECTORS = {"config": 3, "vars": 2, "flashdir": 2, "boot": 2}
MIN_SECTORS_WHY = {
    "config": "the config ring",
    "vars": "the key-value log of the vars",
    "flashdir": "the key-value log of the flash directory",
    "boot": "the boot code's two slots",
}


def _regions(reader: _Reader, geometry: FlashGeometry) -> tuple[Region, ...]:
    table = reader.sub("regions")
    regions: list[Region] = []
    for name in list(table.table):
        if name not in REGION_NAMES:
            raise table._fail(name, f"unknown region (known: {', '.join(REGION_NAMES)})")
        entry = table.sub(name)
        region = Region(name, entry.non_negative("offset"), entry.positive("size"))
        entry.finish()
        for what, value in (("offset", region.offset), ("size", region.size)):
            if value % geometry.sector_size:
                raise entry._fail(
                    what,
                    f"{value:#x} is not a multiple of the sector size {geometry.sector_size:#x}",
                )
        if region.end > geometry.size:
            raise entry._fail(
                "size", f"region ends at {region.end:#x}, beyond the flash ({geometry.size:#x})"
            )
        regions.append(region)
    table.finish()
    for name in REQUIRED_REGIONS:
        if name not in table.table:
            raise table._fail(name, "is missing")
    for region in regions:
        least = MIN_SECTORS.get(region.name, 1)
        sectors = region.size // geometry.sector_size
        if sectors < least:
            raise table._fail(
                region.name,
                f"has {sectors} sector(s); {MIN_SECTORS_WHY[region.name]} needs at least {least}",
            )
    ordered = sorted(regions, key=lambda r: r.offset)
    for before, after in itertools.pairwise(ordered):
        if after.offset < before.end:
            raise table._fail(
                after.name,
                f"overlaps region {before.name!r} ({after.offset:#x} < {before.end:#x})",
            )
    return tuple(ordered)


def _check_placeholders(source: str, data: Mapping[str, Any], paths: Iterable[str]) -> None:
    for path in paths:
        node: Any = data
        for part in path.split("."):
            if isinstance(node, list):
                # Only a plain index names an entry: not -1, 01 or " 1", which int() accepts.
                plain = part.isascii() and part.isdigit() and str(int(part)) == part
                index = int(part) if plain else len(node)
                if index >= len(node):
                    node = None
                    break
                node = node[index]
                continue
            if not isinstance(node, dict) or part not in node:
                node = None
                break
            node = node[part]
        if node is None:
            raise ProfileError(source, "placeholders", f"names {path!r}, which the profile lacks")


def _boot(top: _Reader) -> BootCode:
    boot_r = top.sub("boot")
    config_name = boot_r.get("tftp_config_name", str)
    if config_name not in ("c", "config"):
        raise boot_r._fail("tftp_config_name", f"must be 'c' or 'config', not {config_name!r}")
    options = boot_r.get("tftp_options", list)
    for option in options:
        if option not in KNOWN_TFTP_OPTIONS:
            raise boot_r._fail("tftp_options", f"unknown TFTP option {option!r}")
    boot = BootCode(
        build=boot_r.positive("build"),
        tftp_config_name=config_name,
        rescue_copy=boot_r.get("rescue_copy", bool),
        rescue_from_build=boot_r.optional_positive("rescue_from_build"),
        min_recovery_build=boot_r.optional_positive("min_recovery_build"),
        tftp_options=tuple(options),
    )
    boot_r.finish()
    return boot


def _flash(top: _Reader, boot: BootCode) -> tuple[FlashGeometry, tuple[Region, ...]]:
    flash_r = top.sub("flash")
    geometry = FlashGeometry(
        size=flash_r.positive("size"),
        sector_size=flash_r.positive("sector_size"),
        program_unit=flash_r.positive("program_unit"),
    )
    if geometry.size % geometry.sector_size:
        raise flash_r._fail("size", "must be a multiple of flash.sector_size")
    if geometry.sector_size % geometry.program_unit:
        raise flash_r._fail("program_unit", "must divide flash.sector_size")
    regions = _regions(flash_r, geometry)
    flash_r.finish()
    has_altboot = any(r.name == "altboot" for r in regions)
    if has_altboot != boot.rescue_copy:
        raise ProfileError(
            top.source,
            "flash.regions.altboot",
            "must exist exactly when boot.rescue_copy is true",
        )
    return geometry, regions


#: Reference7:Bootcode functionality: a long reset is "10 seconds, or 15 blinks of the ready
#: LED". The first blink comes as the button goes down, so blink n is at (n-1) periods.
LONG_RESET_BLINK = 15
#: Howto:Config or Password Recovery: "ca. 1,5-2 sec (active LED must blink 3 times)" gives
#: TFTP mode, config kept.
RECOVERY_BLINK = 3


def _reset(top: _Reader) -> ResetButton:
    reset_r = top.sub("reset")
    medium_s = reset_r.get("medium_s", float)
    long_s = reset_r.get("long_s", float)
    if not 0 < medium_s < long_s:
        raise reset_r._fail("long_s", "must be greater than reset.medium_s, both positive")
    period = long_s / (LONG_RESET_BLINK - 1)
    given = reset_r.optional("blink_period_s", float)
    if given is not None and abs(given - period) > 1e-6:
        raise reset_r._fail(
            "blink_period_s",
            f"the {LONG_RESET_BLINK}th blink must mark reset.long_s (Reference7): "
            f"leave the key out (it is then long_s/{LONG_RESET_BLINK - 1}) or set {period!r}",
        )
    if not medium_s <= (RECOVERY_BLINK - 1) * period < long_s:
        raise reset_r._fail(
            "medium_s",
            f"blink {RECOVERY_BLINK} (at {(RECOVERY_BLINK - 1) * period:.2f} s) must fall between "
            "reset.medium_s and reset.long_s (the press for TFTP mode of Howto:Config or "
            "Password Recovery)",
        )
    reset = ResetButton(medium_s=medium_s, long_s=long_s, blink_period_s=period)
    reset_r.finish()
    return reset


def _ethernet(top: _Reader) -> tuple[Ethernet, ...]:
    eth_list = top.get("ethernet", list)
    ethernet: list[Ethernet] = []
    for index, entry in enumerate(eth_list):
        if not isinstance(entry, dict):
            raise top._fail(f"ethernet.{index}", "must be a table")
        eth_r = _Reader(top.source, f"ethernet.{index}", entry)
        ethernet.append(
            Ethernet(
                eth_r.get("name", str),
                _address(eth_r, "default_address"),
                _mask(eth_r, "default_mask"),
            )
        )
        eth_r.finish()
    if not ethernet:
        raise top._fail("ethernet", "must list at least one interface")
    return tuple(ethernet)


def _telephony(top: _Reader) -> Telephony:
    tel_r = top.sub("telephony")
    telephony = Telephony(
        bri=tel_r.non_negative("bri"),
        pri=tel_r.non_negative("pri"),
        fxs=tel_r.non_negative("fxs"),
        fxo=tel_r.non_negative("fxo"),
    )
    tel_r.finish()
    return telephony


def _conference(top: _Reader) -> Conference:
    conf_r = top.sub("conference")
    mode_text = conf_r.get("mode", str)
    try:
        mode = ConferenceMode(mode_text)
    except ValueError:
        raise conf_r._fail("mode", f"must be 'legacy' or 'pbx_object', not {mode_text!r}") from None
    conference = Conference(conf_r.non_negative("channels"), mode)
    conf_r.finish()
    return conference


def _files(top: _Reader) -> Files:
    files_r = top.sub("files")
    files = Files(files_r.get("firmware", str), files_r.get("boot", str))
    files_r.finish()
    return files


def _firmware(top: _Reader) -> FirmwareInfo:
    fw_r = top.sub("firmware")
    firmware = FirmwareInfo(fw_r.get("build", str), fw_r.get("default_password", str))
    fw_r.finish()
    return firmware


def parse_profile(text: str, source: str) -> Profile:
    """Parse and check one profile from its TOML text; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(source, "", f"is not valid TOML: {exc}") from None
    top = _Reader(source, "", data)
    if top.get("schema", int) != 1:
        raise top._fail("schema", "must be 1")
    model = top.get("model", str)
    if not model.isascii() or not model or " " in model:
        raise top._fail("model", f"must be a model name like IP811, not {model!r}")
    gwtype = top.positive("gwtype")
    family = top.get("family", str)
    if family not in ("legacy", "x11"):
        raise top._fail("family", f"must be 'legacy' or 'x11', not {family!r}")
    supports_gwload = top.get("supports_gwload", bool)

    boot = _boot(top)
    files = _files(top)
    geometry, regions = _flash(top, boot)
    reset = _reset(top)
    leds_r = top.sub("leds")
    leds = Leds(leds_r.get("has_orange", bool))
    leds_r.finish()
    ethernet = _ethernet(top)
    telephony = _telephony(top)
    conference = _conference(top)
    firmware = _firmware(top)

    placeholders = top.get("placeholders", list, default=[])
    if not all(isinstance(p, str) for p in placeholders):
        raise top._fail("placeholders", "must be a list of dotted keys")
    _check_placeholders(source, data, placeholders)
    top.finish()

    return Profile(
        model=model,
        gwtype=gwtype,
        family=family,
        supports_gwload=supports_gwload,
        boot=boot,
        files=files,
        flash=geometry,
        regions=regions,
        reset=reset,
        leds=leds,
        ethernet=ethernet,
        telephony=telephony,
        conference=conference,
        firmware=firmware,
        placeholders=frozenset(placeholders),
        source=source,
    )


def load_profile_file(path: Path) -> Profile:
    """Load one profile file."""
    return _parse_once(read_toml_text(path, ProfileError), str(path))


@functools.lru_cache(maxsize=256)
def _parse_once(text: str, source: str) -> Profile:
    """:func:`parse_profile`, each text parsed once per process (a Profile is frozen).

    A runtime or a lab check looks up a model once per device; parsing every profile
    each time took about 45 ms per device. The key is the text itself, so a file that
    changes is parsed anew; a refused text raises each time (errors are not cached).
    """
    return parse_profile(text, source)


@functools.cache
def _builtin_texts() -> tuple[tuple[str, str], ...]:
    """The shipped profiles' texts (read once: the package does not change under a process)."""
    folder = resources.files("ipgwsim.hw_profiles")
    return tuple(
        sorted(
            (f"ipgwsim/hw_profiles/{entry.name}", entry.read_text(encoding="utf-8"))
            for entry in folder.iterdir()
            if entry.name.endswith(".toml")
        )
    )


def load_profiles(folder: Path | None = None) -> dict[str, Profile]:
    """All profiles, by upper-case model name: the shipped ones, or those in ``folder``.

    Two files that name the same model, or give two models the same gwtype
    (gwload finds devices by gwtype), are refused.
    """
    if folder is None:
        loaded = [_parse_once(text, source) for source, text in _builtin_texts()]
    else:
        if not folder.is_dir():
            raise ProfileError(str(folder), "", "is not a folder")
        loaded = [load_profile_file(path) for path in sorted(folder.glob("*.toml"))]
    profiles: dict[str, Profile] = {}
    for profile in loaded:
        key = profile.model.upper()
        if key in profiles:
            raise ProfileError(
                profile.source,
                "model",
                f"{profile.model} is also defined in {profiles[key].source}",
            )
        same_type = [p for p in profiles.values() if p.gwtype == profile.gwtype]
        if same_type:
            raise ProfileError(
                profile.source,
                "gwtype",
                f"{profile.gwtype} is also the gwtype of {same_type[0].model} "
                f"({same_type[0].source})",
            )
        profiles[key] = profile
    return profiles


def find_profile(name: str, folder: Path | None = None) -> Profile:
    """The profile of model ``name`` (``IP811``, ``ip811``) or gwtype (``811``)."""
    profiles = load_profiles(folder)
    key = name.upper()
    if key in profiles:
        return profiles[key]
    for profile in profiles.values():
        if name.isdigit() and profile.gwtype == int(name):
            return profile
    known = ", ".join(sorted(p.model for p in profiles.values()))
    raise KeyError(f"no hardware profile for {name!r} (known: {known})")

"""``ipgwsim profiles [MODEL]``: list the hardware profiles or show one in full.

Values that no public source documents (the profile's ``placeholders``) are
marked with ``*``. Unknown models raise KeyError and bad profile files raise
ProfileError (a ValueError); ``ipgwsim`` prints either as one line, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from enum import Enum
from pathlib import Path
from typing import Any

from ipgwsim.hw_profiles import Profile, find_profile, load_profiles

MARK = "*"
LEGEND = f"{MARK} placeholder: no public source documents this value"
_KINDS = ("bri", "pri", "fxs", "fxo")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``profiles`` subcommand."""
    parser = subparsers.add_parser(
        "profiles",
        help="list the hardware profiles or show one model in full",
        description="List the gateway models, or show every field of one (* = placeholder).",
    )
    parser.add_argument("model", nargs="?", metavar="MODEL", help="model (IP811) or gwtype (811)")
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        metavar="DIR",
        help="load the *.toml profiles in DIR instead of the shipped ones",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print JSON: a list of profiles, or the one MODEL (docs/runtime.md, JSON output)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the table of all profiles, or one profile in full."""
    folder: Path | None = args.profiles_dir
    if args.json:
        if args.model is None:
            ordered = sorted(load_profiles(folder).values(), key=lambda p: (p.gwtype, p.model))
            print(json.dumps([profile_json(p) for p in ordered], indent=2))
        else:
            print(json.dumps(profile_json(find_profile(args.model, folder)), indent=2))
    elif args.model is None:
        print("\n".join(table(list(load_profiles(folder).values()))))
    else:
        print("\n".join(details(find_profile(args.model, folder))))
    return 0


def profile_json(profile: Profile) -> dict[str, Any]:
    """PROFILE: every field of the profile file as loaded, ``flash.sector_count`` and
    ``placeholders`` (sorted dotted keys) besides (docs/runtime.md, JSON output)."""

    def plain(value: object) -> object:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, frozenset):
            return sorted(str(item) for item in value)
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        return value

    fields: dict[str, Any] = dataclasses.asdict(profile)
    fields["flash"]["sector_count"] = profile.flash.sector_count
    out = plain(fields)
    assert isinstance(out, dict)
    return out


def is_placeholder(profile: Profile, key: str) -> bool:
    """Whether ``key`` or a table that contains it is listed as a placeholder."""
    return any(key == p or key.startswith(f"{p}.") for p in profile.placeholders)


def _mark(profile: Profile, *keys: str) -> str:
    return MARK if any(is_placeholder(profile, key) for key in keys) else ""


def telephony_summary(profile: Profile) -> str:
    """The non-zero interface counts, e.g. ``PRI 4`` or ``BRI 2, FXS 4``; ``-`` if none."""
    counts = [(kind, getattr(profile.telephony, kind)) for kind in _KINDS]
    return ", ".join(f"{kind.upper()} {count}" for kind, count in counts if count) or "-"


def _mib(size: int) -> str:
    return f"{size / 0x100000:g}"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def table(profiles: list[Profile]) -> list[str]:
    """One line per model, ordered by gwtype, with a header and the legend."""
    rows = [["MODEL", "GWTYPE", "FAMILY", "BOOT", "TFTP CONFIG", "FLASH MiB", "TELEPHONY", "CONF"]]
    for p in sorted(profiles, key=lambda p: (p.gwtype, p.model)):
        tel_keys = [f"telephony.{kind}" for kind in _KINDS]
        rows.append(
            [
                p.model,
                f"{p.gwtype}{_mark(p, 'gwtype')}",
                f"{p.family}{_mark(p, 'family')}",
                f"{p.boot.build}{_mark(p, 'boot.build')}",
                f"{p.boot.tftp_config_name}{_mark(p, 'boot.tftp_config_name')}",
                f"{_mib(p.flash.size)}{_mark(p, 'flash.size')}",
                f"{telephony_summary(p)}{_mark(p, *tel_keys)}",
                f"{p.conference.channels}{_mark(p, 'conference.channels')}",
            ]
        )
    return [*_columns(rows), "", LEGEND]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def details(p: Profile) -> list[str]:
    """Every field of ``p``, one per line as ``dotted.key  value``, then its regions."""
    width = len(f"{p.flash.size:#x}")
    fields: list[tuple[str, object]] = [
        ("model", p.model),
        ("gwtype", p.gwtype),
        ("family", p.family),
        ("supports_gwload", p.supports_gwload),
        ("boot.build", p.boot.build),
        ("boot.tftp_config_name", p.boot.tftp_config_name),
        ("boot.rescue_copy", p.boot.rescue_copy),
        ("boot.rescue_from_build", p.boot.rescue_from_build),
        ("boot.min_recovery_build", p.boot.min_recovery_build),
        ("boot.tftp_options", p.boot.tftp_options),
        ("files.firmware", p.files.firmware),
        ("files.boot", p.files.boot),
        ("flash.size", f"{p.flash.size:#x} ({_mib(p.flash.size)} MiB)"),
        ("flash.sector_size", f"{p.flash.sector_size:#x} ({p.flash.sector_count} sectors)"),
        ("flash.program_unit", p.flash.program_unit),
        ("reset.medium_s", p.reset.medium_s),
        ("reset.long_s", p.reset.long_s),
        ("reset.blink_period_s", p.reset.blink_period_s),
        ("leds.has_orange", p.leds.has_orange),
    ]
    for index, eth in enumerate(p.ethernet):
        fields += [
            (f"ethernet.{index}.name", eth.name),
            (f"ethernet.{index}.default_address", eth.default_address),
            (f"ethernet.{index}.default_mask", eth.default_mask),
        ]
    fields += [(f"telephony.{kind}", getattr(p.telephony, kind)) for kind in _KINDS]
    fields += [
        ("conference.channels", p.conference.channels),
        ("conference.mode", p.conference.mode.value),
        ("firmware.build", p.firmware.build),
        ("firmware.default_password", p.firmware.default_password),
        ("source", p.source),
    ]
    rows = [[key, f"{_text(value)} {_mark(p, key)}".rstrip()] for key, value in fields]
    lines = _columns(rows)
    lines.append("flash.regions")
    regions = [["  name", "offset", "size"]]
    for r in p.regions:
        mark = _mark(p, f"flash.regions.{r.name}")
        regions.append([f"  {r.name}", f"{r.offset:#0{width}x}", f"{r.size:#0{width}x} {mark}"])
    return [*lines, *_columns(regions), "", LEGEND]

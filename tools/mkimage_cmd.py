"""``ipgwsim mkimage`` and ``ipgwsim imageinfo``: make test images and look into images.

``mkimage`` writes a firmware or boot code image for a model whose payload is
deterministic pseudo-random bytes (SHAKE-256 of the seed), so that tests and
demonstrations can flash images of any size without real firmware.
``imageinfo`` prints an image's header and whether it is valid, or exactly why
not; with ``--model`` it checks the image as that model's boot code would
(model, kind, region size, boot code build).

Bad input (unknown model, malformed size) raises KeyError or ValueError, which
``ipgwsim`` prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from ipgwsim.flash.errors import NoSpace
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import (
    MAX_PAYLOAD,
    ImageError,
    ImageFieldError,
    ImageInfo,
    ImageKind,
    build_image,
    parse_header,
    verify_image,
)
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.runtime.errors import describe_error

#: ``--kind`` values and the image kinds they name.
KINDS = {
    "firmware": ImageKind.FIRMWARE,
    "boot": ImageKind.BOOT,
    "rescue-boot": ImageKind.RESCUE_BOOT,
}
DEFAULT_SIZE = "64K"
#: The option that sets each header field, for error messages.
OPTIONS = {
    "model": "--model",
    "build": "--build",
    "boot_build": "--boot-build",
    "min_boot_build": "--min-boot-build",
    "payload": "--size",
}
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``mkimage`` and ``imageinfo`` subcommands."""
    make = subparsers.add_parser(
        "mkimage",
        help="make a test firmware or boot code image for a model",
        description="Write an image whose payload is pseudo-random bytes from --seed.",
    )
    make.add_argument("--model", required=True, help="model (IP811) or gwtype (811)")
    make.add_argument(
        "--kind", choices=sorted(KINDS), default="firmware", help="image kind (default firmware)"
    )
    make.add_argument(
        "--build",
        metavar="STR",
        help="build string (default: the profile's firmware.build, or boot.build for boot code)",
    )
    make.add_argument(
        "--size",
        metavar="BYTES",
        default=DEFAULT_SIZE,
        help=f"payload size in bytes, K or M allowed: 512K, 16M (default {DEFAULT_SIZE})",
    )
    make.add_argument("--seed", type=int, default=0, metavar="N", help="payload seed (default 0)")
    make.add_argument(
        "--boot-build",
        type=int,
        metavar="N",
        help="boot code build in the header (default: the profile's for boot code, else 0)",
    )
    make.add_argument(
        "--min-boot-build",
        type=int,
        default=0,
        metavar="N",
        help="oldest boot code build the image runs with (default 0)",
    )
    make.add_argument("--profiles-dir", type=Path, metavar="DIR", help="load profiles from DIR")
    make.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
    make.set_defaults(handler=run)

    info = subparsers.add_parser(
        "imageinfo",
        help="show an image's header and whether it is valid",
        description="Print the header fields and 'valid' or why the image is refused "
        "(exit 0 if valid, 1 if not).",
    )
    info.add_argument("file", type=Path, metavar="FILE")
    info.add_argument(
        "--model", help="check the image as this model's boot code would (region, boot build)"
    )
    info.add_argument("--profiles-dir", type=Path, metavar="DIR", help="load profiles from DIR")
    info.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: header, valid, problem (docs/runtime.md, JSON output)",
    )
    info.set_defaults(handler=run_info)


def parse_size(text: str) -> int:
    """A byte count: ``65536``, ``512K``, ``16M``, ``1G`` (binary units, any case)."""
    match = re.fullmatch(r"(\d+)([KMG]?)", text.strip(), re.IGNORECASE)
    if match is None:
        raise ValueError(f"--size must be a byte count like 65536, 512K or 16M, not {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def size_argument(text: str) -> int:
    """:func:`parse_size` as an argparse ``type=``: the message names what is wrong."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(describe_error(exc)) from None


def payload(seed: int, size: int) -> bytes:
    """``size`` deterministic pseudo-random bytes for ``seed``."""
    return hashlib.shake_256(f"ipgwsim mkimage seed {seed}".encode("ascii")).digest(size)


def run(args: argparse.Namespace) -> int:
    """Write the image and print one line saying what was written."""
    profile = find_profile(args.model, args.profiles_dir)
    kind = KINDS[args.kind]
    size = parse_size(args.size)
    if args.build is not None:
        build = args.build
    elif kind is ImageKind.FIRMWARE:
        build = profile.firmware.build
    else:
        build = str(profile.boot.build)
    default_boot = 0 if kind is ImageKind.FIRMWARE else profile.boot.build
    boot_build = default_boot if args.boot_build is None else args.boot_build
    if size > MAX_PAYLOAD:  # refuse before making gigabytes of payload
        raise ValueError(
            f"--size {args.size} is more than an image can carry ({MAX_PAYLOAD} bytes)"
        )
    try:
        data = build_image(
            kind,
            profile.model,
            build,
            payload(args.seed, size),
            boot_build=boot_build,
            min_boot_build=args.min_boot_build,
        )
    except ImageFieldError as exc:
        raise ValueError(f"{OPTIONS[exc.field]}: {describe_error(exc)}") from None
    output: Path = args.output
    output.write_bytes(data)
    print(
        f"wrote {output}: {kind.label} image for {profile.model}, build {build!r}, "
        f"payload {size} bytes (seed {args.seed}), {len(data)} bytes in all"
    )
    return 0


def _fields(path: Path, length: int, info: ImageInfo) -> list[str]:
    return [
        f"file:            {path} ({length} bytes)",
        f"kind:            {info.kind.label}",
        f"model:           {info.model}",
        f"build:           {info.build}",
        f"boot build:      {info.boot_build}",
        f"min boot build:  {info.min_boot_build}",
        f"payload:         {info.payload_length} bytes, crc32 {info.payload_crc32:#010x}",
        f"image length:    {info.total_length} bytes",
    ]


def info_json(
    path: Path, length: int, info: ImageInfo | None, against: str | None, problem: str | None
) -> dict[str, Any]:
    """IMAGEINFO: the file, its header (None: unreadable), what it was checked against,
    whether it is valid and why not (docs/runtime.md, JSON output)."""
    header = None
    if info is not None:
        header = {
            "kind": info.kind.label,
            "model": info.model,
            "build": info.build,
            "boot_build": info.boot_build,
            "min_boot_build": info.min_boot_build,
            "payload_length": info.payload_length,
            "payload_crc32": info.payload_crc32,
            "image_length": info.total_length,
        }
    return {
        "file": str(path),
        "file_length": length,
        "header": header,
        "checked_against": against,
        "valid": problem is None,
        "problem": problem,
    }


def _check(data: bytes, info: ImageInfo, profile: Profile | None) -> tuple[str, str | None]:
    """What the image was checked against, and the refusal (None if valid)."""
    if profile is None:
        against = "the image alone (give --model to check it for a model)"
        model, kinds = info.model, tuple(ImageKind)
        region, region_size, boot_build = "image", max(len(data), info.total_length), None
    else:
        kinds = (ImageKind.FIRMWARE, ImageKind.BOOT)
        if profile.boot.rescue_copy:
            kinds += (ImageKind.RESCUE_BOOT,)
        model, region = profile.model, info.kind.region
        region_size = profile.region(region).size if profile.has_region(region) else 0
        if info.kind is ImageKind.FIRMWARE:
            # A firmware image may continue from prot into flashdir (the firmware pool):
            # the most it may take is with an empty flash directory.
            pool = FlashMan(PartitionTable(NorFlash(profile.flash), profile))
            region, region_size = pool.firmware_window().name, pool.capacity
        boot_build = profile.boot.build if info.kind is ImageKind.FIRMWARE else None
        against = f"{profile.model}, region {region!r} of {region_size} bytes"
        if boot_build is not None:
            against += f", boot code build {boot_build}"
    try:
        verify_image(
            data,
            model=model,
            kinds=kinds,
            region_size=region_size,
            region_name=region,
            boot_build=boot_build,
        )
    except (ImageError, NoSpace) as exc:
        return against, describe_error(exc)
    return against, None


def run_info(args: argparse.Namespace) -> int:
    """Print the header fields and ``valid`` or ``invalid: <why>``; 0 if valid, else 1."""
    profile = None if args.model is None else find_profile(args.model, args.profiles_dir)
    path: Path = args.file
    data = path.read_bytes()
    try:
        info = parse_header(data)
    except ImageError as exc:
        if args.json:
            print(json.dumps(info_json(path, len(data), None, None, describe_error(exc)), indent=2))
            return 1
        print(f"file:            {path} ({len(data)} bytes)")
        print(f"invalid: {describe_error(exc)}")
        return 1
    against, problem = _check(data, info, profile)
    if args.json:
        print(json.dumps(info_json(path, len(data), info, against, problem), indent=2))
        return 0 if problem is None else 1
    print("\n".join(_fields(path, len(data), info)))
    print(f"checked against: {against}")
    if problem is not None:
        print(f"invalid: {problem}")
        return 1
    print("valid")
    return 0

"""Firmware and boot code images: build, verify, store in a region, check in place.

An image is a 64-byte :data:`~ipgwsim.flash.formats.ImageHeader` followed by
its payload. Verification says exactly what is wrong, each with its own
exception class, and always happens before anything is erased: a refused image
leaves the flash as it was.

Storing programs the payload first and the header last, so that an image cut
short by a power loss has no valid header, or a header whose payload CRC fails:
the boot code then sees a defective image (``check_slot``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import IntEnum

from construct import ChecksumError, ConstructError

from ipgwsim.flash.errors import NoSpace
from ipgwsim.flash.formats import (
    IMAGE_HEADER_SIZE,
    IMAGE_MAGIC,
    KIND_BOOT,
    KIND_FIRMWARE,
    KIND_RESCUE_BOOT,
    ImageHeader,
)
from ipgwsim.flash.nor import ERASED
from ipgwsim.flash.partitions import Partition


class ImageKind(IntEnum):
    FIRMWARE = KIND_FIRMWARE
    BOOT = KIND_BOOT
    RESCUE_BOOT = KIND_RESCUE_BOOT

    @property
    def label(self) -> str:
        return {1: "firmware", 2: "boot code", 3: "rescue boot code"}[self.value]

    @property
    def region(self) -> str:
        """The flash region an image of this kind is stored in."""
        return {1: "prot", 2: "boot", 3: "altboot"}[self.value]


#: Limits of the header fields (flash/SPEC.md, section 5).
MAX_MODEL, MAX_BUILD, MAX_BOOT_BUILD, MAX_PAYLOAD = 16, 20, 0xFFFF, 0xFFFFFFFF


class ImageFieldError(ValueError):
    """A value does not fit its field of the image header; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(problem)


def _check_fields(
    model: str, build: str, boot_build: int, min_boot_build: int, payload_length: int
) -> None:
    for field, text, limit in (("model", model, MAX_MODEL), ("build", build, MAX_BUILD)):
        if not text.isascii() or "\x00" in text or len(text) > limit:
            raise ImageFieldError(
                field, f"{field} must be at most {limit} ASCII characters, not {text!r}"
            )
    for field, value in (("boot_build", boot_build), ("min_boot_build", min_boot_build)):
        if not 0 <= value <= MAX_BOOT_BUILD:
            raise ImageFieldError(field, f"{field} must be 0 to {MAX_BOOT_BUILD}, not {value}")
    if payload_length > MAX_PAYLOAD:
        raise ImageFieldError(
            "payload", f"a payload of {payload_length} bytes is more than an image can carry"
        )


class ImageError(ValueError):
    """An image is refused; the message says why in a user's words."""


class NotAnImage(ImageError):
    pass


class HeaderDamaged(ImageError):
    pass


class WrongKind(ImageError):
    pass


class WrongModel(ImageError):
    pass


class Truncated(ImageError):
    pass


class TrailingData(ImageError):
    pass


class BadChecksum(ImageError):
    pass


class BootTooOld(ImageError):
    pass


@dataclass(frozen=True)
class ImageInfo:
    """What a valid image header says."""

    kind: ImageKind
    model: str
    build: str
    boot_build: int
    min_boot_build: int
    payload_length: int
    payload_crc32: int

    @property
    def total_length(self) -> int:
        return IMAGE_HEADER_SIZE + self.payload_length


def build_image(
    kind: ImageKind,
    model: str,
    build: str,
    payload: bytes,
    *,
    boot_build: int = 0,
    min_boot_build: int = 0,
) -> bytes:
    """An image of ``kind`` for ``model`` carrying ``payload``.

    :class:`ImageFieldError` says which value does not fit the header.
    """
    _check_fields(model, build, boot_build, min_boot_build, len(payload))
    header = ImageHeader.build(
        {
            "body": {
                "value": {
                    "kind": int(kind),
                    "model": model,
                    "build": build,
                    "boot_build": boot_build,
                    "min_boot_build": min_boot_build,
                    "payload_length": len(payload),
                    "payload_crc32": zlib.crc32(payload),
                }
            }
        }
    )
    return header + payload


def parse_header(data: bytes) -> ImageInfo:
    """The header at the start of ``data``; :class:`ImageError` if there is none."""
    if len(data) < IMAGE_HEADER_SIZE:
        if data and IMAGE_MAGIC.startswith(data[: len(IMAGE_MAGIC)]):
            raise Truncated(
                f"image is {len(data)} bytes, shorter than its {IMAGE_HEADER_SIZE}-byte header"
            )
        raise NotAnImage("not an image: no image header")
    if not data.startswith(IMAGE_MAGIC):
        raise NotAnImage(f"not an image: it starts with {data[:8]!r}, not {IMAGE_MAGIC!r}")
    try:
        header = ImageHeader.parse(data[:IMAGE_HEADER_SIZE])
    except ChecksumError:
        raise HeaderDamaged("image header is damaged (header checksum mismatch)") from None
    except ConstructError as exc:
        raise HeaderDamaged(f"image header is damaged: {exc}") from None
    body = header.body.value
    try:
        kind = ImageKind(body.kind)
    except ValueError:
        raise HeaderDamaged(f"image header names unknown kind {body.kind}") from None
    return ImageInfo(
        kind,
        body.model,
        body.build,
        body.boot_build,
        body.min_boot_build,
        body.payload_length,
        body.payload_crc32,
    )


def verify_image(
    data: bytes,
    *,
    model: str,
    kinds: tuple[ImageKind, ...],
    region_size: int,
    region_name: str = "prot",
    boot_build: int | None = None,
) -> ImageInfo:
    """Check ``data`` completely before anything is written; return its header.

    Raises an :class:`ImageError` (other model, bad checksum, truncated...) or
    :class:`~ipgwsim.flash.errors.NoSpace` when it is larger than its region.
    """
    info = parse_header(data)
    if info.kind not in kinds:
        wanted = " or ".join(k.label for k in kinds)
        raise WrongKind(f"image is {info.kind.label}, expected {wanted}")
    if info.model.upper() != model.upper():
        raise WrongModel(f"image is for {info.model}, this device is an {model}")
    if info.total_length > region_size:
        raise NoSpace(region_name, info.total_length, region_size, info.kind.label)
    if len(data) < info.total_length:
        raise Truncated(f"image is truncated: {len(data)} of {info.total_length} bytes")
    if len(data) > info.total_length:
        raise TrailingData(
            f"image has {len(data) - info.total_length} bytes after its payload "
            f"of {info.payload_length}"
        )
    if zlib.crc32(data[IMAGE_HEADER_SIZE:]) != info.payload_crc32:
        raise BadChecksum(f"image payload checksum mismatch: {info.kind.label} is damaged")
    if boot_build is not None and info.min_boot_build > boot_build:
        raise BootTooOld(
            f"image needs boot code build {info.min_boot_build} or later, "
            f"this device has {boot_build}"
        )
    return info


def store_image(partition: Partition, data: bytes) -> None:
    """Write a verified image into ``partition``: erase it, program payload, then header,
    then share its sectors with the flash's pool (:meth:`~ipgwsim.flash.nor.NorFlash.share`).

    Call :func:`verify_image` first; this only checks that it fits.
    """
    partition.require_space(len(data), "image")
    partition.erase_all()
    unit = partition.program_unit
    padded = data + bytes([ERASED]) * (-len(data) % unit)
    header_room = -(-IMAGE_HEADER_SIZE // unit) * unit
    partition.program(header_room, padded[header_room:])
    partition.program(0, padded[:header_room])
    partition.share(0, len(padded))


@dataclass(frozen=True)
class SlotStatus:
    """What the boot code finds in an image region."""

    info: ImageInfo | None
    #: None when the image is valid, else why it is not.
    problem: str | None

    @property
    def valid(self) -> bool:
        return self.problem is None


def check_slot(partition: Partition, *, model: str, kinds: tuple[ImageKind, ...]) -> SlotStatus:
    """Verify the image stored in ``partition`` (the boot code's firmware checksum)."""
    head = partition.read(0, min(IMAGE_HEADER_SIZE, partition.size))
    if head.count(ERASED) == len(head):
        return SlotStatus(None, "no image (region is erased)")
    try:
        info = parse_header(head)
    except ImageError as exc:
        return SlotStatus(None, str(exc))
    if info.total_length > partition.size:
        return SlotStatus(info, "image header claims more bytes than the region has")
    try:
        verify_image(
            partition.read(0, info.total_length),
            model=model,
            kinds=kinds,
            region_size=partition.size,
            region_name=partition.name,
        )
    except (ImageError, NoSpace) as exc:
        return SlotStatus(info, str(exc))
    return SlotStatus(info, None)

"""Hypothesis strategies for firmware and boot code images (flash/SPEC.md section 5).

:func:`images` draws images a factory device of a model accepts by TFTP;
:func:`broken_images` draws uploads it refuses, each with the refusal it meets
(:class:`BrokenImage`). They are re-exported by :mod:`ipgwsim.testing.strategies`.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ipgwsim.flash.bootslots import slot_size
from ipgwsim.flash.errors import NoSpace
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE, IMAGE_MAGIC, ImageHeader
from ipgwsim.flash.image import (
    MAX_BOOT_BUILD,
    MAX_BUILD,
    MAX_MODEL,
    MAX_PAYLOAD,
    BadChecksum,
    BootTooOld,
    HeaderDamaged,
    ImageError,
    ImageKind,
    NotAnImage,
    TrailingData,
    Truncated,
    WrongKind,
    WrongModel,
    build_image,
    parse_header,
)
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import Profile, find_profile, load_profiles
from ipgwsim.runtime.extras import extra_imports

with extra_imports(__name__):
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument

# -- firmware and boot code images (ipgwsim.flash.image, flash/SPEC.md section 5) -----------


__all__ = ["BrokenImage", "broken_images", "image_capacity", "images", "resolve_profiles"]

#: The image files of TFTP mode and the kinds of image each takes (boot/README.md).
_REGION_KINDS: dict[str, tuple[ImageKind, ...]] = {
    "prot": (ImageKind.FIRMWARE,),
    "boot": (ImageKind.BOOT,),
    "altboot": (ImageKind.BOOT, ImageKind.RESCUE_BOOT),
}
_DEFAULT_MAX_IMAGE = 4096


@functools.cache
def _builtin_profiles() -> tuple[Profile, ...]:
    return tuple(sorted(load_profiles().values(), key=lambda p: p.model))


def resolve_profiles(profile: str | Profile | None) -> tuple[Profile, ...]:
    """The profiles a strategy draws from: the one named or given, else every shipped one."""
    if profile is None:
        return _builtin_profiles()
    if isinstance(profile, str):
        try:
            return (_find_profile(profile),)
        except KeyError as exc:
            raise InvalidArgument(str(exc)) from None
    return (profile,)


@functools.cache
def _find_profile(name: str) -> Profile:
    return find_profile(name)


def image_capacity(profile: str | Profile, kind: ImageKind) -> int:
    """The largest image of ``kind`` (header included) the model takes whatever its flash holds.

    That is half the ``boot`` region for boot code (one of its two slots), the
    ``altboot`` region for the rescue copy, and the ``prot`` region for firmware:
    a larger firmware image may continue into ``flashdir`` only while the flash
    directory leaves room (the firmware pool, flash/SPEC.md 5.2). 0 when the model
    has no region for ``kind`` (rescue boot code without ``altboot``).
    """
    (resolved,) = resolve_profiles(profile)
    return _capacity(resolved, kind)


@functools.cache
def _capacity(profile: Profile, kind: ImageKind) -> int:
    table = PartitionTable(NorFlash(profile.flash), profile)
    region = kind.region
    if region not in table:
        return 0
    return slot_size(table[region]) if region == "boot" else table[region].size


def _kinds_of(profile: Profile, kind: ImageKind | None) -> list[ImageKind]:
    kinds = list(ImageKind) if kind is None else [kind]
    return [k for k in kinds if _capacity(profile, k) > 0]


def _check_size(name: str, value: int, least: int) -> None:
    if value < least:
        raise InvalidArgument(f"{name} must be at least {least} bytes, not {value}")


def _payload(size: int) -> st.SearchStrategy[bytes]:
    """``size`` bytes: pseudo-random, all 0x00 or all 0xFF (erased flash), or shrinkable."""
    filled: list[st.SearchStrategy[bytes]] = [
        st.integers(min_value=0, max_value=2**32 - 1).map(
            lambda seed: random.Random(seed).randbytes(size)
        ),
        st.sampled_from([b"\x00", b"\xff"]).map(lambda byte: byte * size),
    ]
    if size <= 512:
        filled.append(st.binary(min_size=size, max_size=size))
    return st.one_of(filled)


def _build_string(usual: str) -> st.SearchStrategy[str]:
    """Build strings: the usual one, or any ASCII text without NUL that fits the field."""
    return st.one_of(
        st.just(usual),
        st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=MAX_BUILD),
    )


@st.composite
def _image(
    draw: st.DrawFn,
    profile: Profile,
    kind: ImageKind,
    min_size: int,
    max_size: int,
    *,
    region_of: ImageKind | None = None,
) -> bytes:
    """An image of ``kind`` for ``profile`` of ``min_size`` to ``max_size`` bytes that
    fits the region of ``region_of`` (of ``kind`` when None)."""
    top = min(max_size, _capacity(profile, kind if region_of is None else region_of))
    size = draw(st.one_of(st.sampled_from(sorted({min_size, top})), st.integers(min_size, top)))
    payload = draw(_payload(size - IMAGE_HEADER_SIZE))
    booted = profile.boot.build
    if kind is ImageKind.FIRMWARE:
        boot_build, usual = 0, profile.firmware.build
    else:  # this build or a newer one: the device keeps what its boot code allows
        boot_build = draw(st.one_of(st.just(booted), st.integers(booted, MAX_BOOT_BUILD)))
        usual = str(boot_build)
    min_boot_build = draw(st.one_of(st.sampled_from([0, booted]), st.integers(0, booted)))
    model = draw(st.sampled_from(sorted({profile.model, profile.model.lower()})))
    return build_image(
        kind,
        model,
        draw(_build_string(usual)),
        payload,
        boot_build=boot_build,
        min_boot_build=min_boot_build,
    )


def images(
    profile: str | Profile | None = None,
    kind: ImageKind | None = None,
    *,
    min_size: int = IMAGE_HEADER_SIZE,
    max_size: int = _DEFAULT_MAX_IMAGE,
) -> st.SearchStrategy[bytes]:
    """Valid firmware, boot code and rescue boot code images for a model.

    ``profile`` is a model name (``"IP800"``), a :class:`~ipgwsim.hw_profiles.Profile`,
    or None for every shipped model; ``kind`` one :class:`~ipgwsim.flash.image.ImageKind`,
    or None for every kind the model has a region for (rescue boot code only with
    ``altboot``). Each image is :func:`~ipgwsim.flash.image.build_image`'s, from
    ``min_size`` to ``max_size`` bytes with its 64-byte header, and never larger than
    :func:`image_capacity`: a factory device of the model accepts it by TFTP
    (``prot``, ``boot``, ``altboot``; :func:`~ipgwsim.flash.image.verify_image` passes).

    The build string is the profile's (firmware), the build number (boot code) or any
    ASCII text that fits; the model is the profile's, sometimes in lower case (models
    compare case-insensitively); the payload is pseudo-random, all 0x00 or all 0xFF.
    Firmware has ``boot_build`` 0 and a ``min_boot_build`` the profile's boot code
    meets; boot code has the profile's boot build or a newer one, so features that
    need a boot build (config recovery, ``altboot``) keep working once it runs.
    """
    _check_size("min_size", min_size, IMAGE_HEADER_SIZE)
    _check_size("max_size", max_size, min_size)
    targets = [
        (p, k)
        for p in resolve_profiles(profile)
        for k in _kinds_of(p, kind)
        if _capacity(p, k) >= min_size
    ]
    if not targets:
        what = "an image" if kind is None else kind.label
        raise InvalidArgument(f"no model of {profile!r} takes {what} of {min_size} bytes")
    return st.sampled_from(targets).flatmap(lambda t: _image(t[0], t[1], min_size, max_size))


@dataclass(frozen=True)
class BrokenImage:
    """An image upload a device refuses, and the refusal it meets."""

    data: bytes
    #: What :func:`~ipgwsim.flash.image.verify_image` raises for ``data`` (for ``prot``,
    #: :meth:`~ipgwsim.flash.flashman.FlashMan.verify_firmware`): one of the
    #: :class:`~ipgwsim.flash.image.ImageError` classes, or
    #: :class:`~ipgwsim.flash.errors.NoSpace` for a header claiming more than the region.
    reason: type[ImageError] | type[NoSpace]
    #: What was done to a valid image, in words.
    how: str
    #: The model the upload is meant for (the profile's).
    model: str
    #: The TFTP file it is uploaded as, which is the region it would go to.
    region: str

    @property
    def kinds(self) -> tuple[ImageKind, ...]:
        """The kinds of image ``region`` takes (``verify_image``'s ``kinds``)."""
        return _REGION_KINDS[self.region]


#: A mutation: (draw, profile, kind of the region, largest size) -> (data, how).
_Mutation = Callable[[st.DrawFn, Profile, ImageKind, int], tuple[bytes, str]]


def _with_header(image: bytes, **changes: int | str) -> bytes:
    """``image`` with header fields changed and a header checksum that matches again."""
    info = parse_header(image)
    fields: dict[str, int | str] = {
        "kind": int(info.kind),
        "model": info.model,
        "build": info.build,
        "boot_build": info.boot_build,
        "min_boot_build": info.min_boot_build,
        "payload_length": info.payload_length,
        "payload_crc32": info.payload_crc32,
    }
    fields.update(changes)
    return bytes(ImageHeader.build({"body": {"value": fields}})) + image[IMAGE_HEADER_SIZE:]


def _flip(draw: st.DrawFn, data: bytes, start: int, end: int) -> tuple[bytes, int, int]:
    """``data`` with one byte in ``start..end-1`` changed: the result, where and the mask."""
    at = draw(st.integers(start, end - 1))
    mask = draw(st.integers(1, 0xFF))
    changed = bytearray(data)
    changed[at] ^= mask
    return bytes(changed), at, mask


def _not_an_image(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    if draw(st.booleans()):
        data, at, mask = _flip(draw, draw(_image(p, k, IMAGE_HEADER_SIZE, top)), 0, 8)
        return data, f"magic byte {at} xor {mask:#04x}"
    data = draw(st.binary(max_size=min(top, 256)))
    if data[:1] == IMAGE_MAGIC[:1]:  # a start of the magic would make it a truncated image
        data = bytes([data[0] ^ 0x80]) + data[1:]
    return data, f"{len(data)} bytes that are no image"


def _header_damaged(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    image = draw(_image(p, k, IMAGE_HEADER_SIZE, top))
    if draw(st.booleans()):
        data, at, mask = _flip(draw, image, len(IMAGE_MAGIC), IMAGE_HEADER_SIZE)
        return data, f"header byte {at} xor {mask:#04x}"
    unknown = draw(st.integers(0, 0xFF).filter(lambda n: n not in set(ImageKind)))
    return _with_header(image, kind=unknown), f"header names kind {unknown} (checksum right)"


def _wrong_kind(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    takes = _REGION_KINDS[k.region]
    other = draw(st.sampled_from([o for o in ImageKind if o not in takes]))
    image = draw(_image(p, other, IMAGE_HEADER_SIZE, top, region_of=k))
    return image, f"{other.label} image uploaded as {k.region}"


def _wrong_model(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    others = [q.model for q in _builtin_profiles() if q.model.upper() != p.model.upper()]
    model = draw(
        st.one_of(
            st.sampled_from(others or ["IP0"]),
            st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=MAX_MODEL),
        ).filter(lambda m: m.upper() != p.model.upper())
    )
    image = draw(_image(p, k, IMAGE_HEADER_SIZE, top))
    return _with_header(image, model=model), f"image for {model!r}, not {p.model}"


def _no_space(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    image = draw(_image(p, k, IMAGE_HEADER_SIZE, top))
    # No region is larger than the flash: a header claiming more never fits.
    claimed = draw(st.integers(p.flash.size, MAX_PAYLOAD - IMAGE_HEADER_SIZE))
    return _with_header(image, payload_length=claimed), f"header claims {claimed} payload bytes"


def _truncated(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    image = draw(_image(p, k, IMAGE_HEADER_SIZE, top))
    cut = draw(st.integers(1, len(image) - 1))  # nothing at all would be no image
    return image[:cut], f"cut to {cut} of {len(image)} bytes"


def _trailing_data(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    extra = draw(st.binary(min_size=1, max_size=min(64, top - IMAGE_HEADER_SIZE)))
    image = draw(_image(p, k, IMAGE_HEADER_SIZE, top - len(extra)))
    return image + extra, f"{len(extra)} bytes after the payload"


def _bad_checksum(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    if draw(st.booleans()):
        image = draw(_image(p, k, IMAGE_HEADER_SIZE + 1, top))
        data, at, mask = _flip(draw, image, IMAGE_HEADER_SIZE, len(image))
        return data, f"payload byte {at - IMAGE_HEADER_SIZE} xor {mask:#04x}"
    image = draw(_image(p, k, IMAGE_HEADER_SIZE, top))
    mask = draw(st.integers(1, 0xFFFFFFFF))
    crc = parse_header(image).payload_crc32 ^ mask
    return _with_header(image, payload_crc32=crc), f"header's payload CRC xor {mask:#010x}"


def _boot_too_old(draw: st.DrawFn, p: Profile, k: ImageKind, top: int) -> tuple[bytes, str]:
    image = draw(_image(p, k, IMAGE_HEADER_SIZE, top))
    needs = draw(st.integers(p.boot.build + 1, MAX_BOOT_BUILD))
    how = f"needs boot code build {needs}, the {p.model}'s is {p.boot.build}"
    return _with_header(image, min_boot_build=needs), how


_MUTATIONS: dict[type[ImageError] | type[NoSpace], _Mutation] = {
    NotAnImage: _not_an_image,
    HeaderDamaged: _header_damaged,
    WrongKind: _wrong_kind,
    WrongModel: _wrong_model,
    NoSpace: _no_space,
    Truncated: _truncated,
    TrailingData: _trailing_data,
    BadChecksum: _bad_checksum,
    BootTooOld: _boot_too_old,
}


def _applies(reason: type[ImageError] | type[NoSpace], profile: Profile, kind: ImageKind) -> bool:
    if reason is BootTooOld:  # the boot code checks min_boot_build of firmware only
        return kind is ImageKind.FIRMWARE and profile.boot.build < MAX_BOOT_BUILD
    if reason is NoSpace:
        return profile.flash.size <= MAX_PAYLOAD - IMAGE_HEADER_SIZE
    return True


@st.composite
def _broken(
    draw: st.DrawFn,
    profile: Profile,
    kind: ImageKind,
    reasons: tuple[type[ImageError] | type[NoSpace], ...],
    max_size: int,
) -> BrokenImage:
    reason = draw(st.sampled_from([r for r in reasons if _applies(r, profile, kind)]))
    top = min(max_size, _capacity(profile, kind))
    data, how = _MUTATIONS[reason](draw, profile, kind, top)
    return BrokenImage(data, reason, how, profile.model, kind.region)


def broken_images(
    profile: str | Profile | None = None,
    kind: ImageKind | None = None,
    *,
    reasons: Iterable[type[ImageError] | type[NoSpace]] | None = None,
    max_size: int = _DEFAULT_MAX_IMAGE,
) -> st.SearchStrategy[BrokenImage]:
    """Uploads a device refuses, each a :class:`BrokenImage` saying why.

    ``profile`` and ``kind`` are as for :func:`images`; ``kind`` names the region the
    upload is meant for (``BrokenImage.region``: ``prot``, ``boot`` or ``altboot``).
    Each is a valid image with one thing wrong, or no image at all, for every refusal
    of :func:`~ipgwsim.flash.image.verify_image` (or only those in ``reasons``):

    * ``NotAnImage``: a damaged magic, or other bytes;
    * ``HeaderDamaged``: a changed header byte, or an unknown kind with a right checksum;
    * ``WrongKind``: an image of a kind the region does not take;
    * ``WrongModel``: an image for another model;
    * ``NoSpace``: a header claiming more bytes than the flash has;
    * ``Truncated``: an image cut short, in its header or its payload;
    * ``TrailingData``: bytes after the payload;
    * ``BadChecksum``: a changed payload byte, or a wrong payload CRC in the header;
    * ``BootTooOld`` (firmware only, the one kind the boot code checks it for): a
      ``min_boot_build`` above the profile's boot code build.

    A factory device of the model refuses the upload with the message of that
    exception (TFTP ERROR), and its flash stays as it was. Each is at most
    ``max_size`` bytes (at least 65).
    """
    chosen = tuple(_MUTATIONS) if reasons is None else tuple(dict.fromkeys(reasons))
    unknown = [r for r in chosen if r not in _MUTATIONS]
    if unknown or not chosen:
        raise InvalidArgument(
            f"reasons must be some of {', '.join(r.__name__ for r in _MUTATIONS)}, "
            f"not {list(chosen)!r}"
        )
    _check_size("max_size", max_size, IMAGE_HEADER_SIZE + 1)
    targets = [
        (p, k)
        for p in resolve_profiles(profile)
        for k in _kinds_of(p, kind)
        if any(_applies(r, p, k) for r in chosen)
    ]
    if not targets:
        names = ", ".join(r.__name__ for r in chosen)
        raise InvalidArgument(f"no model of {profile!r} and kind {kind} can be refused by {names}")
    return st.sampled_from(targets).flatmap(lambda t: _broken(t[0], t[1], chosen, max_size))

"""Firmware and boot code images: build, verify, store in a region, check in place.

Every refusal has its own class and a message that says what is wrong; an
image is verified before anything is erased; a power cut at any flash operation
of a store leaves either the complete new image or no valid image, never a mix
and never the old image once its first sector was touched.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.flash.errors import NO_SPACE_EVENT, NoSpace, PowerLost
from ipgwsim.flash.faults import CutMode, FaultInjector, PowerCut
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE, IMAGE_MAGIC, ImageHeader
from ipgwsim.flash.image import (
    BadChecksum,
    BootTooOld,
    HeaderDamaged,
    ImageError,
    ImageFieldError,
    ImageInfo,
    ImageKind,
    NotAnImage,
    TrailingData,
    Truncated,
    WrongKind,
    WrongModel,
    build_image,
    check_slot,
    parse_header,
    store_image,
    verify_image,
)
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import Partition, PartitionTable
from ipgwsim.hw_profiles import find_profile

PROFILE = find_profile("IP6000")
SECTOR = PROFILE.flash.sector_size
FIRMWARE = (ImageKind.FIRMWARE,)
MODEL = PROFILE.model


def payload(seed: str, size: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


SMALL_PAYLOAD = payload("small", 1000)
SMALL = build_image(
    ImageKind.FIRMWARE, MODEL, "08-6000.08", SMALL_PAYLOAD, boot_build=0, min_boot_build=132
)
#: An image of a little less than 3 sectors and an older one of 4 sectors.
NEW = build_image(ImageKind.FIRMWARE, MODEL, "new", payload("new", 3 * SECTOR - 5000))
OLD = build_image(ImageKind.FIRMWARE, MODEL, "old", payload("old", 4 * SECTOR - 1000))


def verify(
    data: bytes,
    *,
    model: str = MODEL,
    kinds: tuple[ImageKind, ...] = FIRMWARE,
    region_size: int = PROFILE.region("prot").size,
    region_name: str = "prot",
    boot_build: int | None = None,
) -> ImageInfo:
    """verify_image for the IP6000's firmware slot, with overrides."""
    return verify_image(
        data,
        model=model,
        kinds=kinds,
        region_size=region_size,
        region_name=region_name,
        boot_build=boot_build,
    )


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    damaged = bytearray(data)
    damaged[index] ^= mask
    return bytes(damaged)


def new_device() -> tuple[NorFlash, Partition]:
    flash = NorFlash(PROFILE.flash)
    return flash, PartitionTable(flash, PROFILE)["prot"]


def sectors_for(length: int) -> int:
    return -(-length // SECTOR)


# -------------------- build, parse, verify ------------------------------------------


def test_good_image_verifies_and_returns_its_fields() -> None:
    info = verify(SMALL)
    assert info == ImageInfo(
        kind=ImageKind.FIRMWARE,
        model="IP6000",
        build="08-6000.08",
        boot_build=0,
        min_boot_build=132,
        payload_length=1000,
        payload_crc32=zlib.crc32(SMALL_PAYLOAD),
    )
    assert info.total_length == len(SMALL) == IMAGE_HEADER_SIZE + 1000
    assert parse_header(SMALL) == info
    assert SMALL[IMAGE_HEADER_SIZE:] == SMALL_PAYLOAD
    assert verify(SMALL, model="ip6000") == info  # the model is compared without case


def test_boot_image_verifies_for_boot_kinds() -> None:
    boot = build_image(ImageKind.BOOT, MODEL, "145", b"boot code", boot_build=145)
    info = verify(boot, kinds=(ImageKind.BOOT, ImageKind.RESCUE_BOOT), region_size=SECTOR)
    assert (info.kind, info.build, info.boot_build) == (ImageKind.BOOT, "145", 145)
    assert info.kind.label == "boot code"


@pytest.mark.parametrize("data", [random.Random(1).randbytes(200), b"MZ" + bytes(100), b"x"])
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(NotAnImage, match="not an image"):
        parse_header(data)
    with pytest.raises(NotAnImage, match="not an image"):
        verify(data)


def test_empty_data_is_not_an_image() -> None:
    with pytest.raises(NotAnImage, match="not an image"):
        parse_header(b"")


def test_empty_data_is_refused() -> None:
    with pytest.raises(ImageError):
        verify(b"")


@pytest.mark.parametrize("length", [1, 8, 30, IMAGE_HEADER_SIZE - 1])
def test_truncated_header(length: int) -> None:
    with pytest.raises(
        Truncated, match=f"image is {length} bytes, shorter than its 64-byte header"
    ):
        verify(SMALL[:length])


def test_truncated_payload() -> None:
    with pytest.raises(Truncated, match=f"truncated: {len(SMALL) - 10} of {len(SMALL)} bytes"):
        verify(SMALL[:-10])
    with pytest.raises(Truncated, match=f"truncated: 64 of {len(SMALL)} bytes"):
        verify(SMALL[:IMAGE_HEADER_SIZE])


@given(cut=st.integers(1, len(SMALL) - 1))
def test_every_prefix_is_truncated(cut: int) -> None:
    with pytest.raises(Truncated):
        verify(SMALL[:cut])


@pytest.mark.parametrize("index", [8, 9, 12, 30, 50, 59, 60, 63])
def test_flipped_header_byte(index: int) -> None:
    with pytest.raises(HeaderDamaged, match="image header is damaged"):
        verify(flip(SMALL, index))


@given(index=st.integers(0, len(SMALL) - 1), mask=st.integers(1, 255))
def test_every_flipped_byte_is_refused_by_its_own_class(index: int, mask: int) -> None:
    damaged = flip(SMALL, index, mask)
    expected: type[ImageError]
    if index < len(IMAGE_MAGIC):
        expected = NotAnImage
    elif index < IMAGE_HEADER_SIZE:
        expected = HeaderDamaged
    else:
        expected = BadChecksum
    with pytest.raises(expected):
        verify(damaged)


def test_unknown_kind_with_a_good_crc_is_header_damaged() -> None:
    header = ImageHeader.build(
        {
            "body": {
                "value": {
                    "kind": 9,
                    "model": MODEL,
                    "build": "x",
                    "boot_build": 0,
                    "min_boot_build": 0,
                    "payload_length": 0,
                    "payload_crc32": 0,
                }
            }
        }
    )
    with pytest.raises(HeaderDamaged, match="unknown kind 9"):
        verify(header)


def test_wrong_kind() -> None:
    boot = build_image(ImageKind.BOOT, MODEL, "145", b"boot")
    with pytest.raises(WrongKind, match=r"image is boot code, expected firmware$"):
        verify(boot)
    rescue = build_image(ImageKind.RESCUE_BOOT, MODEL, "358", b"boot")
    with pytest.raises(WrongKind, match="rescue boot code, expected firmware or boot code"):
        verify(rescue, kinds=(ImageKind.FIRMWARE, ImageKind.BOOT))


def test_wrong_model_names_both_models() -> None:
    other = build_image(ImageKind.FIRMWARE, "IP811", "13r2", SMALL_PAYLOAD)
    with pytest.raises(WrongModel) as caught:
        verify(other)
    assert "IP811" in str(caught.value)
    assert "IP6000" in str(caught.value)


def test_trailing_data() -> None:
    with pytest.raises(TrailingData, match="3 bytes after its payload of 1000"):
        verify(SMALL + b"abc")


@pytest.mark.parametrize("index", [IMAGE_HEADER_SIZE, IMAGE_HEADER_SIZE + 500, len(SMALL) - 1])
def test_flipped_payload_byte(index: int) -> None:
    with pytest.raises(BadChecksum, match="payload checksum mismatch: firmware is damaged"):
        verify(flip(SMALL, index))


def test_boot_too_old() -> None:
    with pytest.raises(BootTooOld, match="needs boot code build 132 or later, this device has 131"):
        verify(SMALL, boot_build=131)
    assert verify(SMALL, boot_build=132).min_boot_build == 132
    assert verify(SMALL, boot_build=None).min_boot_build == 132


def test_no_space() -> None:
    with pytest.raises(NoSpace) as caught:
        verify(SMALL, region_size=len(SMALL) - 1, region_name="prot")
    text = str(caught.value)
    assert "Error 0x00130001 Major FLASHMAN0 no space" in text
    assert text.startswith(NO_SPACE_EVENT)
    assert f"needs {len(SMALL)} bytes" in text
    assert "'prot'" in text
    assert (caught.value.needed, caught.value.available) == (len(SMALL), len(SMALL) - 1)
    assert verify(SMALL, region_size=len(SMALL)).total_length == len(SMALL)


def test_image_larger_than_the_real_region() -> None:
    flash, part = new_device()
    big = build_image(ImageKind.FIRMWARE, MODEL, "big", bytes(part.size - IMAGE_HEADER_SIZE + 1))
    with pytest.raises(NoSpace, match="Error 0x00130001 Major FLASHMAN0 no space"):
        verify(big, region_size=part.size, region_name=part.name)
    with pytest.raises(NoSpace, match="Error 0x00130001 Major FLASHMAN0 no space"):
        store_image(part, big)
    assert flash.faults.count == 0


# -------------------- store and check in a region --------------------------------------


def test_stored_image_is_valid() -> None:
    _, part = new_device()
    store_image(part, NEW)
    status = check_slot(part, model=MODEL, kinds=FIRMWARE)
    assert status.valid
    assert status.problem is None
    assert status.info == parse_header(NEW)
    assert part.read(0, len(NEW)) == NEW
    assert part.usage().used == sectors_for(len(NEW)) * SECTOR


def test_odd_length_image_is_padded_and_valid() -> None:
    odd = build_image(ImageKind.FIRMWARE, MODEL, "odd", payload("odd", 4097))
    assert len(odd) % PROFILE.flash.program_unit == 1
    _, part = new_device()
    store_image(part, odd)
    assert check_slot(part, model=MODEL, kinds=FIRMWARE).valid


def test_erased_region_reports_no_image() -> None:
    _, part = new_device()
    status = check_slot(part, model=MODEL, kinds=FIRMWARE)
    assert not status.valid
    assert status.info is None
    assert status.problem == "no image (region is erased)"


def test_slot_with_other_model_or_kind_is_invalid() -> None:
    _, part = new_device()
    store_image(part, SMALL)
    status = check_slot(part, model="IP811", kinds=FIRMWARE)
    assert not status.valid
    assert status.info == parse_header(SMALL)
    assert status.problem is not None
    assert "IP6000" in status.problem
    assert "IP811" in status.problem
    wrong_kind = check_slot(part, model=MODEL, kinds=(ImageKind.BOOT,))
    assert wrong_kind.problem == "image is firmware, expected boot code"


def test_slot_with_a_cleared_payload_bit_is_invalid() -> None:
    _, part = new_device()
    store_image(part, SMALL)
    offset = IMAGE_HEADER_SIZE + 100
    unit = PROFILE.flash.program_unit
    old = part.read(offset, unit)
    assert old[0], "the test needs a set bit to clear"
    lowest = old[0] & -old[0]
    part.program(offset, bytes([old[0] & ~lowest & 0xFF]) + old[1:])
    status = check_slot(part, model=MODEL, kinds=FIRMWARE)
    assert not status.valid
    assert status.problem == "image payload checksum mismatch: firmware is damaged"


def test_slot_whose_header_claims_more_than_the_region() -> None:
    _, part = new_device()
    header = ImageHeader.build(
        {
            "body": {
                "value": {
                    "kind": 1,
                    "model": MODEL,
                    "build": "x",
                    "boot_build": 0,
                    "min_boot_build": 0,
                    "payload_length": part.size,
                    "payload_crc32": 0,
                }
            }
        }
    )
    part.program(0, header)
    status = check_slot(part, model=MODEL, kinds=FIRMWARE)
    assert not status.valid
    assert status.problem == "image header claims more bytes than the region has"


def test_image_over_an_older_larger_one_leaves_no_stale_sectors() -> None:
    _, part = new_device()
    store_image(part, OLD)
    assert part.usage().used == 4 * SECTOR
    store_image(part, NEW)
    assert check_slot(part, model=MODEL, kinds=FIRMWARE).info == parse_header(NEW)
    assert part.usage().used == sectors_for(len(NEW)) * SECTOR == 3 * SECTOR
    assert list(part.used_sectors()) == [0, 1, 2]
    assert part.is_erased(len(NEW) + 1, part.size - len(NEW) - 1)


def verify_then_store(part: Partition, data: bytes) -> None:
    """The documented way: verify completely, then store."""
    verify_image(data, model=MODEL, kinds=FIRMWARE, region_size=part.size, region_name=part.name)
    store_image(part, data)


REFUSED = {
    "not an image": random.Random(2).randbytes(5000),
    "truncated": NEW[:-1],
    "trailing": NEW + b"\x00\x00",
    "bad checksum": flip(NEW, len(NEW) // 2),
    "header damaged": flip(NEW, 40),
    "wrong kind": build_image(ImageKind.BOOT, MODEL, "145", b"boot"),
    "wrong model": build_image(ImageKind.FIRMWARE, "IP811", "13r2", b"fw"),
    "no space": build_image(ImageKind.FIRMWARE, MODEL, "big", bytes(PROFILE.region("prot").size)),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_image_erases_nothing(name: str) -> None:
    flash, part = new_device()
    store_image(part, OLD)
    before = flash.faults.count
    wear = flash.wear_counts()
    with pytest.raises((ImageError, NoSpace)):
        verify_then_store(part, REFUSED[name])
    assert flash.faults.count == before
    assert flash.wear_counts() == wear
    assert part.read(0, len(OLD)) == OLD
    assert check_slot(part, model=MODEL, kinds=FIRMWARE).info == parse_header(OLD)


def test_verify_then_store_of_a_good_image() -> None:
    _, part = new_device()
    store_image(part, OLD)
    verify_then_store(part, NEW)
    assert check_slot(part, model=MODEL, kinds=FIRMWARE).info == parse_header(NEW)


# -------------------- power cuts while storing ------------------------------------------


def count_store_ops() -> int:
    flash, part = new_device()
    store_image(part, OLD)
    flash.faults.reset_count()
    store_image(part, NEW)
    return flash.faults.count


HEADER_BITS = 8 * IMAGE_HEADER_SIZE
CUTS = [
    (CutMode.ATOMIC, None),
    (CutMode.TORN, 0),
    (CutMode.TORN, 1),
    (CutMode.TORN, 9),
    (CutMode.TORN, HEADER_BITS - 1),
    (CutMode.TORN, HEADER_BITS),
    (CutMode.TORN, 70_000),
    (CutMode.TORN, 10**9),
    (CutMode.TORN, None),  # drawn from the injector's seeded generator
]


@pytest.mark.parametrize(("mode", "keep"), CUTS)
def test_power_cut_at_every_operation_of_a_store(mode: CutMode, keep: int | None) -> None:
    total = count_store_ops()
    # 4 erases of the old image, 3 payload programs, the header last.
    assert total == 8
    first_sector = PROFILE.region("prot").offset // SECTOR
    old_info, new_info = parse_header(OLD), parse_header(NEW)
    outcomes: list[str] = []
    for at_op in range(1, total + 1):
        flash, part = new_device()
        store_image(part, OLD)
        wear_before = flash.wear(first_sector)
        flash.faults = FaultInjector(cut=PowerCut(at_op=at_op, mode=mode, keep=keep))
        with pytest.raises(PowerLost):
            store_image(part, NEW)
        assert not flash.powered
        flash.power_on()
        first_erase_happened = flash.wear(first_sector) > wear_before
        status = check_slot(part, model=MODEL, kinds=FIRMWARE)
        where = f"cut at op {at_op} of {total} ({mode.value}, keep={keep})"
        if status.valid:
            if status.info == new_info:
                assert at_op == total, where
                assert part.read(0, len(NEW)) == NEW, where
                outcomes.append("new")
            else:
                assert status.info == old_info, where
                assert not first_erase_happened, f"old image valid after its first erase: {where}"
                assert part.read(0, len(OLD)) == OLD, where
                outcomes.append("old")
        else:
            assert status.problem, where
            if at_op > 1:
                assert first_erase_happened, where
            outcomes.append("invalid")
        # The device recovers: storing again gives the new image and nothing stale.
        store_image(part, NEW)
        assert check_slot(part, model=MODEL, kinds=FIRMWARE).info == new_info, where
        assert part.usage().used == 3 * SECTOR, where

    middle = outcomes[1:-1]
    assert middle == ["invalid"] * (total - 2)
    if mode is CutMode.ATOMIC or keep == 0:
        assert outcomes[0] == "old"
        assert outcomes[-1] == "invalid"
    elif keep is not None:
        assert outcomes[0] == "invalid"
        assert outcomes[-1] == ("new" if keep >= HEADER_BITS else "invalid")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"model": "IP" + "1" * 15}, "model", "model must be at most 16 ASCII characters"),
        ({"build": "Zürich"}, "build", "build must be at most 20 ASCII characters"),
        ({"build": "x" * 21}, "build", "build must be at most 20 ASCII characters"),
        ({"boot_build": 70000}, "boot_build", "boot_build must be 0 to 65535, not 70000"),
        ({"min_boot_build": -1}, "min_boot_build", "min_boot_build must be 0 to 65535, not -1"),
    ],
)
def test_build_image_names_the_field_that_does_not_fit(
    changes: dict[str, object], field: str, message: str
) -> None:
    args: dict[str, Any] = {"model": "IP811", "build": "13r2", "boot_build": 0, "min_boot_build": 0}
    args.update(changes)
    with pytest.raises(ImageFieldError, match=message) as caught:
        build_image(
            ImageKind.FIRMWARE,
            args["model"],
            args["build"],
            b"x",
            boot_build=args["boot_build"],
            min_boot_build=args["min_boot_build"],
        )
    assert caught.value.field == field

"""Golden bytes and round trips of every layout in :mod:`ipgwsim.flash.formats`.

The golden bytes are written out by hand from the layouts (big-endian
integers, zlib CRC32); the CRCs in them were computed with ``zlib.crc32`` over
the literal bytes, and each test checks that too, so a change of a layout or of
the CRC coverage shows up here and not only on a device.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from construct import ConstructError, Container, ListContainer, ValidationError
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.flash.formats import (
    FLASH_FILE_MAGIC,
    FLASH_FILE_PREFIX_SIZE,
    IMAGE_HEADER_SIZE,
    IMAGE_MAGIC,
    KV_BANK_HEADER_SIZE,
    KV_RECORD_OVERHEAD,
    RING_HEADER_SIZE,
    RING_MARKER,
    AsciiNumber,
    FlashFileHeader,
    FlashFilePrefix,
    ImageHeader,
    KvBankHeader,
    KvRecord,
    RingHeader,
    RingRecord,
    ring_crc,
)
from ipgwsim.flash.imagefile import header_size
from ipgwsim.hw_profiles import FlashGeometry, find_profile

U16 = st.integers(0, 2**16 - 1)
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
# PaddedString strips trailing NULs, so round-trippable strings have none.
ASCII = st.characters(min_codepoint=1, max_codepoint=127)


def plain(obj: Any) -> Any:
    """A parsed construct value as plain dicts and lists, without ``_io``."""
    if isinstance(obj, ListContainer):
        return [plain(item) for item in obj]
    if isinstance(obj, Container):
        return {k: plain(v) for k, v in obj.items() if not k.startswith("_")}
    return obj


# -------------------- config ring record --------------------------------------

RING_TEXT = b"hostname gw1\n"
RING_GOLDEN_HEADER = b"# config generation 00000042 length 00000013 crc32 622fa0c2\r\n"
RING_GOLDEN = RING_GOLDEN_HEADER + RING_TEXT


def test_ring_golden_crc_is_over_generation_length_and_text() -> None:
    assert zlib.crc32(b"00000042" + b"00000013" + RING_TEXT) == 0x622FA0C2
    assert ring_crc(42, RING_TEXT) == 0x622FA0C2


def test_ring_record_golden_parse() -> None:
    record = RingRecord.parse(RING_GOLDEN)
    assert record.header.generation == 42
    assert record.header.length == 13
    assert record.header.crc32 == 0x622FA0C2
    assert record.text == RING_TEXT


def test_ring_record_golden_build() -> None:
    assert RingRecord.build({"header": {"generation": 42}, "text": RING_TEXT}) == RING_GOLDEN


def test_ring_header_golden() -> None:
    header = RingHeader.parse(RING_GOLDEN_HEADER)
    assert (header.generation, header.length, header.crc32) == (42, 13, 0x622FA0C2)
    assert RingHeader.build({"generation": 42}, text=RING_TEXT) == RING_GOLDEN_HEADER
    assert len(RING_GOLDEN_HEADER) == RING_HEADER_SIZE


@given(generation=st.integers(0, 99_999_999), text=st.binary(max_size=300))
def test_ring_record_round_trip(generation: int, text: bytes) -> None:
    raw = RingRecord.build({"header": {"generation": generation}, "text": text})
    assert raw.startswith(RING_MARKER)
    assert len(raw) == RING_HEADER_SIZE + len(text)
    record = RingRecord.parse(raw)
    assert plain(record) == {
        "header": {
            "generation": generation,
            "length": len(text),
            "crc32": ring_crc(generation, text),
        },
        "text": text,
    }
    assert RingRecord.build(record) == raw


@given(generation=st.integers(0, 99_999_999), text=st.binary(max_size=100))
def test_ring_header_round_trip(generation: int, text: bytes) -> None:
    raw = RingHeader.build({"generation": generation}, text=text)
    assert len(raw) == RING_HEADER_SIZE
    header = RingHeader.parse(raw)
    assert plain(header) == {
        "generation": generation,
        "length": len(text),
        "crc32": ring_crc(generation, text),
    }
    assert RingHeader.build(header, text=text) == raw


@pytest.mark.parametrize("index", [RING_HEADER_SIZE, RING_HEADER_SIZE + 5, len(RING_GOLDEN) - 1])
def test_ring_record_with_flipped_text_byte_fails(index: int) -> None:
    damaged = bytearray(RING_GOLDEN)
    damaged[index] ^= 0x01
    with pytest.raises(ConstructError):
        RingRecord.parse(bytes(damaged))


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        (b"generation 00000042", b"generation 0000004x"),  # not a digit
        (b"generation 00000042", b"generation +0000042"),  # a sign
        (b"generation 00000042", b"generation  0000042"),  # a space
        (b"length 00000013", b"length 0000001a"),  # hex where decimal belongs
        (b"crc32 622fa0c2", b"crc32 622FA0C2"),  # hex is lower case
        (b"crc32 622fa0c2", b"crc32 622fa0cg"),
    ],
)
def test_ring_record_with_bad_digits_fails(good: bytes, bad: bytes) -> None:
    damaged = RING_GOLDEN.replace(good, bad)
    assert damaged != RING_GOLDEN
    assert len(damaged) == len(RING_GOLDEN)
    with pytest.raises(ConstructError):
        RingRecord.parse(damaged)


def test_ring_record_with_wrong_crc_or_length_fails() -> None:
    with pytest.raises(ConstructError):
        RingRecord.parse(RING_GOLDEN.replace(b"622fa0c2", b"622fa0c3"))
    with pytest.raises(ConstructError):  # one byte more claimed than present
        RingRecord.parse(RING_GOLDEN.replace(b"00000013", b"00000014"))
    with pytest.raises(ConstructError):
        RingRecord.parse(RING_GOLDEN.replace(b"# config", b"# Config"))


# -------------------- AsciiNumber -----------------------------------------------


def test_ascii_number_golden() -> None:
    assert AsciiNumber(8, 10).build(42) == b"00000042"
    assert AsciiNumber(8, 16).build(0xABC) == b"00000abc"
    assert AsciiNumber(8, 16).build(2**32 - 1) == b"ffffffff"
    assert AsciiNumber(8, 10).build(99_999_999) == b"99999999"
    assert AsciiNumber(8, 10).parse(b"00000042") == 42
    assert AsciiNumber(8, 16).parse(b"00000abc") == 0xABC


@pytest.mark.parametrize(
    ("width", "base", "value"),
    [(8, 10, 100_000_000), (8, 10, -1), (8, 16, 2**32), (8, 16, -1), (2, 10, 100), (1, 16, 16)],
)
def test_ascii_number_refuses_values_that_do_not_fit(width: int, base: int, value: int) -> None:
    with pytest.raises(ValidationError, match="does not fit"):
        AsciiNumber(width, base).build(value)


@given(width=st.integers(1, 12), base=st.sampled_from([10, 16]), data=st.data())
def test_ascii_number_round_trip(width: int, base: int, data: st.DataObject) -> None:
    number = AsciiNumber(width, base)
    value = data.draw(st.integers(0, base**width - 1))
    raw = number.build(value)
    assert len(raw) == width
    assert number.parse(raw) == value
    assert number.build(number.parse(raw)) == raw
    too_big = data.draw(st.integers(base**width, base**width * 1000) | st.integers(max_value=-1))
    with pytest.raises(ValidationError):
        number.build(too_big)


@given(raw=st.binary(min_size=8, max_size=8))
def test_ascii_number_parses_only_digits(raw: bytes) -> None:
    for base, digits in ((10, b"0123456789"), (16, b"0123456789abcdef")):
        number = AsciiNumber(8, base)
        if all(byte in digits for byte in raw):
            assert number.parse(raw) == int(raw, base)
        else:
            with pytest.raises(ValidationError):
                number.parse(raw)


# -------------------- key-value log -----------------------------------------------

KV_BANK_GOLDEN = bytes.fromhex(
    "49504757 4b563031"  # IPGWKV01
    "56415253"  # tag VARS
    "00000003"  # generation 3
    "9720a0ba"  # crc32 of the 16 bytes before
)


def test_kv_bank_header_golden() -> None:
    assert zlib.crc32(KV_BANK_GOLDEN[:16]) == 0x9720A0BA
    header = KvBankHeader.parse(KV_BANK_GOLDEN)
    assert header.body.value.tag == b"VARS"
    assert header.body.value.generation == 3
    assert header.crc32 == 0x9720A0BA
    built = KvBankHeader.build({"body": {"value": {"tag": b"VARS", "generation": 3}}})
    assert built == KV_BANK_GOLDEN


def test_kv_bank_header_damage_fails() -> None:
    for index in range(len(KV_BANK_GOLDEN)):
        damaged = bytearray(KV_BANK_GOLDEN)
        damaged[index] ^= 0x80
        with pytest.raises(ConstructError):
            KvBankHeader.parse(bytes(damaged))


@given(tag=st.binary(min_size=4, max_size=4), generation=U32)
def test_kv_bank_header_round_trip(tag: bytes, generation: int) -> None:
    raw = KvBankHeader.build({"body": {"value": {"tag": tag, "generation": generation}}})
    assert len(raw) == KV_BANK_HEADER_SIZE
    header = KvBankHeader.parse(raw)
    assert plain(header.body.value) == {"tag": tag, "generation": generation}
    assert header.crc32 == zlib.crc32(raw[:16])
    assert KvBankHeader.build(header) == raw


KV_RECORD_GOLDEN = bytes.fromhex(
    "4b56"  # KV
    "01"  # op: set
    "05"  # flags
    "0b"  # key length 11
    "00000001"  # value length 1
    "5550444154452f50524f54"  # UPDATE/PROT
    "31"  # "1"
    "ffb3b3fb"  # crc32 of everything before
)


def test_kv_record_golden() -> None:
    assert zlib.crc32(KV_RECORD_GOLDEN[:-4]) == 0xFFB3B3FB
    record = KvRecord.parse(KV_RECORD_GOLDEN)
    body = record.body.value
    assert (body.op, body.flags, body.key_length, body.value_length) == (1, 5, 11, 1)
    assert (body.key, body.value) == (b"UPDATE/PROT", b"1")
    assert record.crc32 == 0xFFB3B3FB
    built = KvRecord.build(
        {"body": {"value": {"op": 1, "flags": 5, "key": b"UPDATE/PROT", "value": b"1"}}}
    )
    assert built == KV_RECORD_GOLDEN


def test_kv_record_with_flipped_byte_fails() -> None:
    for index in range(len(KV_RECORD_GOLDEN)):
        damaged = bytearray(KV_RECORD_GOLDEN)
        damaged[index] ^= 0x10
        with pytest.raises(ConstructError):
            KvRecord.parse(bytes(damaged))


@given(
    op=st.integers(0, 255),
    flags=st.integers(0, 255),
    key=st.binary(max_size=255),
    value=st.binary(max_size=600),
)
def test_kv_record_round_trip(op: int, flags: int, key: bytes, value: bytes) -> None:
    raw = KvRecord.build(
        {"body": {"value": {"op": op, "flags": flags, "key": key, "value": value}}}
    )
    assert len(raw) == KV_RECORD_OVERHEAD + len(key) + len(value)
    record = KvRecord.parse(raw)
    assert plain(record.body.value) == {
        "op": op,
        "flags": flags,
        "key_length": len(key),
        "value_length": len(value),
        "key": key,
        "value": value,
    }
    assert KvRecord.build(record) == raw


# -------------------- image header ---------------------------------------------------

IMAGE_GOLDEN = bytes.fromhex(
    "49504757494d4731"  # IPGWIMG1
    "01"  # kind: firmware
    "00"  # flags
    "0000"  # reserved
    "4950383131"
    + "00" * 11  # model IP811, NUL padded to 16
    # build "13r2 sr14 [13.6042]", NUL padded to 20
    + "31337232207372313420"
    + "5b31332e363034325d"
    + "00"
    + "0266"  # boot_build 614
    "0258"  # min_boot_build 600
    "00000005"  # payload_length
    "3610a686"  # payload_crc32 = crc32(b"hello")
    "d2b8a5a8"  # header crc32 of the 60 bytes before
)
IMAGE_FIELDS = {
    "kind": 1,
    "flags": 0,
    "reserved": 0,
    "model": "IP811",
    "build": "13r2 sr14 [13.6042]",
    "boot_build": 614,
    "min_boot_build": 600,
    "payload_length": 5,
    "payload_crc32": 0x3610A686,
}


def test_image_header_golden() -> None:
    assert len(IMAGE_GOLDEN) == IMAGE_HEADER_SIZE
    assert zlib.crc32(b"hello") == 0x3610A686
    assert zlib.crc32(IMAGE_GOLDEN[:60]) == 0xD2B8A5A8
    header = ImageHeader.parse(IMAGE_GOLDEN)
    assert plain(header.body.value) == IMAGE_FIELDS
    assert header.header_crc32 == 0xD2B8A5A8
    build_fields = {k: v for k, v in IMAGE_FIELDS.items() if k not in ("flags", "reserved")}
    assert ImageHeader.build({"body": {"value": build_fields}}) == IMAGE_GOLDEN


def test_image_header_refuses_nonzero_flags_and_bad_crc() -> None:
    for index in (9, 10, 11, 20, 63):  # flags, reserved, model, header CRC
        damaged = bytearray(IMAGE_GOLDEN)
        damaged[index] ^= 0x01
        with pytest.raises(ConstructError):
            ImageHeader.parse(bytes(damaged))


@given(
    kind=st.integers(0, 255),
    model=st.text(ASCII, max_size=16),
    build=st.text(ASCII, max_size=20),
    boot_build=U16,
    min_boot_build=U16,
    payload_length=U32,
    payload_crc32=U32,
)
def test_image_header_round_trip(
    *,
    kind: int,
    model: str,
    build: str,
    boot_build: int,
    min_boot_build: int,
    payload_length: int,
    payload_crc32: int,
) -> None:
    fields = {
        "kind": kind,
        "model": model,
        "build": build,
        "boot_build": boot_build,
        "min_boot_build": min_boot_build,
        "payload_length": payload_length,
        "payload_crc32": payload_crc32,
    }
    raw = ImageHeader.build({"body": {"value": fields}})
    assert len(raw) == IMAGE_HEADER_SIZE
    assert raw.startswith(IMAGE_MAGIC)
    header = ImageHeader.parse(raw)
    assert plain(header.body.value) == {**fields, "flags": 0, "reserved": 0}
    assert header.header_crc32 == zlib.crc32(raw[:60])
    assert ImageHeader.build(header) == raw


def test_image_header_refuses_strings_that_do_not_fit() -> None:
    fields = {k: v for k, v in IMAGE_FIELDS.items() if k not in ("flags", "reserved")}
    with pytest.raises(ConstructError):
        ImageHeader.build({"body": {"value": {**fields, "model": "X" * 17}}})
    with pytest.raises(ConstructError):
        ImageHeader.build({"body": {"value": {**fields, "build": "X" * 21}}})


# -------------------- flash image file ----------------------------------------------

FLASH_PREFIX_GOLDEN = bytes.fromhex(
    "4950475753494d2d464c415348000000"  # IPGWSIM-FLASH + 3 NUL
    "00000001"  # version
    "0000000000003000"  # size 12 KiB
    "00001000"  # sector size 4 KiB
)
FLASH_HEADER_GOLDEN = FLASH_PREFIX_GOLDEN + bytes.fromhex(
    "00000002"  # program unit
    "00001000"  # data offset
    "01" "00000003"  # sector 0: data, wear 3
    "00" "00000000"  # sector 1: erased, never erased
    "00" "00000007"  # sector 2: erased, wear 7
    "c75ae9a1"  # crc32 of everything before
)  # fmt: skip
FLASH_SECTORS = [
    {"state": 1, "wear": 3},
    {"state": 0, "wear": 0},
    {"state": 0, "wear": 7},
]


def test_flash_file_prefix_golden() -> None:
    assert FLASH_PREFIX_GOLDEN.startswith(FLASH_FILE_MAGIC)
    prefix = FlashFilePrefix.parse(FLASH_PREFIX_GOLDEN)
    assert plain(prefix) == {"version": 1, "size": 0x3000, "sector_size": 0x1000}
    assert FlashFilePrefix.build({"size": 0x3000, "sector_size": 0x1000}) == FLASH_PREFIX_GOLDEN


def test_flash_file_prefix_refuses_other_version() -> None:
    with pytest.raises(ConstructError):
        FlashFilePrefix.parse(FLASH_PREFIX_GOLDEN.replace(b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"))


@given(size=U64, sector_size=U32)
def test_flash_file_prefix_round_trip(size: int, sector_size: int) -> None:
    raw = FlashFilePrefix.build({"size": size, "sector_size": sector_size})
    assert len(raw) == FLASH_FILE_PREFIX_SIZE
    parsed = FlashFilePrefix.parse(raw)
    assert plain(parsed) == {"version": 1, "size": size, "sector_size": sector_size}
    assert FlashFilePrefix.build(parsed) == raw


def test_flash_file_header_golden() -> None:
    assert zlib.crc32(FLASH_HEADER_GOLDEN[:-4]) == 0xC75AE9A1
    header = FlashFileHeader.parse(FLASH_HEADER_GOLDEN)
    assert plain(header.body.value) == {
        "version": 1,
        "size": 0x3000,
        "sector_size": 0x1000,
        "program_unit": 2,
        "data_offset": 0x1000,
        "sectors": FLASH_SECTORS,
    }
    assert header.crc32 == 0xC75AE9A1
    fields = {
        "size": 0x3000,
        "sector_size": 0x1000,
        "program_unit": 2,
        "data_offset": 0x1000,
        "sectors": FLASH_SECTORS,
    }
    assert FlashFileHeader.build({"body": {"value": fields}}) == FLASH_HEADER_GOLDEN
    assert header_size(FlashGeometry(0x3000, 0x1000, 2)) == len(FLASH_HEADER_GOLDEN)


def test_flash_file_header_with_flipped_byte_fails() -> None:
    for index in range(len(FLASH_HEADER_GOLDEN)):
        damaged = bytearray(FLASH_HEADER_GOLDEN)
        damaged[index] ^= 0x04
        with pytest.raises(ConstructError):
            FlashFileHeader.parse(bytes(damaged))


SECTOR = st.fixed_dictionaries({"state": st.integers(0, 255), "wear": U32})


@given(
    sector_size=st.integers(1, 2**24),
    program_unit=U32,
    data_offset=U32,
    data=st.data(),
)
def test_flash_file_header_round_trip(
    sector_size: int, program_unit: int, data_offset: int, data: st.DataObject
) -> None:
    sectors = data.draw(st.lists(SECTOR, max_size=40))
    size = sector_size * len(sectors)
    fields = {
        "size": size,
        "sector_size": sector_size,
        "program_unit": program_unit,
        "data_offset": data_offset,
        "sectors": sectors,
    }
    raw = FlashFileHeader.build({"body": {"value": fields}})
    assert len(raw) == header_size(FlashGeometry(size, sector_size, program_unit))
    header = FlashFileHeader.parse(raw)
    assert plain(header.body.value) == {**fields, "version": 1}
    assert header.crc32 == zlib.crc32(raw[:-4])
    assert FlashFileHeader.build(header) == raw


# -------------------- declared sizes ---------------------------------------------------


def test_declared_sizes_equal_built_sizes() -> None:
    assert len(RingHeader.build({"generation": 1}, text=b"")) == RING_HEADER_SIZE
    assert len(RingRecord.build({"header": {"generation": 1}, "text": b""})) == RING_HEADER_SIZE
    assert (
        len(KvBankHeader.build({"body": {"value": {"tag": b"FDIR", "generation": 0}}}))
        == KV_BANK_HEADER_SIZE
    )
    assert (
        len(KvRecord.build({"body": {"value": {"op": 2, "flags": 0, "key": b"", "value": b""}}}))
        == KV_RECORD_OVERHEAD
    )
    fields = {k: v for k, v in IMAGE_FIELDS.items() if k not in ("flags", "reserved")}
    assert len(ImageHeader.build({"body": {"value": fields}})) == IMAGE_HEADER_SIZE
    assert ImageHeader.sizeof() == IMAGE_HEADER_SIZE
    assert len(FlashFilePrefix.build({"size": 0, "sector_size": 0})) == FLASH_FILE_PREFIX_SIZE
    assert FlashFilePrefix.sizeof() == FLASH_FILE_PREFIX_SIZE


def _flash_header(geometry: FlashGeometry) -> bytes:
    return FlashFileHeader.build(
        {
            "body": {
                "value": {
                    "size": geometry.size,
                    "sector_size": geometry.sector_size,
                    "program_unit": geometry.program_unit,
                    "data_offset": 0,
                    "sectors": [{"state": 0, "wear": 0}] * geometry.sector_count,
                }
            }
        }
    )


@pytest.mark.parametrize("model", ["IP6000", "IP811", "IP800"])
def test_header_size_of_profiles(model: str) -> None:
    geometry = find_profile(model).flash
    assert header_size(geometry) == len(_flash_header(geometry))


@given(sector_size=st.integers(1, 2**20), count=st.integers(0, 600), unit=st.integers(1, 64))
def test_header_size_equals_built_length(sector_size: int, count: int, unit: int) -> None:
    geometry = FlashGeometry(sector_size * count, sector_size, unit)
    assert header_size(geometry) == len(_flash_header(geometry))

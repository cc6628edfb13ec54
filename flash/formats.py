"""Every on-flash and on-disk byte layout of :mod:`ipgwsim.flash`, declared once.

``flash/SPEC.md`` describes the same layouts for people; the golden-byte tests
in ``tests/flash/test_formats.py`` keep the two in step. Integers are
big-endian. CRC32 is the one of zlib (IEEE 802.3, as in Ethernet and PNG).

* :data:`RingRecord`: one generation of config text in the config ring. Its
  header is a text line, so a dump of the ring reads as plain text.
* :data:`KvBankHeader`, :data:`KvRecord`: the log of the vars and of the flash
  directory.
* :data:`ImageHeader`: the 64-byte header of firmware and boot code images.
* :data:`FlashFileHeader`: the header of a saved flash image file.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from construct import (
    Adapter,
    Array,
    Bytes,
    Check,
    Checksum,
    Const,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    PaddedString,
    RawCopy,
    Rebuild,
    Struct,
    ValidationError,
    len_,
    this,
)

# -------------------- text numbers -------------------------------------------

if TYPE_CHECKING:
    _IntFromBytes = Adapter[bytes, bytes, int, int]
else:  # construct's classes are generic only in its type stubs
    _IntFromBytes = Adapter


class AsciiNumber(_IntFromBytes):
    """A fixed-width number written in ASCII: decimal, or lower-case hex."""

    def __init__(self, width: int, base: int) -> None:
        super().__init__(Bytes(width))
        self.width = width
        self.base = base
        self.digits = b"0123456789" if base == 10 else b"0123456789abcdef"

    def _decode(self, obj: bytes, context: Any, path: Any) -> int:
        if len(obj) != self.width or obj.strip(self.digits):
            raise ValidationError(f"not a {self.width}-digit number: {obj!r}", path=path)
        return int(obj, self.base)

    def _encode(self, obj: int, context: Any, path: Any) -> bytes:
        text = format(obj, f"0{self.width}{'d' if self.base == 10 else 'x'}").encode("ascii")
        if obj < 0 or len(text) != self.width:
            raise ValidationError(f"{obj} does not fit {self.width} digits", path=path)
        return text


# -------------------- config ring record --------------------------------------

#: The start of every ring record; config text must not contain a line starting so.
RING_MARKER = b"# config generation "


def ring_crc(generation: int, text: bytes) -> int:
    """The CRC32 of a ring record: over the generation, the length and the text."""
    return zlib.crc32(b"%08d%08d" % (generation, len(text)) + text)


RingHeader = Struct(
    Const(RING_MARKER),
    "generation" / AsciiNumber(8, 10),
    Const(b" length "),
    "length" / Rebuild(AsciiNumber(8, 10), lambda ctx: len(ctx._.text)),
    Const(b" crc32 "),
    "crc32" / Rebuild(AsciiNumber(8, 16), lambda ctx: ring_crc(ctx.generation, ctx._.text)),
    Const(b"\r\n"),
)
RingRecord = Struct(
    "header" / RingHeader,
    "text" / Bytes(this.header.length),
    Check(lambda ctx: ctx.header.crc32 == ring_crc(ctx.header.generation, ctx.text)),
)
#: Bytes of a ring record before its text.
RING_HEADER_SIZE = len(RING_MARKER) + 8 + 8 + 8 + 8 + 7 + 2

# -------------------- key-value log (vars, flash directory) ------------------

#: Record operations of the key-value log.
KV_SET = 1
KV_DELETE = 2

KvBankHeader = Struct(
    "body" / RawCopy(Struct(Const(b"IPGWKV01"), "tag" / Bytes(4), "generation" / Int32ub)),
    "crc32" / Checksum(Int32ub, zlib.crc32, this.body.data),
)
KV_BANK_HEADER_SIZE = 20

KvRecord = Struct(
    "body"
    / RawCopy(
        Struct(
            Const(b"KV"),
            "op" / Int8ub,
            "flags" / Int8ub,
            "key_length" / Rebuild(Int8ub, len_(this.key)),
            "value_length" / Rebuild(Int32ub, len_(this.value)),
            "key" / Bytes(this.key_length),
            "value" / Bytes(this.value_length),
        )
    ),
    "crc32" / Checksum(Int32ub, zlib.crc32, this.body.data),
)
#: Bytes of a key-value record besides its key and value.
KV_RECORD_OVERHEAD = 2 + 1 + 1 + 1 + 4 + 4

# -------------------- firmware and boot code images ---------------------------

IMAGE_MAGIC = b"IPGWIMG1"
IMAGE_HEADER_SIZE = 64

#: Image kinds (the ``kind`` byte).
KIND_FIRMWARE = 1
KIND_BOOT = 2
KIND_RESCUE_BOOT = 3

ImageHeader = Struct(
    "body"
    / RawCopy(
        Struct(
            Const(IMAGE_MAGIC),
            "kind" / Int8ub,
            "flags" / Const(0, Int8ub),
            "reserved" / Const(0, Int16ub),
            "model" / PaddedString(16, "ascii"),
            "build" / PaddedString(20, "ascii"),
            "boot_build" / Int16ub,
            "min_boot_build" / Int16ub,
            "payload_length" / Int32ub,
            "payload_crc32" / Int32ub,
        )
    ),
    "header_crc32" / Checksum(Int32ub, zlib.crc32, this.body.data),
)

# -------------------- saved flash image file ----------------------------------

FLASH_FILE_MAGIC = b"IPGWSIM-FLASH\x00\x00\x00"
#: Sector states in a flash file.
SECTOR_ERASED = 0
SECTOR_DATA = 1

#: The fixed start of a flash file header: enough to know how long the header is.
FlashFilePrefix = Struct(
    Const(FLASH_FILE_MAGIC),
    "version" / Const(1, Int32ub),
    "size" / Int64ub,
    "sector_size" / Int32ub,
)
FLASH_FILE_PREFIX_SIZE = 32

FlashFileHeader = Struct(
    "body"
    / RawCopy(
        Struct(
            Const(FLASH_FILE_MAGIC),
            "version" / Const(1, Int32ub),
            "size" / Int64ub,
            "sector_size" / Int32ub,
            "program_unit" / Int32ub,
            "data_offset" / Int32ub,
            "sectors"
            / Array(
                lambda ctx: ctx.size // ctx.sector_size if ctx.sector_size else 0,
                Struct("state" / Int8ub, "wear" / Int32ub),
            ),
        )
    ),
    "crc32" / Checksum(Int32ub, zlib.crc32, this.body.data),
)

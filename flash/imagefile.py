"""The saved flash image file: a header with the sector table, then the raw flash.

Layout (``flash/SPEC.md``, *Flash image file*): a :data:`FlashFileHeader`
(geometry, and for each sector its state and wear), padded to
:data:`DATA_ALIGN`, then the flash itself at ``data_offset``, byte for byte.
Only sectors that hold data are written; erased sectors stay holes in a
sparse file, so a fleet of 32 MiB flashes costs what is written. A raw image
can be cut out of the file with ``dd bs=1 skip=<data_offset>``, where holes
read as zeros and the sector table says they are erased.

This module builds and parses bytes only; :mod:`ipgwsim.runtime.flashfile`
does the file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import ConstructError

from ipgwsim.flash.formats import (
    FLASH_FILE_PREFIX_SIZE,
    SECTOR_DATA,
    SECTOR_ERASED,
    FlashFileHeader,
    FlashFilePrefix,
)
from ipgwsim.flash.nor import NorFlash
from ipgwsim.hw_profiles import FlashGeometry

#: The flash data starts at a multiple of this, so holes line up with file system blocks.
DATA_ALIGN = 4096


class FlashFileError(ValueError):
    """A flash image file is damaged or does not match the device."""


@dataclass(frozen=True)
class FlashFileLayout:
    """What the header of a flash image file says."""

    geometry: FlashGeometry
    data_offset: int
    #: Indices of the sectors whose bytes are in the file.
    data_sectors: tuple[int, ...]
    wear: dict[int, int]


def header_size(geometry: FlashGeometry) -> int:
    """Bytes of the header for ``geometry``, before alignment."""
    return 16 + 4 + 8 + 4 + 4 + 4 + 5 * geometry.sector_count + 4


def header_size_from_prefix(prefix: bytes) -> int:
    """The header's size, from its first :data:`FLASH_FILE_PREFIX_SIZE` bytes."""
    try:
        fixed = FlashFilePrefix.parse(prefix[:FLASH_FILE_PREFIX_SIZE])
    except ConstructError:
        raise FlashFileError("not a valid ipgwsim flash image: no flash file header") from None
    if fixed.sector_size == 0 or fixed.size % fixed.sector_size:
        raise FlashFileError("flash image has an impossible geometry")
    return header_size(FlashGeometry(fixed.size, fixed.sector_size, 1))


def data_offset(geometry: FlashGeometry) -> int:
    return -(-header_size(geometry) // DATA_ALIGN) * DATA_ALIGN


def encode_header(flash: NorFlash, data_sectors: set[int]) -> bytes:
    """The header of a file holding ``flash``, padded to its data offset."""
    geometry = flash.geometry
    wear = flash.wear_counts()
    table = [
        {"state": SECTOR_DATA if i in data_sectors else SECTOR_ERASED, "wear": wear.get(i, 0)}
        for i in range(geometry.sector_count)
    ]
    offset = data_offset(geometry)
    raw = FlashFileHeader.build(
        {
            "body": {
                "value": {
                    "size": geometry.size,
                    "sector_size": geometry.sector_size,
                    "program_unit": geometry.program_unit,
                    "data_offset": offset,
                    "sectors": table,
                }
            }
        }
    )
    return raw + bytes(offset - len(raw))


def decode_header(raw: bytes) -> FlashFileLayout:
    """Parse the header at the start of ``raw``; :class:`FlashFileError` says what is wrong."""
    try:
        header = FlashFileHeader.parse(raw)
    except ConstructError as exc:
        first = str(exc).splitlines()[-1] if str(exc) else type(exc).__name__
        raise FlashFileError(f"not a valid ipgwsim flash image: {first}") from None
    body = header.body.value
    if body.sector_size == 0 or body.size % body.sector_size or body.program_unit == 0:
        raise FlashFileError("flash image has an impossible geometry")
    geometry = FlashGeometry(body.size, body.sector_size, body.program_unit)
    if body.data_offset < header_size(geometry):
        raise FlashFileError("flash image data overlaps its header")
    data_sectors = tuple(i for i, s in enumerate(body.sectors) if s.state == SECTOR_DATA)
    wear = {i: s.wear for i, s in enumerate(body.sectors) if s.wear}
    return FlashFileLayout(geometry, body.data_offset, data_sectors, wear)

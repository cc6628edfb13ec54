"""Saving and loading a device's flash as a sparse image file.

The format is in ``flash/SPEC.md`` (*Flash image file*) and is built by
:mod:`ipgwsim.flash.imagefile`; this module only moves its bytes. Saving
writes to a temporary file beside the target and renames it over, so a crash
of the simulator while saving leaves the previous image intact.
"""

from __future__ import annotations

import os
from pathlib import Path

from ipgwsim.flash.formats import FLASH_FILE_PREFIX_SIZE
from ipgwsim.flash.imagefile import (
    FlashFileError,
    decode_header,
    encode_header,
    header_size_from_prefix,
)
from ipgwsim.flash.nor import NorFlash
from ipgwsim.hw_profiles import FlashGeometry
from ipgwsim.runtime.errors import describe_error
from ipgwsim.runtime.private import open_private


def save_flash(flash: NorFlash, path: Path) -> None:
    """Write ``flash`` to ``path``; only written sectors take disk space."""
    sectors = list(flash.written_sectors())
    header = encode_header(flash, {index for index, _ in sectors})
    size = flash.geometry.sector_size
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(open_private(tmp), "wb") as out:
        out.write(header)
        for index, data in sectors:
            out.seek(len(header) + index * size)
            out.write(data)
        out.truncate(len(header) + flash.geometry.size)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


def load_flash(
    path: Path,
    geometry: FlashGeometry | None = None,
    *,
    strict: bool = True,
    shared: dict[bytes, bytes] | None = None,
) -> NorFlash:
    """Read a flash image; with ``geometry``, refuse an image of another geometry.

    With ``shared``, sectors of equal contents in several loaded images share
    one copy in memory (copied on their first change): a fleet of devices from
    one factory flash costs little more than one flash. The flash keeps ``shared`` as
    its pool, so an image it stores later is shared too.
    """
    with path.open("rb") as src:
        file_size = os.fstat(src.fileno()).st_size
        try:
            prefix = src.read(FLASH_FILE_PREFIX_SIZE)
            length = header_size_from_prefix(prefix)
            if length > file_size:
                raise FlashFileError(
                    f"not a valid ipgwsim flash image: the header claims {length} bytes, "
                    f"the file has {file_size}"
                )
            src.seek(0)
            layout = decode_header(src.read(length))
        except FlashFileError as exc:
            raise FlashFileError(f"{path}: {describe_error(exc)}") from None
        if file_size < layout.data_offset + layout.geometry.size:
            raise FlashFileError(
                f"{path}: flash image is truncated: {file_size} bytes, "
                f"expected {layout.data_offset + layout.geometry.size}"
            )
        if geometry is not None and layout.geometry != geometry:
            raise FlashFileError(
                f"{path}: flash image geometry {layout.geometry} "
                f"does not match the profile's {geometry}"
            )
        sectors: dict[int, bytes] = {}
        for index in layout.data_sectors:
            src.seek(layout.data_offset + index * layout.geometry.sector_size)
            data = src.read(layout.geometry.sector_size)
            if len(data) != layout.geometry.sector_size:
                raise FlashFileError(f"{path}: flash image is truncated in sector {index}")
            sectors[index] = data if shared is None else shared.setdefault(data, data)
    flash = NorFlash(layout.geometry, strict=strict)
    flash.restore(sectors, layout.wear)
    flash.pool = shared  # and the images it stores later (NorFlash.share)
    return flash

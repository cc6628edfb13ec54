"""The partition table: named regions of the flash, from the hardware profile.

A :class:`Partition` is a window on the flash with addresses relative to the
region's start. It adds two conveniences that every store above needs and that
must be written once: :meth:`Partition.program` splits a write at sector
boundaries (one flash operation per sector), and :meth:`Partition.prepare`
erases a sector only when it is not already erased (saving wear and time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ipgwsim.flash.errors import LocalFlashError, NoSpace
from ipgwsim.flash.nor import NorFlash
from ipgwsim.hw_profiles import Profile, Region


@dataclass(frozen=True)
class RegionUsage:
    """How much of one region holds data (sectors that are not erased)."""

    name: str
    size: int
    used: int

    @property
    def free(self) -> int:
        return self.size - self.used


class Partition:
    """One region of a flash, addressed from 0."""

    # Ten or so per device, for every device of a fleet: no ``__dict__`` each.
    __slots__ = ("flash", "region")

    def __init__(self, flash: NorFlash, region: Region) -> None:
        sector = flash.geometry.sector_size
        if region.offset % sector or region.size % sector or region.end > flash.geometry.size:
            raise LocalFlashError(f"region {region.name!r} does not fit the flash geometry")
        self.flash = flash
        self.region = region

    @property
    def name(self) -> str:
        return self.region.name

    @property
    def size(self) -> int:
        return self.region.size

    @property
    def sector_size(self) -> int:
        return self.flash.geometry.sector_size

    @property
    def program_unit(self) -> int:
        return self.flash.geometry.program_unit

    @property
    def sector_count(self) -> int:
        return self.region.size // self.sector_size

    def _absolute(self, offset: int, length: int) -> int:
        if offset < 0 or length < 0 or offset + length > self.region.size:
            raise LocalFlashError(
                f"{offset:#x}+{length:#x} is outside region {self.name!r} (size {self.size:#x})"
            )
        return self.region.offset + offset

    def _sector_index(self, sector: int) -> int:
        if not 0 <= sector < self.sector_count:
            raise LocalFlashError(f"region {self.name!r} has no sector {sector}")
        return self.region.offset // self.sector_size + sector

    def read(self, offset: int, length: int) -> bytes:
        return self.flash.read(self._absolute(offset, length), length)

    def read_all(self) -> bytes:
        return self.read(0, self.size)

    def is_erased(self, offset: int, length: int) -> bool:
        return self.flash.is_erased(self._absolute(offset, length), length)

    def is_sector_erased(self, sector: int) -> bool:
        return self.flash.is_sector_erased(self._sector_index(sector))

    def erase_sector(self, sector: int) -> None:
        self.flash.erase_sector(self._sector_index(sector))

    def prepare(self, sector: int) -> None:
        """Make ``sector`` erased, erasing it only if it holds data."""
        if not self.is_sector_erased(sector):
            self.erase_sector(sector)

    def erase_all(self) -> None:
        """Erase every sector that holds data (a long reset of this region)."""
        for sector in range(self.sector_count):
            self.prepare(sector)

    def program(self, offset: int, data: bytes) -> None:
        """Program ``data`` at ``offset``, one flash operation per sector touched."""
        start = self._absolute(offset, len(data))
        size = self.sector_size
        pos = 0
        while pos < len(data):
            chunk = min(len(data) - pos, size - (start + pos) % size)
            self.flash.program(start + pos, data[pos : pos + chunk])
            pos += chunk

    def share(self, offset: int, length: int) -> None:
        """Share the sectors of ``offset .. offset+length`` with the flash's pool
        (:meth:`~ipgwsim.flash.nor.NorFlash.share`): a stored image, held once by every
        flash of the pool that holds it."""
        self.flash.share(self._absolute(offset, length), length)

    def used_sectors(self) -> Iterator[int]:
        """The sectors (relative) that hold data."""
        return (s for s in range(self.sector_count) if not self.is_sector_erased(s))

    def usage(self) -> RegionUsage:
        return RegionUsage(
            self.name, self.size, sum(1 for _ in self.used_sectors()) * self.sector_size
        )

    def require_space(self, needed: int, what: str = "data") -> None:
        """Raise :class:`NoSpace` unless ``needed`` bytes fit the whole region."""
        if needed > self.size:
            raise NoSpace(self.name, needed, self.size, what)


class PartitionTable:
    """All regions of one device's flash, by name."""

    def __init__(self, flash: NorFlash, profile: Profile) -> None:
        if flash.geometry != profile.flash:
            raise LocalFlashError(
                f"flash geometry {flash.geometry} is not the {profile.model}'s {profile.flash}"
            )
        self.flash = flash
        self.profile = profile
        self._parts = {region.name: Partition(flash, region) for region in profile.regions}

    def __getitem__(self, name: str) -> Partition:
        try:
            return self._parts[name]
        except KeyError:
            raise KeyError(f"{self.profile.model} has no flash region {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._parts

    def __iter__(self) -> Iterator[Partition]:
        return iter(self._parts.values())

    def usage(self) -> list[RegionUsage]:
        """Usage of every region, in flash order."""
        return [part.usage() for part in self]

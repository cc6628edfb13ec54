"""Small flashes for tests: few, small sectors make wrap-around and compaction cheap."""

from __future__ import annotations

from ipgwsim.flash.faults import FaultInjector
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import Partition
from ipgwsim.hw_profiles import FlashGeometry, Region


def small_flash(
    sectors: int = 16,
    sector_size: int = 256,
    unit: int = 1,
    faults: FaultInjector | None = None,
) -> NorFlash:
    """A NOR flash of ``sectors`` sectors of ``sector_size`` bytes."""
    return NorFlash(FlashGeometry(sectors * sector_size, sector_size, unit), faults=faults)


def region_of(flash: NorFlash, name: str, first: int, count: int) -> Partition:
    """A partition over sectors ``first .. first+count-1`` of ``flash``."""
    size = flash.geometry.sector_size
    return Partition(flash, Region(name, first * size, count * size))

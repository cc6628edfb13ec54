"""Small flashes for tests: few, small sectors make wrap-around and compaction cheap."""

from __future__ import annotations

import dataclasses

from ipgwsim.flash.faults import FaultInjector
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import Partition, PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import FlashGeometry, Profile, Region, find_profile


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


def pool_profile(
    *,
    model: str = "IP6000",
    prot_sectors: int = 8,
    flashdir_sectors: int = 16,
    sector_size: int = 256,
    unit: int = 2,
    adjacent: bool = True,
) -> Profile:
    """A shipped profile on a tiny flash, for tests of the firmware pool.

    Regions, in sectors: boot 2, config 4, vars 2, prot, flashdir. With
    ``adjacent=False`` vars sits between prot and flashdir, so there is no pool.
    """
    base = find_profile(model)
    sizes = [("boot", 2), ("config", 4)]
    if adjacent:
        sizes += [("vars", 2), ("prot", prot_sectors), ("flashdir", flashdir_sectors)]
    else:
        sizes += [("prot", prot_sectors), ("vars", 2), ("flashdir", flashdir_sectors)]
    regions: list[Region] = []
    at = 0
    for name, count in sizes:
        regions.append(Region(name, at * sector_size, count * sector_size))
        at += count
    geometry = FlashGeometry(at * sector_size, sector_size, unit)
    return dataclasses.replace(base, flash=geometry, regions=tuple(regions))


def newest_generation(flash: NorFlash, profile: Profile) -> int:
    """The number of the newest config generation in ``flash``'s config ring."""
    newest = ConfigRing(PartitionTable(flash, profile)["config"]).newest
    assert newest is not None, "the config ring is empty"
    return newest.number

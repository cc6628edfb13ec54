"""The partition table from a profile: regions, usage accounting, no space."""

from __future__ import annotations

import pytest

from ipgwsim.flash.errors import LocalFlashError, NoSpace
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import FlashGeometry, find_profile, load_profiles


@pytest.mark.parametrize("model", sorted(load_profiles()))
def test_every_profile_gives_a_partition_table(model: str) -> None:
    profile = find_profile(model)
    table = PartitionTable(NorFlash(profile.flash), profile)
    assert [p.name for p in table] == [r.name for r in profile.regions]
    assert all(u.used == 0 and u.free == u.size for u in table.usage())
    assert ("altboot" in table) == profile.boot.rescue_copy


def test_usage_counts_sectors_with_data() -> None:
    profile = find_profile("IP6000")
    table = PartitionTable(NorFlash(profile.flash), profile)
    sector = profile.flash.sector_size
    table["flashdir"].program(sector - 2, b"\x00\x00\x00\x00")  # two sectors, one op each
    assert table.flash.faults.count == 2
    usage = {u.name: u for u in table.usage()}
    assert usage["flashdir"].used == 2 * sector
    assert usage["config"].used == 0
    table["flashdir"].erase_all()
    assert {u.name: u.used for u in table.usage()}["flashdir"] == 0


def test_no_space_names_the_region_and_the_event() -> None:
    profile = find_profile("IP6000")
    table = PartitionTable(NorFlash(profile.flash), profile)
    prot = table["prot"]
    prot.require_space(prot.size)
    with pytest.raises(NoSpace) as info:
        prot.require_space(prot.size + 1, "firmware")
    assert str(info.value) == (
        f"Error 0x00130001 Major FLASHMAN0 no space: firmware needs {prot.size + 1} bytes, "
        f"region 'prot' has {prot.size} bytes for it"
    )


def test_partition_bounds_and_geometry_are_checked() -> None:
    profile = find_profile("IP6000")
    table = PartitionTable(NorFlash(profile.flash), profile)
    with pytest.raises(LocalFlashError, match="outside region 'config'"):
        table["config"].read(table["config"].size - 1, 2)
    with pytest.raises(LocalFlashError, match="has no sector 4"):
        table["config"].erase_sector(4)
    with pytest.raises(KeyError, match="IP6000 has no flash region 'altboot'"):
        table["altboot"]
    other = NorFlash(FlashGeometry(profile.flash.size, profile.flash.sector_size, 1))
    with pytest.raises(LocalFlashError, match="is not the IP6000's"):
        PartitionTable(other, profile)

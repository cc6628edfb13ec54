"""FLASHMAN0's firmware pool: the fit rule, the store, the moving bank 0, info state.

The tests run on a tiny flash (``pool_profile``: 256-byte sectors, ``prot`` of
8 sectors, ``flashdir`` of 16: a lower half of 8, so an image may spill 7).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.flash import FlashMan, NoSpace
from ipgwsim.flash.errors import LocalFlashError
from ipgwsim.flash.image import ImageKind, Truncated, build_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarStore
from ipgwsim.hw_profiles import Profile, find_profile, load_profiles
from ipgwsim.testing.flash import pool_profile

PROFILE = pool_profile()
SECTOR = PROFILE.flash.sector_size
PROT = PROFILE.region("prot").size
#: The largest image the pool takes: prot and 7 of the 8 sectors of flashdir's lower half.
CAPACITY = PROT + 7 * SECTOR


def firmware(build: str, length: int, model: str = "IP6000") -> bytes:
    """A firmware image of exactly ``length`` bytes."""
    return build_image(ImageKind.FIRMWARE, model, build, bytes([len(build)]) * (length - 64))


def spilling(build: str, spill: int) -> bytes:
    """A firmware image that spills ``spill`` sectors into flashdir (the last one not full)."""
    return firmware(build, PROT + spill * SECTOR - 10)


def new_flash(profile: Profile = PROFILE) -> tuple[NorFlash, PartitionTable]:
    flash = NorFlash(profile.flash)
    return flash, PartitionTable(flash, profile)


def snapshot(flash: NorFlash) -> bytes:
    return flash.read(0, flash.geometry.size)


def valid_build(man: FlashMan) -> str | None:
    """The build of the firmware the boot code would start (None: defective)."""
    status = man.firmware_status()
    return status.info.build if status.valid and status.info is not None else None


def churn(man: FlashMan, items: dict[str, bytes], rounds: int = 200) -> None:
    """Change the directory until both banks carry a valid header (long use)."""
    fdir = man.flashdir()
    for i in range(rounds):
        key = f"calllist/{i % 3}"
        fdir.add_item(key, b"call %d" % i)
        items[key] = b"call %d" % i
        both = fdir.log.bank_generation(0) is not None and fdir.log.bank_generation(1) is not None
        if both and fdir.log.active == 0:
            return
    raise AssertionError("the churn never reached bank 0")


# -- geometry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(load_profiles()))
def test_every_shipped_profile_has_flashdir_right_after_prot(model: str) -> None:
    profile = find_profile(model)
    man = FlashMan(PartitionTable(NorFlash(profile.flash), profile))
    assert man.pooled
    prot, fdir = profile.region("prot"), profile.region("flashdir")
    window = man.firmware_window()
    assert (window.region.offset, window.size) == (prot.offset, prot.size + fdir.size)
    lower = fdir.size // profile.flash.sector_size // 2
    assert man.capacity == prot.size + (lower - 1) * profile.flash.sector_size


def test_without_adjacency_there_is_no_pool() -> None:
    profile = pool_profile(adjacent=False)
    _, table = new_flash(profile)
    man = FlashMan(table)
    assert not man.pooled
    assert man.firmware_window() is table["prot"]
    assert man.capacity == PROT
    man.check_firmware(PROT)
    with pytest.raises(NoSpace, match="flashdir does not follow prot on this model"):
        man.check_firmware(PROT + 1)


@pytest.mark.parametrize(
    ("length", "spill"),
    [(64, 0), (PROT, 0), (PROT + 1, 1), (PROT + SECTOR, 1), (PROT + SECTOR + 1, 2)],
)
def test_spill_is_the_sectors_beyond_prot(length: int, spill: int) -> None:
    _, table = new_flash()
    assert FlashMan(table).spill_for(length) == spill


# -- the fit rule -----------------------------------------------------------------------------


def test_an_image_that_spills_is_stored_through_the_window_and_shrinks_bank_0() -> None:
    flash, table = new_flash()
    man = FlashMan(table)
    man.flashdir().add_item("user/1", b"(cn=Alice)")
    assert man.flashdir().log.active == 1  # the first write goes away from the firmware
    image = spilling("v2", 3)
    man.check_firmware(len(image))
    info = man.store_firmware(image)
    assert info.build == "v2"
    assert man.firmware_window().read(0, len(image)) == image
    assert table["flashdir"].read(0, len(image) - PROT) == image[PROT:]
    again = FlashMan(PartitionTable(flash, PROFILE))
    assert again.firmware_status().valid
    assert again.current_spill() == 3
    fdir = again.flashdir()
    assert fdir.items() == [("user/1", b"(cn=Alice)")]
    assert fdir.bank_sizes == (5 * SECTOR, 8 * SECTOR)
    assert fdir.allocatable == 5 * SECTOR
    assert man.flashdir().bank_sizes == fdir.bank_sizes  # the kept mount moved along


def test_an_image_larger_than_the_pool_is_no_space() -> None:
    flash, table = new_flash()
    before = snapshot(flash)
    with pytest.raises(NoSpace) as info:
        FlashMan(table).store_firmware(firmware("big", CAPACITY + 1))
    assert str(info.value) == (
        f"Error 0x00130001 Major FLASHMAN0 no space: firmware needs {CAPACITY + 1} bytes, "
        f"region 'prot+flashdir' has {CAPACITY} bytes for it: an image may take prot "
        f"({PROT} bytes) and 7 of the 8 sectors of flashdir's lower half"
    )
    assert snapshot(flash) == before
    FlashMan(table).check_firmware(CAPACITY)  # the largest one fits


def test_spill_sectors_held_by_the_directory_are_no_space_with_the_reason() -> None:
    flash, table = new_flash()
    man = FlashMan(table)
    man.store_firmware(firmware("v1", 1000))
    churn(man, {})
    before, ops = snapshot(flash), flash.faults.count
    image = spilling("v2", 2)
    with pytest.raises(NoSpace) as info:
        FlashMan(table).store_firmware(image)
    message = str(info.value)
    assert message.startswith(
        f"Error 0x00130001 Major FLASHMAN0 no space: firmware needs {len(image)} bytes, "
        f"region 'prot+flashdir' has {PROT} bytes for it: "
    )
    assert "the flash directory holds sector 0 of flashdir" in message
    assert "the image needs sectors 0..1 (2 after prot)" in message
    assert info.value.available == PROT  # nothing beyond prot is free
    assert snapshot(flash) == before
    assert flash.faults.count == ops


def test_a_directory_too_large_for_the_smaller_bank_0_is_no_space() -> None:
    flash, table = new_flash()
    man = FlashMan(table)
    fdir = man.flashdir()
    for i in range(6):
        fdir.add_item(f"user/{i}", bytes(200))  # ~1.3 KiB, appended to bank 1 only
    used = fdir.used_bytes()
    assert 5 * SECTOR < used <= 6 * SECTOR
    assert fdir.log.bank_generation(0) is None
    before = snapshot(flash)
    with pytest.raises(NoSpace) as info:
        man.check_firmware(len(spilling("v2", 3)))
    assert (
        f"the flash directory's items take {used} bytes; beside an image that spills "
        f"3 sectors its bank 0 would have {5 * SECTOR}"
    ) in str(info.value)
    assert info.value.available == PROT + 2 * SECTOR
    man.check_firmware(len(spilling("v2", 2)))
    assert man.largest_firmware() == PROT + 2 * SECTOR
    assert snapshot(flash) == before


def test_a_directory_beside_a_spilling_image_stays_within_bank_0() -> None:
    flash, table = new_flash()
    man = FlashMan(table)
    man.store_firmware(spilling("v2", 6))  # bank 0: 2 sectors, bank 1: 8
    fdir = man.flashdir()
    assert fdir.allocatable == 2 * SECTOR
    fdir.add_item("a", bytes(300))
    ops = flash.faults.count
    with pytest.raises(NoSpace, match="FDIR needs"):
        fdir.add_item("b", bytes(300))  # bank 1 has room, bank 0 would not
    assert flash.faults.count == ops
    assert FlashMan(table).flashdir().items() == [("a", bytes(300))]


def test_a_smaller_image_moves_the_directory_out_of_bank_0_first() -> None:
    flash, table = new_flash()
    man = FlashMan(table)
    man.store_firmware(spilling("v1", 3))
    items: dict[str, bytes] = {}
    churn(man, items)
    assert man.flashdir().log.active == 0
    assert man.flashdir().log.bank_first_sector(0) == 3
    man.store_firmware(spilling("v2", 1))
    for fresh in (man, FlashMan(PartitionTable(flash, PROFILE))):
        fdir = fresh.flashdir()
        assert dict(fdir.items()) == items
        assert fdir.log.active == 1
        assert fdir.bank_sizes == (7 * SECTOR, 8 * SECTOR)
    assert table["flashdir"].is_sector_erased(1)  # the old spill's rest
    assert table["flashdir"].is_sector_erased(2)
    # Growing again is fine: sectors 1 and 2 are free, bank 0's old header at 3 is stale.
    man.store_firmware(spilling("v3", 3))
    fresh = FlashMan(PartitionTable(flash, PROFILE))
    assert valid_build(fresh) == "v3"
    assert dict(fresh.flashdir().items()) == items


def test_refused_images_leave_the_flash_untouched() -> None:
    flash, table = new_flash()
    man = FlashMan(table)
    man.store_firmware(firmware("v1", 1000))
    before = snapshot(flash)
    damaged = bytearray(spilling("v2", 1))
    damaged[-1] ^= 1
    for image, error in (
        (bytes(damaged), "checksum"),
        (firmware("v2", 1000, model="IP800"), "for IP800"),
        (firmware("v2", 1000)[:900], "truncated"),
    ):
        with pytest.raises(ValueError, match=error):
            man.store_firmware(image)
    with pytest.raises(Truncated):
        man.verify_firmware(firmware("v2", 1000)[:100])
    assert snapshot(flash) == before


def test_bank_0_keeps_at_least_one_sector() -> None:
    _, table = new_flash()
    fdir = FlashMan(table).flashdir()
    with pytest.raises(LocalFlashError, match="at least one of the 8 sectors"):
        fdir.set_spill(8)


# -- the article: no space, long reset, load the config, upgrade -----------------------------


def test_long_use_no_space_then_reset_and_reload_makes_room() -> None:
    flash, table = new_flash()
    man = FlashMan(table)
    man.store_firmware(firmware("12r1", 1800))
    ring, store = ConfigRing(table["config"]), VarStore(table["vars"])
    ring.write("config change CMD0 /name pbx\r\n")
    store.set("UPDATE/CHECK", b"7")
    items = {"user/alice": b"(cn=Alice)(e164=21)", "user/bob": b"(cn=Bob)(e164=22)"}
    for key, value in items.items():
        man.flashdir().add_item(key, value)
    churn(man, items)
    log = man.flashdir().log
    assert log.bank_generation(0) is not None
    assert log.bank_generation(1) is not None
    allocatable_before = man.flashdir().allocatable
    v2 = spilling("12r2", 2)

    # 1. The larger firmware does not fit: no space, nothing changed, the old one runs.
    before, ops = snapshot(flash), flash.faults.count
    with pytest.raises(NoSpace, match="the flash directory holds sector"):
        FlashMan(table).store_firmware(v2)
    assert snapshot(flash) == before
    assert flash.faults.count == ops
    assert valid_build(FlashMan(table)) == "12r1"

    # 2. Save the entire configuration.
    saved_config = ring.newest_text()
    saved_vars = [(v.name, v.value, v.flags) for v in store.all()]
    saved_items = FlashMan(table).flashdir().items()
    assert dict(saved_items) == items

    # 3. Reset to factory defaults (what the boot code's long reset clears).
    ConfigRing(table["config"]).clear()
    VarStore(table["vars"]).clear()
    FlashMan(table).flashdir().reset()
    assert FlashMan(table).firmware_status().valid  # the firmware survives the reset

    # 4. Load the saved configuration: the items go to bank 1, the lower half stays free.
    assert saved_config is not None
    ConfigRing(table["config"]).write(saved_config)
    for name, value, flags in saved_vars:
        VarStore(table["vars"]).set(name, value, flags)
    man = FlashMan(table)
    for key, value in saved_items:
        man.flashdir().add_item(key, value)
    assert all(table["flashdir"].is_sector_erased(s) for s in range(8))

    # 5. Upgrade: now it fits.
    assert man.store_firmware(v2).build == "12r2"
    after = FlashMan(PartitionTable(flash, PROFILE))
    assert valid_build(after) == "12r2"
    assert after.firmware_window().read(0, len(v2)) == v2
    assert after.flashdir().items() == saved_items
    assert after.flashdir().allocatable == allocatable_before - 2 * SECTOR
    assert ConfigRing(table["config"]).newest_text() == saved_config
    assert [(v.name, v.value, v.flags) for v in VarStore(table["vars"]).all()] == saved_vars
    usage = after.usage()
    assert (usage.firmware.spill_sectors, usage.directory.bank0) == (2, 6 * SECTOR)


# -- mod cmd FLASHMAN0 info state --------------------------------------------------------------


def test_info_state_lines() -> None:
    _, table = new_flash()
    man = FlashMan(table)
    image = firmware("v2", PROT + 300)
    man.store_firmware(image)
    man.flashdir().add_item("user/1", b"x" * 7)
    lines = man.info_state_lines()
    assert all(line.endswith("\r\n") for line in lines)
    text = [line[:-2] for line in lines]
    assert text[0] == "region           size       used       free"
    assert text[1:6] == [
        f"{u.name:<10} {u.size:>10} {u.used:>10} {u.free:>10}" for u in table.usage()
    ]
    assert text[2] == "config           1024          0       1024"
    assert text[4] == "prot             2048       2048          0"
    assert text[5] == "flashdir         4096        768       3328"  # 2 spill, 1 of bank 1
    assert text[6] == "total            8192       2816       5376"
    used = 20 + 13 + 6 + 7  # bank header; record: overhead, key, value (even: no padding)
    assert text[7:] == [
        f"firmware   size {PROT + 300} prot {PROT} spill 300 sectors 2 largest {CAPACITY} "
        f"pool {CAPACITY}",
        f"ldap       allocatable {6 * SECTOR} bank0 {6 * SECTOR} bank1 {8 * SECTOR} "
        f"used {used} items 1",
    ]


def test_info_state_of_an_empty_flash() -> None:
    _, table = new_flash()
    lines = FlashMan(table).info_state_lines()
    bank = 8 * SECTOR
    assert lines[-2:] == [
        f"firmware   size 0 prot 0 spill 0 sectors 0 largest {CAPACITY} pool {CAPACITY}\r\n",
        f"ldap       allocatable {bank} bank0 {bank} bank1 {bank} used 0 items 0\r\n",
    ]


# -- a property: whatever happens, no item is lost and the firmware is the last stored ----------

KEYS = ["user/1", "user/2", "user/3", "calllist/1"]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(KEYS), st.integers(0, 400)),
        st.tuples(st.just("remove"), st.sampled_from(KEYS), st.just(0)),
        st.tuples(st.just("store"), st.just(""), st.integers(64, CAPACITY + 200)),
        st.tuples(st.just("reset"), st.just(""), st.just(0)),
    ),
    max_size=25,
)


@given(operations)
def test_items_and_firmware_survive_any_sequence(ops: list[tuple[str, str, int]]) -> None:
    flash, table = new_flash()
    FlashMan(table).store_firmware(firmware("v0", 1000))
    items: dict[str, bytes] = {}
    build, spill = "v0", 0
    for number, (op, key, size) in enumerate(ops):
        man = FlashMan(PartitionTable(flash, PROFILE))
        before = snapshot(flash)
        try:
            if op == "add":
                man.flashdir().add_item(key, bytes([number]) * size)
                items[key] = bytes([number]) * size
            elif op == "remove":
                man.flashdir().remove_item(key)
                items.pop(key, None)
            elif op == "store":
                man.store_firmware(firmware(f"v{number + 1}", size))
                build, spill = f"v{number + 1}", max(0, -(-(size - PROT) // SECTOR))
            else:
                man.flashdir().reset()
                items = {}
        except NoSpace:
            assert op in ("add", "store")
            assert snapshot(flash) == before
        check = FlashMan(PartitionTable(flash, PROFILE))
        fdir = check.flashdir()
        assert dict(fdir.items()) == items
        assert fdir.used_bytes() <= fdir.allocatable
        assert valid_build(check) == build
        assert fdir.spill_sectors == spill
        assert fdir.bank_sizes == ((8 - spill) * SECTOR, 8 * SECTOR)

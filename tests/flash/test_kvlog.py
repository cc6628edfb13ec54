"""Vars and the flash directory on the key-value log: unit tests and a power-cut sweep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.flash.errors import LocalFlashError, NoSpace, PowerLost
from ipgwsim.flash.faults import CutMode, FaultInjector, PowerCut
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.kvlog import KvLog
from ipgwsim.flash.vars import VarFlags, VarStore
from ipgwsim.testing.flash import region_of, small_flash


def make_vars(sectors: int = 4, unit: int = 1, faults: FaultInjector | None = None) -> VarStore:
    flash = small_flash(sectors=sectors, sector_size=256, unit=unit, faults=faults)
    return VarStore(region_of(flash, "vars", 0, sectors))


def test_set_get_delete_and_remount() -> None:
    store = make_vars()
    store.set("UPDATE/PROT", b"0090330614b3")
    store.set("UPDATE/CHECK", b"7", VarFlags.PERSISTENT | VarFlags.BINARY)
    assert store.delete("UPDATE/CHECK")
    assert not store.delete("UPDATE/CHECK")
    again = VarStore(store.log.partition)
    var = again.get("UPDATE/PROT")
    assert var is not None
    assert var.value == b"0090330614b3"
    assert var.flags == VarFlags.PERSISTENT
    assert again.get("UPDATE/CHECK") is None
    assert [v.name for v in again.all()] == ["UPDATE/PROT"]


def test_compaction_keeps_only_live_entries() -> None:
    store = make_vars(sectors=2)
    for i in range(200):
        store.set("A", b"%d" % i)
        store.set("B", b"x" * 20)
    assert store.log.generation > 1  # the banks were switched
    again = VarStore(store.log.partition)
    assert again.get("A") is not None
    assert again.get("A").value == b"199"  # type: ignore[union-attr]
    assert len(again.all()) == 2


def test_full_store_refuses_without_touching_flash() -> None:
    store = make_vars(sectors=2)
    store.set("BIG", b"x" * 150)
    count = store.log.partition.flash.faults.count
    with pytest.raises(NoSpace, match="VARS needs"):
        store.set("MORE", b"y" * 150)
    assert VarStore(store.log.partition).get("MORE") is None
    assert store.get("MORE") is None
    # The failed change may have been tried as an append; no erase or program was done.
    assert store.log.partition.flash.faults.count == count


def test_var_names_and_flags_are_checked() -> None:
    store = make_vars()
    with pytest.raises(ValueError, match="printable ASCII without spaces"):
        store.set("A B", b"")
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        store.log.set(b"", b"")
    assert VarFlags.from_letters("pbc") == VarFlags.PERSISTENT | VarFlags.BINARY | VarFlags.CRYPTED
    assert (VarFlags.PERSISTENT | VarFlags.CRYPTED).letters() == "pc"
    with pytest.raises(ValueError, match="unknown var flag 'x'"):
        VarFlags.from_letters("px")


def test_log_geometry_and_tag_checks() -> None:
    flash = small_flash()
    with pytest.raises(LocalFlashError, match="at least 2 sectors"):
        KvLog(region_of(flash, "vars", 0, 1), b"VARS")
    with pytest.raises(LocalFlashError, match="4 bytes"):
        KvLog(region_of(flash, "vars", 0, 2), b"VAR")


def test_stores_with_other_tags_do_not_read_each_other() -> None:
    flash = small_flash()
    part = region_of(flash, "vars", 0, 4)
    VarStore(part).set("A", b"1")
    assert len(FlashDir(part)) == 0


def test_flashdir_items_and_reset() -> None:
    flash = small_flash(sectors=8, sector_size=512)
    fdir = FlashDir(region_of(flash, "flashdir", 0, 8))
    fdir.add_item("user/1", b"(cn=Alice)(e164=11)")
    fdir.add_item("user/2", b"(cn=Bob)")
    assert fdir.remove_item("user/2")
    assert FlashDir(fdir.log.partition).items() == [("user/1", b"(cn=Alice)(e164=11)")]
    assert fdir.used_bytes() > 0
    fdir.reset()
    assert len(FlashDir(fdir.log.partition)) == 0
    assert all(fdir.log.partition.is_sector_erased(s) for s in range(8))


@given(st.binary(max_size=1024))
def test_garbage_mounts_empty(garbage: bytes) -> None:
    store = make_vars()
    store.log.partition.program(0, garbage)
    again = VarStore(store.log.partition)
    assert again.all() == []
    again.set("A", b"1")  # and the store is usable
    assert VarStore(store.log.partition).get("A") is not None


def workload(store: VarStore) -> Iterator[dict[str, bytes]]:
    """Run a fixed workload, yielding the state after each change."""
    state: dict[str, bytes] = {}
    for i in range(60):
        name = f"V{i % 7}"
        if i % 5 == 4:
            store.delete(name)
            state.pop(name, None)
        else:
            value = bytes([i]) * (i % 23)
            store.set(name, value)
            state[name] = value
        yield dict(state)


def states_until_power_lost(store: VarStore) -> list[dict[str, bytes]]:
    """The states after each completed change of the workload, up to the power cut."""
    states: list[dict[str, bytes]] = []
    try:
        for state in workload(store):
            states.append(state)
    except PowerLost:
        return states
    raise AssertionError("the power cut never happened")


@pytest.mark.parametrize("mode", [CutMode.ATOMIC, CutMode.TORN])
def test_power_cut_sweep_vars(mode: CutMode, capsys: pytest.CaptureFixture[str]) -> None:
    faults = FaultInjector()
    full = list(workload(make_vars(sectors=2, unit=2, faults=faults)))
    total = faults.count
    for at_op in range(1, total + 1):
        faults = FaultInjector(cut=PowerCut(at_op, mode))
        store = make_vars(sectors=2, unit=2, faults=faults)
        states = [{}, *states_until_power_lost(store)]
        store.log.partition.flash.power_on()
        found = {v.name: v.value for v in VarStore(store.log.partition).all()}
        # The change being made when the power went may or may not have landed.
        allowed = [states[-1], full[len(states) - 1]]
        assert found in allowed, f"cut at {at_op}: {found}\n{faults.describe()}"
    with capsys.disabled():
        print(f"\n  vars sweep ({mode.value}): {total} cut points covered")


def test_vars_start_in_bank_0_and_the_flash_directory_in_bank_1() -> None:
    flash = small_flash(sectors=8, sector_size=256)
    store = VarStore(region_of(flash, "vars", 0, 4))
    fdir = FlashDir(region_of(flash, "flashdir", 4, 4))
    store.set("A", b"1")
    fdir.add_item("user/1", b"x")
    # vars: unchanged layout, the first bank header at offset 0
    assert flash.read(0, 12) == b"IPGWKV01VARS"
    assert flash.is_sector_erased(2)
    # the flash directory: away from the firmware, in its upper half
    assert flash.is_sector_erased(4)
    assert flash.is_sector_erased(5)
    assert flash.read(6 * 256, 12) == b"IPGWKV01FDIR"
    assert store.log.bank_bytes(0) == store.log.bank_bytes(1) == 512


def test_bank_0_after_a_spill_leaves_the_spill_alone() -> None:
    flash = small_flash(sectors=8, sector_size=256, unit=2)
    part = region_of(flash, "flashdir", 0, 8)
    spill = b"firmware" * 64  # the end of an image in sectors 0 and 1
    part.program(0, spill)
    fdir = FlashDir(part, spill_sectors=2)
    assert fdir.bank_sizes == (512, 1024)
    assert fdir.allocatable == 512
    for i in range(60):  # back and forth between the banks
        fdir.add_item(f"k{i % 4}", b"v%d" % i)
    assert fdir.log.bank_generation(0) is not None
    assert fdir.log.bank_first_sector(0) == 2
    assert part.read(0, len(spill)) == spill
    again = FlashDir(part, spill_sectors=2)
    assert again.items() == fdir.items()
    with pytest.raises(NoSpace, match="FDIR needs"):
        again.add_item("big", bytes(600))  # bank 1 would take it, bank 0 not
    again.reset()
    assert part.read(0, len(spill)) == spill
    assert all(part.is_sector_erased(s) for s in range(2, 8))
    assert len(FlashDir(part, spill_sectors=2)) == 0

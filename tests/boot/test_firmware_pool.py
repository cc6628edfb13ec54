"""The boot code and TFTP mode on the firmware pool: checks, stores, power cuts, long reset.

A tiny profile (``pool_profile``: 256-byte sectors, ``prot`` of 8 sectors
directly followed by ``flashdir`` of 16) keeps images small, so a sweep can cut
the power at every flash operation of a store.
"""

# The device's mode changes between two asserts on the same expression;
# mypy would take the first assert as narrowing it for good.
# mypy: disable-error-code="comparison-overlap"

from __future__ import annotations

import pytest

from ipgwsim.boot import BootCode
from ipgwsim.events import FirmwareStarted, Led, Mode
from ipgwsim.flash import FlashMan, NoSpace
from ipgwsim.flash.bootslots import store_boot
from ipgwsim.flash.errors import NO_SPACE_EVENT, PowerLost
from ipgwsim.flash.faults import CutMode, PowerCut
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.proto import gwload
from ipgwsim.proto.tftp import ErrorCode, TransferComplete, TransferFailed
from ipgwsim.testing.flash import pool_profile
from ipgwsim.testing.lab import Lab

PROFILE = pool_profile()
SECTOR = PROFILE.flash.sector_size
PROT = PROFILE.region("prot").size
MAC = bytes.fromhex("009033100001")
IP = "10.0.0.5"


def firmware(build: str, spill: int) -> bytes:
    """A firmware image for the pool profile that spills ``spill`` sectors (0: 1500 bytes)."""
    length = PROT + spill * SECTOR - 10 if spill else 1500
    return build_image(ImageKind.FIRMWARE, "IP6000", build, bytes([spill + 7]) * (length - 64))


def table_of(flash: NorFlash) -> PartitionTable:
    return PartitionTable(flash, PROFILE)


def pool_flash(image: bytes) -> NorFlash:
    """Boot code, a config and ``image`` on a flash of the pool profile."""
    flash = NorFlash(PROFILE.flash)
    table = table_of(flash)
    boot = build_image(ImageKind.BOOT, "IP6000", "145", b"b" * 100, boot_build=145)
    store_boot(table["boot"], boot, "IP6000")
    ConfigRing(table["config"]).write("config change CMD0 /name IP6000\r\n")
    FlashMan(table).store_firmware(image)
    flash.faults.reset_count()
    return flash


def add_items(flash: NorFlash, *, into_bank_0: bool) -> list[tuple[str, bytes]]:
    """A few items; with ``into_bank_0``, changed until bank 0 is the active bank."""
    fdir = FlashMan(table_of(flash)).flashdir()
    fdir.add_item("user/alice", b"(cn=Alice)(e164=21)")
    fdir.add_item("user/bob", b"(cn=Bob)(e164=22)")
    round_ = 0
    while into_bank_0 and fdir.log.active != 0:
        fdir.add_item("calllist/1", b"call %d" % round_)
        round_ += 1
    flash.faults.reset_count()
    return fdir.items()


def boot_decision(flash: NorFlash) -> tuple[Mode, str | None, Led]:
    """Power a boot code on: the mode it picks, the firmware it starts, its LED."""
    boot = BootCode(PROFILE, flash, mac=MAC)
    boot.power_on(0.0)
    info = boot.firmware.info
    build = info.build if boot.firmware.valid and info is not None else None
    return boot.mode, build, boot.led


# -- a power cut at every flash operation of a spilling store ----------------------------------

SCENARIOS = {
    # v1 in prot only, the directory in bank 1: v2 grows into 3 free sectors.
    "grow": (0, False, 3),
    # v1 spills 3, the directory is active in bank 0 (from sector 3): v2 spills 1.
    "shrink": (3, True, 1),
    # v1 and v2 spill 2, the directory is active in bank 0 (from sector 2).
    "same": (2, True, 2),
}


@pytest.mark.parametrize("mode", [CutMode.ATOMIC, CutMode.TORN])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_power_cut_anywhere_in_a_spilling_store(scenario: str, mode: CutMode) -> None:
    old_spill, into_bank_0, new_spill = SCENARIOS[scenario]
    base = pool_flash(firmware("v1", old_spill))
    items = add_items(base, into_bank_0=into_bank_0)
    v2 = firmware("v2", new_spill)
    outcomes: set[tuple[Mode, str | None]] = set()
    for cut_at in range(1, 400):
        flash = base.clone()
        flash.faults.cut = PowerCut(cut_at, mode)
        try:
            FlashMan(table_of(flash)).store_firmware(v2)
        except PowerLost:
            cut = True
        else:
            cut = False
        flash.power_on()
        where = f"{scenario}, cut at operation {cut_at}:\n{flash.faults.describe()}"
        decided, build, led = boot_decision(flash)
        assert FlashMan(table_of(flash)).flashdir().items() == items, where
        if not cut:
            assert (decided, build) == (Mode.FIRMWARE, "v2"), where
            break
        outcomes.add((decided, build))
        if decided is Mode.FIRMWARE:
            assert build in ("v1", "v2"), where
            continue
        # A defective firmware: TFTP mode with the red LED; loading the image again works.
        assert (decided, build, led) == (Mode.TFTP_MODE, None, Led.RED_FLASHING), where
        FlashMan(table_of(flash)).store_firmware(v2)
        assert boot_decision(flash)[:2] == (Mode.FIRMWARE, "v2"), where
        assert FlashMan(table_of(flash)).flashdir().items() == items, where
    else:
        raise AssertionError("the store never completed")
    assert cut_at > PROT // SECTOR + new_spill  # every erase and program was cut once
    assert (Mode.TFTP_MODE, None) in outcomes
    if into_bank_0:  # cuts while the directory moved to bank 1 leave v1 running
        assert (Mode.FIRMWARE, "v1") in outcomes


# -- the boot code ----------------------------------------------------------------------------


def test_the_boot_code_checks_a_spilling_image_through_the_window() -> None:
    flash = pool_flash(firmware("v2", 4))
    assert boot_decision(flash)[:2] == (Mode.FIRMWARE, "v2")
    table_of(flash)["flashdir"].program(3 * SECTOR, b"\x00\x00")  # a byte of the spill
    decided, build, _ = boot_decision(flash)
    assert (decided, build) == (Mode.TFTP_MODE, None)


def test_a_long_reset_clears_the_directory_but_not_the_spill() -> None:
    flash = pool_flash(firmware("v2", 3))
    add_items(flash, into_bank_0=True)
    spill = table_of(flash)["flashdir"].read(0, 3 * SECTOR)
    boot = BootCode(PROFILE, flash, mac=MAC)
    boot.power_on(0.0)
    boot.press(1.0)
    boot.release(12.0)
    assert boot.mode is Mode.CLEARING
    boot.handle_timer(100.0)
    assert boot.mode is Mode.TFTP_MODE
    assert boot.firmware.valid
    fdir_region = table_of(flash)["flashdir"]
    assert fdir_region.read(0, 3 * SECTOR) == spill
    assert all(fdir_region.is_sector_erased(s) for s in range(3, 16))
    assert len(FlashMan(table_of(flash)).flashdir()) == 0
    assert boot_decision(flash)[:2] == (Mode.FIRMWARE, "v2")


# -- TFTP mode: no space with the reason, then the article's way out ----------------------------


def test_tftp_upload_no_space_then_long_reset_makes_room() -> None:
    flash = pool_flash(firmware("v1", 0))
    add_items(flash, into_bank_0=True)  # long use: both banks hold data
    lab = Lab()
    gw = lab.add(PROFILE, flash=flash)
    assert gw.mode is Mode.FIRMWARE
    lab.press(gw, hold=1.8)
    lab.setip(gw, IP)
    v2 = firmware("v2", 3)
    before = flash.read(0, flash.geometry.size)
    # with tsize: refused at the request; without: refused at the header
    for options in ({"tsize": str(len(v2))}, None):
        logged = len(lab.net.log)
        result = lab.put(IP, "prot", v2, options=options)
        assert isinstance(result, TransferFailed)
        assert result.error_code == ErrorCode.DISK_FULL
        assert NO_SPACE_EVENT in result.reason
        assert "the flash directory holds sector" in result.reason
        data = [d for d in list(lab.net.log)[logged:] if d.datagram.data[:2] == b"\x00\x03"]
        assert len(data) <= 1 if options is None else not data  # not after the last block
    assert flash.read(0, flash.geometry.size) == before
    assert gw.mode is Mode.TFTP_MODE
    lab.press(gw, hold=10.5)  # the long reset
    lab.run(5.0)
    assert gw.device.status().mode is Mode.TFTP_MODE
    lab.setip(gw, IP)
    assert isinstance(lab.put(IP, "prot", v2, options={"tsize": str(len(v2))}), TransferComplete)
    lab.run(10.0)
    assert gw.device.status().mode is Mode.TFTP_MODE
    [(ack, _)] = lab.ask(gwload.Go(2, gw.device.instance.mac, 6000), to=IP)
    assert isinstance(ack, gwload.Ack)
    assert gw.of_type(FirmwareStarted)[-1].build == "v2"
    man = FlashMan(table_of(flash))
    assert man.current_spill() == 3
    assert man.firmware_window().read(0, len(v2)) == v2


def test_an_image_beyond_the_pool_is_refused_in_tftp_mode() -> None:
    flash = pool_flash(firmware("v1", 0))
    lab = Lab()
    gw = lab.add(PROFILE, flash=flash)
    lab.press(gw, hold=1.8)
    lab.setip(gw, IP)
    too_big = firmware("v2", 8)  # bank 0 must keep a sector: 7 is the most
    with pytest.raises(NoSpace):
        FlashMan(table_of(flash)).check_firmware(len(too_big))
    result = lab.put(IP, "prot", too_big)
    assert isinstance(result, TransferFailed)
    assert result.error_code == ErrorCode.DISK_FULL
    assert "7 of the 8 sectors of flashdir's lower half" in result.reason

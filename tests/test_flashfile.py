"""Saving and loading a device's flash as a sparse image file (runtime.flashfile)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipgwsim.flash.formats import FLASH_FILE_PREFIX_SIZE
from ipgwsim.flash.imagefile import DATA_ALIGN, FlashFileError, data_offset, header_size
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarFlags, VarStore
from ipgwsim.hw_profiles import FlashGeometry, find_profile
from ipgwsim.runtime.flashfile import load_flash, save_flash
from ipgwsim.testing.flash import small_flash

PROFILE = find_profile("IP6000")
GEOMETRY = PROFILE.flash
SECTOR = GEOMETRY.sector_size
CONFIG = "config add IP0 /addr 192.168.0.2\r\nconfig add ETH0 /mask 255.255.255.0\r\n"


def device() -> NorFlash:
    """An IP6000 flash with two config generations, two vars and some wear."""
    flash = NorFlash(GEOMETRY)
    table = PartitionTable(flash, PROFILE)
    ring = ConfigRing(table["config"])
    ring.write("config add X /old 1\r\n")
    ring.write(CONFIG)
    store = VarStore(table["vars"])
    store.set("UPDATE/PROT", b"1")
    store.set("CMD0/AUTH", b"scrypt$16$1$1$admin$00$00", VarFlags.PERSISTENT | VarFlags.CRYPTED)
    for _ in range(3):
        flash.erase_sector(200)
    flash.erase_sector(255)
    return flash


def saved(tmp_path: Path, flash: NorFlash | None = None) -> tuple[NorFlash, Path]:
    flash = device() if flash is None else flash
    path = tmp_path / "ip6000.flash"
    save_flash(flash, path)
    return flash, path


def test_round_trip_of_contents_and_wear(tmp_path: Path) -> None:
    flash, path = saved(tmp_path)
    loaded = load_flash(path, GEOMETRY)
    assert loaded.geometry == GEOMETRY
    assert list(loaded.written_sectors()) == list(flash.written_sectors())
    assert loaded.wear_counts() == flash.wear_counts() == {200: 3, 255: 1}
    assert loaded.read(0, GEOMETRY.size) == flash.read(0, GEOMETRY.size)

    table = PartitionTable(loaded, PROFILE)
    ring = ConfigRing(table["config"])
    assert ring.newest_text() == CONFIG
    assert ring.newest is not None
    assert ring.newest.number == 2
    store = VarStore(table["vars"])
    prot = store.get("UPDATE/PROT")
    assert prot is not None
    assert prot.value == b"1"
    auth = store.get("CMD0/AUTH")
    assert auth is not None
    assert VarFlags.CRYPTED in auth.flags

    # The loaded flash works on: a third generation, saved and loaded again.
    ring.write("config add Y /new 3\r\n")
    save_flash(loaded, path)
    again = load_flash(path)
    assert ConfigRing(PartitionTable(again, PROFILE)["config"]).newest_text() == (
        "config add Y /new 3\r\n"
    )
    assert again.wear_counts() == {200: 3, 255: 1}


def test_load_keeps_the_strict_flag(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    assert load_flash(path).strict
    assert not load_flash(path, strict=False).strict


def test_file_is_sparse(tmp_path: Path) -> None:
    flash, path = saved(tmp_path)
    info = path.stat()
    written = sum(1 for _ in flash.written_sectors())
    assert written == 2  # one config sector, one vars sector
    assert info.st_size == data_offset(GEOMETRY) + GEOMETRY.size
    # Only the header and the written sectors take space (plus file system slack).
    assert info.st_blocks * 512 <= data_offset(GEOMETRY) + written * SECTOR + 64 * 1024
    assert info.st_blocks * 512 < GEOMETRY.size // 32


def test_file_layout(tmp_path: Path) -> None:
    flash, path = saved(tmp_path)
    offset = data_offset(GEOMETRY)
    assert offset % DATA_ALIGN == 0
    assert offset >= header_size(GEOMETRY)
    raw = path.read_bytes()
    assert raw.startswith(b"IPGWSIM-FLASH\x00\x00\x00")
    for index, data in flash.written_sectors():
        assert raw[offset + index * SECTOR : offset + (index + 1) * SECTOR] == data
    assert not (tmp_path / "ip6000.flash.tmp").exists()


def test_wrong_geometry_is_refused_naming_the_file(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    other = find_profile("IP811").flash
    assert other != GEOMETRY
    with pytest.raises(FlashFileError) as caught:
        load_flash(path, other)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert "geometry" in text
    assert str(other) in text
    assert str(GEOMETRY) in text


@pytest.mark.parametrize(
    "offset",
    [
        0,  # magic
        15,
        19,  # version
        27,  # size, lowest byte
        30,  # sector size
        33,  # program unit
        38,  # data offset
        44,  # sector table
        44 + 5 * 100 + 2,
        header_size(GEOMETRY) - 5,  # the last wear counter
        header_size(GEOMETRY) - 1,  # the CRC
    ],
)
def test_flipped_header_byte_is_refused_naming_the_file(tmp_path: Path, offset: int) -> None:
    _, path = saved(tmp_path)
    with path.open("r+b") as out:
        out.seek(offset)
        byte = out.read(1)[0]
        out.seek(offset)
        out.write(bytes([byte ^ 0x01]))
    with pytest.raises(FlashFileError) as caught:
        load_flash(path, GEOMETRY)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)


def test_every_flipped_header_byte_is_refused(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    with path.open("r+b") as out:
        for offset in range(header_size(GEOMETRY)):
            out.seek(offset)
            byte = out.read(1)[0]
            out.seek(offset)
            out.write(bytes([byte ^ 0x01]))
            out.flush()
            with pytest.raises(FlashFileError, match=f"^{path}: "):
                load_flash(path)
            out.seek(offset)
            out.write(bytes([byte]))
            out.flush()
    assert list(load_flash(path).written_sectors())


def test_header_claiming_an_impossible_length(tmp_path: Path) -> None:
    path = tmp_path / "small.flash"
    save_flash(NorFlash(FlashGeometry(16 * 4096, 4096, 4)), path)
    with path.open("r+b") as out:
        out.seek(20)  # size and sector size: 2**64 - 1 sectors of one byte
        out.write((2**64 - 1).to_bytes(8, "big") + (1).to_bytes(4, "big"))
    with pytest.raises(FlashFileError, match=f"^{path}: "):
        load_flash(path)


@pytest.mark.parametrize(
    ("length", "message"),
    [
        (0, "no flash file header"),
        (FLASH_FILE_PREFIX_SIZE - 1, "no flash file header"),
        (100, "not a valid ipgwsim flash image"),
        (header_size(GEOMETRY) - 1, "not a valid ipgwsim flash image"),
    ],
)
def test_file_truncated_in_its_header(tmp_path: Path, length: int, message: str) -> None:
    _, path = saved(tmp_path)
    os.truncate(path, length)
    with pytest.raises(FlashFileError, match=message) as caught:
        load_flash(path, GEOMETRY)
    assert str(caught.value).startswith(f"{path}: ")


def test_file_truncated_in_its_data(tmp_path: Path) -> None:
    flash, path = saved(tmp_path)
    last = max(index for index, _ in flash.written_sectors())
    os.truncate(path, data_offset(GEOMETRY) + last * SECTOR + SECTOR // 2)
    with pytest.raises(FlashFileError) as caught:
        load_flash(path, GEOMETRY)
    expected = data_offset(GEOMETRY) + GEOMETRY.size
    cut = data_offset(GEOMETRY) + last * SECTOR + SECTOR // 2
    assert str(caught.value) == (
        f"{path}: flash image is truncated: {cut} bytes, expected {expected}"
    )


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_flash(tmp_path / "missing.flash")


def test_saving_over_an_existing_file_keeps_it_valid(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    second = NorFlash(GEOMETRY)
    ConfigRing(PartitionTable(second, PROFILE)["config"]).write("config add Z /only 1\r\n")
    save_flash(second, path)
    loaded = load_flash(path, GEOMETRY)
    assert list(loaded.written_sectors()) == list(second.written_sectors())
    assert loaded.wear_counts() == {}
    assert ConfigRing(PartitionTable(loaded, PROFILE)["config"]).newest_text() == (
        "config add Z /only 1\r\n"
    )
    # Sectors only the first flash had are gone, not left behind as stale data.
    assert VarStore(PartitionTable(loaded, PROFILE)["vars"]).all() == []
    assert [p.name for p in tmp_path.iterdir()] == ["ip6000.flash"]


def test_crash_while_saving_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, path = saved(tmp_path)
    before = path.read_bytes()

    def crash(fd: int) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_flash(NorFlash(GEOMETRY), path)
    assert path.read_bytes() == before
    assert list(load_flash(path).written_sectors()) == list(first.written_sectors())


SMALL = FlashGeometry(16 * 4096, 4096, 4)


@settings(max_examples=30, deadline=None)
@given(
    writes=st.lists(
        st.tuples(st.integers(0, SMALL.size // 4 - 1), st.binary(min_size=4, max_size=4)),
        max_size=20,
    ),
    erases=st.lists(st.integers(0, SMALL.sector_count - 1), max_size=20),
)
def test_round_trip_of_any_contents(
    tmp_path_factory: pytest.TempPathFactory,
    writes: list[tuple[int, bytes]],
    erases: list[int],
) -> None:
    flash = NorFlash(SMALL, strict=False)
    for word, data in writes:
        flash.program(word * 4, data)
    for index in erases:
        flash.erase_sector(index)
    path = tmp_path_factory.mktemp("any") / "small.flash"
    save_flash(flash, path)
    loaded = load_flash(path, SMALL)
    assert loaded.read(0, SMALL.size) == flash.read(0, SMALL.size)
    assert loaded.wear_counts() == flash.wear_counts()
    assert list(loaded.written_sectors()) == list(flash.written_sectors())


def test_loads_share_equal_sectors(tmp_path: Path) -> None:
    flash = small_flash()
    flash.program(10, b"factory")
    save_flash(flash, tmp_path / "a.img")
    save_flash(flash, tmp_path / "b.img")
    shared: dict[bytes, bytes] = {}
    first = load_flash(tmp_path / "a.img", shared=shared)
    second = load_flash(tmp_path / "b.img", shared=shared)
    assert len(shared) == 1
    assert first.memory_bytes() == second.memory_bytes() == 0
    second.program(20, b"x")
    assert first.read(20, 1) == b"\xff"
    assert second.read(20, 1) == b"x"

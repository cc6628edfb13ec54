"""NorFlash: NOR semantics, fault injection, and a state machine against a byte model."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ipgwsim.flash.errors import BadSectorError, LocalFlashError, PowerLost
from ipgwsim.flash.faults import BadSectorMode, CutMode, FaultInjector, PowerCut
from ipgwsim.flash.nor import NorFlash, _tear_program
from ipgwsim.hw_profiles import FlashGeometry
from ipgwsim.testing.flash import small_flash

# -- NOR rules -------------------------------------------------------------------


def test_new_flash_reads_erased() -> None:
    flash = small_flash()
    assert flash.read(0, 16) == b"\xff" * 16
    assert flash.is_sector_erased(3)
    assert flash.memory_bytes() == 0


def test_program_clears_bits_only() -> None:
    flash = small_flash()
    flash.program(10, b"\x0f\xf0")
    assert flash.read(10, 2) == b"\x0f\xf0"
    flash.program(10, b"\x0e\x70")  # clears more bits: allowed
    assert flash.read(10, 2) == b"\x0e\x70"


def test_strict_refuses_zero_to_one_and_changes_nothing() -> None:
    flash = small_flash()
    flash.program(0, b"\x00")
    with pytest.raises(LocalFlashError, match=r"0x0 needs a 0->1 change \(0x00 -> 0x01\)"):
        flash.program(0, b"\x01")
    assert flash.read(0, 1) == b"\x00"


def test_peek_reads_what_the_part_holds_whatever_the_power() -> None:
    """peek and holds_data: a view from outside the device, also while its power is off;
    nothing is counted, nothing becomes shared."""
    flash = small_flash()
    flash.program(258, b"\x12\x34")
    memory, operations = flash.memory_bytes(), flash.faults.count
    flash.powered = False
    with pytest.raises(PowerLost, match="read while the power is off"):
        flash.read(258, 2)
    with pytest.raises(PowerLost, match="read while the power is off"):
        flash.is_sector_erased(1)
    assert flash.peek(256, 4) == b"\xff\xff\x12\x34"
    assert flash.peek(250, 4) == b"\xff" * 4  # a sector never written
    assert [flash.holds_data(i) for i in range(3)] == [False, True, False]
    with pytest.raises(LocalFlashError, match="is outside the flash"):
        flash.peek(flash.geometry.size - 1, 2)
    with pytest.raises(LocalFlashError, match="sector 99 does not exist"):
        flash.holds_data(99)
    assert (flash.memory_bytes(), flash.faults.count) == (memory, operations)


def test_lenient_programs_and_of_old_and_new() -> None:
    flash = NorFlash(FlashGeometry(1024, 256, 1), strict=False)
    flash.program(0, b"\x0f")
    flash.program(0, b"\xf3")
    assert flash.read(0, 1) == b"\x03"


def test_erase_sets_sector_to_ff_and_counts_wear() -> None:
    flash = small_flash()
    flash.program(256, b"\x00" * 256)
    flash.program(512, b"\x00")
    flash.erase_sector(1)
    assert flash.read(256, 256) == b"\xff" * 256
    assert flash.read(512, 1) == b"\x00"  # the next sector is untouched
    assert flash.wear(1) == 1
    assert flash.wear(2) == 0


def test_program_within_one_sector_and_aligned() -> None:
    flash = small_flash(unit=2)
    with pytest.raises(LocalFlashError, match="crosses the end of sector 0"):
        flash.program(254, b"\x00" * 4)
    with pytest.raises(LocalFlashError, match="not aligned to the program unit"):
        flash.program(1, b"\x00\x00")
    with pytest.raises(LocalFlashError, match="not aligned to the program unit"):
        flash.program(0, b"\x00")
    with pytest.raises(LocalFlashError, match="outside the flash"):
        flash.read(4095, 2)
    with pytest.raises(LocalFlashError, match="sector 16 does not exist"):
        flash.erase_sector(16)


def test_memory_is_proportional_to_the_data_written() -> None:
    """A changed sector is kept up to its last programmed byte, not as a whole sector:
    a fleet of devices that each wrote a config and a var holds bytes, not 128 KiB
    sectors."""
    geometry = FlashGeometry(32 * 1024 * 1024, 128 * 1024, 2)
    flash = NorFlash(geometry)
    config = b"config change CMD0 /name x\r\n"
    flash.program(5 * geometry.sector_size, config)
    assert flash.memory_bytes() == len(config)
    flash.program(5 * geometry.sector_size + 64, b"ab")
    assert flash.memory_bytes() == 66
    flash.program(5 * geometry.sector_size + 100, b"\xff\xff")  # changes nothing
    assert flash.memory_bytes() == 66
    flash.erase_sector(5)
    assert flash.memory_bytes() == 0


def test_a_sector_kept_in_part_reads_erased_after_its_end() -> None:
    flash = small_flash()
    size = flash.geometry.sector_size
    flash.program(size + 10, b"\x00\x01\xff\xff")  # trailing 0xFF is not stored
    assert flash.memory_bytes() == 12
    assert flash.read(size, size) == bytes([0xFF]) * 10 + b"\x00\x01" + bytes([0xFF]) * (size - 12)
    flash.program(size + 12, b"\x12\x34")  # past the stored end: it grows
    flash.program(size + size - 2, b"\x55\xaa")  # the sector's last bytes
    data = flash.read(size, size)
    assert data[10:14] == b"\x00\x01\x12\x34"
    assert data[-2:] == b"\x55\xaa"
    assert data[14:-2] == bytes([0xFF]) * (size - 16)
    with pytest.raises(LocalFlashError, match="needs a 0->1 change"):
        flash.program(size + 10, b"\x01\x01")
    ((index, saved),) = flash.written_sectors()  # saved whole, as the image file holds it
    assert (index, saved) == (1, data)


def test_written_sectors_and_restore_round_trip() -> None:
    flash = small_flash()
    flash.program(300, b"abc")
    flash.erase_sector(7)
    copy = small_flash()
    copy.restore(dict(flash.written_sectors()), flash.wear_counts())
    assert copy.read(0, 4096) == flash.read(0, 4096)
    assert copy.wear(7) == 1
    with pytest.raises(LocalFlashError, match="sector 1 data is 3 bytes"):
        copy.restore({1: b"abc"}, {})


def test_clone_shares_sectors_until_either_side_changes_one() -> None:
    factory = small_flash()
    factory.program(0, b"boot")
    factory.program(300, b"prot")
    twin = factory.clone()
    assert twin.read(0, 4096) == factory.read(0, 4096)
    assert twin.memory_bytes() == factory.memory_bytes() == 0  # both only share
    twin.program(304, b"\x00")
    assert twin.read(300, 5) == b"prot\x00"
    assert factory.read(300, 5) == b"prot\xff"  # the change is the twin's own
    assert twin.memory_bytes() == 49  # its copy of sector 1, up to the byte just programmed
    factory.erase_sector(0)
    assert twin.read(0, 4) == b"boot"
    assert factory.wear(0) == 1
    assert twin.wear(0) == 0


def test_share_holds_equal_sectors_of_a_pool_once_until_one_changes() -> None:
    pool: dict[bytes, bytes] = {}
    first, second, alone = small_flash(), small_flash(), small_flash()
    first.pool = second.pool = pool
    for flash in (first, second, alone):
        flash.program(256, b"image\x00")
        flash.program(512, b"\x00\x00")
        held = len(b"image\x00") + 2  # each sector up to its last programmed byte
        assert flash.memory_bytes() == held
        flash.share(256, 258)  # sectors 1 and 2
    assert first.memory_bytes() == second.memory_bytes() == 0  # one copy, in the pool
    assert alone.memory_bytes() == len(b"image\x00") + 2  # no pool: nothing shared
    assert len(pool) == 2
    second.program(256, b"\x00\x00")  # copied again on its change, the other flash untouched
    assert second.read(256, 5) == b"\x00\x00age"
    assert first.read(256, 5) == b"image"
    assert second.memory_bytes() == len(b"image\x00")  # its own copy of sector 1
    with pytest.raises(LocalFlashError, match="outside the flash"):
        first.share(4000, 200)


# -- faults ----------------------------------------------------------------------


def test_atomic_cut_drops_the_operation_and_powers_off() -> None:
    flash = small_flash(faults=FaultInjector(cut=PowerCut(at_op=2)))
    flash.program(0, b"\x00")
    with pytest.raises(PowerLost, match="power lost at flash operation 2"):
        flash.program(1, b"\x00")
    with pytest.raises(PowerLost, match="while the power is off"):
        flash.read(0, 1)
    flash.power_on()
    assert flash.read(0, 2) == b"\x00\xff"
    flash.program(1, b"\x00")  # the cut is spent
    assert flash.read(1, 1) == b"\x00"


def test_torn_program_lands_a_bit_prefix() -> None:
    flash = small_flash(faults=FaultInjector(cut=PowerCut(1, CutMode.TORN, keep=12)))
    with pytest.raises(PowerLost):
        flash.program(0, b"\x00\x00\x00")
    flash.power_on()
    # 12 bits: the first byte whole, the top nibble of the second.
    assert flash.read(0, 3) == b"\x00\x0f\xff"


def test_tear_program_applies_only_bits_the_program_clears() -> None:
    assert _tear_program(b"\xff\xff", b"\xa5\x5a", 12) == b"\xa5\x5f"
    assert _tear_program(b"\xff", b"\x00", 0) == b"\xff"
    assert _tear_program(b"\xf0", b"\x0f", 8) == b"\x00"


def test_torn_erase_erases_a_byte_prefix() -> None:
    flash = small_flash(faults=FaultInjector(cut=PowerCut(2, CutMode.TORN, keep=100)))
    flash.program(0, b"\x00" * 256)
    with pytest.raises(PowerLost, match="erase of sector 0"):
        flash.erase_sector(0)
    flash.power_on()
    assert flash.read(0, 100) == b"\xff" * 100
    assert flash.read(100, 156) == b"\x00" * 156
    assert flash.wear(0) == 1


def test_random_torn_amount_comes_from_the_injected_generator() -> None:
    """Without ``keep`` the cut lands as many bits (program) or bytes (erase) as the
    injected generator draws: each seed gives what a generator of that seed predicts."""
    program_bits, erase_bytes = 8 * 64, 256
    seen = set()
    for seed in (1, 2, 3):
        flash = small_flash(
            faults=FaultInjector(cut=PowerCut(1, CutMode.TORN), rng=random.Random(seed))
        )
        with pytest.raises(PowerLost):
            flash.program(0, b"\x00" * 64)
        flash.power_on()
        keep = random.Random(seed).randrange(program_bits + 1)
        seen.add(keep)
        assert flash.read(0, 64) == _tear_program(b"\xff" * 64, b"\x00" * 64, keep)
        assert flash.faults.log[-1].outcome == f"power cut (torn, {keep} of 512 bits landed)"

        predictor = random.Random(seed)
        flash = small_flash(faults=FaultInjector(cut=PowerCut(2, CutMode.TORN), rng=predictor))
        flash.program(256, b"\x00" * 256)
        state = predictor.getstate()
        with pytest.raises(PowerLost):
            flash.erase_sector(1)
        flash.power_on()
        predictor.setstate(state)
        erased = predictor.randrange(erase_bytes + 1)
        assert flash.read(256, 256) == b"\xff" * erased + b"\x00" * (256 - erased)
    # The seeds give different amounts: a tear that ignored the generator could not
    # match all three.
    assert len(seen) == 3


def test_bad_sector_modes() -> None:
    faults = FaultInjector(bad_sectors={1: BadSectorMode.ERROR, 2: BadSectorMode.NOOP})
    flash = small_flash(faults=faults)
    with pytest.raises(BadSectorError, match="sector 1 is bad: program failed"):
        flash.program(256, b"\x00")
    with pytest.raises(BadSectorError, match="sector 1 is bad: erase failed"):
        flash.erase_sector(1)
    flash.program(512, b"\x00")
    assert flash.read(512, 1) == b"\xff"


def test_wear_limit_turns_a_sector_bad() -> None:
    flash = small_flash(faults=FaultInjector(wear_limit=2))
    flash.erase_sector(0)
    flash.erase_sector(0)
    with pytest.raises(BadSectorError):
        flash.erase_sector(0)


def test_operation_log_names_recent_operations() -> None:
    flash = small_flash(faults=FaultInjector(cut=PowerCut(3)))
    flash.program(0, b"\x00")
    flash.erase_sector(0)
    with pytest.raises(PowerLost):
        flash.program(4, b"\x00\x00")
    text = flash.faults.describe()
    assert "#1 program 0x0+0x1: ok" in text
    assert "#2 erase 0x0+0x100: ok" in text
    assert "#3 program 0x4+0x2: power cut (atomic, 0 of 16 bits landed)" in text


def test_the_last_cut_is_remembered_after_the_power_returns_and_the_log_moves_on() -> None:
    """The injector keeps the cut that hit (operation, mode, what it interrupted), though
    power_on spends the cut and later operations push it out of the log."""
    faults = FaultInjector(cut=PowerCut(2, CutMode.TORN, keep=12), log_size=4)
    flash = small_flash(faults=faults)
    assert faults.last_cut is None
    flash.program(0, b"\x00\x00")
    with pytest.raises(PowerLost):
        flash.program(4, b"\x00\x00")
    flash.power_on()
    for _ in range(6):  # more operations than the log keeps
        flash.erase_sector(1)
    assert faults.cut is None
    assert all(record.op != 2 for record in faults.log)
    last = faults.last_cut
    assert last is not None
    assert (last.at_op, last.mode, last.kind, last.addr, last.length) == (
        2,
        CutMode.TORN,
        "program",
        4,
        2,
    )
    assert str(last) == "program 0x4+0x2: power cut (torn, 12 of 16 bits landed)"

    faults.cut = PowerCut(faults.count + 1)  # a later cut, of an erase, replaces it
    with pytest.raises(PowerLost):
        flash.erase_sector(0)
    last = faults.last_cut
    assert last is not None
    assert (last.at_op, last.mode, last.kind, last.addr) == (9, CutMode.ATOMIC, "erase", 0)
    assert last.outcome == "power cut (atomic, 0 of 256 bytes erased)"


def test_power_cut_needs_a_positive_operation() -> None:
    with pytest.raises(ValueError, match="operation number >= 1"):
        PowerCut(0)


@given(old=st.binary(min_size=1, max_size=8), data=st.data())
def test_torn_program_result_lies_between_old_and_full_program(
    old: bytes, data: st.DataObject
) -> None:
    new = data.draw(st.binary(min_size=len(old), max_size=len(old)))
    keep = data.draw(st.integers(0, 8 * len(old)))
    torn = _tear_program(old, new, keep)
    full = bytes(a & b for a, b in zip(old, new, strict=True))
    for t, o, f in zip(torn, old, full, strict=True):
        assert t & o == t  # only clears bits
        assert t & f == f  # never clears a bit the full program keeps
    assert _tear_program(old, new, 8 * len(old)) == full


# -- state machine ---------------------------------------------------------------

SECTORS, SECTOR_SIZE = 4, 32


class NorAgainstModel(RuleBasedStateMachine):
    """NorFlash (strict) against a bytearray that knows the NOR rules."""

    def __init__(self) -> None:
        super().__init__()
        self.flash = NorFlash(FlashGeometry(SECTORS * SECTOR_SIZE, SECTOR_SIZE, 1))
        self.model = bytearray(b"\xff" * SECTORS * SECTOR_SIZE)
        self.wear = [0] * SECTORS

    @rule(sector=st.integers(0, SECTORS - 1))
    def erase(self, sector: int) -> None:
        self.flash.erase_sector(sector)
        start = sector * SECTOR_SIZE
        self.model[start : start + SECTOR_SIZE] = b"\xff" * SECTOR_SIZE
        self.wear[sector] += 1

    @rule(data=st.data())
    def program(self, data: st.DataObject) -> None:
        addr = data.draw(st.integers(0, SECTORS * SECTOR_SIZE - 1))
        room = SECTOR_SIZE - addr % SECTOR_SIZE
        value = data.draw(st.binary(min_size=1, max_size=room))
        old = self.model[addr : addr + len(value)]
        if any(o & v != v for o, v in zip(old, value, strict=True)):
            with pytest.raises(LocalFlashError):
                self.flash.program(addr, value)
        else:
            self.flash.program(addr, value)
            self.model[addr : addr + len(value)] = value

    @rule(addr=st.integers(0, SECTORS * SECTOR_SIZE - 1), length=st.integers(0, 40))
    def read(self, addr: int, length: int) -> None:
        length = min(length, SECTORS * SECTOR_SIZE - addr)
        assert self.flash.read(addr, length) == bytes(self.model[addr : addr + length])

    @invariant()
    def same_contents_and_wear(self) -> None:
        assert self.flash.read(0, SECTORS * SECTOR_SIZE) == bytes(self.model)
        assert [self.flash.wear(i) for i in range(SECTORS)] == self.wear
        for i in range(SECTORS):
            chunk = self.model[i * SECTOR_SIZE : (i + 1) * SECTOR_SIZE]
            assert self.flash.is_sector_erased(i) == (chunk == b"\xff" * SECTOR_SIZE)


TestNorAgainstModel = NorAgainstModel.TestCase


def test_without_a_generator_a_torn_cut_draws_as_random_0_made_on_first_use() -> None:
    """A flash's fault injector makes its ``random.Random(0)`` only at the first torn cut
    that draws (most flashes never see one); the amount is the one it drew before."""
    flash = small_flash(faults=FaultInjector(cut=PowerCut(1, CutMode.TORN)))
    assert flash.faults.rng is None
    with pytest.raises(PowerLost):
        flash.program(0, b"\x00" * 64)
    flash.power_on()
    keep = random.Random(0).randrange(8 * 64 + 1)
    assert flash.read(0, 64) == _tear_program(b"\xff" * 64, b"\x00" * 64, keep)
    assert flash.faults.rng is not None


def test_the_operation_log_is_made_at_the_first_operation() -> None:
    flash = small_flash()
    assert flash.faults._log is None  # a flash nothing was done to holds no log
    assert flash.faults.describe() == "(no flash operations)"
    flash.program(0, b"\x00")
    assert [r.kind for r in flash.faults.log] == ["program"]

"""The config ring: generations, wrap-around, dumps, garbage and power cuts."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.flash import ring as ring_module
from ipgwsim.flash.dumptext import read_dump
from ipgwsim.flash.errors import LocalFlashError, NoSpace, PowerLost
from ipgwsim.flash.faults import CutMode, FaultInjector, PowerCut
from ipgwsim.flash.formats import RING_HEADER_SIZE, RING_MARKER, RingRecord
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing, ConfigTextError, scan_records
from ipgwsim.hw_profiles import find_profile
from ipgwsim.testing.flash import region_of, small_flash

SECTOR = 256


def make_ring(sectors: int = 8, unit: int = 1, faults: FaultInjector | None = None) -> ConfigRing:
    flash = small_flash(sectors=sectors + 2, sector_size=SECTOR, unit=unit, faults=faults)
    return ConfigRing(region_of(flash, "config", 1, sectors))


def config(i: int, size: int = 100) -> str:
    head = f"config change CMD0 /name device{i} /log on\r\n"
    return head + "# " + "x" * max(0, size - len(head) - 4) + "\r\n"


def test_empty_ring_has_no_generation() -> None:
    ring = make_ring()
    assert ring.newest is None
    assert ring.newest_text() is None
    assert ring.dump() == b""


def test_write_then_mount_finds_newest() -> None:
    ring = make_ring()
    ring.write(config(1))
    ring.write(config(2))
    again = ConfigRing(ring.partition)
    assert again.newest is not None
    assert again.newest.number == 2
    assert again.newest_text() == config(2)


def test_wraps_around_and_erases_oldest_sector_only() -> None:
    ring = make_ring(sectors=4)
    flash = ring.partition.flash
    for i in range(1, 40):
        ring.write(config(i, 150))
        assert ConfigRing(ring.partition).newest_text() == config(i, 150)
    wear = [flash.wear(1 + s) for s in range(4)]
    assert min(wear) >= 3  # every sector was reused
    assert max(wear) - min(wear) <= 1  # evenly: a ring wears its sectors in turn


def test_records_may_span_sectors_and_the_end_of_the_region() -> None:
    ring = make_ring(sectors=5)
    sizes = [200, 300, 250, 333, 120, 400, 90, 380]
    for i, size in enumerate(sizes * 4, start=1):
        ring.write(config(i, size))
        assert ConfigRing(ring.partition).newest_text() == config(i, size)


def test_dump_is_text_with_several_generations_oldest_first() -> None:
    ring = make_ring(sectors=4)
    for i in range(1, 12):
        ring.write(config(i, 120))
    dump = ring.dump()
    text = dump.decode("utf-8")  # readable in a text editor
    assert b"\xff" not in dump
    assert RING_MARKER not in dump  # the record headers stay in the flash
    reading = read_dump(dump)
    assert len(reading.generations) >= 3
    kept = [g.number for g in ring.generations()]
    assert [g.text for g in reading.generations] == [config(n, 120) for n in kept]
    assert text.count("config change CMD0 /name device") >= 3
    assert reading.newest is not None
    assert reading.newest.text == config(11, 120)


def test_generations_lists_what_the_ring_still_holds() -> None:
    ring = make_ring(sectors=4)
    for i in range(1, 6):
        ring.write(config(i))
    assert [g.number for g in ring.generations()][-3:] == [3, 4, 5]
    assert ring.generations()[-1].text == config(5)


def test_too_large_config_is_refused_and_flash_untouched() -> None:
    ring = make_ring(sectors=4)
    ring.write(config(1))
    count = ring.partition.flash.faults.count
    with pytest.raises(NoSpace, match="Error 0x00130001 Major FLASHMAN0 no space: config needs"):
        ring.write("x" * (ring.max_text + 1))
    assert ring.partition.flash.faults.count == count
    assert ConfigRing(ring.partition).newest_text() == config(1)
    ring.write("y" * ring.max_text)  # exactly the limit fits
    assert ConfigRing(ring.partition).newest_text() == "y" * ring.max_text


def test_reserved_marker_line_is_refused() -> None:
    ring = make_ring()
    with pytest.raises(
        ConfigTextError, match="line 2: the text '# config generation ' is reserved"
    ):
        ring.write("config change CMD0 /name a\r\n# config generation 00000009 length\r\n")
    # Anywhere in a line, too: a forged header inside a config must not cost a mount anything.
    with pytest.raises(ConfigTextError, match="line 1: the text"):
        ring.write("config change CMD0 /name x# config generation 00000009\r\n")
    with pytest.raises(ConfigTextError, match="not encodable as UTF-8"):
        ring.write("\udcff")


def test_ring_needs_three_sectors() -> None:
    flash = small_flash()
    with pytest.raises(LocalFlashError, match="at least 3 sectors"):
        ConfigRing(region_of(flash, "config", 0, 2))


def test_program_unit_padding() -> None:
    ring = make_ring(unit=4)
    for i in range(1, 30):
        ring.write(config(i, 97 + i))
        assert ring.write_pointer % 4 == 0
    assert ConfigRing(ring.partition).newest_text() == config(29, 126)


def test_clear_empties_the_ring() -> None:
    ring = make_ring()
    ring.write(config(1))
    ring.clear()
    assert ConfigRing(ring.partition).newest is None
    assert ring.write(config(2)).number == 1


def test_dirty_tail_after_a_torn_write_is_skipped() -> None:
    faults = FaultInjector()
    ring = make_ring(sectors=4, faults=faults)
    ring.write(config(1, 60))
    faults.cut = PowerCut(faults.count + 1, CutMode.TORN, keep=8 * 30)
    with pytest.raises(PowerLost):
        ring.write(config(2, 60))
    ring.partition.flash.power_on()
    again = ConfigRing(ring.partition)
    assert again.newest_text() == config(1, 60)
    again.write(config(3, 60))
    assert ConfigRing(ring.partition).newest_text() == config(3, 60)
    assert ConfigRing(ring.partition).newest is not None


@pytest.mark.parametrize("keep_bits", [8 * 3, 8 * 30, 8 * (RING_HEADER_SIZE + 10)])
def test_a_torn_record_at_the_write_pointer_is_told_until_a_write_passes_it(
    keep_bits: int,
) -> None:
    """A cut header (3 bytes), a header cut short (30) and a whole header with part of
    its text: each is a torn record at the write pointer; a whole record there is not."""
    faults = FaultInjector()
    ring = make_ring(sectors=4, faults=faults)
    ring.write(config(1, 60))
    assert not ring.torn()
    faults.cut = PowerCut(faults.count + 1, CutMode.TORN, keep=keep_bits)
    with pytest.raises(PowerLost):
        ring.write(config(2, 60))
    ring.partition.flash.power_on()
    again = ConfigRing(ring.partition)
    assert again.newest is not None
    assert again.newest.number == 1
    assert not ring.partition.is_erased(again.write_pointer, 1)
    assert again.torn()
    again.write(config(3, 60))  # placed in the next sector, past the torn one
    assert not again.torn()
    assert not ConfigRing(ring.partition).torn()


def test_an_old_record_at_the_write_pointer_is_not_torn() -> None:
    """After a wrap the write pointer may stand on an older generation: that is no tear."""
    ring = make_ring(sectors=4)
    length = SECTOR - RING_HEADER_SIZE  # a record of one whole sector
    for i in range(1, 5):
        ring.write(config(i, length))
    assert ring.write_pointer == 0  # round: generation 1 is there
    assert not ring.partition.is_erased(ring.write_pointer, 1)
    assert not ring.torn()


def test_ip6000_ring_holds_a_large_config() -> None:
    profile = find_profile("IP6000")
    ring = ConfigRing(PartitionTable(NorFlash(profile.flash), profile)["config"])
    assert ring.max_text == 128 * 1024 - RING_HEADER_SIZE
    text = "".join(f"config change CMD0 /name n{i}\r\n" for i in range(3000))
    ring.write(text)
    assert ConfigRing(ring.partition).newest_text() == text


# -- garbage -----------------------------------------------------------------------


#: Garbage made of random bytes and pieces of real record headers.
garbage_bytes = st.lists(
    st.one_of(
        st.binary(max_size=64),
        st.just(RING_MARKER),
        st.sampled_from([b"00000001", b" length ", b"00000004", b" crc32 ", b"\r\n", b"1a2b3c4d"]),
    ),
    max_size=40,
).map(b"".join)


@given(garbage_bytes, st.integers(0, 8 * SECTOR))
def test_garbage_never_crashes_a_mount_nor_yields_a_config(garbage: bytes, at: int) -> None:
    ring = make_ring()
    garbage = garbage[: ring.partition.size - at]
    ring.partition.program(at, garbage)
    again = ConfigRing(ring.partition)
    assert again.newest is None
    assert not list(scan_records(garbage))


@given(st.lists(st.integers(0, 8 * SECTOR - 1), min_size=1, max_size=20), st.data())
def test_damage_never_yields_an_unwritten_config(spots: list[int], data: st.DataObject) -> None:
    ring = make_ring()
    written = set()
    for i in range(1, 15):
        ring.write(config(i, 150))
        written.add(config(i, 150))
    flash = ring.partition.flash
    base = ring.partition.region.offset
    for spot in spots:
        old = flash.read(base + spot, 1)[0]
        flash.program(base + spot, bytes([old & data.draw(st.integers(0, 255))]))
    again = ConfigRing(ring.partition)
    assert again.newest is None or again.newest_text() in written


def test_forged_marker_with_wrong_crc_is_ignored() -> None:
    record = RingRecord.build(
        {"header": {"generation": 7}, "text": b"config change CMD0 /user a,b\r\n"}
    )
    forged = record.replace(record[51:59], b"00000000")
    assert not list(scan_records(b"junk" + forged + b"junk"))
    assert list(scan_records(b"junk" + record + b"junk"))


# -- power cuts: a linear sweep over one workload ------------------------------------


def workload() -> list[str]:
    rng = random.Random(7)
    return [config(i, rng.randrange(40, 380)) for i in range(1, 41)]


def run_workload(ring: ConfigRing, texts: list[str]) -> None:
    for text in texts:
        ring.write(text)


def write_until_power_lost(ring: ConfigRing, texts: list[str]) -> int:
    """Write ``texts`` until the power goes; return how many writes completed."""
    for done, text in enumerate(texts):
        try:
            ring.write(text)
        except PowerLost:
            return done
    raise AssertionError("the power cut never happened")


def count_operations() -> int:
    faults = FaultInjector()
    run_workload(make_ring(sectors=5, unit=2, faults=faults), workload())
    return faults.count


@pytest.mark.parametrize("mode", [CutMode.ATOMIC, CutMode.TORN])
def test_power_cut_sweep_every_operation(mode: CutMode, capsys: pytest.CaptureFixture[str]) -> None:
    texts = workload()
    total = count_operations()
    covered = 0
    for at_op in range(1, total + 1):
        faults = FaultInjector(cut=PowerCut(at_op, mode), rng=random.Random(at_op))
        ring = make_ring(sectors=5, unit=2, faults=faults)
        done = write_until_power_lost(ring, texts)
        committed = texts[done - 1] if done else None
        ring.partition.flash.power_on()
        after = ConfigRing(ring.partition)
        allowed = {committed, texts[done]}
        assert after.newest_text() in allowed, (
            f"cut at operation {at_op} ({mode.value}) while writing generation {done + 1}: "
            f"newest is {after.newest.number if after.newest else None}\n"
            + ring.partition.flash.faults.describe()
        )
        # The device goes on working after the cut.
        rest = texts[done + 1 :]
        run_workload(after, rest)
        final = ConfigRing(after.partition).newest_text()
        assert final == (rest[-1] if rest else after.newest_text())
        covered += 1
    assert covered == total
    with capsys.disabled():
        print(f"\n  config ring sweep ({mode.value}): {covered} cut points covered")


# -- the dump, against the plain reading of flash/SPEC.md 2.1 -----------------------------


def reference_dump(ring: ConfigRing) -> bytes:
    """The dump as SPEC.md 2.1 words it, with whole-region copies: the ring from the
    oldest sector on, record headers, erased bytes and the text before the first record
    left out. ``ConfigRing.dump`` must give exactly these bytes, however it gets them."""
    partition = ring.partition
    size, count = partition.sector_size, partition.sector_count
    data = bytearray(partition.read_all())
    total = len(data)
    wrapped = bytes(data + data[: ring.max_record])
    starts = set()
    for match in ring_module._HEADER.finditer(wrapped):
        if match.start() >= total:
            break
        starts.add(match.start())
        for pos in range(match.start(), match.end()):
            data[pos % total] = 0xFF
    first = -(-ring._pending_end(wrapped) // size) % count * size
    ordered = data[first:] + data[:first]
    if starts:
        orphan = min((start - first) % total for start in starts)
        ordered[:orphan] = b"\xff" * orphan
    return bytes(ordered.translate(None, b"\xff"))


@given(
    st.integers(3, 8),
    st.lists(st.integers(1, 700), max_size=25),
    st.lists(st.tuples(st.integers(0, 8 * SECTOR - 1), st.integers(0, 255)), max_size=12),
    st.one_of(st.none(), st.integers(1, 8 * 400)),
)
def test_dump_matches_the_reference_on_any_ring(
    sectors: int, sizes: list[int], damage: list[tuple[int, int]], torn_bits: int | None
) -> None:
    faults = FaultInjector()
    ring = make_ring(sectors=sectors, faults=faults)
    for i, size in enumerate(sizes, 1):
        with contextlib.suppress(NoSpace):
            ring.write(config(i, size))
    if torn_bits is not None and sizes:
        faults.cut = PowerCut(faults.count + 1, CutMode.TORN, keep=torn_bits)
        with contextlib.suppress(PowerLost, NoSpace):
            ring.write(config(len(sizes) + 1, sizes[0]))
        faults.cut = None
        ring.partition.flash.power_on()
        ring = ConfigRing(ring.partition)
    flash, base = ring.partition.flash, ring.partition.region.offset
    for spot, mask in damage:  # bits cleared anywhere: in text, headers, erased sectors
        at = base + spot % ring.partition.size
        flash.program(at, bytes([flash.read(at, 1)[0] & mask]))
    assert ring.dump() == reference_dump(ring)


@pytest.mark.parametrize("before_end", [1, 2, 30, RING_HEADER_SIZE - 1, RING_HEADER_SIZE + 1])
def test_dump_leaves_out_a_header_that_runs_past_the_end_of_the_region(
    before_end: int,
) -> None:
    """The dump scans only a header's worth of its wrap copy, not a whole record's: a
    record whose header starts ``before_end`` bytes before the region's end and goes on
    at its start is still left out whole, as the reference (with the whole wrap) does."""
    ring = make_ring(sectors=4)
    total = ring.partition.size
    target = total - before_end
    smallest = RING_HEADER_SIZE + len(config(0, 0))
    number = 1
    while ring.write_pointer != target:
        left = (target - ring.write_pointer) % total
        size = left - RING_HEADER_SIZE if smallest <= left <= ring.max_record else 150
        ring.write(config(number, size))
        number += 1
        assert number < 50, "the write pointer never reached the target"
    ring.write(config(number, 150))
    newest = ring.newest
    assert newest is not None
    assert newest.offset == target  # its header runs past the end of the region
    dump = ring.dump()
    assert dump == reference_dump(ring)
    assert RING_MARKER not in dump
    assert dump.endswith(config(number, 150).encode())

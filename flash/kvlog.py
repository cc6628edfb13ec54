"""A power-loss-safe key-value log in two banks: the store behind vars and FLASHDIR0.

The region is split into two banks of whole sectors. The *active* bank starts
with a :data:`~ipgwsim.flash.formats.KvBankHeader` (store tag and generation)
followed by :data:`~ipgwsim.flash.formats.KvRecord` entries, each a set or a
delete, appended in order. Mounting picks the bank with the valid header of the
highest generation and replays its records up to the first one that is not
valid; later states win.

When a change does not fit, or the bank's tail is not clean after a torn
append, the log is *compacted*: the other bank is erased, the live entries (with
the change) are programmed into it, and its header (generation + 1) is
programmed last. The header is the commit: a cut compaction leaves the old bank
active, with the state before the change.

``clear`` (a long reset) erases the inactive bank first, then the active bank's
header sector, then the rest, so a cut clear leaves the old state or nothing.

The banks are symmetric by default (vars): bank 0 is the lower half of the
region, bank 1 the upper half, and the first write goes to bank 0. The flash
directory shares its lower half with the firmware's spill
(:mod:`ipgwsim.flash.flashman`): there ``bank0_start`` sectors at the start of
the region are not the log's, bank 0 is the rest of the lower half, and the
first write goes to bank 1 (``first_bank=1``), away from the firmware. With
banks of different sizes a set is refused (:class:`NoSpace`) when the live
entries after it would not fit the smaller bank, so a compaction into either
bank always fits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import BytesIO

from construct import ConstructError

from ipgwsim.flash.errors import LocalFlashError, NoSpace
from ipgwsim.flash.formats import (
    KV_BANK_HEADER_SIZE,
    KV_DELETE,
    KV_RECORD_OVERHEAD,
    KV_SET,
    KvBankHeader,
    KvRecord,
)
from ipgwsim.flash.nor import ERASED
from ipgwsim.flash.partitions import Partition

MAX_KEY = 255


@dataclass(frozen=True)
class Entry:
    """The stored value of one key."""

    flags: int
    value: bytes


class KvLog:
    """One key-value log in a partition; constructing it mounts it."""

    def __init__(
        self, partition: Partition, tag: bytes, *, bank0_start: int = 0, first_bank: int = 0
    ) -> None:
        if len(tag) != 4:
            raise LocalFlashError(f"a key-value log tag has 4 bytes, not {tag!r}")
        if partition.sector_count < 2:
            raise LocalFlashError(
                f"a key-value log needs at least 2 sectors, region {partition.name!r} "
                f"has {partition.sector_count}"
            )
        if first_bank not in (0, 1):
            raise LocalFlashError(f"the first bank is 0 or 1, not {first_bank}")
        self.partition = partition
        self.tag = tag
        #: Sectors of the upper half (bank 1), and of the whole lower half.
        self.bank_sectors = partition.sector_count // 2
        #: Bytes of bank 1 (and of bank 0 when ``bank0_start`` is 0).
        self.bank_size = self.bank_sectors * partition.sector_size
        self.first_bank = first_bank
        self._check_bank0_start(bank0_start)
        self.bank0_start = bank0_start
        self.header_size = self._align(KV_BANK_HEADER_SIZE)
        self.entries: dict[bytes, Entry] = {}
        self.active: int | None = None
        self.generation = 0
        self.append_at = 0
        self.dirty = False
        self._live = self.header_size
        self.mount()

    def _check_bank0_start(self, bank0_start: int) -> None:
        if not 0 <= bank0_start < self.bank_sectors:
            raise LocalFlashError(
                f"bank 0 of region {self.partition.name!r} must keep at least one of the "
                f"{self.bank_sectors} sectors of the lower half, not start at sector {bank0_start}"
            )

    def _align(self, value: int) -> int:
        unit = self.partition.program_unit
        return -(-value // unit) * unit

    def bank_first_sector(self, bank: int) -> int:
        """The region's sector at which ``bank`` (and its header) starts."""
        return self.bank0_start if bank == 0 else self.bank_sectors

    def bank_sector_count(self, bank: int) -> int:
        return self.bank_sectors - self.bank0_start if bank == 0 else self.bank_sectors

    def bank_bytes(self, bank: int) -> int:
        """The size of ``bank`` in bytes."""
        return self.bank_sector_count(bank) * self.partition.sector_size

    @property
    def capacity(self) -> int:
        """The most bytes the live entries may take: the smaller bank."""
        return min(self.bank_bytes(0), self.bank_bytes(1))

    def _bank_offset(self, bank: int) -> int:
        return self.bank_first_sector(bank) * self.partition.sector_size

    def _bank_sectors(self, bank: int) -> range:
        first = self.bank_first_sector(bank)
        return range(first, first + self.bank_sector_count(bank))

    def log_sectors(self) -> range:
        """The region's sectors that belong to the log (the sectors before bank 0 do not)."""
        return range(self.bank0_start, self.partition.sector_count)

    def relayout(self, bank0_start: int) -> None:
        """Move the start of bank 0 (the firmware's spill changed) and mount again."""
        self._check_bank0_start(bank0_start)
        self.bank0_start = bank0_start
        self.mount()

    # -- mounting ------------------------------------------------------------

    def _header_generation(self, bank: int) -> int | None:
        raw = self.partition.read(self._bank_offset(bank), KV_BANK_HEADER_SIZE)
        try:
            header = KvBankHeader.parse(raw)
        except ConstructError:
            return None
        if header.body.value.tag != self.tag:
            return None
        generation: int = header.body.value.generation
        return generation

    def bank_generation(self, bank: int) -> int | None:
        """The generation in ``bank``'s header, None if it has no valid header of this log."""
        return self._header_generation(bank)

    def mount(self) -> None:
        """Find the active bank and replay it."""
        candidates = [(g, b) for b in (0, 1) if (g := self._header_generation(b)) is not None]
        self.entries = {}
        self._live = self.header_size
        self.dirty = False
        if not candidates:
            self.active, self.generation, self.append_at = None, 0, 0
            # Anything in the log's sectors is garbage: the first write compacts into a clean bank.
            self.dirty = any(not self.partition.is_sector_erased(s) for s in self.log_sectors())
            return
        self.generation, self.active = max(candidates)
        base = self._bank_offset(self.active)
        size = self.bank_bytes(self.active)
        data = self.partition.read(base, size)
        pos = self.header_size
        stream = BytesIO(data)
        while pos < size:
            stream.seek(pos)
            try:
                record = KvRecord.parse_stream(stream)
            except ConstructError:
                break
            body = record.body.value
            if body.op == KV_SET:
                self.entries[body.key] = Entry(body.flags, body.value)
            elif body.op == KV_DELETE:
                self.entries.pop(body.key, None)
            else:
                break
            pos += self._align(record.body.length + 4)
        self.append_at = pos
        self._live = self.header_size + sum(
            self._record_size(k, e.value) for k, e in self.entries.items()
        )
        tail = data[pos:]
        self.dirty = tail.count(ERASED) != len(tail)

    # -- reading -------------------------------------------------------------

    def get(self, key: bytes) -> Entry | None:
        return self.entries.get(key)

    def __iter__(self) -> Iterator[bytes]:
        return iter(sorted(self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def items(self) -> list[tuple[bytes, Entry]]:
        return sorted(self.entries.items())

    def used_bytes(self) -> int:
        """Bytes the live entries take in a compacted bank (with its header)."""
        return self._live

    def _record_size(self, key: bytes, value: bytes) -> int:
        return self._align(KV_RECORD_OVERHEAD + len(key) + len(value))

    # -- writing -------------------------------------------------------------

    def set(self, key: bytes, value: bytes, flags: int = 0) -> None:
        """Store ``value`` under ``key``."""
        if not 1 <= len(key) <= MAX_KEY:
            raise ValueError(f"a key has 1 to {MAX_KEY} bytes, not {len(key)}")
        if not 0 <= flags <= 0xFF:
            raise ValueError(f"flags are one byte, not {flags}")
        self._change(KV_SET, key, Entry(flags, value))

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; False if it was not there (nothing is written then)."""
        if key not in self.entries:
            return False
        self._change(KV_DELETE, key, None)
        return True

    def _encode(self, op: int, key: bytes, entry: Entry | None) -> bytes:
        flags, value = (entry.flags, entry.value) if entry is not None else (0, b"")
        record = KvRecord.build(
            {"body": {"value": {"op": op, "flags": flags, "key": key, "value": value}}}
        )
        return record + bytes([ERASED]) * (self._align(len(record)) - len(record))

    def _change(self, op: int, key: bytes, entry: Entry | None) -> None:
        record = self._encode(op, key, entry)
        old = self.entries.get(key)
        live = self._live - (0 if old is None else self._record_size(key, old.value))
        if entry is not None:
            live += self._record_size(key, entry.value)
            if live > self.capacity:
                # Banks of different sizes: the live entries must fit the smaller one, or a
                # later compaction into it fails. (Equal banks never get here by appending.)
                raise NoSpace(self.partition.name, live, self.capacity, self.tag.decode("ascii"))
        if (
            self.active is not None
            and not self.dirty
            and self.append_at + len(record) <= self.bank_bytes(self.active)
        ):
            self.partition.program(self._bank_offset(self.active) + self.append_at, record)
            self.append_at += len(record)
        else:
            after = dict(self.entries)
            if entry is None:
                after.pop(key, None)
            else:
                after[key] = entry
            self._compact(after)
        if entry is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = entry
        self._live = live

    def check_fits(self, changes: Mapping[bytes, bytes]) -> None:
        """Raise :class:`NoSpace` unless setting every key of ``changes`` would fit.

        Nothing is written: a caller checks a batch of changes (a config load) before
        the first one, so that a refusal leaves the store as it was.
        """
        live = self._live
        for key, value in changes.items():
            if not 1 <= len(key) <= MAX_KEY:
                raise ValueError(f"a key has 1 to {MAX_KEY} bytes, not {len(key)}")
            old = self.entries.get(key)
            if old is not None:
                live -= self._record_size(key, old.value)
            live += self._record_size(key, value)
        if live > self.capacity:
            raise NoSpace(self.partition.name, live, self.capacity, self.tag.decode("ascii"))

    def move_to(self, bank: int) -> None:
        """Make ``bank`` the active bank by compacting into it.

        Nothing happens when it already is, or when the log is empty. The firmware
        pool uses it to move the flash directory out of bank 0 before bank 0 moves.
        """
        if self.active is None or self.active == bank:
            return
        self._compact(self.entries, bank)

    def _compact(self, entries: Mapping[bytes, Entry], target: int | None = None) -> None:
        if target is None:
            target = self.first_bank if self.active is None else 1 - self.active
        if target == self.active:
            raise LocalFlashError("a compaction never writes into the active bank")
        records = b"".join(self._encode(KV_SET, k, e) for k, e in sorted(entries.items()))
        needed = self.header_size + len(records)
        if needed > self.bank_bytes(target):
            raise NoSpace(
                self.partition.name, needed, self.bank_bytes(target), self.tag.decode("ascii")
            )
        base = self._bank_offset(target)
        for sector in self._bank_sectors(target):
            self.partition.prepare(sector)
        if records:
            self.partition.program(base + self.header_size, records)
        header = KvBankHeader.build(
            {"body": {"value": {"tag": self.tag, "generation": self.generation + 1}}}
        )
        self.partition.program(base, header + bytes([ERASED]) * (self.header_size - len(header)))
        self.active = target
        self.generation += 1
        self.append_at = needed
        self.dirty = False

    def clear(self) -> None:
        """Erase the whole log (long reset, or ``FLASHMAN0 reset ldap``)."""
        order = list(self.log_sectors())
        if self.active is not None:
            active = list(self._bank_sectors(self.active))
            order = [s for s in order if s not in active] + active
        for sector in order:
            self.partition.prepare(sector)
        self.entries = {}
        self._live = self.header_size
        self.active, self.generation, self.append_at, self.dirty = None, 0, 0, False

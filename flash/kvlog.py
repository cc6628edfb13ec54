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

    def __init__(self, partition: Partition, tag: bytes) -> None:
        if len(tag) != 4:
            raise LocalFlashError(f"a key-value log tag has 4 bytes, not {tag!r}")
        if partition.sector_count < 2:
            raise LocalFlashError(
                f"a key-value log needs at least 2 sectors, region {partition.name!r} "
                f"has {partition.sector_count}"
            )
        self.partition = partition
        self.tag = tag
        self.bank_sectors = partition.sector_count // 2
        self.bank_size = self.bank_sectors * partition.sector_size
        self.header_size = self._align(KV_BANK_HEADER_SIZE)
        self.entries: dict[bytes, Entry] = {}
        self.active: int | None = None
        self.generation = 0
        self.append_at = 0
        self.dirty = False
        self.mount()

    def _align(self, value: int) -> int:
        unit = self.partition.program_unit
        return -(-value // unit) * unit

    def _bank_offset(self, bank: int) -> int:
        return bank * self.bank_size

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

    def mount(self) -> None:
        """Find the active bank and replay it."""
        candidates = [(g, b) for b in (0, 1) if (g := self._header_generation(b)) is not None]
        self.entries = {}
        self.dirty = False
        if not candidates:
            self.active, self.generation, self.append_at = None, 0, 0
            # Anything in the region is garbage: the first write compacts into a clean bank.
            self.dirty = any(True for _ in self.partition.used_sectors())
            return
        self.generation, self.active = max(candidates)
        base = self._bank_offset(self.active)
        data = self.partition.read(base, self.bank_size)
        pos = self.header_size
        stream = BytesIO(data)
        while pos < self.bank_size:
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
        """Bytes the live entries take in a compacted bank."""
        return self.header_size + sum(
            self._record_size(k, e.value) for k, e in self.entries.items()
        )

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
        if (
            self.active is not None
            and not self.dirty
            and self.append_at + len(record) <= self.bank_size
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

    def _compact(self, entries: Mapping[bytes, Entry]) -> None:
        records = b"".join(self._encode(KV_SET, k, e) for k, e in sorted(entries.items()))
        needed = self.header_size + len(records)
        if needed > self.bank_size:
            raise NoSpace(self.partition.name, needed, self.bank_size, self.tag.decode("ascii"))
        target = 1 if self.active == 0 else 0
        base = self._bank_offset(target)
        first = target * self.bank_sectors
        for sector in range(first, first + self.bank_sectors):
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
        order = list(range(self.partition.sector_count))
        if self.active is not None:
            first = self.active * self.bank_sectors
            active = list(range(first, first + self.bank_sectors))
            order = [s for s in order if s not in active] + active
        for sector in order:
            self.partition.prepare(sector)
        self.entries = {}
        self.active, self.generation, self.append_at, self.dirty = None, 0, 0, False

"""The config ring buffer: generations of config text, newest wins.

``config write`` appends the config text as a new generation after the
previous one; the ring wraps around its region and erases the oldest sector
when it needs room. Each generation is a :data:`~ipgwsim.flash.formats.RingRecord`:
a text header line with generation number, length and CRC32, then the text.
A dump of the ring (what TFTP mode serves as ``config`` or ``c``) holds the config
text only: the headers stay in the flash, and the dump is several generations one
after the other, oldest first (``flash/dumptext.py`` finds the newest from the text).

Why a power cut never loses the newest committed config (``flash/DESIGN.md``):

* a record is valid only when its CRC matches; a torn one never wins;
* a record is written only into erased space, and the sectors erased for it
  never hold any part of the newest valid record: a record is at most
  ``(sectors - 1) // 2`` sectors, so the new record and the newest one fit the
  ring side by side even after skipping one dirty sector;
* ``clear`` erases the sectors of the newest record last, its header first, so
  a cut clear leaves either the old newest generation or nothing, never an
  older one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from construct import ConstructError

from ipgwsim.flash.errors import LocalFlashError, NoSpace
from ipgwsim.flash.formats import RING_HEADER_SIZE, RING_MARKER, RingHeader, RingRecord
from ipgwsim.flash.nor import ERASED
from ipgwsim.flash.partitions import Partition


def _header_parts() -> list[str]:
    """A record header as regular expressions, one a byte."""
    parts = [re.escape(chr(b)) for b in RING_MARKER]
    for literal, digits in (("", "[0-9]"), (" length ", "[0-9]"), (" crc32 ", "[0-9a-f]")):
        parts += [re.escape(c) for c in literal] + [digits] * 8
    return [*parts, "\\r", "\\n"]


def _header_pattern(parts: list[str]) -> re.Pattern[bytes]:
    """A record header, whole, or cut short by erased flash or the end of the data."""
    cut = ""
    for part in reversed(parts[1:]):
        cut = f"(?:{part}{cut})?"
    whole = "".join(parts)
    return re.compile(f"{whole}|{parts[0]}{cut}[^\\xff]?(?=\\xff|\\Z)".encode("ascii"))


#: What :meth:`ConfigRing.dump` leaves out: record headers, also those a power cut tore.
_HEADER = _header_pattern(_header_parts())
_ERASED_BYTE = bytes([ERASED])
#: How much of the wrap copy :meth:`ConfigRing.dump` scans for headers that wrap: more
#: than a header, a byte the header pattern may take after it and the byte it looks at.
_SEAM = 2 * RING_HEADER_SIZE


class ConfigTextError(ValueError):
    """The config text cannot be stored (not UTF-8 text, or it holds the record marker)."""


@dataclass(frozen=True)
class Generation:
    """One valid generation found in a ring or a dump."""

    number: int
    text: str
    #: Where the record starts: in the region, or in the dump it was found in.
    offset: int
    #: Bytes of the record (header and text, without padding).
    length: int


def scan_records(data: bytes, limit: int | None = None) -> Iterator[Generation]:
    """Every valid ring record in ``data`` that starts before ``limit``.

    Garbage of any kind is passed over: only a record whose header parses and
    whose CRC matches is yielded, so nothing is returned that was not written.
    """
    end = len(data) if limit is None else limit
    pos = data.find(RING_MARKER, 0, end + len(RING_MARKER))
    while pos != -1 and pos < end:
        found = _parse_at(data, pos)
        if found is not None:
            yield found
        pos = data.find(RING_MARKER, pos + 1, end + len(RING_MARKER))


def _parse_at(data: bytes, pos: int) -> Generation | None:
    try:
        header = RingHeader.parse(data[pos : pos + RING_HEADER_SIZE], text=b"")
        length = RING_HEADER_SIZE + header.length
        if pos + length > len(data):
            return None
        record = RingRecord.parse(data[pos : pos + length])
        text = record.text.decode("utf-8")
    except (ConstructError, UnicodeDecodeError):
        return None
    return Generation(header.generation, text, pos, length)


def check_config_text(text: str) -> bytes:
    """The UTF-8 bytes of ``text``, or :class:`ConfigTextError` saying why it cannot be stored."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigTextError(f"config text is not encodable as UTF-8: {exc.reason}") from None
    for number, line in enumerate(raw.splitlines(), start=1):
        if RING_MARKER in line:
            raise ConfigTextError(
                f"line {number}: the text {RING_MARKER.decode()!r} is reserved "
                "for the config ring's record headers"
            )
    return raw


class ConfigRing:
    """The config ring in one partition; constructing it mounts it."""

    def __init__(self, partition: Partition, data: bytes | None = None) -> None:
        if partition.sector_count < 3:
            raise LocalFlashError(
                f"the config ring needs at least 3 sectors, region {partition.name!r} "
                f"has {partition.sector_count}"
            )
        self.partition = partition
        #: The largest record, padding included, that the ring takes.
        self.max_record = ((partition.sector_count - 1) // 2) * partition.sector_size
        #: The largest config text, in UTF-8 bytes, that the ring takes.
        self.max_text = self.max_record - RING_HEADER_SIZE
        self.newest: Generation | None = None
        self.write_pointer = 0
        self.mount(data)

    # -- reading -------------------------------------------------------------
    # ``data``: the region's bytes as the caller read them (None: read them now).

    def mount(self, data: bytes | None = None) -> None:
        """Find the newest valid generation and where the next one goes."""
        data = self.partition.read_all() if data is None else data
        size = self.partition.size
        newest: Generation | None = None
        # A record may wrap from the end of the region to its start.
        for found in scan_records(data + data[: self.max_record], limit=size):
            if newest is None or found.number > newest.number:
                newest = found
        self.newest = newest
        self.write_pointer = (
            0 if newest is None else self._align(newest.offset + newest.length) % size
        )

    def _align(self, value: int) -> int:
        unit = self.partition.program_unit
        return -(-value // unit) * unit

    def newest_text(self) -> str | None:
        """The text of the newest generation, or None when the ring is empty."""
        return None if self.newest is None else self.newest.text

    def dump(self) -> bytes:
        """The ring as TFTP mode serves it: the config text of its records from the
        oldest sector on, around to the newest (``flash/SPEC.md`` 2.1).

        Record headers and erased bytes are left out, and so is the text before the
        first record in that order (the end of a record whose start was erased).
        Headers are found in the region plus its wrap copy, as :meth:`mount` scans, so
        a header that wraps, or starts a sector, is left out whole."""
        partition = self.partition
        size, count = partition.sector_size, partition.sector_count
        raw = partition.read_all()
        total = len(raw)
        # A header that starts in the region ends at most a header's length (and one
        # byte the pattern looks at) past its end: that much of the wrap copy is all
        # the scan can see, not a whole record's worth (a copy of the whole region).
        wrapped = raw + raw[: min(self.max_record, _SEAM)]
        starts = set()
        headers: dict[int, list[int]] = {}  # sector: the header bytes in it
        for match in _HEADER.finditer(wrapped):
            if match.start() >= total:
                break
            starts.add(match.start())
            for pos in range(match.start(), match.end()):
                headers.setdefault(pos % total // size, []).append(pos % total)
        first = -(-self._pending_end(wrapped) // size) % count * size
        # The text before the first header in ring order is left out.
        orphan = min((start - first) % total for start in starts) if starts else 0
        # What is left, in ring order: raw[first + orphan:] then raw[:first], or only
        # raw[orphan - (total - first):first] when the orphan reaches past the end.
        if orphan < total - first:
            spans = [(first + orphan, total), (0, first)]
        else:
            spans = [(orphan - (total - first), first)]
        return b"".join(piece for lo, hi in spans for piece in self._text_of(raw, headers, lo, hi))

    def _text_of(
        self, raw: bytes, headers: dict[int, list[int]], lo: int, hi: int
    ) -> Iterator[bytearray]:
        """``raw[lo:hi]`` without record headers and erased bytes, a sector at a time; a
        sector the flash holds erased gives nothing and is not copied (most of a large
        ring is erased)."""
        size, count = self.partition.sector_size, self.partition.sector_count
        view = memoryview(raw)
        pos = lo
        while pos < hi:
            sector = pos // size
            end = min(hi, (sector + 1) * size)
            if sector >= count or not self.partition.is_sector_erased(sector):
                chunk = bytearray(view[pos:end])
                for at in headers.get(sector, ()):
                    if pos <= at < end:
                        chunk[at - pos] = ERASED
                yield chunk.translate(None, _ERASED_BYTE)
            pos = end

    def _pending_end(self, wrapped: bytes) -> int:
        """Where the ring's written part ends: the write pointer, or past it the end of
        a record a power cut tore there (its sectors were erased for it, so the oldest
        sector is the one after them)."""
        start = self.write_pointer
        match = _HEADER.match(wrapped, start)
        if match is None:
            return start
        try:
            header = RingHeader.parse(wrapped[start : start + RING_HEADER_SIZE], text=b"")
        except ConstructError:
            return match.end()  # a header cut short: only a torn write leaves one
        if self.newest is not None and int(header.generation) <= self.newest.number:
            return start  # an old record the ring comes round to next
        return start + min(RING_HEADER_SIZE + int(header.length), self.max_record)

    def torn(self, data: bytes | None = None) -> bool:
        """Whether a record a power cut tore lies at the write pointer: a header, whole or
        cut short, of a generation newer than the newest (what :meth:`dump` passes over)."""
        data = self.partition.read_all() if data is None else data
        return self._pending_end(data + data[: self.max_record]) != self.write_pointer

    def generations(self, data: bytes | None = None) -> list[Generation]:
        """Every valid generation still in the ring, oldest first (offsets are in the
        region, or past its end for a record that wraps)."""
        data = self.partition.read_all() if data is None else data
        found = scan_records(data + data[: self.max_record], limit=self.partition.size)
        return sorted(found, key=lambda g: g.number)

    # -- writing -------------------------------------------------------------

    def write(self, text: str) -> Generation:
        """Store ``text`` as the newest generation (``config write``)."""
        raw = check_config_text(text)
        number = 1 if self.newest is None else self.newest.number + 1
        record = RingRecord.build({"header": {"generation": number}, "text": raw})
        padded = record + bytes([ERASED]) * (self._align(len(record)) - len(record))
        if len(padded) > self.max_record:
            raise NoSpace(self.partition.name, len(record), self.max_record, "config")
        start = self._place(len(padded))
        for sector in self._sectors_to_erase(start, len(padded)):
            self.partition.prepare(sector)
        size = self.partition.size
        first = min(len(padded), size - start)
        self.partition.program(start, padded[:first])
        if first < len(padded):
            self.partition.program(0, padded[first:])
        self.newest = Generation(number, text, start, len(record))
        self.write_pointer = (start + len(padded)) % size
        return self.newest

    def _place(self, length: int) -> int:
        """Where a record of ``length`` bytes starts: at the write pointer if the
        rest of its sector is clean, else at the next sector."""
        start = self.write_pointer
        sector = self.partition.sector_size
        into = start % sector
        if into and not self.partition.is_erased(start, min(length, sector - into)):
            start = (start - into + sector) % self.partition.size
        return start

    def _sectors(self, start: int, length: int) -> list[int]:
        size = self.partition.sector_size
        count = self.partition.sector_count
        first, last = start // size, (start + length - 1) // size
        return [s % count for s in range(first, last + 1)]

    def _sectors_to_erase(self, start: int, length: int) -> list[int]:
        sectors = self._sectors(start, length)
        if start % self.partition.sector_size:
            sectors = sectors[1:]  # the rest of the first sector was found clean
        if self.newest is not None:
            keep = set(self._sectors(self.newest.offset, self.newest.length))
            clash = keep.intersection(sectors)
            if clash:
                raise LocalFlashError(
                    f"config ring: writing {length} bytes at {start:#x} would erase sector(s) "
                    f"{sorted(clash)} of the newest generation"
                )
        return sectors

    def clear(self) -> None:
        """Erase the ring (long reset): the newest generation's sectors last, its
        header first, so that a cut clear never leaves an older generation newest."""
        last: list[int] = []
        if self.newest is not None:
            last = self._sectors(self.newest.offset, self.newest.length)
        for sector in range(self.partition.sector_count):
            if sector not in last:
                self.partition.prepare(sector)
        for sector in last:
            self.partition.prepare(sector)
        self.newest = None
        self.write_pointer = 0

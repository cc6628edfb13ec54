"""Read the config ring a gateway serves in TFTP mode (``tftp get config``).

Written from the dump format alone (ipgwsim's flash/SPEC.md, sections 2 and 2.1): each
generation is a header line ``# config generation NNNNNNNN length NNNNNNNN crc32 xxxxxxxx``
and then ``length`` bytes of config text; the CRC32 covers the generation and length as
``%08d%08d`` and the text. Anything else in the dump is left-over text of older records.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

HEADER = re.compile(rb"# config generation (\d{8}) length (\d{8}) crc32 ([0-9a-f]{8})\r\n")


@dataclass(frozen=True, order=True)
class Record:
    generation: int
    text: str


def parse_dump(dump: bytes) -> list[Record]:
    """Every complete, intact generation in ``dump``, oldest first."""
    found: dict[int, Record] = {}
    for match in HEADER.finditer(dump):
        generation, length, crc = int(match[1]), int(match[2]), int(match[3], 16)
        text = dump[match.end() : match.end() + length]
        if len(text) < length:
            continue  # cut off by the end of the dump
        if zlib.crc32(b"%08d%08d" % (generation, length) + text) != crc:
            continue  # torn or overwritten
        try:
            found[generation] = Record(generation, text.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return sorted(found.values())


def newest(dump: bytes) -> str | None:
    """The newest config text in ``dump``, or None when there is none."""
    records = parse_dump(dump)
    return records[-1].text if records else None

"""The newest config in a ring dump, found from its text alone (``flash/SPEC.md`` 2.1).

A dump is what TFTP mode serves as ``config`` (``c``): the config text of the ring's
generations in ring order, oldest first, with nothing that marks where one ends. The
firmware renders a config as one ``config change MODULE ...`` line per module, and a
module keeps its place from one generation to the next (new modules come last). So a
new generation starts at a ``config change`` line whose module already had one in the
current generation; every other line (comments, ``vars``, ``mod cmd``, a cut piece of
an older line) stays with the generation it follows.

The last generation is the newest, except after a power cut during ``config write``:
the cut record's text may follow the newest one, and its last line then lacks its line
end. It is taken for a torn write, and the generation before it is the newest; a cut
line that begins the first line of the one before (:func:`_cut_first_line`) is a write
torn in its first line. ``flash/SPEC.md`` 2.1 lists where this reading misleads (a write
cut just after a line end, a newer config sharing no module with the one before, a
config edited by hand with a second ``config change`` line for one module).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CHANGE = re.compile(rb"[ \t]*config[ \t]+change[ \t]+(\S+)")


@dataclass(frozen=True)
class DumpedConfig:
    """One generation found in a dump's text."""

    #: 1 for the first (oldest) piece of text in the dump.
    position: int
    #: Where it starts in the dump, in bytes, and the line it starts on (from 1).
    offset: int
    line: int
    data: bytes
    #: The modules of its ``config change`` lines, in order.
    modules: tuple[bytes, ...]

    @property
    def text(self) -> str:
        """Its text; bytes that are not UTF-8 (a torn byte) read as U+FFFD."""
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class DumpReading:
    """What a dump's text says: its generations and which of them is the newest."""

    generations: tuple[DumpedConfig, ...]
    newest: DumpedConfig | None
    #: The last generation when it was taken for a torn write, else None.
    torn: DumpedConfig | None
    #: Why it was taken for one ("" when it was not).
    torn_reason: str


def split_generations(dump: bytes, *, torn_tail: bool = True) -> list[DumpedConfig]:
    """The generations in ``dump``'s text, oldest first (see the module's text).

    With ``torn_tail`` (a dump, not an upload), a cut last line may start a generation
    of its own (:func:`_cut_first_line`).
    """
    lines = _lines(dump)
    found: list[DumpedConfig] = []
    start = start_line = 0
    modules: list[bytes] = []
    seen: set[bytes] = set()  # the modules of this generation, for a look-up in O(1)
    offset = 0
    for line_no, line in enumerate(lines, start=1):
        match = _CHANGE.match(line)
        module = None if match is None else match[1]
        if module is not None and module in seen:
            found.append(_piece(found, dump[start:offset], start, start_line, modules))
            start, start_line, modules, seen = offset, line_no, [], set()
        if module is not None:
            modules.append(module)
            seen.add(module)
        if not start_line:
            start_line = line_no
        offset += len(line)
    if offset > start:
        found.append(_piece(found, dump[start:offset], start, start_line or 1, modules))
    return _cut_first_line(found, lines) if torn_tail else found


def _cut_first_line(found: list[DumpedConfig], lines: list[bytes]) -> list[DumpedConfig]:
    """``found`` with a cut last line split off as a generation of its own when it
    begins the line the last generation began with and, without it, that generation
    holds all the modules of the one before it: a power cut tore the next one early."""
    last = found[-1] if found else None
    if last is None or last.data.endswith(b"\n") or len(found) < 2 or len(lines) < 2:
        return found
    cut, before = lines[-1], found[-2].modules
    whole = last.data[: -len(cut)]
    modules = last.modules[:-1] if _CHANGE.match(cut) else last.modules
    if not whole or not modules or modules[: len(before)] != before:
        return found
    if not (b"config change " + modules[0]).startswith(cut[:-1]):
        return found
    rest = DumpedConfig(last.position, last.offset, last.line, whole, modules)
    torn = DumpedConfig(len(found) + 1, last.offset + len(whole), len(lines), cut, (b"",))
    return [*found[:-1], rest, torn]


def _lines(dump: bytes) -> list[bytes]:
    """The lines of ``dump``, each with its line end; a lone CR (a cut CR LF) ends none."""
    lines = [line + b"\n" for line in dump.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _piece(
    found: list[DumpedConfig], data: bytes, start: int, line: int, modules: list[bytes]
) -> DumpedConfig:
    return DumpedConfig(len(found) + 1, start, line, data, tuple(modules))


def read_dump(dump: bytes) -> DumpReading:
    """The generations of ``dump`` and its newest one, a torn last write passed over."""
    generations = tuple(g for g in split_generations(dump) if g.modules)
    if not generations:
        return DumpReading(generations, None, None, "")
    last = generations[-1]
    reason = _torn_reason(last)
    if not reason:
        return DumpReading(generations, last, None, "")
    before = generations[-2] if len(generations) > 1 else None
    return DumpReading(generations, before, last, reason)


def newest_generation(dump: bytes) -> DumpedConfig | None:
    """The newest generation in a ring dump (a TFTP GET of ``config``), or None."""
    return read_dump(dump).newest


def several_generations(text: bytes) -> str | None:
    """Why an uploaded config is refused for holding several generations (None: one).

    DECISION (the sources are silent): the procedure of Howto:Config or Password Recovery
    sends the newest generation only ("search for latest config"). A whole dump sent back
    would bring back modules that newer generations removed and usually starts with a cut
    line, so the boot code refuses it before anything is stored and says where the second
    generation starts.
    """
    found = split_generations(text, torn_tail=False)
    if len(found) < 2:
        return None
    second = found[1]
    module = second.modules[0].decode("utf-8", errors="replace")
    return (
        f"config holds {len(found)} generations of config text: line {second.line} sets "
        f"module {module} again with 'config change'; send only the newest (the last one, "
        "e.g. from 'ipgwsim config-extract'), with one 'config change' line per module"
    )


def _torn_reason(last: DumpedConfig) -> str:
    return "" if last.data.endswith(b"\n") else "its last line has no line end"

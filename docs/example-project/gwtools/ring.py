"""Read the config ring a gateway serves in TFTP mode (``tftp get config``).

Written from the dump format alone (ipgwsim's flash/SPEC.md, section 2.1): the dump is
config text only, the generations one after the other, oldest first, with nothing that
marks where one ends. A gateway writes one ``config change MODULE ...`` line per module
and keeps each module's place, so a generation starts where a module's ``config change``
line comes a second time. A last generation whose last line has no line end was cut by
a power cut while it was written: the one before it is the newest.
"""

from __future__ import annotations

import re

CHANGE = re.compile(rb"[ \t]*config[ \t]+change[ \t]+(\S+)")


def parse_dump(dump: bytes) -> list[bytes]:
    """The generations in ``dump``, oldest first, each as its bytes."""
    found: list[bytes] = []
    current: list[bytes] = []
    modules: set[bytes] = set()
    for line in dump.split(b"\n"):
        match = CHANGE.match(line)
        if match is not None and match[1] in modules:
            found.append(b"\n".join(current) + b"\n")
            current, modules = [], set()
        if match is not None:
            modules.add(match[1])
        current.append(line)
    rest = b"\n".join(current)  # it ends with a line end unless it was cut
    return [*found, rest] if rest else found


def newest(dump: bytes) -> str | None:
    """The newest config text in ``dump``, or None when there is none."""
    generations = parse_dump(dump)
    if generations and not generations[-1].endswith(b"\n"):
        generations.pop()  # torn: cut by a power cut while it was written
    if not generations:
        return None
    return generations[-1].decode("utf-8", errors="replace")

"""How long flash work takes on the device (shown by the LED while it lasts).

No source documents these times; they are the project's placeholders, in the
range of parallel NOR parts, chosen so that programming a firmware image takes
seconds and a long reset "takes seconds, depending on the config size"
(Reference7:Bootcode functionality). ``--speed`` in the runtime scales them.
"""

from __future__ import annotations

#: One flash operation (a sector erase or one program call).
SECONDS_PER_OPERATION = 0.02
#: Programming, per byte written.
SECONDS_PER_BYTE = 0.25e-6
#: A long reset never takes less than this: time for a person to see the LED.
MIN_CLEARING_S = 2.0
#: Clearing, per flash operation: the erase of a sector that held data (sectors already
#: erased are skipped), a fraction of a second on NOR parts.
SECONDS_PER_ERASE = 0.2


def programming_time(operations: int, length: int) -> float:
    """Seconds to erase and program an image of ``length`` bytes."""
    return operations * SECONDS_PER_OPERATION + length * SECONDS_PER_BYTE


def clearing_time(operations: int) -> float:
    """Seconds to clear config, vars and flash directory: "some seconds, depending on the
    size of the configuration" (Reference7), so it grows with every flash operation of the
    clear (only sectors that held data are erased)."""
    return MIN_CLEARING_S + operations * SECONDS_PER_ERASE

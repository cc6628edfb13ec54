"""Fault injection for :class:`~ipgwsim.flash.nor.NorFlash`, after littlefs's emubd.

Operations are the programs and erases the flash has been asked for, counted
from 1 since the injector was made (or :meth:`FaultInjector.reset_count`).
A :class:`PowerCut` at operation ``N`` lets operations ``1 .. N-1`` complete and
interrupts operation ``N``:

* ``ATOMIC``: operation ``N`` does not happen at all;
* ``TORN``: a prefix of it lands: for a program the first ``keep`` bits (in
  address order, most significant bit of each byte first), for an erase the
  first ``keep`` bytes of the sector. ``keep=None`` draws it from the injected
  random generator.

After a cut every operation, reads included, raises :class:`PowerLost` until
:meth:`~ipgwsim.flash.nor.NorFlash.power_on` is called: the device is off. The
injector remembers the last cut that hit (:attr:`FaultInjector.last_cut`) after the
power is back and its log has moved on, for people looking at the flash afterwards.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from enum import Enum


class CutMode(Enum):
    """What a power cut does to the operation it interrupts."""

    ATOMIC = "atomic"
    TORN = "torn"


class BadSectorMode(Enum):
    """How a bad sector behaves (littlefs's PROGERROR/ERASEERROR and the NOOP modes)."""

    #: Programs and erases raise :class:`~ipgwsim.flash.errors.BadSectorError`.
    ERROR = "error"
    #: Programs and erases silently do nothing.
    NOOP = "noop"


@dataclass(frozen=True)
class PowerCut:
    """Cut the power during operation ``at_op`` (1-based)."""

    at_op: int
    mode: CutMode = CutMode.ATOMIC
    #: For TORN: bits (program) or bytes (erase) that land; None = drawn at random.
    keep: int | None = None

    def __post_init__(self) -> None:
        if self.at_op < 1:
            raise ValueError(f"a power cut needs an operation number >= 1, not {self.at_op}")
        if self.keep is not None and self.keep < 0:
            raise ValueError(f"keep must not be negative, not {self.keep}")


@dataclass(frozen=True)
class OpRecord:
    """One line of the operation log."""

    op: int
    kind: str
    addr: int
    length: int
    outcome: str

    def __str__(self) -> str:
        return f"#{self.op} {self.kind} {self.addr:#x}+{self.length:#x}: {self.outcome}"


@dataclass(frozen=True)
class CutRecord:
    """A power cut that hit: the operation it interrupted and what of it landed."""

    at_op: int
    mode: CutMode
    #: ``"program"`` or ``"erase"``.
    kind: str
    #: Flash address and length of the interrupted operation.
    addr: int
    length: int
    #: What landed, as the operation log says it (``power cut (torn, 12 of 16 bits landed)``).
    outcome: str

    def __str__(self) -> str:
        return f"{self.kind} {self.addr:#x}+{self.length:#x}: {self.outcome}"


@dataclass
class FaultInjector:
    """The faults one flash is subject to, and its log of operations."""

    cut: PowerCut | None = None
    bad_sectors: dict[int, BadSectorMode] = field(default_factory=dict)
    #: A sector whose wear reaches this many erases turns bad (ERROR mode).
    wear_limit: int | None = None
    #: Where a torn cut without ``keep`` draws how much lands (None: ``random.Random(0)``,
    #: made on the first such draw: a generator holds 2.5 KiB, and most flashes never
    #: see a torn cut).
    rng: random.Random | None = None
    log_size: int = 64

    def __post_init__(self) -> None:
        self.count = 0
        # Made at the first operation (an idle device's flash may see none): 0.7 KiB.
        self._log: deque[OpRecord] | None = None
        #: The last power cut that hit an operation (None: none has).
        self.last_cut: CutRecord | None = None

    @property
    def log(self) -> deque[OpRecord]:
        """The last ``log_size`` operations, oldest first."""
        if self._log is None:
            self._log = deque(maxlen=self.log_size)
        return self._log

    def reset_count(self) -> None:
        """Count operations from 1 again (the cut, if any, counts from here)."""
        self.count = 0

    def next_op(self) -> tuple[int, PowerCut | None]:
        """Number the next operation; return it and the cut that hits it, if any."""
        self.count += 1
        cut = self.cut if self.cut is not None and self.cut.at_op == self.count else None
        return self.count, cut

    def keep_amount(self, cut: PowerCut, total: int) -> int:
        """How much of an interrupted operation of ``total`` units lands."""
        if cut.mode is CutMode.ATOMIC:
            return 0
        if cut.keep is None:
            if self.rng is None:
                self.rng = random.Random(0)
            return self.rng.randrange(total + 1)
        return min(cut.keep, total)

    def record(
        self,
        op: int,
        kind: str,
        addr: int,
        length: int,
        outcome: str,
        *,
        cut: PowerCut | None = None,
    ) -> None:
        """Log operation ``op``; with ``cut``, the cut that interrupted it, remembered as
        :attr:`last_cut`."""
        self.log.append(OpRecord(op, kind, addr, length, outcome))
        if cut is not None:
            self.last_cut = CutRecord(op, cut.mode, kind, addr, length, outcome)

    def describe(self, last: int = 8) -> str:
        """The last operations, one per line, for failure messages."""
        records = list(self._log or ())[-last:]
        return "\n".join(str(r) for r in records) if records else "(no flash operations)"

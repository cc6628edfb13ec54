"""A NOR flash part: erase sets a sector to 0xFF, program can only clear bits.

Rules of the part (each enforced here, each a :class:`LocalFlashError` if broken):

* ``erase_sector(i)`` sets every byte of sector ``i`` to ``0xFF`` and adds one
  to its wear counter.
* ``program(addr, data)`` stores ``old & data``: bits go from 1 to 0, never back.
  In strict mode (the default) a program that needs a 0→1 change is refused, as
  it is always a bug in the code above (it forgot an erase). A program lies
  within one sector and is aligned to the program unit in address and length.
* ``read`` has no rules beyond staying inside the part (and the power being on);
  ``peek`` reads the same whatever the power: a view from outside the device.

Memory is proportional to the data written: a sector that is erased is not
stored at all (reads give ``0xFF``), and a sector this flash changed is stored up to
its last programmed byte (the rest reads ``0xFF``), so a 32 MiB part with one config
in it costs about the config's size, not a 128 KiB sector per region written. The
part opens no file; the runtime saves and loads it through :meth:`written_sectors`
and :meth:`restore`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ipgwsim.flash.errors import BadSectorError, LocalFlashError, PowerLost
from ipgwsim.flash.faults import BadSectorMode, FaultInjector
from ipgwsim.hw_profiles import FlashGeometry

ERASED = 0xFF


def _tear_program(old: bytes, new: bytes, keep_bits: int) -> bytes:
    """``old`` with the first ``keep_bits`` bits of the program ``old & new`` applied."""
    full, rest = divmod(keep_bits, 8)
    out = bytearray(old)
    for i in range(full):
        out[i] &= new[i]
    if rest and full < len(out):
        # The top `rest` bits of this byte landed: clear only those of them that `new` clears.
        landed_mask = (0xFF << (8 - rest)) & 0xFF
        out[full] &= new[full] | (~landed_mask & 0xFF)
    return bytes(out)


class NorFlash:
    """One NOR flash part with a geometry, strict checks and optional faults."""

    def __init__(
        self,
        geometry: FlashGeometry,
        *,
        strict: bool = True,
        faults: FaultInjector | None = None,
    ) -> None:
        self.geometry = geometry
        self.strict = strict
        self.faults = faults if faults is not None else FaultInjector()
        self.powered = True
        # A sector is ``bytes`` while it may be shared with other flashes (see
        # :meth:`clone`) and becomes a private ``bytearray`` on its first change. Either
        # may be shorter than the sector: the bytes after its end read 0xFF.
        self._sectors: dict[int, bytes | bytearray] = {}
        self._wear: dict[int, int] = {}
        #: Sector contents shared by the flashes of one pool (:meth:`share`), by contents;
        #: None: this flash shares what it programs with no other.
        self.pool: dict[bytes, bytes] | None = None

    # -- reading -----------------------------------------------------------

    def _check_range(self, addr: int, length: int) -> None:
        if addr < 0 or length < 0 or addr + length > self.geometry.size:
            raise LocalFlashError(
                f"access {addr:#x}+{length:#x} is outside the flash (size {self.geometry.size:#x})"
            )

    def _check_power(self, what: str) -> None:
        if not self.powered:
            raise PowerLost(self.faults.count, f"{what} while the power is off")

    def read(self, addr: int, length: int) -> bytes:
        """``length`` bytes from ``addr``."""
        self._check_power("read")
        return self.peek(addr, length)

    def peek(self, addr: int, length: int) -> bytes:
        """``length`` bytes from ``addr`` whatever the power: what the part holds, for a
        view of it from outside the device (:meth:`read` is the device's own read).
        Nothing is changed or shared."""
        self._check_range(addr, length)
        size = self.geometry.sector_size
        parts: list[bytes] = []
        pos, end = addr, addr + length
        while pos < end:
            index, offset = divmod(pos, size)
            chunk = min(end - pos, size - offset)
            sector = self._sectors.get(index)
            data = b"" if sector is None else bytes(sector[offset : offset + chunk])
            parts.append(data + bytes([ERASED]) * (chunk - len(data)))
            pos += chunk
        return b"".join(parts)

    def is_sector_erased(self, index: int) -> bool:
        """Whether every byte of sector ``index`` reads ``0xFF``."""
        self._check_power("read")
        return not self.holds_data(index)

    def holds_data(self, index: int) -> bool:
        """Whether sector ``index`` holds a byte that is not ``0xFF``, whatever the power
        (as :meth:`peek`)."""
        self._check_sector(index)
        sector = self._sectors.get(index)
        return sector is not None and sector.count(ERASED) != len(sector)

    def is_erased(self, addr: int, length: int) -> bool:
        """Whether every byte in ``addr .. addr+length`` reads ``0xFF``."""
        data = self.read(addr, length)
        return data.count(ERASED) == len(data)

    def wear(self, index: int) -> int:
        """How often sector ``index`` was erased."""
        return self._wear.get(index, 0)

    # -- changing ----------------------------------------------------------

    def _check_sector(self, index: int) -> None:
        if not 0 <= index < self.geometry.sector_count:
            raise LocalFlashError(
                f"sector {index} does not exist (the flash has {self.geometry.sector_count})"
            )

    def _bad(self, index: int) -> BadSectorMode | None:
        mode = self.faults.bad_sectors.get(index)
        limit = self.faults.wear_limit
        if mode is None and limit is not None and self.wear(index) >= limit:
            return BadSectorMode.ERROR
        return mode

    def program(self, addr: int, data: bytes) -> None:
        """Program ``data`` at ``addr``: each byte becomes ``old & new``."""
        self._check_power("program")
        length = len(data)
        self._check_range(addr, length)
        unit, size = self.geometry.program_unit, self.geometry.sector_size
        if addr % unit or length % unit:
            raise LocalFlashError(
                f"program {addr:#x}+{length:#x} is not aligned to the program unit ({unit})"
            )
        index, offset = divmod(addr, size)
        if length and offset + length > size:
            raise LocalFlashError(
                f"program {addr:#x}+{length:#x} crosses the end of sector {index}"
            )
        op, cut = self.faults.next_op()
        bad = self._bad(index)
        if bad is BadSectorMode.ERROR:
            self.faults.record(op, "program", addr, length, "bad sector")
            raise BadSectorError(index, "program")
        sector = self._sectors.get(index)
        old = b"" if sector is None else bytes(sector[offset : offset + length])
        old += bytes([ERASED]) * (length - len(old))
        old_int = int.from_bytes(old, "big")
        new_int = int.from_bytes(data, "big")
        if self.strict and (old_int & new_int) != new_int:
            self.faults.record(op, "program", addr, length, "refused: needs 0->1")
            first = next(i for i in range(length) if old[i] & data[i] != data[i])
            raise LocalFlashError(
                f"program at {addr + first:#x} needs a 0->1 change "
                f"({old[first]:#04x} -> {data[first]:#04x}): erase the sector first"
            )
        if cut is not None:
            keep = self.faults.keep_amount(cut, 8 * length)
            result = _tear_program(old, data, keep)
            outcome = f"power cut ({cut.mode.value}, {keep} of {8 * length} bits landed)"
        else:
            result = (old_int & new_int).to_bytes(length, "big")
            outcome = "ok"
        if bad is BadSectorMode.NOOP:
            outcome = "ignored (bad sector)"
        elif result != old:
            self._store(index, offset, result)
        self.faults.record(op, "program", addr, length, outcome, cut=cut)
        if cut is not None:
            self.powered = False
            raise PowerLost(op, f"program {addr:#x}+{length:#x}")

    def _private(self, index: int) -> bytearray:
        """Sector ``index`` as this flash's own, changeable copy (copy on write); an erased
        sector starts empty (it grows as it is programmed)."""
        sector = self._sectors.get(index)
        if isinstance(sector, bytearray):
            return sector
        private = bytearray() if sector is None else bytearray(sector)
        self._sectors[index] = private
        return private

    def _store(self, index: int, offset: int, result: bytes) -> None:
        """Put ``result`` at ``offset`` of sector ``index``: the stored copy grows only as
        far as the last byte that is not 0xFF (those after it read 0xFF anyway)."""
        private = self._private(index)
        stored = len(private)
        keep_to = max(stored, offset + len(result.rstrip(bytes([ERASED]))))
        if keep_to > stored:
            private.extend(bytes([ERASED]) * (keep_to - stored))
        stop = min(offset + len(result), keep_to)
        if stop > offset:
            private[offset:stop] = result[: stop - offset]

    def erase_sector(self, index: int) -> None:
        """Erase sector ``index`` to ``0xFF``."""
        self._check_power("erase")
        self._check_sector(index)
        size = self.geometry.sector_size
        op, cut = self.faults.next_op()
        addr = index * size
        bad = self._bad(index)
        if bad is BadSectorMode.ERROR:
            self.faults.record(op, "erase", addr, size, "bad sector")
            raise BadSectorError(index, "erase")
        if bad is BadSectorMode.NOOP:
            self.faults.record(op, "erase", addr, size, "ignored (bad sector)", cut=cut)
        elif cut is None:
            self._sectors.pop(index, None)
            self._wear[index] = self.wear(index) + 1
            self.faults.record(op, "erase", addr, size, "ok")
        else:
            keep = self.faults.keep_amount(cut, size)
            if index in self._sectors and keep:
                self._private(index)[:keep] = bytes([ERASED]) * keep
                if keep == size:
                    del self._sectors[index]
            if keep:
                self._wear[index] = self.wear(index) + 1
            self.faults.record(
                op,
                "erase",
                addr,
                size,
                f"power cut ({cut.mode.value}, {keep} of {size} bytes erased)",
                cut=cut,
            )
        if cut is not None:
            self.powered = False
            raise PowerLost(op, f"erase of sector {index}")

    def share(self, addr: int, length: int) -> None:
        """Share the sectors that ``addr .. addr+length`` touches through :attr:`pool`.

        A sector with the same contents as one the pool holds becomes that one copy, and
        one the pool does not hold yet is added to it; each is copied again on its next
        change, as after :meth:`clone`. Reads give the same bytes. A fleet of devices
        programmed with one image then holds it once. Without a pool nothing changes.
        """
        self._check_range(addr, length)
        pool = self.pool
        if pool is None or not length:
            return
        size = self.geometry.sector_size
        for index in range(addr // size, (addr + length - 1) // size + 1):
            sector = self._sectors.get(index)
            if isinstance(sector, bytearray):
                data = bytes(sector)
                self._sectors[index] = pool.setdefault(data, data)

    def power_on(self) -> None:
        """The power returns: operations work again (the cut, if any, is spent)."""
        self.powered = True
        if self.faults.cut is not None and self.faults.cut.at_op <= self.faults.count:
            self.faults.cut = None

    # -- images ------------------------------------------------------------

    def written_sectors(self) -> Iterator[tuple[int, bytes]]:
        """Every sector that is not fully erased, in order, with its bytes."""
        size = self.geometry.sector_size
        for index in sorted(self._sectors):
            data = self._sectors[index]
            if data.count(ERASED) != len(data):
                yield index, bytes(data) + bytes([ERASED]) * (size - len(data))

    def wear_counts(self) -> dict[int, int]:
        """The wear of every sector that was ever erased."""
        return dict(self._wear)

    def restore(self, sectors: Mapping[int, bytes], wear: Mapping[int, int]) -> None:
        """Replace the whole contents (used by the runtime to load a saved image)."""
        size = self.geometry.sector_size
        for index, data in sectors.items():
            self._check_sector(index)
            if len(data) != size:
                raise LocalFlashError(f"sector {index} data is {len(data)} bytes, not {size}")
        for index in wear:
            self._check_sector(index)
        # ``bytes`` are kept as they are (shared, copied on their first change).
        self._sectors = {i: d for i, d in sectors.items() if d.count(ERASED) != size}
        self._wear = {i: w for i, w in wear.items() if w}

    def clone(self) -> NorFlash:
        """A new flash with the same contents and wear, sharing sector memory.

        Sectors stay shared between the two until either changes one, so a
        thousand devices made from one factory flash cost one copy of it.
        Faults and power state are not copied; the :attr:`pool` is the same.
        """
        for index, data in self._sectors.items():
            if isinstance(data, bytearray):
                self._sectors[index] = bytes(data)
        twin = NorFlash(self.geometry, strict=self.strict)
        twin._sectors = dict(self._sectors)
        twin._wear = dict(self._wear)
        twin.pool = self.pool
        return twin

    def memory_bytes(self) -> int:
        """Bytes of sector data this flash holds privately (the cost of the model).

        Sectors shared with other flashes (:meth:`clone`, interned loads, stored
        images shared through the pool: :meth:`share`) are not counted.
        """
        return sum(len(data) for data in self._sectors.values() if isinstance(data, bytearray))

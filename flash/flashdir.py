"""FLASHDIR0, the flash directory: the PBX's LDAP data and call lists.

Items are kept across a medium reset (TFTP mode with the config kept) and
erased by a long reset or ``mod cmd FLASHMAN0 reset ldap``. They are not in the
config ring, so a TFTP GET of ``config`` does not show them (Howto:Config or Password
Recovery, *Known Problems*). The store is a
:class:`~ipgwsim.flash.kvlog.KvLog` with the tag ``FDIR``.

The region's first ``spill_sectors`` sectors may hold the end of a firmware
image that is larger than ``prot`` (the firmware pool,
:mod:`ipgwsim.flash.flashman`): bank 0 of the log is the rest of the lower
half, bank 1 the upper half, and the first write goes to bank 1. Mount it
through :meth:`ipgwsim.flash.flashman.FlashMan.flashdir`, which knows the spill.
"""

from __future__ import annotations

from ipgwsim.flash.kvlog import KvLog
from ipgwsim.flash.partitions import Partition


class FlashDir:
    """The flash directory of one device; constructing it mounts the region."""

    TAG = b"FDIR"

    def __init__(self, partition: Partition, *, spill_sectors: int = 0) -> None:
        self.log = KvLog(partition, self.TAG, bank0_start=spill_sectors, first_bank=1)

    @property
    def spill_sectors(self) -> int:
        """The sectors at the start of the region that are the firmware's, not the log's."""
        return self.log.bank0_start

    def set_spill(self, spill_sectors: int) -> None:
        """The firmware's spill changed: move bank 0's start and mount again."""
        self.log.relayout(spill_sectors)

    @property
    def bank_sizes(self) -> tuple[int, int]:
        """The sizes of bank 0 and bank 1 in bytes."""
        return self.log.bank_bytes(0), self.log.bank_bytes(1)

    @property
    def allocatable(self) -> int:
        """The most bytes the items may take (with the bank header): the smaller bank."""
        return self.log.capacity

    def add_item(self, key: str, data: bytes) -> None:
        """Store (or replace) the item ``key``."""
        raw = key.encode("utf-8")
        self.log.set(raw, data)

    def remove_item(self, key: str) -> bool:
        return self.log.delete(key.encode("utf-8"))

    def get(self, key: str) -> bytes | None:
        entry = self.log.get(key.encode("utf-8"))
        return None if entry is None else entry.value

    def items(self) -> list[tuple[str, bytes]]:
        return [(k.decode("utf-8"), e.value) for k, e in self.log.items()]

    def __len__(self) -> int:
        return len(self.log)

    def used_bytes(self) -> int:
        return self.log.used_bytes()

    def reset(self) -> None:
        """Erase every item (``mod cmd FLASHMAN0 reset ldap``, long reset).

        The spill sectors are not the log's and stay as they are.
        """
        self.log.clear()

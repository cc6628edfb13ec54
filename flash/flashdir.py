"""FLASHDIR0, the flash directory: the PBX's LDAP data and call lists.

Items are kept across a medium reset (TFTP mode with the config kept) and
erased by a long reset or ``mod cmd FLASHMAN0 reset ldap``. They are not in the
config ring, so a TFTP GET of ``config`` does not show them (seed:
config-or-password-recovery, *Known Problems*). The store is a
:class:`~ipgwsim.flash.kvlog.KvLog` with the tag ``FDIR``.
"""

from __future__ import annotations

from ipgwsim.flash.kvlog import KvLog
from ipgwsim.flash.partitions import Partition


class FlashDir:
    """The flash directory of one device; constructing it mounts the region."""

    TAG = b"FDIR"

    def __init__(self, partition: Partition) -> None:
        self.log = KvLog(partition, self.TAG)

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
        """Erase every item (``mod cmd FLASHMAN0 reset ldap``, long reset)."""
        self.log.clear()

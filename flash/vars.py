"""Vars: named values with flags, kept in their own region across restarts.

The firmware keeps bookkeeping here (``UPDATE/PROT``, ``UPDATE/CHECK``) and the
admin credentials (``CMD0/AUTH``, crypted). A long reset erases them. The store
is a :class:`~ipgwsim.flash.kvlog.KvLog` with the tag ``VARS``, so every change
survives a power cut whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from ipgwsim.flash.kvlog import KvLog
from ipgwsim.flash.partitions import Partition


class VarFlags(IntFlag):
    """Flags of a var; in ``vars create NAME FLAGS HEX`` they are written as letters."""

    NONE = 0
    #: ``p``: persistent (kept in flash; every var in this store is).
    PERSISTENT = 1
    #: ``b``: binary value (shown as hex, never as text).
    BINARY = 2
    #: ``c``: crypted: the value is a secret's derivative and is never shown.
    CRYPTED = 4

    def letters(self) -> str:
        """The flags as the letters of ``vars create`` (``p``, ``pb``, ``pc``...)."""
        return "".join(letter for flag, letter in _LETTERS if flag in self)

    @classmethod
    def from_letters(cls, text: str) -> VarFlags:
        """Parse ``pb``-style letters; ValueError names an unknown letter."""
        flags = cls.NONE
        for char in text:
            for flag, letter in _LETTERS:
                if char == letter:
                    flags |= flag
                    break
            else:
                raise ValueError(f"unknown var flag {char!r} (known: p, b, c)")
        return flags


_LETTERS = ((VarFlags.PERSISTENT, "p"), (VarFlags.BINARY, "b"), (VarFlags.CRYPTED, "c"))


@dataclass(frozen=True)
class Var:
    name: str
    flags: VarFlags
    value: bytes


class VarStore:
    """The vars of one device; constructing it mounts the region."""

    TAG = b"VARS"

    def __init__(self, partition: Partition) -> None:
        self.log = KvLog(partition, self.TAG)

    @staticmethod
    def _key(name: str) -> bytes:
        if not name or not name.isascii() or not name.isprintable() or " " in name:
            raise ValueError(f"a var name is printable ASCII without spaces, not {name!r}")
        return name.encode("ascii")

    def get(self, name: str) -> Var | None:
        entry = self.log.get(self._key(name))
        return None if entry is None else Var(name, VarFlags(entry.flags), entry.value)

    def set(self, name: str, value: bytes, flags: VarFlags = VarFlags.PERSISTENT) -> None:
        self.log.set(self._key(name), value, int(flags))

    def delete(self, name: str) -> bool:
        return self.log.delete(self._key(name))

    def all(self) -> list[Var]:
        """Every var, sorted by name."""
        return [Var(k.decode("ascii"), VarFlags(e.flags), e.value) for k, e in self.log.items()]

    def clear(self) -> None:
        self.log.clear()

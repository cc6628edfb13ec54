"""Strict reading of TOML tables: every key checked, unknown keys refused, errors that say where.

Shared by the hardware profiles and the runtime's lab files. A :class:`TableReader` reads one
table, remembers which keys were asked for, and :meth:`TableReader.finish` refuses the rest.
Every error is a :class:`TomlError` (a subclass chosen by the reader's ``error``) whose text
is ``source: dotted.key: problem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

T = TypeVar("T")


class TomlError(ValueError):
    """A TOML file is not acceptable; the message says where and why."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class TableReader:
    """Reads one table of a TOML file, remembering which keys were used."""

    #: The error raised for this kind of file.
    error: ClassVar[type[TomlError]] = TomlError

    def __init__(self, source: str, prefix: str, table: Mapping[str, Any]) -> None:
        self.source = source
        self.prefix = prefix
        self.table = table
        self.used: set[str] = set()

    def _key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _fail(self, name: str, problem: str) -> TomlError:
        return self.error(self.source, self._key(name), problem)

    def fail(self, name: str, problem: str) -> TomlError:
        """The error for key ``name`` of this table (to raise)."""
        return self._fail(name, problem)

    def has(self, name: str) -> bool:
        """Whether the table has ``name`` (the key counts as used)."""
        self.used.add(name)
        return name in self.table

    def get(self, name: str, kind: type[T], default: T | None = None) -> T:
        self.used.add(name)
        if name not in self.table:
            if default is not None:
                return default
            raise self._fail(name, "is missing")
        value = self.table[name]
        # bool is an int in Python; a file must not say `size = true`.
        if kind is int and isinstance(value, bool):
            raise self._fail(name, f"must be an integer, not {value!r}")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            raise self._fail(name, f"must be {kind.__name__}, not {type(value).__name__}")
        return value

    def optional(self, name: str, kind: type[T]) -> T | None:
        """The value of ``name``, or None when the table does not have it."""
        return self.get(name, kind) if self.has(name) else None

    def optional_positive(self, name: str) -> int | None:
        self.used.add(name)
        if name not in self.table:
            return None
        return self.positive(name)

    def positive(self, name: str) -> int:
        value = self.get(name, int)
        if value <= 0:
            raise self._fail(name, f"must be positive, not {value}")
        return value

    def non_negative(self, name: str) -> int:
        value = self.get(name, int)
        if value < 0:
            raise self._fail(name, f"must not be negative, not {value}")
        return value

    def sub(self, name: str) -> Self:
        table = self.get(name, dict)
        return type(self)(self.source, self._key(name), table)

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.error(
                self.source,
                self._key(unknown[0]),
                "unknown key"
                + (f" (also unknown: {', '.join(unknown[1:])})" if unknown[1:] else ""),
            )


def read_toml_text(path: Path, error: type[TomlError]) -> str:
    """The text of the TOML file at ``path``; one that cannot be read raises ``error``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), "", f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise error(str(path), "", "is not UTF-8 text") from None

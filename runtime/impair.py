"""Impaired links: loss, duplication, reordering, delay and corruption of datagrams.

An :class:`Impairment` says what a device's link does to the datagrams it sends and
receives (``docs/runtime.md``, *Impaired links*); :class:`~ipgwsim.runtime.link.Link`
applies it in the runtime's datagram path, in device time. Rates are percentages
(0-100), times are device seconds::

    Impairment(loss=30, duplicate=10, reorder=10, delay=0.02, seed=7)
    Impairment.parse("loss=30%,dup=10%,reorder=10%,delay=20ms,seed=7")  # the same

The text form (``ipgwsim run --impair``, ``ipgwsim impair``) is parsed strictly: an
unknown name, a rate without ``%``, a time without a unit, a value out of range or a
name given twice is refused with an :class:`ImpairmentError` that quotes the bad part.
``off`` (or ``none``) is the impairment that does nothing. :meth:`Impairment.to_text`
gives the text back, in a fixed order, so that ``parse(i.to_text()) == i``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import secrets
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DIRECTIONS",
    "DirectionCounters",
    "Impairment",
    "ImpairmentError",
    "LinkCounters",
    "seeded",
]

#: Which datagrams an impairment applies to: both ways, only those the device
#: receives (``in``) or only those it sends (``out``).
DIRECTIONS: Final = ("both", "in", "out")
#: The longest delay or jitter taken (device seconds).
MAX_DELAY: Final = 3600.0

#: The names of the text form, in the order :meth:`Impairment.to_text` writes them.
_RATES: Final = {"loss": "loss", "dup": "duplicate", "reorder": "reorder", "corrupt": "corrupt"}
_TIMES: Final = {"delay": "delay", "jitter": "jitter"}
_NAMES: Final = (*_RATES, *_TIMES, "dir", "seed")
_UNITS: Final = {"ms": 1e-3, "us": 1e-6, "s": 1.0}
_OFF: Final = ("off", "none")


class ImpairmentError(ValueError):
    """An impairment that cannot be: the text says which part is wrong and why."""


@dataclass(frozen=True)
class Impairment:
    """What a link does to datagrams (see the module docstring).

    ``loss``, ``duplicate``, ``reorder`` and ``corrupt`` are percentages (0-100) of the
    datagrams; ``delay`` and ``jitter`` are device seconds (each datagram waits ``delay``
    plus a uniform draw from ``-jitter`` to ``+jitter``, never less than 0, and never
    overtakes the one before); ``direction`` is ``both``, ``in`` (what the device
    receives) or ``out`` (what it sends); ``seed`` makes a run repeatable (None: the
    runtime picks one and shows it).
    """

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    direction: str = "both"
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ImpairmentError(f"{name} must be a percentage (a number), not {value!r}")
            if not (math.isfinite(value) and 0 <= value <= 100):
                raise ImpairmentError(f"{name} must be 0 to 100 (percent), not {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("delay", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ImpairmentError(f"{name} must be a number of seconds, not {value!r}")
            if not (math.isfinite(value) and 0 <= value <= MAX_DELAY):
                raise ImpairmentError(f"{name} must be 0 to {MAX_DELAY:g} seconds, not {value!r}")
            object.__setattr__(self, name, float(value))
        if self.direction not in DIRECTIONS:
            raise ImpairmentError(f"direction must be in, out or both, not {self.direction!r}")
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ImpairmentError(f"seed must be a whole number >= 0, not {seed!r}")

    @property
    def active(self) -> bool:
        """Whether it does anything at all (``off`` does not)."""
        return any((self.loss, self.duplicate, self.reorder, self.corrupt, self.delay, self.jitter))

    def applies_to(self, direction: str) -> bool:
        """Whether it acts on datagrams the device ``"sent"`` or ``"received"``."""
        if not self.active:
            return False
        wanted = "out" if direction == "sent" else "in"
        return self.direction in ("both", wanted)

    def with_seed(self, seed: int) -> Impairment:
        return dataclasses.replace(self, seed=seed)

    # -- the text form ------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Impairment:
        """``loss=30%,dup=10%,reorder=10%,delay=20ms,jitter=5ms,corrupt=1%,dir=in,seed=7``.

        Names and units in any case; ``off`` or ``none`` alone: no impairment.
        """
        spec = text.strip()
        if spec.lower() in _OFF:
            return cls()
        if not spec:
            raise ImpairmentError(
                "an empty impairment: give settings such as loss=30%,delay=20ms, or off"
            )
        values: dict[str, object] = {}
        for raw in spec.split(","):
            part = raw.strip()
            if not part:
                raise ImpairmentError(f"{spec!r}: an empty setting between commas")
            name, equals, value = part.partition("=")
            name, value = name.strip().lower(), value.strip()
            if not equals:
                raise ImpairmentError(f"{part!r}: a setting is NAME=VALUE, e.g. loss=30%")
            if name not in _NAMES:
                raise ImpairmentError(
                    f"{part!r}: unknown setting {name!r} (known: {', '.join(_NAMES)})"
                )
            field = _RATES.get(name) or _TIMES.get(name) or ("direction" if name == "dir" else name)
            if field in values:
                raise ImpairmentError(f"{part!r}: {name} is given twice")
            if not value:
                raise ImpairmentError(f"{part!r}: {name} needs a value, e.g. {_example(name)}")
            values[field] = _value(part, name, value)
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ImpairmentError as exc:
            raise ImpairmentError(f"{spec!r}: {exc}") from None

    def to_text(self) -> str:
        """The text form (``off`` when it does nothing); ``parse`` gives it back."""
        if not self.active:
            return "off"
        parts = []
        for name, field in _RATES.items():
            value = getattr(self, field)
            if value:
                parts.append(f"{name}={_number(value)}%")
        for name, field in _TIMES.items():
            value = getattr(self, field)
            if value:
                parts.append(f"{name}={_duration(value)}")
        if self.direction != "both":
            parts.append(f"dir={self.direction}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)

    def __str__(self) -> str:
        return self.to_text()


def _example(name: str) -> str:
    return {"delay": "delay=20ms", "jitter": "jitter=5ms", "dir": "dir=in", "seed": "seed=7"}.get(
        name, f"{name}=10%"
    )


def _float(part: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ImpairmentError(f"{part!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ImpairmentError(f"{part!r}: {text!r} is not a finite number")
    return value


def _value(part: str, name: str, text: str) -> object:
    if name in _RATES:
        if not text.endswith("%"):
            raise ImpairmentError(f"{part!r}: {name} is a percentage: write {name}={text}%")
        value = _float(part, text[:-1].strip())
        if not 0 <= value <= 100:
            raise ImpairmentError(f"{part!r}: {name} must be 0% to 100%")
        return value
    if name in _TIMES:
        lowered = text.lower()
        unit = next((u for u in ("ms", "us", "s") if lowered.endswith(u)), None)
        if unit is None:
            letters = re.search(r"[a-z]+$", lowered)
            if letters is not None:
                raise ImpairmentError(
                    f"{part!r}: unknown unit {letters.group()!r} (units: ms, s, us)"
                )
            raise ImpairmentError(f"{part!r}: {name} needs a unit: {text}ms, {text}s or {text}us")
        value = _float(part, text[: -len(unit)].strip()) * _UNITS[unit]
        if value < 0:
            raise ImpairmentError(f"{part!r}: {name} must not be negative")
        if value > MAX_DELAY:
            raise ImpairmentError(f"{part!r}: {name} must be at most {MAX_DELAY:g}s")
        return value
    if name == "dir":
        if text.lower() not in DIRECTIONS:
            raise ImpairmentError(f"{part!r}: dir is in, out or both")
        return text.lower()
    if not text.isdigit():  # seed
        raise ImpairmentError(f"{part!r}: seed is a whole number >= 0")
    return int(text)


def _number(value: float) -> str:
    """``30`` for 30.0; the shortest text that reads back as exactly ``value``."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _duration(seconds: float) -> str:
    """``20ms`` for 0.02 where that reads back exactly, else seconds (``0.1234567s``)."""
    millis = _number(seconds / _UNITS["ms"])
    if float(millis) * _UNITS["ms"] == seconds:
        return f"{millis}ms"
    return f"{_number(seconds)}s"


# ------------------------------------------------------------------------------ counters


@dataclass(frozen=True)
class DirectionCounters:
    """What a link did to the datagrams of one direction, since the device started."""

    #: Datagrams that came to the link (sent by the device, or arriving for it).
    datagrams: int = 0
    dropped: int = 0
    #: Extra copies made.
    duplicated: int = 0
    #: Held back so that a later datagram went first.
    reordered: int = 0
    corrupted: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LinkCounters:
    """A device's link counters: datagrams it sent and datagrams that came for it."""

    sent: DirectionCounters = DirectionCounters()
    received: DirectionCounters = DirectionCounters()

    @property
    def dropped(self) -> int:
        return self.sent.dropped + self.received.dropped

    @property
    def duplicated(self) -> int:
        return self.sent.duplicated + self.received.duplicated

    @property
    def reordered(self) -> int:
        return self.sent.reordered + self.received.reordered

    @property
    def corrupted(self) -> int:
        return self.sent.corrupted + self.received.corrupted

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"sent": self.sent.as_dict(), "received": self.received.as_dict()}


def seeded(impairment: Impairment | None) -> Impairment | None:
    """``impairment`` with a seed (picked now if it has none); None if it does nothing."""
    if impairment is None or not impairment.active:
        return None
    if impairment.seed is None:
        return impairment.with_seed(secrets.randbelow(1_000_000))
    return impairment

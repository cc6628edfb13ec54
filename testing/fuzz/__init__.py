"""The fuzzing harness: one target per surface a hostile peer reaches.

A :class:`Surface` is an entry point (a sans-I/O parser, or a device driven in virtual
time), a Hypothesis strategy of inputs for it (valid messages of its protocol mutated
byte-wise, structure-aware messages, and unstructured bytes), and a check that runs one
input and fails on a crash: an exception other than the entry point's documented errors,
work beyond the input's bound, or a broken invariant (the device still answers a valid
request; its output stays bounded). ``crash`` says, per surface, what counts.

The project's suite runs every surface for a few hundred examples
(``tests/fuzz/test_fuzz.py``); the long run is ``scripts/fuzz`` (``python -m
ipgwsim.testing.fuzz``), which prints the inputs tried per surface. ``docs/reliability.md``
records the runs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ipgwsim.runtime.extras import extra_imports

with extra_imports(__name__):
    from hypothesis import strategies as st

__all__ = ["Surface", "surfaces"]

Check = Callable[[Any], None]


@contextlib.contextmanager
def _no_setup() -> Iterator[None]:
    yield None


@dataclass(frozen=True)
class Surface:
    """One fuzzed surface (see the module docstring)."""

    name: str
    #: The public entry point driven.
    entry: str
    #: What counts as a crash on it.
    crash: str
    #: Inputs: mutated valid messages, generated ones and unstructured bytes.
    inputs: st.SearchStrategy[Any]
    #: ``check(context, input)`` runs one input; any exception is a crash.
    check: Callable[[Any, Any], None]
    #: An input made of unstructured bytes (for a byte-level fuzzer such as atheris).
    from_bytes: Callable[[bytes], Any]
    #: Set-up shared by the inputs of one run (the control socket's runtime); its value
    #: is the ``context`` of :attr:`check`. Takes the run's ports (UDP, TCP).
    setup: Callable[[int, int], contextlib.AbstractContextManager[Any]] = field(
        default=lambda udp, tcp: _no_setup()
    )
    #: Whether :attr:`setup` needs a UDP and a TCP port of the run's own.
    needs_ports: bool = False


@functools.cache
def surfaces() -> dict[str, Surface]:
    """Every surface by name, in the order the runner runs them."""
    from ipgwsim.testing.fuzz import (  # noqa: PLC0415
        admin,
        control,
        firmware,
        parsers,
        tftpmode,
        wire,
    )

    found = [
        *parsers.SURFACES,
        *tftpmode.SURFACES,
        *firmware.SURFACES,
        *admin.SURFACES,
        *control.SURFACES,
        *wire.SURFACES,
    ]
    return {s.name: s for s in found}

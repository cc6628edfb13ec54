"""Runs surfaces with Hypothesis (or atheris) and counts the inputs tried.

:func:`hypothesis_test` is the one way a surface becomes a Hypothesis test: the
project's suite calls it with a few hundred examples, :func:`run` (the long run) calls
it again and again with fresh random inputs until the examples or the time are used up.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings

from ipgwsim.testing.fuzz import Surface
from ipgwsim.testing.loopback import reserved_ports

__all__ = ["Result", "hypothesis_test", "run", "run_atheris"]

#: Examples per call of the Hypothesis test in a long run (each call draws afresh).
CHUNK = 1000


@dataclass
class Result:
    """What a run of one surface did."""

    surface: str
    #: Inputs run through the check (shrinking's included).
    tried: int = 0
    seconds: float = 0.0
    #: One text per crash: the failing input and the traceback.
    crashes: list[str] = field(default_factory=list)


def hypothesis_test(
    surface: Surface,
    context: Any,
    *,
    examples: int,
    deadline: float | None = None,
    count: Callable[[], None] | None = None,
    derandomize: bool = False,
) -> Callable[[], None]:
    """A Hypothesis test of ``surface`` with ``examples`` inputs; ``deadline`` (ms) bounds
    the real time of one input (None: no bound, as the suite's tests have)."""

    @settings(
        max_examples=examples,
        deadline=deadline,
        database=None,
        derandomize=derandomize,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )
    @given(surface.inputs)
    def fuzz(data: Any) -> None:
        if count is not None:
            count()
        surface.check(context, data)

    return fuzz


@contextlib.contextmanager
def _ports(surface: Surface) -> Iterator[tuple[int, int]]:
    """A UDP and a TCP port held for the run (only for surfaces that need them)."""
    if not surface.needs_ports:
        yield 0, 0
        return
    with reserved_ports("udp") as (udp,), reserved_ports("tcp") as (tcp,):
        yield udp, tcp


def run(
    surface: Surface,
    *,
    examples: int,
    seconds: float | None = None,
    deadline: float = 10_000,
) -> Result:
    """Up to ``examples`` inputs (and at most about ``seconds``); stops at the first crash."""
    result = Result(surface.name)

    def count() -> None:
        result.tried += 1

    start = time.monotonic()
    with _ports(surface) as (udp, tcp), surface.setup(udp, tcp) as context:
        while result.tried < examples:
            if seconds is not None and time.monotonic() - start >= seconds:
                break
            chunk = min(CHUNK, examples - result.tried)
            test = hypothesis_test(surface, context, examples=chunk, deadline=deadline, count=count)
            try:
                test()
            except Exception:
                result.crashes.append(traceback.format_exc())
                break
    result.seconds = time.monotonic() - start
    return result


def run_atheris(surface: Surface, *, examples: int, seconds: float | None) -> None:
    """Fuzz ``surface`` with atheris (coverage-guided) on unstructured bytes; never returns
    (libFuzzer exits, printing ``Done N runs``)."""
    try:
        import atheris  # noqa: PLC0415
    except ImportError:
        raise SystemExit(
            "atheris is not installed: pip install -e '.[fuzz]' (or use --engine hypothesis)"
        ) from None
    if surface.needs_ports:
        raise SystemExit(f"{surface.name}: atheris runs only surfaces without a runtime")
    with surface.setup(0, 0) as context:

        def one(data: bytes) -> None:
            surface.check(context, surface.from_bytes(data))

        argv = [sys.argv[0], f"-runs={examples}", "-print_final_stats=1"]
        if seconds is not None:
            argv.append(f"-max_total_time={max(1, int(seconds))}")
        atheris.instrument_all()
        atheris.Setup(argv, one)
        atheris.Fuzz()

"""The event loop a runtime runs on: asyncio's own, or uvloop where it is installed.

uvloop (libuv under asyncio's interface) spends less time in the loop per datagram, and
comes with the ``fast`` extra (``pip install 'ipgwsim[fast]'``). The choice is ``--loop``
of ``ipgwsim run``, else the environment variable :data:`LOOP_VARIABLE`, else
``asyncio``:

- ``asyncio``: asyncio's loop (the default);
- ``uvloop``: uvloop, and a one-line error naming the extra when it is not installed;
- ``auto``: uvloop if it is installed, else asyncio's loop.

uvloop is not the default even where it is installed, because two things of the runtime
behave otherwise on it (docs/runtime.md, *Event loop*): under a flood of TCP connections
the web servers' descriptor reserve does not answer 503, and a request to a device's web
server at its start may be reset. Everything else runs alike; the tests of the
per-datagram path and of ``--loop`` run on both loops where uvloop is installed. The
workers of ``run --workers`` run on the loop their parent chose.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.extras import EXTRAS

__all__ = ["LOOPS", "LOOP_VARIABLE", "choose_loop", "loop_factory", "run_on", "uvloop_installed"]

T = TypeVar("T")

#: The choices, as ``--loop`` and :data:`LOOP_VARIABLE` take them.
LOOPS: Final = ("auto", "asyncio", "uvloop")
#: Chooses the loop when ``--loop`` is not given.
LOOP_VARIABLE: Final = "IPGWSIM_LOOP"


def uvloop_installed() -> bool:
    """Whether uvloop can be imported."""
    return importlib.util.find_spec("uvloop") is not None


def choose_loop(asked: str | None) -> str:
    """The loop to run on, ``asyncio`` or ``uvloop``, for ``asked`` (``--loop``; None: the
    environment variable, else ``asyncio``); :class:`RuntimeSetupError` for a name that is
    none of :data:`LOOPS`, or for uvloop when it is not installed."""
    source = "--loop"
    if asked is None:
        asked = os.environ.get(LOOP_VARIABLE) or "asyncio"
        if os.environ.get(LOOP_VARIABLE):
            source = LOOP_VARIABLE
    if asked not in LOOPS:
        raise RuntimeSetupError(
            f"{source}: unknown event loop {asked!r}; choose one of {', '.join(LOOPS)}"
        )
    if asked == "auto":
        return "uvloop" if uvloop_installed() else "asyncio"
    if asked == "uvloop" and not uvloop_installed():
        raise RuntimeSetupError(
            f"{source} uvloop: uvloop is not installed: pip install 'ipgwsim[{EXTRAS['uvloop']}]'"
        )
    return asked


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes a new loop of ``name`` (``asyncio`` or ``uvloop``, see :func:`choose_loop`)."""
    if name == "uvloop":
        import uvloop  # noqa: PLC0415 (an optional package, loaded on use)

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run_on(name: str, main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new loop of ``name``, as :func:`asyncio.run` does."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)

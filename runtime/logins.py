"""Password checks of HTTP logins, made off the event loop.

A check of a stored credentials record is an scrypt derivation (about 50 ms of CPU).
Made on the runtime's one event loop, every wrong login from anywhere would stall every
device, the control socket and TFTP for that long. :class:`LoginChecker` runs each
:class:`~ipgwsim.firmware.logins.PasswordCheck` in an executor instead; the event loop
reads the stored record before and gives the result to the firmware after
(``hashlib.scrypt`` releases the GIL while it derives: ``benchmarks/bench_login.py``).

The executor is the runtime's ``login_executor``: by default a pool of
:data:`LOGIN_WORKERS` threads of the runtime's own, started at the first check and
stopped with the runtime. A caller may give its own (it stays the caller's to shut
down), e.g. :class:`OnLoop`, which makes each check at once in the calling thread: on
the event loop, as before; for comparisons only. A check against the profile's default
password (no stored record) is a string comparison and is made on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from ipgwsim.firmware.logins import PasswordCheck

__all__ = ["LOGIN_WORKERS", "LoginChecker", "OnLoop"]

#: Threads of the runtime's own pool of password checks (each takes 16 MiB while it runs).
LOGIN_WORKERS = 2

P = ParamSpec("P")
T = TypeVar("T")


class OnLoop(Executor):
    """An executor that runs each call at once in the thread that submits it."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the caller gets it from the future, as from a pool
            future.set_exception(exc)
        return future


class LoginChecker:
    """Makes password checks in ``executor`` (None: a pool of the checker's own)."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor
        self._own: ThreadPoolExecutor | None = None

    async def verify(self, check: PasswordCheck) -> bool:
        """Whether ``check`` passes; an scrypt derivation runs in the executor."""
        if check.stored is None:
            return check.verify()
        executor = self._executor
        if executor is None:
            if self._own is None:
                self._own = ThreadPoolExecutor(LOGIN_WORKERS, thread_name_prefix="ipgwsim-login")
            executor = self._own
        return await asyncio.get_running_loop().run_in_executor(executor, check.verify)

    def close(self) -> None:
        """Stop the checker's own threads (after the checks under way; queued ones are
        dropped). A given executor is left as it is."""
        own, self._own = self._own, None
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)

"""How many TCP connections a runtime accepts, and the file descriptors it keeps free.

Anyone on the host reaches a device's web server and its console ports. Every accepted
connection is a file descriptor, and a runtime that has none left cannot accept on its
control socket, save a flash image or open a TFTP transfer, for any device. So every
accepted connection asks a :class:`ConnectionBudget` (one per runtime) first; a refused
one is closed at once (the web server answers 503 first; before it asks, a web server at
its device's limit closes its connection that has waited longest for a request's head, so
that idle clients give way to new ones). A connection is refused when
its device already has ``per_device`` connections of that service open, when the runtime
has ``per_runtime`` open, or when its descriptor lies in the reserve: the kernel gives
the lowest free descriptor, so a connection numbered ``limit - reserve`` or higher means
that the table is full up to there (DECISION: the vendor documents no limits; see
``docs/runtime.md``, *Connection limits*).

A limit reached is said once in the log (:class:`OnceLog`), naming the device and the
limit, and once more when it has cleared, with the number of connections refused meanwhile;
never once per refused connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import math
import resource
from collections.abc import Callable
from typing import Any

from ipgwsim.runtime.errors import RuntimeSetupError, describe_error

__all__ = [
    "BODY_TIMEOUT",
    "FD_RESERVE",
    "HEADER_TIMEOUT",
    "MAX_DEVICE_CONNECTIONS",
    "MAX_RUNTIME_CONNECTIONS",
    "ConnectionBudget",
    "ConnectionLimits",
    "OnceLog",
    "quiet_accept_errors",
    "raise_open_file_limit",
]

#: TCP connections one device accepts per service (its web server; each console port).
#: DECISION: the vendor documents none; a browser opens about six per host.
MAX_DEVICE_CONNECTIONS = 16
#: TCP connections a runtime holds open for all its devices together.
MAX_RUNTIME_CONNECTIONS = 4096
#: File descriptors kept free for the control socket, flash saves and TFTP transfers
#: (a quarter of the open-file limit when that is below four times this).
FD_RESERVE = 128
#: Seconds (real time) a connection may take to send a request's head, from its opening
#: or from the previous answer; an idle keep-alive connection is closed after as long.
HEADER_TIMEOUT = 15.0
#: Seconds (real time) a request may take from its head to its answer: a body that has
#: not arrived by then is answered 408 (a 64 MiB firmware image needs 0.6 MB/s).
BODY_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    """The limits of :class:`ConnectionBudget` and the web servers' timeouts."""

    per_device: int = MAX_DEVICE_CONNECTIONS
    per_runtime: int = MAX_RUNTIME_CONNECTIONS
    reserve: int = FD_RESERVE
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("per_device", "per_runtime", "reserve"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RuntimeSetupError(
                    f"{name} must be a whole number of 1 or more, not {value!r}"
                )
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise RuntimeSetupError(f"{name} must be seconds above 0, not {value!r}")


class OnceLog:
    """Says that a limit is reached once, and once that it has cleared.

    ``reached(key, text)`` logs ``text`` at WARNING the first time only; while the key
    is reached, further calls only count. ``cleared(key, text)`` logs ``text`` and the
    count at INFO, if the key was reached.
    """

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._refused: dict[str, int] = {}

    def reached(self, key: str, text: str) -> None:
        if key not in self._refused:
            self.log.warning("%s", text)
            self._refused[key] = 0
        self._refused[key] += 1

    def active(self, key: str) -> bool:
        return key in self._refused

    def cleared(self, key: str, text: str) -> None:
        refused = self._refused.pop(key, None)
        if refused is not None:
            self.log.info("%s (%d refused meanwhile)", text, refused)


class ConnectionBudget:
    """Counts the TCP connections of a runtime's devices and refuses those over a limit.

    ``nofile``: the open-file limit to keep the reserve below (default: the soft
    RLIMIT_NOFILE now; the runtime raises it first).
    """

    def __init__(
        self,
        limits: ConnectionLimits | None = None,
        *,
        log: logging.Logger | None = None,
        nofile: int | None = None,
    ) -> None:
        self.limits = limits if limits is not None else ConnectionLimits()
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        if nofile is None:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            nofile = soft if soft != resource.RLIM_INFINITY else 1 << 20
        #: Descriptors kept free: ``limits.reserve``, at most a quarter of ``nofile``.
        self.reserve = min(self.limits.reserve, nofile // 4)
        #: A connection with a descriptor this high or higher is refused.
        self.fd_ceiling = nofile - self.reserve
        self.once = OnceLog(self.log)
        self._open: dict[tuple[str, str], int] = {}
        #: Connections open now, of every device and service.
        self.total = 0

    def open(self, device: str, service: str) -> int:
        """Connections of ``device`` to ``service`` open now."""
        return self._open.get((device, service), 0)

    def admit(self, device: str, service: str, fd: int) -> str | None:
        """Count a new connection in (None), or say in one line why it is refused."""
        key = (device, service)
        count = self._open.get(key, 0)
        limits = self.limits
        if fd >= self.fd_ceiling:
            self.once.reached(
                "descriptors",
                f"file descriptors are running out (limit {self.fd_ceiling + self.reserve}): "
                f"TCP connections are refused, first one to {device} {service}, to keep "
                f"{self.reserve} free for the control socket, flash saves and TFTP",
            )
            return f"the runtime keeps its last {self.reserve} file descriptors for itself"
        if self.total >= limits.per_runtime:
            self.once.reached(
                "runtime",
                f"the runtime holds {self.total} TCP connections, its limit: further ones "
                f"are refused, first one to {device} {service}",
            )
            return f"the runtime holds {self.total} connections, its limit"
        if count >= limits.per_device:
            self.once.reached(
                f"{device} {service}",
                f"{device}: {count} {service} connections are open, the limit per device: "
                "further ones are refused until fewer are open",
            )
            return f"{device} has {count} {service} connections open, its limit"
        self._open[key] = count + 1
        self.total += 1
        self.once.cleared("accept", "connections are accepted again")
        if fd < self.fd_ceiling - self.reserve:
            self.once.cleared("descriptors", "file descriptors are free again")
        return None

    def release(self, device: str, service: str) -> None:
        """A connection :meth:`admit` counted in has closed."""
        key = (device, service)
        count = self._open.get(key, 0) - 1
        if count <= 0:
            self._open.pop(key, None)
        else:
            self._open[key] = count
        self.total -= 1
        # Said cleared only well below the limit: connections that come and go at the
        # limit are not a line each.
        if count <= self.limits.per_device // 2:
            self.once.cleared(
                f"{device} {service}", f"{device}: {service} connections below the limit again"
            )
        if self.total <= self.limits.per_runtime // 2:
            self.once.cleared("runtime", "the runtime's TCP connections are below the limit again")


#: asyncio's report of an accept() that found no descriptor (it tries again in 1 s).
_ACCEPT_FAILED = "socket.accept() out of system resource"
_OUT_OF = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, once: OnceLog) -> Callable[[], None]:
    """Turn asyncio's traceback per failed accept (every listener, every second, while
    descriptors are out) into one line by ``once``; the rest goes where it went before.
    Returns what undoes it."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        failed = context.get("message") == _ACCEPT_FAILED
        if failed and isinstance(exc, OSError) and exc.errno in _OUT_OF:
            once.reached(
                "accept", f"cannot accept connections: {describe_error(exc)}; trying again"
            )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)

    def undo() -> None:
        if loop.get_exception_handler() is handler:
            loop.set_exception_handler(previous)

    return undo


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (fleets need many sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]

"""Helpers for tests that run devices on the loopback network with real sockets.

- :class:`Ports`: UDP and TCP ports reserved for a test until it ends, which no other
  test run on this host can get meanwhile (:func:`reserved_ports`).
- :func:`free_loopback_ip`: a random 127.x.y.z address that is free on a port, so
  that tests running at the same time on one host do not meet.
- :func:`run`: run a coroutine to completion with a wall-clock limit (pytest-asyncio
  is not needed: a test is a plain function calling ``run(main())``).
- :func:`enter_tftp_mode`: hold a device's reset button for 1.8 device seconds with a
  :class:`~ipgwsim.runtime.clock.ManualClock`.
- :func:`until_devices`: wait until a condition on the devices holds, looking again at
  each event they report (for devices on a real clock beside real peers).
- :func:`wait_until_bound`: wait until a server started in another process has bound its
  UDP port (:func:`udp_bound`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from ipgwsim.events import Event
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.loops import run_on
from ipgwsim.runtime.runtime import Runtime

__all__ = [
    "HOLD_ADDRESS",
    "Ports",
    "enter_tftp_mode",
    "free_loopback_ip",
    "reserved_ports",
    "run",
    "udp_bound",
    "until_devices",
    "wait_until_bound",
]

T = TypeVar("T")
Kind = Literal["udp", "tcp"]

#: Where reserved ports are held: the loopback network's own address. It is on the host
#: (all of 127.0.0.0/8 is), no device takes it (the runtime refuses it) and no tool
#: talks to it, so the test's own sockets on the port (the runtime's broadcast socket,
#: the devices' addresses, a tool's server on 127.0.0.1) never meet the holder.
HOLD_ADDRESS = "127.0.0.0"

_rng = random.Random()
_KINDS = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}


def _probe(kind: socket.SocketKind, port: int) -> socket.socket | None:
    """A socket on ``("0.0.0.0", port)`` without SO_REUSEADDR (0: the kernel picks), or
    None if that port is taken on any address."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind(("0.0.0.0", port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    return sock


#: Where a block of several ports is looked for when the kernel's pick has no free
#: neighbours: below the usual ephemeral range (32768-60999), where clients' ports are not.
BLOCK_RANGE = (20000, 32000)


def _claim(
    kind: socket.SocketKind, count: int, base: int | None = None
) -> list[socket.socket] | None:
    """Probes on ``count`` consecutive ports from ``base`` (None: one the kernel picks) that
    no socket has on any address, or None."""
    first = _probe(kind, 0 if base is None else base)
    if first is None:
        return None
    probes = [first]
    base = first.getsockname()[1]
    for offset in range(1, count):
        probe = _probe(kind, base + offset) if base + offset < 65536 else None
        if probe is None:
            for sock in probes:
                sock.close()
            return None
        probes.append(probe)
    return probes


@contextlib.contextmanager
def reserved_ports(kind: Kind = "udp", count: int = 1, tries: int = 100) -> Iterator[list[int]]:
    """``count`` consecutive ports (UDP or TCP) reserved until the block ends.

    The kernel picks them (a bind to port 0, on every address): no socket on the host
    has them. Until the block ends a socket without ``SO_REUSEADDR`` holds each on
    :data:`HOLD_ADDRESS`, so every bind of ``0.0.0.0`` to them, and every bind to port 0
    on ``0.0.0.0`` (another test run's reservation, a client's ephemeral port), is
    refused, while the test's own sockets on other loopback addresses bind them freely.
    They are held from the first moment: the probe that found a port keeps it until its
    holder is bound. What the hold cannot stop: a socket bound to port 0 on one other
    address (``("127.0.0.1", 0)``) may be given a held port, as the kernel sees no
    conflict between two different addresses; so a server a test starts on 127.0.0.1
    may, rarely, find its port taken by another run's client there.
    """
    if count < 1:
        raise ValueError(f"count must be 1 or more, not {count}")
    sock_kind = _KINDS[kind]
    holders: list[socket.socket] = []
    try:
        for attempt in range(tries):
            # The kernel's pick first; on a busy host its neighbours are often clients'
            # ports (connect() takes every other one), so later a random block below them.
            base = None if attempt < tries // 2 or count == 1 else random.randint(*BLOCK_RANGE)
            probes = _claim(sock_kind, count, base)
            if probes is not None:
                break
        else:
            raise RuntimeError(f"no {count} consecutive free {kind} ports after {tries} tries")
        try:
            for probe in probes:
                # The probe lets the holder share its port for a moment (both with
                # SO_REUSEADDR, neither listening); the holder then refuses everyone.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                holder = socket.socket(socket.AF_INET, sock_kind)
                holders.append(holder)
                holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                holder.bind((HOLD_ADDRESS, probe.getsockname()[1]))
                holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        finally:
            for probe in probes:
                probe.close()
        yield [holder.getsockname()[1] for holder in holders]
    finally:
        for holder in holders:
            holder.close()


class Ports:
    """Ports reserved for a test until :meth:`close` (see :func:`reserved_ports`).

    ``ports.udp()`` for a runtime's TFTP/gwload port or a tool's server, ``ports.tcp()``
    for a web server, ``ports.tcp(4)`` for four consecutive ones (the first is returned).
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def udp(self, count: int = 1) -> int:
        return self._stack.enter_context(reserved_ports("udp", count))[0]

    def tcp(self, count: int = 1) -> int:
        return self._stack.enter_context(reserved_ports("tcp", count))[0]

    def close(self) -> None:
        """Give every reserved port back."""
        self._stack.close()

    def __enter__(self) -> Ports:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bindable(address: tuple[str, int], kind: socket.SocketKind = socket.SOCK_DGRAM) -> bool:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind(address)
    except OSError:
        return False
    finally:
        sock.close()
    return True


def free_loopback_ip(port: int, tries: int = 200) -> str:
    """A random 127.x.y.z host address (not 127.0.0.1) that is free on ``port``."""
    for _ in range(tries):
        ip = f"127.{_rng.randint(1, 254)}.{_rng.randint(0, 255)}.{_rng.randint(2, 254)}"
        if _bindable((ip, port)):
            return ip
    raise RuntimeError(f"no free loopback address found for port {port}")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0, *, loop: str = "asyncio") -> T:
    """Run ``coro`` in a new event loop; TimeoutError after ``timeout`` real seconds.

    ``loop``: asyncio's own, or ``uvloop`` (:mod:`ipgwsim.runtime.loops`)."""

    async def limited() -> T:
        return await asyncio.wait_for(coro, timeout)

    return run_on(loop, limited())


async def read_to_the_end(sock: socket.socket, timeout: float = 10.0) -> None:
    """Read a non-blocking socket until the server ends the connection: returns at an
    orderly end, raises ConnectionResetError at a reset (TimeoutError: it stayed open)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        while await loop.sock_recv(sock, 65536):
            pass


@contextlib.asynccontextmanager
async def manual_runtime(state: Path, ports: Ports) -> AsyncIterator[tuple[Runtime, ManualClock]]:
    """A runtime on ``state`` in virtual time, on ports reserved from ``ports``: the runtime
    and the clock the test moves (``await clock.advance(seconds)``)."""
    clock = ManualClock()
    async with Runtime(state, port=ports.udp(), http_port=ports.tcp(), clock=clock) as rt:
        yield rt, clock


async def enter_tftp_mode(runtime: Runtime, clock: ManualClock, device: str) -> None:
    """Hold ``device``'s reset button for 1.8 device seconds (the TFTP-mode press of
    Howto:Config or Password Recovery)."""
    released = runtime.press(device, 1.8)
    await clock.advance(1.8)
    await asyncio.wait_for(released, 5.0)


async def until_devices(
    runtime: Runtime, condition: Callable[[], bool], what: str, timeout: float = 20.0
) -> None:
    """Wait until ``condition()`` holds, looking at it again after each event a device of
    ``runtime`` reports (a mode, an address, a console line: what a condition on the
    devices reads changes in the step that reports one). No polling.

    ``timeout`` is in real seconds, and that is the right bound here: the devices run on
    a real clock (``ScaledClock``) beside real peers (dnsmasq, kamailio, the kernel)
    whose pace nothing in the test sets. After it, AssertionError names ``what``.
    """
    changed = asyncio.Event()
    waiting = True

    def listener(host: DeviceHost, event: Event) -> None:
        if waiting:
            changed.set()

    runtime.subscribe(listener)
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None
    finally:
        waiting = False


def udp_bound(address: tuple[str, int]) -> bool:
    """Whether a socket has UDP ``address`` (a bind to exactly it is refused)."""
    return not _bindable(address)


def wait_until_bound(
    address: tuple[str, int], proc: subprocess.Popen[bytes], what: str, timeout: float = 20.0
) -> None:
    """Wait until the server ``proc`` (started in another process) has bound UDP
    ``address``: the one sign that it listens, as it says so nowhere. It looks every
    20 ms, up to ``timeout`` real seconds (the server's pace is its own); AssertionError,
    naming ``what``, at once if the server ends, or after the timeout.
    """
    end = time.monotonic() + timeout
    while not udp_bound(address):
        if proc.poll() is not None:
            raise AssertionError(f"{what} ended (status {proc.returncode}) before it listened")
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not listen on {address} within {timeout:g} s")
        time.sleep(0.02)

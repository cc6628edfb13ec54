"""Helpers for tests that run devices on the loopback network with real sockets.

- :func:`free_udp_port`: an unprivileged UDP port nobody on this host has bound,
  outside the kernel's ephemeral range and the devices' TFTP transfer ports.
- :func:`free_tcp_port`: the same for TCP (the devices' web servers).
- :func:`free_loopback_ip`: a random 127.x.y.z address that is free on a port, so
  that tests running at the same time on one host do not meet.
- :func:`run`: run a coroutine to completion with a wall-clock limit (pytest-asyncio
  is not needed: a test is a plain function calling ``run(main())``).
- :func:`enter_tftp_mode`: hold a device's reset button for 1.8 device seconds with a
  :class:`~ipgwsim.runtime.clock.ManualClock`.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime

T = TypeVar("T")

#: Ports tried by :func:`free_udp_port`: below Linux's ephemeral range (32768-60999)
#: and the devices' TFTP transfer ports (49152-65535).
PORT_RANGE = (20000, 32000)

_rng = random.Random()


def _bindable(address: tuple[str, int], kind: socket.SocketKind = socket.SOCK_DGRAM) -> bool:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind(address)
    except OSError:
        return False
    finally:
        sock.close()
    return True


def free_udp_port(tries: int = 200) -> int:
    """A UDP port that no socket on this host has bound (checked on 0.0.0.0)."""
    for _ in range(tries):
        port = _rng.randint(*PORT_RANGE)
        if _bindable(("0.0.0.0", port)):
            return port
    raise RuntimeError(f"no free UDP port found in {PORT_RANGE} after {tries} tries")


def free_tcp_port(tries: int = 200) -> int:
    """A TCP port that no socket on this host has bound (checked on 0.0.0.0)."""
    for _ in range(tries):
        port = _rng.randint(*PORT_RANGE)
        if _bindable(("0.0.0.0", port), socket.SOCK_STREAM):
            return port
    raise RuntimeError(f"no free TCP port found in {PORT_RANGE} after {tries} tries")


def free_loopback_ip(port: int, tries: int = 200) -> str:
    """A random 127.x.y.z host address (not 127.0.0.1) that is free on ``port``."""
    for _ in range(tries):
        ip = f"127.{_rng.randint(1, 254)}.{_rng.randint(0, 255)}.{_rng.randint(2, 254)}"
        if _bindable((ip, port)):
            return ip
    raise RuntimeError(f"no free loopback address found for port {port}")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` in a new event loop; TimeoutError after ``timeout`` real seconds."""

    async def limited() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(limited())


async def enter_tftp_mode(runtime: Runtime, clock: ManualClock, device: str) -> None:
    """Hold ``device``'s reset button for 1.8 device seconds (the seed's TFTP-mode press)."""
    released = runtime.press(device, 1.8)
    await clock.advance(1.8)
    await asyncio.wait_for(released, 5.0)

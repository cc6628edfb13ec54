"""Helpers for tests that use a device's web server on loopback with curl.

- :func:`curl`: run the real curl; ``(HTTP status, body)``.
- :func:`short_press`: restart a device by a short press of its reset button (with
  ``ETH0 /dhcp auto`` it then takes the factory address) and wait for its web server.
"""

from __future__ import annotations

import asyncio

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.needs import find_program

__all__ = ["CURL", "curl", "short_press"]

#: The curl program, or None when it is not installed (scripts/setup installs it).
CURL = find_program("curl")


async def curl(*args: str) -> tuple[int, str]:
    """Run curl with ``args``; (HTTP status, body). A curl failure fails the caller."""
    assert CURL is not None, "curl is not installed (scripts/setup installs it)"
    proc = await asyncio.create_subprocess_exec(
        CURL, "-s", "-S", "--max-time", "20", "-w", "\n%{http_code}", *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    body, _, status = out.decode("utf-8", "replace").rpartition("\n")
    return int(status), body


async def short_press(rt: Runtime, clock: ManualClock, host: DeviceHost) -> str:
    """Restart ``host`` by a short press of its reset button; its web server's base URL."""
    released = rt.press(host.name, 0.3)
    await clock.advance(0.3)
    await asyncio.wait_for(released, 5)
    server = await host.web_settled()
    assert server is not None, host.errors
    return server.url.rstrip("/")

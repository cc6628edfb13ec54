"""The HTTP requests a device's firmware makes (``FetchRequested``), for its device host.

A fetch leaves from the address that serves the firmware's ETH0 address (on loopback,
``127.x``; in namespace mode, from inside the device's namespace); without one it cannot
leave and the firmware learns so at once (``network unreachable``). The result goes back
to the device in a step of its :class:`~ipgwsim.runtime.host.DeviceHost`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ipgwsim.proto.http import Fetch, FetchResult
from ipgwsim.runtime.netns import NamespaceNetwork
from ipgwsim.runtime.web import Fetcher

if TYPE_CHECKING:
    from ipgwsim.runtime.host import DeviceHost


class HostFetches:
    """The firmware's fetches of one device host (module docstring)."""

    def __init__(self, host: DeviceHost) -> None:
        self._host = host
        network = host.network
        factory = network.socket_factory(host) if isinstance(network, NamespaceNetwork) else None
        self.fetcher = Fetcher(self._fetched, log=host.log, socket_factory=factory)

    def start(self, fetch: Fetch) -> None:
        """Make the request from the device's address; without one it cannot leave."""
        host = self._host
        if host.web_ip is None:
            why = "has no address" if host.device.ip is None else "is not served (see above)"
            unreachable = FetchResult(
                fetch.request_id, None, b"", f"network unreachable: ETH0 {why}"
            )
            asyncio.get_running_loop().call_soon(self._fetched, unreachable)
            return
        self.fetcher.start(fetch, host.web_ip)

    def _fetched(self, result: FetchResult) -> None:
        host = self._host
        if not host.closed:
            host._step(lambda now: host.device.fetch_done(result, now))

    async def close(self) -> None:
        """Wait for the fetches under way to end (after the host closed)."""
        await self.fetcher.close()

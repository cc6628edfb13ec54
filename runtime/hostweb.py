"""The firmware's admin web server of one :class:`~ipgwsim.runtime.host.DeviceHost`.

The web server is served on the loopback address (or namespace address) that serves the
firmware's ETH0 address, from the firmware's ``AddressAssigned`` until that address is
released or the firmware stops. Starts and stops are chained: each waits for the one
before, so a restarted firmware never finds its old server still listening. Each request
is answered in a step of the device (:meth:`HostWeb.http`, :meth:`HostWeb.http_refusal`);
a password check the device asks for runs off the event loop
(:mod:`ipgwsim.runtime.logins`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, TypeVar

from ipgwsim.events import AddressAssigned
from ipgwsim.firmware.logins import PasswordCheck
from ipgwsim.proto.http import HttpRequest, HttpResponse
from ipgwsim.runtime.ports import http_bind_problem
from ipgwsim.runtime.web import WebServer

if TYPE_CHECKING:
    from ipgwsim.runtime.host import DeviceHost

T = TypeVar("T")


class HostWeb:
    """The web server chain of one device host (module docstring)."""

    def __init__(self, host: DeviceHost) -> None:
        self._host = host
        #: The firmware's admin web server while its address is served (None: not serving).
        self.server: WebServer | None = None
        #: The loopback address that serves the firmware's ETH0 address.
        self.ip: str | None = None
        #: Starts and stops of the web server, in order (each waits for the one before).
        self._task: asyncio.Task[None] | None = None
        #: Why the web server of the firmware's address could not listen (None: no such
        #: failure since the address was taken).
        self.error: str | None = None

    def serve(self, event: AddressAssigned) -> None:
        """The firmware took an address: serve it (the web server follows the address)."""
        host = self._host
        ip, problem = host.network.firmware_address(host, event.ip)
        if ip is None:
            host._problem(f"ETH0 {event.ip} is not served: {problem}")
            return
        if self.ip == ip:
            # The same address again (a DHCP renewal with another mask or router): the
            # web server stays; the address's mask and route follow.
            host._assign(ip, event.mask, event.gateway)
            return
        if self.ip is not None:
            self.stop()  # another address: the old one and its web server go
        host._assign(ip, event.mask, event.gateway)
        self.ip = ip
        listener = host.network.web_listener(host, ip, host.http_port)
        server = WebServer(
            ip,
            host.http_port,
            self.http,
            self.http_refusal,
            listener=listener,
            budget=host.connections,
            device=host.name,
        )
        host.console.write(f"HTTP: {server.url}")
        self._chain(self._start(server))

    def _chain(self, step: Coroutine[None, None, None]) -> None:
        previous = self._task

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await step

        self._task = asyncio.get_running_loop().create_task(run())

    async def _start(self, server: WebServer) -> None:
        if self._host.closed or self.ip != server.ip:
            return
        try:
            await server.start()
        except OSError as exc:
            self.error = http_bind_problem(server.ip, server.port, exc)
            self._host._problem(self.error)
            self._host.web_changed()
            return
        self.error = None
        self.server = server
        name = self._host.name
        self._host.log.debug(
            "%s: web server listening on %s", name, server.url, extra={"device": name}
        )
        self._host.web_changed()

    def stop(self) -> None:
        """The address goes (released after what was sent from it left), the server with it."""
        if self.ip is None:
            return
        self._host._release(self.ip)
        self.ip = None
        self.error = None
        self._chain(self._close())

    def close(self) -> None:
        """The host closes: the server goes (the network forgets the address itself)."""
        if self.ip is not None:
            self.ip = None
            self._chain(self._close())

    async def _close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.close()
            name = self._host.name
            self._host.log.debug(
                "%s: web server on %s stopped", name, server.url, extra={"device": name}
            )

    async def settled(self) -> WebServer | None:
        """Wait until the web server's starts and stops so far are done; the server."""
        while self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
        return self.server

    async def http_refusal(self, request: HttpRequest) -> HttpResponse | None:
        """The device's answer before the body is read; a password check it asks for is
        made off the event loop (:mod:`ipgwsim.runtime.logins`), its result given back."""
        device = self._host.device
        answer = self._ask(lambda now: device.http_refusal(request, now))
        if not isinstance(answer, PasswordCheck):
            return answer
        check = answer
        ok = await self._host.logins.verify(check)
        return self._ask(lambda now: device.http_checked(request, check, ok, now))

    def http(self, request: HttpRequest) -> HttpResponse:
        device = self._host.device
        answer = self._ask(lambda now: device.http(request, now))
        assert answer is not None  # Device.http always answers
        return answer

    def _ask(self, call: Callable[[float], T]) -> T | HttpResponse:
        """``call(now)``'s result, in a step of the device (503 or 500 when none came)."""
        if self._host.closed:
            return HttpResponse.text(503, "the device is gone\r\n")
        answers: list[T] = []
        self._host._step(lambda now: answers.append(call(now)))
        if not answers:
            return HttpResponse.text(500, "internal error in the device model\r\n")
        return answers[0]

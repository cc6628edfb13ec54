"""The connections typing at a device's console besides its pty, whatever carries them.

A TCP connection (raw or RFC 2217, :mod:`ipgwsim.runtime.consoletcp`) and a WebSocket of
the control API (``GET /v1/devices/D/console/ws``, :mod:`ipgwsim.runtime.api`) are the same
thing to the device: a terminal of its own (:mod:`ipgwsim.runtime.terminal`), whose session
starts at ``login: `` and ends with the connection, that is sent the device's time-stamped
lines and its own session's output, never what another terminal typed or was printed.
:class:`ConsoleClients` (one per device) admits each against the runtime's connection
budget (:class:`~ipgwsim.runtime.connlimit.ConnectionBudget`: a refused one is told why),
opens its terminal, sends it the device's lines and counts it out when it ends.

What a client is sent goes to its :class:`Sink` without waiting; a client that stops
reading while more than :data:`CLIENT_BUFFER` bytes wait for it is disconnected, so it
never holds up the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ipgwsim.runtime.connlimit import ConnectionBudget

__all__ = [
    "CLIENT_BUFFER",
    "ConsoleClient",
    "ConsoleClients",
    "ConsoleRefused",
    "OpenTerminal",
    "Sink",
    "Terminal",
]

#: Bytes that may wait for a client that does not read before it is disconnected.
CLIENT_BUFFER = 1 << 20


class Terminal(Protocol):
    """One connection's end of the console: what its client types, and its end."""

    def feed(self, data: bytes) -> None: ...

    def close(self) -> None: ...


#: Opens a connection's terminal; the argument is where its session prints.
OpenTerminal = Callable[[Callable[[bytes], None]], Terminal]


class Sink(Protocol):
    """Where a client's bytes go: its connection, written to without waiting."""

    def write(self, data: bytes) -> None: ...

    def buffered(self) -> int:
        """Bytes written and not yet taken by the client."""
        ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...


class ConsoleRefused(Exception):
    """The runtime's connection budget refused the client; the text says why."""


class ConsoleClient:
    """One connected client; ``escape`` turns what it is sent into its wire form (Telnet's
    IAC doubling for RFC 2217), None: as it is."""

    def __init__(self, sink: Sink, escape: Callable[[bytes], bytes] | None = None) -> None:
        self.sink = sink
        self._escape = escape
        #: Whether the last thing sent ended a line (a prompt may be open).
        self._at_line_start = True

    def line(self, text: str) -> None:
        """A time-stamped line of the device, on a line of its own."""
        data = (text + "\r\n").encode("utf-8", "replace")
        self.send(data if self._at_line_start else b"\r\n" + data)

    def send(self, data: bytes) -> None:
        sink = self.sink
        if sink.is_closing() or not data:
            return
        self._at_line_start = data.endswith(b"\n")
        if sink.buffered() > CLIENT_BUFFER:
            sink.close()  # it stopped reading: it must not hold the device's output
            return
        sink.write(self._escape(data) if self._escape is not None else data)


@dataclass(frozen=True, eq=False)
class Joined:
    """A client admitted: it, its terminal and the service it was counted under."""

    client: ConsoleClient
    terminal: Terminal
    service: str


class ConsoleClients:
    """The clients of one device's console, over every transport (module docstring)."""

    def __init__(
        self,
        open_terminal: OpenTerminal,
        *,
        budget: ConnectionBudget | None = None,
        device: str = "",
    ) -> None:
        self._open_terminal = open_terminal
        #: Counts the clients in with the runtime's connections (None: no limit).
        self._budget = budget
        self._device = device
        self._joined: set[Joined] = set()

    def join(
        self,
        sink: Sink,
        service: str,
        fd: int,
        escape: Callable[[bytes], bytes] | None = None,
    ) -> Joined:
        """Admit a client whose connection has descriptor ``fd`` and open its terminal
        (its session's ``login: `` is sent at once); :class:`ConsoleRefused` says why not."""
        if self._budget is not None:
            why = self._budget.admit(self._device, service, fd)
            if why is not None:
                raise ConsoleRefused(why)
        client = ConsoleClient(sink, escape)
        joined = Joined(client, self._open_terminal(client.send), service)
        self._joined.add(joined)
        return joined

    def leave(self, joined: Joined) -> None:
        """The client's connection ended: its session ends, it is counted out."""
        if joined not in self._joined:
            return
        self._joined.discard(joined)
        joined.terminal.close()
        if self._budget is not None:
            self._budget.release(self._device, joined.service)

    def send_line(self, line: str) -> None:
        """Send one of the device's time-stamped lines to every client."""
        for joined in list(self._joined):
            joined.client.line(line)

    def close(self) -> None:
        """Disconnect every client (each transport then calls :meth:`leave`)."""
        for joined in list(self._joined):
            joined.client.sink.close()

    def count(self, service: str | None = None) -> int:
        """Clients connected now (of ``service``; None: of every one)."""
        return sum(1 for j in self._joined if service is None or j.service == service)

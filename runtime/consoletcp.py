"""A device's console on TCP as well: raw (``socket://``) and RFC 2217 (``rfc2217://``).

Each device gets two listening sockets on 127.0.0.1: one for a plain byte stream
(pyserial's ``socket://127.0.0.1:P``, ``nc``, ``telnet`` without negotiation) and one
speaking Telnet with the RFC 2217 COM-port option (pyserial's ``rfc2217://127.0.0.1:Q``,
served by pyserial's own :class:`serial.rfc2217.PortManager` over a stand-in port
object whose settings a client may change at will: there is no real line). The sockets
are bound when the :class:`ConsoleTcp` is made (port 0: the system picks a free port),
so their ports are known at once; serving starts on the running event loop.

Each connection is a client of the device's :class:`~ipgwsim.runtime.consoleclients.ConsoleClients`
(as the control API's console WebSockets are): a terminal of its own
(:mod:`ipgwsim.runtime.terminal`): what its client types goes to its own console session,
which starts at ``login: `` and ends when the connection does, and only that session's
echo, prompts and output come back to it. The device's time-stamped lines go to every
client as to the pty; nothing the pty or another client typed or was printed does.
Several clients may be connected; a client that goes away, or that stops reading while
more than :data:`~ipgwsim.runtime.consoleclients.CLIENT_BUFFER` bytes wait for it (it is
disconnected), never disturbs the device. No threads: asyncio streams only.

The ports are open to every local user (TCP has no file mode), so the runtime serves them
only when asked to (``console_tcp``; ``docs/runtime.md``, *Who can use a console*).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, cast

import serial
from serial.rfc2217 import PortManager

from ipgwsim.runtime.consoleclients import ConsoleClients, ConsoleRefused, Joined
from ipgwsim.runtime.errors import RuntimeSetupError

#: The loopback address the consoles listen on.
CONSOLE_HOST = "127.0.0.1"


class _Line:
    """The serial port behind the RFC 2217 server: settings only, nothing to drive.

    :class:`~serial.rfc2217.PortManager` reads and sets these attributes when a client
    asks for a baud rate, a data size, flow control or the modem lines.
    """

    def __init__(self) -> None:
        self.baudrate = 115200
        self.bytesize = serial.EIGHTBITS
        self.parity = serial.PARITY_NONE
        self.stopbits = serial.STOPBITS_ONE
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False
        self.dtr = True
        self.rts = True
        self.cts = True
        self.dsr = True
        self.ri = False
        self.cd = True

    def reset_input_buffer(self) -> None:
        """A client's purge request: nothing is buffered here."""

    def reset_output_buffer(self) -> None:
        """A client's purge request: nothing is buffered here."""


class _Connection:
    """What :class:`~serial.rfc2217.PortManager` writes its negotiation to."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)


class _StreamSink:
    """A client's connection as a :class:`~ipgwsim.runtime.consoleclients.Sink`."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    def buffered(self) -> int:
        return self.writer.transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((CONSOLE_HOST, port))
        sock.listen(16)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class ConsoleTcp:
    """The raw and RFC 2217 listeners of one console (see the module docstring).

    ``raw_port`` / ``rfc2217_port``: 0 lets the system pick. Binding fails with
    :class:`OSError`; the caller reports it.
    """

    def __init__(
        self,
        clients: ConsoleClients,
        *,
        raw_port: int = 0,
        rfc2217_port: int = 0,
    ) -> None:
        #: The device's console clients (these connections and its WebSockets).
        self._console = clients
        self._clients: set[Joined] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        raw = _listen(raw_port)
        try:
            rfc = _listen(rfc2217_port)
        except OSError:
            raw.close()
            raise
        self.raw_port: int = raw.getsockname()[1]
        self.rfc2217_port: int = rfc.getsockname()[1]
        self._servers: list[asyncio.Server] = []
        self._closed = False
        self._starting = asyncio.ensure_future(self._serve(raw, rfc))

    @property
    def raw_url(self) -> str:
        return f"socket://{CONSOLE_HOST}:{self.raw_port}"

    @property
    def rfc2217_url(self) -> str:
        return f"rfc2217://{CONSOLE_HOST}:{self.rfc2217_port}"

    @property
    def clients(self) -> int:
        """How many clients are connected now."""
        return len(self._clients)

    async def _serve(self, raw: socket.socket, rfc: socket.socket) -> None:
        try:
            self._servers.append(await asyncio.start_server(self._raw_client, sock=raw))
            self._servers.append(await asyncio.start_server(self._rfc2217_client, sock=rfc))
        finally:
            # Closed before serving started (or start_server failed): nothing stays open.
            if self._closed or len(self._servers) < 2:
                for server in self._servers:
                    server.close()
                raw.close()
                rfc.close()

    async def _raw_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._client(reader, writer, None)

    async def _rfc2217_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # PortManager sends its option requests at once, through the connection.
        line = cast(Any, _Line())  # duck-typed: PortManager reads and sets its attributes
        manager = PortManager(line, cast(Any, _Connection(writer)))
        await self._client(reader, writer, manager)

    async def _client(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        manager: PortManager | None,
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        service = "console" if manager is None else "RFC 2217 console"
        sock = writer.get_extra_info("socket")
        escape = (lambda data: b"".join(manager.escape(data))) if manager is not None else None
        try:
            if self._closed:
                raise ConsoleRefused("the console is closing")
            joined = self._console.join(
                _StreamSink(writer), service, sock.fileno() if sock else -1, escape
            )
        except ConsoleRefused:
            writer.close()  # a refused one is closed at once
            if task is not None:
                self._handlers.discard(task)
            return
        self._clients.add(joined)
        try:
            while not writer.is_closing():
                data = await reader.read(4096)
                if not data:
                    break
                typed = b"".join(manager.filter(data)) if manager is not None else data
                if typed and not self._closed:
                    joined.terminal.feed(typed)
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(joined)
            self._console.leave(joined)  # the session ends with its connection
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    def close(self) -> None:
        """Stop listening and disconnect every client (:meth:`wait_closed` awaits it)."""
        if self._closed:
            return
        self._closed = True
        for server in self._servers:
            server.close()
        for joined in list(self._clients):
            joined.client.sink.close()

    async def wait_closed(self) -> None:
        """Wait until the listeners and the client handlers are gone."""
        self.close()
        with contextlib.suppress(Exception):
            await self._starting
        for server in self._servers:
            server.close()
            await server.wait_closed()
        handlers = [task for task in self._handlers if task is not asyncio.current_task()]
        if handlers:
            await asyncio.gather(*handlers, return_exceptions=True)


class ConsolePorts:
    """Which TCP ports each device's console gets, when the consoles are served on TCP.

    A port given for a device (and the next one); else, with a ``base``, the n-th device
    (from 0) numbered by the ports gets ``base + 2n`` and ``base + 2n + 1``; else the
    system picks free ones (0).
    """

    def __init__(self, enabled: bool, base: int | None) -> None:
        if base is not None and not 0 < base < 65535:
            raise RuntimeSetupError(f"console_port_base must be a TCP port (1-65534), not {base}")
        if base is not None and not enabled:
            raise RuntimeSetupError(
                f"console_port_base {base} needs console_tcp=True "
                "(the consoles on TCP are off by default)"
            )
        #: Whether the consoles are served on TCP too.
        self.enabled = enabled
        self.base = base
        #: Devices given ports from the base so far (the next one's offset from it).
        self._index = 0

    def check(self, port: int | None) -> None:
        """Refuse a console port for devices whose consoles are not served on TCP."""
        if port is not None and not self.enabled:
            raise RuntimeSetupError(
                f"console port {port} needs console_tcp=True "
                "(the consoles on TCP are off by default)"
            )

    def next(self, device: str, port: int | None = None) -> tuple[int, int]:
        """The raw and RFC 2217 ports of the next device's console (0: any)."""
        if port is not None:
            return port, port + 1
        raw = rfc = 0
        if self.base is not None:
            raw = self.base + 2 * self._index
            rfc = raw + 1
            if rfc > 65535:
                raise RuntimeSetupError(f"{device}: no console ports left above the base")
        self._index += 1
        return raw, rfc

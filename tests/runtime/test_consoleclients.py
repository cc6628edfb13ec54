"""A device's console clients, whatever carries them (one layer: sinks of the test's own)."""

from __future__ import annotations

from collections.abc import Callable

from ipgwsim.runtime.consoleclients import CLIENT_BUFFER, ConsoleClients


class Sink:
    """A connection that keeps what it is sent and never sends it on."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def buffered(self) -> int:
        return len(self.data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class Terminal:
    def __init__(self, say: Callable[[bytes], None]) -> None:
        say(b"login: ")
        self.closed = False

    def feed(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_close_of_some_services_leaves_the_others() -> None:
    """A transport closing its own clients (the console's TCP listeners) leaves the
    device's other clients (its WebSockets) connected."""
    clients = ConsoleClients(Terminal)
    tcp, rfc, ws = Sink(), Sink(), Sink()
    clients.join(tcp, "console", -1)
    clients.join(rfc, "RFC 2217 console", -1)
    clients.join(ws, "console WebSocket", -1)
    assert (clients.count("console"), clients.count()) == (1, 3)
    clients.close("console", "RFC 2217 console")
    assert (tcp.closed, rfc.closed, ws.closed) == (True, True, False)
    clients.close()
    assert ws.closed


def test_a_client_that_does_not_take_its_bytes_is_closed() -> None:
    """Once more than CLIENT_BUFFER bytes wait for a client, it is closed and is sent
    nothing more; the others still get every line."""
    clients = ConsoleClients(Terminal)
    slow, fine = Sink(), Sink()
    clients.join(slow, "console", -1)
    clients.join(fine, "console", -1)
    line = "x" * 1000
    for _ in range(CLIENT_BUFFER // 1000 + 2):
        clients.send_line(line)
        fine.data.clear()  # this one takes what it is sent
    assert slow.closed
    assert not fine.closed
    waited = len(slow.data)
    assert CLIENT_BUFFER < waited <= CLIENT_BUFFER + 1100
    clients.send_line(line)
    assert len(slow.data) == waited
    assert fine.data == (line + "\r\n").encode()

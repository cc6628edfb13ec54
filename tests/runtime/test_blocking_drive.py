"""The one blocking drive loop of the real-socket clients (runtime/blocking.py): what a
node queues is sent, what arrives is handed to it, a due deadline runs its timer, and
events reach the caller; the loop ends when the caller says so."""

from __future__ import annotations

import socket

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.runtime.blocking import drive


class Echoed:
    """Sends one datagram to ``peer``; done when it comes back (an event says so)."""

    def __init__(self, peer: Address) -> None:
        self.peer = peer
        self.outgoing = [Datagram(b"ping", ("0.0.0.0", 0), peer)]
        self.events: list[str] = []
        self.received: list[Datagram] = []
        self.timer: float | None = None
        self.timers: list[float] = []

    def accepts(self, dst: Address) -> bool:
        return True

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self.received.append(datagram)
        self.events.append("echoed")

    def datagrams_to_send(self) -> list[Datagram]:
        out, self.outgoing = self.outgoing, []
        return out

    def get_timer(self) -> float | None:
        return self.timer

    def handle_timer(self, now: float) -> None:
        self.timers.append(now)
        self.timer = None
        self.events.append("timer")

    def next_event(self) -> str | None:
        return self.events.pop(0) if self.events else None


def _sockets() -> tuple[socket.socket, socket.socket]:
    mine = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mine.bind(("127.0.0.1", 0))
    mine.setblocking(False)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(10)
    return mine, peer


def test_a_datagram_goes_out_and_its_answer_comes_in_with_the_hook_told() -> None:
    mine, peer = _sockets()
    try:
        node = Echoed(peer.getsockname())
        seen: list[str] = []
        hooked: list[tuple[str, bytes]] = []

        def echo(event: object) -> None:
            seen.append(str(event))

        # The peer answers as soon as the loop has sent (the loop sends before it waits).
        def done(now: float) -> bool:
            if not hooked:
                return False
            if len(hooked) == 1:
                data, src = peer.recvfrom(100)
                peer.sendto(data[::-1], src)
            return bool(node.received)

        drive(
            node,
            mine,
            on_event=echo,
            done=done,
            on_datagram=lambda direction, data, src, dst: hooked.append((direction, data)),
        )
        assert [d.data for d in node.received] == [b"gnip"]
        assert node.received[0].src == peer.getsockname()
        assert node.received[0].dst == mine.getsockname()
        assert seen == ["echoed"]
        assert hooked == [("sent", b"ping"), ("received", b"gnip")]
    finally:
        mine.close()
        peer.close()


def test_a_deadline_that_has_passed_runs_the_timer() -> None:
    mine, peer = _sockets()
    try:
        node = Echoed(peer.getsockname())
        node.timer = 0.0  # long past on the monotonic clock: no waiting
        seen: list[object] = []
        drive(node, mine, on_event=seen.append, done=lambda _: "timer" in seen)
        assert len(node.timers) == 1
        assert node.timers[0] >= 0.0
        assert seen == ["timer"]
    finally:
        mine.close()
        peer.close()

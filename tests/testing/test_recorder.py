"""The recorder: a node of the virtual network that keeps its events with their times."""

from __future__ import annotations

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.testing.recorder import Recorder
from ipgwsim.testing.vnet import Endpoint, VirtualNetwork

HERE: Address = ("10.0.0.1", 7)


class Beeper(Endpoint):
    """Beeps at 1.0 and 2.0; echoes a datagram and says so."""

    def __init__(self) -> None:
        super().__init__(*HERE, on_receive=self._echo)
        self.deadlines = [1.0, 2.0]
        self.queued: list[str] = ["born"]

    def _echo(self, datagram: Datagram, now: float) -> None:
        self.sendto(datagram.data, datagram.src)
        self.queued.append("echo")

    def get_timer(self) -> float | None:
        return self.deadlines[0] if self.deadlines else None

    def handle_timer(self, now: float) -> None:
        self.deadlines.pop(0)
        self.queued.append("beep")

    def next_event(self) -> str | None:
        return self.queued.pop(0) if self.queued else None


def test_events_are_kept_with_the_network_time_they_came_at() -> None:
    net = VirtualNetwork(delay=(0.25, 0.25))
    recorder = Recorder(Beeper(), lambda: net.now)
    peer = Endpoint("10.0.0.2", 9)
    net.attach(recorder)
    net.attach(peer)
    peer.sendto(b"hi", HERE)
    net.run(5.0)
    assert recorder.events == [(0.0, "born"), (0.25, "echo"), (1.0, "beep"), (2.0, "beep")]
    assert [d.data for d in peer.received] == [b"hi"]
    assert recorder.timed(str) == recorder.events


def test_take_keeps_what_a_test_made_the_node_emit_directly() -> None:
    net = VirtualNetwork()
    beeper = Beeper()
    recorder = Recorder(beeper, lambda: net.now)
    beeper.queued.append("poked")
    assert recorder.events == [(0.0, "born")]
    recorder.take()
    assert recorder.events == [(0.0, "born"), (0.0, "poked")]
    assert repr(recorder).startswith("Recorder(")

"""The node protocol and the one pump that drives any node, in virtual time."""

from __future__ import annotations

import pytest

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.node import MAX_ROUNDS, EventNode, EventSource, Node, Pump, drain_events
from ipgwsim.testing.vnet import Endpoint

HERE: Address = ("10.0.0.1", 7)
PEER: Address = ("10.0.0.2", 7)


class Echo:
    """Echoes every datagram, emits one event per input, and has a timer every second.

    An event ``"more"`` (from a datagram saying ``more``) makes it queue one more
    datagram only when its events are drained, as a device opening a port does.
    """

    def __init__(self) -> None:
        self.outbox: list[Datagram] = []
        self.events: list[str] = []
        self.deadline: float | None = 1.0
        self.log: list[tuple[str, float]] = []

    def accepts(self, dst: Address) -> bool:
        return dst == HERE

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self.log.append(("datagram", now))
        self.outbox.append(Datagram(datagram.data, HERE, datagram.src))
        self.events.append(datagram.data.decode())

    def datagrams_to_send(self) -> list[Datagram]:
        out, self.outbox = self.outbox, []
        return out

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        assert self.deadline is not None
        assert now >= self.deadline
        self.log.append(("timer", now))
        self.deadline = now + 1.0
        self.events.append("tick")

    def next_event(self) -> str | None:
        if not self.events:
            return None
        event = self.events.pop(0)
        if event == "more":
            self.outbox.append(Datagram(b"after", HERE, PEER))
        return event


def _quiet() -> Endpoint:
    """A node without events (an endpoint of the virtual network): it echoes, and has
    said hello before any pump saw it."""
    node = Endpoint(*HERE, on_receive=lambda d, now: node.sendto(d.data, d.src))
    node.sendto(b"hello", PEER)
    return node


def test_the_test_nodes_have_the_protocols_shape() -> None:
    echo: EventNode[str] = Echo()
    quiet: Node = _quiet()
    assert isinstance(echo, EventSource)
    assert not isinstance(quiet, EventSource)


def test_receive_hands_the_datagram_over_and_drains_events_then_datagrams() -> None:
    sent: list[Datagram] = []
    order: list[str] = []
    node = Echo()

    def send(datagram: Datagram) -> None:
        sent.append(datagram)
        order.append("send")

    pump: Pump[str] = Pump(node, send=send, sink=order.append)
    pump.receive(Datagram(b"ping", PEER, HERE), 0.25)
    assert node.log == [("datagram", 0.25)]
    assert sent == [Datagram(b"ping", HERE, PEER)]
    assert order == ["ping", "send"]  # events first: ports are known before datagrams go
    assert node.datagrams_to_send() == []
    assert node.next_event() is None


def test_an_event_that_makes_more_datagrams_is_followed_by_another_round() -> None:
    sent: list[Datagram] = []
    events: list[str] = []
    pump: Pump[str] = Pump(Echo(), send=sent.append, sink=events.append)
    pump.receive(Datagram(b"more", PEER, HERE), 0.0)
    assert events == ["more"]
    assert [d.data for d in sent] == [b"more", b"after"]


def test_timers_in_virtual_time_follow_the_deadline() -> None:
    events: list[str] = []
    node = Echo()
    pump: Pump[str] = Pump(node, send=lambda d: None, sink=events.append)
    now = 0.0
    while (deadline := pump.deadline) is not None and deadline <= 3.5:
        now = deadline
        pump.timer(now)
    assert node.log == [("timer", 1.0), ("timer", 2.0), ("timer", 3.0)]
    assert events == ["tick", "tick", "tick"]
    assert pump.deadline == 4.0


def test_without_a_sink_events_stay_in_the_node() -> None:
    sent: list[Datagram] = []
    node = Echo()
    pump: Pump[str] = Pump(node, send=sent.append)
    pump.receive(Datagram(b"ping", PEER, HERE), 0.0)
    assert sent == [Datagram(b"ping", HERE, PEER)]
    assert drain_events(node) == ["ping"]


def test_a_node_without_events_is_driven_too() -> None:
    sent: list[Datagram] = []
    pump: Pump[object] = Pump(_quiet(), send=sent.append, sink=lambda e: None)
    pump.flush()  # what it queued before the pump saw it
    assert [d.data for d in sent] == [b"hello"]
    pump.receive(Datagram(b"x", PEER, HERE), 0.0)
    assert [d.data for d in sent] == [b"hello", b"x"]
    assert pump.deadline is None


def test_a_node_that_emits_events_without_end_is_named() -> None:
    node = BoundedRounds()
    with pytest.raises(RuntimeError, match=f"{MAX_ROUNDS} rounds without end"):
        Pump(node, send=lambda d: None, sink=lambda e: None).flush()


class BoundedRounds(Echo):
    """Gives one event per round, and every event queues one more for the next round."""

    def __init__(self) -> None:
        super().__init__()
        self._armed = True

    def next_event(self) -> str | None:
        if self._armed:
            self._armed = False
            return "again"
        return None

    def datagrams_to_send(self) -> list[Datagram]:
        self._armed = True  # each send makes one more event: a node that never settles
        return []


def test_drain_events_returns_them_in_order() -> None:
    node = Echo()
    node.events = ["a", "b", "c"]
    assert drain_events(node) == ["a", "b", "c"]
    assert drain_events(node) == []


def test_settle_comes_after_each_rounds_datagrams() -> None:
    order: list[str] = []
    pump: Pump[str] = Pump(
        Echo(),
        send=lambda d: order.append(d.data.decode()),
        sink=lambda e: order.append(f"event {e}"),
        settle=lambda: order.append("settle"),
    )
    pump.receive(Datagram(b"more", PEER, HERE), 0.0)
    # round 1: the event, then both datagrams, settle; round 2 (an event came): quiet
    assert order == ["event more", "more", "after", "settle", "settle"]

"""The virtual network: delivery, broadcast, timers, faults, determinism, virtual time."""

from __future__ import annotations

import random

import pytest

from ipgwsim.proto.net import LIMITED_BROADCAST, Address, Datagram
from ipgwsim.testing.vnet import Delivery, Endpoint, Node, VirtualNetwork

DELAY = 0.0005


class Ticker:
    """A node with a list of deadlines; it records when its timer fires."""

    def __init__(self, name: str, deadlines: list[float], fired: list[tuple[float, str]]) -> None:
        self.name = name
        self.deadlines = sorted(deadlines)
        self.fired = fired
        self.outbox: list[Datagram] = []
        self.send_on_timer: Address | None = None

    def accepts(self, dst: Address) -> bool:
        return False

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        raise AssertionError("a ticker takes no datagrams")

    def datagrams_to_send(self) -> list[Datagram]:
        out, self.outbox = self.outbox, []
        return out

    def get_timer(self) -> float | None:
        return self.deadlines[0] if self.deadlines else None

    def handle_timer(self, now: float) -> None:
        assert self.deadlines
        assert now >= self.deadlines[0]
        self.deadlines.pop(0)
        self.fired.append((now, self.name))
        if self.send_on_timer is not None:
            self.outbox.append(Datagram(self.name.encode(), ("10.0.0.9", 9), self.send_on_timer))


def test_endpoint_is_a_node() -> None:
    node: Node = Endpoint("10.0.0.1", 69)
    assert node.get_timer() is None


# ---------------------------------------------------------------- delivery


def test_unicast_goes_to_the_node_with_that_address() -> None:
    net = VirtualNetwork()
    a = Endpoint("10.0.0.1", 69)
    b = Endpoint("10.0.0.2", 69)
    b_other_port = Endpoint("10.0.0.2", 70)
    for node in (a, b, b_other_port):
        net.attach(node)
    a.sendto(b"hi", ("10.0.0.2", 69))
    assert net.step()
    assert net.now == pytest.approx(DELAY)
    assert b.received == [Datagram(b"hi", ("10.0.0.1", 69), ("10.0.0.2", 69))]
    assert a.received == []
    assert b_other_port.received == []
    assert net.log == [Delivery(net.now, b.received[0], "delivered", 1)]
    assert not net.step()


def test_unicast_that_nobody_takes_is_unreachable() -> None:
    net = VirtualNetwork()
    a = Endpoint("10.0.0.1", 69)
    net.attach(a)
    a.sendto(b"x", ("10.0.0.3", 69))
    a.sendto(b"y", ("10.0.0.1", 68))
    net.run(1.0)
    assert [d.fate for d in net.log] == ["unreachable", "unreachable"]
    assert net.counters["unreachable"] == 2
    assert net.counters["delivered"] == 0
    assert net.counters["sent"] == 2


def test_wildcard_endpoint_takes_any_address_on_its_port() -> None:
    net = VirtualNetwork()
    server = Endpoint("0.0.0.0", 69)
    net.attach(server)
    net.send(Datagram(b"1", ("10.0.0.7", 1000), ("192.168.0.1", 69)))
    net.send(Datagram(b"2", ("10.0.0.7", 1000), ("127.0.0.1", 69)))
    net.send(Datagram(b"3", ("10.0.0.7", 1000), ("127.0.0.1", 70)))
    net.run(1.0)
    assert [d.data for d in server.received] == [b"1", b"2"]


def test_broadcast_reaches_every_listener_but_the_sender() -> None:
    net = VirtualNetwork()
    sender = Endpoint("0.0.0.0", 69, source_ip="0.0.0.0")
    listeners = [Endpoint("0.0.0.0", 69) for _ in range(3)]
    bound = Endpoint("10.0.0.1", 69)  # a socket bound to a unicast address
    other_port = Endpoint("0.0.0.0", 70)
    for node in (sender, *listeners, bound, other_port):
        net.attach(node)
    sender.sendto(b"who is there", (LIMITED_BROADCAST, 69))
    net.run(1.0)
    expected = Datagram(b"who is there", ("0.0.0.0", 69), (LIMITED_BROADCAST, 69))
    for listener in listeners:
        assert listener.received == [expected]
    assert sender.received == []
    assert bound.received == []
    assert other_port.received == []
    assert net.log == [Delivery(DELAY, expected, "delivered", 3)]


def test_broadcast_from_outside_reaches_everyone() -> None:
    net = VirtualNetwork()
    listeners = [Endpoint("0.0.0.0", 69) for _ in range(2)]
    for node in listeners:
        net.attach(node)
    net.send(Datagram(b"x", ("10.0.0.5", 5000), (LIMITED_BROADCAST, 69)))
    net.run(1.0)
    assert all(len(node.received) == 1 for node in listeners)


def test_broadcast_that_nobody_takes_is_unreachable() -> None:
    net = VirtualNetwork()
    sender = Endpoint("0.0.0.0", 69)
    net.attach(sender)
    sender.sendto(b"x", (LIMITED_BROADCAST, 69))
    net.run(1.0)
    assert [d.fate for d in net.log] == ["unreachable"]


def test_endpoint_source_address() -> None:
    wildcard = Endpoint("0.0.0.0", 5000)
    custom = Endpoint("0.0.0.0", 5000, source_ip="127.0.0.1")
    bound = Endpoint("192.168.0.1", 69)
    for node in (wildcard, custom, bound):
        node.sendto(b"x", ("1.2.3.4", 1))
    assert wildcard.datagrams_to_send()[0].src == ("10.0.0.100", 5000)
    assert custom.datagrams_to_send()[0].src == ("127.0.0.1", 5000)
    assert bound.datagrams_to_send()[0].src == ("192.168.0.1", 69)
    assert wildcard.datagrams_to_send() == []


def test_on_receive_can_answer() -> None:
    net = VirtualNetwork()
    server = Endpoint("10.0.0.1", 69)

    def echo(datagram: Datagram, now: float) -> None:
        server.sendto(datagram.data.upper(), datagram.src)

    server.on_receive = echo
    client = Endpoint("0.0.0.0", 4000)
    net.attach(server)
    net.attach(client)
    client.sendto(b"ping", ("10.0.0.1", 69))
    assert net.run_until(lambda: bool(client.received), timeout=1.0)
    assert client.received == [Datagram(b"PING", ("10.0.0.1", 69), ("10.0.0.100", 4000))]
    assert net.now == pytest.approx(2 * DELAY)


def test_attach_sends_what_a_node_queued_before() -> None:
    net = VirtualNetwork()
    b = Endpoint("10.0.0.2", 69)
    net.attach(b)
    a = Endpoint("10.0.0.1", 69)
    a.sendto(b"early", ("10.0.0.2", 69))
    net.attach(a)
    assert net.in_flight == 1
    net.run(1.0)
    assert [d.data for d in b.received] == [b"early"]


def test_detached_node_gets_nothing() -> None:
    net = VirtualNetwork()
    a = Endpoint("10.0.0.1", 69)
    b = Endpoint("10.0.0.2", 69)
    net.attach(a)
    net.attach(b)
    a.sendto(b"x", ("10.0.0.2", 69))
    net.detach(b)
    net.run(1.0)
    assert b.received == []
    assert net.counters["unreachable"] == 1
    assert net.nodes == (a,)
    with pytest.raises(ValueError, match="not attached"):
        net.detach(b)
    with pytest.raises(ValueError, match="attached already"):
        net.attach(a)


def test_what_a_detached_node_sent_still_arrives() -> None:
    net = VirtualNetwork()
    a = Endpoint("10.0.0.1", 69)
    b = Endpoint("10.0.0.2", 69)
    net.attach(a)
    net.attach(b)
    a.sendto(b"bye", ("10.0.0.2", 69))
    net.step()  # collects a's datagram and delivers it
    a.sendto(b"late", ("10.0.0.2", 69))
    net.detach(a)
    net.run(1.0)
    assert [d.data for d in b.received] == [b"bye"]


# ---------------------------------------------------------------- time


def test_timers_fire_in_time_order() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    net.attach(Ticker("c", [3.0, 0.5], fired))
    net.attach(Ticker("a", [1.0, 4.0], fired))
    net.attach(Ticker("b", [2.0], fired))
    while net.step():
        pass
    assert fired == [(0.5, "c"), (1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "a")]
    assert net.now == 4.0


def test_equal_deadlines_fire_in_attach_order() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    for name in ("x", "y", "z"):
        net.attach(Ticker(name, [1.0], fired))
    net.run(2.0)
    assert fired == [(1.0, "x"), (1.0, "y"), (1.0, "z")]


def test_arrival_comes_before_a_timer_at_the_same_time() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    server = Endpoint("10.0.0.1", 69, on_receive=lambda d, now: fired.append((now, "arrival")))
    net.attach(Ticker("timer", [DELAY], fired))
    net.attach(server)
    net.send(Datagram(b"x", ("10.0.0.2", 1), ("10.0.0.1", 69)))
    net.run(1.0)
    assert fired == [(DELAY, "arrival"), (DELAY, "timer")]


def test_a_timer_can_send() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    ticker = Ticker("t", [1.0], fired)
    ticker.send_on_timer = ("10.0.0.1", 69)
    server = Endpoint("10.0.0.1", 69)
    net.attach(ticker)
    net.attach(server)
    net.run(2.0)
    assert server.received == [Datagram(b"t", ("10.0.0.9", 9), ("10.0.0.1", 69))]
    assert net.log[0].time == pytest.approx(1.0 + DELAY)


def test_a_deadline_in_the_past_fires_now() -> None:
    net = VirtualNetwork()
    net.run(5.0)
    fired: list[tuple[float, str]] = []
    net.attach(Ticker("late", [1.0], fired))
    assert net.step()
    assert fired == [(5.0, "late")]
    assert net.now == 5.0


def test_a_node_that_never_clears_a_past_deadline_is_reported() -> None:
    class Stuck(Ticker):
        def handle_timer(self, now: float) -> None:
            self.fired.append((now, self.name))

    net = VirtualNetwork()
    net.attach(Stuck("stuck", [0.0], []))
    with pytest.raises(RuntimeError, match="deadline in the past"):
        net.run(1.0)


def test_run_stops_at_until() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    net.attach(Ticker("t", [1.0, 2.0, 3.0], fired))
    net.run(2.0)
    assert fired == [(1.0, "t"), (2.0, "t")]
    assert net.now == 2.0
    net.run(2.5)
    assert net.now == 2.5
    assert len(fired) == 2
    net.run(10.0)
    assert len(fired) == 3
    assert net.now == 10.0


def test_run_leaves_later_arrivals_in_flight() -> None:
    net = VirtualNetwork()
    b = Endpoint("10.0.0.2", 69)
    net.attach(b)
    net.send(Datagram(b"x", ("10.0.0.1", 1), ("10.0.0.2", 69)))
    net.run(DELAY / 2)
    assert b.received == []
    assert net.in_flight == 1
    net.run(DELAY)
    assert len(b.received) == 1


def test_an_empty_network() -> None:
    net = VirtualNetwork()
    assert net.now == 0.0
    assert not net.step()
    net.run(3.0)
    assert net.now == 3.0
    assert net.log == []


def test_run_until_true_when_the_predicate_holds() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    net.attach(Ticker("t", [1.0, 2.0, 3.0, 4.0], fired))
    assert net.run_until(lambda: len(fired) == 2, timeout=10.0)
    assert net.now == 2.0
    assert len(fired) == 2


def test_run_until_checks_before_stepping() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    net.attach(Ticker("t", [1.0], fired))
    assert net.run_until(lambda: True, timeout=10.0)
    assert net.now == 0.0
    assert fired == []


def test_run_until_times_out_in_virtual_time() -> None:
    net = VirtualNetwork()
    fired: list[tuple[float, str]] = []
    net.attach(Ticker("t", [float(i) for i in range(1, 100)], fired))
    net.run(0.5)
    assert not net.run_until(lambda: False, timeout=3.0)
    assert net.now == 3.5
    assert [t for t, _ in fired] == [1.0, 2.0, 3.0]


def test_run_until_times_out_when_nothing_is_pending() -> None:
    net = VirtualNetwork()
    assert not net.run_until(lambda: False, timeout=2.0)
    assert net.now == 2.0


# ---------------------------------------------------------------- faults


def _flood(net: VirtualNetwork, count: int, interval: float = 0.0) -> Endpoint:
    """Send ``count`` numbered datagrams to a receiver, ``interval`` apart; run to the end."""
    sender = Endpoint("10.0.0.1", 1000)
    receiver = Endpoint("10.0.0.2", 69)
    net.attach(sender)
    net.attach(receiver)
    for i in range(count):
        sender.sendto(i.to_bytes(4, "big"), ("10.0.0.2", 69))
        net.run(net.now + interval)
    net.run(net.now + 1.0)
    return receiver


def test_loss_statistics() -> None:
    net = VirtualNetwork(rng=random.Random(1), loss=0.3)
    receiver = _flood(net, 1000)
    lost = net.counters["lost"]
    assert 250 <= lost <= 350
    assert len(receiver.received) == 1000 - lost
    assert net.counters["delivered"] == 1000 - lost
    assert net.counters["sent"] == 1000
    assert sum(1 for d in net.log if d.fate == "lost") == lost


def test_duplicate_statistics() -> None:
    net = VirtualNetwork(rng=random.Random(2), duplicate=0.2)
    receiver = _flood(net, 1000)
    duplicated = net.counters["duplicated"]
    assert 150 <= duplicated <= 250
    assert len(receiver.received) == 1000 + duplicated
    numbers = [int.from_bytes(d.data, "big") for d in receiver.received]
    assert set(numbers) == set(range(1000))
    assert len(numbers) - len(set(numbers)) == duplicated


def _overtaken(numbers: list[int]) -> int:
    """How many arrived after a datagram that was sent later."""
    highest = -1
    count = 0
    for n in numbers:
        if n < highest:
            count += 1
        highest = max(highest, n)
    return count


def test_reorder_statistics() -> None:
    net = VirtualNetwork(rng=random.Random(3), reorder=0.2)
    receiver = _flood(net, 1000, interval=DELAY / 5)
    numbers = [int.from_bytes(d.data, "big") for d in receiver.received]
    assert sorted(numbers) == list(range(1000))
    assert 150 <= _overtaken(numbers) <= 250


def test_no_reorder_keeps_the_order() -> None:
    net = VirtualNetwork(rng=random.Random(3))
    receiver = _flood(net, 200, interval=DELAY / 5)
    assert [int.from_bytes(d.data, "big") for d in receiver.received] == list(range(200))


def test_delay_is_drawn_from_the_range() -> None:
    net = VirtualNetwork(rng=random.Random(4), delay=(0.001, 0.003))
    receiver = _flood(net, 200)
    times = [d.time for d in net.log if d.fate == "delivered"]
    assert len(receiver.received) == 200
    assert all(0.001 <= t <= 0.003 for t in times)
    assert max(times) - min(times) > 0.001


def _scenario(seed: int) -> list[Delivery]:
    net = VirtualNetwork(
        rng=random.Random(seed), loss=0.2, duplicate=0.1, reorder=0.3, delay=(0.0005, 0.002)
    )
    _flood(net, 300, interval=0.0003)
    return net.log


def test_same_seed_same_log() -> None:
    first = _scenario(42)
    assert first == _scenario(42)
    assert first != _scenario(43)
    assert {d.fate for d in first} == {"delivered", "lost", "duplicated"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": -0.1},
        {"loss": 1.5},
        {"duplicate": 2.0},
        {"reorder": -1.0},
        {"delay": (0.002, 0.001)},
        {"delay": (-0.001, 0.001)},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"probability|delay"):
        VirtualNetwork(**kwargs)  # type: ignore[arg-type]

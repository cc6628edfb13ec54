"""A device's link layer in virtual time: what each impairment does, seeded and repeatable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.utils import rdpcap

import ipgwsim.runtime.capture  # noqa: F401 - scapy dissects raw IPv4 (link type 228) as IP
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.link import REORDER_HOLD, Link
from ipgwsim.runtime.pcapng import CaptureFile
from ipgwsim.testing.loopback import run

DEVICE = ("127.0.0.5", 69)
CLIENT = ("127.0.0.1", 40000)


def datagram(n: int, size: int = 4) -> Datagram:
    return Datagram(n.to_bytes(size, "big"), DEVICE, CLIENT)


def number(d: Datagram) -> int:
    return int.from_bytes(d.data, "big")


class Bench:
    """A link of device ``name`` whose network and device are lists, with times."""

    def __init__(self, impairment: Impairment | None, name: str = "ip6000-1") -> None:
        self.clock = ManualClock()
        self.sent: list[tuple[float, Datagram]] = []
        self.delivered: list[tuple[float, Datagram]] = []
        self.link = Link(
            name,
            self.clock,
            transmit=lambda d: self.sent.append((self.clock.now(), d)),
            deliver=lambda ds: self.delivered.extend((self.clock.now(), d) for d in ds),
        )
        self.link.impair(impairment)

    def send(self, count: int, size: int = 4) -> None:
        for n in range(count):
            self.link.send(datagram(n, size))

    def sent_numbers(self) -> list[int]:
        return [number(d) for _, d in self.sent]


def virtual(test: Callable[[], object]) -> None:
    """Run ``test`` inside an event loop (the ManualClock schedules due timers on it)."""

    async def main() -> None:
        test()
        await asyncio.sleep(0)

    run(main())


def test_no_impairment_passes_everything_at_once() -> None:
    def test() -> None:
        bench = Bench(None)
        bench.send(5)
        bench.link.receive([datagram(9)])
        assert bench.sent_numbers() == [0, 1, 2, 3, 4]
        assert [number(d) for _, d in bench.delivered] == [9]
        counters = bench.link.counters()
        assert (counters.sent.datagrams, counters.received.datagrams) == (5, 1)
        assert counters.dropped == counters.duplicated == counters.corrupted == 0

    virtual(test)


@pytest.mark.parametrize("rate", [1, 30, 90])
def test_loss_rate_over_many_datagrams(rate: float) -> None:
    def test() -> None:
        bench = Bench(Impairment(loss=rate, seed=3))
        bench.send(10_000)
        dropped = bench.link.counters().sent.dropped
        # Binomial: 10000 draws, the standard deviation is below 50; 5 of them either way.
        assert abs(dropped - rate * 100) < 250
        assert len(bench.sent) == 10_000 - dropped
        assert bench.sent_numbers() == sorted(bench.sent_numbers())  # no reordering

    virtual(test)


def test_all_lost_and_nothing_lost() -> None:
    def test() -> None:
        everything = Bench(Impairment(loss=100, seed=1))
        everything.send(50)
        assert everything.sent == []
        assert everything.link.counters().sent.dropped == 50

    virtual(test)


def test_duplication_sends_a_second_copy_right_after() -> None:
    def test() -> None:
        bench = Bench(Impairment(duplicate=100, seed=1))
        bench.send(3)
        assert bench.sent_numbers() == [0, 0, 1, 1, 2, 2]
        assert bench.link.counters().sent.duplicated == 3
        some = Bench(Impairment(duplicate=10, seed=5))
        some.send(5000)
        duplicated = some.link.counters().sent.duplicated
        assert abs(duplicated - 500) < 120
        assert len(some.sent) == 5000 + duplicated

    virtual(test)


def expected_order(count: int, held: set[int]) -> list[int]:
    """Each held datagram follows the next one that was not held (the model)."""
    out: list[int] = []
    waiting: list[int] = []
    for n in range(count):
        if n in held:
            waiting.append(n)
        else:
            out += [n, *waiting]
            waiting = []
    return out + waiting


def test_reordering_a_held_datagram_follows_the_next_one() -> None:
    async def main() -> None:
        bench = Bench(Impairment(reorder=30, seed=11))
        bench.send(300)
        before = bench.sent_numbers()
        await bench.clock.advance(REORDER_HOLD)  # the last held ones go alone
        after = bench.sent_numbers()[len(before) :]
        held = {n for i, n in enumerate(before) if any(m > n for m in before[:i])} | set(after)
        assert bench.sent_numbers() == expected_order(300, held)
        assert len(held) == bench.link.counters().sent.reordered
        assert 60 < len(held) < 120  # about 30 % of 300
        assert sorted(bench.sent_numbers()) == list(range(300))  # nothing lost or doubled

    run(main())


def test_a_held_datagram_goes_alone_when_nothing_overtakes_it() -> None:
    async def main() -> None:
        bench = Bench(Impairment(reorder=100, seed=1))
        bench.send(1)
        await bench.clock.advance(REORDER_HOLD * 0.99)
        assert bench.sent == []
        await bench.clock.advance(REORDER_HOLD * 0.01)
        assert [(round(t, 9), number(d)) for t, d in bench.sent] == [(REORDER_HOLD, 0)]

    run(main())


def test_delay_in_device_time() -> None:
    async def main() -> None:
        bench = Bench(Impairment(delay=0.02, seed=1))
        bench.send(2)
        bench.link.receive([datagram(7)])
        assert bench.sent == bench.delivered == []
        await bench.clock.advance(0.019)
        assert bench.sent == bench.delivered == []
        await bench.clock.advance(0.001)
        assert [(round(t, 9), number(d)) for t, d in bench.sent] == [(0.02, 0), (0.02, 1)]
        assert [(round(t, 9), number(d)) for t, d in bench.delivered] == [(0.02, 7)]

    run(main())


def test_jitter_stays_in_its_window_and_never_reorders() -> None:
    async def main() -> None:
        bench = Bench(Impairment(delay=0.05, jitter=0.02, seed=4))
        sent_at = []
        for n in range(200):
            sent_at.append(bench.clock.now())
            bench.link.send(datagram(n))
            await bench.clock.advance(0.001)
        await bench.clock.advance(1)
        assert bench.sent_numbers() == list(range(200))
        waits = [t - sent_at[number(d)] for t, d in bench.sent]
        assert all(0.03 - 1e-9 <= w <= 0.07 + 1e-9 for w in waits)
        assert max(waits) - min(waits) > 0.02  # it does vary

    run(main())


def test_corruption_flips_one_bit() -> None:
    def test() -> None:
        bench = Bench(Impairment(corrupt=100, seed=2))
        originals = [datagram(n, size=64) for n in range(100)]
        for d in originals:
            bench.link.send(d)
        assert bench.link.counters().sent.corrupted == 100
        flipped = [
            sum(bin(a ^ b).count("1") for a, b in zip(o.data, s.data, strict=True))
            for o, (_, s) in zip(originals, bench.sent, strict=True)
        ]
        assert flipped == [1] * 100
        pairs = zip(originals, bench.sent, strict=True)
        assert all(s.src == o.src and s.dst == o.dst for o, (_, s) in pairs)
        empty = Datagram(b"", DEVICE, CLIENT)
        bench.link.send(empty)  # nothing to flip
        assert bench.sent[-1][1] == empty

    virtual(test)


def fates(impairment: Impairment, name: str = "ip6000-1") -> list[bytes]:
    bench = Bench(impairment, name)
    bench.send(500, size=8)
    return [d.data for _, d in bench.sent]


def test_the_same_seed_gives_the_same_fates() -> None:
    def test() -> None:
        imp = Impairment(loss=30, duplicate=10, reorder=10, corrupt=5, seed=7)
        assert fates(imp) == fates(imp)
        assert fates(imp.with_seed(0)) == fates(
            Impairment(loss=30, duplicate=10, reorder=10, corrupt=5)
        )
        assert Bench(Impairment(loss=1)).link.impairment == Impairment(loss=1, seed=0)  # shown
        assert fates(imp) != fates(imp.with_seed(8))
        assert fates(imp) != fates(imp, name="ip6000-2")  # each device draws its own

    virtual(test)


def test_direction_in_leaves_what_the_device_sends_alone() -> None:
    def test() -> None:
        bench = Bench(Impairment(loss=100, direction="in", seed=1))
        bench.send(3)
        bench.link.receive([datagram(5), datagram(6)])
        assert bench.sent_numbers() == [0, 1, 2]
        assert bench.delivered == []
        assert bench.link.counters().received.dropped == 2

    virtual(test)


def test_a_change_lets_what_waits_go_at_once() -> None:
    async def main() -> None:
        bench = Bench(Impairment(delay=1, seed=1))
        bench.send(2)
        bench.link.receive([datagram(5)])
        bench.link.impair(None)
        assert bench.sent_numbers() == [0, 1]
        assert [number(d) for _, d in bench.delivered] == [5]
        bench.send(1)
        assert bench.sent_numbers() == [0, 1, 0]
        await bench.clock.advance(2)
        assert bench.sent_numbers() == [0, 1, 0]  # nothing left over

    run(main())


def test_after_sent_waits_for_the_datagrams_before_it() -> None:
    async def main() -> None:
        bench = Bench(Impairment(delay=0.1, seed=1))
        done: list[str] = []
        bench.link.after_sent("now", lambda: done.append("now"))  # nothing waits: at once
        assert done == ["now"]
        bench.send(1)
        bench.link.after_sent("close", lambda: done.append(f"close after {len(bench.sent)}"))
        bench.link.after_sent("cancelled", lambda: done.append("cancelled"))
        bench.link.cancel("cancelled")
        assert done == ["now"]
        await bench.clock.advance(0.1)
        assert done == ["now", "close after 1"]

    run(main())


def test_captures_are_on_the_device_side(tmp_path: Path) -> None:
    path = tmp_path / "link.pcapng"

    def test() -> None:
        capture = CaptureFile(path)
        bench = Bench(Impairment(loss=100, seed=1))
        bench.link.capture(capture)
        bench.link.capture(capture)  # once per file
        bench.link.send(datagram(1))
        bench.link.receive([datagram(2)])
        bench.link.impair(Impairment(corrupt=100, duplicate=100, seed=1))
        bench.link.receive([datagram(3)])
        capture.close()

    virtual(test)
    packets = rdpcap(str(path))
    assert [p.sniffed_on for p in packets] == ["ip6000-1"] * 4
    assert [p.direction for p in packets] == [2, 1, 1, 1]
    comments = [[c.decode() for c in p.comments or []] for p in packets]
    assert comments[0] == ["impairment: dropped"]
    assert comments[1] == ["impairment: dropped, the device did not receive it"]
    assert comments[2][0].startswith("impairment: corrupted, bit ")
    assert comments[3][0].endswith(" flipped, duplicate")
    # What the device sent as it sent it; what it received as it got it (corrupted).
    assert bytes(packets[0]["UDP"].payload) == datagram(1).data
    assert bytes(packets[2]["UDP"].payload) != datagram(3).data

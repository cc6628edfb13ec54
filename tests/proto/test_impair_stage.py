"""The one impairment stage of datagrams, in virtual time (``now`` passed in), with the
runtime's ``Impairment`` as its settings."""

from __future__ import annotations

import itertools
import random

from ipgwsim.proto.impair import REORDER_HOLD, ImpairStage
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.impair import Impairment


def _datagram(n: int) -> Datagram:
    return Datagram(n.to_bytes(4, "big"), ("10.0.0.1", 1), ("10.0.0.2", 2))


def _stage(seed: int, settings: Impairment) -> ImpairStage:
    return ImpairStage(rates=settings, rng=random.Random(seed))


def _run(stage: ImpairStage, count: int, interval: float) -> list[tuple[float, int]]:
    """Offer ``count`` numbered datagrams ``interval`` apart; what comes out, when."""
    seq = itertools.count(1).__next__
    out: list[tuple[float, int]] = []
    for i in range(count):
        now = i * interval
        stage.offer(_datagram(i), now, seq)
        out += [(now, int.from_bytes(p.datagram.data, "big")) for p in stage.due(now)]
    while (release := stage.next_release()) is not None:
        out += [(release, int.from_bytes(p.datagram.data, "big")) for p in stage.due(release)]
    return out


def test_loss_drops_about_that_share_and_counts_it() -> None:
    stage = _stage(1, Impairment(loss=30))
    out = _run(stage, 1000, 0.001)
    assert 250 <= stage.counts.dropped <= 350
    assert len(out) == 1000 - stage.counts.dropped


def test_delay_with_jitter_stays_first_in_first_out() -> None:
    stage = _stage(2, Impairment(delay=0.02, jitter=0.01))
    out = _run(stage, 200, 0.001)
    assert [n for _, n in out] == list(range(200))
    times = [t for t, _ in out]
    assert times == sorted(times)


def test_a_reordered_datagram_follows_the_next_one() -> None:
    stage = _stage(3, Impairment(reorder=100))
    seq = itertools.count(1).__next__
    notes = stage.offer(_datagram(0), 0.0, seq)
    assert notes == ("held back (reordered)",)
    assert stage.due(0.0) == []
    assert stage.next_release() == REORDER_HOLD
    stage.rates = Impairment()  # the next one is not held
    stage.offer(_datagram(1), 0.01, seq)
    assert [p.datagram for p in stage.due(0.01)] == [_datagram(1), _datagram(0)]
    assert stage.pending == 0


def test_a_held_datagram_goes_alone_when_nothing_overtakes_it() -> None:
    stage = _stage(4, Impairment(reorder=100))
    stage.offer(_datagram(0), 0.0, itertools.count(1).__next__)
    assert stage.due(REORDER_HOLD * 0.99) == []
    assert [p.datagram for p in stage.due(REORDER_HOLD)] == [_datagram(0)]


def test_duplicates_and_corruption_are_noted() -> None:
    stage = _stage(5, Impairment(duplicate=100, corrupt=100))
    notes = stage.offer(_datagram(7), 0.0, itertools.count(1).__next__)
    assert notes is not None
    assert notes[0].startswith("corrupted, bit ")
    assert notes[-1] == "duplicated"
    first, second = stage.due(0.0)
    assert first.datagram == second.datagram != _datagram(7)
    assert second.notes[-1] == "duplicate"
    assert (stage.counts.duplicated, stage.counts.corrupted) == (1, 1)


def test_the_same_seed_gives_the_same_fates() -> None:
    settings = Impairment(loss=20, duplicate=10, reorder=30, delay=0.001, jitter=0.001)
    first = _run(_stage(42, settings), 300, 0.0003)
    assert first == _run(_stage(42, settings), 300, 0.0003)
    assert first != _run(_stage(43, settings), 300, 0.0003)

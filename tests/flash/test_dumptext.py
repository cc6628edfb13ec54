"""The ring dump holds config text only; the newest generation is found from the text."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ipgwsim.flash.dumptext import read_dump, several_generations
from ipgwsim.flash.errors import PowerLost
from ipgwsim.flash.faults import CutMode, FaultInjector, PowerCut
from ipgwsim.flash.formats import RING_MARKER
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.testing.flash import region_of, small_flash


def make_ring(sectors: int = 5, faults: FaultInjector | None = None) -> ConfigRing:
    flash = small_flash(sectors=sectors + 2, sector_size=256, unit=2, faults=faults)
    return ConfigRing(region_of(flash, "config", 1, sectors))


_MODULES = ("CMD0", "ETH0", "ETH1", "UP1", "NTP", "TEL", "GK1")


@st.composite
def histories(draw: st.DrawFn) -> list[str]:
    """Configs as the firmware writes them: each one the one before with one module's
    value changed or a module added last (modules keep their place)."""
    values = {"CMD0": "gw", "ETH0": "dhcp"}
    texts = []
    for step in range(draw(st.integers(2, 14))):
        module = draw(st.sampled_from(_MODULES[: len(values) + 1]))
        values[module] = f"v{step}-" + "y" * draw(st.integers(0, 50))
        texts.append("".join(f"config change {m} /x {v}\r\n" for m, v in values.items()))
    return texts


@settings(max_examples=60, deadline=None)
@given(histories())
def test_a_wrapped_ring_dumps_text_only_and_its_newest_is_found(texts: list[str]) -> None:
    ring = make_ring()
    for text in texts:
        ring.write(text)
    dump = ring.dump()
    assert RING_MARKER not in dump
    assert b"\xff" not in dump
    reading = read_dump(dump)
    assert reading.newest is not None
    assert reading.newest.text == texts[-1]
    assert reading.torn is None


def workload() -> list[str]:
    rng = random.Random(3)
    names = ["CMD0", "ETH0", "ETH1", "UP1", "NTP"]
    out = []
    count = 2
    for i in range(1, 31):
        # Modules are added as the firmware's history goes on, never dropped: a cut
        # first line of a new write is told from a cut line of the newest config only
        # when the newest holds the modules of the one before it.
        count = min(len(names), count + rng.randrange(0, 2))
        lines = [f"config change {m} /x v{i}-{'y' * rng.randrange(0, 40)}" for m in names[:count]]
        out.append("".join(line + "\r\n" for line in lines))
    return out


def test_a_torn_last_write_is_passed_over_at_every_cut() -> None:
    texts = workload()
    faults = FaultInjector()
    ring = make_ring(faults=faults)
    for text in texts:
        ring.write(text)
    total = faults.count
    misread = 0
    for at_op in range(1, total + 1):
        faults = FaultInjector(cut=PowerCut(at_op, CutMode.TORN), rng=random.Random(at_op))
        ring = make_ring(faults=faults)
        done = 0
        try:
            for text in texts:
                ring.write(text)
                done += 1
        except PowerLost:
            pass
        ring.partition.flash.power_on()
        dump = ConfigRing(ring.partition).dump()
        assert RING_MARKER not in dump, f"cut at {at_op}"
        found = read_dump(dump).newest
        committed = texts[done - 1] if done else None
        allowed = {committed, texts[done] if done < len(texts) else None}
        read = found.text if found is not None else None
        if read not in allowed:
            # Only a cut at a line end of the new text, which a text cannot tell
            # from a complete config (flash/SPEC.md 2.1).
            assert read is not None, f"cut at {at_op}"
            assert texts[done].startswith(read), f"cut at {at_op}"
            assert read.endswith("\r\n")
            misread += 1
    assert misread < total // 10


def test_a_whole_dump_sent_back_is_refused_naming_the_second_generation() -> None:
    ring = make_ring()
    for i in range(4):
        ring.write(f"config change CMD0 /name gw{i}\r\nconfig change ETH0 /dhcp off\r\n")
    dump = ring.dump()
    reason = several_generations(dump)
    assert reason is not None
    assert "config holds 4 generations" in reason
    assert "line 3 sets module CMD0 again" in reason
    newest = read_dump(dump).newest
    assert newest is not None
    assert several_generations(newest.data) is None

"""The impairment's text form: strict parsing, clear errors, and a round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.runtime.impair import (
    DirectionCounters,
    Impairment,
    ImpairmentError,
    LinkCounters,
)


def test_the_full_text_form() -> None:
    imp = Impairment.parse(
        "loss=30%,dup=10%,reorder=10%,delay=20ms,jitter=5ms,corrupt=1%,dir=in,seed=7"
    )
    assert imp == Impairment(
        loss=30, duplicate=10, reorder=10, corrupt=1, delay=0.02, jitter=0.005, direction="in",
        seed=7,
    )  # fmt: skip
    assert (
        imp.to_text()
        == "loss=30%,dup=10%,reorder=10%,corrupt=1%,delay=20ms,jitter=5ms,dir=in,seed=7"
    )


def test_names_and_units_in_any_case_spaces_around_parts() -> None:
    assert Impairment.parse(" LOSS = 2.5% , Delay=1.5S ") == Impairment(loss=2.5, delay=1.5)
    assert Impairment.parse("delay=250us").delay == pytest.approx(250e-6)
    assert Impairment.parse("dir=OUT,loss=1%").direction == "out"


@pytest.mark.parametrize("text", ["off", "none", " OFF ", "seed=9"])
def test_off_does_nothing(text: str) -> None:
    imp = Impairment.parse(text)
    assert not imp.active
    assert imp.to_text() == "off"
    assert not imp.applies_to("sent")
    assert not imp.applies_to("received")


def test_directions() -> None:
    both, inbound, outbound = (Impairment(loss=1, direction=d) for d in ("both", "in", "out"))
    assert (both.applies_to("sent"), both.applies_to("received")) == (True, True)
    assert (inbound.applies_to("sent"), inbound.applies_to("received")) == (False, True)
    assert (outbound.applies_to("sent"), outbound.applies_to("received")) == (True, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "an empty impairment: give settings such as loss=30%,delay=20ms, or off"),
        ("loss=30%,,dup=1%", "'loss=30%,,dup=1%': an empty setting between commas"),
        ("loss", "'loss': a setting is NAME=VALUE, e.g. loss=30%"),
        ("loss=", "'loss=': loss needs a value, e.g. loss=10%"),
        ("delay=", "'delay=': delay needs a value, e.g. delay=20ms"),
        (
            "drop=5%",
            "'drop=5%': unknown setting 'drop' "
            "(known: loss, dup, reorder, corrupt, delay, jitter, dir, seed)",
        ),
        ("loss=30", "'loss=30': loss is a percentage: write loss=30%"),
        ("dup=0.1", "'dup=0.1': dup is a percentage: write dup=0.1%"),
        ("loss=lots%", "'loss=lots%': 'lots' is not a number"),
        ("loss=nan%", "'loss=nan%': 'nan' is not a finite number"),
        ("loss=130%", "'loss=130%': loss must be 0% to 100%"),
        ("corrupt=-1%", "'corrupt=-1%': corrupt must be 0% to 100%"),
        ("delay=20", "'delay=20': delay needs a unit: 20ms, 20s or 20us"),
        ("delay=20min", "'delay=20min': unknown unit 'min' (units: ms, s, us)"),
        ("delay=fastms", "'delay=fastms': 'fast' is not a number"),
        ("jitter=-5ms", "'jitter=-5ms': jitter must not be negative"),
        ("delay=2h", "'delay=2h': unknown unit 'h' (units: ms, s, us)"),
        ("delay=4000s", "'delay=4000s': delay must be at most 3600s"),
        ("dir=up", "'dir=up': dir is in, out or both"),
        ("seed=-1", "'seed=-1': seed is a whole number >= 0"),
        ("seed=1.5", "'seed=1.5': seed is a whole number >= 0"),
        ("loss=1%,loss=2%", "'loss=2%': loss is given twice"),
    ],
)
def test_bad_text_is_refused_naming_the_part(text: str, message: str) -> None:
    with pytest.raises(ImpairmentError) as failure:
        Impairment.parse(text)
    assert str(failure.value) == message
    assert isinstance(failure.value, ValueError)  # the CLIs print it as one line


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"loss": 101}, "loss must be 0 to 100 (percent), not 101"),
        ({"duplicate": float("inf")}, "duplicate must be 0 to 100 (percent), not inf"),
        ({"reorder": True}, "reorder must be a percentage (a number), not True"),
        ({"delay": -0.1}, "delay must be 0 to 3600 seconds, not -0.1"),
        ({"jitter": "5ms"}, "jitter must be a number of seconds, not '5ms'"),
        ({"direction": "up"}, "direction must be in, out or both, not 'up'"),
        ({"seed": -3}, "seed must be a whole number >= 0, not -3"),
    ],
)
def test_bad_fields_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(
        ImpairmentError, match="^" + message.replace("(", r"\(").replace(")", r"\)")
    ):
        Impairment(**fields)  # type: ignore[arg-type]


rates = st.one_of(st.just(0.0), st.floats(0, 100, allow_nan=False))
times = st.one_of(st.just(0.0), st.floats(0, 3600, allow_nan=False))


@given(
    st.builds(
        Impairment,
        loss=rates,
        duplicate=rates,
        reorder=rates,
        corrupt=rates,
        delay=times,
        jitter=times,
        direction=st.sampled_from(["both", "in", "out"]),
        seed=st.one_of(st.none(), st.integers(0, 2**64)),
    )
)
def test_the_text_reads_back_as_the_same_impairment(imp: Impairment) -> None:
    again = Impairment.parse(imp.to_text())
    if imp.active:
        assert again == imp
    else:
        assert again == Impairment()


def test_counters_add_both_directions() -> None:
    counters = LinkCounters(DirectionCounters(10, 3, 1, 2, 0), DirectionCounters(8, 1, 0, 1, 4))
    assert (counters.dropped, counters.duplicated, counters.reordered, counters.corrupted) == (
        4, 1, 3, 4,
    )  # fmt: skip
    assert counters.as_dict()["received"] == {
        "datagrams": 8, "dropped": 1, "duplicated": 0, "reordered": 1, "corrupted": 4,
    }  # fmt: skip

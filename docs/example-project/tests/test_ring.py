"""Property-based tests of the site's ring parser, with dumps from simulated gateways.

The plugin's ``ipgwsim_devices`` factory gives each example a fresh device in virtual
time (no sockets): it is written a history of configs, each one the one before with a
module changed or added (as a gateway's configs follow one another; the IP811's ring is
four sectors, so longer ones wrap it), then its dump is read as ``tftp get config``
would.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipgwsim.proto.tftp import TransferComplete

from gwtools.ring import newest, parse_dump

IP = "10.0.0.5"
MODULES = ("CMD0", "ETH0", "ETH1", "NTP", "TEL", "GK1")

#: A new device per example (the fixtures are per test): Hypothesis is told so.
examples = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def histories(draw: st.DrawFn) -> list[str]:
    values = {"CMD0": "/name site"}
    written = []
    for step in range(draw(st.integers(1, 8))):
        module = draw(st.sampled_from(MODULES[: len(values) + 1]))
        values[module] = f"/name v{step}-" + "x" * draw(st.integers(0, 3000))
        written.append("".join(f"config change {m} {v}\r\n" for m, v in values.items()))
    return written


def dump_after_writing(lab, devices, written: list[str]) -> bytes:
    (gw,) = devices("IP811", 1)
    lab.press(gw, hold=1.8)  # TFTP mode
    lab.setip(gw, IP)
    try:
        for text in written:
            assert isinstance(lab.put(IP, "config", text.encode()), TransferComplete)
        return lab.get(IP, "config").data
    finally:
        lab.power_off(gw)  # the next example's device takes the address


@examples
@given(written=histories())
def test_the_newest_is_the_last_written(ipgwsim_lab, ipgwsim_devices, written: list[str]) -> None:
    dump = dump_after_writing(ipgwsim_lab, ipgwsim_devices, written)
    assert b"# config generation" not in dump  # config text only
    assert newest(dump) == written[-1]
    found = [g.decode() for g in parse_dump(dump)]  # the device's own config comes first
    kept = min(len(found), len(written))
    assert found[len(found) - kept :] == written[len(written) - kept :]  # in order


@given(written=histories(), cut=st.integers(1, 29))
def test_a_write_cut_in_its_first_line_is_passed_over(written: list[str], cut: int) -> None:
    dump = "".join(written).encode()
    assert newest(dump) == written[-1]
    torn = dump + b"config change CMD0 /name torn\r\n"[:cut]  # no line end
    if cut >= len("config change CMD0"):
        assert newest(torn) == written[-1]
    else:  # the module's name is not whole: it reads as the newest's torn last line
        assert newest(torn) == (written[-2] if len(written) > 1 else None)


@given(st.binary(max_size=4096))
def test_any_bytes_parse_without_an_exception(data: bytes) -> None:
    assert b"".join(parse_dump(data)) == data

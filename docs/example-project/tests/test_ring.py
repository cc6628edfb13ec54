"""Property-based tests of the site's ring parser, with dumps from simulated gateways.

The plugin's ``ipgwsim_devices`` factory gives each example a fresh device in virtual
time (no sockets): it is written configs of any size (the IP811's ring is four sectors,
so larger ones wrap it), then its dump is read as ``tftp get config`` would.
ipgwsim's own scanner is the oracle for damaged dumps.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipgwsim.flash.ring import scan_records
from ipgwsim.proto.tftp import TransferComplete
from ipgwsim.testing.strategies import configs

from gwtools.ring import newest, parse_dump

IP = "10.0.0.5"
PAD = "config change CMD0 /name padding-padding\r\n"

#: Configs from one line to about 40 KiB (the device refuses an empty one).
texts = st.builds(lambda c, n: c.render() + PAD * n, configs(), st.integers(1, 1000))
#: A new device per example (the fixtures are per test): Hypothesis is told so.
examples = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


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
@given(written=st.lists(texts, min_size=1, max_size=8))
def test_the_newest_is_the_last_written(ipgwsim_lab, ipgwsim_devices, written: list[str]) -> None:
    dump = dump_after_writing(ipgwsim_lab, ipgwsim_devices, written)
    records = parse_dump(dump)
    assert newest(dump) == written[-1]
    numbers = [r.generation for r in records]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # no gaps
    found = [r.text for r in records if r.text in written]
    assert found == written[len(written) - len(found) :]  # the newest ones, in order


@examples
@given(
    written=st.lists(texts, min_size=1, max_size=4),
    damage=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
)
def test_damaged_dumps_agree_with_the_device_scanner(
    ipgwsim_lab, ipgwsim_devices, written: list[str], damage: list[tuple[float, int]]
) -> None:
    dump = bytearray(dump_after_writing(ipgwsim_lab, ipgwsim_devices, written))
    for where, value in damage:
        dump[int(where * len(dump))] = value
    expected = sorted((g.number, g.text) for g in scan_records(bytes(dump)))
    assert [(r.generation, r.text) for r in parse_dump(bytes(dump))] == expected


@given(st.binary(max_size=4096))
def test_any_bytes_parse_without_an_exception(data: bytes) -> None:
    assert parse_dump(data) == sorted(parse_dump(data))

"""The fuzzing harness's short run (every surface, a few hundred inputs) and checks that
its checks do fail where they must. The long run is ``scripts/fuzz`` (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import strategies as st

from ipgwsim.proto import gwload
from ipgwsim.proto.net import Datagram
from ipgwsim.testing.fuzz import Surface, surfaces
from ipgwsim.testing.fuzz.__main__ import main
from ipgwsim.testing.fuzz.bench import MAX_REPLIES, Bench
from ipgwsim.testing.fuzz.parsers import _round_trip
from ipgwsim.testing.fuzz.runner import hypothesis_test, run
from ipgwsim.testing.fuzz.seeds import DEVICE_IP
from ipgwsim.testing.loopback import Ports

#: Inputs per surface in the suite: the whole harness well under a minute on 2 cores.
EXAMPLES = 300


@pytest.mark.parametrize("name", list(surfaces()))
def test_surface_survives_hostile_input(name: str, ports: Ports) -> None:
    surface = surfaces()[name]
    udp, tcp = (ports.udp(), ports.tcp()) if surface.needs_ports else (0, 0)
    with surface.setup(udp, tcp) as context:
        hypothesis_test(surface, context, examples=EXAMPLES)()


def test_every_surface_of_the_issue_has_a_target() -> None:
    wanted = {"gwload", "tftp-request", "tftp-transfer", "http-admin", "console", "control"}
    wanted |= {"sip", "dhcp", "netbios"}
    assert wanted <= set(surfaces())
    assert all(s.crash and s.entry for s in surfaces().values())


# -- the checks fail where they must ---------------------------------------------------------


def test_a_device_that_is_off_after_the_input_is_a_crash() -> None:
    bench = Bench()
    bench.lab.power_off(bench.gw)
    with pytest.raises(AssertionError, match="the device is off after input"):
        bench.settle()


def test_a_flood_of_replies_is_a_crash() -> None:
    bench = Bench()
    bench.tftp_mode()
    bench.sent = 1
    reply = Datagram(b"\0\x05\0\0x\0", (DEVICE_IP, 69), bench.peer.address)
    bench.peer.received.extend([reply] * (MAX_REPLIES + 1))
    with pytest.raises(AssertionError, match=f"{MAX_REPLIES + 1} replies to 1 datagrams"):
        bench.check_bounded()


def test_a_record_the_encoder_changes_is_a_crash() -> None:
    def lossy(message: gwload.Message) -> bytes:
        return gwload.encode_message(gwload.Discover(message.xid + 1, message.mac, 0))

    check = _round_trip(gwload.parse_message, lossy, gwload.MalformedMessage)
    good = gwload.encode_message(gwload.Discover(7, gwload.ANY_MAC, 0))
    check(None, b"\0")  # malformed: the parser's own error
    with pytest.raises(AssertionError):
        check(None, good)


def test_the_device_that_stops_serving_tftp_is_a_crash() -> None:
    bench = Bench()
    bench.tftp_mode()
    bench.lab.net.detach(bench.gw)  # no more answers from the device
    with pytest.raises(AssertionError, match="no HELLO"):
        bench.check_tftp_mode_serves()
    assert bench.device.ip == DEVICE_IP


def _broken() -> Surface:
    def check(_: None, data: bytes) -> None:
        if len(data) > 3:
            raise KeyError("a parser bug")

    @contextlib.contextmanager
    def setup(udp: int, tcp: int) -> Iterator[None]:
        yield None

    return Surface("broken", "a test's", "any exception", st.binary(), check, bytes, setup)


def test_the_long_run_counts_inputs_and_reports_the_crash() -> None:
    result = run(_broken(), examples=500)
    assert result.tried > 0
    assert len(result.crashes) == 1
    assert "KeyError: 'a parser bug'" in result.crashes[0]


def test_the_runner_lists_surfaces_and_refuses_unknown_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--list"]) == 0
    assert "tftp-transfer: Device.receive_datagram" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["--surface", "nfs"])
    assert exit_.value.code == 2
    assert "unknown surface nfs (surfaces: gwload-parser" in capsys.readouterr().err


def test_the_runner_prints_inputs_per_surface(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--surface", "rtp-parser", "--surface", "gwload", "--examples", "20"]) == 0
    out = capsys.readouterr().out
    assert "rtp-parser" in out
    assert "gwload " in out
    assert "total                   40 inputs, 0 surface(s) crashed" in out

"""The synchronous Python API (ipgwsim.testing.simulator) with the tools users have.

gwload is the project's command line run as a program; TFTP is tftp-hpa's ``tftp``, HTTP
is curl, the console is pyserial on the device's pty. Time is virtual unless a test says
otherwise: a 15 s press returns at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from pyroute2 import netns

from ipgwsim.events import ButtonBlink, Led, LedChanged, Mode, ModeChanged
from ipgwsim.firmware.config import with_admin_password
from ipgwsim.flash.dumptext import newest_generation
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.impair import Impairment
from ipgwsim.testing.loopback import Ports
from ipgwsim.testing.simulator import Gateway, Simulator, WaitTimeout

pytestmark = pytest.mark.integration

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]
need_tftp = pytest.mark.requires("tftp")
need_curl = pytest.mark.requires("curl")
need_root = pytest.mark.requires("netns")


def gwload(sim: Simulator, *args: str) -> subprocess.CompletedProcess[str]:
    """gwload as a user types it; on loopback with the simulator's port and broadcast."""
    where = [] if sim.network == "netns" else ["/port", str(sim.port), "/bcast", "127.255.255.255"]
    return sim.run(*GWLOAD, *args, *where)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(tmp_path / "state") as simulator:
        yield simulator
    assert simulator.leftovers() == []


@need_tftp
def test_gwload_run_by_the_simulator_is_not_redirected_by_the_shell(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ports: Ports
) -> None:
    """gwload's settings exported in the user's shell, all wrong for this simulator (a
    port nothing listens on, a broadcast no device hears, a state directory with no
    runtime): ``sim.run`` gives gwload the simulator's own port and broadcast."""
    monkeypatch.setenv("IPGWSIM_GWLOAD_PORT", str(ports.udp()))
    monkeypatch.setenv("IPGWSIM_GWLOAD_BCAST", "127.0.0.1")
    monkeypatch.setenv("IPGWSIM_STATE", str(tmp_path / "elsewhere"))
    sim.add("IP6000").press(1.8)
    done = sim.run(*GWLOAD, "/scan", "/json")
    assert done.returncode == 0, done.stdout
    doc = json.loads(done.stdout[done.stdout.index("{") :])
    assert (doc["port"], doc["broadcast"]) == (sim.port, "127.255.255.255")
    assert [device["model"] for device in doc["devices"]] == ["IP6000"]


@need_curl
def test_the_tftp_recovery_with_the_tools_users_have(sim: Simulator, tmp_path: Path) -> None:
    gw = sim.add("IP6000")
    assert gw.status().mode is Mode.FIRMWARE
    gw.press(1.8)  # the press of Howto:Config or Password Recovery
    assert sim.now() == pytest.approx(1.8)
    assert gw.mode is Mode.TFTP_MODE
    assert gw.led is Led.ORANGE
    assert len(gw.of_type(ButtonBlink)) == 3
    assert gw.ip is None

    done = gwload(sim, "/gwtype", "6000", "/i", "127.0.0.5", "/setip")
    assert done.returncode == 0, done.stdout
    assert gw.ip == gw.address == "127.0.0.5"
    dump = tmp_path / "config.txt"
    where = [gw.address, str(sim.port)]
    got = sim.run("tftp", "-m", "binary", *where, "-c", "get", "config", str(dump))
    assert got.returncode == 0, got.stdout
    newest = newest_generation(dump.read_bytes())
    assert newest is not None
    assert newest.text == gw.newest_config()

    edited = tmp_path / "new.txt"
    edited.write_text(with_admin_password(newest.text, "admin", "s3cret"), newline="")
    done = gwload(sim, "/gwtype", "6000", "/i", "127.0.0.5", "/setip", "/cfg", str(edited))
    assert done.returncode == 0, done.stdout
    gw.wait_for(Mode.FIRMWARE, led=Led.GREEN)

    gw.login("admin", "s3cret")
    assert "config change CMD0 /name IP6000" in gw.command("config show")
    with pytest.raises(PermissionError, match="refused"):
        gw.login("admin", "ip6000")
    # Out of TFTP mode entered by the button, /dhcp auto gives the factory address,
    # 192.168.0.1, which loopback serves as 127.168.0.1.
    assert gw.ip == gw.address == "127.168.0.1"
    assert gw.url == f"http://127.168.0.1:{sim.http_port}"
    code = "%{http_code}"
    for password, status in (("s3cret", "200"), ("ip6000", "401")):
        out = sim.run("curl", "-s", "-o", "/dev/null", "-w", code, "-u", f"admin:{password}",
                      f"{gw.url}/!config%20show")  # fmt: skip
        assert out.stdout == status


@need_curl
def test_a_firmware_address_is_served_where_the_host_reaches_it(sim: Simulator) -> None:
    gw = sim.add("IP811")
    gw.configure("config change ETH0 /addr 192.168.0.1 /mask 255.255.255.0")
    assert gw.ip == gw.address == "127.168.0.1"  # 192.168.0.1 on loopback
    assert gw.url == f"http://127.168.0.1:{sim.http_port}"
    out = sim.run("curl", "-s", "-u", "admin:ip811", f"{gw.url}/!config%20show")
    assert out.returncode == 0
    assert "config change ETH0 /addr 192.168.0.1" in out.stdout
    home = sim.run("curl", "-s", "-u", "admin:ip811", f"{gw.url}/")
    assert "Conference 30 Channels" in home.stdout  # the IP811's 30 conference channels
    refused = sim.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{gw.url}/")
    assert refused.stdout == "401"


def test_a_long_press_clears_the_config_in_no_real_time(sim: Simulator) -> None:
    gw = sim.add("IP6000")
    gw.login("admin", "ip6000")
    gw.command("config change CMD0 /name keep-me")
    gw.command("config write")
    assert "keep-me" in (gw.newest_config() or "")
    started = sim.now()
    gw.press(15.0)
    gw.wait_for(Mode.TFTP_MODE)
    assert sim.now() - started >= 15.0
    assert "keep-me" not in (gw.newest_config() or "")
    colours = [event.led for event in gw.of_type(LedChanged)]
    assert Led.GREEN_FLASHING_FAST in colours  # clearing


def test_a_power_cut_during_a_config_write(sim: Simulator) -> None:
    gw = sim.add("IP6000")
    before = gw.newest_config()
    gw.login("admin", "ip6000")
    gw.command("config change CMD0 /name cut-short")
    at = gw.cut_power(1, "torn")
    assert at >= 1
    gw.type("config write\r")
    assert gw.mode is Mode.OFF
    assert any("power cut" in line for line in gw.console_lines())
    gw.power_on()
    gw.wait_for(Mode.FIRMWARE)
    # The torn write is not a generation: the newest is the one before it.
    assert gw.newest_config() == before


def test_the_console_with_pyserial(sim: Simulator, tmp_path: Path) -> None:
    gw = sim.add("IP6000")
    assert gw.console_url is None  # the consoles on TCP are off by default
    with serial.Serial(gw.console_path, timeout=5) as port:
        port.write(b"\r")
        assert port.read_until(b"login: ").endswith(b"login: ")
        port.write(b"admin\rip6000\r")
        assert port.read_until(b"IP6000> ").endswith(b"IP6000> ")
    with Simulator(tmp_path / "tcp", console_tcp=True) as tcp:
        url = tcp.add("IP6000").console_url
        assert url is not None
        with serial.serial_for_url(url, timeout=5) as port:
            port.write(b"\radmin\rip6000\r")  # a login of its own
            assert port.read_until(b"IP6000> ").endswith(b"IP6000> ")
            port.write(b"config show\r")
            assert b"config change CMD0 /name IP6000" in port.read_until(b"IP6000> ")


def test_events_from_the_power_on_are_kept(sim: Simulator) -> None:
    gw = sim.add("IP6000")
    (started,) = gw.of_type(ModeChanged)  # during add(): before the Gateway existed
    assert started.mode is Mode.FIRMWARE
    gw.press(1.8)
    assert [e.mode for e in gw.of_type(ModeChanged)] == [Mode.FIRMWARE, Mode.TFTP_MODE]
    times = [t for t, _ in gw.timed_events()]
    assert times == sorted(times)
    assert times[-1] == pytest.approx(1.8)


def test_wait_for_says_what_the_device_did_instead(sim: Simulator) -> None:
    gw = sim.add("IP6000")
    started = sim.now()
    with pytest.raises(WaitTimeout, match=r"not mode TFTP_MODE after 30 device.*FIRMWARE"):
        gw.wait_for(Mode.TFTP_MODE, timeout=30.0)
    assert sim.now() >= started + 30.0  # the device's own timers ran to the end


def test_wait_for_an_led_and_a_predicate(sim: Simulator) -> None:
    gw = sim.add("IP6000", empty_firmware=True)
    gw.wait_for(Mode.TFTP_MODE, led=Led.RED_FLASHING)
    seen: list[Gateway] = []

    def has_an_address(g: Gateway) -> bool:
        seen.append(g)
        return g.ip is not None

    done = gwload(sim, "/gwtype", "6000", "/i", "127.0.0.9", "/setip")
    assert done.returncode == 0, done.stdout
    gw.wait_for(until=has_an_address)
    assert seen
    assert seen[-1] is gw
    assert gw.ip == "127.0.0.9"


def test_scaled_time_runs_with_the_clock(tmp_path: Path) -> None:
    with Simulator(tmp_path / "state", speed=50.0) as sim:
        gw = sim.add("IP0011")
        gw.press(1.8)  # 36 ms of real time
        assert gw.mode is Mode.TFTP_MODE
        with pytest.raises(RuntimeSetupError, match="virtual time"):
            sim.advance(1.0)
        before = sim.now()
        sim.elapse(0.5)  # 10 ms of real time: the same call as in virtual time
        assert sim.now() - before >= 0.5
        gw.power_cycle(off_for=0.5)
        gw.wait_for(Mode.FIRMWARE)
    assert sim.leftovers() == []


def test_in_scaled_time_a_press_comes_while_another_thread_waits(tmp_path: Path) -> None:
    """A real clock moves by itself: a wait holds nothing that a press from another thread
    needs (in virtual time such calls take turns instead)."""
    with Simulator(tmp_path / "state", speed=50.0) as sim:
        gw = sim.add("IP0011")
        gw.wait_for(Mode.FIRMWARE)
        failures: list[BaseException] = []

        def waiter() -> None:
            try:
                gw.wait_for(Mode.TFTP_MODE, timeout=600.0)
            except BaseException as exc:  # what the waiter meets is the result
                failures.append(exc)

        thread = threading.Thread(target=waiter)
        thread.start()
        gw.press(1.8)
        thread.join(60)
        assert not thread.is_alive()
        assert failures == []
        assert gw.mode is Mode.TFTP_MODE


def test_close_leaves_nothing_and_refuses_further_calls(tmp_path: Path) -> None:
    sim = Simulator()  # a temporary state directory of its own
    gw = sim.add("IP800")
    state = sim.state_dir
    assert sim.leftovers() == ["thread ipgwsim-simulator still runs", f"state directory {state}"]
    assert state.exists()
    sim.close()
    sim.close()  # idempotent
    assert sim.leftovers() == []
    assert not state.exists()
    with pytest.raises(RuntimeSetupError, match="closed"):
        gw.press(1.0)
    with pytest.raises(RuntimeSetupError, match="closed"):
        sim.add("IP800")


def test_a_given_state_directory_keeps_the_flash(tmp_path: Path) -> None:
    with Simulator(tmp_path / "state") as sim:
        gw = sim.add("IP6000")
        gw.login("admin", "ip6000")
        gw.command("config change CMD0 /name remembered")
        gw.command("config write")
    with Simulator(tmp_path / "state") as sim:
        gw = sim.add("IP6000")  # the same device, from its saved flash
        assert "remembered" in (gw.newest_config() or "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"network": "wifi"}, "network 'wifi' is not available"),
        ({"speed": 0}, "speed must be a positive number"),
        ({"speed": float("nan")}, "speed must be a positive number"),
        ({"attach": "host"}, "attach needs network='netns'"),
        ({"lab_address": "192.168.0.300/24"}, "lab_address must be an IPv4 address"),
    ],
)
def test_bad_options_say_what_is_wrong(options: dict[str, object], message: str) -> None:
    with pytest.raises(RuntimeSetupError, match=message):
        Simulator(**options)  # type: ignore[arg-type]


def test_bad_calls_say_what_is_wrong(sim: Simulator) -> None:
    with pytest.raises(RuntimeSetupError, match="count must be 1 or more"):
        sim.add_many("IP6000", 0)
    with pytest.raises(LookupError, match="IP9999"):
        sim.add("IP9999")
    with pytest.raises(RuntimeSetupError, match="0 or more"):
        sim.advance(-1)
    with pytest.raises(RuntimeSetupError, match="seconds must be 0 or more, not nan"):
        sim.elapse(float("nan"))
    before = sim.now()
    sim.elapse(2.5)
    assert sim.now() - before == 2.5
    gw = sim.add("IP6000")
    with pytest.raises(RuntimeSetupError, match="not logged in"):
        gw.command("config show")
    gw.power_off()
    with pytest.raises(RuntimeSetupError, match="no firmware runs"):
        gw.login("admin", "ip6000")


@need_root
@need_tftp
@need_curl
def test_namespaces_with_a_lab_of_their_own(tmp_path: Path) -> None:
    with Simulator(tmp_path / "state", network="netns", speed=10.0) as sim:
        first, second = sim.add_many("IP811", 2)
        lab = sim.lab
        assert lab is not None
        assert lab in netns.listnetns()
        first.press(1.8)
        assert (first.mode, second.mode) == (Mode.TFTP_MODE, Mode.FIRMWARE)
        # gwload's defaults (port 69, 255.255.255.255) work from the lab: one device answers.
        done = gwload(sim, "/gwtype", "811", "/i", "192.168.0.1", "/setip")
        assert done.returncode == 0, done.stdout
        assert first.mac in done.stdout
        assert first.address == "192.168.0.1"
        dump = tmp_path / "dump"
        got = sim.run("tftp", "-m", "binary", "192.168.0.1", "-c", "get", "config", str(dump))
        assert got.returncode == 0, got.stdout
        assert b"config change CMD0 /name IP811" in dump.read_bytes()
        spaces = list(sim._namespaces)
        assert len(spaces) == 2
    assert sim.leftovers() == []
    assert not {lab, *spaces} & set(netns.listnetns())


def test_close_from_another_thread_ends_a_waiting_call(tmp_path: Path) -> None:
    sim = Simulator(tmp_path / "state", speed=1.0)
    gw = sim.add("IP6000")
    failures: list[BaseException] = []

    def waiter() -> None:
        try:
            gw.wait_for(Mode.TFTP_MODE, timeout=3600.0)  # nothing presses the button
        except BaseException as exc:  # what the waiter meets is the result
            failures.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    sim.close()
    thread.join(20)
    assert not thread.is_alive()
    (failure,) = failures
    assert isinstance(failure, RuntimeSetupError)
    assert "closed" in str(failure)
    assert sim.leftovers() == []


def test_close_is_refused_on_the_loop_and_the_simulator_still_closes(sim: Simulator) -> None:
    sim.add("IP6000")
    with pytest.raises(RuntimeSetupError, match="own loop"):
        sim._call(sim.close)
    sim.close()
    assert sim.leftovers() == []


def test_reads_after_close_say_it_is_closed(tmp_path: Path) -> None:
    with Simulator(tmp_path / "state") as sim:
        gw = sim.add("IP6000")
    for read in (lambda: gw.mode, gw.console_lines, lambda: sim.errors):
        with pytest.raises(RuntimeSetupError, match="closed"):
            read()


def test_a_slow_predicate_meets_the_real_time_limit_as_a_wait_timeout(tmp_path: Path) -> None:
    release = threading.Event()
    with Simulator(tmp_path / "state", timeout=0.5) as sim:
        gw = sim.add("IP6000")
        try:
            with pytest.raises(WaitTimeout, match=r"real-time limit.*mode FIRMWARE"):
                gw.wait_for(until=lambda g: release.wait(60))
        finally:
            release.set()


def test_virtual_time_moved_from_two_threads_adds_up(sim: Simulator) -> None:
    gw = sim.add("IP6000")
    start = sim.now()

    def presses() -> None:
        for _ in range(5):
            gw.press(15.0)

    thread = threading.Thread(target=presses)
    thread.start()
    for _ in range(100):
        sim.advance(0.3)
    thread.join(60)
    assert not thread.is_alive()
    assert sim.now() - start == pytest.approx(5 * 15.0 + 100 * 0.3)


def test_bad_waits_say_what_is_wrong(sim: Simulator) -> None:
    gw = sim.add("IP6000")
    with pytest.raises(RuntimeSetupError, match="timeout must be 0 or more"):
        gw.wait_for(Mode.FIRMWARE, timeout=-1)
    with pytest.raises(RuntimeSetupError, match="off_for must be 0 or more"):
        gw.power_cycle(off_for=float("inf"))


@need_root
def test_two_simulators_in_namespaces_at_once(tmp_path: Path) -> None:
    with (
        Simulator(tmp_path / "one", network="netns", speed=10.0) as one,
        Simulator(tmp_path / "two", network="netns", speed=10.0) as two,
    ):
        first, second = one.add("IP6000"), two.add("IP6000")
        assert first.name == second.name == "ip6000-1"
        spaces = [*one._namespaces, *two._namespaces]
        assert len(set(spaces)) == 2
        second.press(1.8)
        done = gwload(two, "/i", "192.168.0.1", "/setip")
        assert done.returncode == 0, done.stdout
        assert (first.mode, second.ip) == (Mode.FIRMWARE, "192.168.0.1")
    assert one.leftovers() == two.leftovers() == []
    assert not set(spaces) & set(netns.listnetns())


def test_configure_runs_the_admins_lines_and_names_a_refused_one(sim: Simulator) -> None:
    gw = sim.add("IP6000")
    gw.configure("config change CMD0 /name configured", restart=False)
    assert "/name configured" in (gw.newest_config() or "")
    assert gw.mode is Mode.FIRMWARE
    bad = "config change ETH0 /addr 999.1.1.1"
    with pytest.raises(RuntimeSetupError, match=f"'{bad}' refused: error: .*not an IPv4 address"):
        gw.configure(bad)
    gw.type("logout\r")
    with pytest.raises(PermissionError):
        gw.configure("config change CMD0 /name x", password="wrong")


def test_an_impaired_link_and_a_capture(tmp_path: Path) -> None:
    from scapy.utils import rdpcap  # noqa: PLC0415 (scapy is slow to load: only here)

    all_pcap, own_pcap = tmp_path / "all.pcapng", tmp_path / "own.pcapng"
    with Simulator(
        tmp_path / "state", impairment=Impairment(duplicate=100, direction="out", seed=1),
        pcap=all_pcap,
    ) as sim:  # fmt: skip
        gw = sim.add("IP6000")
        quiet = sim.add("IP6000", impairment=Impairment(), pcap=own_pcap)
        assert gw.impairment == Impairment(duplicate=100, direction="out", seed=1)
        assert quiet.impairment is None
        gw.press(1.8)
        done = gwload(sim, "/scan", "/tries", "3", "/timeout", "0.5")
        assert done.returncode == 0, done.stdout
        assert gw.counters.sent.datagrams == gw.counters.sent.duplicated == 1
        assert gw.impair("loss=100%,seed=2") == Impairment(loss=100, seed=2)
        done = gwload(sim, "/scan", "/tries", "2", "/timeout", "0.2")
        assert done.returncode == 2, done.stdout  # no DISCOVER reached the device
        assert (gw.counters.received.dropped, gw.counters.sent.datagrams) == (2, 1)
        assert gw.impair(None) is None
        with pytest.raises(ValueError, match="'loss=1': loss is a percentage"):
            gw.impair("loss=1")
    packets = rdpcap(str(all_pcap))
    assert [p.direction for p in packets] == [1, 2, 1, 1]
    assert packets[1].comments == [b"impairment: duplicated"]
    assert packets[3].comments == [b"impairment: dropped, the device did not receive it"]
    assert len(rdpcap(str(own_pcap))) == 0  # the quiet one took no part


@need_curl
def test_a_simulator_serves_the_ui_port_when_asked(tmp_path: Path) -> None:
    """``Simulator(ui="0")``: the control API on a free port of 127.0.0.1, as curl sees it."""
    with Simulator(tmp_path / "state", ui="0") as simulator:
        simulator.add("IP800")
        assert simulator.ui_url is not None
        assert simulator.ui_url.startswith("http://127.0.0.1:")
        done = simulator.run("curl", "-sS", f"{simulator.ui_url}v1/status")
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)
        assert [d["name"] for d in status["devices"]] == ["ip800-1"]
        assert status["ui"] == simulator.ui_url
    with Simulator(tmp_path / "other") as plain:
        assert plain.ui_url is None

"""gwload's command line against simulated devices on loopback (real sockets).

Each test starts a runtime in the test process (devices' time 1000x faster than
real, so flash programming passes in milliseconds) and runs ``gwload`` in a
thread with the vendor's options plus ``/port`` and ``/bcast`` for loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from ipgwsim.device import default_config as _factory_config
from ipgwsim.events import ConsoleOutput, Event, Mode
from ipgwsim.firmware.config import with_admin_password
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import find_profile as _find_profile
from ipgwsim.proto import gwload
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run
from ipgwsim.tools.gwload_cmd import (
    EXIT_NO_DEVICE,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TRANSFER,
    EXIT_USAGE,
    UsageError,
    help_text,
    main,
    parse,
)
from ipgwsim.tools.gwload_output import Progress

#: The factory config (the firmware's defaults), as config show prints it.
FACTORY = _factory_config(_find_profile("IP6000"))


pytestmark = pytest.mark.integration


class Bench:
    """A runtime with devices and a way to run gwload against them."""

    def __init__(self, rt: Runtime, port: int) -> None:
        self.rt = rt
        self.port = port
        self.ip = free_loopback_ip(port)

    async def gwload(self, *args: str, fast: bool = False) -> tuple[int, str]:
        """Run gwload with loopback settings; its exit status and everything it printed."""
        argv = [*args, "/port", str(self.port), "/bcast", "127.255.255.255"]
        if fast:
            argv += ["/tries", "2", "/timeout", "0.2"]
        out = io.StringIO()

        def call() -> int:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                return main(argv)

        status = await asyncio.to_thread(call)
        return status, out.getvalue()

    async def tftp_mode(self, host: DeviceHost) -> None:
        await self.rt.press(host.name, 1.8)
        assert host.status().mode is Mode.TFTP_MODE


def with_devices(
    tmp_path: Path,
    devices: Sequence[tuple[str, int, bool]],
    test: Callable[[Bench, list[DeviceHost]], Awaitable[None]],
    speed: float = 1000,
) -> None:
    """Run ``test`` with devices (model, count, firmware) on a fresh runtime."""

    async def main_(port: int, http_port: int) -> None:
        clock = ScaledClock(speed)
        async with Runtime(tmp_path / "state", port=port, http_port=http_port, clock=clock) as rt:
            hosts: list[DeviceHost] = []
            for model, count, firmware in devices:
                hosts += rt.add_devices(model, count, empty_firmware=not firmware)
            await test(Bench(rt, port), hosts)
            assert rt.errors == []

    with Ports() as ports:
        run(main_(ports.udp(), ports.tcp()), timeout=120)


def ring_text(host: DeviceHost) -> str | None:
    return ConfigRing(PartitionTable(host.flash, host.device.profile)["config"]).newest_text()


# -- the command line ------------------------------------------------------------------


def test_options_in_any_order_and_any_case() -> None:
    a = parse(["/gwtype", "6000", "/i", "192.168.0.1", "/setip"])
    b = parse(["/SETIP", "/I", "192.168.0.1", "/GwType", "6000"])
    assert (a.gwtype, a.ip, a.setip) == (b.gwtype, b.ip, b.setip) == (6000, "192.168.0.1", True)


@pytest.mark.parametrize(("model", "gwtype"), [("IP6000", 6000), ("ip811", 811), ("Ip800", 800)])
def test_gwtype_takes_a_model_as_ipgwsim_run_does(model: str, gwtype: int) -> None:
    assert parse(["/gwtype", model, "/scan"]).gwtype == gwtype
    assert parse(["/gwtype", str(gwtype), "/scan"]).gwtype == gwtype


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["/gwtype", "6000", "/setip"], "/i IP is needed"),
        (["/gwtype"], "/gwtype needs a value"),
        (["/i", "300.1.1.1", "/setip"], "/i: '300.1.1.1' is not an IPv4 address"),
        (["/port", "sixty", "/scan"], "/port: 'sixty' is not a port number"),
        (["/port", "0", "/scan"], "/port: '0' is not between 1 and 65535"),
        (["/bcast", "127.1", "/scan"], "/bcast: '127.1' is not an IPv4 address"),
        (["/i", "10.0.0.1", "/setip", "/setip"], "/setip is given twice"),
        (["/i", "10.0.0.1", "/frobnicate"], "unknown option '/frobnicate'"),
        (["/i", "10.0.0.1", "/cfg", "/no/such/file.txt"], "/cfg: no file"),
        (["setip"], "is not an option"),
        (["/i", "10.0.0.1", "/go", "/noreset"], "contradict"),
        (["/mac", "00:90:33", "/scan"], "/mac: '00:90:33' is not a valid value"),
        (["/gwtype", "70000", "/scan"], "/gwtype: '70000' is not between 0 and 65535"),
        (["/gwtype", "IP9999", "/scan"], "/gwtype: 'IP9999' is neither a number nor a known"),
        (["/tries", "0", "/scan"], "/tries: '0' is not between 1 and 1000"),
        (["/timeout", "0", "/scan"], "/timeout: '0' is not between 0.01 and 3600 seconds"),
        (["/if", "", "/scan"], "/if needs a value, not an empty one"),
        (["/i", "10.0.0.1", "/getcfg", "/no/such/dir/c.txt"], "the folder of"),
        (["/i", "10.0.0.1", "/getcfg", "/tmp"], "/getcfg: '/tmp' is a directory"),
        (["/scan", "/pcap", "/tmp"], "/pcap: '/tmp' is a directory"),
        (["/i", "10.0.0.1", "/cfg", "/tmp"], "/cfg: no file '/tmp'"),
        (["/scan", "/i", "10.0.0.1", "/setip"], "/scan only lists devices: /i cannot go with it"),
    ],
)
def test_usage_errors_say_what_is_wrong(argv: list[str], words: str) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        parse(argv)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(argv) == EXIT_USAGE
    assert words in err.getvalue()


@pytest.mark.parametrize(
    ("option", "variable", "value"),
    [
        ("port", "IPGWSIM_GWLOAD_PORT", "sixty"),
        ("port", "IPGWSIM_GWLOAD_PORT", "70000"),
        ("bcast", "IPGWSIM_GWLOAD_BCAST", "127.1"),
    ],
)
def test_the_command_line_and_the_environment_refuse_alike(
    option: str,
    variable: str,
    value: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One check of a port and of an address, whoever gives them."""
    assert main(["/scan", f"/{option}", value]) == EXIT_USAGE
    given = capsys.readouterr().err
    monkeypatch.setenv(variable, value)
    assert main(["/scan"]) == EXIT_USAGE
    exported = capsys.readouterr().err
    assert given.startswith(f"gwload: /{option}: ")
    assert given.removeprefix(f"gwload: /{option}: ") == exported.removeprefix(
        f"gwload: {variable}: "
    )


def test_help_marks_the_extensions() -> None:
    text = help_text()
    vendor, extensions = text.split("Extensions of ipgwsim's gwload:")
    for option in ("/gwtype", "/i ", "/setip", "/cfg", "/boot", "/altboot", "/go"):
        assert option in vendor
    for option in ("/prot", "/mac", "/mask", "/port", "/bcast", "/if", "/tries", "/timeout",
                   "/getcfg", "/scan", "/noreset", "/pcap", "/v"):  # fmt: skip
        assert option in extensions
        assert option not in vendor.split("Options of the vendor's gwload:")[1]


# -- against simulated devices ------------------------------------------------------------


def test_scan_lists_every_device_in_tftp_mode(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        status, out = await bench.gwload("/scan", fast=True)
        assert status == EXIT_NO_DEVICE
        assert "no device in TFTP mode answered" in out
        for host in hosts:
            await bench.tftp_mode(host)
        status, out = await bench.gwload("/scan")
        assert status == EXIT_OK, out
        for host in hosts:
            line = next(ln for ln in out.splitlines() if ln.startswith(host.status().mac))
            model, gwtype = host.device.profile.model, host.device.profile.gwtype
            assert line.split()[1:4] == [model, str(gwtype), str(host.status().boot_build)]
        assert "2 device(s) in TFTP mode" in out

    with_devices(tmp_path, [("IP6000", 1, True), ("IP800", 1, True)], test)


def test_the_tftp_recovery_with_gwload_and_the_config_back(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        out_file = tmp_path / "config.txt"
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/getcfg", str(out_file)
        )
        assert status == EXIT_OK, out
        assert f"setip: IP6000 {gw.status().mac} has {bench.ip}" in out
        assert out_file.read_bytes() == FACTORY.encode()
        dump = (tmp_path / "config.txt.dump").read_bytes()
        assert b"# config generation" not in dump  # config text only
        assert dump.endswith(FACTORY.encode())
        edited = tmp_path / "edited.txt"
        edited.write_bytes(
            with_admin_password(out_file.read_bytes().decode(), "admin", "ip6000").encode()
        )
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/cfg", str(edited)
        )
        assert status == EXIT_OK, out
        assert "config: " in out
        assert "windowsize 16" in out
        assert out.rstrip().endswith("done: address " + bench.ip + "; config loaded; "
                                     "device restarted")  # fmt: skip
        assert gw.status().mode is Mode.FIRMWARE
        # the firmware's first start moved /user into the crypted var
        assert ring_text(gw) == FACTORY
        assert gw.device.firmware is not None
        assert gw.device.firmware.check_login("admin", "ip6000")

    with_devices(tmp_path, [("IP6000", 1, True)], test)


def test_no_guessing_when_several_devices_answer(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        for host in hosts:
            await bench.tftp_mode(host)
        status, out = await bench.gwload("/gwtype", "6000", "/i", bench.ip, "/setip")
        assert status == EXIT_NO_DEVICE
        assert "2 devices answered" in out
        for host in hosts:
            assert host.status().mac in out
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/mac", hosts[1].status().mac
        )
        assert status == EXIT_OK, out
        assert hosts[1].status().ip == bench.ip
        assert hosts[0].status().ip is None

    with_devices(tmp_path, [("IP6000", 2, True)], test)


def test_only_another_gwtype_answers(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        status, out = await bench.gwload("/gwtype", "6000", "/i", bench.ip, "/setip", fast=True)
        assert status == EXIT_NO_DEVICE
        assert f"devices of other types did: IP800 (gwtype 800, {gw.status().mac})" in out

    with_devices(tmp_path, [("IP800", 1, True)], test)


def test_refusals_exit_4_with_the_reason(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        # NAK 2: an address the loopback runtime cannot give
        status, out = await bench.gwload("/gwtype", "6000", "/i", "10.1.2.3", "/setip")
        assert status == EXIT_REFUSED
        assert "bad address: 10.1.2.3 is not on the loopback network" in out
        # TFTP ERROR: an image for another model, refused by its header
        image = tmp_path / "ip800.bin"
        image.write_bytes(build_image(ImageKind.FIRMWARE, "IP800", "x", bytes(5000)))
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/prot", str(image)
        )
        assert status == EXIT_REFUSED
        assert "the device refused: image is for IP800, this device is an IP6000" in out
        # TFTP ERROR 4 for altboot on boot code without a rescue copy: "retry errors"
        boot = tmp_path / "boot6000.bin"
        boot.write_bytes(build_image(ImageKind.BOOT, "IP6000", "145", bytes(4096), boot_build=145))
        status, out = await bench.gwload("/gwtype", "6000", "/i", bench.ip, "/altboot", str(boot))
        assert status == EXIT_REFUSED
        assert "retry errors" in out
        assert "has no rescue copy" in out
        assert gw.status().mode is Mode.TFTP_MODE  # nothing restarted after a failure

    with_devices(tmp_path, [("IP6000", 1, True)], test)


def test_firmware_upload_waits_for_programming_then_restarts(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        image = tmp_path / "ip6000.bin"
        image.write_bytes(build_image(ImageKind.FIRMWARE, "IP6000", "13r2-new", bytes(900_000)))
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/prot", str(image)
        )
        assert status == EXIT_OK, out
        assert "prot: " in out
        assert "reset: the device restarts" in out
        assert gw.status().mode is Mode.FIRMWARE
        assert gw.status().firmware_build == "13r2-new"

    with_devices(tmp_path, [("IP6000", 1, True)], test)


def test_noreset_and_go(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        with_firmware, empty = hosts
        await bench.tftp_mode(with_firmware)
        text = tmp_path / "c.txt"
        text.write_text("config change CMD0 /name kept\r\n")
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/mac", with_firmware.status().mac,
            "/cfg", str(text), "/noreset",
        )  # fmt: skip
        assert status == EXIT_OK, out
        assert with_firmware.status().mode is Mode.TFTP_MODE
        status, out = await bench.gwload("/gwtype", "6000", "/i", bench.ip, "/go")
        assert status == EXIT_OK, out
        assert "go: the device starts its firmware" in out
        assert with_firmware.status().mode is Mode.FIRMWARE
        # the device without firmware is in TFTP mode by itself, and cannot GO: NAK 5
        other_ip = free_loopback_ip(bench.port)
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", other_ip, "/setip", "/go", "/mac", empty.status().mac
        )
        assert status == EXIT_REFUSED
        assert "no valid firmware to start" in out

    with_devices(tmp_path, [("IP6000", 1, True), ("IP6000", 1, False)], test)


def test_a_device_that_stops_answering_mid_transfer(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        loop = asyncio.get_running_loop()

        def power_off_during_upload(host: DeviceHost, event: Event) -> None:
            if isinstance(event, ConsoleOutput) and "tftp: prot: firmware" in event.line:
                loop.call_soon(bench.rt.power, host.name, False)

        bench.rt.subscribe(power_off_during_upload)
        image = tmp_path / "big.bin"
        image.write_bytes(build_image(ImageKind.FIRMWARE, "IP6000", "x", bytes(3_000_000)))
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/prot", str(image), fast=True
        )
        assert status == EXIT_TRANSFER, out
        assert "timed out" in out
        assert gw.status().mode is Mode.OFF

    with_devices(tmp_path, [("IP6000", 1, True)], test)


def test_pcap_shows_the_conversation(tmp_path: Path) -> None:
    scapy_all = importlib.import_module("scapy.all")  # slow to import: only this test needs it

    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        pcap = tmp_path / "gwload.pcap"
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/getcfg", str(tmp_path / "c.txt"),
            "/pcap", str(pcap),
        )  # fmt: skip
        assert status == EXIT_OK, out
        from ipgwsim.runtime.capture import (  # noqa: PLC0415 (scapy, loaded on demand)
            GWLOAD,
            install_layers,
        )

        install_layers(bench.port)  # the test's devices use a free port, not 69
        packets = scapy_all.rdpcap(str(pcap))
        gwload_packets = [p for p in packets if p.haslayer(GWLOAD)]
        names = [p[GWLOAD].sprintf("%GWLOAD.opcode%") for p in gwload_packets]
        assert names[:4] == ["DISCOVER", "HELLO", "SETIP", "HELLO"]
        # pcapng: gwload's own interface, and the direction of every packet.
        assert [p.direction for p in gwload_packets[:4]] == [2, 1, 2, 1]
        assert {p.sniffed_on for p in packets} == {"gwload"}
        assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a section header block
        assert any(p.haslayer(scapy_all.TFTP) for p in packets)

    with_devices(tmp_path, [("IP6000", 1, True)], test)


def test_mask_verbose_interface_and_boot_code(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        interface = ("/if", "lo") if os.geteuid() == 0 else ()  # SO_BINDTODEVICE: root
        status, out = await bench.gwload(
            "/gwtype", "6000", "/i", bench.ip, "/setip", "/mask", "255.0.0.0", "/v", *interface
        )
        assert status == EXIT_OK, out
        assert "-> 0.0.0.0:" in out  # /v: every request and answer
        assert "SETIP xid=" in out
        assert "mask=255.0.0.0" in out
        assert f"<- {bench.ip}:{bench.port} > 0.0.0.0:" in out
        boot = tmp_path / "boot6000.bin"
        boot.write_bytes(build_image(ImageKind.BOOT, "IP6000", "146", bytes(4096), boot_build=146))
        status, out = await bench.gwload("/gwtype", "6000", "/i", bench.ip, "/boot", str(boot))
        assert status == EXIT_OK, out
        assert gw.status().mode is Mode.FIRMWARE
        assert gw.status().boot_build == 146  # the new boot code runs after the restart
        status, out = await bench.gwload("/scan", "/if", "no-such-if0")
        assert status == EXIT_USAGE
        assert "cannot send on interface 'no-such-if0'" in out

    with_devices(tmp_path, [("IP6000", 1, True)], test)


def test_altboot_on_an_ip800(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        boot = tmp_path / "boot800.bin"
        boot.write_bytes(build_image(ImageKind.BOOT, "IP800", "405", bytes(4096), boot_build=405))
        status, out = await bench.gwload(
            "/setip", "/i", bench.ip, "/gwtype", "800", "/altboot", str(boot), "/noreset"
        )
        assert status == EXIT_OK, out
        assert "altboot: " in out
        assert "done: address " + bench.ip + "; altboot loaded" in out

    with_devices(tmp_path, [("IP800", 1, True)], test)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_quiet_in_scripts() -> None:
    terminal, script = _Terminal(), io.StringIO()
    for stream in (terminal, script):
        bar = Progress(stream, "prot", 4 * 2**20)
        bar.last = -1.0  # draw now
        bar.update(2**20, 4 * 2**20)
        bar.close()
    assert "prot" in terminal.getvalue()
    assert "25%" in terminal.getvalue()
    assert "1.00/4.00 MiB" in terminal.getvalue()
    assert "MiB/s" in terminal.getvalue()
    assert script.getvalue() == ""


def test_prot_and_cfg_in_one_command_wait_for_programming_in_order(tmp_path: Path) -> None:
    async def test(bench: Bench, hosts: list[DeviceHost]) -> None:
        [gw] = hosts
        await bench.tftp_mode(gw)
        image = tmp_path / "ip6000.bin"
        image.write_bytes(build_image(ImageKind.FIRMWARE, "IP6000", "13r2-both", bytes(900_000)))
        text = tmp_path / "c.txt"
        text.write_bytes(b"config change CMD0 /name both\r\n")
        status, out = await bench.gwload(
            "/cfg", str(text), "/prot", str(image), "/gwtype", "6000", "/i", bench.ip, "/setip",
            "/timeout", "0.2",
        )  # fmt: skip
        assert status == EXIT_OK, out
        assert "config: the device is busy" in out  # it was still programming the firmware
        console = list(gw.console.lines)
        programmed = next(i for i, ln in enumerate(console) if "programming firmware" in ln)
        stored = next(i for i, ln in enumerate(console) if "config stored" in ln)
        assert programmed < stored  # the contract's order: prot before cfg
        assert gw.status().mode is Mode.FIRMWARE
        assert gw.status().firmware_build == "13r2-both"
        assert ring_text(gw) == "config change CMD0 /name both\r\n"

    # slow device time (2x): programming 900 kB takes about a third of a real second,
    # so the config always arrives while the device is still busy
    with_devices(tmp_path, [("IP6000", 1, True)], test, speed=2)


def test_tries_are_counted_and_a_tftp_error_answer_is_retry_errors(
    tmp_path: Path, ports: Ports
) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(["/scan", "/port", str(port), "/bcast", "127.255.255.255",
                       "/tries", "3", "/timeout", "0.05", "/v"])  # fmt: skip
    assert status == EXIT_NO_DEVICE
    assert out.getvalue().count("DISCOVER xid=") == 3
    # Boot code that does not know gwload answers as a TFTP server would: ERROR 4.
    old_boot_code = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    old_boot_code.bind((ip, port))
    stop = threading.Event()

    def answer() -> None:
        old_boot_code.settimeout(0.05)
        while not stop.is_set():
            try:
                _, peer = old_boot_code.recvfrom(2048)
            except TimeoutError:
                continue
            old_boot_code.sendto(b"\x00\x05\x00\x04illegal operation\x00", peer)

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            status = main(["/gwtype", "6000", "/i", ip, "/go", "/port", str(port),
                           "/tries", "2", "/timeout", "0.1"])  # fmt: skip
    finally:
        stop.set()
        thread.join()
        old_boot_code.close()
    assert status == EXIT_REFUSED
    assert "retry errors: the boot code does not know this request" in out.getvalue()


class _Impostor:
    """Answers every gwload request with a HELLO built by ``make(request)``, from ``ip``."""

    def __init__(self, port: int, ip: str, make: Callable[[gwload.Message], bytes]) -> None:
        self.broadcast = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.broadcast.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.broadcast.bind(("127.255.255.255", port))
        self.broadcast.settimeout(0.05)
        self.answer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.answer.bind((ip, 0))
        self.make = make
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.broadcast.recvfrom(2048)
            except TimeoutError:
                continue
            self.answer.sendto(self.make(gwload.parse_message(data)), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.broadcast.close()
        self.answer.close()


def _hello(request: gwload.Message, *, xid: int, ip: str) -> bytes:
    return gwload.encode_message(
        gwload.Hello(
            xid,
            MAC,
            6000,
            ip=IPv4Address(ip),
            mask=IPv4Address("255.255.255.0"),
            state=gwload.DeviceState.TFTP_MODE,
            boot_build=145,
            model="IP6000",
            firmware_build="x",
            config_name="config",
        )
    )


MAC = bytes.fromhex("009033100001")


@pytest.mark.parametrize("fault", ["wrong xid", "HELLO from another address"])
def test_answers_that_do_not_fit_the_request_are_not_taken(fault: str, ports: Ports) -> None:
    port = ports.udp()
    ip, impostor_ip = free_loopback_ip(port), free_loopback_ip(port)

    def make(request: gwload.Message) -> bytes:
        if fault == "wrong xid":
            return _hello(request, xid=(request.xid + 1) % 2**32, ip=ip)
        return _hello(request, xid=request.xid, ip=ip)  # sent from impostor_ip, not from ip

    # the wrong xid comes from the right address: the xid alone must make it fail
    impostor = _Impostor(port, ip if fault == "wrong xid" else impostor_ip, make)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            status = main(["/gwtype", "6000", "/i", ip, "/setip", "/mac", "00:90:33:10:00:01",
                           "/port", str(port), "/bcast", "127.255.255.255",
                           "/tries", "2", "/timeout", "0.1"])  # fmt: skip
    finally:
        impostor.close()
    assert status == EXIT_NO_DEVICE, out.getvalue()
    assert "no answer to SETIP (retry errors)" in out.getvalue()

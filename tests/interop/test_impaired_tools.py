"""The repository's gwload and tftp-hpa's tftp against a device on an impaired link.

The device's link loses 30 % of the datagrams each way, duplicates 10 % and holds 10 %
back until the next one has passed (seeded, so a run can be repeated). Each tool uploads
a config and a small firmware image with its own retransmission settings: gwload with
``/tries`` and ``/timeout``, tftp-hpa with the interactive ``rexmt`` and ``timeout``
commands fed on its stdin. An upload either completes or the tool says it failed (gwload
with exit status 3 or 4; tftp-hpa's interactive mode always exits 0, so its own lines,
``Transfer timed out.`` or ``Error code ...``, say so). After every upload the flash is
compared with what the device committed: the newest config generation and the firmware
region equal the upload when it was stored, and are byte for byte what they were when it
was not. As in the other real-tool tests the runtime's clock is a ManualClock: the device
answers at once, the tools retransmit in real time, and device time moves only between
the uploads (to let the device program the image and end its dally).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipgwsim.events import ConsoleOutput, Event
from ipgwsim.firmware.config import Config
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, enter_tftp_mode, free_loopback_ip, run
from ipgwsim.testing.needs import find_program, unavailable

pytestmark = pytest.mark.integration

TFTP = find_program("tftp")
#: The gwload installed with ipgwsim, as a user's shell finds it.
GWLOAD = Path(sys.executable).parent / "gwload"
LINK = Impairment(loss=30, duplicate=10, reorder=10)
#: Device seconds that let a device finish programming and end a transfer's dally.
SETTLE = 60.0


def need_tftp() -> str:
    if TFTP is None:
        unavailable("tftp-hpa's tftp client is not installed")
    return TFTP


@dataclass(frozen=True)
class Flash:
    """What the test compares: the newest committed config and the firmware window."""

    config: str | None
    firmware: bytes

    @classmethod
    def of(cls, host: DeviceHost) -> Flash:
        partitions = PartitionTable(host.flash, host.device.profile)
        window = FlashMan(partitions).firmware_window()
        return cls(ConfigRing(partitions["config"]).newest_text(), window.read(0, window.size))

    def firmware_starts_with(self, image: bytes) -> bool:
        return self.firmware[: len(image)] == image


def firmware_image(size: int, build: str) -> bytes:
    payload = hashlib.shake_256(build.encode()).digest(size)
    return build_image(ImageKind.FIRMWARE, "IP6000", build, payload)


def config_text(host: DeviceHost, name: str) -> str:
    old = ConfigRing(PartitionTable(host.flash, host.device.profile)["config"]).newest_text()
    # The old config with CMD0 changed: one config change line per module, as the
    # device takes it (a second CMD0 line would read as a second generation).
    change = f"config change CMD0 /name {name}\r\n"
    return Config.from_text(old or "").apply_text(change).render()


class Bench:
    """A device in TFTP mode on an impaired link, and the tools pointed at it."""

    def __init__(self, rt: Runtime, clock: ManualClock, host: DeviceHost, ip: str) -> None:
        self.rt, self.clock, self.host, self.ip = rt, clock, host, ip
        #: Every line the device's boot code printed, from the start.
        self.lines: list[str] = []
        rt.subscribe(self._line)

    def _line(self, host: DeviceHost, event: Event) -> None:
        if host is self.host and isinstance(event, ConsoleOutput):
            self.lines.append(event.line)

    def said(self, since: int, words: str) -> bool:
        """Whether the device printed ``words`` after its first ``since`` lines."""
        return any(words in line for line in self.lines[since:])

    async def run(self, *argv: str | Path, stdin: bytes | None = None) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(stdin), 120)
        assert proc.returncode is not None
        return proc.returncode, out.decode("utf-8", "replace")

    async def gwload(self, *args: str) -> tuple[int, str]:
        return await self.run(
            GWLOAD, "/gwtype", "6000", "/i", self.ip, "/setip", *args,
            "/port", str(self.rt.port), "/bcast", "127.255.255.255",
            "/tries", "20", "/timeout", "0.2",
        )  # fmt: skip

    async def tftp_put(self, local: Path, remote: str) -> tuple[bool, str]:
        """tftp-hpa with a 1 s retransmission and 10 s per packet; (stored?, output)."""
        commands = f"verbose\nbinary\nrexmt 1\ntimeout 10\nput {local} {remote}\nquit\n"
        status, out = await self.run(
            need_tftp(), self.ip, str(self.rt.port), stdin=commands.encode()
        )
        assert status == 0, out  # the interactive mode exits 0 whatever happened
        sent = re.search(r"^Sent (\d+) bytes in", out, re.MULTILINE)
        failed = "Transfer timed out." in out or "Error code" in out
        assert (sent is None) == failed, f"neither a success nor a failure line:\n{out}"
        if sent is not None:
            assert int(sent.group(1)) == local.stat().st_size, out
        return sent is not None, out

    async def settle(self) -> None:
        await self.clock.advance(SETTLE)
        assert self.rt.errors == []
        assert not any("internal error" in line for line in self.host.console.tail())
        assert self.host.errors == []


async def impaired_device(tmp_path: Path, seed: int, ports: Ports) -> tuple[Runtime, Bench]:
    port = ports.udp()
    clock = ManualClock()
    rt = Runtime(
        tmp_path / "state",
        port=port,
        http_port=ports.tcp(),
        clock=clock,
        impairment=LINK.with_seed(seed),
    )
    await rt.start()
    (host,) = rt.add_devices("IP6000", 1)
    bench = Bench(rt, clock, host, free_loopback_ip(port))
    await enter_tftp_mode(rt, clock, host.name)
    return rt, bench


def check(before: Flash, after: Flash, *, ok: bool, committed: bool, config: str | None = None,
          image: bytes | None = None, output: str = "") -> None:  # fmt: skip
    """The flash holds the upload if the device committed it, else exactly what it held."""
    if ok:
        assert committed, f"the tool says done, the device stored nothing:\n{output}"
    if config is not None:
        assert after.firmware == before.firmware
        assert after.config == (config if committed else before.config), output
    if image is not None:
        assert after.config == before.config
        if committed:
            assert after.firmware_starts_with(image), output
        else:
            assert after.firmware == before.firmware, output


@pytest.mark.parametrize("seed", [1, 2])
def test_gwload_uploads_config_and_firmware_on_an_impaired_link(
    tmp_path: Path, seed: int, ports: Ports
) -> None:
    image = tmp_path / "ip6000.bin"
    image.write_bytes(firmware_image(16 * 1024, f"imp-gw-{seed}"))

    async def main() -> None:
        rt, bench = await impaired_device(tmp_path, seed, ports)
        try:
            host = bench.host
            before, lines = Flash.of(host), len(bench.lines)
            status, out = await bench.gwload("/prot", str(image), "/noreset")
            assert status in (0, 3, 4), out  # done, transfer failed, refused
            assert status == 0 or "gwload" in out.strip().splitlines()[-1], out
            await bench.settle()
            committed = bench.said(lines, "programming done")
            check(before, Flash.of(host), ok=status == 0, committed=committed,
                  image=image.read_bytes(), output=out)  # fmt: skip
            if committed:
                assert host.status().firmware_build == f"imp-gw-{seed}"

            text = config_text(host, f"gwload-{seed}")
            (tmp_path / "config.txt").write_text(text, newline="")
            before, lines = Flash.of(host), len(bench.lines)
            status, out = await bench.gwload("/cfg", str(tmp_path / "config.txt"), "/noreset")
            assert status in (0, 3, 4), out
            await bench.settle()
            committed = bench.said(lines, "config stored as generation")
            check(before, Flash.of(host), ok=status == 0, committed=committed, config=text,
                  output=out)  # fmt: skip
            counters = host.link.counters()
            assert counters.dropped > 0  # the link was impaired indeed
        finally:
            await rt.stop()

    run(main(), timeout=240)


@pytest.mark.parametrize("seed", [1, 2])
def test_tftp_hpa_uploads_config_and_firmware_on_an_impaired_link(
    tmp_path: Path,
    seed: int,
    ports: Ports,
) -> None:
    need_tftp()
    image = tmp_path / "ip6000.bin"
    image.write_bytes(firmware_image(1024, f"imp-tftp-{seed}"))

    async def main() -> None:
        rt, bench = await impaired_device(tmp_path, seed, ports)
        try:
            host = bench.host
            status, out = await bench.gwload()  # SETIP only
            assert status == 0, out

            text = config_text(host, f"tftp-hpa-{seed}")
            (tmp_path / "config.txt").write_text(text, newline="")
            before, lines = Flash.of(host), len(bench.lines)
            ok, out = await bench.tftp_put(tmp_path / "config.txt", "config")
            await bench.settle()
            committed = bench.said(lines, "config stored as generation")
            check(before, Flash.of(host), ok=ok, committed=committed, config=text, output=out)

            before, lines = Flash.of(host), len(bench.lines)
            ok, out = await bench.tftp_put(image, "prot")
            await bench.settle()
            committed = bench.said(lines, "programming done")
            check(before, Flash.of(host), ok=ok, committed=committed, image=image.read_bytes(),
                  output=out)  # fmt: skip
            assert host.link.counters().dropped > 0
        finally:
            await rt.stop()

    run(main(), timeout=240)


def test_an_upload_cut_by_the_link_leaves_the_flash_as_it_was(tmp_path: Path, ports: Ports) -> None:
    """The link goes dead once the firmware upload has started: gwload fails, exit 3."""
    image = tmp_path / "ip6000.bin"
    image.write_bytes(firmware_image(512 * 1024, "imp-cut"))

    async def main() -> None:
        rt, bench = await impaired_device(tmp_path, 1, ports)
        try:
            host = bench.host
            rt.impair(host.name, None)
            loop = asyncio.get_running_loop()

            cuts: list[float] = []

            def cut_when_started(_host: DeviceHost, event: Event) -> None:
                started = isinstance(event, ConsoleOutput) and event.line.startswith("tftp: WRQ")
                if started and not cuts:  # the first upload only
                    cuts.append(bench.clock.now())
                    loop.call_soon(rt.impair, host.name, Impairment(loss=100, seed=1))

            rt.subscribe(cut_when_started)
            before, lines = Flash.of(host), len(bench.lines)
            status, out = await bench.run(
                GWLOAD, "/gwtype", "6000", "/i", bench.ip, "/setip", "/prot", str(image),
                "/noreset", "/port", str(rt.port), "/bcast", "127.255.255.255",
                "/tries", "3", "/timeout", "0.1",
            )  # fmt: skip
            assert status == 3, out
            assert "timed out" in out
            assert len(cuts) == 1
            await bench.settle()  # the device's side of the transfer times out as well
            assert not bench.said(lines, "programming done")
            check(before, Flash.of(host), ok=False, committed=False, image=image.read_bytes(),
                  output=out)  # fmt: skip
            assert host.status().mode.value == "TFTP mode"  # not busy, not stuck

            rt.impair(host.name, None)  # the link is back: the same upload now goes through
            status, out = await bench.gwload("/prot", str(image), "/noreset")
            assert status == 0, out
            await bench.settle()
            assert Flash.of(host).firmware_starts_with(image.read_bytes())
        finally:
            await rt.stop()

    run(main(), timeout=240)

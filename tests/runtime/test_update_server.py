"""The update client end to end: a real runtime polls a real HTTP server on loopback.

The one-layer tests (``tests/firmware/test_update.py``) answer the fetches by hand; here
a :class:`~ipgwsim.runtime.runtime.Runtime` with a :class:`ManualClock` runs one IP6000
whose update client fetches scripts, images and configs from a
:class:`~ipgwsim.testing.httpserver.RecordingServer` on 127.0.0.1 (the standard library's
``ThreadingHTTPServer`` in a thread), through the runtime's aiohttp client, from the
device's loopback address. The device is configured through its own web server (curl),
device time moves with ``clock.advance``, and each wait is for something observable (the
update client done with its poll) under a time limit, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from ipgwsim.events import Mode
from ipgwsim.firmware import Firmware
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.httpserver import Recorded, RecordingServer
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.web import curl, short_press

pytestmark = pytest.mark.integration

needs_curl = pytest.mark.requires("curl")
#: Where the factory address 192.168.0.1 is served on loopback.
FACTORY_IP = "127.168.0.1"
ADMIN = "admin:ip6000"
#: The first device of a state directory.
SERIAL = "009033100001"
FACTORY_BUILD = "08-6000.08"
VERSION = f"8.00 ipgwsim IP6000[{FACTORY_BUILD}], Bootcode[145], HW[{SERIAL}]"
#: The standard script name of an IP6000.
SCRIPT = "/update-ip6000.htm"
MINUTE = 60.0
#: ETH0 with a fixed address (the factory one): the device keeps its web server across
#: the restarts a script causes (``/dhcp auto`` makes it a DHCP client after those).
STATIC_ETH0 = "config change ETH0 /dhcp off /addr 192.168.0.1 /mask 255.255.255.0"


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Let the event loop turn until ``condition()`` holds; AssertionError after ``timeout`` s.

    What it waits for is the update client's fetches: HTTP over loopback to the recording
    server (a thread), which reports its end to nobody but the client, whose state the
    condition reads. Device time stands still meanwhile (a manual clock): the bound is
    on real time, as the server's pace is its own.
    """
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


@dataclass
class Bench:
    """One IP6000 in a runtime on loopback, its web server's URL, and the update server."""

    rt: Runtime
    clock: ManualClock
    host: DeviceHost
    server: RecordingServer
    #: ``http://127.168.0.1:PORT`` (no trailing slash).
    web: str

    @property
    def firmware(self) -> Firmware:
        firmware = self.host.device.firmware
        assert firmware is not None, self.host.status()
        return firmware

    def script_url(self, name: str = SCRIPT) -> str:
        """The URL the log names a script by: the update server's, without the query."""
        return f"http://127.0.0.1:{self.server.port}{name}"

    async def get(self, path: str, user: str | None = ADMIN) -> tuple[int, str]:
        """GET ``path`` of the device's web server with curl; (status, body)."""
        auth = ("-u", user) if user is not None else ()
        return await curl(*auth, f"{self.web}{path}")

    async def execute(self, *lines: str, user: str = ADMIN) -> list[str]:
        """Run command lines through ``http://ip/!<command>``; each must answer 200."""
        outputs = []
        for line in lines:
            status, body = await self.get("/!" + quote(line, safe="/,:@"), user)
            assert status == 200, f"{line}: {status} {body}"
            outputs.append(body)
        return outputs

    async def configure(self, *lines: str) -> None:
        """Change the config over HTTP, then ``config write`` and ``config activate``."""
        await self.execute(*lines, "config write", "config activate")

    def idle(self) -> bool:
        """A firmware runs and its update client waits for its next poll (none under way)."""
        firmware = self.host.device.firmware
        return firmware is not None and firmware.update.next_poll() is not None

    async def advance(self, seconds: float) -> list[Recorded]:
        """Move device time on; wait until a poll it starts is done; the requests it made.

        A poll holds the client until its script has ended (downloads and uploads
        included) or restarted the device; then the (new) firmware waits again.
        """
        assert self.idle(), "the update client is not waiting for a poll"
        before = len(self.server.requests)
        await self.clock.advance(seconds)
        await until(self.idle, "the update client to finish its poll")
        await self.host.web_settled()
        return self.server.requests[before:]

    def console_has(self, text: str) -> bool:
        return any(text in line for line in self.host.console.lines)

    async def log(self, user: str = ADMIN) -> str:
        status, body = await self.get("/log.txt", user)
        assert status == 200, body
        return body


@asynccontextmanager
async def bench(tmp_path: Path, ports: Ports) -> AsyncIterator[Bench]:
    """An update server on 127.0.0.1 and a runtime with one IP6000 after a short press."""
    clock = ManualClock()
    http = ports.tcp()
    with RecordingServer("127.0.0.1") as server:  # shut down in its __exit__
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            web = await short_press(rt, clock, host)
            assert web == f"http://{FACTORY_IP}:{http}"
            yield Bench(rt, clock, host, server, web)


def script_requests(requests: list[Recorded], path: str = SCRIPT) -> list[Recorded]:
    return [r for r in requests if r.method == "GET" and r.path == path]


# -- the script URL ------------------------------------------------------------------------


@needs_curl
@pytest.mark.usefixtures("private_registry")
def test_the_script_url_its_query_and_placeholders(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            b.server.files[SCRIPT] = b"# nothing to do\r\n"
            await b.configure(f"config change UP1 /url {b.server.url}")
            (request,) = await b.advance(MINUTE)
            assert (request.method, request.path) == ("GET", SCRIPT)
            assert request.client[0] == FACTORY_IP  # from the device's own address
            assert request.query == [
                ("ver", VERSION),
                ("PROT", FACTORY_BUILD),
                ("BOOT", "145"),
                ("CHECK", ""),
            ]
            # Blanks are percent-encoded, never '+'; the query follows the standard name.
            assert request.target.startswith(f"{SCRIPT}?ver=8.00%20ipgwsim%20IP6000%5B08-6000.08")
            assert "+" not in request.target
            assert request.header("Host") == f"127.0.0.1:{b.server.port}"
            assert request.body == b""
            assert b.firmware.update.outcome == "complete"

            # #t, #m and #h are filled in; a query in the URL is kept, the arguments follow.
            where = f"/IP6000/{SERIAL}/script.txt"
            b.server.files[where] = b""
            url = f"http://127.0.0.1:{b.server.port}/#t/#m/script.txt?x=#h"
            await b.configure(f"config change UP1 /url {url}")
            (request,) = await b.advance(15 * MINUTE)  # no longer new: every 15 minutes
            assert request.path == where
            assert request.query[0] == ("x", "IP6000-10-00-01")
            assert [name for name, _ in request.query] == ["x", "ver", "PROT", "BOOT", "CHECK"]
            assert request.client[0] == FACTORY_IP

    run(main())


def test_a_host_name_in_the_update_url_is_resolved(tmp_path: Path, ports: Ports) -> None:
    """Firmware 8 and 13 (the shipped profiles) take host names; old firmware needed IPs."""

    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            b.server.files[SCRIPT] = b"# nothing to do\r\n"
            await b.configure(f"config change UP1 /url http://localhost:{b.server.port}/")
            (request,) = await b.advance(MINUTE)
            assert request.path == SCRIPT
            assert request.header("Host") == f"localhost:{b.server.port}"
            assert b.firmware.update.outcome == "complete"

    run(main())


# -- polling in device time ----------------------------------------------------------------


@needs_curl
def test_a_new_device_polls_every_minute_then_every_15_minutes_or_poll(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            started = b.firmware.update.started_at
            await b.configure(f"config change UP1 /url {b.server.url}")
            # No script yet (404): the device stays new and polls once a minute.
            assert len(await b.advance(MINUTE)) == 1
            assert len(await b.advance(MINUTE - 1)) == 0
            assert len(await b.advance(1)) == 1
            assert b.firmware.update.last_poll == started + 2 * MINUTE
            assert b.firmware.update.new_device
            status, body = await b.get("/!vars%20read%20UPDATE/SCRIPT")
            assert (status, body) == (400, "error: no var UPDATE/SCRIPT\r\n")

            # The first script ends it: UPDATE/SCRIPT is set, then every 15 minutes.
            b.server.files[SCRIPT] = b"# nothing to do\r\n"
            (request,) = await b.advance(MINUTE)
            assert request.path == SCRIPT
            assert not b.firmware.update.new_device
            assert await b.execute("vars read UPDATE/SCRIPT") == ["UPDATE/SCRIPT p 31\r\n"]
            assert len(await b.advance(MINUTE)) == 0
            assert len(await b.advance(14 * MINUTE - 1)) == 0
            assert len(await b.advance(1)) == 1
            assert b.firmware.update.last_poll == started + 18 * MINUTE
            assert b.firmware.update.polls == 4

            # /poll 2: every 2 minutes, counted from the last poll.
            await b.execute("config add UP1 /poll 2", "config activate")
            assert len(await b.advance(2 * MINUTE - 1)) == 0
            assert len(await b.advance(1)) == 1
            assert len(await b.advance(2 * MINUTE)) == 1
            assert len(script_requests(b.server.requests)) == 6

    run(main())


@needs_curl
def test_a_late_poll_timer_polls_once_and_counts_from_when_it_ran(
    tmp_path: Path, ports: Ports
) -> None:
    """The event loop was busy (a big fleet being added) past the poll's due time and past
    the fetch timeout: the device polls once when its timer runs, and counts its next poll
    and the fetch's timeout from then, not from when the poll was due."""

    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            b.server.files[SCRIPT] = b"# nothing to do\r\n"
            await b.configure(f"config change UP1 /url {b.server.url}")
            due = b.firmware.update.next_poll()
            assert due is not None
            b.clock.stall(due - b.clock.now() + 10 * MINUTE)  # the timer misses its time
            ran = b.clock.now()
            await b.clock.advance(0)  # the loop turns again: the late timer runs
            await until(b.idle, "the update client to finish its poll")
            assert len(script_requests(b.server.requests)) == 1
            assert b.firmware.update.polls == 1
            assert b.firmware.update.outcome == "complete"
            assert b.firmware.update.last_poll == ran
            assert b.firmware.update.next_poll() == ran + 15 * MINUTE
            assert not b.firmware.update.new_device

    run(main())


# -- scripts -------------------------------------------------------------------------------


@needs_curl
def test_the_password_recovery_script_over_a_real_server(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            b.server.files[SCRIPT] = (
                b"config change CMD0 /name X /log on /user admin,n3wpass\r\n"
                b"config write\r\n"
                b"config activate\r\n"
                b"config change CMD0 /name X /log on\r\n"
            )
            await b.configure(f"config change UP1 /url {b.server.url}")
            assert len(await b.advance(MINUTE)) == 1
            assert b.firmware.update.outcome == "complete"

            status, body = await b.get("/cfg.txt", "admin:n3wpass")
            assert status == 200
            assert "config change CMD0 /name X /log on\r\n" in body
            assert "/user" not in body
            assert "n3wpass" not in body
            assert re.search(r"^vars create CMD0/AUTH pc [0-9a-f]+\r$", body, re.MULTILINE)
            assert (await b.get("/cfg.txt", ADMIN))[0] == 401
            assert (await b.get("/!config%20show", ADMIN))[0] == 401
            status, body = await b.get("/!config%20show", "admin:n3wpass")
            assert (status, "/user" in body) == (200, False)
            assert "n3wpass" not in await b.log("admin:n3wpass")
            assert not any("n3wpass" in line for line in b.host.console.lines)

    run(main())


@needs_curl
def test_check_runs_a_script_once(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            b.server.files[SCRIPT] = (
                b"mod cmd UP1 check iresetn 7\r\n"
                b"config change CMD0 /name fromscript\r\n"
                b"config write\r\n"
            )
            await b.configure(STATIC_ETH0, f"config change UP1 /url {b.server.url}")
            first = b.firmware
            (request,) = await b.advance(MINUTE)
            assert dict(request.query)["CHECK"] == ""
            # Complete: UPDATE/CHECK set, then iresetn restarts (a written CMD0 change).
            assert b.firmware is not first
            assert b.console_has(f"update script {b.script_url()}: complete, UPDATE/CHECK set to 7")
            assert b.console_has(f"restart (iresetn (update script {b.script_url()}))")
            assert b.firmware.active.get("CMD0", "name") == "fromscript"
            assert await b.execute("vars read UPDATE/CHECK") == ["UPDATE/CHECK p 37\r\n"]

            # The name goes back over HTTP; the script's change is not applied again.
            await b.configure("config change CMD0 /name back")
            second = b.firmware
            (request,) = await b.advance(15 * MINUTE)
            assert dict(request.query)["CHECK"] == "7"
            assert b.firmware is second  # no restart either
            assert b.firmware.update.outcome == "up to date (UPDATE/CHECK 7)"
            status, body = await b.get("/!config%20show")
            assert status == 200
            assert body.startswith("config change CMD0 /name back\r\n")
            assert b.firmware.active.get("CMD0", "name") == "back"
            assert await b.execute("vars read UPDATE/CHECK") == ["UPDATE/CHECK p 37\r\n"]

    run(main())


@needs_curl
def test_prot_downloads_restarts_into_the_new_build_and_skips_it_then(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            payload = random.Random(77).randbytes(64 * 1024)
            image = build_image(ImageKind.FIRMWARE, "IP6000", "09-6000.77", payload)
            b.server.files["/fw/ip6000.bin"] = image
            b.server.files[SCRIPT] = (
                f"mod cmd UP0 prot http://127.0.0.1:{b.server.port}/fw/ ireset 09-6000.77\r\n"
            ).encode()
            await b.configure(STATIC_ETH0, f"config change UP1 /url {b.server.url}")
            first = b.firmware
            requests = await b.advance(MINUTE)
            assert [(r.method, r.path) for r in requests] == [
                ("GET", SCRIPT),
                ("GET", "/fw/ip6000.bin"),
            ]
            assert requests[1].client[0] == FACTORY_IP
            assert b.console_has(
                f"update script {b.script_url()} line 1: firmware stored, "
                "UPDATE/PROT set to 09-6000.77"
            )
            assert b.console_has(f"restart (ireset (update script {b.script_url()} line 1))")
            assert b.firmware is not first
            assert b.host.status().mode is Mode.FIRMWARE
            assert b.host.status().firmware_build == "09-6000.77"
            assert b.firmware.build == "09-6000.77"
            status, body = await b.get("/CMD0/box_info.xml", None)
            assert status == 200
            assert 'version="9.00 ipgwsim IP6000[09-6000.77], Bootcode[145]' in body

            # The same script again: 09-6000.77 runs, so nothing is downloaded.
            second = b.firmware
            (request,) = await b.advance(15 * MINUTE)
            assert request.path == SCRIPT
            assert dict(request.query)["PROT"] == "09-6000.77"
            assert b.firmware is second
            assert b.firmware.update.outcome == "complete"
            assert len(b.server.requests_for("/fw/ip6000.bin")) == 1

    run(main())


@needs_curl
@pytest.mark.usefixtures("private_registry")
def test_an_image_larger_than_the_pool_is_refused_and_the_old_build_stays(
    tmp_path: Path,
    ports: Ports,
) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            pool = FlashMan(PartitionTable(b.host.device.flash, b.host.profile)).largest_firmware()
            big = build_image(ImageKind.FIRMWARE, "IP6000", "09-6000.99", bytes(pool + 65536))
            b.server.files["/fw/ip6000.bin"] = big
            b.server.files[SCRIPT] = (
                b"mod cmd UP0 prot fw/ ireset 09-6000.99\r\n"
                b"config change CMD0 /name after\r\n"
                b"config write\r\n"
            )
            await b.configure(STATIC_ETH0, f"config change UP1 /url {b.server.url}")
            first = b.firmware
            requests = await b.advance(MINUTE)
            assert [r.path for r in requests] == [SCRIPT, "/fw/ip6000.bin"]
            log = await b.log()
            assert "Error 0x00130001 Major FLASHMAN0 no space" in log
            assert (
                f"update script {b.script_url()} line 1: Firmwareupdate failed:no space; stopped"
                in log
            )
            assert b.firmware is first  # no restart
            assert b.host.status().firmware_build == FACTORY_BUILD
            assert b.firmware.edited.get("CMD0", "name") == "IP6000"  # the script stopped
            status, body = await b.get("/!vars%20read%20UPDATE/PROT")
            assert (status, body) == (400, "error: no var UPDATE/PROT\r\n")

            # A power cycle boots the old build: the flash was not touched.
            b.host.power(False)
            assert b.host.status().mode is Mode.OFF
            b.host.power(True)
            assert b.host.status().mode is Mode.FIRMWARE
            assert b.host.status().firmware_build == FACTORY_BUILD
            assert b.firmware.build == FACTORY_BUILD
            assert await b.host.web_settled() is not None
            status, body = await b.get("/CMD0/box_info.xml", None)
            assert (status, f'version="{VERSION}"' in body) == (200, True)

    run(main())


@needs_curl
@pytest.mark.usefixtures("private_registry")
def test_scfg_puts_the_full_config(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            b.server.files[SCRIPT] = (
                f"mod cmd UP0 scfg http://127.0.0.1:{b.server.port}/backup/#m.txt\r\n"
            ).encode()
            await b.execute(
                "vars create X/Y p 0102",
                "mod cmd FLASHDIR0 add-item cn=alice tel=1",
            )
            await b.configure(f"config change UP1 /url {b.server.url}")
            requests = await b.advance(MINUTE)
            assert [(r.method, r.path) for r in requests] == [
                ("GET", SCRIPT),
                ("PUT", f"/backup/{SERIAL}.txt"),
            ]
            put = requests[1]
            assert put.client[0] == FACTORY_IP
            assert put.header("Content-Length") == str(len(put.body))
            assert b.firmware.update.outcome == "complete"
            status, saved = await b.get("/cfg.txt")
            assert status == 200
            assert put.body.decode() == saved
            lines = saved.split("\r\n")
            assert f"config change UP1 /url {b.server.url}" in lines
            assert "vars create X/Y p 0102" in lines
            assert "vars create UPDATE/SCRIPT p 31" in lines  # set before the script ran
            assert "mod cmd FLASHDIR0 add-item cn=alice tel=1" in lines

    run(main())


@needs_curl
def test_cfg_loads_a_full_config_and_restarts_only_if_needed(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            full = (
                "config change CMD0 /name provisioned /log on\r\n"
                f"{STATIC_ETH0}\r\n"
                "config change ETH1 /addr 192.168.1.1 /mask 255.255.255.0\r\n"
                f"config change UP1 /url {b.server.url}\r\n"
                "vars create X/Y p 0102\r\n"
                "mod cmd FLASHDIR0 add-item cn=alice tel=1\r\n"
            )
            b.server.files["/prov.txt"] = full.encode()
            b.server.files[SCRIPT] = (
                f"mod cmd UP0 cfg http://127.0.0.1:{b.server.port}/prov.txt iresetn\r\n"
            ).encode()
            await b.configure(f"config change UP1 /url {b.server.url}")
            first = b.firmware
            requests = await b.advance(MINUTE)
            assert [r.path for r in requests] == [SCRIPT, "/prov.txt"]
            assert b.console_has(
                f"update script {b.script_url()} line 1: config loaded: "
                "4 modules, 1 vars, 1 flash directory items"
            )
            # The name changed: iresetn restarts, and the device runs the loaded config.
            assert b.console_has(f"restart (iresetn (update script {b.script_url()} line 1))")
            assert b.firmware is not first
            assert b.firmware.active.get("CMD0", "name") == "provisioned"
            status, body = await b.get("/!config%20show")
            assert status == 200
            assert body.startswith("config change CMD0 /name provisioned /log on\r\n")
            assert await b.execute("vars read X/Y") == ["X/Y p 0102\r\n"]
            assert await b.execute("mod cmd FLASHDIR0 list") == ["cn=alice tel=1\r\n"]
            status, saved = await b.get("/cfg.txt")
            for line in full.split("\r\n"):
                assert line in saved.split("\r\n")

            # Loaded again at the next poll: nothing changed, so no restart.
            second = b.firmware
            requests = await b.advance(15 * MINUTE)
            assert [r.path for r in requests] == [SCRIPT, "/prov.txt"]
            assert b.firmware is second
            assert b.firmware.update.outcome == "complete"

    run(main())


@needs_curl
def test_a_script_with_a_broken_line_runs_nothing(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            ring = ConfigRing(PartitionTable(b.host.device.flash, b.host.profile)["config"])
            b.server.files[SCRIPT] = (
                b"config change CMD0 /name broken\r\n"
                b"config write\r\n"
                b"config change ETH0 /dhcp maybe\r\n"
                b"config activate\r\n"
            )
            await b.configure(f"config change UP1 /url {b.server.url}")
            generations = len(ring.generations())
            assert len(await b.advance(MINUTE)) == 1
            reason = "ETH0 /dhcp maybe: not one of off, client, server, auto"
            assert (
                f"update script {b.script_url()} line 3: config change ETH0 /dhcp maybe: "
                f"{reason}; script refused, nothing run"
            ) in await b.log()
            assert b.firmware.update.outcome == (
                f"refused: line 3: config change ETH0 /dhcp maybe: {reason}"
            )
            assert b.firmware.edited.get("CMD0", "name") == "IP6000"  # lines 1 and 2 did not run
            assert b.firmware.active.get("CMD0", "name") == "IP6000"
            assert len(ring.generations()) == generations

            # An unknown command after a comment: line numbers count every line.
            b.server.files[SCRIPT] = (
                b"# provisioning\r\n"
                b"config change CMD0 /name broken\r\n"
                b"frobnicate\r\n"
                b"config write\r\n"
            )
            assert len(await b.advance(15 * MINUTE)) == 1
            assert (
                f"update script {b.script_url()} line 3: frobnicate: "
                "unknown command 'frobnicate'; script refused, nothing run"
            ) in await b.log()
            assert b.firmware.edited.get("CMD0", "name") == "IP6000"
            assert len(ring.generations()) == generations

    run(main())


# -- failures ------------------------------------------------------------------------------


@needs_curl
def test_server_down_and_404_are_logged_and_the_next_poll_comes(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        port = ports.tcp()
        async with bench(tmp_path, ports) as b:
            b.server.close()  # the server of the bench is not used: another comes later
            url = f"http://127.0.0.1:{port}/"
            script = f"http://127.0.0.1:{port}{SCRIPT}"
            await b.configure(f"config change UP1 /url {url}")
            # Nothing listens: the connection is refused.
            assert await b.advance(MINUTE) == []
            outcome = b.firmware.update.outcome or ""
            assert outcome.startswith("no script: cannot connect to 127.0.0.1:"), outcome
            log = await b.log()
            assert f"update script {script} failed: cannot connect to 127.0.0.1:{port}" in log
            assert b.firmware.update.new_device

            with RecordingServer("127.0.0.1", port) as server:
                # The server is up, without the script: 404, and polled again a minute later.
                await b.clock.advance(MINUTE)
                await until(b.idle, "the poll answered 404")
                (request,) = server.requests
                assert request.path == SCRIPT
                assert f"update script {script} failed: HTTP 404" in await b.log()
                assert b.firmware.update.outcome == "no script: HTTP 404"
                assert b.firmware.update.new_device

                server.files[SCRIPT] = b"config change CMD0 /name reached\r\n"
                await b.clock.advance(MINUTE)
                await until(b.idle, "the script ran")
                assert len(server.requests) == 2
                assert b.firmware.update.outcome == "complete"
                assert b.firmware.edited.get("CMD0", "name") == "reached"
                assert b.firmware.update.polls == 3

    run(main())


@needs_curl
def test_a_refused_connection_is_logged_as_connection_refused(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        port = ports.tcp()  # nothing listens there
        async with bench(tmp_path, ports) as b:
            await b.configure(f"config change UP1 /url http://127.0.0.1:{port}/")
            assert await b.advance(MINUTE) == []
            script = f"http://127.0.0.1:{port}{SCRIPT}"
            (line,) = [text for text in (await b.log()).splitlines() if "failed:" in text]
            assert f"update script {script} failed: " in line
            assert "connection refused" in line.lower(), line

    run(main())


@needs_curl
def test_a_device_without_an_address_fetches_nothing(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with bench(tmp_path, ports) as b:
            await b.configure(f"config change UP1 /url http://127.0.0.1:{b.server.port}/")
            # A reset by the firmware: ETH0 /dhcp auto is a DHCP client now, without a server.
            assert await b.execute("ireset") == ["reset\r\n"]
            assert await b.host.web_settled() is None
            await b.clock.advance(MINUTE)
            await until(
                lambda: any("network unreachable" in text for _, text in b.firmware.log),
                "the failed poll in the event log",
            )
            assert b.server.requests == []
            (line,) = [text for _, text in b.firmware.log if "network unreachable" in text]
            assert line == (
                f"update script {b.script_url()} failed: network unreachable: ETH0 has no address"
            )

    run(main())

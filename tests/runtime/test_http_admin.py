"""The firmware's admin web server on loopback, used with curl (a real runtime, real sockets)."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from pathlib import Path

import pytest

from ipgwsim.events import Mode
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.web import CURL, curl, short_press

pytestmark = pytest.mark.integration

needs_curl = pytest.mark.requires("curl")
#: Where the factory address 192.168.0.1 is served on loopback.
FACTORY_IP = "127.168.0.1"


@needs_curl
@pytest.mark.usefixtures("private_registry")
def test_factory_address_after_a_short_press_and_the_admin_pages(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            # Power-up with ETH0 /dhcp auto: a DHCP client, so no address and no web server.
            assert host.status().mode is Mode.FIRMWARE
            assert await host.web_settled() is None
            url = await short_press(rt, clock, host)
            assert url == f"http://{FACTORY_IP}:{http}"
            assert host.status().ip == FACTORY_IP  # the address that serves 192.168.0.1

            status, body = await curl(f"{url}/CMD0/box_info.xml")
            assert status == 200
            version = re.search(r'<sys version="([^"]*)"', body)
            assert version is not None
            assert (
                version.group(1)
                == "8.00 ipgwsim IP6000[08-6000.08], Bootcode[145], HW[009033100001]"
            )

            # The command line needs the admin's credentials; without them nothing runs.
            cmd = f"{url}/!config%20change%20CMD0%20/name%20hacked"
            assert (await curl(cmd))[0] == 401
            assert (await curl("-u", "admin:wrong", cmd))[0] == 401
            assert (await curl("-u", "root:ip6000", cmd))[0] == 401
            assert host.device.firmware is not None
            assert host.device.firmware.edited.get("CMD0", "name") == "IP6000"
            status, body = await curl("-u", "admin:ip6000", cmd)
            assert (status, body) == (200, "")
            status, body = await curl("-u", "admin:ip6000", f"{url}/!config%20show")
            assert status == 200
            assert body.startswith("config change CMD0 /name hacked\r\n")

            # A refused command: 400 and the error line.
            status, body = await curl("-u", "admin:ip6000", f"{url}/!frob")
            assert (status, body) == (400, "error: unknown command: frob\r\n")
            status, body = await curl(
                "-u", "admin:ip6000", f"{url}/!mod%20cmd%20FLASHMAN0%20info%20state"
            )
            assert status == 200
            assert re.search(r"^prot\s+\d+\s+\d+\s+\d+\r$", body, re.MULTILINE), body

            # The full config: config change lines, vars create lines, add-item lines.
            for line in (
                "vars create UPDATE/CHECK p 37",
                "mod cmd FLASHDIR0 add-item cn=alice (type=call(info=42",
                "config write",
            ):
                quoted = line.replace(" ", "%20").replace("(", "%28")
                assert (await curl("-u", "admin:ip6000", f"{url}/!{quoted}"))[0] == 200
            status, body = await curl("-u", "admin:ip6000", f"{url}/cfg.txt")
            assert status == 200
            lines = body.split("\r\n")
            assert "config change CMD0 /name hacked" in lines
            assert "vars create UPDATE/CHECK p 37" in lines
            assert "mod cmd FLASHDIR0 add-item cn=alice (type=call(info=42" in lines
            assert (await curl(f"{url}/cfg.txt"))[0] == 401
            status, body = await curl("-u", "admin:ip6000", f"{url}/log.txt")
            assert status == 200
            assert "CMD admin@ config change CMD0 /name hacked" in body
            assert (await curl("-u", "admin:ip6000", f"{url}/nothing"))[0] == 404

    run(main())


@needs_curl
def test_a_new_password_set_over_http_is_the_one_that_logs_in(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            change = "config%20change%20CMD0%20/name%20gw%20/user%20admin,n3w"
            assert (await curl("-u", "admin:ip6000", f"{url}/!{change}"))[0] == 200
            # The script of Howto:Config or Password Recovery: write, activate ("encrypt it"),
            # remove it from the view.
            status, body = await curl("-u", "admin:ip6000", f"{url}/!config%20write")
            assert (status, "crypted" in body) == (200, False)  # the password is not moved yet
            status, body = await curl("-u", "admin:ip6000", f"{url}/!config%20activate")
            assert status == 200
            assert "stored in the crypted var CMD0/AUTH" in body
            assert (await curl("-u", "admin:ip6000", f"{url}/!config%20show"))[0] == 401
            remove = "config%20change%20CMD0%20/name%20gw"
            assert (await curl("-u", "admin:n3w", f"{url}/!{remove}"))[0] == 200
            assert (await curl("-u", "admin:n3w", f"{url}/!config%20write"))[0] == 200
            status, body = await curl("-u", "admin:n3w", f"{url}/!config%20show")
            assert status == 200
            assert "/user" not in body
            status, body = await curl("-u", "admin:n3w", f"{url}/cfg.txt")
            assert "n3w" not in body
            assert re.search(r"^vars create CMD0/AUTH pc [0-9a-f]+\r$", body, re.MULTILINE)

    run(main())


@needs_curl
def test_uploading_a_config_loads_it_and_a_bad_one_changes_nothing(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            saved = tmp_path / "saved.txt"
            good = (
                "config change CMD0 /name loaded /log on\r\n"
                "config change ETH0 /dhcp auto\r\n"
                "vars create UPDATE/PROT p 3031\r\n"
                "mod cmd FLASHDIR0 add-item cn=bob (type=call\r\n"
            )
            saved.write_text(good)
            bad = tmp_path / "bad.txt"
            bad.write_text(good + "config change ETH0 /dhcp maybe\r\n")
            status, body = await curl("-u", "admin:ip6000", "-T", str(bad), f"{url}/upload/config")
            assert status == 400
            assert body == (
                "error: line 5: ETH0 /dhcp maybe: not one of off, client, server, auto\r\n"
            )
            firmware = host.device.firmware
            assert firmware is not None
            assert firmware.vars is not None
            assert firmware.vars.get("UPDATE/PROT") is None
            assert firmware.flashdir().items() == []
            # An empty body would leave the device without an address: refused.
            empty = ("-u", "admin:ip6000", "--data-binary", "")
            status, body = await curl(*empty, f"{url}/upload/config")
            assert status == 422, body
            assert "/upload/config?force=1" in body
            assert firmware.active.get("ETH0", "dhcp") is not None
            status, body = await curl(
                "-u", "admin:ip6000", "-F", f"file=@{saved}", f"{url}/upload/config"
            )
            assert status == 200, body
            assert body.startswith("config loaded: 2 modules, 1 vars, 1 flash directory items\r\n")
            assert firmware.active.get("CMD0", "name") == "loaded"
            assert firmware.flashdir().items() == [("cn=bob", b"(type=call")]
            status, body = await curl("-u", "admin:ip6000", f"{url}/cfg.txt")
            assert body == good

    run(main())


@needs_curl
def test_the_web_server_goes_with_the_firmware_and_addresses_do_not_collide(
    tmp_path: Path,
    ports: Ports,
) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            first, second = rt.add_devices("IP6000", 2)
            url = await short_press(rt, clock, first)
            assert (await curl(f"{url}/CMD0/box_info.xml"))[0] == 200
            # The second device wants the same factory address: not served, and said why.
            released = rt.press(second.name, 0.3)
            await clock.advance(0.3)
            await asyncio.wait_for(released, 5)
            assert await second.web_settled() is None
            assert any(
                f"ETH0 {FACTORY_IP} is not served: {FACTORY_IP} is held by {first.name}" in error
                for error in second.errors
            ), second.errors
            # TFTP mode: the firmware stops, and so does its web server.
            released = rt.press(first.name, 1.8)
            await clock.advance(1.8)
            await asyncio.wait_for(released, 5)
            assert first.status().mode is Mode.TFTP_MODE
            assert await first.web_settled() is None
            assert CURL is not None
            proc = await asyncio.create_subprocess_exec(
                CURL, "-s", "--max-time", "5", f"{url}/CMD0/box_info.xml",
                stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            assert await proc.wait() == 7  # curl: could not connect
            # The address is free again: the second device takes it at its next restart.
            released = rt.press(second.name, 0.3)
            await clock.advance(0.3)
            await asyncio.wait_for(released, 5)
            server = await second.web_settled()
            assert server is not None
            assert server.ip == FACTORY_IP

    run(main())


@needs_curl
def test_bad_bodies_and_a_stalled_client(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            form = ("-H", "Content-Type: multipart/form-data; boundary=x", "--data-binary", "junk")
            # Without credentials the body is never read: 401, not a parse error.
            assert (await curl(*form, f"{url}/upload/config"))[0] == 401
            status, body = await curl("-u", "admin:ip6000", *form, f"{url}/upload/config")
            assert status == 400, body
            assert body.startswith("400 bad request body")
            assert host.errors == []
            # A client that sends half a request and waits does not hold up a restart.
            _, writer = await asyncio.open_connection(FACTORY_IP, http)
            auth = base64.b64encode(b"admin:ip6000")
            writer.write(
                b"PUT /upload/prot HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth
                + b"\r\nContent-Length: 1000\r\n\r\nab"
            )  # fmt: skip
            await writer.drain()
            assert (await curl("-u", "admin:ip6000", f"{url}/!config%20write"))[0] == 200
            released = rt.press(host.name, 0.3)
            await clock.advance(0.3)
            await asyncio.wait_for(released, 5)
            server = await asyncio.wait_for(host.web_settled(), 5)
            assert server is not None
            assert (await curl(f"{url}/CMD0/box_info.xml"))[0] == 200
            writer.close()

    run(main())


@needs_curl
@pytest.mark.parametrize(
    "garbage",
    [b"garbage\r\n\r\n", b"GET / HTTP/1.1\r\nno colon in this header\r\n\r\n"],
    ids=["request-line", "header"],
)
def test_a_malformed_request_is_a_400_and_one_quiet_log_line(
    tmp_path: Path, ports: Ports, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            caplog.clear()
            reader, writer = await asyncio.open_connection(FACTORY_IP, http)
            writer.write(garbage)
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer
            # One line at most, below WARNING, without a traceback.
            records = [r for r in caplog.records if r.name.startswith(("aiohttp", "ipgwsim"))]
            assert len(records) <= 1, [r.getMessage() for r in records]
            assert all(r.levelno < logging.WARNING and r.exc_info is None for r in records)
            assert all("\n" not in r.getMessage() for r in records)
            assert all(
                r.getMessage().startswith("bad HTTP request from 127.0.0.1: Invalid ")
                for r in records
            )
            # The server keeps serving.
            status, _ = await curl(f"{url}/CMD0/box_info.xml")
            assert status == 200
            assert host.errors == []

    caplog.set_level(logging.DEBUG)
    run(main())

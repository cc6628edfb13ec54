"""The control API on the Unix socket: HTTP/JSON, clear refusals, the streaming watch."""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web_protocol

from ipgwsim.runtime.api import Api
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.connlimit import ConnectionLimits
from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, manual_runtime, read_to_the_end, run
from ipgwsim.testing.needs import find_program
from ipgwsim.testing.web import short_press

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


@asynccontextmanager
async def session(path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client on the control socket ``path``."""
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(path)), base_url="http://ipgwsim"
    ) as client:
        yield client


async def call(
    client: aiohttp.ClientSession,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request; its status and its JSON reply (which always has ``ok``)."""
    sent = JSON if body is not None and headers is None else headers
    async with client.request(method, path, data=body, headers=sent) as response:
        assert response.content_type == "application/json"
        reply = await response.json()
        assert isinstance(reply["ok"], bool)
        assert reply["ok"] or reply["error"].strip()
        return response.status, reply


def test_requests_and_refusals(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            rt.add_devices("IP6000", 1)
            dev = "/v1/devices/ip6000-1"
            deep = b"[" * 5000 + b"]" * 5000
            async with session(rt.state.control_socket) as client:
                asked = [
                    ("GET", "/v1/status", None, None),
                    ("GET", "/v1/dance", None, None),
                    ("DELETE", "/v1/status", None, None),
                    ("POST", f"{dev}/power", b"not json", None),
                    ("POST", f"{dev}/power", b"{}", None),
                    ("POST", "/v1/devices/ip6000-7/power", b'{"on": true}', None),
                    ("POST", f"{dev}/press", b'{"hold": true}', None),
                    ("POST", f"{dev}/press", b'{"hold": 1e300}', None),
                    ("POST", f"{dev}/press", b'{"hold": 3600.5}', None),
                    ("POST", f"{dev}/press", b'{"hold": 1' + b"0" * 400 + b"}", None),
                    ("POST", f"{dev}/press", b'{"hold": 1, "huld": 2}', None),
                    ("POST", f"{dev}/press", b"[1]", None),
                    ("POST", f"{dev}/cut", b'{"at_op": 0}', None),
                    ("POST", f"{dev}/cut", b'{"at_op": 3, "mode": "melted"}', None),
                    ("POST", f"{dev}/power", b'{"on": false}', {"Content-Type": "text/plain"}),
                    ("POST", f"{dev}/power", b'{"on": false}', {}),
                    ("GET", f"{dev}/console?lines=x", None, None),
                    ("GET", f"{dev}/console?lines=-1", None, None),
                    ("GET", f"{dev}/console?line=2", None, None),
                    ("POST", f"{dev}/impair", b'{"impairment": "loss=300%"}', None),
                    ("POST", f"{dev}/power", b'{"on": false, "x": ' + deep + b"}", None),
                    ("POST", f"{dev}/power", b'{"on": false, "x": "' + b"a" * 70000 + b'"}', None),
                ]
                replies = [await call(client, *request) for request in asked]
                unchanged = await call(client, "GET", dev)
                seen = await call(client, "GET", f"{dev}/console")
                off = await call(client, "POST", f"{dev}/power", b'{"on": false}')
                console = await call(client, "GET", f"{dev}/console?lines=2")
                mac = quote(rt.devices[0].mac, safe="")
                by_mac = await call(client, "GET", f"/v1/devices/{mac}")
                still = await call(client, "GET", "/v1/status")
            status, *errors = replies
            assert status[0] == 200
            assert status[1]["devices"][0]["mode"] == "running firmware"
            routes = (
                "GET /v1/status, GET /v1/devices/D, POST /v1/devices/D/press, "
                "POST /v1/devices/D/button, POST /v1/devices/D/power, POST /v1/devices/D/cut, "
                "GET /v1/devices/D/console, GET|POST /v1/devices/D/impair, "
                "GET /v1/devices/D/panel, GET /v1/devices/D/flash, GET /v1/watch, "
                "GET /v1/devices/D/console/ws (WebSocket)"
            )
            assert [(code, reply["error"]) for code, reply in errors] == [
                (404, f"no route GET /v1/dance (routes: {routes})"),
                (405, "method DELETE is not allowed on /v1/status (allowed: GET)"),
                (400, "bad request body: Expecting value: line 1 column 1 (char 0)"),
                (400, "missing argument 'on'"),
                (404, "no device 'ip6000-7' in this runtime (devices: ip6000-1)"),
                (400, "argument 'hold' has the wrong type: True"),
                (400, "hold must be 0 to 3600 device seconds, not 1e+300"),
                (400, "hold must be 0 to 3600 device seconds, not 3600.5"),
                (400, "hold must be 0 to 3600 device seconds, not 1e+400"),
                (400, "unknown argument 'huld' (this route takes: hold)"),
                (400, "the request body must be a JSON object, not list"),
                (400, "the cut must be at flash operation 1 or later, not 0"),
                (400, "cut mode must be 'torn' or 'atomic', not 'melted'"),
                (415, "a POST needs Content-Type: application/json, not text/plain"),
                (415, "a POST needs Content-Type: application/json, not application/octet-stream"),
                (400, "argument 'lines' must be a whole number, not 'x'"),
                (400, "argument 'lines' must be 0 or more, not -1"),
                (400, "unknown query argument 'line' (this route takes: lines)"),
                (400, "'loss=300%': loss must be 0% to 100%"),
                (400, "bad request body: the JSON is nested too deeply"),
                (413, "the request body is longer than 65536 bytes"),
            ]
            # None of the refused requests changed the device: it ran its firmware, its
            # LED steady, with no word of a switch-off, a press or a cut on its console,
            # until the power was switched off.
            assert (unchanged[1]["mode"], unchanged[1]["led"]) == (
                "running firmware",
                "steady green",
            )
            assert seen[1]["lines"]
            assert not [
                line
                for line in seen[1]["lines"]
                if any(word in line for word in ("switched off", "reset button", "power cut"))
            ]
            assert off[0] == 200
            assert (off[1]["mode"], off[1]["led"]) == ("off", "off")
            assert console[1]["lines"][-1].endswith("] mode: off (switched off)")
            assert len(console[1]["lines"]) == 2
            assert "%3A" in mac
            assert by_mac[1]["name"] == "ip6000-1"
            assert still[0] == 200

    run(main())


def test_panel_and_flash_of_a_device(tmp_path: Path, ports: Ports) -> None:
    """PANEL and FLASH over HTTP are the views of the device (tests/runtime/test_panelview.py
    checks the views themselves); the flash view follows a power cut; an unknown device is 404."""

    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            rt.add_devices("IP6000", 1)
            rt.add_devices("IP0011", 1)
            async with session(rt.state.control_socket) as client:
                panels = [
                    await call(client, "GET", f"/v1/devices/{h.name}/panel") for h in rt.devices
                ]
                before = await call(client, "GET", "/v1/devices/ip6000-1/flash")
                cut = await call(client, "POST", "/v1/devices/ip6000-1/cut", b'{"at_op": 1}')
                host = rt.devices[0]
                password = host.profile.firmware.default_password
                host.console.feed(f"admin\r{password}\rconfig write\r".encode())
                after = await call(client, "GET", "/v1/devices/ip6000-1/flash")
                unknown = await call(client, "GET", "/v1/devices/ip6000-9/panel")
                extra = await call(client, "GET", "/v1/devices/ip6000-1/flash?x=1")
            assert [code for code, _ in panels] == [200, 200]
            assert [p["model"] for _, p in panels] == ["IP6000", "IP0011"]
            assert "orange" in panels[0][1]["leds"][0]["colours"]
            assert "orange" not in panels[1][1]["leds"][0]["colours"]
            assert before[0] == 200
            assert before[1]["last_cut"] is None
            assert cut[0] == 200
            assert after[1]["last_cut"]["at_op"] == cut[1]["at_op"]
            assert unknown[0] == 404
            assert unknown[1]["error"].startswith("no device 'ip6000-9' in this runtime")
            assert extra == (
                400,
                {"ok": False, "error": "unknown query argument 'x' (this route takes: none)"},
            )

    run(main())


@pytest.mark.usefixtures("private_registry")
def test_watch_streams_until_the_client_goes(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, clock):
            rt.add_devices("IP6000", 2)
            async with session(rt.state.control_socket) as client:
                bad = await call(client, "GET", "/v1/watch?device=ip6000-9")
                assert bad[0] == 404
                response = await client.get("/v1/watch?device=00:90:33:10:00:02")
                assert response.status == 200
                assert response.content_type == "application/x-ndjson"

                async def line() -> Any:
                    return json.loads(await asyncio.wait_for(response.content.readline(), 5))

                assert await line() == {"ok": True, "watching": "ip6000-2"}
                rt.power("ip6000-1", False)  # another device: not streamed
                rt.power("ip6000-2", False)
                await clock.advance(1.0)
                rt.power("ip6000-2", True)
                got = [await line() for _ in range(5)]
                response.close()
            assert got == [
                {"device": "ip6000-2", "time": 0.0, "event": "led", "led": "off"},
                {
                    "device": "ip6000-2",
                    "time": 0.0,
                    "event": "power",
                    "on": False,
                    "cause": "switched off",
                },
                {
                    "device": "ip6000-2",
                    "time": 0.0,
                    "event": "mode",
                    "mode": "off",
                    "reason": "switched off",
                },
                {"device": "ip6000-2", "time": 1.0, "event": "led", "led": "steady green"},
                {
                    "device": "ip6000-2",
                    "time": 1.0,
                    "event": "mode",
                    "mode": "running firmware",
                    "reason": "firmware started",
                },
            ]
        # Stopping while a watch stream was open (and after it went) finishes cleanly.
        assert not (tmp_path / "state" / "control.sock").exists()

    run(main())


def test_a_watch_open_at_the_stop_ends_with_the_runtime(tmp_path: Path, ports: Ports) -> None:
    """A watch streams what the device did, then ends (the iterator finishes, nothing
    raised) when the runtime stops while it is open."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        watching: asyncio.Future[None] = loop.create_future()
        three: asyncio.Future[None] = loop.create_future()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            rt.add_devices("IP800", 1)

            def watch() -> tuple[list[dict[str, Any]], str]:
                got: list[dict[str, Any]] = []
                with ControlClient(rt.state.path, timeout=10) as client:
                    events = client.watch()  # subscribed once this returns
                    loop.call_soon_threadsafe(watching.set_result, None)
                    for event in events:
                        got.append(event)
                        if len(got) == 3:
                            loop.call_soon_threadsafe(three.set_result, None)
                return got, "ended"

            watcher = asyncio.ensure_future(asyncio.to_thread(watch))
            await asyncio.wait_for(watching, 10)
            rt.power("ip800-1", False)
            await asyncio.wait_for(three, 10)
            assert not watcher.done()
        # The stream ended when the runtime stopped, with what happened before the stop.
        assert await asyncio.wait_for(watcher, 10) == (
            [
                {"device": "ip800-1", "time": 0.0, "event": "led", "led": "off"},
                {
                    "device": "ip800-1",
                    "time": 0.0,
                    "event": "power",
                    "on": False,
                    "cause": "switched off",
                },
                {
                    "device": "ip800-1",
                    "time": 0.0,
                    "event": "mode",
                    "mode": "off",
                    "reason": "switched off",
                },
            ],
            "ended",
        )

    run(main())


def test_blocking_client_from_another_thread(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            rt.add_devices("IP800", 1)

            def use_client() -> dict[str, Any]:
                with ControlClient(rt.state.path, timeout=10) as client:
                    with pytest.raises(ControlError, match="no device 'x'"):
                        client.request("power", device="x", on=True)
                    with pytest.raises(ControlError, match="unknown command 'dance'"):
                        client.request("dance")
                    impaired = client.request(
                        "impair", device="ip800-1", impairment="loss=30%,seed=7"
                    )
                    assert impaired["impairment"] == "loss=30%,seed=7"
                    shown = client.request("impair", device="ip800-1")
                    assert shown["previous"] == "loss=30%,seed=7"
                    assert client.request("console", device="ip800-1", lines=1)["lines"]
                    assert client.request("panel", device="ip800-1")["model"] == "IP800"
                    assert client.request("flash", device="ip800-1")["ring"]["region"] == "config"
                    return client.request("status")  # the connection stays usable

            reply = await asyncio.to_thread(use_client)
            assert reply["devices"][0]["name"] == "ip800-1"

    run(main())


def test_a_long_state_path_still_gets_a_control_socket(tmp_path: Path, ports: Ports) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # beyond the 108 bytes of a socket address

    async def main() -> None:
        async with Runtime(
            deep, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            rt.add_devices("IP6000", 1)

            def status() -> dict[str, Any]:
                with ControlClient(deep, timeout=10) as client:
                    return client.request("status")

            assert len(str(rt.state.control_socket)) > 108
            assert (await asyncio.to_thread(status))["devices"][0]["name"] == "ip6000-1"
        assert not (deep / "control.sock").exists()

    run(main())


DOCS = Path(__file__).parents[2] / "docs" / "control-api.md"


def doc_commands(state: Path) -> list[list[str]]:
    """The commands of the first ``sh`` block of docs/control-api.md, for ``state``."""
    text = DOCS.read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").replace("/tmp/lab", str(state)).splitlines()
    return [shlex.split(line) for line in lines if line.strip()]


@pytest.mark.requires("curl")
def test_the_docs_curl_examples(tmp_path: Path, ports: Ports) -> None:
    """docs/control-api.md's curl commands, as written, against a runtime: status, power
    off, a 1.8 s press (virtual time moves while curl waits), the watch stream."""
    curl = str(find_program("curl"))
    state = tmp_path / "state"
    status, power, press, watch = doc_commands(state)
    assert [c[0] for c in (status, power, press, watch)] == ["curl"] * 4

    async def curl_json(command: list[str]) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            curl, "-sS", *command[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        return dict(json.loads(out))

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(state, port=ports.udp(), http_port=ports.tcp(), clock=clock) as rt:
            rt.add_devices("IP6000", 1)
            assert (await curl_json(status))["devices"][0]["name"] == "ip6000-1"
            off = await curl_json(power)
            assert (off["ok"], off["mode"]) == (True, "off")
            rt.power("ip6000-1", True)
            with rt.watch("ip6000-1") as watcher:
                pressing = asyncio.ensure_future(curl_json(press))
                await watcher.next(10)  # the press came: the button is down
                await clock.advance(1.8)
                pressed = await pressing
            assert (pressed["hold"], pressed["mode"]) == (1.8, "TFTP mode")
            proc = await asyncio.create_subprocess_exec(
                curl, "-sS", *watch[1:], stdout=subprocess.PIPE
            )
            try:
                assert proc.stdout is not None
                first = await asyncio.wait_for(proc.stdout.readline(), 30)
                assert json.loads(first) == {"ok": True, "watching": None}
            finally:
                proc.terminate()
                await proc.wait()

    run(main())


def test_the_button_held_and_let_go(tmp_path: Path, ports: Ports) -> None:
    """Down, 1.8 device seconds, up: TFTP mode, as a timed press of 1.8 s gives; a second
    down while held, an up while not held, a down while off: 409, the device untouched."""

    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, clock):
            rt.add_devices("IP6000", 1)
            button = "/v1/devices/ip6000-1/button"
            async with session(rt.state.control_socket) as client:
                not_held = await call(client, "POST", button, b'{"down": false}')
                await clock.advance(2.0)
                down = await call(client, "POST", button, b'{"down": true}')
                again = await call(client, "POST", button, b'{"down": true}')
                await clock.advance(1.8)
                up = await call(client, "POST", button, b'{"down": false}')
                wrong = await call(client, "POST", button, b'{"down": 1}')
                await call(client, "POST", "/v1/devices/ip6000-1/power", b'{"on": false}')
                lines = len(rt.devices[0].console.tail(1000))
                off = await call(client, "POST", button, b'{"down": true}')
                after_off = await call(client, "GET", "/v1/devices/ip6000-1")
                console = rt.devices[0].console.tail(1000)
            assert not_held == (
                409,
                {"ok": False, "error": "the reset button of ip6000-1 is not held"},
            )
            assert down[0] == 200
            assert down[1]["button"] == {"down": True, "since": 2.0, "held": None}
            assert down[1]["led"] == "blinking while the button is held"
            assert again == (
                409,
                {"ok": False, "error": "the reset button of ip6000-1 is already held"},
            )
            assert up[0] == 200
            assert up[1]["button"] == {"down": False, "since": 2.0, "held": 1.8}
            assert up[1]["mode"] == "TFTP mode"
            assert wrong == (400, {"ok": False, "error": "argument 'down' has the wrong type: 1"})
            assert off == (
                409,
                {"ok": False, "error": "ip6000-1 does not read its reset button now (off)"},
            )
            # The refused press changed nothing: still off and dark, not held, no new line.
            assert (after_off[1]["mode"], after_off[1]["led"]) == ("off", "off")
            assert rt.devices[0].device.boot.button is None
            assert len(console) == lines

    run(main())


def test_a_press_while_the_button_is_held_is_refused(tmp_path: Path, ports: Ports) -> None:
    """``/press`` while ``/button`` holds the button, ``/press`` and ``/button`` during a
    timed press, ``/button`` while the device clears its config: 409, the device untouched
    (its mode, its LED, the press going on, no console line of a press or a release)."""

    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, clock):
            rt.add_devices("IP6000", 1)
            host = rt.devices[0]
            boot = host.device.boot
            dev = "/v1/devices/ip6000-1"
            held = {"ok": False, "error": "the reset button of ip6000-1 is already held"}

            def look() -> tuple[str, str, float | None, int]:
                """The device now (its timers due by now fired, such as a first blink)."""
                host.catch_up()
                status = host.status()
                since = boot.button.since if boot.button is not None else None
                return status.mode.value, status.led.value, since, len(host.console.tail(1000))

            async with session(rt.state.control_socket) as client:
                await clock.advance(2.0)
                down = await call(client, "POST", f"{dev}/button", b'{"down": true}')
                assert down[0] == 200
                before = look()
                assert before[:3] == ("running firmware", "blinking while the button is held", 2.0)
                press = await call(client, "POST", f"{dev}/press", b'{"hold": 1}')
                assert press == (409, held)
                assert look() == before
                # Still held after the second the refused press asked for: no timed release.
                await clock.advance(1.5)
                assert look()[:3] == before[:3]
                assert not any("released" in line for line in host.console.tail(1000))
                up = await call(client, "POST", f"{dev}/button", b'{"down": false}')
                assert (up[0], up[1]["button"]["held"]) == (200, 1.5)

                # A timed press (the Python API's) going on: neither route presses again.
                await clock.advance(10.0)  # the restart the short press asked for is done
                timed = rt.press("ip6000-1", 3.0)
                during = look()
                again = await call(client, "POST", f"{dev}/press", b'{"hold": 0.2}')
                button = await call(client, "POST", f"{dev}/button", b'{"down": true}')
                assert (again, button) == ((409, held), (409, held))
                assert look() == during
                await clock.advance(3.0)
                await asyncio.wait_for(timed, 5)
                released = [line for line in host.console.tail(1000) if "released" in line]
                assert released == [
                    "[   3.500] reset button released after 1.5 s: medium press",
                    "[  16.500] reset button released after 3.0 s: medium press",
                ]

                # A long press clears the config; while it clears, a press is not read:
                # refused before it reaches the device.
                long_s = host.profile.reset.long_s
                await call(client, "POST", f"{dev}/button", b'{"down": true}')
                await clock.advance(long_s + 0.5)
                await call(client, "POST", f"{dev}/button", b'{"down": false}')
                clearing = look()
                assert clearing[:3] == ("clearing config", clearing[1], None)
                refused = await call(client, "POST", f"{dev}/button", b'{"down": true}')
                assert refused == (
                    409,
                    {
                        "ok": False,
                        "error": "ip6000-1 does not read its reset button now (clearing config)",
                    },
                )
                assert look() == clearing

    run(main())


async def next_sse(response: aiohttp.ClientResponse) -> tuple[str, Any]:
    """The next Server-Sent Event up to its blank line: its kind and its data
    (``("comment", text)`` for a block of a comment only)."""
    kind, data, comment = "message", None, None
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode()
        assert line, "the stream ended"
        if line == "\n":
            return ("comment", comment) if data is None else (kind, data)
        field, _, value = line.rstrip("\n").partition(":")
        value = value.removeprefix(" ")
        if not field:
            comment = value
        elif field == "event":
            kind = value
        elif field == "data":
            data = json.loads(value)


def test_watch_as_server_sent_events(tmp_path: Path, ports: Ports) -> None:
    """hello with the clock, then each watched event followed by the device's state; a
    device's address and its web server that starts listening (a short press restarts
    it with the factory address; no watched event) are states too."""

    async def main() -> None:
        clock = ManualClock(start=5.0)
        async with (
            Runtime(tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock) as rt,
            session(rt.state.control_socket) as client,
        ):
            response = await client.get("/v1/watch", headers={"Accept": "text/event-stream"})
            assert response.content_type == "text/event-stream"
            assert await next_sse(response) == (
                "hello",
                {"watching": None, "clock": {"speed": None, "now": 5.0}},
            )
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            seen: list[tuple[str, Any]] = []
            while not any(kind == "state" and data["web"] for kind, data in seen):
                seen.append(await next_sse(response))
            events = [data for kind, data in seen if kind == "device-event"]
            assert [e["event"] for e in events[:2]] == ["led", "mode"]
            assert events[-1] == {
                "device": "ip6000-1", "time": 5.3, "event": "led", "led": "steady green"
            }  # fmt: skip
            # Every device-event is followed by the device's state at once.
            for index, (kind, _) in enumerate(seen):
                if kind == "device-event":
                    assert seen[index + 1][0] == "state"
                    assert seen[index + 1][1]["name"] == "ip6000-1"
            # The address and the web server's start came without a watched event:
            # states of their own, the web server's last.
            assert seen[-1][1]["web"] == f"{url}/"
            alone = [
                data
                for index, (kind, data) in enumerate(seen)
                if kind == "state" and seen[index - 1][0] != "device-event"
            ]
            assert alone[-1] == seen[-1][1]
            assert any(d["ip"] is not None and d["web"] is None for d in alone[:-1])
            status = await call(client, "GET", "/v1/status")
            assert status[1]["clock"] == {"speed": None, "now": 5.3}
            response.close()

    run(main())


def test_an_idle_sse_stream_gets_keep_alive_comments(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            assert rt._control is not None
            rt._control.api.keep_alive = 0.01  # real seconds; 15 in a runtime
            async with session(rt.state.control_socket) as client:
                response = await client.get("/v1/watch", headers={"Accept": "text/event-stream"})
                assert (await next_sse(response))[0] == "hello"
                assert await next_sse(response) == ("comment", "keep-alive")
                assert await next_sse(response) == ("comment", "keep-alive")
                response.close()

    run(main())


async def ws_until(ws: aiohttp.ClientWebSocketResponse, text: str) -> str:
    """The console's bytes from a WebSocket until ``text`` has come."""
    seen = b""
    while text.encode() not in seen:
        message = await asyncio.wait_for(ws.receive(), 5)
        assert message.type is aiohttp.WSMsgType.BINARY, message
        seen += message.data
    return seen.decode()


def test_a_console_websocket_logs_in_and_runs_a_command(tmp_path: Path, ports: Ports) -> None:
    """A WebSocket is a terminal of its own: login:, the login of docs/runtime.md, a
    command; the connection budget refuses one over the device's limit with 1013 and
    why; the runtime's stop closes the others with 1000."""

    async def main() -> None:
        limits = ConnectionLimits(per_device=1)
        async with Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            connection_limits=limits,
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            path = "/v1/devices/ip6000-1/console/ws"
            async with session(rt.state.control_socket) as client:
                ws = await client.ws_connect(path)
                assert (await ws_until(ws, "login: ")).endswith("login: ")
                await ws.send_str("admin\r")
                await ws_until(ws, "password: ")
                await ws.send_bytes(b"ip6000\r")
                await ws_until(ws, "IP6000> ")
                await ws.send_str("config show\r")
                shown = await ws_until(ws, "IP6000> ")
                assert "config change" in shown or "CMD0" in shown, shown
                # The device's own lines reach the WebSocket too.
                rt.power("ip6000-1", False)
                assert "mode: off (switched off)" in await ws_until(ws, "switched off")
                second = await client.ws_connect(path)
                refused = await asyncio.wait_for(second.receive(), 5)
                assert refused.type is aiohttp.WSMsgType.CLOSE
                assert refused.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER
                assert refused.extra == (
                    "ip6000-1 has 1 console WebSocket connections open, its limit"
                )
                not_ws = await call(client, "GET", path)
                assert not_ws == (
                    400,
                    {
                        "ok": False,
                        "error": f"{path} is a WebSocket: ask with Upgrade: websocket "
                        "(a browser's new WebSocket(url))",
                    },
                )
                # With Upgrade: websocket, a bad handshake is told what was wrong.
                asked: dict[str, str | None] = {
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version": "13",
                }
                bad = f"bad WebSocket handshake on {path}: "
                changes: list[tuple[dict[str, str | None], str]] = [
                    ({"Upgrade": "h2c"}, f"{path} is a WebSocket: ask with Upgrade: websocket, "
                     "not 'h2c'"),
                    ({"Sec-WebSocket-Version": "14"},
                     bad + "Sec-WebSocket-Version '14' is not spoken here (13 is)"),
                    ({"Sec-WebSocket-Version": None},
                     bad + "Sec-WebSocket-Version is missing (13 is spoken here)"),
                    ({"Sec-WebSocket-Key": "c2hvcnQ="},
                     bad + "Sec-WebSocket-Key must be 16 bytes in base64, not 'c2hvcnQ='"),
                    ({"Connection": "keep-alive"},
                     bad + "the Connection header must name Upgrade, not 'keep-alive'"),
                ]  # fmt: skip
                for changed, error in changes:
                    headers = {k: v for k, v in (asked | changed).items() if v is not None}
                    async with client.get(path, headers=headers) as response:
                        assert (response.status, await response.json()) == (
                            400,
                            {"ok": False, "error": error},
                        ), changed
                        assert response.headers["Sec-WebSocket-Version"] == "13"
                assert host.console_clients.count() == 1
                stopping = asyncio.ensure_future(rt.stop())
                closed = await asyncio.wait_for(ws.receive(), 5)
                await stopping
                assert closed.type is aiohttp.WSMsgType.CLOSE
                assert closed.data == aiohttp.WSCloseCode.OK

    run(main())


WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def never_reading(port: int, path: str, headers: str) -> socket.socket:
    """A client on the UI port that sends one request and never reads: a small receive
    buffer, so what it is sent soon waits at the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode())
    sock.setblocking(False)
    return sock


def ws_client(port: int) -> socket.socket:
    return never_reading(
        port,
        "/v1/devices/ip6000-1/console/ws",
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n",
    )


def sse_client(port: int) -> socket.socket:
    return never_reading(port, "/v1/watch", "Accept: text/event-stream\r\n")


async def cut_off(sock: socket.socket) -> None:
    """The server cut the connection off: after what reached the client, a reset (not
    an orderly end, nor the connection left open)."""
    with pytest.raises(ConnectionResetError):
        await read_to_the_end(sock)


async def flood(rt: Runtime, host: DeviceHost, until: Callable[[], bool]) -> None:
    """Console lines, and power toggles (events for the SSE streams), until ``until``."""
    async with asyncio.timeout(30):
        for count in range(200_000):
            if until():
                return
            host.console.write("x" * 200)
            if count % 20 == 0:
                rt.power(host.name, count % 40 == 0)
                for _ in range(20):  # the streams' tasks take their turns
                    await asyncio.sleep(0)
    raise AssertionError("the flood did not get there")


async def opened(api: Api, host: DeviceHost, count: int) -> None:
    """The API has ``count`` streams open, one of them ``host``'s console WebSocket."""
    async with asyncio.timeout(10):
        while len(api._streams) != count or host.console_clients.count() != 1:
            await asyncio.sleep(0)


def test_clients_that_never_read_are_cut_off(
    tmp_path: Path, ports: Ports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A console WebSocket that stops reading while the console floods leaves the
    connection budget and its connection is cut off once 1 MiB waits for it; an SSE
    stream whose write its client does not take in time is cut off; at the stop, the
    streams still behind are cut off at once: no handler is left for aiohttp's graceful
    wait and no task of the API is left."""
    in_progress: list[bool] = []
    shutdown = web_protocol.RequestHandler.shutdown

    async def recording(self: web_protocol.RequestHandler, timeout: float | None = 15.0) -> None:
        in_progress.append(self._request_in_progress)
        await shutdown(self, timeout)

    monkeypatch.setattr(web_protocol.RequestHandler, "shutdown", recording)

    async def main() -> None:
        before = asyncio.all_tasks()
        async with Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            ui=("127.0.0.1", 0),
        ) as rt:
            api, ui = rt.api, rt.ui
            assert api is not None
            assert ui is not None
            (host,) = rt.add_devices("IP6000", 1)
            # The WebSocket is cut off by the console's 1 MiB (its writes may wait an
            # hour); the SSE stream by its write's timeout.
            api.send_timeout = 3600.0
            with ws_client(ui.port) as ws:
                await opened(api, host, 1)
                api.send_timeout = 0.2
                with sse_client(ui.port) as sse:
                    await opened(api, host, 2)
                    await flood(rt, host, lambda: not api._streams)
                    assert host.console_clients.count() == 0
                    await cut_off(ws)
                    await cut_off(sse)
            # Two more, behind at the stop; their writes could wait an hour.
            api.send_timeout = 3600.0
            with ws_client(ui.port) as ws, sse_client(ui.port) as sse:
                await opened(api, host, 2)
                await flood(rt, host, lambda: all(s.unsent() for s in api._streams.values()))
                await rt.stop()
                assert not any(in_progress)
                assert host.console_clients.count() == 0
                assert [task for task in asyncio.all_tasks() - before if not task.done()] == []
                await cut_off(ws)
                await cut_off(sse)

    run(main())

"""The control protocol on the Unix socket: JSON lines, clear errors, streaming watch."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run

pytestmark = pytest.mark.integration


async def exchange(path: Path, *lines: bytes) -> list[dict[str, Any]]:
    """Send raw request lines on one connection; one reply per line."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        replies = []
        for line in lines:
            writer.write(line)
            await writer.drain()
            replies.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
        return replies
    finally:
        writer.close()


def test_requests_and_errors(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            rt.add_devices("IP6000", 1)
            path = rt.state.control_socket
            replies = await exchange(
                path,
                b'{"cmd": "status"}\n',
                b"not json\n",
                b'{"cmd": "dance"}\n',
                b'{"cmd": "power", "device": "ip6000-1"}\n',
                b'{"cmd": "power", "device": "ip6000-7", "on": true}\n',
                b'{"cmd": "press", "device": "ip6000-1", "hold": true}\n',
                b'{"cmd": "press", "device": "ip6000-1", "hold": 1e300}\n',
                b'{"cmd": "press", "device": "ip6000-1", "hold": 3600.5}\n',
                b'{"cmd": "cut", "device": "ip6000-1", "at_op": 0}\n',
                b'{"cmd": "cut", "device": "ip6000-1", "at_op": 3, "mode": "melted"}\n',
                b'{"cmd": "power", "device": "ip6000-1", "on": false}\n',
                b'{"cmd": "console", "device": "ip6000-1", "lines": 2}\n',
                b'{"cmd": "status", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
                b"[" * 5000 + b"]" * 5000 + b"\n",
                b'{"cmd": "status"}\n',
            )
            status, *errors, off, console, deep_1, deep_2, still = replies
            assert status["ok"] is True
            assert status["devices"][0]["mode"] == "running firmware"
            assert [e["ok"] for e in errors] == [False] * 9
            assert [e["error"] for e in errors] == [
                "bad request: Expecting value: line 1 column 1 (char 0)",
                "unknown command 'dance' "
                "(known: status, press, power, cut, console, impair, watch)",
                "missing argument 'on'",
                "no device 'ip6000-7' in this runtime (devices: ip6000-1)",
                "argument 'hold' has the wrong type: True",
                "hold must be 0 to 3600 device seconds, not 1e+300",
                "hold must be 0 to 3600 device seconds, not 3600.5",
                "the cut must be at flash operation 1 or later, not 0",
                "cut mode must be 'torn' or 'atomic', not 'melted'",
            ]
            assert (off["ok"], off["mode"], off["led"]) == (True, "off", "off")
            assert console["lines"][-1].endswith("] mode: off (switched off)")
            assert len(console["lines"]) == 2
            # JSON nested too deeply for the parser is a bad request like any other,
            # and the connection stays.
            for deep in (deep_1, deep_2):
                assert deep == {"ok": False, "error": "bad request: the JSON is nested too deeply"}
            assert still["ok"] is True

    run(main())


@pytest.mark.usefixtures("private_registry")
def test_watch_streams_until_the_client_goes(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            rt.add_devices("IP6000", 2)
            reader, writer = await asyncio.open_unix_connection(str(rt.state.control_socket))
            writer.write(b'{"cmd": "watch", "device": "00:90:33:10:00:02"}\n')
            first = json.loads(await asyncio.wait_for(reader.readline(), 5))
            assert first == {"ok": True, "watching": "ip6000-2"}
            rt.power("ip6000-1", False)  # another device: not streamed
            rt.power("ip6000-2", False)
            await clock.advance(1.0)
            rt.power("ip6000-2", True)
            got = [json.loads(await asyncio.wait_for(reader.readline(), 5)) for _ in range(5)]
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
            writer.close()
            await writer.wait_closed()
        # Stopping while a watch stream was open (and after it went) finishes cleanly.
        assert not (tmp_path / "state" / "control.sock").exists()

    run(main())


def test_blocking_client_from_another_thread(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            rt.add_devices("IP800", 1)

            def use_client() -> dict[str, Any]:
                with ControlClient(rt.state.path, timeout=10) as client:
                    with pytest.raises(ControlError, match="no device 'x'"):
                        client.request("power", device="x", on=True)
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

"""An Expect header the web server does not know is refused with 417 and a clear text,
whatever its bytes; nothing is logged as an error (found by the fuzzing harness)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.web import short_press

pytestmark = pytest.mark.integration


async def exchange(url: str, request: bytes) -> bytes:
    ip, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(ip, int(port))
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def test_unknown_expectations_get_417_and_log_no_traceback(
    tmp_path: Path, ports: Ports, caplog: pytest.LogCaptureFixture
) -> None:
    head = b"GET /CMD0/box_info.xml HTTP/1.1\r\nHost: d\r\nConnection: close\r\n"

    async def main() -> list[bytes]:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "s", port=ports.udp(), clock=clock, http_port=ports.tcp()
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            return [
                await exchange(url, head + expect + b"\r\n")
                for expect in (b"Expect: \xa0100-continue\r\n", b"Expect: magic\r\n", b"")
            ]

    caplog.set_level(logging.DEBUG)
    odd, unknown, plain = run(main())
    assert odd.startswith(b"HTTP/1.1 417 Expectation Failed\r\n"), odd
    assert odd.endswith(b"\r\n\r\n417 unknown Expect: '\\xa0100-continue'\r\n"), odd
    assert unknown.endswith(b"\r\n\r\n417 unknown Expect: 'magic'\r\n"), unknown
    assert plain.startswith(b"HTTP/1.1 200 OK\r\n"), plain
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == []

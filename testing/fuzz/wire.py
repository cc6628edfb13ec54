"""The admin web server on the wire as a fuzz target: raw bytes to a real runtime's
HTTP port (``http-admin`` fuzzes what the firmware answers; this one what the runtime's
HTTP server makes of the bytes before).

The runtime runs one IP6000 in virtual time whose short press gave it the factory
address; each input is one to three connections, each sent raw bytes (requests without
the admin's credentials, mutated, or random), given the loop's turns to answer, then
closed.

A crash: a reply that does not begin ``HTTP/`` (aiohttp answers a request line without a
version as ``HTTP/0.9``, status line and headers included); a traceback or an error logged by the
runtime or its HTTP server (``ipgwsim``, ``aiohttp``, ``asyncio`` loggers); or, on a new
connection, no ``200`` for ``GET /CMD0/box_info.xml`` within 30 real seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import strategies as st

from ipgwsim.testing.fuzz import Surface
from ipgwsim.testing.fuzz.control import REPLY_LIMIT, Running, runtime_in_virtual_time
from ipgwsim.testing.fuzz.mutate import hostile
from ipgwsim.testing.web import short_press

__all__ = ["SURFACES"]

#: Loop turns the server gets for an input before the connection is closed.
_TURNS = 50
_LOGGERS = ("ipgwsim", "aiohttp", "asyncio")
_PROBE = b"GET /CMD0/box_info.xml HTTP/1.1\r\nHost: device\r\nConnection: close\r\n\r\n"


class _Errors(logging.Handler):
    """Keeps every record at ERROR or above, and every one with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass
class Web:
    running: Running
    address: tuple[str, int]
    errors: _Errors


@contextlib.contextmanager
def _web(udp: int, tcp: int) -> Iterator[Web]:
    errors = _Errors()
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    with runtime_in_virtual_time(udp, tcp) as running:
        host = running.runtime.devices[0]
        url = running.loop.run_until_complete(short_press(running.runtime, running.clock, host))
        ip, port = url.removeprefix("http://").rsplit(":", 1)
        for logger in loggers:
            logger.addHandler(errors)
        try:
            yield Web(running, (ip, int(port)), errors)
        finally:
            for logger in loggers:
                logger.removeHandler(errors)


async def _send(web: Web, data: bytes) -> bytes:
    """``data`` on a new connection; what came back while the loop turned, then closed."""
    reader, writer = await asyncio.open_connection(*web.address)
    try:
        read = asyncio.ensure_future(reader.read(1 << 20))
        writer.write(data)
        await writer.drain()
        for _ in range(_TURNS):
            if read.done():
                break
            await asyncio.sleep(0)
        if read.done():
            try:
                return read.result()
            except ConnectionError:  # the server may reset what it would not read
                return b""
        read.cancel()
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _probe(web: Web) -> bytes:
    reader, writer = await asyncio.open_connection(*web.address)
    try:
        writer.write(_PROBE)
        return await asyncio.wait_for(reader.read(), REPLY_LIMIT)
    finally:
        writer.close()


async def _inputs(web: Web, inputs: list[bytes]) -> None:
    for data in inputs:
        got = await _send(web, data)
        assert not got or got.startswith(b"HTTP/"), got[:200]
    answer = await _probe(web)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def _check(web: Web, inputs: list[bytes]) -> None:
    web.errors.records.clear()
    web.running.loop.run_until_complete(_inputs(web, inputs))
    logged = [web.errors.format(r) for r in web.errors.records]
    assert not logged, "\n".join(logged)


_REQUESTS = [
    _PROBE,
    b"GET /!config%20show HTTP/1.1\r\nHost: d\r\nAuthorization: Basic YWRtaW46d3Jvbmc=\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"HEAD /cfg.txt HTTP/1.1\r\nHost: d\r\n\r\n",
    b"PUT /upload/config HTTP/1.1\r\nHost: d\r\nContent-Length: 33\r\n\r\n"
    b"config change CMD0 /name fuzzed\r\n",
    b"POST /upload/prot HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\nabcd\r\n0\r\n\r\n",
    b"GET /log.txt HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nRange: bytes=0-1\r\n\r\n",
]

SURFACES = [
    Surface(
        name="http-wire",
        entry="a real runtime's admin web server (raw bytes on its TCP port)",
        crash="a reply not HTTP/; an error or traceback logged; no 200 for box_info.xml afterwards",
        inputs=st.lists(hostile(st.sampled_from(_REQUESTS)), min_size=1, max_size=3),
        check=_check,
        from_bytes=lambda data: [data],
        setup=_web,
        needs_ports=True,
    )
]

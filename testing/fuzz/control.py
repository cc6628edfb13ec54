"""The control socket as a fuzz target: HTTP/JSON requests on a real runtime's Unix socket.

The runtime runs one IP6000 in virtual time (a :class:`~ipgwsim.runtime.clock.ManualClock`)
on an event loop of the run's own; each input is a handful of requests (a method, a path,
a body) on a new keep-alive connection. Virtual time moves only while a request waits for
it (a press answers once the button is let go): when no reply has come after the loop ran
everything ready, the clock moves past the longest hold. A watch request's stream is read
up to its first line, then closed.

A crash: no reply to a request within 30 real seconds (a hang: the runtime stopped
serving); a reply that is no JSON object with a true or false ``ok``, or whose ``ok``
does not match its HTTP status (2xx); ``ok: false`` without an error text; or a runtime
that no longer answers ``status`` afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from hypothesis import strategies as st

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.press import MAX_HOLD
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.fuzz import Surface
from ipgwsim.testing.fuzz.mutate import hostile

__all__ = ["SURFACES", "Running", "runtime_in_virtual_time"]

DEVICE = "ip6000-1"
#: Real seconds a reply may take (a hang bound, never reached by a healthy runtime).
REPLY_LIMIT = 30.0
#: Loop turns for a reply before virtual time moves.
_TURNS = 200


@dataclass
class Running:
    loop: asyncio.AbstractEventLoop
    runtime: Runtime
    clock: ManualClock


async def _cancel_the_rest() -> None:
    """Cancel what is left on the loop (handlers of connections the inputs closed)."""
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


@contextlib.contextmanager
def runtime_in_virtual_time(udp: int, tcp: int) -> Iterator[Running]:
    """A runtime with one IP6000 in virtual time on a loop of its own, its control socket on."""
    state = Path(tempfile.mkdtemp(prefix="ipgwsim-fuzz-"))
    loop = asyncio.new_event_loop()
    clock = ManualClock()
    runtime = Runtime(state / "state", port=udp, http_port=tcp, clock=clock, console_tcp=False)
    try:
        loop.run_until_complete(runtime.start())
        runtime.add_devices("IP6000", 1)
        yield Running(loop, runtime, clock)
    finally:
        loop.run_until_complete(runtime.stop())
        loop.run_until_complete(_cancel_the_rest())
        loop.close()
        shutil.rmtree(state, ignore_errors=True)


#: One request: method, path (after ``http://ipgwsim``), body (None: none).
Request = tuple[str, str, bytes | None]
_DEVICE_PATH = f"/v1/devices/{DEVICE}"
_STATIC_PATHS = [
    "/v1/status",
    "/v1/watch",
    f"/v1/watch?device={DEVICE}",
    "/v1/watch?device=nobody",
    _DEVICE_PATH,
    "/v1/devices/00%3A90%3A33%3A10%3A00%3A01",
    "/v1/dance",
    "/",
    *(
        f"{_DEVICE_PATH}/{route}"
        for route in ("press", "button", "power", "cut", "console", "impair", "nothing")
    ),
    f"{_DEVICE_PATH}/console?lines=3",
    f"{_DEVICE_PATH}/console?lines=-1",
]


async def _reply(
    running: Running, session: aiohttp.ClientSession, request: Request
) -> dict[str, Any]:
    method, path, body = request
    headers = {"Content-Type": "application/json"} if body is not None else None
    call = asyncio.ensure_future(_send(session, method, path, body, headers))
    for _ in range(3):
        for _ in range(_TURNS):
            if call.done():
                break
            await asyncio.sleep(0)
        if call.done():
            break
        await running.clock.advance(MAX_HOLD + 1)
    status, data = await asyncio.wait_for(call, REPLY_LIMIT)
    reply = json.loads(data)
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("ok"), bool), reply
    assert reply["ok"] == (200 <= status < 300), (status, reply)
    if not reply["ok"]:
        error = reply.get("error")
        assert isinstance(error, str), reply
        assert error.strip(), reply
    return reply


async def _send(
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str] | None,
) -> tuple[int, bytes]:
    """The status and the body of the reply (a stream's first line only)."""
    async with session.request(method, path, data=body, headers=headers) as response:
        if response.content_type == "application/x-ndjson":
            return response.status, await response.content.readline()
        return response.status, await response.read()


async def _exchange(running: Running, requests: list[Request]) -> None:
    path = str(running.runtime.state.control_socket)
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=path), base_url="http://ipgwsim"
    ) as session:
        for request in requests:
            await _reply(running, session, request)
        for request in (
            ("POST", f"{_DEVICE_PATH}/power", b'{"on": true}'),
            ("POST", f"{_DEVICE_PATH}/impair", b'{"impairment": "off"}'),
            ("GET", "/v1/status", None),
        ):
            reply = await _reply(running, session, request)
            assert reply["ok"], reply


def _check(running: Running, requests: list[Request]) -> None:
    running.loop.run_until_complete(_exchange(running, requests))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_ARGS = ["hold", "on", "down", "at_op", "mode", "impairment"]


def _bodies() -> st.SearchStrategy[bytes]:
    value = st.one_of(
        st.sampled_from(
            [0.5, 1.8, 12, 3600, 1e300, -1, True, False, "torn", "atomic", "loss=30%,seed=7",
             "off", 1, 5]
        ),
        _json,
    )  # fmt: skip
    body = st.dictionaries(st.sampled_from(_ARGS) | st.text(max_size=6), value, max_size=3)
    return st.one_of(body, _json).map(lambda b: json.dumps(b).encode())


_paths = st.one_of(
    st.sampled_from(_STATIC_PATHS),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30).map(
        lambda t: f"{_DEVICE_PATH}/{quote(t, safe='')}"
    ),
)
_requests = st.one_of(
    st.tuples(st.sampled_from(["GET", "DELETE"]), _paths, st.none()),
    st.tuples(st.just("POST"), _paths, hostile(_bodies())),
)


SURFACES = [
    Surface(
        name="control",
        entry="the control socket of a real runtime (HTTP/JSON on its Unix socket)",
        crash="no reply within 30 s; a reply that is no JSON object with ok, or whose ok is "
        "not its HTTP status; ok false without an error; no status afterwards",
        inputs=st.lists(_requests, min_size=1, max_size=6),
        check=_check,
        from_bytes=lambda data: [("POST", f"{_DEVICE_PATH}/press", data)],
        setup=runtime_in_virtual_time,
        needs_ports=True,
    )
]

"""The control socket as a fuzz target: JSON lines on a real runtime's Unix socket.

The runtime runs one IP6000 in virtual time (a :class:`~ipgwsim.runtime.clock.ManualClock`)
on an event loop of the run's own; each input is a handful of request lines on a new
connection. Virtual time moves only while a request waits for it (a press answers once the
button is let go): when no reply has come after the loop ran everything ready, the clock
moves past the longest hold.

A crash: no reply to a request line within 30 real seconds (a hang: the runtime stopped
serving); a reply that is no JSON object with a true or false ``ok``; ``ok: false``
without an error text; or a runtime that no longer answers ``status`` afterwards.
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


def _is_watch(line: bytes) -> bool:
    """Whether the runtime takes ``line`` as a watch request (it then streams)."""
    try:
        request = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(request, dict) and request.get("cmd") == "watch"


async def _reply(running: Running, reader: asyncio.StreamReader) -> dict[str, Any]:
    read = asyncio.ensure_future(reader.readline())
    for _ in range(3):
        for _ in range(_TURNS):
            if read.done():
                break
            await asyncio.sleep(0)
        if read.done():
            break
        await running.clock.advance(MAX_HOLD + 1)
    line = await asyncio.wait_for(read, REPLY_LIMIT)
    assert line.endswith(b"\n"), f"the runtime closed the connection: {line!r}"
    reply = json.loads(line)
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("ok"), bool), reply
    if not reply["ok"]:
        error = reply.get("error")
        assert isinstance(error, str), reply
        assert error.strip(), reply
    return reply


async def _exchange(running: Running, lines: list[bytes]) -> None:
    path = str(running.runtime.state.control_socket)
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        for line in lines:
            if not line.strip():
                writer.write(line + b"\n")  # a blank line gets no reply
                continue
            writer.write(line + b"\n")
            await writer.drain()
            await _reply(running, reader)
            if _is_watch(line):  # the connection streams events now: a new one
                writer.close()
                reader, writer = await asyncio.open_unix_connection(path)
        for request in (
            {"cmd": "power", "device": DEVICE, "on": True},
            {"cmd": "impair", "device": DEVICE, "impairment": "off"},
            {"cmd": "status"},
        ):
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            reply = await _reply(running, reader)
            assert reply["ok"], reply
    finally:
        writer.close()


def _check(running: Running, lines: list[bytes]) -> None:
    running.loop.run_until_complete(_exchange(running, lines))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_COMMANDS = ["status", "press", "power", "cut", "console", "impair", "watch", "dance"]
_ARGS = ["device", "hold", "on", "at_op", "mode", "lines", "impairment"]


def _requests() -> st.SearchStrategy[bytes]:
    value = st.one_of(
        st.sampled_from(
            [
                DEVICE,
                "IP6000-1",
                0.5,
                1.8,
                12,
                3600,
                1e300,
                -1,
                True,
                "torn",
                "atomic",
                "loss=30%,seed=7",
                "off",
                1,
                5,
            ]
        ),
        _json,
    )
    request = st.builds(
        lambda cmd, args: {"cmd": cmd, **args},
        st.sampled_from(_COMMANDS) | _json,
        st.dictionaries(st.sampled_from(_ARGS) | st.text(max_size=6), value, max_size=4),
    )
    return request.map(lambda r: json.dumps(r).encode())


_lines = hostile(_requests()).map(lambda b: b.replace(b"\n", b" "))

SURFACES = [
    Surface(
        name="control",
        entry="the control socket of a real runtime (JSON lines on its Unix socket)",
        crash="no reply within 30 s; a reply that is no JSON object with ok; ok false without "
        "an error; no status afterwards",
        inputs=st.lists(_lines, min_size=1, max_size=6),
        check=_check,
        from_bytes=lambda data: [data.replace(b"\n", b" ")],
        setup=runtime_in_virtual_time,
        needs_ports=True,
    )
]

"""ipgwsim's commands as processes, for tests that drive them as a user's shell would.

Each helper waits for output, never for time: a test reads the line it waits for
(:func:`read_line`, :func:`read_until`), with a timeout only as a guard against a hang.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager

#: ``ipgwsim`` and ``gwload`` run as modules of this interpreter.
IPGWSIM = [sys.executable, "-m", "ipgwsim.tools.cli"]
GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]


def _environ(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if env is None else {**os.environ, **env}


async def finished(
    *argv: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """Run ``argv`` to its end (``env``: variables added to this process's environment):
    its exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environ(env),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@asynccontextmanager
async def running(
    *argv: str, env: Mapping[str, str] | None = None, stop_timeout: float = 30
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``argv`` as a process, its output piped. Still running at the end (a test that
    failed, or one that leaves it to this), it is stopped with SIGTERM, as a user stops
    ``ipgwsim run``, so that it cleans up after itself (a runtime in namespace mode removes
    its namespaces); SIGKILL only if it has not ended ``stop_timeout`` seconds later."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environ(env),
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                # communicate: read its output, so a full pipe cannot hold it up.
                await asyncio.wait_for(proc.communicate(), stop_timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def read_line(stream: asyncio.StreamReader | None, timeout: float = 20) -> str:
    """The next line of ``stream``, without its line end; an assertion if it ends first."""
    assert stream is not None
    line = await asyncio.wait_for(stream.readline(), timeout)
    assert line, "the process closed its output"
    return line.decode().rstrip("\n")


async def read_until(stream: asyncio.StreamReader | None, start: str) -> str:
    """The first line that starts with ``start`` (the lines before it are passed over)."""
    while True:
        line = await read_line(stream)
        if line.startswith(start):
            return line


async def stop(proc: asyncio.subprocess.Process, timeout: float = 20) -> tuple[str, str]:
    """SIGTERM, then the rest of its output; an assertion unless it ends with status 0."""
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, err
    return out.decode(), err.decode()


async def ipgwsim(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """``ipgwsim ARGS`` run to its end: its exit status, stdout and stderr."""
    return await finished(*IPGWSIM, *args, env=env, timeout=timeout)


def read_fd_until(fd: int, wanted: bytes, seen: bytearray, timeout: float = 30.0) -> bytes:
    """Read ``fd`` (a pty's side, a pipe) until ``wanted`` has come: what came up to and
    with it (the rest stays in ``seen``). Fails naming what came instead, after
    ``timeout`` seconds at most (a guard against a hang, never a wait)."""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"{wanted!r} did not come; got {bytes(seen)!r}"
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the pty is closed
            chunk = b""
        assert chunk, f"closed before {wanted!r}; got {bytes(seen)!r}"
        seen.extend(chunk)
    end = seen.index(wanted) + len(wanted)
    out = bytes(seen[:end])
    del seen[:end]
    return out


@contextmanager
def on_terminal(
    argv: Sequence[str], timeout: float = 30.0
) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """``argv`` with a new pty as its terminal (in a session of its own, as a program
    started in a terminal window): (process, master, slave); the slave stays open here
    too, so a test can read the terminal's settings. At the end the process is killed if
    it still runs, and both sides are closed."""
    master, slave = pty.openpty()
    child = subprocess.Popen(
        list(argv), stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    try:
        yield child, master, slave
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout)
        os.close(master)
        os.close(slave)

"""A device's serial console: a pty that pyserial opens like a serial port.

The runtime holds the master side and writes every console line, CRLF-terminated
and prefixed with the device time (``[  12.345] starting firmware``). The slave side
is kept open by the runtime too, so that writes never fail with EIO while nobody
has the port open; what nobody reads waits in the pty's buffer, and when that is
full a line is dropped (counted in :attr:`Console.dropped`), never blocking the
event loop. The last lines are kept in memory for the control API. Input typed on
the console is read and thrown away (the firmware's command line comes later).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections import deque
from collections.abc import Callable

#: Lines kept in memory for ``ipgwsim console`` and the control API.
HISTORY = 200


def format_line(time: float, text: str) -> str:
    """``[  12.345] text``: the device time, then the line."""
    return f"[{time:8.3f}] {text}"


class Console:
    """One pty (see the module docstring); ``clock`` gives the device time of a line."""

    def __init__(self, clock: Callable[[], float], *, history: int = HISTORY) -> None:
        self._clock = clock
        self._master, self._slave = os.openpty()
        try:
            tty.setraw(self._slave, termios.TCSANOW)
            os.set_blocking(self._master, False)
            self.path = os.ttyname(self._slave)
        except OSError:
            os.close(self._master)
            os.close(self._slave)
            raise
        self.lines: deque[str] = deque(maxlen=history)
        #: Lines that did not fit into the pty buffer (or fitted only in part).
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._master, self._drain_input)

    @property
    def closed(self) -> bool:
        return self._master < 0

    def write(self, text: str) -> None:
        """Write one line (no line ending in ``text``) with the device time before it."""
        if self.closed:
            return
        line = format_line(self._clock(), text)
        self.lines.append(line)
        data = (line + "\r\n").encode("utf-8", "replace")
        try:
            written = os.write(self._master, data)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
            return
        except OSError:
            self.dropped += 1
            return
        if written < len(data):
            # The rest would not fit: finish the line so the next one starts clean.
            self.dropped += 1
            with contextlib.suppress(OSError):
                os.write(self._master, b"\r\n")

    def tail(self, count: int = HISTORY) -> list[str]:
        """The last ``count`` lines written (without line endings)."""
        if count <= 0:
            return []
        return list(self.lines)[-count:]

    def _drain_input(self) -> None:
        try:
            while os.read(self._master, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return

    def close(self) -> None:
        """Close both sides of the pty."""
        if self.closed:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = -1

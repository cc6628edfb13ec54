"""A device's serial console: a pty that pyserial opens like a serial port.

The runtime holds the master side and writes every console line, CRLF-terminated
and prefixed with the device time (``[  12.345] starting firmware``). The slave side
is kept open by the runtime too, so that writes never fail with EIO while nobody
has the port open; what nobody reads waits in the pty's buffer, and when that is
full a line is dropped (counted in :attr:`Console.dropped`), never blocking the
event loop. The last lines are kept in memory for the control API.

Input typed on the console goes to ``on_input`` (the host hands it to the firmware's
console session, or to the boot code while no firmware runs); without ``on_input`` it is read and
thrown away. :meth:`Console.write_raw` writes the session's echo, prompts and command
output as they are, without a time or line end and not into the history; a time-stamped
line that follows a prompt starts on a line of its own.

Everything written goes to each of the console's :attr:`Console.sinks` too, whole, whether
or not the pty had room. The time-stamped lines alone also go to :attr:`Console.line_sinks`
(the TCP terminals of :mod:`ipgwsim.runtime.consoletcp`, which see the device's messages but
never the pty's session). :meth:`Console.feed` types on the pty.

``Console(..., pty=False)`` has no pty (:attr:`Console.path` is None): the lines go to the
history and the sinks only, so a runtime of more devices than the kernel has ptys
(``kernel.pty.max``) still keeps every console, reachable by TCP and the control API.
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

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        history: int = HISTORY,
        on_input: Callable[[bytes], None] | None = None,
        pty: bool = True,
    ) -> None:
        self._clock = clock
        self._on_input = on_input
        #: Whether the last thing written ended a line (raw output may leave a prompt open).
        self._at_line_start = True
        self._closed = False
        #: The pty's path (``/dev/pts/3``), or None for a console without a pty.
        self.path: str | None = None
        self._master = self._slave = -1
        if pty:
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
        #: Writes (lines or raw output) that did not fit into the pty buffer (or only in part).
        self.dropped = 0
        #: Where written bytes go besides the pty (each called with every chunk).
        self.sinks: list[Callable[[bytes], None]] = []
        #: Where each time-stamped line goes besides the pty (without its line end).
        self.line_sinks: list[Callable[[str], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        if pty:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()
                self._loop.add_reader(self._master, self._drain_input)

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, text: str) -> None:
        """Write one line (no line ending in ``text``) with the device time before it."""
        if self.closed:
            return
        line = format_line(self._clock(), text)
        self.lines.append(line)
        for sink in self.line_sinks:
            sink(line)
        data = (line + "\r\n").encode("utf-8", "replace")
        if not self._at_line_start:
            data = b"\r\n" + data  # a prompt is open: the line starts on its own
        self._write(data)

    def write_raw(self, data: bytes) -> None:
        """Write ``data`` as it is (the console session's output; not kept in the history)."""
        if self.closed or not data:
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        for sink in self.sinks:
            sink(data)
        if self._master < 0:  # no pty
            self._at_line_start = data.endswith(b"\n")
            return
        try:
            written = os.write(self._master, data)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
            return
        except OSError:
            self.dropped += 1
            return
        self._at_line_start = data.endswith(b"\n")
        if written < len(data):
            # The rest would not fit: finish the line so the next one starts clean.
            self.dropped += 1
            with contextlib.suppress(OSError):
                os.write(self._master, b"\r\n")
            self._at_line_start = True

    def tail(self, count: int = HISTORY) -> list[str]:
        """The last ``count`` lines written (without line endings)."""
        if count <= 0:
            return []
        return list(self.lines)[-count:]

    def _drain_input(self) -> None:
        """Read what was typed; hand each chunk to ``on_input`` (or drop it)."""
        while not self.closed:
            try:
                data = os.read(self._master, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                return
            self.feed(data)

    def feed(self, data: bytes) -> None:
        """Type ``data`` on the pty (as :meth:`_drain_input` does with what was read)."""
        if not self.closed and data and self._on_input is not None:
            self._on_input(data)

    def close(self) -> None:
        """Close both sides of the pty."""
        if self.closed:
            return
        self._closed = True
        if self._master >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._master)
            os.close(self._master)
            os.close(self._slave)
        self._master = self._slave = -1
        self.sinks.clear()
        self.line_sinks.clear()

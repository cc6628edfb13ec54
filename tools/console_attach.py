"""``ipgwsim console DEVICE --attach``: type at a running device's console, as miniterm does.

The console is opened with pyserial: the device's pty (the serial line, the default) or,
with ``--tcp``, its raw TCP port (``socket://``, a terminal with a session of its own).

- **On a terminal** (stdin is a tty): the terminal goes into raw mode, every key goes to
  the device as it is typed (Ctrl-C included), what the device prints goes to the
  terminal as it comes. :data:`ESCAPE` (Ctrl-], as in miniterm and telnet) leaves; the
  line printed when attaching says so. The terminal's settings are restored on every way
  out: the escape key, the console closing, an error, the terminal hanging up, SIGTERM or
  SIGINT (raw mode sends Ctrl-C to the device: a SIGINT comes from ``kill``).
- **The terminal going away** (its window closed) is leaving, quietly: the terminal hangs
  up, which the kernel says with SIGHUP to the foreground process group and with EIO on
  reading it, whichever comes first; either way nothing more is printed and the status is 0.
- **In a pipe** (stdin is no tty): stdin goes to the device until its end; then what the
  device still prints is copied until it has been quiet for ``linger`` seconds.

Leaving never logs out: the pty's session stays as it was left (a serial cable pulled);
a TCP console's session ends with its connection. The pty is locked while attached
(``flock``, as pyserial's ``exclusive=True``): a second ``--attach`` to it is refused
naming the process that holds it. Exit status: 0 left (escape key, end of input, the
terminal hung up), 1 the console closed (the runtime stopped), 2 could not attach, 128+N a
signal N (SIGTERM, SIGINT).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import sys
import termios
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import serial
from serial import SerialBase

__all__ = ["ESCAPE", "ESCAPE_NAME", "AttachError", "attach", "open_console"]

#: The key that leaves (Ctrl-], 0x1d), and its name as the attach line prints it.
ESCAPE = b"\x1d"
ESCAPE_NAME = "Ctrl-]"
#: Exit statuses.
LEFT, CLOSED, FAILED = 0, 1, 2
#: Bytes read at once from either side.
CHUNK = 4096


class AttachError(Exception):
    """The console could not be opened; the text says why."""


class _Signalled(Exception):
    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


def open_console(url: str, device: str) -> SerialBase:
    """Open the console at ``url`` (a pty path or ``socket://``) with pyserial, non-blocking;
    a pty is locked for this process. :class:`AttachError` naming why it cannot be."""
    pty = not url.startswith("socket://")
    try:
        port = serial.serial_for_url(url, timeout=0, exclusive=True if pty else None)
    except serial.SerialException as exc:
        holder = lock_holder(Path(url)) if pty else None
        if holder is not None:
            raise AttachError(
                f"the console of {device} ({url}) is attached by another program: {holder}"
            ) from None
        raise AttachError(f"cannot open the console of {device} ({url}): {exc}") from None
    return port


def lock_holder(path: Path) -> str | None:
    """Who holds a ``flock`` on ``path`` (``pid 1234 (ipgwsim console ...)``), from
    ``/proc/locks``; None if nobody does or it cannot be told."""
    try:
        info = path.stat()
        locks = Path("/proc/locks").read_text()
    except OSError:
        return None
    wanted = (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    for line in locks.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            where = (int(major, 16), int(minor, 16), int(inode))
            pid = int(fields[4])
        except ValueError:
            continue
        if where == wanted:
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                return f"pid {pid}"
            command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
            return f"pid {pid} ({command})" if command else f"pid {pid}"
    return None


def attach(
    port: SerialBase,
    device: str,
    *,
    stdin: int,
    stdout: int,
    stderr: TextIO,
    linger: float = 0.5,
) -> int:
    """Copy between the terminal (or pipe) and the open console ``port`` until the user
    leaves or the console closes; the exit status (module docstring)."""
    interactive = os.isatty(stdin)
    with _signals_raise(), contextlib.ExitStack() as stack:
        stack.callback(port.close)
        try:
            if interactive:
                stack.enter_context(_raw(stdin))
                stderr.write(
                    f"ipgwsim console: attached to {device} ({port.port}); {ESCAPE_NAME} "
                    "leaves; press Enter for a prompt\r\n"
                )
                stderr.flush()
            status = _copy(port, stdin, stdout, interactive=interactive, linger=linger)
        except _Signalled as exc:
            # A hang-up is the terminal going away: leaving, with nothing to print it on.
            return LEFT if exc.number == signal.SIGHUP else 128 + exc.number
        finally:
            stack.close()  # the terminal is itself again before anything more is printed
    with contextlib.suppress(OSError):  # the terminal may be gone (hung up)
        if status == CLOSED:
            print(f"ipgwsim console: the console of {device} closed", file=stderr)
        elif interactive:
            print(f"ipgwsim console: left {device}", file=stderr)
    return status


def _copy(port: SerialBase, stdin: int, stdout: int, *, interactive: bool, linger: float) -> int:
    selector = selectors.PollSelector()  # stdin may be a regular file (epoll refuses one)
    selector.register(port.fileno(), selectors.EVENT_READ, "device")
    selector.register(stdin, selectors.EVENT_READ, "user")
    quiet_until: float | None = None  # after the end of a pipe: when to stop
    try:
        while True:
            timeout = None if quiet_until is None else max(0.0, quiet_until - time.monotonic())
            ready = selector.select(timeout)
            if not ready and quiet_until is not None:
                return LEFT
            for key, _mask in ready:
                if key.data == "device":
                    try:
                        data = port.read(CHUNK)
                    except serial.SerialException:
                        return CLOSED
                    _write_all(stdout, data)
                    if quiet_until is not None:
                        quiet_until = time.monotonic() + linger
                    continue
                try:
                    typed = os.read(stdin, CHUNK)
                except OSError:  # EIO: the terminal hung up
                    typed = b""
                if not typed:  # the end of a pipe or of the terminal (raw mode has no EOF key)
                    selector.unregister(stdin)
                    if interactive:
                        return LEFT
                    quiet_until = time.monotonic() + linger
                    continue
                leave = interactive and ESCAPE in typed
                if leave:
                    typed = typed[: typed.index(ESCAPE)]
                try:
                    if typed:
                        port.write(typed)
                except serial.SerialException:
                    return CLOSED
                if leave:
                    return LEFT
    finally:
        selector.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """The terminal ``fd`` in raw mode, restored as it was however the block ends."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        with contextlib.suppress(termios.error):  # a terminal hung up cannot be set
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise (unless ignored), so the ``finally`` blocks restore the
    terminal (:func:`attach` makes SIGHUP a quiet leave); SIGINT raises KeyboardInterrupt
    already (the caller's exit status 130)."""

    def handler(number: int, _frame: object) -> None:
        raise _Signalled(number)

    saved = {}
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) is not signal.SIG_IGN:
            saved[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, previous in saved.items():
            signal.signal(number, previous)


def stdio() -> tuple[int, int, TextIO]:
    """The process's stdin and stdout descriptors and stderr (stdout flushed first)."""
    sys.stdout.flush()
    return sys.stdin.fileno(), sys.stdout.fileno(), sys.stderr

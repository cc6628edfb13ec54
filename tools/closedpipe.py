"""A command whose output goes into a pipe the reader has closed ends quietly.

``ipgwsim profiles | head -1`` or ``gwload /help | head -1``: once ``head`` has its line
it closes the pipe, and the next write (or the flush at exit) fails with EPIPE. Python
ignores SIGPIPE and raises :class:`BrokenPipeError` instead, which would end in a
traceback or an "Exception ignored" message. :func:`guard` ends such a command the way
other Unix tools end, killed by SIGPIPE: nothing on stderr, exit status 141
(128 + SIGPIPE), as a shell shows it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

__all__ = ["CLOSED_PIPE", "guard"]

#: The exit status of a command that ended because its output pipe was closed.
CLOSED_PIPE = 128 + signal.SIGPIPE


def guard(command: Callable[[], int]) -> int:
    """``command()``'s exit status; :data:`CLOSED_PIPE` if stdout's reader went away.

    stdout is flushed before the status is returned, so a failure to write is met here
    and not at interpreter exit; after one, stdout is pointed at ``/dev/null`` so that
    the interpreter's own flush at exit has nothing left to fail on.
    """
    try:
        try:
            status = command()
        finally:  # also when it exits (argparse's --help): the flush fails here, not later
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return CLOSED_PIPE
    return status


def _silence_stdout() -> None:
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)

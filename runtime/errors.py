"""Errors of the runtime that a user caused or can fix (printed as one line by the CLI).

:func:`describe_error` turns any exception into the text of such a line; it is never
empty (a bare ``TimeoutError()`` has no text of its own).
"""

from __future__ import annotations


class RuntimeSetupError(Exception):
    """The runtime cannot start or do what was asked; the text says why and what to do."""


class StateDirBusy(RuntimeSetupError):
    """Another runtime holds the state directory's lock."""


class NoRuntime(RuntimeSetupError):
    """No runtime is running on the state directory (no control socket, or a stale one)."""


class UnknownDevice(RuntimeSetupError, KeyError):
    """No device of the runtime has that name or MAC."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown device"


class UnknownModel(RuntimeSetupError, KeyError):
    """No hardware profile has that model or gwtype."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"


def _own_text(exc: BaseException, with_file: bool = False) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        text: str = exc.strerror
        if with_file and exc.filename is not None:
            text += f": {str(exc.filename)!r}"
        return text
    if isinstance(exc, KeyError) and not isinstance(exc, UnknownDevice) and exc.args:
        return str(exc.args[0])  # str() of a KeyError is the repr of its key
    return str(exc).strip()


def describe_error(
    exc: BaseException,
    *,
    waiting_for: str | None = None,
    after: float | None = None,
    with_file: bool = False,
) -> str:
    """What went wrong, for a one-line message; never empty.

    An exception with a text gives that text (an ``OSError`` its ``strerror``, without
    ``[Errno n]``, and with ``with_file`` the file it names). One without
    (``TimeoutError()`` from ``asyncio.wait_for``, a bare ``ConnectionResetError()``) is
    described by its kind, what was being waited for and for how long (``waiting_for``,
    ``after`` seconds), and the text of its cause if there is one: ``timed out after 30 s
    waiting for the device's answer``.
    """
    text = _own_text(exc, with_file)
    if text:
        return text
    if isinstance(exc, TimeoutError):
        text = "timed out"
    else:
        text = f"{type(exc).__name__} (without a message)"
    if after is not None:
        text += f" after {after:g} s"
    if waiting_for:
        text += f" waiting for {waiting_for}"
    cause = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    if cause is not None and cause is not exc:
        inner = _own_text(cause)
        if inner:
            text += f" ({type(cause).__name__}: {inner})"
    return text

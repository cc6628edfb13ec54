"""Errors of the runtime that a user caused or can fix (printed as one line by the CLI)."""

from __future__ import annotations


class RuntimeSetupError(Exception):
    """The runtime cannot start or do what was asked; the text says why and what to do."""


class StateDirBusy(RuntimeSetupError):
    """Another runtime holds the state directory's lock."""


class UnknownDevice(RuntimeSetupError, KeyError):
    """No device of the runtime has that name or MAC."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown device"


class UnknownModel(RuntimeSetupError, KeyError):
    """No hardware profile has that model or gwtype."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"

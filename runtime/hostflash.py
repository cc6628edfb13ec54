"""The flash image file of one :class:`~ipgwsim.runtime.host.DeviceHost`.

The flash in memory is the truth; its file catches up: after each ``FlashChanged`` (at
most once per event-loop turn), after a power cut (which may have torn a write) and when
the host closes. A failed save leaves the device *degraded* and is tried again every
:data:`SAVE_RETRY` device seconds until it works.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ipgwsim.runtime.clock import Timer
from ipgwsim.runtime.errors import describe_error
from ipgwsim.runtime.flashfile import save_flash

if TYPE_CHECKING:
    from ipgwsim.flash.nor import NorFlash
    from ipgwsim.runtime.host import DeviceHost

#: Device seconds between tries to save a flash image that could not be saved.
SAVE_RETRY = 1.0


class HostFlashFile:
    """Saving one device's flash to its file (module docstring)."""

    def __init__(self, host: DeviceHost, flash: NorFlash, *, saved: bool) -> None:
        self._host = host
        self._save_handle: asyncio.Handle | None = None
        #: The next try to save a flash image that could not be saved.
        self._save_retry: Timer | None = None
        #: Why the flash image is behind the flash (a save failed), or None.
        self.degraded: str | None = None
        #: The flash's operation count at the last save; None: never saved.
        self._saved_ops: int | None = flash.faults.count if saved else None

    @property
    def dirty(self) -> bool:
        """Whether the flash changed since it was last saved (or was never saved)."""
        return self._saved_ops != self._host.flash.faults.count

    def schedule_save(self) -> None:
        """Save the flash soon (at most once per event-loop turn)."""
        if self._save_handle is not None or self._host.closed:
            return
        self._save_handle = asyncio.get_running_loop().call_soon(self._save_soon)

    def _save_soon(self) -> None:
        self._save_handle = None
        self.save()

    def save(self) -> bool:
        """Write the flash image if it changed; False if writing failed.

        A failed save (a full disk, no file descriptors left) leaves the device *degraded*
        (:attr:`degraded` says why; the console and the log say so once) and is tried again
        every :data:`SAVE_RETRY` device seconds until it succeeds, so that nothing the
        device acknowledged (``config written as generation N``) is lost while the runtime
        runs (DECISION: the flash in memory stays the truth; the file catches up).
        """
        if not self.dirty:
            return True
        host = self._host
        count = host.flash.faults.count
        try:
            save_flash(host.flash, host.record.flash_path)
        except OSError as exc:
            reason = f"cannot save {host.record.flash_path}: {describe_error(exc)}"
            if self.degraded is None:
                host._problem(f"{reason}; saving again every {SAVE_RETRY:g} s until it works")
            self.degraded = reason
            self._retry_save()
            return False
        self._saved_ops = count
        if self.degraded is not None:
            self.degraded = None
            text = f"flash saved to {host.record.flash_path} again"
            host.log.warning("%s: %s", host.name, text, extra={"device": host.name})
            host.console.write(text)
        return True

    def _retry_save(self) -> None:
        if self._save_retry is None and not self._host.closed:
            self._save_retry = self._host.clock.call_later(SAVE_RETRY, self._save_again)

    def _save_again(self) -> None:
        self._save_retry = None
        self.save()

    def close(self) -> None:
        """The last save (a failure is in the log and on the console); no more tries."""
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        self.save()  # the last try: a failure is in the log and on the console
        if self._save_retry is not None:
            self._save_retry.cancel()
            self._save_retry = None

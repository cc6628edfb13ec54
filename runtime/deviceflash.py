"""Where a runtime's device gets its flash: its saved image, or a factory flash.

A device that has a flash image in its state folder starts from it (a power cycle with
the flash kept; images share equal sectors in memory). A new one gets a factory flash,
built once per profile and cloned with shared sectors, with a starting config written
into it when one is given (:func:`~ipgwsim.device.load_starting_config`). All of them
share one pool: an image a device stores later (firmware, boot code) shares equal sectors
with the other devices that store it (:meth:`~ipgwsim.flash.nor.NorFlash.share`).
"""

from __future__ import annotations

import logging
import random
import secrets
from pathlib import Path

from ipgwsim.device import StartingConfigError, factory_flash, load_starting_config
from ipgwsim.flash.imagefile import FlashFileError
from ipgwsim.flash.nor import NorFlash
from ipgwsim.hw_profiles import Profile
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.flashfile import load_flash
from ipgwsim.runtime.statedir import DeviceRecord

__all__ = ["DeviceFlashes", "StartingConfig", "read_starting_config"]

#: A starting config: where it came from and its bytes.
StartingConfig = tuple[str, bytes]


def read_starting_config(path: Path | None) -> StartingConfig | None:
    """The starting config at ``path`` (None: none); :class:`RuntimeSetupError` if unreadable."""
    if path is None:
        return None
    try:
        return str(path), path.read_bytes()
    except OSError as exc:
        raise RuntimeSetupError(
            f"starting config {path}: cannot be read: {exc.strerror or exc}"
        ) from None


class DeviceFlashes:
    """The flashes of one runtime's devices (module docstring)."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._factory: dict[tuple[str, bool], NorFlash] = {}
        self._shared: dict[bytes, bytes] = {}

    def factory(self, profile: Profile, firmware: bool) -> NorFlash:
        """A clone of the profile's factory flash (``firmware``: with the firmware)."""
        key = (profile.model, firmware)
        if key not in self._factory:
            flash = factory_flash(profile, firmware=firmware)
            flash.pool = self._shared  # images the devices store are held once (clones too)
            self._factory[key] = flash
        return self._factory[key].clone()

    def flash_for(
        self,
        record: DeviceRecord,
        profile: Profile,
        *,
        new: bool,
        firmware: bool,
        config: StartingConfig | None = None,
    ) -> tuple[NorFlash, bool]:
        """The device's flash, and whether it is its saved one."""
        name = record.instance.name
        if not new and record.flash_path.exists():
            try:
                return load_flash(record.flash_path, profile.flash, shared=self._shared), True
            except (FlashFileError, OSError) as exc:
                raise RuntimeSetupError(f"{name}: {describe_error(exc)}") from None
        flash = self.factory(profile, firmware)
        if config is not None:
            source, data = config
            try:
                kind = load_starting_config(
                    flash, profile, record.instance, data, rng=random.Random(secrets.randbits(64))
                )
            except StartingConfigError as exc:
                raise RuntimeSetupError(f"{name}: starting config {source}: {exc}") from None
            self._log.info("%s: starts from %s (%s)", name, source, kind, extra={"device": name})
        return flash, False

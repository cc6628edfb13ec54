"""The firmware: what runs after the boot code hands over.

So far it reports the build that runs; the config language, the command line,
the update-server client and the CONF interface build on :class:`Firmware`.
"""

from __future__ import annotations

from ipgwsim.firmware.running import Firmware

__all__ = ["Firmware"]

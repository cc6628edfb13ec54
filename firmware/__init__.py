"""The firmware: what runs after the boot code hands over.

:class:`Firmware` loads the config at start (and moves ``CMD0 /user`` into the crypted
var ``CMD0/AUTH``), checks admin logins and runs command lines
(:mod:`ipgwsim.firmware.commands`); :class:`ConsoleSession` is the login and command line
on the serial console. The update-server client and the CONF interface build
on it.
"""

from __future__ import annotations

from ipgwsim.firmware.commands import CommandError
from ipgwsim.firmware.console import ConsoleSession
from ipgwsim.firmware.running import Firmware

__all__ = ["CommandError", "ConsoleSession", "Firmware"]

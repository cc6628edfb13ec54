"""``ipgwsim://DEVICE``: a running device's console as a pyserial URL.

pyserial's ``serial.serial_for_url`` opens a URL ``SCHEME://...`` with the module
``protocol_SCHEME`` of a package listed in ``serial.protocol_handler_packages``. Importing
this package lists it there (once), so that after::

    import ipgwsim.runtime.serialurl  # noqa: F401 (registers ipgwsim://)

``serial.serial_for_url("ipgwsim://ip6000-1")`` opens the console of ``ip6000-1`` in the
runtime of the default state directory (:mod:`ipgwsim.runtime.serialurl.protocol_ipgwsim`
has the URL's form). Without importing anything of ipgwsim, the same is the one line
``serial.protocol_handler_packages.append("ipgwsim.runtime.serialurl")``.
``python -m ipgwsim.runtime.serialurl.miniterm ipgwsim://ip6000-1`` is pyserial's miniterm
with the URL registered (:mod:`ipgwsim.runtime.serialurl.miniterm`).
"""

from __future__ import annotations

import serial

#: The package pyserial searches for ``protocol_ipgwsim``.
PACKAGE = __name__


def register() -> None:
    """List this package in ``serial.protocol_handler_packages`` (nothing if it is)."""
    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)


register()

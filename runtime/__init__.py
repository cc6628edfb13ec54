"""The I/O layer: files, sockets, ptys and network namespaces around the sans-I/O cores.

The device runtime (``docs/runtime.md``): :class:`Runtime` runs devices of a state
directory on the loopback network with a clock (:class:`ScaledClock`, or
:class:`ManualClock` in tests), a pty console per device and a control API on a Unix
socket (:class:`ControlClient`); :class:`Workers` spreads a runtime's devices over
several processes behind one control socket. The names are loaded on first use, so that
``ipgwsim.runtime.flashfile`` alone does not pull in the device model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ipgwsim.runtime.clock import ManualClock, ScaledClock
    from ipgwsim.runtime.control import ControlClient
    from ipgwsim.runtime.errors import RuntimeSetupError
    from ipgwsim.runtime.host import DeviceHost
    from ipgwsim.runtime.runtime import Runtime
    from ipgwsim.runtime.workers import Workers

__all__ = [
    "ControlClient",
    "DeviceHost",
    "ManualClock",
    "Runtime",
    "RuntimeSetupError",
    "ScaledClock",
    "Workers",
]

_WHERE = {
    "ControlClient": "ipgwsim.runtime.control",
    "DeviceHost": "ipgwsim.runtime.host",
    "ManualClock": "ipgwsim.runtime.clock",
    "Runtime": "ipgwsim.runtime.runtime",
    "RuntimeSetupError": "ipgwsim.runtime.errors",
    "ScaledClock": "ipgwsim.runtime.clock",
    "Workers": "ipgwsim.runtime.workers",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

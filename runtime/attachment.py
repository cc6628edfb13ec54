"""Where a device's links go in the namespace network, and what they are called.

An :class:`Attachment` says where the far end of each of a device's links goes:
``host`` (stays in the runtime's namespace), ``netns:NAME`` (moved into an existing
namespace), ``bridge:BR[@NAMESPACE]`` (enslaved to a Linux bridge) or
``macvlan:NIC[@NAMESPACE]`` (a macvlan of a real NIC is the device's ``eth0`` instead).
:func:`link_name` names the host-side end of each link, :func:`port_mac` gives each
Ethernet port its MAC (:mod:`ipgwsim.runtime.netns` makes them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ipgwsim.runtime.errors import RuntimeSetupError

__all__ = ["IFNAME_MAX", "Attachment", "link_name", "port_mac"]

#: Linux's longest interface name (IFNAMSIZ less the NUL).
IFNAME_MAX = 15


@dataclass(frozen=True)
class Attachment:
    """Where the far end of a device's links goes (see the module docstring)."""

    kind: str = "host"  # host | netns | bridge | macvlan
    target: str = ""
    namespace: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attachment:
        """``host``, ``netns:NAME``, ``bridge:BR[@NAMESPACE]``, ``macvlan:NIC[@NAMESPACE]``."""
        kind, _, rest = text.partition(":")
        if kind == "host" and not rest:
            return cls()
        if kind not in ("netns", "bridge", "macvlan") or not rest:
            raise RuntimeSetupError(
                f"attachment {text!r}: use host, netns:NAME, bridge:BR[@NAMESPACE] "
                "or macvlan:NIC[@NAMESPACE]"
            )
        if kind == "netns":
            return cls(kind, rest)
        target, _, space = rest.partition("@")
        if not target:
            raise RuntimeSetupError(f"attachment {text!r}: the {kind} needs a name")
        return cls(kind, target, space or None)

    def __str__(self) -> str:
        if self.kind == "host":
            return "host"
        where = f"@{self.namespace}" if self.namespace else ""
        return f"{self.kind}:{self.target}{where}"


def link_name(model: str, serial: str, n: int = 0) -> str:
    """The host-side name of Ethernet port ``n``'s link: ``ip6000-100001``, ``ip6000-100001.1``.

    The lower-case model (letters and digits only, cut to fit) and the last six hex digits
    of the device's serial number, which is unique on the host (the registry), so two
    runtimes never meet by name. With the port suffix it stays within Linux's 15
    characters: the model part keeps at most ``15 - 7 - 2`` = 6 characters (every shipped
    model fits whole; a longer one from a user's profile is cut, its MAC part keeps the
    name unique).
    """
    suffix = f".{n}" if n else ""
    tail = f"-{serial[-6:]}"
    room = IFNAME_MAX - len(tail) - 2  # ".1": every port's name fits, not just ETH0's
    stem = re.sub(r"[^a-z0-9]", "", model.lower())[:room] or "gw"
    return f"{stem}{tail}{suffix}"


def port_mac(mac: str, n: int) -> str:
    """The MAC of Ethernet port ``n``: ETH0 the device's; ETH1 the same with the locally
    administered bit set (``02:90:33:…``), so that it never meets another device's ETH0
    (serial numbers are consecutive; the vendor does not document ETH1's MAC)."""
    if n == 0:
        return mac
    first = int(mac[:2], 16) | 0x02
    return f"{first:02x}{mac[2:]}"

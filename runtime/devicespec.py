"""What a runtime is asked to start: devices of one model, with what makes each of them itself.

A :class:`DeviceSpec` is one ``MODEL[:COUNT]`` of ``ipgwsim run IP800:2 IP811:3`` or one
``[[device]]`` table of a lab file (:mod:`ipgwsim.runtime.labfile`); the runtime starts it
with :meth:`ipgwsim.runtime.runtime.Runtime.add`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.impair import Impairment

#: A device name: a folder name in the state directory, a console link, a host name.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
#: ``MODEL`` or ``MODEL:COUNT`` on the command line.
_MODEL_COUNT = re.compile(r"^([A-Za-z0-9_.-]+)(?::([0-9]+))?$")


_MAC_GROUPS = re.compile(r"^[0-9a-f]{1,2}([:-][0-9a-f]{1,2}){5}$")


def normalize_mac(text: str) -> str | None:
    """12 lower-case hex digits for a MAC in any common spelling, or None.

    ``00:90:33:10:00:01``, ``00-90-33-10-00-01``, ``0090.3310.0001``,
    ``009033100001`` and ``0:90:33:10:0:1`` all give ``009033100001``.
    """
    value = text.strip().lower()
    if _MAC_GROUPS.match(value):
        return "".join(part.zfill(2) for part in re.split(r"[:-]", value))
    digits = re.sub(r"[.:\- ]", "", value)
    if len(digits) == 12 and all(c in "0123456789abcdef" for c in digits):
        return digits
    return None


def format_mac(mac: str) -> str:
    """``00:90:33:10:00:01`` for 12 hex digits."""
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


def check_mac(text: str, count: int = 1) -> str:
    """The 12 hex digits of the first of ``count`` device MACs from ``text`` (any common
    spelling); RuntimeSetupError for what is no MAC, a multicast one, or a range that runs
    past its first octet (into multicast MACs)."""
    mac = normalize_mac(text)
    if mac is None:
        raise RuntimeSetupError(f"{text!r} is not a MAC (write it as 00:90:33:20:00:01)")
    first = int(mac, 16)
    if first & 1 << 40:
        raise RuntimeSetupError(f"{text} is a multicast MAC: a device needs a unicast one")
    last = first | 0xFF_FFFF_FFFF  # the last MAC with the same first octet
    if first + count - 1 > last:
        raise RuntimeSetupError(
            f"{count} MACs from {text} on run past {format_mac(f'{last:012x}')}"
        )
    return mac


def check_name(name: str) -> str | None:
    """Why ``name`` cannot name a device, or None.

    A name is a letter, then up to 31 lower-case letters, digits and dashes (it names the
    device's folder, its console link and, in the namespace network, its namespace).
    """
    if not _NAME.match(name):
        return (
            f"{name!r} is not a device name: a lower-case letter, then up to 31 "
            "lower-case letters, digits and dashes"
        )
    return None


@dataclass(frozen=True)
class DeviceSpec:
    """Devices of one model to start (see the module docstring).

    ``name`` names the device (with ``count`` > 1 the devices are ``name-1``, ``name-2``,
    ...); without it they are named ``<model>-<n>`` and devices of that model already in the
    state directory are taken first. ``mac`` is the first device's MAC (any common spelling,
    kept as 12 lower-case hex digits; the others follow it; a multicast MAC, or a range past
    its first octet, raises RuntimeSetupError). ``config`` is a saved configuration a *new*
    device starts from (a ``cfg.txt`` or a config ring dump); a device that already has a
    folder keeps its flash. ``console_port`` is the first device's raw console port (RFC
    2217 on the next one; each further device two ports on). ``http_port`` and
    ``attachment`` replace the runtime's for these devices, and so does ``impairment``
    (``Impairment()``: none); ``pcap`` records their datagrams in that file too.
    """

    model: str
    count: int = 1
    name: str | None = None
    mac: str | None = None
    config: Path | None = None
    empty_firmware: bool = False
    http_port: int | None = None
    console_port: int | None = None
    attachment: Attachment | None = None
    #: Of these devices' links instead of the runtime's (``Impairment()``: none).
    impairment: Impairment | None = None
    #: A capture file for these devices' datagrams (besides the runtime's).
    pcap: Path | None = None

    def __post_init__(self) -> None:
        # Every way in (the CLI, a lab file, the Python APIs) gets the same MAC checks.
        if self.mac is not None:
            object.__setattr__(self, "mac", check_mac(self.mac, self.count))

    def names(self) -> list[str] | None:
        """The devices' names, or None when the runtime numbers them."""
        if self.name is None:
            return None
        if self.count == 1:
            return [self.name]
        return [f"{self.name}-{n}" for n in range(1, self.count + 1)]

    def macs(self) -> list[str] | None:
        """The devices' MACs (12 hex digits each), or None when the runtime picks them."""
        if self.mac is None:
            return None
        first = int(self.mac, 16)
        return [f"{first + n:012x}" for n in range(self.count)]


def parse_model_counts(words: list[str]) -> list[tuple[str, int | None]]:
    """``["IP800:2", "IP811"]`` -> ``[("IP800", 2), ("IP811", None)]``; bad words refused."""
    out: list[tuple[str, int | None]] = []
    for word in words:
        match = _MODEL_COUNT.match(word)
        if match is None:
            raise RuntimeSetupError(f"{word!r}: give a model and an optional count, e.g. IP811:3")
        count = int(match.group(2)) if match.group(2) is not None else None
        if count is not None and count < 1:
            raise RuntimeSetupError(f"{word!r}: the count must be 1 or more")
        out.append((match.group(1), count))
    return out

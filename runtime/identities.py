"""A runtime's identity on a shared host: its UDP port and its devices' MACs, namespaces
and link names, registered in the host registry (:mod:`ipgwsim.runtime.registry`).

What another running runtime holds is refused with one line naming that runtime's state
directory and pid: a UDP port on loopback (unless both share it), a MAC, a namespace or a
link name.
"""

from __future__ import annotations

import logging

from ipgwsim.hw_profiles import Profile
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.network import Network
from ipgwsim.runtime.registry import Registry, RuntimeConflict, RuntimeEntry
from ipgwsim.runtime.statedir import DeviceRecord

__all__ = ["check_port", "claim_identities", "release_identities"]


def check_port(entry: RuntimeEntry, others: list[RuntimeEntry]) -> None:
    """Refuse a loopback UDP port another running runtime has, unless both share it."""
    if entry.network != "loopback":
        return  # in namespaces every device has its own ports
    for other in others:
        if other.network != "loopback" or other.port != entry.port:
            continue
        if entry.share_port and other.share_port:
            continue
        if other.share_port:
            hint = "use another --port, or --share-port to share it (it shares its port)"
        else:
            hint = "use another --port (to share a port, start both with --share-port)"
        raise RuntimeConflict(f"UDP port {entry.port} is in use by {other.describe()}: {hint}")


def claim_identities(
    registry: Registry,
    entry: RuntimeEntry,
    network: Network,
    records: list[tuple[DeviceRecord, Profile]],
) -> None:
    """Register the devices' MACs, namespaces and link names; refuse what another holds.

    Call it with the registry locked.
    """
    macs: dict[str, str] = {}
    spaces: dict[str, str] = {}
    links: dict[str, str] = {}
    for record, profile in records:
        name = record.instance.name
        macs[record.instance.mac_text] = name
        space = network.namespace_name(name)
        if space is not None:
            spaces[space] = name
        for link in network.link_names(profile, record.instance.serial):
            links[link] = name
    same = "two state directories hold the same serial numbers; stop that runtime or "
    same += "delete one of them"
    for other in registry.running(besides=entry):
        for kind, mine, theirs, advice in (
            ("MAC", macs, other.macs, same),
            ("network namespace", spaces, other.namespaces, "stop that runtime"),
            ("link name", links, other.links, same),
        ):
            for key, name in mine.items():
                if key in theirs:
                    raise RuntimeConflict(
                        f"{name}: {kind} {key} is in use by {other.describe()} "
                        f"(its device {theirs[key]}): {advice}"
                    )
    entry.macs.update(macs)
    entry.namespaces.update(spaces)
    entry.links.update(links)
    registry.register(entry)


def release_identities(
    registry: Registry, entry: RuntimeEntry | None, names: set[str], log: logging.Logger
) -> None:
    """Devices that did not start (or stopped): their names leave the registry entry."""
    if entry is None or not names:
        return
    for table in (entry.macs, entry.namespaces, entry.links):
        for key in [k for k, name in table.items() if name in names]:
            del table[key]
    try:
        with registry.locked():
            registry.register(entry)
    except RuntimeSetupError as exc:
        log.warning("%s", exc)

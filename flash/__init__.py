"""The flash of a gateway: a NOR part and the stores the firmware keeps in it.

* :class:`NorFlash` with :class:`FaultInjector` (power cuts, bad sectors);
* :class:`PartitionTable` of named regions from the hardware profile;
* :class:`ConfigRing` (the config ring buffer), :class:`VarStore` (vars, with
  the crypted admin credentials), :class:`FlashDir` (FLASHDIR0);
* :class:`FlashMan` (FLASHMAN0): the firmware pool of ``prot`` and ``flashdir``,
  the firmware check and store, the flash directory's mount and
  ``info state``;
* firmware and boot code images (:func:`build_image`, :func:`verify_image`).

``flash/DESIGN.md`` says why it is built so; ``flash/SPEC.md`` gives every byte.

The names are loaded on first use, so that a module of its own (``ipgwsim.flash.dumptext``
for ``ipgwsim config-extract``) does not pull in the rest and construct.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ipgwsim.flash.credentials import AdminCredentials, load_admin, store_admin
    from ipgwsim.flash.dumptext import DumpedConfig, DumpReading, newest_generation, read_dump
    from ipgwsim.flash.errors import (
        NO_SPACE_EVENT,
        BadSectorError,
        FlashError,
        LocalFlashError,
        NoSpace,
        PowerLost,
    )
    from ipgwsim.flash.faults import BadSectorMode, CutMode, FaultInjector, PowerCut
    from ipgwsim.flash.flashdir import FlashDir
    from ipgwsim.flash.flashman import DirectoryUsage, FirmwareUsage, FlashMan, FlashManUsage
    from ipgwsim.flash.image import (
        ImageError,
        ImageInfo,
        ImageKind,
        SlotStatus,
        build_image,
        check_slot,
        parse_header,
        store_image,
        verify_image,
    )
    from ipgwsim.flash.nor import NorFlash
    from ipgwsim.flash.partitions import Partition, PartitionTable, RegionUsage
    from ipgwsim.flash.ring import ConfigRing, ConfigTextError, Generation
    from ipgwsim.flash.vars import Var, VarFlags, VarStore

__all__ = [
    "NO_SPACE_EVENT",
    "AdminCredentials",
    "BadSectorError",
    "BadSectorMode",
    "ConfigRing",
    "ConfigTextError",
    "CutMode",
    "DirectoryUsage",
    "DumpReading",
    "DumpedConfig",
    "FaultInjector",
    "FirmwareUsage",
    "FlashDir",
    "FlashError",
    "FlashMan",
    "FlashManUsage",
    "Generation",
    "ImageError",
    "ImageInfo",
    "ImageKind",
    "LocalFlashError",
    "NoSpace",
    "NorFlash",
    "Partition",
    "PartitionTable",
    "PowerCut",
    "PowerLost",
    "RegionUsage",
    "SlotStatus",
    "Var",
    "VarFlags",
    "VarStore",
    "build_image",
    "check_slot",
    "load_admin",
    "newest_generation",
    "parse_header",
    "read_dump",
    "store_admin",
    "store_image",
    "verify_image",
]

_WHERE = {
    "AdminCredentials": "ipgwsim.flash.credentials",
    "BadSectorError": "ipgwsim.flash.errors",
    "BadSectorMode": "ipgwsim.flash.faults",
    "ConfigRing": "ipgwsim.flash.ring",
    "ConfigTextError": "ipgwsim.flash.ring",
    "CutMode": "ipgwsim.flash.faults",
    "DirectoryUsage": "ipgwsim.flash.flashman",
    "DumpReading": "ipgwsim.flash.dumptext",
    "DumpedConfig": "ipgwsim.flash.dumptext",
    "FaultInjector": "ipgwsim.flash.faults",
    "FirmwareUsage": "ipgwsim.flash.flashman",
    "FlashDir": "ipgwsim.flash.flashdir",
    "FlashError": "ipgwsim.flash.errors",
    "FlashMan": "ipgwsim.flash.flashman",
    "FlashManUsage": "ipgwsim.flash.flashman",
    "Generation": "ipgwsim.flash.ring",
    "ImageError": "ipgwsim.flash.image",
    "ImageInfo": "ipgwsim.flash.image",
    "ImageKind": "ipgwsim.flash.image",
    "LocalFlashError": "ipgwsim.flash.errors",
    "NO_SPACE_EVENT": "ipgwsim.flash.errors",
    "NoSpace": "ipgwsim.flash.errors",
    "NorFlash": "ipgwsim.flash.nor",
    "Partition": "ipgwsim.flash.partitions",
    "PartitionTable": "ipgwsim.flash.partitions",
    "PowerCut": "ipgwsim.flash.faults",
    "PowerLost": "ipgwsim.flash.errors",
    "RegionUsage": "ipgwsim.flash.partitions",
    "SlotStatus": "ipgwsim.flash.image",
    "Var": "ipgwsim.flash.vars",
    "VarFlags": "ipgwsim.flash.vars",
    "VarStore": "ipgwsim.flash.vars",
    "build_image": "ipgwsim.flash.image",
    "check_slot": "ipgwsim.flash.image",
    "load_admin": "ipgwsim.flash.credentials",
    "newest_generation": "ipgwsim.flash.dumptext",
    "parse_header": "ipgwsim.flash.image",
    "read_dump": "ipgwsim.flash.dumptext",
    "store_admin": "ipgwsim.flash.credentials",
    "store_image": "ipgwsim.flash.image",
    "verify_image": "ipgwsim.flash.image",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
"""

from __future__ import annotations

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

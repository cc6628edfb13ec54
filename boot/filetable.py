"""The TFTP file table of TFTP mode (gwload-protocol.md 4): which names a client may
read or write, and how large an upload may be.

``RRQ config`` (the profile's ``boot.tftp_config_name``) reads the config ring dump;
``WRQ`` of the config stores a new generation; ``WRQ prot|boot|altboot`` uploads an
image into its region. Requests the boot code cannot serve raise
:class:`~ipgwsim.boot.requests.Refusal` with the TFTP error to send.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipgwsim.boot.requests import Refusal, RunningBoot
from ipgwsim.flash.bootslots import slot_size
from ipgwsim.flash.errors import NO_SPACE_EVENT, NoSpace
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import ImageKind
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.tftp import ErrorCode, WriteRequest, option_number


@dataclass(frozen=True)
class Slot:
    """Where an uploaded file name goes."""

    region: str
    kinds: tuple[ImageKind, ...]


class FileTable:
    """The names of one device's TFTP mode and the bounds of what they take."""

    def __init__(self, profile: Profile, boot: RunningBoot, partitions: PartitionTable) -> None:
        self.profile = profile
        self.boot = boot
        self.partitions = partitions
        self._ring: ConfigRing | None = None

    @property
    def config_name(self) -> str:
        return self.profile.boot.tftp_config_name

    def flashman(self) -> FlashMan:
        """The firmware pool, read afresh (the boot code may have programmed in between)."""
        return FlashMan(self.partitions)

    @property
    def ring(self) -> ConfigRing:
        if self._ring is None:
            self._ring = ConfigRing(self.partitions["config"])
        return self._ring

    def not_found(self, name: str, *, reading: bool) -> str:
        if reading and name in self.slots():
            return f"file not found: {name!r} can only be written"
        return f"file not found: {name!r}"

    def check_read(self, name: str) -> None:
        """Refuse a read of anything but the config (and of it, below the recovery build)."""
        if name != self.config_name:
            raise Refusal(ErrorCode.FILE_NOT_FOUND, self.not_found(name, reading=True))
        self.check_recovery()

    def check_recovery(self) -> None:
        needed = self.profile.boot.min_recovery_build
        if needed is not None and self.boot.build < needed:
            raise Refusal(
                ErrorCode.ILLEGAL_OPERATION,
                f"not supported by this boot code: build {self.boot.build}, "
                f"config recovery needs {needed}",
            )

    def slots(self) -> dict[str, Slot]:
        slots = {
            "prot": Slot("prot", (ImageKind.FIRMWARE,)),
            "boot": Slot("boot", (ImageKind.BOOT,)),
        }
        if "altboot" in self.partitions:
            slots["altboot"] = Slot("altboot", (ImageKind.BOOT, ImageKind.RESCUE_BOOT))
        return slots

    def upload_limit(self, name: str, packet: WriteRequest) -> tuple[int, str]:
        """The most bytes a write of ``name`` takes and the text of a refusal past it."""
        if name == self.config_name:
            self.check_recovery()
            return (
                self.ring.max_text,
                f"config is larger than the ring takes ({self.ring.max_text} bytes)",
            )
        if name == "altboot":
            self._check_altboot()
        slot = self.slots().get(name)
        if slot is None:
            raise Refusal(ErrorCode.FILE_NOT_FOUND, self.not_found(name, reading=False))
        size = self.region_size(slot.region)
        where = self.region_name(slot.region)
        too_large = f"{NO_SPACE_EVENT}: image is larger than the {where} region ({size} bytes)"
        tsize = option_number(packet.options.get("tsize", ""))
        if tsize is not None and tsize > size:
            raise Refusal(
                ErrorCode.DISK_FULL,
                f"{NO_SPACE_EVENT}: image of {tsize} bytes is larger than the "
                f"{where} region ({size} bytes)",
            )
        if tsize is not None and slot.region == "prot":
            try:
                self.flashman().check_firmware(tsize)
            except NoSpace as exc:
                raise Refusal(ErrorCode.DISK_FULL, str(exc)) from None
        return size, too_large

    def region_size(self, region: str) -> int:
        """The largest image the region takes (a boot code slot is half the boot region).

        A firmware image may continue from ``prot`` into ``flashdir`` (the firmware
        pool): its bound is the window over both; whether it fits is the fit rule's
        decision (with the reason), checked on top.
        """
        if region == "prot":
            return self.flashman().firmware_window().size
        partition = self.partitions[region]
        return slot_size(partition) if region == "boot" else partition.size

    def region_name(self, region: str) -> str:
        """The region's name in messages (``prot+flashdir`` for the firmware pool)."""
        return self.flashman().firmware_window().name if region == "prot" else region

    def _check_altboot(self) -> None:
        rescue_from = self.profile.boot.rescue_from_build
        if not self.profile.boot.rescue_copy or rescue_from is None:
            raise Refusal(
                ErrorCode.ILLEGAL_OPERATION,
                f"not supported by this boot code: the {self.profile.model} has no rescue copy",
            )
        if self.boot.build < rescue_from:
            raise Refusal(
                ErrorCode.ILLEGAL_OPERATION,
                f"not supported by this boot code: build {self.boot.build} does not know "
                f"altboot (needs {rescue_from} or later)",
            )
        if self.boot.rescue:
            raise Refusal(
                ErrorCode.ACCESS_VIOLATION,
                "the rescue copy of the boot code cannot overwrite itself: load boot first",
            )

"""FLASHMAN0: the firmware pool of ``prot`` and ``flashdir``.

On a profile whose ``flashdir`` region directly follows ``prot``, the two form a
*pool*: a firmware image is stored from the start of ``prot`` and, when it is
larger than ``prot``, continues into the first sectors of ``flashdir`` (the
*spill*). The flash directory's log lives in the rest: bank 1 is the upper half
of ``flashdir`` (fixed), bank 0 the lower half without the spill sectors of the
current image. So a larger firmware leaves less flash for the LDAP directory
(Howto:Firmware Upgrade V12r1 V12r2), and ``mod cmd FLASHMAN0 info state`` shows
how the pool is used.

Everything that reads or writes a firmware image goes through here: the boot
code's firmware check (:meth:`FlashMan.firmware_status`), a TFTP-mode upload
and the firmware's own update (:meth:`FlashMan.store_firmware`), and anything
that mounts the flash directory (:meth:`FlashMan.flashdir`). The fit rule
(:meth:`FlashMan.check_firmware`) refuses an image with :class:`NoSpace` before
anything is erased. ``flash/DESIGN.md`` says why, ``flash/SPEC.md`` gives the
layout.

A FlashMan mounts the flash directory once and keeps it; it assumes that it is
the only writer of the flash directory while it lives (one per running
firmware, a new one for each action of the boot code).
"""

from __future__ import annotations

from dataclasses import dataclass

from ipgwsim.flash.errors import NoSpace
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import (
    ImageError,
    ImageInfo,
    ImageKind,
    SlotStatus,
    check_slot,
    parse_header,
    verify_image,
)
from ipgwsim.flash.nor import ERASED
from ipgwsim.flash.partitions import Partition, PartitionTable, RegionUsage
from ipgwsim.hw_profiles import Region

#: The name of the window partition over ``prot`` and ``flashdir``.
WINDOW_NAME = "prot+flashdir"
_FIRMWARE = (ImageKind.FIRMWARE,)


@dataclass(frozen=True)
class FirmwareUsage:
    """Where the firmware image is, and how large an image fits."""

    #: Bytes of the image whose header is in ``prot`` (0: no image).
    size: int
    #: Bytes of it in ``prot``.
    in_prot: int
    #: Bytes of it in ``flashdir`` (the spill).
    spill: int
    #: The ``flashdir`` sectors the spill takes.
    spill_sectors: int
    #: The largest image that the fit rule takes now.
    largest: int
    #: The largest image the pool takes at all (with an empty flash directory).
    pool: int


@dataclass(frozen=True)
class DirectoryUsage:
    """How much flash the flash directory (the LDAP directory) may take."""

    #: Size of bank 0 (the lower half without the spill), in bytes.
    bank0: int
    #: Size of bank 1 (the upper half), in bytes.
    bank1: int
    #: Bytes the live items take in a compacted bank, with its header (0: no items).
    used: int
    items: int

    @property
    def allocatable(self) -> int:
        """The most the items may take: the smaller bank, so that compaction always works."""
        return min(self.bank0, self.bank1)


@dataclass(frozen=True)
class FlashManUsage:
    """What ``mod cmd FLASHMAN0 info state`` shows."""

    regions: tuple[RegionUsage, ...]
    firmware: FirmwareUsage
    directory: DirectoryUsage

    def lines(self) -> list[str]:
        """The command's output, CRLF-ended lines (format: ``flash/SPEC.md`` section 7)."""
        rows = [(u.name, u.size, u.used, u.free) for u in self.regions]
        total = (
            "total",
            sum(r[1] for r in rows),
            sum(r[2] for r in rows),
            sum(r[3] for r in rows),
        )
        lines = [f"{'region':<10} {'size':>10} {'used':>10} {'free':>10}"]
        lines += [f"{n:<10} {s:>10} {u:>10} {f:>10}" for n, s, u, f in [*rows, total]]
        fw, fdir = self.firmware, self.directory
        lines.append(
            f"{'firmware':<10} size {fw.size} prot {fw.in_prot} spill {fw.spill} "
            f"sectors {fw.spill_sectors} largest {fw.largest} pool {fw.pool}"
        )
        lines.append(
            f"{'ldap':<10} allocatable {fdir.allocatable} bank0 {fdir.bank0} "
            f"bank1 {fdir.bank1} used {fdir.used} items {fdir.items}"
        )
        return [line + "\r\n" for line in lines]


def _sector_span(sectors: list[int]) -> str:
    return f"sector {sectors[0]}" if len(sectors) == 1 else f"sectors {sectors[0]}..{sectors[-1]}"


class FlashMan:
    """The firmware pool and the flash directory of one device's flash."""

    def __init__(self, partitions: PartitionTable) -> None:
        self.partitions = partitions
        self.model = partitions.profile.model
        self.prot = partitions["prot"]
        self.region = partitions["flashdir"]
        self.sector_size = self.prot.sector_size
        #: Whether ``flashdir`` directly follows ``prot`` (else the firmware has ``prot`` only).
        self.pooled = self.prot.region.end == self.region.region.offset
        #: Sectors of the lower half of ``flashdir`` (bank 0 when nothing spills).
        self.lower_sectors = self.region.sector_count // 2
        #: The most sectors an image may spill: bank 0 keeps at least one.
        self.max_spill = self.lower_sectors - 1 if self.pooled else 0
        #: The largest image the pool takes at all.
        self.capacity = self.prot.size + self.max_spill * self.sector_size
        if self.pooled:
            self._window = Partition(
                self.prot.flash,
                Region(WINDOW_NAME, self.prot.region.offset, self.prot.size + self.region.size),
            )
        else:
            self._window = self.prot
        self._flashdir: FlashDir | None = None

    # -- the firmware image -------------------------------------------------------------------

    def firmware_window(self) -> Partition:
        """The partition a firmware image is read and written through (prot, then flashdir)."""
        return self._window

    def spill_for(self, length: int) -> int:
        """How many ``flashdir`` sectors an image of ``length`` bytes spills into."""
        return max(0, -(-(length - self.prot.size) // self.sector_size))

    def current_image(self) -> ImageInfo | None:
        """The header of the firmware image in ``prot`` (payload not checked), or None."""
        head = self.prot.read(0, min(IMAGE_HEADER_SIZE, self.prot.size))
        try:
            info = parse_header(head)
        except ImageError:
            return None
        if info.kind is not ImageKind.FIRMWARE or info.total_length > self.capacity:
            return None
        return info

    def current_spill(self) -> int:
        """The spill sectors of the current image (0 without a valid header)."""
        info = self.current_image()
        return 0 if info is None else self.spill_for(info.total_length)

    def firmware_status(self) -> SlotStatus:
        """The boot code's firmware check: the image in the window, header and checksum."""
        status = check_slot(self._window, model=self.model, kinds=_FIRMWARE)
        info = status.info
        if status.valid and info is not None and info.total_length > self.capacity:
            return SlotStatus(info, "image header claims more bytes than the firmware pool has")
        return status

    def verify_firmware(self, image: bytes, *, boot_build: int | None = None) -> ImageInfo:
        """Check ``image`` completely (as :func:`verify_image`) and the fit rule; no flash op.

        The size is the fit rule's to judge (its :class:`NoSpace` says why), so the
        image check only bounds it by the window.
        """
        info = verify_image(
            image,
            model=self.model,
            kinds=_FIRMWARE,
            region_size=self._window.size,
            region_name=self._window.name,
            boot_build=boot_build,
        )
        self.check_firmware(info.total_length)
        return info

    def check_firmware(self, length: int) -> None:
        """The fit rule: raise :class:`NoSpace` (saying why) unless ``length`` bytes fit now.

        An image of ``length`` bytes spills ``k`` sectors into ``flashdir``. It fits
        when ``k`` leaves bank 0 at least one sector, when the flash directory holds
        none of the sectors ``0 .. k-1``, and when the directory's live items fit the
        bank 0 that is left. Only reads the flash.
        """
        spill = self.spill_for(length)
        if spill > self.max_spill:
            if self.pooled:
                why = (
                    f"an image may take prot ({self.prot.size} bytes) and {self.max_spill} of "
                    f"the {self.lower_sectors} sectors of flashdir's lower half"
                )
            else:
                why = "flashdir does not follow prot on this model: there is no firmware pool"
            raise NoSpace(self._window.name, length, self.capacity, "firmware", why)
        if spill == 0:
            return
        held = self._directory_sectors()
        if any(s < spill for s in held):
            raise NoSpace(
                self._window.name,
                length,
                self.largest_firmware(),
                "firmware",
                f"the flash directory holds {_sector_span(held)} of flashdir; the image needs "
                f"{_sector_span(list(range(spill)))} ({spill} after prot); save the config, "
                "reset to factory defaults and load it again to free them",
            )
        fdir = self.flashdir()
        bank0 = (self.lower_sectors - spill) * self.sector_size
        if fdir.used_bytes() > bank0:
            raise NoSpace(
                self._window.name,
                length,
                self.largest_firmware(),
                "firmware",
                f"the flash directory's items take {fdir.used_bytes()} bytes; beside an image "
                f"that spills {spill} sectors its bank 0 would have {bank0}",
            )

    def _directory_sectors(self) -> list[int]:
        """The sectors of the lower half that hold flash directory data.

        Those of bank 0 that are not erased, when bank 0 has a valid header of the
        flash directory (active, or left behind by a compaction into bank 1). Without
        one, what bank 0's sectors hold is the rest of a cut image store or of a cut
        compaction: nothing of the directory, free for an image.
        """
        log = self.flashdir().log
        if log.bank_generation(0) is None:
            return []
        first = log.bank_first_sector(0)
        return [s for s in range(first, self.lower_sectors) if not self.region.is_sector_erased(s)]

    def largest_firmware(self) -> int:
        """The largest image the fit rule takes now, in bytes."""
        held = set(self._directory_sectors())
        used = self.flashdir().used_bytes()
        spill = 0
        while (
            spill < self.max_spill
            and spill not in held
            and used <= (self.lower_sectors - spill - 1) * self.sector_size
        ):
            spill += 1
        return self.prot.size + spill * self.sector_size

    def store_firmware(self, image: bytes, *, boot_build: int | None = None) -> ImageInfo:
        """Verify ``image``, check that it fits, then store it; return its header.

        A refused image (:class:`~ipgwsim.flash.image.ImageError`, :class:`NoSpace`)
        leaves the flash untouched. Storing first moves the flash directory out of
        bank 0 if bank 0 is active and the current image spills, then erases
        ``prot`` (its header sector first) and the old and new spill sectors,
        programs the payload and programs the header last, then shares the image's
        sectors with the flash's pool (:meth:`~ipgwsim.flash.nor.NorFlash.share`).
        ``PowerLost`` goes up.
        """
        info = self.verify_firmware(image, boot_build=boot_build)
        old, new = self.current_spill(), self.spill_for(len(image))
        if old > 0:
            # Bank 0 starts at sector `old` only while this image is valid: erasing its header
            # moves bank 0 (to sector 0, then to `new`). Its items go to bank 1 first.
            self.flashdir().log.move_to(1)
        window = self._window
        prot_sectors = self.prot.sector_count
        for sector in range(prot_sectors + max(old, new)):
            window.prepare(sector)
        unit = window.program_unit
        padded = image + bytes([ERASED]) * (-len(image) % unit)
        header_room = -(-IMAGE_HEADER_SIZE // unit) * unit
        window.program(header_room, padded[header_room:])
        window.program(0, padded[:header_room])
        window.share(0, len(padded))
        if self._flashdir is not None:
            self._flashdir.set_spill(new)  # the kept mount follows bank 0
        return info

    # -- the flash directory ------------------------------------------------------------------

    def flashdir(self) -> FlashDir:
        """FLASHDIR0, mounted with bank 0 after the current image's spill (mounted once)."""
        if self._flashdir is None:
            self._flashdir = FlashDir(self.region, spill_sectors=self.current_spill())
        return self._flashdir

    # -- FLASHMAN0 info state -----------------------------------------------------------------

    def usage(self) -> FlashManUsage:
        """Regions, firmware and flash directory, for ``mod cmd FLASHMAN0 info state``."""
        info = self.current_image()
        size = 0 if info is None else info.total_length
        spill = self.spill_for(size)
        fdir = self.flashdir()
        bank0, bank1 = fdir.bank_sizes
        return FlashManUsage(
            tuple(self.partitions.usage()),
            FirmwareUsage(
                size=size,
                in_prot=min(size, self.prot.size),
                spill=max(0, size - self.prot.size),
                spill_sectors=spill,
                largest=self.largest_firmware(),
                pool=self.capacity,
            ),
            DirectoryUsage(
                bank0=bank0,
                bank1=bank1,
                used=fdir.used_bytes() if len(fdir) else 0,
                items=len(fdir),
            ),
        )

    def info_state_lines(self) -> list[str]:
        """The lines ``mod cmd FLASHMAN0 info state`` prints, each ending in CRLF."""
        return self.usage().lines()

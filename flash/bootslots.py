"""Two slots in the boot region, so that a power cut never leaves no boot code.

The boot region is split into two halves of whole sectors. The boot code runs
from a slot that holds a valid boot code image; a new boot code is written
into the *other* slot (payload first, header last), and only when it is
complete is the old slot erased. A power cut while the new one is written
leaves the old one; a cut while the old one is erased leaves the new one; a
cut between the two leaves both, and slot 0 wins. So a boot code update never
bricks a device, on every profile (the project's decision, ``boot/README.md``);
the IP800's rescue copy (``altboot``) is a separate region on top of this.
"""

from __future__ import annotations

from ipgwsim.flash.image import ImageKind, SlotStatus, check_slot, store_image
from ipgwsim.flash.partitions import Partition
from ipgwsim.hw_profiles import Region

KINDS = (ImageKind.BOOT,)


def slots(region: Partition) -> tuple[Partition, Partition]:
    """The two halves of the boot region (whole sectors each)."""
    if region.sector_count < 2:
        raise ValueError(
            f"the boot region needs two sectors for two slots, it has {region.sector_count}"
        )
    half = (region.sector_count // 2) * region.sector_size
    start = region.region.offset
    return (
        Partition(region.flash, Region(region.name, start, half)),
        Partition(region.flash, Region(region.name, start + half, half)),
    )


def slot_size(region: Partition) -> int:
    """The largest boot code image a slot takes."""
    return slots(region)[0].size


def check_slots(region: Partition, model: str) -> tuple[SlotStatus, SlotStatus]:
    first, second = slots(region)
    return (
        check_slot(first, model=model, kinds=KINDS),
        check_slot(second, model=model, kinds=KINDS),
    )


def running_slot(region: Partition, model: str) -> tuple[int | None, SlotStatus]:
    """The slot the boot code runs from (slot 0 when both are valid) and its status.

    With no valid slot: ``None`` and a status whose problem names both slots.
    """
    statuses = check_slots(region, model)
    for index, status in enumerate(statuses):
        if status.valid:
            return index, status
    problem = "; ".join(f"slot {i}: {s.problem}" for i, s in enumerate(statuses))
    return None, SlotStatus(None, problem)


def store_boot(region: Partition, data: bytes, model: str) -> int:
    """Write a verified boot code image without ever leaving no valid boot code.

    Returns the slot it went to. PowerLost from the flash goes up to the caller.
    """
    valid = [i for i, s in enumerate(check_slots(region, model)) if s.valid]
    target = 0 if valid == [1] or not valid else 1
    halves = slots(region)
    store_image(halves[target], data)
    halves[1 - target].erase_all()
    return target

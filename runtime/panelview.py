"""What the front panel shows of a running device: its PANEL and its FLASH, as JSON.

:func:`panel_json` describes the device's front (``docs/front-panel-data.md``, *PANEL*):
the model, the ready LED's colours, one interface LED per Ethernet interface of the
profile, the reset button's thresholds and blinks, and how each state of the ready LED
(:class:`~ipgwsim.events.Led`) lights it, from the one table of rhythms,
:data:`RHYTHMS`. :func:`flash_json` describes the device's flash (*FLASH*): its geometry,
its regions and how much of each holds data, the config ring's generations, write
pointer and free space, the wear of every sector, the operations so far and the last
power cut.

Both are pure functions of a device host: they read, never change the device, and do no
I/O. The flash is read from a snapshot (:meth:`~ipgwsim.flash.nor.NorFlash.clone`, which
shares the sectors), so a device whose power a cut switched off can be looked at too, and
no read counts as a flash operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ipgwsim.events import Led
from ipgwsim.flash.nor import ERASED, NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile
from ipgwsim.hw_profiles.loader import LONG_RESET_BLINK, RECOVERY_BLINK
from ipgwsim.runtime.host import DeviceHost

#: The region of the config ring.
RING_REGION = "config"


@dataclass(frozen=True)
class Rhythm:
    """How one state of the ready LED lights it.

    ``pattern``: ``steady`` (lit in ``colour``), ``flashing`` (lit ``on_s`` of every
    ``period_s``, by itself), ``off`` (dark), ``pulse`` (lit ``on_s`` once per
    :class:`~ipgwsim.events.ButtonBlink` event, which come every ``period_s``).
    """

    colour: str | None
    pattern: str
    period_s: float | None = None
    on_s: float | None = None

    def json(self) -> dict[str, Any]:
        return {
            "colour": self.colour,
            "pattern": self.pattern,
            "period_s": self.period_s,
            "on_s": self.on_s,
        }


#: A flashing LED's period and time lit: undocumented, the project's (docs/behaviours.md).
FLASH_PERIOD_S = 1.0
FLASH_ON_S = 0.5
#: "Flashing fast" (Reference7:Bootcode functionality): how fast is undocumented.
FAST_PERIOD_S = 0.25
FAST_ON_S = 0.125
#: "One blink every 2 s" (Reference7:Bootcode functionality): how long it is lit is not said.
EVERY_2S_PERIOD_S = 2.0
EVERY_2S_ON_S = 0.2
#: A blink while the button is held is lit for this part of the profile's blink period.
COUNTING_ON_FRACTION = 0.5

#: How each state of the ready LED lights it. Colours and steady or flashing: the LED
#: table of Course10; "one blink every 2 s" and "flashing fast": Reference7:Bootcode
#: functionality; periods, times lit and the colours of the blinks: the project's.
#: COUNTING's period is the profile's blink period (:func:`rhythms`).
RHYTHMS: dict[Led, Rhythm] = {
    Led.OFF: Rhythm(None, "off"),
    Led.GREEN: Rhythm("green", "steady"),
    Led.ORANGE: Rhythm("orange", "steady"),
    Led.GREEN_FLASHING: Rhythm("green", "flashing", FLASH_PERIOD_S, FLASH_ON_S),
    Led.GREEN_FLASHING_FAST: Rhythm("green", "flashing", FAST_PERIOD_S, FAST_ON_S),
    Led.ORANGE_FLASHING: Rhythm("orange", "flashing", FLASH_PERIOD_S, FLASH_ON_S),
    Led.RED_FLASHING: Rhythm("red", "flashing", FLASH_PERIOD_S, FLASH_ON_S),
    Led.BLINK_EVERY_2S: Rhythm("green", "flashing", EVERY_2S_PERIOD_S, EVERY_2S_ON_S),
    Led.COUNTING: Rhythm("green", "pulse"),
}


def rhythms(profile: Profile) -> dict[Led, Rhythm]:
    """:data:`RHYTHMS` for a model: COUNTING pulses once per blink period of its profile."""
    period = profile.reset.blink_period_s
    counting = Rhythm("green", "pulse", period, period * COUNTING_ON_FRACTION)
    return {led: counting if led is Led.COUNTING else rhythm for led, rhythm in RHYTHMS.items()}


def ready_colours(profile: Profile) -> list[str]:
    """The colours of the ready LED: orange only on a model that has it."""
    return ["green", "orange", "red"] if profile.leds.has_orange else ["green", "red"]


def panel_json(host: DeviceHost) -> dict[str, Any]:
    """PANEL: the device's front (``docs/front-panel-data.md``)."""
    profile = host.profile
    reset = profile.reset
    leds: list[dict[str, Any]] = [{"name": "ready", "colours": ready_colours(profile)}]
    leds += [
        {"name": eth.name, "colours": ["green"], "kind": "interface"} for eth in profile.ethernet
    ]
    return {
        "model": profile.model,
        "family": profile.family,
        "leds": leds,
        "reset": {
            "medium_s": reset.medium_s,
            "long_s": reset.long_s,
            "blink_period_s": reset.blink_period_s,
            "recovery_blinks": RECOVERY_BLINK,
            "long_blinks": LONG_RESET_BLINK,
        },
        "rhythms": {led.value: rhythm.json() for led, rhythm in rhythms(profile).items()},
    }


def erased_run(data: bytes, start: int) -> int:
    """How many bytes from ``start`` on, round the end of ``data`` to its start, are erased."""
    ordered = data[start:] + data[:start]
    return len(ordered) - len(ordered.lstrip(bytes([ERASED])))


def _ring_json(ring: ConfigRing) -> dict[str, Any]:
    data = ring.partition.read_all()
    return {
        "region": ring.partition.name,
        "generations": [
            {"number": g.number, "offset": g.offset, "length": g.length} for g in ring.generations()
        ],
        "newest": None if ring.newest is None else ring.newest.number,
        "write_pointer": ring.write_pointer,
        "erased_tail": erased_run(data, ring.write_pointer),
        "torn": ring.torn(),
    }


def _last_cut_json(host: DeviceHost) -> dict[str, Any] | None:
    cut = host.flash.faults.last_cut
    if cut is None:
        return None
    return {
        "at_op": cut.at_op,
        "mode": cut.mode.value,
        "operation": cut.kind,
        "address": cut.addr,
        "detail": str(cut),
        "device_time": host.device.last_cut_time,
    }


def flash_json(host: DeviceHost) -> dict[str, Any]:
    """FLASH: the device's flash (``docs/front-panel-data.md``)."""
    flash: NorFlash = host.flash
    geometry = flash.geometry
    # A snapshot sharing the sectors: readable while the power is off, and no flash
    # operation is counted or cut.
    table = PartitionTable(flash.clone(), host.profile)
    regions = []
    for part in table:
        regions.append(
            {
                "name": part.name,
                "offset": part.region.offset,
                "size": part.size,
                "first_sector": part.region.offset // geometry.sector_size,
                "sector_count": part.sector_count,
                "used_bytes": part.usage().used,
            }
        )
    return {
        "size": geometry.size,
        "sector_size": geometry.sector_size,
        "sectors": geometry.sector_count,
        "regions": regions,
        "ring": _ring_json(ConfigRing(table[RING_REGION])),
        "wear": [flash.wear(index) for index in range(geometry.sector_count)],
        "operations": flash.faults.count,
        "last_cut": _last_cut_json(host),
    }

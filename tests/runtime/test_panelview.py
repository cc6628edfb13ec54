"""The front panel's views of running devices (runtime/panelview.py): PANEL and FLASH.

Real devices in a runtime on loopback, in virtual time; every value is compared with what
is read independently of the views: the profile, the device's own events and console, the
config ring's generations, the NorFlash's wear, sectors and operation log.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from ipgwsim.events import ButtonBlink, Event, Led, Mode
from ipgwsim.flash.faults import CutMode, PowerCut
from ipgwsim.flash.partitions import Partition, PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import load_profiles
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.panelview import RHYTHMS, flash_json, panel_json, rhythms
from ipgwsim.testing.loopback import Ports, manual_runtime, run

pytestmark = pytest.mark.integration

#: The patterns of a rhythm (docs/front-panel-data.md).
PATTERNS = ("steady", "flashing", "off", "pulse")
#: A config line of about 3 KiB: some 85 generations fill a 256 KiB ring.
LONG_NAME = "config change CMD0 /name " + "n" * 3000


def typed(host: DeviceHost, text: str) -> str:
    """Type ``text`` on the device's console; what the console printed back."""
    out: list[bytes] = []
    host.console.sinks.append(out.append)
    try:
        host.console.feed(text.encode())
    finally:
        host.console.sinks.remove(out.append)
    return b"".join(out).decode("utf-8", "replace")


def log_in(host: DeviceHost) -> None:
    out = typed(host, f"admin\r{host.profile.firmware.default_password}\r")
    assert out.endswith(f"{host.profile.model}> "), out


def config_write(host: DeviceHost) -> int:
    """``config write`` on the console; the generation the firmware says it wrote."""
    out = typed(host, "config write\r")
    found = re.search(r"config written as generation (\d+)", out)
    assert found is not None, out
    return int(found.group(1))


def config_partition(host: DeviceHost) -> Partition:
    return PartitionTable(host.flash, host.profile)["config"]


def check_erased_tail(part: Partition, ring: dict[str, Any]) -> None:
    """``erased_tail`` bytes from the write pointer on are erased (round the region's end),
    and the byte after them is not, unless the whole region is erased."""
    start, tail, size = ring["write_pointer"], ring["erased_tail"], part.size
    assert 0 <= tail <= size
    first = min(tail, size - start)
    assert part.is_erased(start, first)
    assert part.is_erased(0, tail - first)
    if tail < size:
        assert not part.is_erased((start + tail) % size, 1)


# -- PANEL ------------------------------------------------------------------------------


def test_every_profile_gives_a_panel_whose_leds_match_its_profile(
    tmp_path: Path, ports: Ports
) -> None:
    profiles = load_profiles()
    # The x11 model without an orange LED, and one with (Course10: steady orange = TFTP mode).
    assert not profiles["IP0011"].leds.has_orange
    assert profiles["IP6000"].leds.has_orange

    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            by_model = {}
            for key, profile in sorted(profiles.items()):
                (host,) = rt.add_devices(key, 1)
                by_model[profile.model] = host
                panel = panel_json(host)
                assert (panel["model"], panel["family"]) == (profile.model, profile.family)
                ready, *interfaces = panel["leds"]
                orange = ["orange"] if profile.leds.has_orange else []
                assert ready == {"name": "ready", "colours": ["green", *orange, "red"]}
                assert interfaces == [
                    {"name": eth.name, "colours": ["green"], "kind": "interface"}
                    for eth in profile.ethernet
                ]
                assert panel["reset"] == {
                    "medium_s": profile.reset.medium_s,
                    "long_s": profile.reset.long_s,
                    "blink_period_s": profile.reset.blink_period_s,
                    "recovery_blinks": 3,
                    "long_blinks": 15,
                }
                # The LED the device shows now has a rhythm in a colour its LED has.
                shown = panel["rhythms"][host.status().led.value]
                assert shown["colour"] in ready["colours"]
            assert "orange" not in panel_json(by_model["IP0011"])["leds"][0]["colours"]
            assert "orange" in panel_json(by_model["IP6000"])["leds"][0]["colours"]

    run(main())


def test_every_led_state_has_a_rhythm_in_the_terms_of_its_name() -> None:
    """Every value of events.Led has a rhythm; colour and steady or flashing are those its
    name gives (the LED table of Course10), "one blink every 2 s" flashes every 2 s
    (Reference7:Bootcode functionality), counting pulses once per blink period."""
    assert set(RHYTHMS) == set(Led)
    for profile in load_profiles().values():
        table = rhythms(profile)
        assert set(table) == set(Led)
        for led, rhythm in table.items():
            assert rhythm.pattern in PATTERNS
            name = led.value
            colours = [c for c in ("green", "orange", "red") if c in name]
            if led is Led.OFF:
                assert (rhythm.colour, rhythm.pattern) == (None, "off")
            elif led is Led.COUNTING:
                assert rhythm.pattern == "pulse"
                assert rhythm.period_s == profile.reset.blink_period_s
            elif led is Led.BLINK_EVERY_2S:
                assert (rhythm.pattern, rhythm.period_s) == ("flashing", 2.0)
            else:
                assert [rhythm.colour] == colours
                assert rhythm.pattern == name.split()[0]
            if rhythm.pattern in ("steady", "off"):
                assert (rhythm.period_s, rhythm.on_s) == (None, None)
            else:
                assert rhythm.period_s is not None
                assert rhythm.on_s is not None
                assert 0 < rhythm.on_s < rhythm.period_s
        fast, slow = table[Led.GREEN_FLASHING_FAST], table[Led.GREEN_FLASHING]
        assert fast.period_s is not None
        assert slow.period_s is not None
        assert fast.period_s < slow.period_s


def test_the_panel_says_what_the_device_does_when_the_button_is_held(
    tmp_path: Path, ports: Ports
) -> None:
    """The recovery press of Howto:Config or Password Recovery (1.8 s): the device blinks
    as often, and as far apart, as the panel says; the LEDs it shows have rhythms."""

    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, clock):
            (host,) = rt.add_devices("IP0011", 1)
            blinks: list[float] = []
            leds: list[str] = []

            def listener(_host: DeviceHost, event: Event) -> None:
                if isinstance(event, ButtonBlink):
                    blinks.append(clock.now())

            rt.subscribe(listener)
            panel = panel_json(host)
            reset = panel["reset"]
            released = rt.press(host.name, 1.8)
            await clock.advance(0.1)
            leds.append(host.status().led.value)
            await clock.advance(1.7)
            await released
            assert len(blinks) == reset["recovery_blinks"]
            gaps = {round(b - a, 6) for a, b in itertools.pairwise(blinks)}
            assert gaps == {round(reset["blink_period_s"], 6)}
            assert host.status().mode is Mode.TFTP_MODE
            leds.append(host.status().led.value)
            assert leds == [Led.COUNTING.value, Led.BLINK_EVERY_2S.value]
            assert panel["rhythms"][leds[0]]["pattern"] == "pulse"
            assert panel["rhythms"][leds[1]]["colour"] in panel["leds"][0]["colours"]

    run(main())


# -- FLASH ------------------------------------------------------------------------------


def test_flash_shows_the_regions_and_the_generations_config_writes_made(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            (host,) = rt.add_devices("IP811", 1)
            log_in(host)
            written = []
            for n in range(4):
                typed(host, f"config change CMD0 /name panel-{n}\r")
                written.append(config_write(host))
            view = flash_json(host)
            geometry = host.profile.flash
            assert (view["size"], view["sector_size"], view["sectors"]) == (
                geometry.size,
                geometry.sector_size,
                geometry.sector_count,
            )
            used = {index for index, _data in host.flash.written_sectors()}
            assert [r["name"] for r in view["regions"]] == [
                r.name for r in sorted(host.profile.regions, key=lambda r: r.offset)
            ]
            for region in view["regions"]:
                profiled = host.profile.region(region["name"])
                first = profiled.offset // geometry.sector_size
                count = profiled.size // geometry.sector_size
                assert (region["offset"], region["size"]) == (profiled.offset, profiled.size)
                assert (region["first_sector"], region["sector_count"]) == (first, count)
                held = used.intersection(range(first, first + count))
                assert region["used_bytes"] == len(held) * geometry.sector_size
            ring = view["ring"]
            own = ConfigRing(config_partition(host))
            assert ring["region"] == "config"
            assert ring["generations"] == [
                {"number": g.number, "offset": g.offset, "length": g.length}
                for g in own.generations()
            ]
            numbers = [g["number"] for g in ring["generations"]]
            assert numbers == sorted(numbers)
            assert numbers[-4:] == written
            assert ring["newest"] == written[-1]
            assert ring["write_pointer"] == own.write_pointer
            assert ring["torn"] is False
            check_erased_tail(config_partition(host), ring)
            assert view["operations"] == host.flash.faults.count
            assert view["last_cut"] is None

    run(main())


def test_looking_at_the_flash_leaves_it_as_it_was(tmp_path: Path, ports: Ports) -> None:
    """FLASH reads the part without touching it (docs/front-panel-data.md: nothing is
    written): the sectors the device owns stay its own objects (no copy on its next
    write), on and off; the config region is read once per view."""

    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            (host,) = rt.add_devices("IP6000", 1)
            log_in(host)
            config_write(host)
            flash = host.flash
            sectors = dict(flash._sectors)
            private = flash.memory_bytes()
            assert private > 0  # the config write made sectors of the device's own
            operations = flash.faults.count
            peeks: list[tuple[int, int]] = []
            peek = flash.peek

            def counted(addr: int, length: int) -> bytes:
                peeks.append((addr, length))
                return peek(addr, length)

            flash.peek = counted  # type: ignore[method-assign]
            try:
                first = flash_json(host)
                second = flash_json(host)
            finally:
                del flash.peek
            config = host.profile.region("config")
            assert peeks == [(config.offset, config.size)] * 2
            assert first == second
            assert flash.memory_bytes() == private
            assert flash._sectors.keys() == sectors.keys()
            assert all(flash._sectors[i] is data for i, data in sectors.items())
            assert flash.faults.count == operations
            # Off: the same view, still nothing changed.
            rt.power(host.name, False)
            assert flash_json(host) == first
            assert flash.memory_bytes() == private
            assert all(flash._sectors[i] is data for i, data in sectors.items())

    run(main())


def test_erased_tail_shrinks_as_the_ring_fills_and_wear_grows_when_it_wraps(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            (host,) = rt.add_devices("IP811", 1)
            part = config_partition(host)
            sectors = range(
                part.region.offset // part.sector_size,
                part.region.end // part.sector_size,
            )
            log_in(host)
            typed(host, LONG_NAME + "\r")
            view = flash_json(host)
            assert view["wear"] == [host.flash.wear(i) for i in range(view["sectors"])]
            before = [view["wear"][i] for i in sectors]
            tails = [view["ring"]["erased_tail"]]
            wrapped = False
            for _ in range(200):
                newest = config_write(host)
                view = flash_json(host)
                check_erased_tail(part, view["ring"])
                assert view["ring"]["newest"] == newest
                if [view["wear"][i] for i in sectors] != before:
                    wrapped = True
                    break
                tails.append(view["ring"]["erased_tail"])
            assert wrapped, "the ring never erased a sector"
            assert len(tails) > 50
            assert all(b < a for a, b in itertools.pairwise(tails)), tails
            # Round once more: every sector of the ring erased, as NorFlash counts it.
            for _ in range(100):
                config_write(host)
            view = flash_json(host)
            assert view["wear"] == [host.flash.wear(i) for i in range(view["sectors"])]
            assert all(view["wear"][i] > before[k] for k, i in enumerate(sectors))
            assert sum(view["wear"]) == sum(host.flash.wear_counts().values())
            numbers = [g["number"] for g in view["ring"]["generations"]]
            assert numbers == list(range(numbers[0], numbers[-1] + 1))
            assert numbers[0] > 1  # the oldest generations were erased
            assert numbers[-1] == view["ring"]["newest"]

    run(main())


@pytest.mark.parametrize("mode", ["torn", "atomic"])
def test_a_power_cut_armed_with_cut_shows_in_last_cut(
    tmp_path: Path, ports: Ports, mode: str
) -> None:
    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, clock):
            (host,) = rt.add_devices("IP6000", 1)
            log_in(host)
            before = flash_json(host)["ring"]
            await clock.advance(41.5)
            at = rt.cut(host.name, 1, mode)
            cut_time = clock.now()
            typed(host, "config write\r")
            assert host.status().mode is Mode.OFF
            view = flash_json(host)  # read while the power is off
            [record] = [r for r in host.flash.faults.log if r.op == at]
            assert view["last_cut"] == {
                "at_op": at,
                "mode": mode,
                "operation": record.kind,
                "address": record.addr,
                "detail": f"{record.kind} {record.addr:#x}+{record.length:#x}: {record.outcome}",
                "device_time": cut_time,
            }
            assert record.outcome.startswith(f"power cut ({mode},")
            assert view["operations"] == at == host.flash.faults.count
            if mode == "atomic":  # nothing landed: the ring is as it was
                assert view["ring"] == before
            await clock.advance(5)
            rt.power(host.name, True)
            assert host.status().mode is Mode.FIRMWARE
            again = flash_json(host)
            assert again["last_cut"] == view["last_cut"]  # kept after the power returned

    run(main())


def test_a_torn_record_at_the_write_pointer_shows_until_a_write_passes_it(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        async with manual_runtime(tmp_path / "state", ports) as (rt, _clock):
            (host,) = rt.add_devices("IP6000", 1)
            log_in(host)
            faults = host.flash.faults
            # 40 bytes of the record land: its header, cut short.
            faults.cut = PowerCut(faults.count + 1, CutMode.TORN, keep=8 * 40)
            typed(host, "config write\r")
            assert host.status().mode is Mode.OFF
            ring = flash_json(host)["ring"]
            part = config_partition(host)
            assert ring["torn"] is True
            assert ring["erased_tail"] == 0  # the torn bytes are at the write pointer
            rt.power(host.name, True)
            assert not part.is_erased(ring["write_pointer"], 40)
            assert part.is_erased(ring["write_pointer"] + 40, 1)
            assert flash_json(host)["ring"] == ring
            log_in(host)
            newest = config_write(host)
            ring = flash_json(host)["ring"]
            assert ring["torn"] is False
            assert ring["newest"] == newest
            check_erased_tail(config_partition(host), ring)

    run(main())


def test_the_rhythm_table_in_the_docs_is_the_code_s() -> None:
    """docs/front-panel-data.md shows RHYTHMS row by row (COUNTING's period and time lit
    are the profile's blink period and half of it)."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "front-panel-data.md"
    rows = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`") and cells[2] in PATTERNS:
            rows[cells[0].strip("`")] = cells[1:5]
    assert set(rows) == {led.value for led in Led}
    for led, rhythm in RHYTHMS.items():
        colour, pattern, period, on = rows[led.value]
        assert (colour, pattern) == (rhythm.colour or "null", rhythm.pattern)
        if led is Led.COUNTING:
            assert (period, on) == ("`reset.blink_period_s`", "half of it")
            for profile in load_profiles().values():
                counting = rhythms(profile)[Led.COUNTING]
                blink = profile.reset.blink_period_s
                assert (counting.period_s, counting.on_s) == (blink, blink / 2)
            continue
        shown = [None if text == "null" else float(text) for text in (period, on)]
        assert shown == [rhythm.period_s, rhythm.on_s]

"""The cues a person reads off the ready LED, at the times the sources give, on every model.

- Howto:Config or Password Recovery: press "ca. 1,5-2 sec (active LED must blink 3 times)"
  for TFTP mode with the config kept;
- Reference7:Bootcode functionality: a long reset is "10 seconds, or 15 blinks of the ready
  LED"; while the config is cleared "the ready LED is flashing fast", for "some seconds,
  depending on the size of the configuration";
- Course10: "flashing orange = firmware update", whichever way the image came.

Blinks are counted from the LED events at device times (virtual time).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import ButtonBlink, ButtonReleased, Event, FetchRequested, Led, LedChanged
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.hw_profiles import Profile, load_profiles
from ipgwsim.proto.http import Fetch, FetchResult, HttpRequest
from ipgwsim.proto.node import drain_events
from ipgwsim.testing.lab import DeviceNode, Lab

PROFILES = sorted(load_profiles().values(), key=lambda p: p.model)
MODELS = [p.model for p in PROFILES]


def _blinks_at(node: DeviceNode, since: float, at: float) -> int:
    """Blinks the LED showed from ``since`` up to and including device time ``at``."""
    return sum(1 for t, e in node.events if isinstance(e, ButtonBlink) and since <= t <= at)


def _hold(lab: Lab, node: DeviceNode, seconds: float) -> tuple[int, str]:
    """Hold the button ``seconds``: the blinks counted while held, and the press it was."""
    start = lab.now
    lab.press(node, seconds)
    (released,) = node.of_type(ButtonReleased)
    return _blinks_at(node, start, start + seconds), released.press


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("hold", [1.5, 1.8, 2.0])
def test_the_recovery_press_shows_three_blinks_and_gives_tftp_mode(model: str, hold: float) -> None:
    lab = Lab()
    blinks, press = _hold(lab, lab.add(model), hold)
    assert (blinks, press) == (3, "medium")


@pytest.mark.parametrize("model", MODELS)
def test_ten_seconds_are_fifteen_blinks_and_a_long_reset(model: str) -> None:
    lab = Lab()
    blinks, press = _hold(lab, lab.add(model), 10.0)
    assert (blinks, press) == (15, "long")


@pytest.mark.parametrize("model", MODELS)
def test_letting_go_before_the_fifteenth_blink_keeps_the_config(model: str) -> None:
    lab = Lab()
    blinks, press = _hold(lab, lab.add(model), 9.9)
    assert (blinks, press) == (14, "medium")


# -- clearing ------------------------------------------------------------------------------


def _clearing(lab: Lab, node: DeviceNode) -> tuple[list[Led], float]:
    """Long reset: the LEDs from the release until TFTP mode, and how long clearing took."""
    lab.press(node, 10.5)
    released = next(t for t, e in node.events if isinstance(e, ButtonReleased))
    lab.run(120.0)
    shown = [(t, e.led) for t, e in node.events if isinstance(e, LedChanged) and t >= released]
    leds = [led for _, led in shown]
    start = next(t for t, led in shown if led is Led.GREEN_FLASHING_FAST)
    end = next(t for t, led in shown if t > start)
    return leds, end - start


def _fill_flashdir(node: DeviceNode, items: int) -> None:
    """Put ``items`` directory items (LDAP entries) into the device's flash directory."""
    firmware = node.device.firmware
    assert firmware is not None
    for n in range(items):
        line = f"mod cmd FLASHDIR0 add-item item{n} (cn=user{n})(h323=user{n})(e164={n:06})" + (
            "(dn=" + "x" * 400 + ")"
        )
        assert firmware.execute(line) == "", line


@pytest.mark.parametrize("model", MODELS)
def test_clearing_flashes_green_fast_then_tftp_mode(model: str) -> None:
    lab = Lab()
    gw = lab.add(model)
    leds, _ = _clearing(lab, gw)
    tftp = Led.ORANGE if gw.device.profile.leds.has_orange else Led.BLINK_EVERY_2S
    assert leds[-2:] == [Led.GREEN_FLASHING_FAST, tftp]


@pytest.mark.parametrize("model", MODELS)
def test_clearing_takes_longer_the_more_there_is_to_clear(model: str) -> None:
    lab = Lab()
    small, large = lab.add(model), lab.add(model)
    _fill_flashdir(large, 600)
    _, small_time = _clearing(lab, small)
    _, large_time = _clearing(lab, large)
    assert small_time >= 2.0  # "some seconds"
    assert large_time > small_time


# -- programming, whichever way the image came ---------------------------------------------

ADMIN_UPLOADS = [("/upload/prot", ImageKind.FIRMWARE), ("/upload/boot", ImageKind.BOOT)]


def _image(profile: Profile, kind: ImageKind) -> bytes:
    build = "09-new" if kind is ImageKind.FIRMWARE else str(profile.boot.build + 1)
    boot_build = profile.boot.build + 1 if kind is ImageKind.BOOT else 0
    size = 200_000 if kind is ImageKind.FIRMWARE else 40_000  # a boot slot is small
    return build_image(kind, profile.model, build, b"\x5a" * size, boot_build=boot_build)


def _programming_led(profile: Profile) -> Led:
    return Led.ORANGE_FLASHING if profile.leds.has_orange else Led.GREEN_FLASHING


def _running(profile: Profile) -> Device:
    device = Device(profile, factory_flash(profile), Instance.numbered("gw", 1))
    device.power_on(0.0)
    drain_events(device)
    return device


def _until(device: Device, end: float) -> list[tuple[float, Event]]:
    """Run the device's timers up to ``end``; its events with their times."""
    seen: list[tuple[float, Event]] = []
    while (deadline := device.get_timer()) is not None and deadline <= end:
        device.handle_timer(deadline)
        events: list[Event] = drain_events(device)
        seen.extend((deadline, e) for e in events)
    return seen


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("path", "kind"), ADMIN_UPLOADS)
def test_an_admin_upload_shows_the_programming_led(model: str, path: str, kind: ImageKind) -> None:
    profile = next(p for p in PROFILES if p.model == model)
    device = _running(profile)
    credentials = ("admin", profile.firmware.default_password)
    response = device.http(HttpRequest("PUT", path, credentials, _image(profile, kind)), 5.0)
    assert response.status == 200, response.body
    drain_events(device)
    assert device.led is _programming_led(profile)
    later = _until(device, 60.0)
    assert Led.GREEN in [e.led for _, e in later if isinstance(e, LedChanged)]
    assert device.led is Led.GREEN


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("verb", ["prot", "boot"])
def test_an_update_server_download_shows_the_programming_led(model: str, verb: str) -> None:
    profile = next(p for p in PROFILES if p.model == model)
    device = _running(profile)
    assert device.firmware is not None
    assert device.firmware.execute("config change UP1 /url http://srv/update.htm") == ""
    device.firmware.execute("config write")
    device.firmware.execute("config activate")
    kind = ImageKind.FIRMWARE if verb == "prot" else ImageKind.BOOT
    build = "09-new" if verb == "prot" else str(profile.boot.build + 1)
    script = f"mod cmd UP0 {verb} http://srv/image.bin ser {build}\r\n".encode()
    script_fetch = _next_fetch(device)
    assert script_fetch.url.startswith("http://srv/update.htm")
    device.fetch_done(FetchResult(script_fetch.request_id, 200, script), device.now)
    download = _next_fetch(device)
    assert download.url == "http://srv/image.bin"
    device.fetch_done(FetchResult(download.request_id, 200, _image(profile, kind)), device.now)
    drain_events(device)
    assert device.led is _programming_led(profile)
    _until(device, device.now + 60.0)
    assert device.led is Led.GREEN


def _next_fetch(device: Device) -> Fetch:
    """Run the device's timers one by one until its firmware asks for an HTTP request."""
    for fetch in device_fetches(device):
        return fetch
    raise AssertionError("the device asked for nothing")


def device_fetches(device: Device) -> Iterator[Fetch]:
    for _ in range(1000):
        for event in drain_events(device):
            if isinstance(event, FetchRequested):
                yield event.fetch
        deadline = device.get_timer()
        if deadline is None:
            return
        device.handle_timer(deadline)

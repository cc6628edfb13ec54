"""The image and reset button strategies of ipgwsim.testing.strategies, against the device.

Valid images pass the checks a device's TFTP mode makes and are programmed by a
device in the virtual lab; every broken image is refused for the reason it states,
by those checks and by the device, and leaves its flash as it was; drawn holds are
classified by the device as ``classify_press`` says; press sequences never leave a
device without its firmware.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ipgwsim.boot.button import Press as PressKind
from ipgwsim.boot.button import classify_press
from ipgwsim.device import default_config, factory_flash
from ipgwsim.events import ButtonReleased, Mode
from ipgwsim.flash.bootslots import slot_size
from ipgwsim.flash.errors import NoSpace
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import (
    BadChecksum,
    BootTooOld,
    HeaderDamaged,
    ImageError,
    ImageInfo,
    ImageKind,
    NotAnImage,
    TrailingData,
    Truncated,
    WrongKind,
    WrongModel,
    build_image,
    check_slot,
    parse_header,
    verify_image,
)
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile, find_profile, load_profiles
from ipgwsim.proto.tftp import TransferComplete, TransferFailed
from ipgwsim.testing.lab import DeviceNode, Lab
from ipgwsim.testing.strategies import (
    BrokenImage,
    Press,
    broken_images,
    holds,
    image_capacity,
    images,
    presses,
)

MODELS = sorted(load_profiles())
IP = "10.0.0.5"
#: The image files of TFTP mode and the kinds each takes (boot/README.md, the file table).
FILE_TABLE = {
    "prot": (ImageKind.FIRMWARE,),
    "boot": (ImageKind.BOOT,),
    "altboot": (ImageKind.BOOT, ImageKind.RESCUE_BOOT),
}
REFUSALS: list[type[ImageError] | type[NoSpace]] = [
    NotAnImage,
    HeaderDamaged,
    WrongKind,
    WrongModel,
    NoSpace,
    Truncated,
    TrailingData,
    BadChecksum,
    BootTooOld,
]
#: ``find`` without shrinking: any example will do.
FIRST = settings(phases=[Phase.generate], database=None, max_examples=2000)
#: A device of the virtual lab: a few examples each, they are slower.
LAB = settings(max_examples=15)


@functools.cache
def _factory(model: str) -> NorFlash:
    return factory_flash(find_profile(model))


def device_check(
    profile: Profile, region: str, data: bytes, flash: NorFlash | None = None
) -> ImageInfo:
    """What a device's TFTP mode checks of an upload to ``region`` before it is programmed."""
    table = PartitionTable(flash if flash is not None else _factory(profile.model), profile)
    if region == "prot":
        return FlashMan(table).verify_firmware(data, boot_build=profile.boot.build)
    part = table[region]
    return verify_image(
        data,
        model=profile.model,
        kinds=FILE_TABLE[region],
        region_size=slot_size(part) if region == "boot" else part.size,
        region_name=region,
    )


def refusal(profile: Profile, region: str, data: bytes, flash: NorFlash | None = None) -> Exception:
    with pytest.raises((ImageError, NoSpace)) as caught:
        device_check(profile, region, data, flash)
    return caught.value


@st.composite
def targets(draw: st.DrawFn, models: list[str] = MODELS) -> tuple[Profile, ImageKind]:
    """A model and a kind of image it has a region for."""
    profile = find_profile(draw(st.sampled_from(models)))
    kinds = [k for k in ImageKind if profile.has_region(k.region)]
    return profile, draw(st.sampled_from(kinds))


def _in_tftp_mode(profile: Profile) -> tuple[Lab, DeviceNode]:
    """A factory device, in TFTP mode by the 1.8 s press of Howto:Config or Password
    Recovery, at ``IP``."""
    lab = Lab()
    node = lab.add(profile)
    lab.press(node, 1.8)
    assert node.mode is Mode.TFTP_MODE
    lab.setip(node, IP)
    return lab, node


def mode(node: DeviceNode) -> Mode:
    """The device's mode now (a call, so that the type checker does not narrow it)."""
    return node.mode


def _written(node: DeviceNode) -> list[tuple[int, bytes]]:
    return [(n, bytes(data)) for n, data in node.device.flash.written_sectors()]


def _newest_config(node: DeviceNode) -> str | None:
    return ConfigRing(
        PartitionTable(node.device.flash, node.device.profile)["config"]
    ).newest_text()


# -- valid images ------------------------------------------------------------------------


@given(target=targets(), data=st.data())
def test_images_pass_the_checks_of_a_device(
    target: tuple[Profile, ImageKind], data: st.DataObject
) -> None:
    profile, kind = target
    image = data.draw(images(profile.model, kind), label="image")
    info = device_check(profile, kind.region, image)
    # verify_image itself, with the boot build checked for every kind
    same = verify_image(
        image,
        model=profile.model,
        kinds=(kind,),
        region_size=image_capacity(profile, kind),
        boot_build=profile.boot.build,
    )
    assert same == info
    assert info.kind is kind
    assert info.model.upper() == profile.model.upper()
    assert info.total_length == len(image) <= 4096
    assert info.min_boot_build <= profile.boot.build
    if kind is ImageKind.FIRMWARE:
        assert info.boot_build == 0
    else:
        assert profile.boot.build <= info.boot_build


@given(image=images())
def test_images_of_any_model_pass_the_checks_of_their_model(image: bytes) -> None:
    info = parse_header(image)
    profile = find_profile(info.model)
    assert device_check(profile, info.kind.region, image).total_length == len(image)


def _boot_slot(model: str) -> int:
    profile = find_profile(model)
    return slot_size(PartitionTable(_factory(profile.model), profile)["boot"])


@st.composite
def size_bounds(draw: st.DrawFn, slot: int) -> tuple[int, int]:
    """``min_size <= max_size``, often at or near ``slot``."""
    near = [slot - 1, slot, slot + 1]
    high = draw(st.one_of(st.sampled_from([*near, 2 * slot]), st.integers(64, 2 * slot)))
    low = draw(
        st.one_of(st.sampled_from([64, *near]), st.integers(64, high)).filter(lambda n: n <= high)
    )
    return low, high


@given(bounds=size_bounds(_boot_slot("IP1130")), data=st.data())
@settings(max_examples=30)
def test_images_keep_to_the_sizes_asked_and_to_their_region(
    bounds: tuple[int, int], data: st.DataObject
) -> None:
    # The IP1130's boot code slot is 64 KiB: larger bounds are cut to it.
    low, high = bounds
    slot = _boot_slot("IP1130")
    if low > slot:
        with pytest.raises(InvalidArgument):
            images("IP1130", ImageKind.BOOT, min_size=low, max_size=high)
        return
    image = data.draw(images("IP1130", ImageKind.BOOT, min_size=low, max_size=high))
    size = len(image)
    assert low <= size <= min(high, slot)
    device_check(find_profile("IP1130"), "boot", image)


def _zeros(profile: Profile, kind: ImageKind, size: int) -> bytes:
    """A valid image of ``size`` bytes whose payload is zeros."""
    boot_build = 0 if kind is ImageKind.FIRMWARE else profile.boot.build
    payload = bytes(size - 64)
    return build_image(kind, profile.model, "zeros", payload, boot_build=boot_build)


@pytest.mark.parametrize("model", MODELS)
def test_image_capacity_is_the_largest_image_a_factory_device_takes(model: str) -> None:
    profile = find_profile(model)
    for kind in ImageKind:
        capacity = image_capacity(profile, kind)
        if not profile.has_region(kind.region):
            assert capacity == 0
            continue
        device_check(profile, kind.region, _zeros(profile, kind, capacity))
        if kind is not ImageKind.FIRMWARE:  # firmware may go on into flashdir
            with pytest.raises(NoSpace):
                device_check(profile, kind.region, _zeros(profile, kind, capacity + 1))


def test_images_reach_both_ends_of_the_size_range() -> None:
    strategy = images("IP6000", ImageKind.FIRMWARE, min_size=100, max_size=300)
    assert len(find(strategy, lambda i: len(i) == 100)) == 100
    assert len(find(strategy, lambda i: len(i) == 300)) == 300
    # Without a bound of its own, the largest image is as large as the region takes.
    slot = _boot_slot("IP1130")
    unbounded = images("IP1130", ImageKind.BOOT, max_size=10**7)
    assert find(unbounded.map(len), lambda n: n >= slot, settings=FIRST) == slot


# -- broken images -----------------------------------------------------------------------


@given(target=targets(), data=st.data())
@settings(max_examples=300)
def test_broken_images_are_refused_for_the_reason_they_state(
    target: tuple[Profile, ImageKind], data: st.DataObject
) -> None:
    profile, kind = target
    broken = data.draw(broken_images(profile, kind), label="broken")
    assert (broken.model, broken.region) == (profile.model, kind.region)
    assert broken.kinds == FILE_TABLE[kind.region]
    assert len(broken.data) <= 4096
    assert type(refusal(profile, broken.region, broken.data)) is broken.reason, broken.how


@given(broken=broken_images())
def test_broken_images_of_any_model_are_refused_by_their_model(broken: BrokenImage) -> None:
    profile = find_profile(broken.model)
    assert type(refusal(profile, broken.region, broken.data)) is broken.reason, broken.how


@pytest.mark.parametrize("reason", REFUSALS, ids=lambda r: r.__name__)
def test_every_refusal_is_drawn(reason: type[ImageError] | type[NoSpace]) -> None:
    def is_reason(broken: BrokenImage) -> bool:
        return broken.reason is reason

    found = find(broken_images("IP800", ImageKind.FIRMWARE), is_reason, settings=FIRST)
    assert type(refusal(find_profile("IP800"), "prot", found.data)) is reason
    if reason is not BootTooOld:
        found = find(broken_images("IP800", ImageKind.RESCUE_BOOT), is_reason, settings=FIRST)
        assert type(refusal(find_profile("IP800"), "altboot", found.data)) is reason


@given(
    reasons=st.lists(st.sampled_from(REFUSALS), min_size=1, unique=True),
    data=st.data(),
)
def test_broken_images_keep_to_the_reasons_asked(
    reasons: list[type[ImageError] | type[NoSpace]], data: st.DataObject
) -> None:
    broken = data.draw(broken_images("IP6000", reasons=reasons, max_size=200))
    assert broken.reason in reasons
    assert len(broken.data) <= 200
    if broken.reason is BootTooOld:
        assert broken.region == "prot"


def test_arguments_no_strategy_can_keep_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        images("IP6000", ImageKind.RESCUE_BOOT)  # no altboot region
    with pytest.raises(InvalidArgument):
        images(max_size=63)
    with pytest.raises(InvalidArgument):
        images("no such model")
    with pytest.raises(InvalidArgument):
        broken_images("IP800", ImageKind.BOOT, reasons=[BootTooOld])
    with pytest.raises(InvalidArgument):
        broken_images(reasons=[ValueError])  # type: ignore[list-item]
    with pytest.raises(InvalidArgument):
        holds(max_hold=-1.0)
    with pytest.raises(InvalidArgument):
        presses(max_gap=math.inf)


# -- images and a device -----------------------------------------------------------------


@LAB
@given(target=targets(MODELS), data=st.data())
def test_a_device_programs_drawn_images(
    target: tuple[Profile, ImageKind], data: st.DataObject
) -> None:
    profile, kind = target
    image = data.draw(images(profile, kind), label="image")
    info = parse_header(image)
    lab, node = _in_tftp_mode(profile)
    assert isinstance(lab.put(IP, kind.region, image), TransferComplete)
    lab.run(60.0)
    assert mode(node) is Mode.TFTP_MODE
    assert "programming done" in node.console()
    lab.power_off(node)
    lab.power_on(node)
    boot = node.device.boot
    assert mode(node) is Mode.FIRMWARE
    if kind is ImageKind.FIRMWARE:
        assert boot.firmware.info == info
    elif kind is ImageKind.BOOT:
        assert boot.running_boot is not None
        assert boot.running_boot.build == info.boot_build
    else:
        table = PartitionTable(node.device.flash, profile)
        assert (
            check_slot(table["altboot"], model=profile.model, kinds=FILE_TABLE["altboot"]).info
            == info
        )


@settings(max_examples=20)
@given(target=targets(MODELS), data=st.data())
def test_a_device_refuses_drawn_broken_images_and_keeps_its_flash(
    target: tuple[Profile, ImageKind], data: st.DataObject
) -> None:
    profile, kind = target
    broken = data.draw(broken_images(profile, kind), label="broken")
    lab, node = _in_tftp_mode(profile)
    expected = refusal(profile, broken.region, broken.data, node.device.flash)
    before = _written(node)
    result = lab.put(IP, broken.region, broken.data)
    assert isinstance(result, TransferFailed), broken.how
    assert result.reason == str(expected)
    lab.run(60.0)
    assert node.mode is Mode.TFTP_MODE
    assert _written(node) == before


# -- the reset button --------------------------------------------------------------------


@settings(max_examples=40)
@given(model=st.sampled_from(MODELS), data=st.data())
def test_the_device_classifies_a_drawn_hold_as_classify_press_does(
    model: str, data: st.DataObject
) -> None:
    profile = find_profile(model)
    hold = data.draw(holds(profile), label="hold")
    lab = Lab()
    node = lab.add(profile)
    assert lab.now == 0.0  # so the device measures exactly the hold drawn
    lab.press(node, hold)
    kind = classify_press(hold, profile.reset)
    assert node.of_type(ButtonReleased) == [ButtonReleased(hold, kind.value)]
    assert f"reset button released after {hold:.1f} s: {kind.value} press" in node.console()
    assert (
        node.mode
        is {
            PressKind.SHORT: Mode.FIRMWARE,
            PressKind.MEDIUM: Mode.TFTP_MODE,
            PressKind.LONG: Mode.CLEARING,
        }[kind]
    )
    lab.run(60.0)
    config = _newest_config(node)
    assert config == (None if kind is PressKind.LONG else default_config(profile))


@given(model=st.sampled_from(MODELS), top=st.floats(0.0, 100.0), data=st.data())
def test_holds_stay_in_range(model: str, top: float, data: st.DataObject) -> None:
    hold = data.draw(holds(model, max_hold=top))
    assert 0.0 <= hold <= top
    assert 0.0 <= data.draw(holds(model)) <= 2 * find_profile(model).reset.long_s


def between(low: float, high: float, *, closed: bool = False) -> Callable[[float], bool]:
    """Whether a hold is strictly between ``low`` and ``high`` (``closed``: within them)."""
    if closed:
        return lambda hold: low <= hold <= high
    return lambda hold: low < hold < high


@pytest.mark.parametrize("model", ["IP800", "IP811"])
def test_holds_come_near_every_threshold(model: str) -> None:
    profile = find_profile(model)
    for threshold in (profile.reset.medium_s, profile.reset.long_s):
        below = find(holds(model), between(threshold - 0.002, threshold))
        above = find(holds(model), between(threshold, threshold + 0.002))
        at = find(holds(model), between(threshold, threshold, closed=True))
        assert classify_press(below, profile.reset) is not classify_press(at, profile.reset)
        assert classify_press(above, profile.reset) is classify_press(at, profile.reset)


@given(sequence=presses("IP811", min_size=2, max_size=3, max_gap=5.0))
def test_presses_keep_to_their_bounds(sequence: list[Press]) -> None:
    assert 2 <= len(sequence) <= 3
    for press in sequence:
        assert 0.0 <= press.gap <= 5.0
        assert 0.0 <= press.hold <= 30.0


@settings(max_examples=20)
@given(model=st.sampled_from(MODELS), data=st.data())
def test_press_sequences_never_leave_a_device_dead(model: str, data: st.DataObject) -> None:
    profile = find_profile(model)
    sequence = data.draw(presses(profile), label="presses")
    lab = Lab()
    node = lab.add(profile)
    for press in sequence:
        lab.run(press.gap)
        lab.press(node, press.hold)
        assert node.mode in (Mode.FIRMWARE, Mode.TFTP_MODE, Mode.CLEARING)
    released = node.of_type(ButtonReleased)
    assert len(released) <= len(sequence)
    lab.run(60.0)
    if all(r.press != PressKind.LONG.value for r in released):
        assert _newest_config(node) == default_config(profile)
    lab.power_off(node)
    lab.power_on(node)
    # Presses never touch the firmware: a power cycle starts it.
    assert node.mode is Mode.FIRMWARE

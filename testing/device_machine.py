"""A Hypothesis state machine over one device: presses, power cuts and uploads.

Any sequence of reset-button presses of any length, power cuts at any flash
operation, and good, bad and cut uploads of config, firmware and boot code.
After every step:

* the device is in running firmware, TFTP mode, or busy programming or
  clearing (which end by themselves); it is off only after a power cut, and a
  power-on from there again reaches firmware or TFTP mode: never a dead end;
* the newest config in the ring is the newest committed one, or the one whose
  write a power cut interrupted; only a long press removes it.

It runs on the IP800 profile by default (boot code in two slots and a rescue
copy); the project's tests also run it on the IP6000 (two slots, no rescue
copy). Users can run it against their own profiles by subclassing and
changing :attr:`DeviceMachine.profile_name`.
"""

from __future__ import annotations

import functools
from ipaddress import IPv4Address

from ipgwsim.device import default_config
from ipgwsim.events import Mode
from ipgwsim.flash.faults import CutMode
from ipgwsim.flash.image import BadChecksum, ImageKind, Truncated, WrongModel, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.tftp import TransferComplete, TransferFailed
from ipgwsim.runtime.extras import extra_imports
from ipgwsim.testing.clients import TftpClientNode
from ipgwsim.testing.lab import DeviceNode, Lab
from ipgwsim.testing.strategies import broken_images, holds, images

with extra_imports(__name__):
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.stateful import (
        RuleBasedStateMachine,
        initialize,
        invariant,
        precondition,
        rule,
    )

IP = "10.0.0.5"
ALIVE = {Mode.FIRMWARE, Mode.TFTP_MODE, Mode.PROGRAMMING, Mode.CLEARING}

#: The broken uploads of the rules, by the refusal they meet.
BROKEN = {"bad checksum": BadChecksum, "other model": WrongModel, "truncated": Truncated}
config_texts = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
    min_size=1,
    max_size=30,
).map(lambda names: "".join(f"config change CMD0 /name {n}\r\n" for n in names))


@functools.cache
def _profile(name: str) -> Profile:
    return find_profile(name)


def _flash_image(node: DeviceNode) -> bytes:
    flash = node.device.flash
    return b"".join(data for _, data in flash.written_sectors())


class DeviceMachine(RuleBasedStateMachine):
    profile_name = "IP800"

    def __init__(self) -> None:
        super().__init__()
        self.lab = Lab()
        self.gw: DeviceNode = self.lab.add(_profile(self.profile_name))
        self.profile = self.gw.device.profile
        #: Configs the newest generation may be (several while a cut write is unresolved).
        self.allowed: set[str | None] = {default_config(self.profile)}
        self.cut_armed = False
        self.xid = 1000

    # -- helpers -------------------------------------------------------------------

    def _ring_newest(self) -> str | None:
        return ConfigRing(
            PartitionTable(self.gw.device.flash, self.profile)["config"]
        ).newest_text()

    def _addressed(self) -> bool:
        return self.gw.mode is Mode.TFTP_MODE and self.gw.device.ip == IP

    def _after_possible_cut(self) -> None:
        if self.gw.mode is Mode.OFF:
            event("a power cut hit a flash operation")
            self.cut_armed = False

    def _image(self, kind: ImageKind, build: str, size: int) -> bytes:
        boot = self.profile.boot.build if kind is not ImageKind.FIRMWARE else 0
        return build_image(kind, self.profile.model, build, bytes(size), boot_build=boot)

    # -- rules -----------------------------------------------------------------------

    @initialize(recovering=st.booleans())
    def start(self, recovering: bool) -> None:
        """Half of the runs begin as the recovery of Howto:Config or Password Recovery does:
        TFTP mode with an address."""
        if recovering:
            self.recovery_procedure()

    @precondition(lambda self: self.gw.mode is not Mode.OFF)
    @rule(data=st.data())
    def press_button(self, data: st.DataObject) -> None:
        """A press near a threshold of the profile's reset button, or of any length."""
        self.press(data.draw(holds(self.profile), label="hold"))

    def press(self, hold: float) -> None:
        lines = len(self.gw.console())
        self.lab.press(self.gw, hold)
        # The device decides by the time it measured (10.0 s may measure 9.999...).
        if any(line.endswith(": long press") for line in self.gw.console()[lines:]):
            # A long press clears the config; cut half-way, the ring is old or empty.
            self.allowed = self.allowed | {None} if self.gw.mode is Mode.OFF else {None}
        self._after_possible_cut()

    @rule(seconds=st.sampled_from([0.5, 5.0, 30.0]))
    def wait(self, seconds: float) -> None:
        self.lab.run(seconds)

    @precondition(lambda self: self.gw.mode is not Mode.OFF)
    @rule()
    def power_off(self) -> None:
        self.lab.power_off(self.gw)

    @precondition(lambda self: self.gw.mode is Mode.OFF)
    @rule()
    def power_on(self) -> None:
        self.lab.power_on(self.gw)
        self._after_possible_cut()

    @precondition(lambda self: not self.cut_armed and self.gw.mode is not Mode.OFF)
    @rule(operations=st.integers(min_value=1, max_value=12), torn=st.booleans())
    def arm_power_cut(self, operations: int, torn: bool) -> None:
        self.gw.device.cut_power_at(operations, CutMode.TORN if torn else CutMode.ATOMIC)
        self.cut_armed = True

    @precondition(lambda self: not self.cut_armed and self._addressed())
    @rule(
        name=st.sampled_from(["config", "prot", "boot"]),
        operations=st.integers(min_value=1, max_value=20),
        torn=st.booleans(),
    )
    def upload_cut_by_a_power_cut(self, name: str, operations: int, torn: bool) -> None:
        """A good upload whose flash write a power cut interrupts."""
        self.arm_power_cut(operations, torn)
        if name == "config":
            self.upload_config("config change CMD0 /name cut-short\r\n" * 40)
        elif name == "prot":
            self._upload_firmware("good", self._image(ImageKind.FIRMWARE, "fw-30000", 30_000))
        else:
            build = str(self.profile.boot.build)
            self._upload_boot_code("good", self._image(ImageKind.BOOT, build, 8192))

    @precondition(lambda self: not self.cut_armed and self.gw.mode is Mode.FIRMWARE)
    @rule(operations=st.integers(min_value=1, max_value=8), torn=st.booleans())
    def long_press_cut_by_a_power_cut(self, operations: int, torn: bool) -> None:
        self.arm_power_cut(operations, torn)
        self.press(self.profile.reset.long_s + 0.5)

    @precondition(lambda self: self.gw.mode is Mode.TFTP_MODE and self.gw.device.ip != IP)
    @rule()
    def setip(self) -> None:
        self.lab.setip(self.gw, IP)
        assert self.gw.device.ip == IP

    @precondition(lambda self: self.gw.mode is Mode.FIRMWARE)
    @rule()
    def recovery_procedure(self) -> None:
        """The way in of Howto:Config or Password Recovery: hold the button 1.8 s, then
        gwload /setip."""
        self.lab.press(self.gw, 1.8)
        if self.gw.mode is Mode.TFTP_MODE:
            self.setip()

    @precondition(lambda self: self._addressed())
    @rule(text=config_texts)
    def upload_config(self, text: str) -> None:
        result = self.lab.put(IP, "config", text.encode())
        self._after_possible_cut()
        if isinstance(result, TransferComplete):
            event("config upload committed")
            self.allowed = {text}
        else:
            self.allowed = self.allowed | {text}

    def _drawn_image(self, data: st.DataObject, kind: ImageKind, how: str, size: int) -> bytes:
        """A good image of ``kind`` of up to ``size`` bytes, or one broken as ``how`` says."""
        if how == "good":
            return data.draw(images(self.profile, kind, max_size=size), label="image")
        broken = broken_images(self.profile, kind, reasons=[BROKEN[how]], max_size=size)
        return data.draw(broken, label="image").data

    @precondition(lambda self: self._addressed())
    @rule(
        kind=st.sampled_from(["good", "bad checksum", "other model", "truncated"]), data=st.data()
    )
    def upload_firmware(self, kind: str, data: st.DataObject) -> None:
        self._upload_firmware(kind, self._drawn_image(data, ImageKind.FIRMWARE, kind, 60_064))

    def _upload_firmware(self, kind: str, image: bytes) -> None:
        result = self.lab.put(IP, "prot", image)
        if isinstance(result, TransferComplete):
            event(f"firmware upload accepted ({kind})")
        self._after_possible_cut()

    @precondition(lambda self: self._addressed())
    @rule(data=st.binary(max_size=600).map(lambda b: b + b"\xff"))  # 0xFF is never UTF-8
    def upload_config_that_is_not_text(self, data: bytes) -> None:
        before = self._ring_newest()
        result = self.lab.put(IP, "config", data)
        self._after_possible_cut()
        assert isinstance(result, TransferFailed)
        if self.gw.mode is not Mode.OFF:
            assert self._ring_newest() == before

    @precondition(lambda self: self._addressed())
    @rule(
        name=st.sampled_from(["config", "prot", "boot"]),
        seconds=st.sampled_from([0.0005, 0.002, 0.01]),
    )
    def abandoned_upload(self, name: str, seconds: float) -> None:
        """The lab PC stops in the middle of an upload: nothing may change."""
        data = (
            b"config change CMD0 /name abandoned\r\n" * 200
            if name == "config"
            else self._image(
                ImageKind.FIRMWARE if name == "prot" else ImageKind.BOOT, "cut", 40_000
            )
        )
        before = _flash_image(self.gw)
        client = TftpClientNode.put((IP, self.lab.port), name, data, port=45000, now=self.lab.now)
        self.lab.net.attach(client)
        self.lab.run(seconds)
        self.lab.net.detach(client)
        self.lab.run(60.0)  # the device gives up on the transfer
        self._after_possible_cut()
        if self.gw.mode is not Mode.OFF and not client.done:
            event(f"abandoned {name} upload left the flash as it was")
            assert _flash_image(self.gw) == before

    @precondition(lambda self: self._addressed())
    @rule(kind=st.sampled_from(["good", "bad checksum", "other model"]), data=st.data())
    def upload_boot_code(self, kind: str, data: st.DataObject) -> None:
        self._upload_boot_code(kind, self._drawn_image(data, ImageKind.BOOT, kind, 8192 + 64))

    def _upload_boot_code(self, kind: str, image: bytes) -> None:
        result = self.lab.put(IP, "boot", image)
        if kind != "good":
            assert isinstance(result, TransferFailed), result
        self._after_possible_cut()

    @precondition(lambda self: self._addressed())
    @rule(go=st.booleans())
    def go_or_reset(self, go: bool) -> None:
        self.xid += 1
        mac, gwtype = self.gw.device.instance.mac, self.profile.gwtype
        message = gwload.Go(self.xid, mac, gwtype) if go else gwload.Reset(self.xid, mac, gwtype)
        self.lab.ask(message, to=IP)
        self._after_possible_cut()

    # -- what must always hold ---------------------------------------------------------

    @invariant()
    def never_a_dead_end(self) -> None:
        mode = self.gw.mode
        assert mode in ALIVE or mode is Mode.OFF, mode
        event(f"mode {mode.name}")
        if mode is Mode.OFF:
            return
        # Whatever the flash holds now, a power cycle reaches firmware or TFTP mode.
        probe = Lab()
        twin = probe.add(self.profile, flash=self.gw.device.flash.clone())
        assert twin.mode in (Mode.FIRMWARE, Mode.TFTP_MODE), twin.console()[-5:]

    @invariant()
    def newest_config_is_never_lost(self) -> None:
        if self.gw.mode is Mode.OFF:
            return
        newest = self._ring_newest()
        assert newest in self.allowed, (newest, self.allowed)
        self.allowed = {newest}

    @invariant()
    def firmware_mode_has_valid_firmware(self) -> None:
        if self.gw.mode is Mode.FIRMWARE:
            assert self.gw.device.boot.firmware.valid

    @invariant()
    def tftp_address_only_by_setip(self) -> None:
        tftp = self.gw.device.boot.tftp
        ip = str(tftp.ip) if tftp is not None and tftp.ip is not None else None
        assert ip in (None, IP)
        if ip is not None:
            assert IPv4Address(ip) == IPv4Address(IP)

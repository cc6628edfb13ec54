"""The boot code of one device: a table-driven state machine (``table.py``).

Power-on checks the boot code itself (falling back to the rescue copy where the
profile has one), then the firmware image (header, model, checksum). Running
firmware, TFTP mode, programming and clearing are modes of the table; the reset
button is read in every mode but while flash is being written. Flash work
(programming an image, clearing the config) is done at once and then shown for
as long as the real part would take (``timing.py``); a power cut *during* it is
modelled at the flash operation (the fault injector), not by the clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ipgwsim.boot.button import HeldButton, Press
from ipgwsim.boot.requests import (
    AddressPolicy,
    ImageUploaded,
    PortPolicy,
    RestartRequested,
    RunningBoot,
    StartRequested,
)
from ipgwsim.boot.table import TABLE, Action, Input
from ipgwsim.boot.tftpmode import FastReplies, TftpMode
from ipgwsim.boot.timing import clearing_time, programming_time
from ipgwsim.events import (
    ButtonBlink,
    ButtonReleased,
    ConsoleOutput,
    Event,
    FirmwareStarted,
    FlashChanged,
    Led,
    LedChanged,
    Mode,
    ModeChanged,
    PoweredOff,
    StartCause,
)
from ipgwsim.flash.bootslots import running_slot, store_boot
from ipgwsim.flash.errors import NoSpace, PowerLost
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import ImageError, ImageKind, SlotStatus, check_slot, store_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarStore
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.tftp import TimerPolicy

_NO_FIRMWARE = SlotStatus(None, "not checked yet")


@dataclass(frozen=True)
class _Work:
    """Flash work being shown: what, until when, and where to go after."""

    what: str
    until: float


class BootCode:
    """One device's boot code (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        flash: NorFlash,
        *,
        mac: bytes,
        port: int = 69,
        rng: random.Random | None = None,
        rng_seed: int | str = 0,
        address_policy: AddressPolicy | None = None,
        port_policy: PortPolicy | None = None,
        timers: TimerPolicy | None = None,
    ) -> None:
        self.profile = profile
        self.flash = flash
        self.mac = mac
        self.port = port
        # The randomness: ``rng``, or ``random.Random(rng_seed)`` made on first use (it
        # holds 2.5 KiB, and a device that runs its firmware only draws the firmware's
        # seed from it: see :meth:`firmware_seed`).
        self._rng = rng
        self._rng_seed = rng_seed
        #: 32-bit words drawn from ``random.Random(rng_seed)`` before it was made.
        self._rng_words = 0
        self.address_policy = address_policy
        self.port_policy = port_policy
        self.timers = timers
        self.mode = Mode.OFF
        self.led = Led.OFF
        self.running_boot: RunningBoot | None = None
        self.firmware = _NO_FIRMWARE
        self.tftp: TftpMode | None = None
        self.button: HeldButton | None = None
        self._work: _Work | None = None
        #: Until when the ready LED shows an image the running firmware programs.
        self._firmware_work_until: float | None = None
        #: The last chunk typed on the console ended with CR (a LF after it is the same line end).
        self._typed_cr = False
        self._after_long_reset = False
        #: Whether the firmware's next start follows a restart by the reset button
        #: (``ETH /dhcp auto`` then takes the factory address instead of DHCP).
        self.by_button = False
        self._upload: ImageUploaded | None = None
        #: When a timed press lets the button go (``press(now, hold)``).
        self._release_at: float | None = None
        #: GO or RESET acknowledged, acted on at the next timer: the ACK leaves first.
        self._deferred: list[tuple[Input, str]] = []
        self._deferred_at: float | None = None
        self._events: list[Event] = []
        self._outgoing: list[Datagram] = []
        self._partitions = PartitionTable(flash, profile)

    @property
    def partitions(self) -> PartitionTable:
        """The flash's regions (one table, shared with the firmware it starts)."""
        return self._partitions

    @property
    def rng(self) -> random.Random:
        """The boot code's randomness (TFTP transfer ports), made on first use."""
        if self._rng is None:
            self._rng = self._generator()
        return self._rng

    def firmware_seed(self) -> int:
        """64 bits for the seed of a firmware that starts: ``rng.getrandbits(64)``.

        Without a generator yet, the same bits come from a generator made for the draw
        and dropped: one of ``rng_seed`` that skips the words drawn before (a 64-bit draw
        takes two 32-bit words), so the stream is the one a kept generator gives.
        """
        if self._rng is not None:
            return self._rng.getrandbits(64)
        rng = self._generator()
        self._rng_words += 2
        return rng.getrandbits(64)

    def _generator(self) -> random.Random:
        """``random.Random(rng_seed)`` past the words drawn without a generator."""
        rng = random.Random(self._rng_seed)
        if self._rng_words:
            rng.getrandbits(32 * self._rng_words)
        return rng

    # -- outputs -----------------------------------------------------------------

    def next_event(self) -> Event | None:
        self._collect()
        return self._events.pop(0) if self._events else None

    def datagrams_to_send(self) -> list[Datagram]:
        self._collect()
        out, self._outgoing = self._outgoing, []
        return out

    def get_timer(self) -> float | None:
        deadlines: list[float] = []
        if self.button is not None:
            deadlines.append(self.button.next_blink())
            if self._release_at is not None:
                deadlines.append(self._release_at)
        if self._work is not None:
            deadlines.append(self._work.until)
        if self._firmware_work_until is not None:
            deadlines.append(self._firmware_work_until)
        if self._deferred_at is not None:
            deadlines.append(self._deferred_at)
        if self.tftp is not None:
            deadline = self.tftp.get_timer()
            if deadline is not None:
                deadlines.append(deadline)
        return min(deadlines) if deadlines else None

    def _collect(self) -> None:
        if self.tftp is not None:
            while (event := self.tftp.next_event()) is not None:
                self._events.append(event)
            self._outgoing.extend(self.tftp.datagrams_to_send())

    def _print(self, line: str) -> None:
        self._events.append(ConsoleOutput(line))

    def _set_led(self, led: Led) -> None:
        if led is not self.led:
            self.led = led
            self._events.append(LedChanged(led))

    def _set_mode(self, mode: Mode, reason: str) -> None:
        if mode is not self.mode:
            self.mode = mode
            self._events.append(ModeChanged(mode, reason))

    # -- inputs ------------------------------------------------------------------

    def power_on(self, now: float) -> None:
        self.handle(Input.POWER_ON, now)

    def power_off(self, now: float, cause: str = "switched off") -> None:
        self.handle(Input.POWER_OFF, now, cause)

    @property
    def reads_button(self) -> bool:
        """Whether a press of the reset button now is read (the table: not while off,
        programming or clearing)."""
        return TABLE[self.mode, Input.PRESS].action is Action.HOLD

    def press(self, now: float, hold: float | None = None) -> None:
        """Press the reset button; with ``hold``, let it go that many seconds later.

        A timed press is released by the boot code's own timer, so the blinks
        and the release happen in device time order however late a caller is.
        """
        self.handle(Input.PRESS, now)
        if hold is not None and self.button is not None:
            self._release_at = now + hold

    def release(self, now: float) -> None:
        """The reset button is let go; the press is classified by how long it was held."""
        self._release_at = None
        if self.button is None:
            return
        press, held = self.button.release(now)
        self.button = None
        self._print(f"reset button released after {held:.1f} s: {press.value} press")
        self._events.append(ButtonReleased(held, press.value))
        event = {
            Press.SHORT: Input.RELEASE_SHORT,
            Press.MEDIUM: Input.RELEASE_MEDIUM,
            Press.LONG: Input.RELEASE_LONG,
        }[press]
        if TABLE[self.mode, event].action is Action.IGNORE:
            self._set_led(self._mode_led())
        self.handle(event, now, f"reset button held {held:.1f} s")

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        tftp = self.tftp
        if tftp is None or self.mode is Mode.OFF:
            return
        try:  # the hot path of every transfer: no closures here
            tftp.receive_datagram(datagram, now)
            if tftp.requests:
                self._serve_requests(now)
        except PowerLost as exc:
            self._power_lost(exc, now)

    def receive_fast(
        self, data: bytes, src: Address, dst: Address, now: float
    ) -> FastReplies | None:
        """:meth:`receive_datagram` of ``Datagram(data, src, dst)`` by way of
        :meth:`TftpMode.receive_fast <ipgwsim.boot.tftpmode.TftpMode.receive_fast>`: the
        datagrams a transfer's DATA or ACK leads to, from ``dst``, when that is all it
        leads to (nothing queued then); None when it was taken the ordinary way."""
        tftp = self.tftp
        if tftp is None or self.mode is Mode.OFF or self._events or self._outgoing:
            self.receive_datagram(Datagram(data, src, dst), now)
            return None
        try:
            out = tftp.receive_fast(data, src, dst, now)
            if tftp.requests:
                self._serve_requests(now)
        except PowerLost as exc:
            self._power_lost(exc, now)
            return None
        return out

    def port_failed(self, address: tuple[str, int], reason: str, now: float) -> None:
        """A port TFTP mode opened could not be bound: what it queued from there is dropped
        (it cannot leave) and a transfer on it ends (:meth:`TftpMode.port_failed`)."""
        tftp = self.tftp
        if tftp is None or self.mode is Mode.OFF:
            return
        self._collect()
        self._outgoing = [d for d in self._outgoing if d.src != address]
        tftp.port_failed(address, reason, now)

    def handle_timer(self, now: float) -> None:
        self._button_timers(now)
        if self._work is not None and self._work.until <= now:
            self._work = None
            self.handle(Input.WORK_DONE, now)
        if self._firmware_work_until is not None and self._firmware_work_until <= now:
            self._firmware_work_until = None
            self._set_led(self._mode_led())
        if self._deferred_at is not None and self._deferred_at <= now:
            deferred, self._deferred, self._deferred_at = self._deferred, [], None
            for event, reason in deferred:
                self._guarded(partial(self.handle, event, now, reason), now)
        if self.tftp is not None:
            self._guarded(lambda: self._timer(now), now)

    def _button_timers(self, now: float) -> None:
        """Blinks due by ``now`` and a timed release, in time order."""
        while self.button is not None:
            blink, release = self.button.next_blink(), self._release_at
            if release is not None and release <= now and release < blink:
                self.release(release)
                return
            if blink > now:
                return
            self.button.blink_due(blink)
            self._events.append(ButtonBlink(self.button.blinks))

    def _timer(self, now: float) -> None:
        assert self.tftp is not None
        self.tftp.handle_timer(now)
        self._serve_requests(now)

    def firmware_programmed(self, now: float, operations: int, length: int) -> None:
        """The running firmware wrote an image (admin upload, update server): the ready LED
        shows programming as in TFTP mode, for the time the flash takes (``timing.py``).

        DECISION: the firmware keeps running and answering meanwhile; the image is already
        in the flash (as in TFTP mode, the work is done at once and then shown).
        """
        if self.mode is not Mode.FIRMWARE or self.button is not None:
            return
        until = now + programming_time(operations, length)
        self._firmware_work_until = max(until, self._firmware_work_until or until)
        self._set_led(self._programming_led())

    def accepts(self, dst: tuple[str, int]) -> bool:
        return self.tftp is not None and self.tftp.accepts(dst)

    def _guarded(self, step: Callable[[], None], now: float) -> None:
        """Run ``step``; a power cut in any flash operation switches the device off."""
        try:
            step()
        except PowerLost as exc:
            self._power_lost(exc, now)

    def _power_lost(self, exc: PowerLost, now: float) -> None:
        self._collect()
        self.handle(Input.POWER_LOST, now, f"power cut at flash operation: {exc}")

    def _serve_requests(self, now: float) -> None:
        assert self.tftp is not None
        while self.tftp is not None and self.tftp.requests:
            request = self.tftp.requests.pop(0)
            self._collect()
            if isinstance(request, StartRequested):
                self._defer(Input.GO, "gwload GO", now)
            elif isinstance(request, RestartRequested):
                self._defer(Input.RESET, "gwload RESET", now)
            elif isinstance(request, ImageUploaded):
                # Programming starts at the next timer: the final ACK leaves first.
                self._upload = request
                self.tftp.busy = f"programming {request.region}"
                self._defer(Input.IMAGE_ACCEPTED, f"{request.info.kind.label} uploaded", now)

    def _defer(self, event: Input, reason: str, now: float) -> None:
        """Act on ``event`` at the next timer, once the datagrams queued now are out.

        (gwload's ACK to GO and RESET must leave before the device closes its
        ports; an image's final ACK before the device programs it.)
        """
        self._deferred.append((event, reason))
        if self._deferred_at is None:
            self._deferred_at = now

    def handle(self, event: Input, now: float, reason: str = "") -> None:
        """Look ``(mode, event)`` up in the table and act."""
        transition = TABLE[self.mode, event]
        decided = ACTIONS[transition.action](self, now, reason or event.value)
        target = transition.next if transition.next is not None else decided
        if target is not None:
            self._set_mode(target, reason or event.value)

    # -- actions (named in the table) ----------------------------------------------

    def _ignore(self, now: float, reason: str) -> None:
        return None

    def _hold(self, now: float, reason: str) -> Mode:
        if self.button is None:
            self._firmware_work_until = None
            self.button = HeldButton(self.profile.reset, now)
            self._set_led(Led.COUNTING)
            self._print("reset button pressed")
        return self.mode

    def _power_on(self, now: float, reason: str) -> Mode:
        self.flash.power_on()
        self.by_button = False
        self._after_long_reset = False
        return self._boot(now, press=None, reason=reason)

    def _power_off(self, now: float, reason: str) -> None:
        self._deferred, self._deferred_at = [], None
        self._leave_tftp_mode()
        self.button = None
        self._release_at = None
        self._work = None
        self._firmware_work_until = None
        self.running_boot = None
        self._set_led(Led.OFF)
        self._events.append(PoweredOff(reason))

    def _button_restart(self, now: float, reason: str) -> Mode:
        self.by_button = True
        return self._restart(now, reason)

    def _firmware_restart(self, now: float, reason: str) -> Mode:
        self.by_button = False
        return self._restart(now, reason)

    def _restart(self, now: float, reason: str) -> Mode:
        # A gwload RESET keeps by_button: TFTP mode entered by the button counts as its restart.
        self._leave_tftp_mode()
        self._firmware_work_until = None
        self._after_long_reset = False
        self._print(f"restart ({reason})")
        return self._boot(now, press=Press.SHORT, reason=reason)

    def _enter_tftp_mode(self, now: float, reason: str) -> Mode:
        self.by_button = True
        self._leave_tftp_mode()
        self._print(f"restart ({reason}): TFTP mode, config kept")
        return self._boot(now, press=Press.MEDIUM, reason=reason)

    def _clear_config(self, now: float, reason: str) -> Mode:
        self.by_button = True
        self._leave_tftp_mode()
        self._print(f"restart ({reason}): long reset, clearing the config")
        if not self._check_boot_code():
            return Mode.DEAD
        self._set_led(Led.GREEN_FLASHING_FAST)
        before = self.flash.faults.count
        try:
            ConfigRing(self._partitions["config"]).clear()
            VarStore(self._partitions["vars"]).clear()
            # Through FlashMan: the spill of a firmware image in flashdir is not erased.
            FlashMan(self._partitions).flashdir().reset()
        except PowerLost as exc:
            self._power_off(now, f"power cut at flash operation: {exc}")
            return Mode.OFF
        ops = self.flash.faults.count - before
        self._events.append(FlashChanged("config cleared"))
        self._work = _Work("clearing", now + clearing_time(ops))
        self._after_long_reset = True
        return Mode.CLEARING

    def _cleared(self, now: float, reason: str) -> None:
        self._print("config, vars and flash directory cleared")
        self._boot(now, press=Press.MEDIUM, checked=True, reason="long reset done")

    def _start_firmware(self, now: float, reason: str) -> None:
        self._leave_tftp_mode()
        self._run_firmware()

    def _program(self, now: float, reason: str) -> Mode:
        upload = self._upload
        assert self.tftp is not None
        assert upload is not None
        # The image is in the flash once this returns (or refused): the device keeps no
        # second copy of it (4 MiB an upload, in a runtime of a thousand devices).
        self._upload = None
        self._set_led(self._programming_led())
        self._print(f"programming {upload.info.kind.label} into {upload.region}")
        before = self.flash.faults.count
        region = self._partitions[upload.region]
        if upload.region == "boot":  # PowerLost goes up from all three
            slot = store_boot(region, upload.data, self.profile.model)
            self._print(f"boot code written to slot {slot}, the other slot erased")
        elif upload.region == "prot":
            try:  # TFTP mode checked it just now; the store checks again before any erase
                FlashMan(self._partitions).store_firmware(
                    upload.data,
                    boot_build=None if self.running_boot is None else self.running_boot.build,
                )
            except (ImageError, NoSpace) as exc:
                self._print(f"programming refused, nothing written: {exc}")
        else:
            store_image(region, upload.data)
        ops = self.flash.faults.count - before
        self._events.append(FlashChanged(upload.region))
        self.tftp.busy = f"programming {upload.region}"
        self._work = _Work("programming", now + programming_time(ops, len(upload.data)))
        return Mode.PROGRAMMING

    def _programmed(self, now: float, reason: str) -> None:
        assert self.tftp is not None
        self._print("programming done")
        self.tftp.busy = None
        self._check_firmware()
        self.tftp.firmware = self.firmware
        self.tftp.state = self._tftp_state()
        self._set_led(self._mode_led(Mode.TFTP_MODE))

    # -- the decisions -------------------------------------------------------------

    def _check_boot_code(self) -> bool:
        _slot, main = running_slot(self._partitions["boot"], self.profile.model)
        if main.valid and main.info is not None:
            self.running_boot = RunningBoot(main.info.boot_build)
        elif "altboot" in self._partitions:
            rescue = check_slot(
                self._partitions["altboot"],
                model=self.profile.model,
                kinds=(ImageKind.BOOT, ImageKind.RESCUE_BOOT),
            )
            if not rescue.valid or rescue.info is None:
                self._dead(f"main boot code: {main.problem}; rescue copy: {rescue.problem}")
                return False
            self.running_boot = RunningBoot(rescue.info.boot_build, rescue=True)
            self._print(f"main boot code damaged ({main.problem}): starting the rescue copy")
        else:
            self._dead(f"boot code: {main.problem}; the {self.profile.model} has no rescue copy")
            return False
        copy = " (rescue copy)" if self.running_boot.rescue else ""
        self._print(f"innovaphone {self.profile.model} boot code {self.running_boot.build}{copy}")
        return True

    def _dead(self, why: str) -> None:
        self.running_boot = None
        self._set_led(Led.OFF)
        self._print(f"no valid boot code: {why}")

    def _check_firmware(self) -> None:
        # The image is read through the firmware pool's window (prot, then flashdir).
        self.firmware = FlashMan(self._partitions).firmware_status()
        info = self.firmware.info
        running = self.running_boot
        if (
            self.firmware.valid
            and info is not None
            and running is not None
            and info.min_boot_build > running.build
        ):
            self.firmware = SlotStatus(
                info,
                f"firmware {info.build} needs boot code {info.min_boot_build}, "
                f"this is {running.build}",
            )

    def _boot(self, now: float, press: Press | None, *, reason: str, checked: bool = False) -> Mode:
        """After power-on or a restart: check boot code and firmware, then decide."""
        if not checked and not self._check_boot_code():
            self._set_mode(Mode.DEAD, "no valid boot code")
            return Mode.DEAD
        self._check_firmware()
        info = self.firmware.info
        if self.firmware.valid and info is not None:
            self._print(f"firmware check: {info.build} ok")
        else:
            self._print(f"firmware check: defective ({self.firmware.problem})")
        if press is Press.MEDIUM or not self.firmware.valid:
            if not self.firmware.valid:
                reason = f"firmware defective: {self.firmware.problem}"
            self._enter_tftp(now, reason)
            return Mode.TFTP_MODE
        self._run_firmware()
        return Mode.FIRMWARE

    def _run_firmware(self) -> None:
        info = self.firmware.info
        assert info is not None
        self._print(f"starting firmware {info.build}")
        self._set_led(Led.GREEN)
        self._set_mode(Mode.FIRMWARE, "firmware started")
        cause = StartCause.RESET_BUTTON if self.by_button else StartCause.POWER_UP
        self._events.append(FirmwareStarted(info.build, cause))

    def _tftp_state(self) -> gwload.DeviceState:
        if not self.firmware.valid:
            return gwload.DeviceState.DEFECTIVE_FIRMWARE
        if self._after_long_reset:
            return gwload.DeviceState.AFTER_LONG_RESET
        return gwload.DeviceState.TFTP_MODE

    def _enter_tftp(self, now: float, reason: str) -> None:
        assert self.running_boot is not None
        self.tftp = TftpMode(
            self.profile,
            mac=self.mac,
            port=self.port,
            rng=self.rng,
            boot=self.running_boot,
            partitions=self._partitions,
            firmware=self.firmware,
            state=self._tftp_state(),
            address_policy=self.address_policy,
            port_policy=self.port_policy,
            timers=self.timers,
        )
        self.tftp.start()
        self._collect()
        self._print("TFTP mode: no IP address, waiting for gwload")
        self._print(self._listening_line())
        self._set_led(self._mode_led(Mode.TFTP_MODE))
        self._set_mode(Mode.TFTP_MODE, reason)

    def _listening_line(self) -> str:
        mac = ":".join(f"{byte:02x}" for byte in self.mac)
        return f"TFTP mode: MAC {mac}, gwload and TFTP on UDP port {self.port}"

    def _address_line(self) -> str:
        tftp = self.tftp
        if tftp is None or tftp.ip is None:
            return "TFTP mode: no IP address, waiting for gwload"
        return f"TFTP mode: address {tftp.ip} mask {tftp.gwload.mask}, set by gwload"

    def _state_lines(self) -> list[str]:
        """What the boot code prints when a line is typed at it (DECISION, boot/README.md)."""
        if self._work is not None:
            return [f"{self._work.what} the flash, please wait"]
        if self.mode is not Mode.TFTP_MODE or self.running_boot is None:
            return []
        copy = " (rescue copy)" if self.running_boot.rescue else ""
        info = self.firmware.info
        if self.firmware.valid and info is not None:
            check = f"firmware check: {info.build} ok"
        else:
            check = f"firmware check: defective ({self.firmware.problem})"
        return [
            f"innovaphone {self.profile.model} boot code {self.running_boot.build}{copy}",
            check,
            self._address_line(),
            self._listening_line(),
        ]

    def typed(self, data: bytes, now: float) -> None:
        """What was typed on the console while no firmware runs: the boot code has no
        command line; a line end (CR, LF or CRLF; several in one chunk count once) makes
        it print its state, anything else is ignored."""
        after_cr, self._typed_cr = self._typed_cr, data.endswith(b"\r")
        stripped = data[1:] if after_cr and data.startswith(b"\n") else data
        if b"\r" in stripped or b"\n" in stripped:
            for line in self._state_lines():
                self._print(line)

    def _leave_tftp_mode(self) -> None:
        if self.tftp is not None:
            self.tftp.stop()
            self._collect()
            self.tftp = None

    def _mode_led(self, mode: Mode | None = None) -> Led:
        """The LED a mode shows (the LED table of Course10:Basic - Initial startup and recovery)."""
        mode = self.mode if mode is None else mode
        if mode is Mode.FIRMWARE:
            return Led.GREEN
        if mode is Mode.TFTP_MODE:
            if not self.firmware.valid:
                return Led.RED_FLASHING
            return Led.ORANGE if self.profile.leds.has_orange else Led.BLINK_EVERY_2S
        if mode is Mode.PROGRAMMING:
            return self._programming_led()
        if mode is Mode.CLEARING:
            return Led.GREEN_FLASHING_FAST
        return Led.OFF

    def _programming_led(self) -> Led:
        """Programming an image (Course10: flashing orange; Course11: flashing green)."""
        return Led.ORANGE_FLASHING if self.profile.leds.has_orange else Led.GREEN_FLASHING


#: The method of :class:`BootCode` behind each :class:`~ipgwsim.boot.table.Action` of the
#: table (made once; ``tests/boot/test_table.py`` checks that every action has one).
ACTIONS: dict[Action, Callable[[BootCode, float, str], Mode | None]] = {
    Action.BUTTON_RESTART: BootCode._button_restart,
    Action.CLEAR_CONFIG: BootCode._clear_config,
    Action.CLEARED: BootCode._cleared,
    Action.ENTER_TFTP_MODE: BootCode._enter_tftp_mode,
    Action.FIRMWARE_RESTART: BootCode._firmware_restart,
    Action.HOLD: BootCode._hold,
    Action.IGNORE: BootCode._ignore,
    Action.POWER_OFF: BootCode._power_off,
    Action.POWER_ON: BootCode._power_on,
    Action.PROGRAM: BootCode._program,
    Action.PROGRAMMED: BootCode._programmed,
    Action.RESTART: BootCode._restart,
    Action.START_FIRMWARE: BootCode._start_firmware,
}

"""One simulated gateway: its flash, its boot code, and the firmware it hands over to.

:class:`Device` is sans-I/O, with the shape the runtime and the test network
drive (``accepts``, ``receive_datagram``, ``datagrams_to_send``, ``get_timer``,
``handle_timer``, ``next_event``) plus the things a person does to a device:
power on and off, press and release the reset button, and (for tests of power
loss) cut the power at a chosen flash operation.

:func:`factory_flash` makes a flash as the factory ships it: the profile's boot
code (and its rescue copy), a valid firmware image and the default config.
:func:`load_starting_config` puts a saved configuration (a ``cfg.txt`` saved from the
admin UI, or a config ring dump read by TFTP) onto such a flash before its first start.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ipgwsim.boot import AddressPolicy, BootCode, PortPolicy
from ipgwsim.boot.table import Input
from ipgwsim.boot.tftpmode import FastReplies
from ipgwsim.events import (
    Event,
    FirmwareStarted,
    ImageProgrammed,
    Led,
    Mode,
    ModeChanged,
    PortClosed,
    PoweredOff,
    ResetRequested,
)
from ipgwsim.firmware import ConsoleSession, Firmware
from ipgwsim.firmware.commands import CommandError
from ipgwsim.firmware.config import defaults
from ipgwsim.firmware.fullconfig import load_full
from ipgwsim.firmware.logins import PasswordCheck
from ipgwsim.flash.bootslots import store_boot
from ipgwsim.flash.dumptext import read_dump
from ipgwsim.flash.errors import PowerLost
from ipgwsim.flash.faults import CutMode, CutRecord, PowerCut
from ipgwsim.flash.image import ImageKind, build_image, store_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.http import FetchResult, HttpRequest, HttpResponse
from ipgwsim.proto.net import Address, Datagram, NetworkCapabilities
from ipgwsim.proto.tftp import TimerPolicy

T = TypeVar("T")

#: innovaphone's MAC prefix (every serial number starts with it).
MAC_PREFIX = bytes.fromhex("009033")
#: Size of the payload of the factory firmware image (its content is a placeholder).
FACTORY_FIRMWARE_PAYLOAD = 256 * 1024


@dataclass(frozen=True)
class Instance:
    """What makes one device itself: its name and its serial number (= ETH0 MAC)."""

    name: str
    #: 12 lower-case hex digits, ``009033`` first, as on the label.
    serial: str

    def __post_init__(self) -> None:
        if len(self.serial) != 12 or not all(c in "0123456789abcdef" for c in self.serial):
            raise ValueError(f"serial {self.serial!r} is not 12 lower-case hex digits")

    @property
    def mac(self) -> bytes:
        return bytes.fromhex(self.serial)

    @property
    def mac_text(self) -> str:
        return ":".join(self.serial[i : i + 2] for i in range(0, 12, 2))

    @classmethod
    def numbered(cls, name: str, number: int) -> Instance:
        """Device ``number`` of a run: serial ``009033`` + a number from 0x100000 on."""
        if not 0 <= number < 0xEFFFFF:
            raise ValueError(f"device number {number} is out of range")
        return cls(name, (MAC_PREFIX + (0x100000 + number).to_bytes(3, "big")).hex())


def default_config(profile: Profile) -> str:
    """The factory config text: the firmware's defaults (``ETH0 /dhcp auto`` and so on)."""
    return defaults(profile).render()


def factory_payload(profile: Profile) -> bytes:
    """The placeholder payload of the factory firmware image (same for every device)."""
    return random.Random(profile.model).randbytes(FACTORY_FIRMWARE_PAYLOAD)


def factory_flash(profile: Profile, *, firmware: bool = True) -> NorFlash:
    """A flash as the factory ships it; ``firmware=False`` leaves the firmware region empty."""
    flash = NorFlash(profile.flash)
    table = PartitionTable(flash, profile)
    boot = build_image(
        ImageKind.BOOT,
        profile.model,
        str(profile.boot.build),
        random.Random(f"{profile.model} boot").randbytes(4096),
        boot_build=profile.boot.build,
    )
    store_boot(table["boot"], boot, profile.model)
    if "altboot" in table:
        store_image(table["altboot"], boot)
    if firmware:
        image = build_image(
            ImageKind.FIRMWARE, profile.model, profile.firmware.build, factory_payload(profile)
        )
        store_image(table["prot"], image)
    ConfigRing(table["config"]).write(default_config(profile))
    flash.faults.reset_count()
    return flash


class StartingConfigError(ValueError):
    """A starting configuration cannot be loaded; the text says which line and why."""


def starting_config_text(data: bytes) -> tuple[str, str]:
    """``(kind, text)`` of a saved configuration: a ring dump gives its newest generation.

    ``kind`` is ``"ring dump, generation N of M"`` or ``"full config"``. A ring dump
    (what a TFTP GET of ``config`` returns) holds several generations of config text,
    found as ``flash/dumptext.py`` says; a ``cfg.txt`` saved from the admin UI (or by
    ``mod cmd UP0 scfg``) holds one.
    """
    reading = read_dump(data)
    found = reading.newest
    if len(reading.generations) > 1 and found is not None:
        count = len(reading.generations)
        return f"ring dump, generation {found.position} of {count}", found.text
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StartingConfigError(
            f"neither a config ring dump nor a UTF-8 text (byte {exc.start} is not UTF-8)"
        ) from None
    if not text.strip():
        raise StartingConfigError("the file is empty: no configuration to start from")
    return "full config", text


def load_starting_config(
    flash: NorFlash, profile: Profile, instance: Instance, data: bytes, *, rng: random.Random
) -> str:
    """Load a saved configuration onto a device's flash as its firmware would; what was done.

    ``data`` is a ``cfg.txt`` (config lines, ``vars create`` and ``mod cmd FLASHDIR0
    add-item`` lines) or a config ring dump (its newest generation is taken). It is loaded
    as an upload to ``/upload/config`` loads it: every line is checked first, then vars and
    items are stored and the config is written as the newest generation. A line the
    firmware would refuse raises :class:`StartingConfigError` and the flash keeps what it
    had.
    """
    kind, text = starting_config_text(data)
    firmware = Firmware(
        profile,
        profile.firmware.build,
        partitions=PartitionTable(flash, profile),
        rng=rng,
        serial=instance.serial,
    )
    try:
        load_full(firmware, text)
    except CommandError as exc:
        raise StartingConfigError(str(exc)) from None
    return kind


@dataclass(frozen=True)
class DeviceStatus:
    """What ``ipgwsim status`` shows of one device."""

    name: str
    model: str
    mac: str
    mode: Mode
    led: Led
    ip: str | None
    boot_build: int | None
    firmware_build: str | None


class Device:
    """One simulated gateway (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        flash: NorFlash,
        instance: Instance,
        *,
        port: int = 69,
        rng: random.Random | None = None,
        rng_seed: int | str | None = None,
        address_policy: AddressPolicy | None = None,
        port_policy: PortPolicy | None = None,
        timers: TimerPolicy | None = None,
        network: NetworkCapabilities | None = None,
    ) -> None:
        self.profile = profile
        #: What the device's network offers its firmware: DHCP, NetBIOS, where a firmware
        #: address is served (loopback: 192.168.0.1 → 127.168.0.1).
        self.network = network if network is not None else NetworkCapabilities()
        self.flash = flash
        self.instance = instance
        self.boot = BootCode(
            profile,
            flash,
            mac=instance.mac,
            port=port,
            # Without ``rng``, the boot code makes ``random.Random(rng_seed)`` on first use.
            rng=rng,
            rng_seed=rng_seed if rng_seed is not None else instance.serial,
            address_policy=address_policy,
            port_policy=port_policy,
            timers=timers,
        )
        self.firmware: Firmware | None = None
        #: Device time of the last input (events are drained after inputs, without a time).
        self.now = 0.0
        #: Ids of the firmware's fetches, unique across its starts.
        self._fetch_ids = itertools.count(1)
        #: Events the device adds itself (the stopped firmware's port closes).
        self._queued: list[Event] = []
        #: Seconds since the Unix epoch at device time 0 (the device's clock), or None
        #: while the device has no time of day (``UP1 times`` then stops every script).
        self.wall_clock: float | None = None
        #: The last power cut that switched the device off (``flash.faults.last_cut``)
        #: and the device time of it.
        self._cut_seen: tuple[CutRecord, float] | None = None

    def _at(self, now: float) -> None:
        self.now = max(self.now, now)

    # -- what a person does --------------------------------------------------------

    def power_on(self, now: float) -> None:
        self._at(now)
        self.boot.power_on(now)

    def power_off(self, now: float) -> None:
        self._at(now)
        self.boot.power_off(now)

    def press(self, now: float, hold: float | None = None) -> None:
        """Press the reset button; with ``hold``, the device lets it go ``hold`` s later."""
        self._at(now)
        self.boot.press(now, hold)

    def release(self, now: float) -> None:
        self._at(now)
        self.boot.release(now)

    def cut_power_at(self, operations: int, mode: CutMode = CutMode.TORN) -> int:
        """Cut the power during the ``operations``-th flash operation from now on.

        Returns the absolute operation number; the fault injector's log tells
        what it hit.
        """
        if operations < 1:
            raise ValueError("the cut must be at least one flash operation ahead")
        at = self.flash.faults.count + operations
        self.flash.faults.cut = PowerCut(at, mode)
        return at

    @property
    def last_cut_time(self) -> float | None:
        """The device time at which the flash's last power cut (``flash.faults.last_cut``)
        switched the device off; None when no cut hit, or it hit outside this device."""
        cut = self.flash.faults.last_cut
        seen = self._cut_seen
        if cut is None or seen is None or seen[0] is not cut:
            return None
        return seen[1]

    def _note_power_off(self) -> None:
        """The device went off: if a power cut newer than the one noted did it, note when."""
        cut = self.flash.faults.last_cut
        if cut is not None and (self._cut_seen is None or self._cut_seen[0] is not cut):
            self._cut_seen = (cut, self.now)

    # -- status --------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self.boot.mode

    @property
    def led(self) -> Led:
        return self.boot.led

    @property
    def ip(self) -> str | None:
        """The address: SETIP's in TFTP mode, ETH0's while the firmware runs."""
        if self.firmware is not None and self.firmware.address is not None:
            return self.firmware.address[0]
        tftp = self.boot.tftp
        return str(tftp.ip) if tftp is not None and tftp.ip is not None else None

    def status(self) -> DeviceStatus:
        running = self.boot.running_boot
        firmware = self.boot.firmware.info if self.boot.firmware.valid else None
        return DeviceStatus(
            name=self.instance.name,
            model=self.profile.model,
            mac=self.instance.mac_text,
            mode=self.mode,
            led=self.led,
            ip=self.ip,
            boot_build=running.build if running is not None else None,
            firmware_build=firmware.build if firmware is not None else None,
        )

    # -- the network and the clock ---------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        if self.firmware is not None:
            return self.firmware.accepts(dst)
        return self.boot.accepts(dst)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self._at(now)
        if self.firmware is not None:
            self.firmware.receive_datagram(datagram, now)
        else:
            self.boot.receive_datagram(datagram, now)

    def receive_fast(
        self, data: bytes, src: Address, dst: Address, now: float
    ) -> FastReplies | None:
        """:meth:`receive_datagram` of ``Datagram(data, src, dst)``; for a DATA or ACK in
        the middle of a TFTP transfer, the datagrams it leads to, all from ``dst``, as
        ``(payload, destination)``, when that is all it leads to (nothing is queued then:
        the caller sends them as they are). None: it was taken the ordinary way, and
        what it led to is queued as after :meth:`receive_datagram`."""
        self._at(now)
        if self.firmware is not None or self._queued:
            self.receive_datagram(Datagram(data, src, dst), now)
            return None
        return self.boot.receive_fast(data, src, dst, now)

    def port_failed(self, address: Address, reason: str, now: float) -> None:
        """The network could not open ``address`` after a ``PortOpened`` (it is in use on
        the host). TFTP mode ends a transfer on that port at once (an ERROR to the client
        from the port its request came to); a firmware's port stays closed as it is."""
        self._at(now)
        self.boot.port_failed(address, reason, now)

    def datagrams_to_send(self) -> list[Datagram]:
        out = self.boot.datagrams_to_send()
        if self.firmware is not None:
            out.extend(self.firmware.datagrams_to_send())
        return out

    def get_timer(self) -> float | None:
        deadlines = [self.boot.get_timer()]
        if self.firmware is not None:
            deadlines.append(self.firmware.get_timer())
        pending = [d for d in deadlines if d is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        self._at(now)
        self.boot.handle_timer(now)
        firmware = self.firmware
        if firmware is not None:
            self._guarded(lambda: firmware.handle_timer(now))

    # -- the firmware's web server and fetches ----------------------------------------

    def http(self, request: HttpRequest, now: float) -> HttpResponse:
        """A request to the device's web server (only the running firmware has one)."""
        self._at(now)
        firmware = self.firmware
        if firmware is None:
            return HttpResponse.text(503, f"{self.profile.model} is in {self.mode.value}\r\n")
        response = self._guarded(lambda: firmware.http(request, now))
        if response is None:
            return HttpResponse.text(503, "the device lost power\r\n")
        return response

    def console_input(self, session: ConsoleSession, data: bytes, now: float) -> bytes | None:
        """What the firmware's console ``session`` answers to ``data`` typed at it; None
        when a power cut in a command it ran switched the device off."""
        self._at(now)
        return self._guarded(lambda: session.feed(data, now))

    def boot_console_input(self, data: bytes, now: float) -> None:
        """``data`` typed on the console while no firmware runs: to the boot code, which
        prints its state at a line end in TFTP mode (:meth:`BootCode.typed`)."""
        self._at(now)
        if self.firmware is None:
            self.boot.typed(data, now)

    def http_refusal(self, request: HttpRequest, now: float) -> HttpResponse | PasswordCheck | None:
        """A request refused whatever its body (asked before the body is read), None, or
        the password check to make first (then :meth:`http_checked` with its result)."""
        self._at(now)
        if self.firmware is None:
            return HttpResponse.text(503, f"{self.profile.model} is in {self.mode.value}\r\n")
        return self.firmware.http_refusal(request, now)

    def http_checked(
        self, request: HttpRequest, check: PasswordCheck, ok: bool, now: float
    ) -> HttpResponse | None:
        """The result of the check :meth:`http_refusal` asked for: a refusal, or None."""
        self._at(now)
        if self.firmware is None:
            return HttpResponse.text(503, f"{self.profile.model} is in {self.mode.value}\r\n")
        return self.firmware.http_checked(request, check, ok, now)

    def fetch_done(self, result: FetchResult, now: float) -> None:
        """The answer to a ``FetchRequested`` (dropped if that firmware is gone)."""
        self._at(now)
        firmware = self.firmware
        if firmware is not None:
            self._guarded(lambda: firmware.fetch_done(result, now))

    def _drop_firmware(self) -> None:
        """The firmware stops: the ports its services had are closed (events queued)."""
        firmware, self.firmware = self.firmware, None
        if firmware is not None:
            self._queued.extend(PortClosed(a) for a in sorted(firmware.open_ports))

    def _guarded(self, step: Callable[[], T]) -> T | None:
        """``step()`` of the firmware, or of what runs it: the one place where a power cut
        in a flash operation it makes (``PowerLost``) is caught. The firmware stops and
        the device switches off; the result is None then."""
        try:
            return step()
        except PowerLost as exc:
            self._drop_firmware()
            self.boot.power_off(self.now, f"power cut at flash operation: {exc}")
            return None

    def _start_firmware(self, event: FirmwareStarted) -> None:
        # The firmware's start may write the flash (the /user move); a power cut there
        # switches the device off like one in the boot code. A firmware that ran before
        # (a restart straight back into the firmware) gives its ports up first.
        self._drop_firmware()

        def start() -> Firmware:
            return Firmware(
                self.profile,
                event.build,
                partitions=self.boot.partitions,
                # Drawn at the start, as always; the generator is made on first use.
                rng_seed=self.boot.firmware_seed(),
                now=self.now,
                serial=self.instance.serial,
                cause=event.cause,
                wall_clock=self.wall_clock,
                boot_build=running.build if (running := self.boot.running_boot) else None,
                fetch_ids=self._fetch_ids,
                network=self.network,
            )

        self.firmware = self._guarded(start)

    def next_event(self) -> Event | None:
        if self._queued:
            return self._queued.pop(0)
        event = self.boot.next_event()
        if event is None:
            if self.firmware is None:
                return None
            event = self.firmware.next_event()
            if isinstance(event, ImageProgrammed):
                self.boot.firmware_programmed(self.now, event.operations, event.length)
            elif isinstance(event, ResetRequested):
                # The old firmware's pending events go with it; the boot code restarts.
                self._drop_firmware()
                self.boot.handle(Input.FIRMWARE_RESET, self.now, event.reason)
            return event
        if isinstance(event, PoweredOff):
            self._note_power_off()
        if isinstance(event, FirmwareStarted):
            self._start_firmware(event)
        elif isinstance(event, ModeChanged | PoweredOff) and self.boot.mode is not Mode.FIRMWARE:
            self._drop_firmware()
        return event

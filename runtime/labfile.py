"""Lab files: a lab of simulated gateways described in TOML, checked completely before it runs.

::

    schema = 1

    [runtime]                   # every key optional
    port = 6969                 # gwload/TFTP UDP port (default 69)
    speed = 10                  # device time runs 10x faster
    state = "lab-state"         # state directory, relative to this file
    http_port = 8080            # the devices' web servers
    console_port = 7000         # consoles on TCP too, from here on (raw 7000, RFC 2217 7001, ...)
    serial_block = 4            # MACs 00:90:33:10:04:01 on (one block per host or pod)

    [[device]]
    model = "IP811"
    count = 3                   # ip811-1 .. ip811-3

    [[device]]
    model = "IP6000"
    name = "office"
    config = "saved/office-cfg.txt"   # a cfg.txt or a config ring dump

``docs/lab-file.md`` lists every key. :func:`load_lab` reads a file, :func:`parse_lab` a
text; both refuse anything wrong with a :class:`LabError` naming the file, the dotted key
and the reason (``lab.toml: device.2.mac: 00:90:33:10:00:01 is also device.1's MAC``).
Paths in the file are relative to the file's folder. :func:`check_lab` also loads each
starting config onto a factory flash of its model, as the runtime will, so that a config
the firmware would refuse is found before anything starts.
"""

from __future__ import annotations

import dataclasses
import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ipgwsim.device import Instance, StartingConfigError, factory_flash, load_starting_config
from ipgwsim.hw_profiles import Profile, ProfileError, find_profile
from ipgwsim.hw_profiles.reader import TableReader, TomlError, read_toml_text
from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.devicespec import DeviceSpec, check_mac, check_name, format_mac
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.impair import Impairment, ImpairmentError
from ipgwsim.runtime.ports import parse_ui
from ipgwsim.runtime.registry import BLOCK_COUNT, BLOCK_SIZE, block_macs, serial_base

__all__ = ["Lab", "LabError", "check_lab", "load_lab", "parse_lab"]

T = TypeVar("T")

#: The network modes a lab may ask for.
NETWORKS = ("loopback", "netns")


class LabError(TomlError):
    """A lab file is not acceptable; the message says where and why."""


class _Reader(TableReader):
    error = LabError


@dataclass(frozen=True)
class Lab:
    """A checked lab file: the runtime's settings and the devices to start, in order."""

    source: str
    devices: tuple[DeviceSpec, ...]
    port: int | None = None
    speed: float | None = None
    network: str = "loopback"
    state: Path | None = None
    http_port: int | None = None
    console_port: int | None = None
    console_tcp: bool = False
    #: Whether each console has a pty (``console_pty = false``: TCP and the API only).
    console_pty: bool = True
    share_port: bool = False
    attachment: Attachment | None = None
    impairment: Impairment | None = None
    pcap: Path | None = None
    profiles_dir: Path | None = None
    #: Where the front panel is served (``ui = "[HOST:]PORT"``), or None.
    ui: tuple[str, int] | None = None
    #: Worker processes the devices are spread over (``ipgwsim run --workers``), or None.
    workers: int | None = None
    #: The block of serial numbers the devices without a ``mac`` of their own take.
    serial_block: int | None = None
    #: The model of each spec, as the profiles name it (for messages and ``lab check``).
    models: tuple[str, ...] = field(default=())

    @property
    def device_count(self) -> int:
        return sum(spec.count for spec in self.devices)


def _port(reader: _Reader, name: str, *, span: int = 1) -> int | None:
    value = reader.optional(name, int)
    if value is not None and not 0 < value <= 65536 - span:
        raise reader.fail(name, f"must be a port from 1 to {65536 - span}, not {value}")
    return value


def _path(reader: _Reader, name: str, base: Path) -> Path | None:
    value = reader.optional(name, str)
    if value is None:
        return None
    if not value:
        raise reader.fail(name, "must not be empty")
    return (base / Path(value).expanduser()).absolute()


def _parsed(
    reader: _Reader, name: str, parse: Callable[[str], T], refusal: type[Exception]
) -> T | None:
    """The text form of ``name`` parsed; what ``parse`` refuses is named under the key."""
    value = reader.optional(name, str)
    if value is None:
        return None
    try:
        return parse(value)
    except refusal as exc:
        raise reader.fail(name, str(exc)) from None


def _attachment(reader: _Reader, name: str) -> Attachment | None:
    return _parsed(reader, name, Attachment.parse, RuntimeSetupError)


def _mac(reader: _Reader, name: str, count: int) -> str | None:
    return _parsed(reader, name, lambda text: check_mac(text, count), RuntimeSetupError)


def _impairment(reader: _Reader, name: str) -> Impairment | None:
    return _parsed(reader, name, Impairment.parse, ImpairmentError)


def _runtime(top: _Reader, base: Path) -> dict[str, Any]:
    if not top.has("runtime"):
        return {}
    r = top.sub("runtime")
    settings: dict[str, Any] = {
        "port": _port(r, "port"),
        "http_port": _port(r, "http_port"),
        "console_port": _port(r, "console_port", span=2),
        "state": _path(r, "state", base),
        "profiles_dir": _path(r, "profiles_dir", base),
        "attachment": _attachment(r, "attach"),
        "console_tcp": r.get("console_tcp", bool) if r.has("console_tcp") else None,
        "share_port": r.get("share_port", bool) if r.has("share_port") else False,
        "console_pty": r.get("console_pty", bool) if r.has("console_pty") else True,
        "impairment": _impairment(r, "impair"),
        "pcap": _path(r, "pcap", base),
        "ui": _parsed(r, "ui", parse_ui, RuntimeSetupError),
    }
    speed = r.optional("speed", float)
    if speed is not None and not speed > 0:
        raise r.fail("speed", f"must be a positive number, not {speed}")
    settings["speed"] = speed
    workers = r.optional("workers", int)
    if workers is not None and workers < 1:
        raise r.fail("workers", f"must be 1 or more, not {workers}")
    settings["workers"] = workers
    block = r.optional("serial_block", int)
    if block is not None and not 0 <= block < BLOCK_COUNT:
        raise r.fail("serial_block", f"must be a block from 0 to {BLOCK_COUNT - 1}, not {block}")
    settings["serial_block"] = block
    network = r.optional("network", str)
    if network is not None and network not in NETWORKS:
        raise r.fail("network", f"must be 'loopback' or 'netns', not {network!r}")
    settings["network"] = network or "loopback"
    if settings["attachment"] is not None and settings["network"] != "netns":
        raise r.fail("attach", "needs network = 'netns'")
    if settings["share_port"] and settings["network"] != "loopback":
        raise r.fail("share_port", "is for the loopback network")
    r.finish()
    return settings


def _profile(reader: _Reader, profiles_dir: Path | None) -> Profile:
    model = reader.get("model", str)
    try:
        return find_profile(model, profiles_dir)
    except KeyError as exc:
        raise reader.fail("model", str(exc.args[0])) from None
    except ProfileError as exc:
        raise reader.fail("model", f"the profiles cannot be loaded: {exc}") from None


def _device(
    top: _Reader, index: int, entry: object, base: Path, settings: dict[str, Any]
) -> tuple[DeviceSpec, Profile]:
    key = f"device.{index}"
    if not isinstance(entry, dict):
        raise top.fail(key, "must be a table ([[device]])")
    d = _Reader(top.source, key, entry)
    profile = _profile(d, settings.get("profiles_dir"))
    count = d.positive("count") if d.has("count") else 1
    name = d.optional("name", str)
    if name is not None:
        longest = name if count == 1 else f"{name}-{count}"
        problem = check_name(longest)
        if problem is not None:
            raise d.fail("name", problem)
    attachment = _attachment(d, "attach")
    if attachment is not None and settings.get("network") != "netns":
        raise d.fail("attach", "needs network = 'netns' in [runtime]")
    spec = DeviceSpec(
        profile.model,
        count,
        name=name,
        mac=_mac(d, "mac", count),
        config=_path(d, "config", base),
        empty_firmware=d.get("empty_firmware", bool) if d.has("empty_firmware") else False,
        http_port=_port(d, "http_port"),
        console_port=_port(d, "console_port", span=2 * count),
        attachment=attachment,
        impairment=_impairment(d, "impair"),
        pcap=_path(d, "pcap", base),
    )
    d.finish()
    return spec, profile


def _from_block(top: _Reader, block: int, specs: list[DeviceSpec]) -> list[DeviceSpec]:
    """Every device without a ``mac`` of its own gets the next MAC of ``block``, in the
    order of the file (the block's first is device number ``256 * block + 1``)."""
    number = block * BLOCK_SIZE + 1
    wanted = sum(spec.count for spec in specs if spec.mac is None)
    if wanted > BLOCK_SIZE - 1:
        raise top.fail(
            "runtime.serial_block",
            f"block {block} ({block_macs(block)}) has {BLOCK_SIZE - 1} MACs, but {wanted} "
            "devices of the file have no mac of their own",
        )
    given = []
    for spec in specs:
        if spec.mac is not None:
            given.append(spec)
            continue
        given.append(dataclasses.replace(spec, mac=f"{serial_base() + number:012x}"))
        number += spec.count
    return given


def _check_unique(
    top: _Reader, specs: list[DeviceSpec], mac_origin: dict[int, str] | None = None
) -> None:
    """Names, MACs and console ports that two devices of the file would share
    (``mac_origin``: what to say after a device whose MAC the file did not give)."""
    names: dict[str, int] = {}
    macs: dict[str, int] = {}
    ports: dict[int, int] = {}
    for index, spec in enumerate(specs):
        for name in spec.names() or []:
            if name in names:
                raise top.fail(
                    f"device.{index}.name", f"{name} is also a device of device.{names[name]}"
                )
            names[name] = index
        for mac in spec.macs() or []:
            if mac in macs:
                raise top.fail(
                    f"device.{index}.mac",
                    f"{format_mac(mac)} is also a MAC of device.{macs[mac]}"
                    f"{(mac_origin or {}).get(macs[mac], '')}",
                )
            macs[mac] = index
        if spec.console_port is not None:
            for port in range(spec.console_port, spec.console_port + 2 * spec.count):
                if port in ports:
                    raise top.fail(
                        f"device.{index}.console_port",
                        f"port {port} is also a console port of device.{ports[port]}",
                    )
                ports[port] = index


def _console_tcp(top: _Reader, settings: dict[str, Any], specs: list[DeviceSpec]) -> bool:
    """Consoles on TCP: as ``console_tcp`` says, else when the file gives a console port
    (off by default: every local user can connect to them)."""
    given: bool | None = settings.get("console_tcp")
    keys = ["runtime.console_port"] if settings.get("console_port") is not None else []
    keys += [f"device.{i}.console_port" for i, s in enumerate(specs) if s.console_port is not None]
    if given is False and keys:
        raise top.fail(keys[0], "is a console port, but runtime.console_tcp is false")
    return given if given is not None else bool(keys)


def parse_lab(text: str, source: str, base: Path) -> Lab:
    """Parse and check a lab file's text; ``source`` names it in errors, paths are
    relative to ``base``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(source, "", f"is not valid TOML: {exc}") from None
    top = _Reader(source, "", data)
    schema = top.get("schema", int)
    if schema != 1:
        raise top.fail("schema", f"must be 1, not {schema}")
    settings = _runtime(top, base)
    entries = top.get("device", list)
    if not entries:
        raise top.fail("device", "must list at least one device ([[device]])")
    parsed = [_device(top, index, entry, base, settings) for index, entry in enumerate(entries)]
    top.finish()
    specs = [spec for spec, _ in parsed]
    block = settings.get("serial_block")
    if block is not None:
        own = {index for index, spec in enumerate(specs) if spec.mac is not None}
        specs = _from_block(top, block, specs)
        # A MAC of the block is named as one, not as the device's own ``mac``.
        origin = {i: "" if i in own else f" (from serial_block {block})" for i in range(len(specs))}
        _check_unique(top, specs, origin)
    else:
        _check_unique(top, specs)
    settings["console_tcp"] = _console_tcp(top, settings, specs)
    return Lab(
        source,
        tuple(specs),
        models=tuple(profile.model for _, profile in parsed),
        **settings,
    )


def load_lab(path: Path) -> Lab:
    """Read and check the lab file at ``path``."""
    return parse_lab(read_toml_text(path, LabError), str(path), path.absolute().parent)


def check_lab(lab: Lab) -> None:
    """Also load every starting config onto a factory flash of its model (nothing is kept)."""
    for index, spec in enumerate(lab.devices):
        if spec.config is None:
            continue
        key = f"device.{index}.config"
        try:
            data = spec.config.read_bytes()
        except OSError as exc:
            raise LabError(lab.source, key, f"{spec.config}: {exc.strerror or exc}") from None
        profile = find_profile(spec.model, lab.profiles_dir)
        flash = factory_flash(profile, firmware=not spec.empty_firmware)
        try:
            load_starting_config(
                flash, profile, Instance("check", "009033000000"), data, rng=random.Random(0)
            )
        except StartingConfigError as exc:
            raise LabError(lab.source, key, f"{spec.config}: {exc}") from None

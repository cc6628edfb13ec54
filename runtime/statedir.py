"""The state directory of a runtime: one folder per device, a lock, the control socket.

Layout (``docs/runtime.md``)::

    <state>/
        lock               flock()ed by the runtime that uses the directory
        control.sock       the control API (while a runtime runs)
        ui-token           the token of the --ui port off loopback (while a runtime runs)
        serials.toml       the blocks of serial numbers the directory holds
        ip6000-1/
            instance.toml  model, name, serial
            flash.img      the sparse flash image
            console        symlink to the device's pty (while it runs)

The default directory is ``$IPGWSIM_STATE``, else ``$XDG_STATE_HOME/ipgwsim``, else
``~/.local/state/ipgwsim``. Serial numbers are unique on the host: a state directory
holds blocks of them in the host registry (:mod:`ipgwsim.runtime.registry`), and a new
device takes the number after the highest one in the directory's newest block (a full
block: the first of a new one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ipgwsim.runtime.devicespec import DeviceSpec, format_mac
from ipgwsim.runtime.errors import RuntimeSetupError, StateDirBusy, describe_error
from ipgwsim.runtime.private import PRIVATE_DIR, PRIVATE_FILE, private_dir, write_private
from ipgwsim.runtime.registry import (
    BLOCK_SIZE,
    IdentityCollision,
    Registry,
    block_macs,
    block_of,
    device_number,
    read_blocks,
    write_blocks,
)

if TYPE_CHECKING:
    # Loaded where an instance is made: the control client (ipgwsim status) needs only
    # the state directory's paths, not the device model.
    from ipgwsim.device import Instance

INSTANCE_FILE = "instance.toml"
FLASH_FILE = "flash.img"
CONSOLE_LINK = "console"
LOCK_FILE = "lock"
CONTROL_SOCKET = "control.sock"
UI_TOKEN = "ui-token"

_NAME = re.compile(r"^([a-z0-9]+)-([0-9]+)$")


def default_state_dir() -> Path:
    """``$IPGWSIM_STATE``, else ``$XDG_STATE_HOME/ipgwsim``, else ``~/.local/state/ipgwsim``."""
    explicit = os.environ.get("IPGWSIM_STATE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "ipgwsim"
    return Path.home() / ".local" / "state" / "ipgwsim"


@dataclass(frozen=True)
class DeviceRecord:
    """One device folder: where it is and what its instance file says."""

    folder: Path
    model: str
    instance: Instance

    @property
    def flash_path(self) -> Path:
        return self.folder / FLASH_FILE

    @property
    def console_link(self) -> Path:
        return self.folder / CONSOLE_LINK

    @property
    def number(self) -> int:
        """The device's number in its model (``ip6000-3`` is 3)."""
        match = _NAME.match(self.instance.name)
        return int(match.group(2)) if match else 0


class RecordIndex:
    """A state directory's device records by name and serial number, with the highest
    device number of each model and of each block of serial numbers: what choosing and
    making the folders of one more device needs, without reading every folder again.
    """

    def __init__(self, records: list[DeviceRecord]) -> None:
        self.by_name: dict[str, DeviceRecord] = {}
        self.by_serial: dict[str, DeviceRecord] = {}
        #: model -> the highest number of its devices' names (``ip6000-7``: 7)
        self.top_of_model: dict[str, int] = {}
        #: block -> the highest device number in it
        self.top_of_block: dict[int, int] = {}
        for record in records:
            self.add(record)

    def add(self, record: DeviceRecord) -> None:
        self.by_name[record.instance.name] = record
        self.by_serial[record.instance.serial] = record
        model = self.top_of_model.get(record.model, 0)
        self.top_of_model[record.model] = max(model, record.number)
        number = device_number(record.instance.serial)
        if number is not None:
            block = number // BLOCK_SIZE
            self.top_of_block[block] = max(self.top_of_block.get(block, 0), number)

    def of_model(self, model: str) -> list[DeviceRecord]:
        """The model's records, by number (as :meth:`StateDir.records` orders them)."""
        found = [r for r in self.by_name.values() if r.model == model]
        return sorted(found, key=lambda r: (r.number, r.instance.name))


def read_instance(folder: Path) -> DeviceRecord:
    """Read ``folder/instance.toml``; a bad file raises RuntimeSetupError naming it."""
    path = folder / INSTANCE_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        model, name, serial = data["model"], data["name"], data["serial"]
        if not all(isinstance(v, str) for v in (model, name, serial)):
            raise TypeError("model, name and serial must be strings")
        from ipgwsim.device import Instance  # noqa: PLC0415 (the device model, on use)

        return DeviceRecord(folder, model, Instance(name, serial))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RuntimeSetupError(
            f"{path}: not a valid instance file: {describe_error(exc)}"
        ) from None


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_instance(record: DeviceRecord) -> None:
    """Write ``instance.toml`` (three keys) atomically."""
    text = (
        f"# ipgwsim device instance: what makes this device itself\n"
        f"model = {_toml_string(record.model)}\n"
        f"name = {_toml_string(record.instance.name)}\n"
        f"serial = {_toml_string(record.instance.serial)}\n"
    )
    write_private(record.folder / INSTANCE_FILE, text.encode("utf-8"))


def device_name(model: str, number: int) -> str:
    """``ip6000-1``: the lower-case model and the device's number."""
    return f"{model.lower()}-{number}"


class StateDir:
    """A locked state directory (see the module docstring)."""

    def __init__(self, path: Path, registry: Registry | None = None) -> None:
        self.path = path.expanduser().absolute()
        self.registry = registry if registry is not None else Registry()
        #: The blocks of serial numbers the directory holds, in the order claimed.
        self.blocks: list[int] = []
        self._lock_fd: int | None = None
        #: The records, read once while this process holds the lock (nobody else
        #: changes the folders then); None: read them at the next use.
        self._index: RecordIndex | None = None

    @property
    def control_socket(self) -> Path:
        return self.path / CONTROL_SOCKET

    @property
    def ui_token(self) -> Path:
        return self.path / UI_TOKEN

    # -- the lock ------------------------------------------------------------------

    def lock(self) -> None:
        """Take the directory for this process; another runtime has it: StateDirBusy."""
        try:
            private_dir(self.path, parents=True)
        except OSError as exc:
            raise RuntimeSetupError(
                f"cannot create the state directory {self.path}: {describe_error(exc)}"
            ) from None
        path = self.path / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise StateDirBusy(
                f"state directory {self.path} is in use by another ipgwsim runtime{pid}: "
                f"stop it, or give this one another --state DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._lock_fd, 0)
        os.close(self._lock_fd)  # closing releases the flock
        self._lock_fd = None
        self._index = None

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    # -- devices -------------------------------------------------------------------

    def records(self) -> list[DeviceRecord]:
        """Every device folder, by model and number."""
        if not self.path.is_dir():
            return []
        found = [
            read_instance(folder)
            for folder in self.path.iterdir()
            if folder.is_dir() and (folder / INSTANCE_FILE).is_file()
        ]
        return sorted(found, key=lambda r: (r.model, r.number, r.instance.name))

    def _named(self, names: list[str]) -> list[DeviceRecord] | None:
        """The folders of ``names`` when every one of them exists (None when one does not:
        a new device's number and MAC need every folder): a named device that has its
        folder is found without reading the others' (a worker of ``--workers`` starts its
        devices one named spec each)."""
        found = []
        for name in names:
            folder = self.path / name
            if not (folder / INSTANCE_FILE).is_file():
                return None
            found.append(read_instance(folder))
        return found

    def record_index(self) -> RecordIndex:
        """The records (:class:`RecordIndex`): kept while the directory is locked."""
        if self._index is not None and self.locked:
            return self._index
        index = RecordIndex(self.records())
        if self.locked:
            self._index = index
        return index

    def folders_changed(self) -> None:
        """Device folders were removed: read them again at the next use."""
        self._index = None

    def hold_serials(self) -> list[int]:
        """Register the directory's blocks of serial numbers in the host registry.

        The blocks are those ``serials.toml`` lists and those its devices' serial numbers
        are in (a directory from before the registry lists none). Call it with the
        registry locked; a block another existing directory holds too raises
        :class:`~ipgwsim.runtime.registry.IdentityCollision` naming both.
        """
        listed = read_blocks(self.path) or []
        found = {block_of(r.instance.serial) for r in self.record_index().by_name.values()}
        blocks = listed + sorted(b for b in found if b is not None and b not in listed)
        self.registry.hold(self.path, blocks)
        if blocks != listed:
            write_blocks(self.path, blocks)
        self.blocks = blocks
        return blocks

    def _next_number(self, taken: RecordIndex) -> int:
        """The next device number: after the highest in the first of the directory's blocks
        that has room after it (a block of MACs a user gave included), else a new block."""
        for block in self.blocks:
            number = max(taken.top_of_block.get(block, 0), block * BLOCK_SIZE) + 1
            if number < (block + 1) * BLOCK_SIZE:
                return number
        with self.registry.locked():
            block = self.registry.claim(self.path, self.blocks)
        self.blocks.append(block)
        write_blocks(self.path, self.blocks)
        return block * BLOCK_SIZE + 1

    def _hold_block_of(self, serial: str) -> None:
        """A serial number given by the user: its block becomes the directory's too, so that
        no other directory hands its numbers out (refused with both named if one does)."""
        block = block_of(serial)
        if block is None or block in self.blocks:
            return
        with self.registry.locked():
            try:
                self.registry.hold(self.path, [*self.blocks, block])
            except IdentityCollision:
                raise IdentityCollision(
                    f"MAC {format_mac(serial)} is in the serial numbers {block_macs(block)}, "
                    f"which the state directory {self.registry.owner(block)} holds: give a MAC "
                    "outside them"
                ) from None
        self.blocks.append(block)
        write_blocks(self.path, self.blocks)

    def new_record(
        self,
        model: str,
        taken: RecordIndex,
        *,
        name: str | None = None,
        serial: str | None = None,
    ) -> DeviceRecord:
        """A new device of ``model``: ``name`` or the next free one, ``serial`` or the next.

        ``taken`` are the records known so far (on disk and made in this run; the new one
        is added to it). A ``serial`` that one of them has is refused, naming the device
        that has it.
        """
        if name is None:
            number = taken.top_of_model.get(model, 0) + 1
            name = device_name(model, number)
            while (self.path / name).exists():
                number += 1
                name = device_name(model, number)
        elif (self.path / name).exists():
            raise RuntimeSetupError(f"{self.path / name} exists already: it is not a new device")
        from ipgwsim.device import Instance  # noqa: PLC0415 (the device model, on use)

        if serial is None:
            instance = Instance.numbered(name, self._next_number(taken))
        else:
            other = taken.by_serial.get(serial)
            if other is not None:
                raise RuntimeSetupError(
                    f"{name}: MAC {other.instance.mac_text} is {other.instance.name}'s "
                    f"(in {self.path})"
                )
            self._hold_block_of(serial)
            instance = Instance(name, serial)
        record = DeviceRecord(self.path / name, model, instance)
        record.folder.mkdir(mode=PRIVATE_DIR)
        os.chmod(record.folder, PRIVATE_DIR)
        write_instance(record)
        taken.add(record)
        return record

    def choose_records(
        self, spec: DeviceSpec, model: str, running: set[Path]
    ) -> list[tuple[DeviceRecord, bool]]:
        """The folders of ``spec``'s devices, ``(record, new)``: saved ones first, then new
        ones (made here). ``running``: folders of devices that run (not taken again).

        Without names, the model's saved folders that do not run come first, by number. A
        named device takes its folder if there is one: of another model, or saved with
        another MAC than ``spec`` gives, it is refused with both named.
        """
        names, macs = spec.names(), spec.macs()
        kept = self._index is not None and self.locked
        named = self._named(names) if names is not None and not kept else None
        # Every named folder exists (a worker's specs) and no index is kept: none of the
        # others is read, and no folder is made from this index. A kept index has them.
        index = RecordIndex(named) if named is not None else self.record_index()
        plan: list[tuple[str | None, DeviceRecord | None]]
        if names is None:
            existing = [r for r in index.of_model(model) if r.folder not in running]
            plan = [(None, r) for r in existing[: spec.count]]
            plan += [(None, None)] * (spec.count - len(plan))
        else:
            by_name = index.by_name
            plan = []
            for name in names:
                record = by_name.get(name)
                if record is not None and record.model != model:
                    raise RuntimeSetupError(
                        f"{name}: the state directory {self.path} has it as an "
                        f"{record.model}, not an {model} (remove its folder, or "
                        "choose another name)"
                    )
                plan.append((name, record))
        for number, (_, record) in enumerate(plan):
            if record is not None and macs is not None and record.instance.serial != macs[number]:
                raise RuntimeSetupError(
                    f"{record.instance.name}: the state directory has it with MAC "
                    f"{record.instance.mac_text}, not {format_mac(macs[number])} (remove "
                    "its folder to make it anew)"
                )
        chosen: list[tuple[DeviceRecord, bool]] = []
        try:
            for number, (wanted, record) in enumerate(plan):
                if record is not None:
                    chosen.append((record, False))
                    continue
                serial = macs[number] if macs else None
                made = self.new_record(model, index, name=wanted, serial=serial)
                chosen.append((made, True))
        except RuntimeSetupError:
            for record, new in chosen:
                if new:  # made here, never ran: no folder is left behind
                    shutil.rmtree(record.folder, ignore_errors=True)
            self.folders_changed()
            raise
        return chosen

    def link_console(self, record: DeviceRecord, pty: str | None) -> None:
        """Point ``<device>/console`` at the device's pty (None: no pty, no link)."""
        link = record.console_link
        if pty is None:
            self.unlink_console(record)
            return
        tmp = link.with_name(link.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(pty)
        tmp.replace(link)

    def unlink_console(self, record: DeviceRecord) -> None:
        with contextlib.suppress(FileNotFoundError):
            record.console_link.unlink()

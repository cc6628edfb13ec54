"""The host registry: which state directory holds which serial numbers, and what runs.

Every state directory and every running runtime on a host registers here, so that no
two devices on the host share a MAC and no two runtimes share a UDP port, a namespace
or a link name without being told to (``docs/runtime.md``, *Identity on a shared
host*). The registry is a directory, ``$IPGWSIM_REGISTRY`` or else
``/var/tmp/ipgwsim-registry``, world-writable with the sticky bit (like ``/tmp``) so that
every user's runtimes meet in it::

    <registry>/
        lock               flock()ed while a runtime reads and changes the registry
        blocks/<k>         block k of serial numbers belongs to the state directory named in it
        runtimes/<pid>-<n>.json   a running runtime: pid, state directory, network mode,
                           UDP port, MACs, namespace and link names

A device's serial number is its ETH0 MAC: ``00:90:33`` and 24 bits. They are handed out
in blocks of :data:`BLOCK_SIZE`: block ``k`` holds the device numbers ``k*256+1`` to
``k*256+255`` (``Instance.numbered``), so block 0 is ``00:90:33:10:00:01`` to
``00:90:33:10:00:ff`` and block 1 starts at ``00:90:33:10:01:01``. A state directory
claims a block when it makes its first device (and another when one is full) and writes
its blocks into ``<state>/serials.toml`` too. A block whose state directory is gone (or
no longer lists it) is free again. Two state directories that list the same block (one
was copied from the other) are refused: their devices would share MACs.

Runtime entries of processes that are gone are ignored and removed. Everything here is
done under the registry's lock; files are replaced atomically.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import itertools
import json
import os
import re
import threading
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.private import write_private

#: Where the registry is unless ``$IPGWSIM_REGISTRY`` says otherwise.
DEFAULT_REGISTRY = Path("/var/tmp/ipgwsim-registry")
REGISTRY_ENV = "IPGWSIM_REGISTRY"
#: Serial numbers per block (device numbers k*256+1 .. k*256+255 of block k).
BLOCK_SIZE = 256
#: Blocks there are: ``Instance.numbered`` takes device numbers below 0xEFFFFF.
BLOCK_COUNT = 0xEFFF
#: The file in a state directory that lists its blocks.
SERIALS_FILE = "serials.toml"

_ENTRY_NAME = re.compile(r"^([0-9]+)-([0-9]+)\.json$")


def default_registry() -> Path:
    """``$IPGWSIM_REGISTRY``, else ``/var/tmp/ipgwsim-registry``."""
    explicit = os.environ.get(REGISTRY_ENV)
    return Path(explicit).expanduser() if explicit else DEFAULT_REGISTRY


@functools.cache
def serial_base() -> int:
    """The serial number of device number 0: ``Instance.numbered`` adds the number to it."""
    # The device model loads here, on use: the control client (ipgwsim status) reads the
    # state directory's paths from this layer without it.
    from ipgwsim.device import MAC_PREFIX  # noqa: PLC0415

    return int.from_bytes(MAC_PREFIX, "big") << 24 | 0x100000


def device_number(serial: str) -> int | None:
    """The device number of a serial number (``009033100001`` is 1), or None if it has none."""
    try:
        number = int(serial, 16) - serial_base()
    except ValueError:
        return None
    return number if 0 <= number < BLOCK_COUNT * BLOCK_SIZE else None


def block_of(serial: str) -> int | None:
    """The block a serial number is in, or None (not one ipgwsim hands out)."""
    number = device_number(serial)
    return None if number is None else number // BLOCK_SIZE


def mac_text(number: int) -> str:
    """The MAC of device number ``number``: ``00:90:33:10:00:01`` for 1."""
    raw = f"{serial_base() + number:012x}"
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


def block_macs(block: int) -> str:
    """``00:90:33:10:00:01-00:90:33:10:00:ff``: the MACs of a block, for messages."""
    first = block * BLOCK_SIZE
    return f"{mac_text(first + 1)}-{mac_text(first + BLOCK_SIZE - 1)}"


# -- the state directory's own list of blocks ---------------------------------------------


def read_blocks(state: Path) -> list[int] | None:
    """The blocks ``<state>/serials.toml`` lists (in the order claimed), or None without one."""
    path = state / SERIALS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RuntimeSetupError(
            f"{path}: not a valid serials file: {describe_error(exc)}"
        ) from None
    blocks = data.get("blocks")
    if not isinstance(blocks, list) or not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b < BLOCK_COUNT for b in blocks
    ):
        raise RuntimeSetupError(
            f"{path}: not a valid serials file: 'blocks' must be a list of numbers "
            f"from 0 to {BLOCK_COUNT - 1}"
        )
    return list(blocks)


def write_blocks(state: Path, blocks: list[int]) -> None:
    """Write ``<state>/serials.toml`` atomically."""
    path = state / SERIALS_FILE
    text = (
        "# ipgwsim: the blocks of serial numbers (= MACs) this state directory holds;\n"
        f"# block k holds 00:90:33 + 0x100000 + k*{BLOCK_SIZE} + 1 .. + {BLOCK_SIZE - 1}\n"
        f"blocks = [{', '.join(str(b) for b in blocks)}]\n"
    )
    write_private(path, text.encode("utf-8"))


def _claims(state: Path, block: int) -> bool:
    """Whether the state directory at ``state`` lists ``block`` (unreadable: assume it does)."""
    try:
        blocks = read_blocks(state)
    except RuntimeSetupError:
        return True
    except OSError:
        return True
    return blocks is not None and block in blocks


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; one that cannot be looked at (another user's) counts."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b


# -- processes ------------------------------------------------------------------------------


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), or None if it does not run.

    A zombie (killed, not yet reaped) does not run. The start time tells a process from
    a later one that got the same pid.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if not fields or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    return process_start(pid) is not None


# -- running runtimes -------------------------------------------------------------------------


@dataclass
class RuntimeEntry:
    """What one running runtime holds (``runtimes/<key>.json``)."""

    pid: int
    #: The process's start time (:func:`process_start`): a reused pid is not this runtime.
    started: int
    #: ``<pid>-<n>``: a process may run several runtimes.
    key: str
    #: The state directory (absolute).
    state: str
    #: ``loopback`` or ``netns``.
    network: str
    #: The UDP port of gwload and TFTP; on loopback the broadcast socket's.
    port: int
    share_port: bool = False
    #: MACs of its devices, ``00:90:33:…``, with the device names.
    macs: dict[str, str] = field(default_factory=dict)
    #: Network namespaces and host-side link names it made (or will make), by device.
    namespaces: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """``the ipgwsim runtime of state directory /x (pid 12)``."""
        return f"the ipgwsim runtime of state directory {self.state} (pid {self.pid})"

    @property
    def alive(self) -> bool:
        return process_start(self.pid) == self.started

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuntimeEntry:
        entry = cls(**data)
        if not (isinstance(entry.pid, int) and isinstance(entry.key, str)):
            raise TypeError("pid and key have the wrong types")
        return entry


class RuntimeConflict(RuntimeSetupError):
    """What this runtime would hold is held by another running runtime."""


class IdentityCollision(RuntimeSetupError):
    """Two state directories hold the same serial numbers."""


class Registry:
    """The host registry at ``path`` (default: :func:`default_registry`); module docstring."""

    #: Runtimes made in this process so far (the ``n`` of their keys).
    _keys = itertools.count(1)

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser().absolute() if path is not None else None
        self._fd: int | None = None
        self._depth = 0
        self._thread_lock = threading.RLock()

    @property
    def root(self) -> Path:
        """The registry's directory (the environment is read when it is first needed)."""
        if self.path is None:
            self.path = default_registry().absolute()
        return self.path

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # -- the lock ------------------------------------------------------------------

    def _problem(self, what: str, exc: BaseException) -> RuntimeSetupError:
        return RuntimeSetupError(
            f"cannot use the ipgwsim registry {self.root} ({what}: {describe_error(exc)}): "
            f"set {REGISTRY_ENV} to a directory every ipgwsim user of this host can write"
        )

    def _make_dir(self, path: Path) -> None:
        """``path`` as a directory everyone may add to (mode 1777, as /tmp)."""
        try:
            path.mkdir(mode=0o1777, parents=True)
        except FileExistsError:
            return
        except OSError as exc:
            raise self._problem(f"cannot create {path}", exc) from None
        with contextlib.suppress(OSError):
            os.chmod(path, 0o1777)  # the umask took bits away

    @contextlib.contextmanager
    def locked(self) -> Iterator[Registry]:
        """Hold the registry's lock for the block (re-entrant in this thread)."""
        with self._thread_lock:
            if self._depth == 0:
                self._fd = self._lock()
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing releases the flock
                    self._fd = None

    def _lock(self) -> int:
        root = self.root
        for part in (root, root / "blocks", root / "runtimes"):
            self._make_dir(part)
            if not os.access(part, os.W_OK | os.X_OK):
                denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
                raise self._problem(f"cannot write to {part}", denied)
        path = root / "lock"
        try:
            fd = _open_shared(path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise self._problem(f"cannot lock {path}", exc) from None
        return fd

    def _check_locked(self) -> None:
        if self._fd is None:
            raise RuntimeError(
                "the registry is used without its lock (use `with registry.locked()`)"
            )

    # -- blocks of serial numbers ----------------------------------------------------

    def _block_file(self, block: int) -> Path:
        return self.root / "blocks" / str(block)

    def owner(self, block: int) -> Path | None:
        """The state directory block ``block`` is registered to, or None."""
        text = _read(self._block_file(block))
        if text is None or not text.strip():
            return None
        return Path(text.strip())

    def hold(self, state: Path, blocks: Iterable[int]) -> None:
        """Register ``blocks`` to the state directory ``state`` (which lists them).

        A block registered to a directory that is gone (or no longer lists it) is taken
        over: the directory was moved. One registered to another directory that lists it
        too is refused with both names (:class:`IdentityCollision`).
        """
        self._check_locked()
        state = state.absolute()
        for block in blocks:
            owner = self.owner(block)
            if owner is None:
                if _create(self._block_file(block), f"{state}\n"):
                    continue
                owner = self.owner(block)
                if owner is None:
                    raise RuntimeSetupError(f"cannot register block {block} in {self.root}")
            if _same_dir(owner, state):
                continue
            if _exists(owner) and _claims(owner, block):
                raise IdentityCollision(
                    f"state directories {state} and {owner} hold the same serial numbers "
                    f"(block {block}, MACs {block_macs(block)}): one was copied from the "
                    f"other, and their devices would share MACs on this host; delete one of "
                    f"them (or its {SERIALS_FILE} and device folders) to run the other"
                )
            if not _replace(self._block_file(block), f"{state}\n"):
                raise IdentityCollision(
                    f"state directory {state} holds the serial numbers of block {block} "
                    f"(MACs {block_macs(block)}), which another user's state directory "
                    f"{owner} registered in {self.root}; that user's runtime frees it once "
                    f"{owner} is gone"
                )

    def claim(self, state: Path, held: Iterable[int] = ()) -> int:
        """A new block for ``state``: the lowest one that is free or free again."""
        self._check_locked()
        state = state.absolute()
        skip = set(held)
        for block in range(BLOCK_COUNT):
            if block in skip:
                continue
            path = self._block_file(block)
            if _create(path, f"{state}\n"):
                return block
            owner = self.owner(block)
            if owner is None:
                if _replace(path, f"{state}\n"):
                    return block
                continue
            if _same_dir(owner, state):
                return block  # registered to this directory, which no longer lists it
            if _exists(owner) and _claims(owner, block):
                continue
            if _replace(path, f"{state}\n"):
                return block
        raise RuntimeSetupError(
            f"no serial numbers left on this host: all {BLOCK_COUNT} blocks in {self.root} "
            f"belong to state directories that exist; delete the ones no longer needed"
        )

    # -- running runtimes -------------------------------------------------------------

    def new_entry(
        self, state: Path, network: str, port: int, *, share_port: bool = False
    ) -> RuntimeEntry:
        """An entry for a runtime of this process (not registered yet)."""
        pid = os.getpid()
        started = process_start(pid)
        return RuntimeEntry(
            pid=pid,
            started=started if started is not None else 0,
            key=f"{pid}-{next(Registry._keys)}",
            state=str(state.absolute()),
            network=network,
            port=port,
            share_port=share_port,
        )

    def running(self, *, besides: RuntimeEntry | None = None) -> list[RuntimeEntry]:
        """The runtimes that run (their files), without ``besides``; removes gone ones."""
        self._check_locked()
        folder = self.root / "runtimes"
        entries = []
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            raise self._problem(f"cannot read {folder}", exc) from None
        for name in names:
            match = _ENTRY_NAME.match(name)
            if match is None or (besides is not None and name == f"{besides.key}.json"):
                continue
            path = folder / name
            text = _read(path)
            try:
                entry = RuntimeEntry.from_json(json.loads(text or ""))
            except (ValueError, TypeError):
                entry = None
            if entry is None or not entry.alive:
                with contextlib.suppress(OSError):
                    path.unlink()  # gone (another user's file stays, and is ignored)
                continue
            entries.append(entry)
        return entries

    def register(self, entry: RuntimeEntry) -> None:
        """Write (or rewrite) ``entry``'s file."""
        self._check_locked()
        path = self.root / "runtimes" / f"{entry.key}.json"
        text = json.dumps(asdict(entry), indent=1, sort_keys=True) + "\n"
        if not _replace(path, text):
            raise RuntimeSetupError(f"cannot write {path}: permission denied")

    def unregister(self, entry: RuntimeEntry) -> None:
        self._check_locked()
        with contextlib.suppress(FileNotFoundError):
            (self.root / "runtimes" / f"{entry.key}.json").unlink()


# -- files in a directory others may write to -------------------------------------------------

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def _open_shared(path: Path) -> int:
    """Open ``path`` for reading, making it if needed (O_CREAT on another user's file in a
    sticky directory is refused by ``fs.protected_regular``: open it without)."""
    while True:
        try:
            return os.open(path, os.O_RDONLY | _NOFOLLOW)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        except FileExistsError:
            continue
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o644)
        return fd


def _read(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return ""
    with os.fdopen(fd, encoding="utf-8", errors="replace") as file:
        return file.read()


def _create(path: Path, text: str) -> bool:
    """Make ``path`` with ``text`` unless it exists; whether it was made."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    return True


def _replace(path: Path, text: str) -> bool:
    """Replace ``path`` with a file holding ``text``; False if not allowed (another user's
    file in a sticky directory)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except PermissionError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True

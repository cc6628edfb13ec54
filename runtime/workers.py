"""A runtime whose devices run in several worker processes (``ipgwsim run --workers N``).

::

    async with Workers(state_dir, [DeviceSpec("IP6000", 4)], workers=2, port=6969) as rt:
        rt.devices          # ip6000-1 .. ip6000-4, in order; 1 and 3 in worker 1
        await rt.failed.wait()   # a worker ended on its own: rt.failure says which

The parent (this class) is the runtime users see: it locks the state directory, holds
the host registry entry (the UDP port, every device's MAC: what another runtime holds is
refused naming it, as for one process), chooses every device's folder, name and MAC, and
serves the one control API on ``<state>/control.sock`` (and the UI port): per-device
requests go to the worker that has the device, ``/v1/status`` and ``/v1/watch`` merge all
of them (:mod:`ipgwsim.runtime.workerapi`). Worker ``k`` (from 1) runs the devices ``k``,
``k + N``, ``k + 2N``, ... of the lab order, each a :class:`~ipgwsim.runtime.runtime.Runtime`
in a process of its own (``python -m ipgwsim.tools.runworker``) that does not lock the
state directory and serves its control API on a socket in a private temporary folder;
device folders stay where one process keeps them. Every worker binds the loopback
broadcast port with ``SO_REUSEADDR``, so a broadcast reaches the devices of all of them.

A worker that ends on its own sets :attr:`Workers.failed` with one line naming it and its
devices; :meth:`Workers.stop` (also on leaving ``async with``) sends every worker SIGTERM
(each saves its flashes and stops), waits for them, and removes the sockets. Workers run
in sessions of their own (a terminal's Ctrl-C reaches only the parent) and stop too when
the parent's end of their stdin closes, so none outlives a parent that was killed; each
inherits the state directory's lock and holds it until it has ended, so no other runtime
takes the directory while a worker still writes there.

Only the loopback network and a scaled clock: namespaces, capture files and a clock only
tests move are refused (``docs/runtime.md``, *Workers*).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ipgwsim.hw_profiles import ProfileError, find_profile
from ipgwsim.runtime.apiserver import ControlServer, UiServer
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.devicespec import DeviceSpec, normalize_mac
from ipgwsim.runtime.errors import RuntimeSetupError, UnknownDevice, UnknownModel
from ipgwsim.runtime.identities import check_port, claim_identities
from ipgwsim.runtime.impair import Impairment, seeded
from ipgwsim.runtime.loopback import LOOPBACK_BROADCAST, LoopbackNetwork
from ipgwsim.runtime.ports import DEFAULT_PORT, check_ui_beside_web, default_http_port
from ipgwsim.runtime.registry import Registry, RuntimeEntry
from ipgwsim.runtime.statedir import FLASH_FILE, DeviceRecord, StateDir, default_state_dir
from ipgwsim.runtime.workerapi import WorkerApi

__all__ = [
    "WORKER_MODULE",
    "Placed",
    "WorkerConfig",
    "Workers",
    "check_workers",
    "place",
    "round_robin",
]

#: The module a worker process runs (``python -m``).
WORKER_MODULE = "ipgwsim.tools.runworker"
#: The private folder of the workers' sockets: ``$TMPDIR/ipgwsim-workers-*``.
PRIVATE_PREFIX = "ipgwsim-workers-"
#: Longest path of a worker's socket the parent connects to (a socket address takes 108).
_SOCKET_PATH_MAX = 100
#: Where the folder goes when ``$TMPDIR`` is too long for socket paths.
_SHORT_TMP = "/tmp"

#: Real seconds a worker gets to save its flashes and stop after SIGTERM (then SIGKILL).
STOP_TIMEOUT = 60.0
#: Real seconds a worker gets to start and power on its devices (then it is killed).
START_TIMEOUT = 300.0


@dataclass(frozen=True)
class WorkerConfig:
    """What the parent hands one worker (pickled on its stdin, after 4 bytes of length)."""

    index: int
    state: Path
    control_socket: Path
    registry: Path
    specs: list[DeviceSpec]
    port: int
    speed: float
    clock_start: float
    wall_clock: float
    profiles_dir: Path | None
    console_tcp: bool
    http_port: int
    impairment: Impairment | None
    #: Whether each console has a pty (``run --no-console-pty``).
    console_pty: bool = True
    log_level: str = "info"
    log_format: str = "text"
    #: The state directory's lock, inherited: it holds the lock until it has stopped.
    lock_fd: int | None = None
    #: The event loop it runs on (``run --loop``: :mod:`ipgwsim.runtime.loops`).
    loop: str = "asyncio"


@dataclass(frozen=True)
class Placed:
    """One device of the runtime: its place in the lab order and its worker (from 1)."""

    order: int
    name: str
    model: str
    mac: str
    worker: int
    spec: DeviceSpec


def round_robin(count: int, workers: int) -> list[int]:
    """The worker (from 1) of each of ``count`` devices in order: 1, 2, ..., N, 1, 2, ..."""
    return [n % workers + 1 for n in range(count)]


def place(
    chosen: list[tuple[DeviceSpec, DeviceRecord]],
    workers: int,
    *,
    console_port_base: int | None = None,
) -> list[Placed]:
    """Each device (its spec, its folder) as a one-device spec for its worker: named and
    with its MAC, so the worker takes the folder the parent chose; its console ports
    those one process would give it (the spec's from its first port, else the runtime's
    base + 2n for the n-th device)."""
    placed = []
    within: dict[int, int] = {}
    for order, ((spec, record), worker) in enumerate(
        zip(chosen, round_robin(len(chosen), workers), strict=True)
    ):
        index = within.get(id(spec), 0)
        within[id(spec)] = index + 1
        console = None
        if spec.console_port is not None:
            console = spec.console_port + 2 * index
        elif console_port_base is not None:
            console = console_port_base + 2 * order
        one = replace(
            spec,
            count=1,
            name=record.instance.name,
            mac=record.instance.serial,
            console_port=console,
        )
        placed.append(
            Placed(order, record.instance.name, record.model, record.instance.serial, worker, one)
        )
    return placed


def check_workers(specs: list[DeviceSpec], workers: int, network: str, pcap: Path | None) -> None:
    """What ``--workers`` refuses, one line each (1 worker: one process, as ever)."""
    count = sum(spec.count for spec in specs)
    if workers < 1:
        raise RuntimeSetupError(f"--workers must be 1 or more, not {workers}")
    if workers > count:
        raise RuntimeSetupError(
            f"--workers {workers} is more than the {count} device{'s' * (count != 1)} "
            "to run: each worker needs one at least"
        )
    if workers == 1:
        return
    if network != "loopback":
        raise RuntimeSetupError(
            "--workers runs on the loopback network only (not in network namespaces)"
        )
    if pcap is not None or any(spec.pcap is not None for spec in specs):
        raise RuntimeSetupError(
            "--workers cannot record a capture file (--pcap, a device's pcap): the "
            "workers would write one file from several processes"
        )


class _Worker:
    """One worker process, as the parent sees it."""

    def __init__(self, index: int, socket: Path, devices: list[Placed]) -> None:
        self.index = index
        self.socket = socket
        self.devices = devices
        self.process: asyncio.subprocess.Process | None = None
        #: What the worker said when ready: DEVICE and its console, per device.
        self.listing: list[dict[str, Any]] = []
        self.monitor: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def names(self, most: int = 10) -> str:
        names = [d.name for d in self.devices]
        shown = ", ".join(names[:most])
        return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")

    def describe(self) -> str:
        return f"worker {self.index} (pid {self.pid}; devices {self.names()})"


class Workers:
    """A runtime of ``workers`` processes (the module docstring)."""

    def __init__(
        self,
        state_dir: Path | str | None,
        specs: list[DeviceSpec],
        *,
        workers: int,
        port: int = DEFAULT_PORT,
        share_port: bool = False,
        speed: float = 1.0,
        network: str = "loopback",
        profiles_dir: Path | None = None,
        console_tcp: bool = False,
        console_pty: bool = True,
        console_port_base: int | None = None,
        http_port: int | None = None,
        impairment: Impairment | None = None,
        pcap: Path | None = None,
        ui: tuple[str, int] | None = None,
        registry: Registry | None = None,
        log: logging.Logger | None = None,
        log_level: str = "info",
        log_format: str = "text",
        loop: str = "asyncio",
    ) -> None:
        check_workers(specs, workers, network, pcap)
        self.registry = registry if registry is not None else Registry()
        self.state = StateDir(
            Path(state_dir) if state_dir is not None else default_state_dir(), self.registry
        )
        self.specs = list(specs)
        self.count = workers
        self.port = port
        self.share_port = share_port
        self.clock = ScaledClock(speed)
        self.profiles_dir = profiles_dir
        self.console_tcp = console_tcp
        self.console_pty = console_pty
        self.console_port_base = console_port_base
        self.http_port = http_port if http_port is not None else default_http_port(os.geteuid())
        check_ui_beside_web(ui, self.http_port)
        self.impairment = seeded(impairment)
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        self.log_level = log_level
        self.log_format = log_format
        self.loop = loop
        self._want_ui = ui
        #: The network clients reach the devices on (what ``/v1/status`` says of it).
        self.network = {"kind": "loopback", "port": port, "broadcast": LOOPBACK_BROADCAST}
        self.entry: RuntimeEntry | None = None
        #: Every device in the lab order, with its worker.
        self.devices: list[Placed] = []
        self.workers: list[_Worker] = []
        #: Set when a worker ended on its own; :attr:`failure` says which, in one line.
        self.failed = asyncio.Event()
        self.failure: str | None = None
        self._web_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._by_key: dict[str, Placed] = {}
        self._new: list[DeviceRecord] = []
        self._private: Path | None = None
        #: The one control API (made at the start).
        self.api: WorkerApi | None = None
        self._control: ControlServer[WorkerApi] | None = None
        self.ui: UiServer[WorkerApi] | None = None
        self._started = False
        self._stopping = False
        self._stopped = False
        #: Real seconds a worker gets to say it is ready (:data:`START_TIMEOUT`).
        self.start_timeout = START_TIMEOUT
        #: The command that starts a worker (its private folder, this process's pid and
        #: the state directory follow).
        self.worker_command = [sys.executable, "-m", WORKER_MODULE]

    # -- life --------------------------------------------------------------------------

    async def __aenter__(self) -> Workers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._started and not self._stopping

    async def start(self) -> None:
        """Lock, register, choose the devices' folders, start the workers (each ready
        with its devices powered on), then serve the control API."""
        if self._started:
            return
        self._started = True
        try:
            self.state.lock()
            self._register()
            self._private = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX, dir=_socket_dir()))
            self._split()
            spawned = await asyncio.gather(
                *(self._spawn(worker) for worker in self.workers), return_exceptions=True
            )
            for outcome in spawned:  # every worker has said ready or why not
                if isinstance(outcome, BaseException):
                    raise outcome
            for worker in self.workers:
                worker.monitor = asyncio.create_task(self._watch_worker(worker))
            api = WorkerApi(self)
            self.api = api
            self._control = ControlServer(self.state.control_socket, api)
            await self._control.start()
            if self._want_ui is not None:
                self.ui = UiServer(None, *self._want_ui, api, token_file=self.state.ui_token)
                await self.ui.start()
        except BaseException:
            await self.stop()
            raise

    def _register(self) -> None:
        with self.registry.locked():
            self.state.hold_serials()
            entry = self.registry.new_entry(
                self.state.path, "loopback", self.port, share_port=self.share_port
            )
            check_port(entry, self.registry.running(besides=entry))
            self.registry.register(entry)
            self.entry = entry

    def _split(self) -> None:
        """Choose every device's folder (as one process would, in order), claim the
        identities, and place the devices on the workers."""
        seen: dict[str, int] = {}
        for index, spec in enumerate(self.specs):
            for name in spec.names() or []:
                if name in seen:
                    raise RuntimeSetupError(
                        f"{name}: named by device spec {seen[name] + 1} and {index + 1}"
                    )
                seen[name] = index
        network = LoopbackNetwork(self.port, log=self.log)  # never started: names only
        chosen: list[tuple[DeviceSpec, DeviceRecord]] = []
        running: set[Path] = set()
        for spec in self.specs:
            try:
                profile = find_profile(spec.model, self.profiles_dir)
            except KeyError as exc:
                raise UnknownModel(str(exc.args[0])) from None
            except ProfileError as exc:
                raise RuntimeSetupError(str(exc)) from None
            with self.registry.locked():
                records = self.state.choose_records(spec, profile.model, running)
                self._new += [record for record, new in records if new]
                assert self.entry is not None
                claim_identities(
                    self.registry, self.entry, network, [(r, profile) for r, _ in records]
                )
            running |= {record.folder for record, _ in records}
            chosen += [(spec, record) for record, _ in records]
        self.devices = place(chosen, self.count, console_port_base=self.console_port_base)
        for device in self.devices:
            self._by_key[device.name] = device
            self._by_key[device.mac] = device
        assert self._private is not None
        self.workers = [
            _Worker(
                k, self._private / f"worker-{k}.sock", [d for d in self.devices if d.worker == k]
            )
            for k in range(1, self.count + 1)
        ]

    def config(self, worker: _Worker) -> WorkerConfig:
        assert self._private is not None
        return WorkerConfig(
            index=worker.index,
            state=self.state.path,
            control_socket=worker.socket,
            registry=self._private / "registry",
            specs=[device.spec for device in worker.devices],
            port=self.port,
            speed=self.clock.speed,
            clock_start=self.clock.start,
            wall_clock=time.time() - self.clock.now(),
            profiles_dir=self.profiles_dir,
            console_tcp=self.console_tcp,
            console_pty=self.console_pty,
            http_port=self.http_port,
            impairment=self.impairment,
            log_level=self.log_level,
            log_format=self.log_format,
            lock_fd=self.state.lock_fd,
            loop=self.loop,
        )

    async def _spawn(self, worker: _Worker) -> None:
        """Start a worker and wait for its ready line (or its one-line refusal). It
        inherits the state directory's lock, so the directory stays locked until the
        last worker has stopped, even when this process is killed."""
        assert self._private is not None
        lock = self.state.lock_fd
        process = await asyncio.create_subprocess_exec(
            *self.worker_command,
            str(self._private),  # then who it works for, for collision messages
            str(os.getpid()),
            str(self.state.path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=2**26,  # the ready line lists every device of the worker
            pass_fds=(lock,) if lock is not None else (),
        )
        worker.process = process
        self.state.note_holders([w.pid for w in self.workers if w.pid is not None])
        assert process.stdin is not None
        assert process.stdout is not None
        data = pickle.dumps(self.config(worker))
        try:
            process.stdin.write(len(data).to_bytes(4, "big") + data)
            await process.stdin.drain()
        except ConnectionError:
            pass  # it ended at once: its status says how, below
        try:
            line = await asyncio.wait_for(process.stdout.readline(), self.start_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise RuntimeSetupError(
                f"{worker.describe()} did not say it was ready in {self.start_timeout:g} s: killed"
            ) from None
        message = _message(line)
        if message is None:
            status = await process.wait()
            raise RuntimeSetupError(
                f"{worker.describe()} ended at its start ({_how(status)}); its log is above"
            )
        if "error" in message:
            raise RuntimeSetupError(str(message["error"]))
        worker.listing = list(message["ready"])

    async def _watch_worker(self, worker: _Worker) -> None:
        """Pass on what a worker says (web servers that start) until it ends; a worker
        that ends while the runtime runs makes the failure."""
        process = worker.process
        assert process is not None
        assert process.stdout is not None
        while line := await process.stdout.readline():
            message = _message(line)
            if message is not None and "web" in message:
                for listener in self._web_listeners:
                    listener(message)
        status = await process.wait()
        if self._stopping:
            return
        self.failure = (
            f"{worker.describe()} ended on its own ({_how(status)}): its devices are "
            f"gone; stopping the runtime"
        )
        self.log.error("%s", self.failure)
        self.failed.set()

    async def stop(self) -> None:
        """Stop every worker (each saves its flashes), the API, and release everything;
        safe to call more than once."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopping = True
        self._stopped = True
        if self.api is not None:
            await self.api.stop()
        if self.ui is not None:
            await self.ui.close()
        if self._control is not None:
            await self._control.close()
        await asyncio.gather(*(self._end(worker) for worker in self.workers))
        for record in self._new:
            if not (record.folder / FLASH_FILE).exists():  # never ran: no folder left
                shutil.rmtree(record.folder, ignore_errors=True)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
        if self.entry is not None:
            try:
                with self.registry.locked():
                    self.registry.unregister(self.entry)
            except RuntimeSetupError as exc:
                self.log.warning("%s", exc)
            self.entry = None
        self.state.unlock()

    async def _end(self, worker: _Worker) -> None:
        process = worker.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.log.error("%s did not stop in %g s: killed", worker.describe(), STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        if worker.monitor is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.monitor

    # -- devices -----------------------------------------------------------------------

    def subscribe_web(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener({"web": name, "url": ..., "error": ...})`` when a device's web
        server started listening or could not."""
        self._web_listeners.append(listener)

    def device(self, name_or_mac: str) -> Placed:
        """A device by its name or its MAC in any common spelling (as one runtime finds it)."""
        key = name_or_mac.strip()
        found = self._by_key.get(key) or self._by_key.get(key.lower())
        if found is None and (mac := normalize_mac(key)) is not None:
            found = self._by_key.get(mac)
        if found is not None:
            return found
        names = [d.name for d in self.devices]
        shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
        raise UnknownDevice(
            f"no device {name_or_mac!r} in this runtime (devices: {shown or 'none'})"
        )

    def worker_of(self, device: Placed) -> _Worker:
        return self.workers[device.worker - 1]

    def listing(self) -> list[dict[str, Any]]:
        """What the workers said of their devices when ready, in the lab order."""
        rows = {row["name"]: row for worker in self.workers for row in worker.listing}
        return [rows[device.name] for device in self.devices if device.name in rows]


def _socket_dir() -> str:
    """``$TMPDIR`` (the system's temporary folder), or ``/tmp`` when a socket path in it
    would be longer than a socket address takes."""
    where = tempfile.gettempdir()
    longest = len(os.fsencode(where)) + len(f"/{PRIVATE_PREFIX}12345678/worker-99999.sock")
    return where if longest <= _SOCKET_PATH_MAX else _SHORT_TMP


def _message(line: bytes) -> dict[str, Any] | None:
    """A worker's JSON line (None at its end, or for a line that is none)."""
    if not line:
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _how(status: int) -> str:
    """``exit status 3`` or ``killed by SIGKILL``."""
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"

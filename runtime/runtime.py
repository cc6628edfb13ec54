"""The runtime: devices of a state directory on a network, with a clock and a control API.

::

    async with Runtime(state_dir, port=6969, clock=ScaledClock(10)) as rt:
        hosts = rt.add_devices("IP6000", 3)
        await rt.press("ip6000-1", 1.8)       # held for 1.8 device seconds
        async for name, event in rt.watch():  # LED, mode, blink and power events
            ...

Each device's console is a pty (owner-only) and, with ``console_tcp=True``, also two TCP
ports on 127.0.0.1: raw (``socket://``) and RFC 2217 (``rfc2217://``), each connection with
a login session of its own. They are off by default, as every local user can connect to
them. ``console_port_base`` (which needs ``console_tcp=True``) gives the n-th device added
(from 0) the ports ``base + 2n`` and ``base + 2n + 1``, otherwise the system picks free ones
(``host.console_tcp.raw_port`` / ``.rfc2217_port``).

``impairment`` (an :class:`~ipgwsim.runtime.impair.Impairment`) impairs every device's
link, ``add_devices(..., impairment=...)`` those devices' links, and :meth:`Runtime.impair`
one device's from now on; an impairment without a seed gets one picked here (shown by
``status``), so that the run can be repeated. ``pcap`` records every device's datagrams
in one pcapng file, ``add_devices(..., pcap=...)`` those devices' in another one as well.

Devices power on when added. A device that has a folder in the state directory
starts from its saved flash (a power cycle with the flash kept); a new one gets a
factory flash (built once per profile, cloned with shared sectors). ``stop()``
(also on an exception inside ``async with``) saves every flash that changed,
closes sockets, ptys and console listeners, removes console links and the control socket and
releases the state directory's lock.

``ui=(host, port)`` serves the control API and the front panel on that TCP port too
(``ipgwsim run --ui``; :class:`~ipgwsim.runtime.apiserver.UiServer`; port 0: any free one,
``runtime.ui.url`` says which).

Identity on a shared host (:mod:`ipgwsim.runtime.identities`): the runtime registers
itself in the host registry (:mod:`ipgwsim.runtime.registry`) with its state directory,
network mode, UDP port and, as devices are added, their MACs and namespace and link
names. A UDP port on loopback that another running runtime has (unless both share it:
``share_port=True``), or a MAC, namespace or link name another one holds, is refused with
one line naming that runtime's state directory and pid.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from ipgwsim.device import DeviceStatus
from ipgwsim.events import Event
from ipgwsim.flash.faults import CutMode
from ipgwsim.flash.nor import NorFlash
from ipgwsim.hw_profiles import Profile, ProfileError, find_profile
from ipgwsim.runtime.api import Api
from ipgwsim.runtime.apiserver import ControlServer, UiServer
from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.clock import Clock, ScaledClock
from ipgwsim.runtime.connlimit import (
    ConnectionBudget,
    ConnectionLimits,
    quiet_accept_errors,
    raise_open_file_limit,
)
from ipgwsim.runtime.consoletcp import ConsolePorts
from ipgwsim.runtime.deviceflash import DeviceFlashes, StartingConfig, read_starting_config
from ipgwsim.runtime.devicespec import DeviceSpec, format_mac, normalize_mac
from ipgwsim.runtime.errors import (
    RuntimeSetupError,
    UnknownDevice,
    UnknownModel,
    describe_error,
)
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.identities import check_port, claim_identities, release_identities
from ipgwsim.runtime.impair import Impairment, seeded
from ipgwsim.runtime.logins import LoginChecker
from ipgwsim.runtime.loopback import LoopbackNetwork
from ipgwsim.runtime.netns import NamespaceNetwork
from ipgwsim.runtime.network import Network
from ipgwsim.runtime.pcapng import CaptureFile, CaptureFiles
from ipgwsim.runtime.ports import (
    DEFAULT_PORT,
    check_ui_beside_web,
    default_http_port,
    tcp_holder,
)
from ipgwsim.runtime.press import check_hold
from ipgwsim.runtime.registry import Registry, RuntimeEntry
from ipgwsim.runtime.statedir import DeviceRecord, StateDir, default_state_dir
from ipgwsim.runtime.watch import Presses, Watched, Watcher, Watchers

#: Devices :meth:`Runtime.add_many_turning` starts between two turns of the event loop.
ADD_TURN_EVERY = 50


@dataclass
class _Prepared:
    """A device spec checked, its folders chosen: what starting its devices needs."""

    spec: DeviceSpec
    profile: Profile
    config: StartingConfig | None
    impairment: Impairment | None
    captures: list[CaptureFile]
    chosen: list[tuple[DeviceRecord, bool]]


class Runtime:
    """Devices, their state directory, a network and a clock (see the module docstring)."""

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        port: int = DEFAULT_PORT,
        clock: Clock | None = None,
        network: str = "loopback",
        control: bool = True,
        profiles_dir: Path | None = None,
        log: logging.Logger | None = None,
        console_tcp: bool = False,
        console_port_base: int | None = None,
        http_port: int | None = None,
        wall_clock: float | Literal["host"] | None = "host",
        attachment: Attachment | None = None,
        share_port: bool = False,
        registry: Registry | None = None,
        device_rng: Callable[[str], random.Random] | None = None,
        impairment: Impairment | None = None,
        pcap: Path | str | None = None,
        login_executor: Executor | None = None,
        connection_limits: ConnectionLimits | None = None,
        ui: tuple[str, int] | None = None,
        control_socket: Path | None = None,
        worker: bool = False,
        console_pty: bool = True,
    ) -> None:
        if network not in ("loopback", "netns"):
            raise RuntimeSetupError(
                f"network mode {network!r} is not available: use 'loopback' or 'netns'"
            )
        #: The host registry (serial-number blocks, running runtimes).
        self.registry = registry if registry is not None else Registry()
        self.state = StateDir(
            Path(state_dir) if state_dir is not None else default_state_dir(), self.registry
        )
        self.port = port
        #: Whether another runtime may use the same UDP port (on loopback) if it says so too.
        self.share_port = share_port
        #: What the registry holds of this runtime while it runs.
        self.entry: RuntimeEntry | None = None
        #: ``device_rng(device name)``: a device's randomness (its TFTP transfer ports,
        #: password salts); None: from the system. For tests that need to know the ports.
        self.device_rng = device_rng
        self.clock = clock if clock is not None else ScaledClock()
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        self.network = self._network(network, attachment)
        self.profiles_dir = profiles_dir
        #: Whether and where the consoles are served on TCP too (off by default:
        #: docs/runtime.md).
        self.console_ports = ConsolePorts(console_tcp, console_port_base)
        #: Whether each console has a pty (False: the history, TCP and the control API
        #: only, for more devices than ``kernel.pty.max``; docs/runtime.md, *Consoles*).
        self.console_pty = console_pty
        if http_port is None:
            http_port = default_http_port(os.geteuid())
        if not 0 < http_port < 65536:
            raise RuntimeSetupError(f"http_port must be a TCP port (1-65535), not {http_port}")
        #: The TCP port of every device's admin web server.
        self.http_port = http_port
        #: The devices' clock: Unix time at device time 0, or None (no time of day).
        #: ``"host"``: the host's time at the start, running at the clock's speed.
        self.wall_clock = time.time() - self.clock.now() if wall_clock == "host" else wall_clock
        self._want_control = control
        #: Where the control API is served (None: ``<state>/control.sock``); a worker of
        #: ``ipgwsim run --workers`` serves it on a socket of its own, for its parent.
        self._control_socket = control_socket
        #: A worker of ``run --workers`` (:mod:`ipgwsim.runtime.workers`): its parent holds
        #: the state directory's lock and has claimed the devices' identities in the host
        #: registry, so it does neither.
        self._worker = worker
        self._control: ControlServer[Api] | None = None
        #: Where the control API and the front panel are served on TCP too (host, port;
        #: port 0: any free one), or None.
        self._want_ui = ui
        if network == "loopback":
            check_ui_beside_web(ui, http_port)
        #: The UI port's server while the runtime runs (its ``url``, its ``token``).
        self.ui: UiServer[Api] | None = None
        #: The control API's handlers, served on the control socket and the UI port
        #: (made at the start).
        self.api: Api | None = None
        self._hosts: dict[str, DeviceHost] = {}
        self._by_serial: dict[str, DeviceHost] = {}
        #: The devices' flashes: saved ones, factory ones (:mod:`ipgwsim.runtime.deviceflash`).
        self.flashes = DeviceFlashes(self.log)
        self._watchers = Watchers()
        self._listeners: list[Callable[[DeviceHost, Event], None]] = []
        self._web_listeners: list[Callable[[DeviceHost], None]] = []
        #: Futures of timed presses, done when the device reports the release.
        self._presses = Presses()
        self._started = False
        self._stopped = False
        #: The impairment of devices added without one of their own (seeded), or None.
        self.impairment = seeded(impairment)
        #: Where every device's datagrams are recorded (pcapng), or None.
        self.pcap = Path(pcap) if pcap is not None else None
        #: Open capture files by resolved path (the runtime's and those of add_devices).
        self._captures = CaptureFiles(log=self.log)
        #: Makes the password checks of every device's HTTP logins, in ``login_executor``
        #: (None: a small thread pool of the runtime's own; ``runtime/logins.py``).
        self.logins = LoginChecker(login_executor)
        #: Limits on the devices' TCP connections and the web servers' timeouts.
        self.connection_limits = (
            connection_limits if connection_limits is not None else ConnectionLimits()
        )
        #: The devices' TCP connections, counted against those limits (made at the start,
        #: once the open-file limit is raised).
        self.connections: ConnectionBudget | None = None
        self._loud_accept_errors: Callable[[], None] | None = None

    def _network(self, mode: str, attachment: Attachment | None) -> Network:
        if mode == "netns":
            attached = attachment if attachment is not None else Attachment()
            return NamespaceNetwork(
                self.port, attachment=attached, log=self.log, owner=str(self.state.path)
            )
        if attachment is not None:
            raise RuntimeSetupError("an attachment needs the namespace network (netns)")
        return LoopbackNetwork(self.port, log=self.log, share=self.share_port)

    # -- life --------------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Lock the state directory, register in the host registry (refusing what another
        runtime holds), bind the broadcast socket, start the control API."""
        if self._started:
            return
        self._started = True
        raise_open_file_limit()
        self.connections = ConnectionBudget(self.connection_limits, log=self.log)
        loop = asyncio.get_running_loop()
        self._loud_accept_errors = quiet_accept_errors(loop, self.connections.once)
        if not self._worker:
            self.state.lock()
        try:
            with self.registry.locked():
                self.state.hold_serials()
                network = self.network.kind
                entry = self.registry.new_entry(
                    self.state.path, network, self.port, share_port=self.share_port
                )
                check_port(entry, self.registry.running(besides=entry))
                self.registry.register(entry)
                self.entry = entry
            if self.pcap is not None:
                self._captures.open(self.pcap)
            self.network.start()
            self.api = Api(self)
            if self._want_control:
                path = self._control_socket or self.state.control_socket
                self._control = ControlServer(path, self.api)
                await self._control.start()
            if self._want_ui is not None:
                self.ui = UiServer(self, *self._want_ui, self.api)
                await self.ui.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Save, close and release everything; safe to call more than once."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        self._presses.stop()
        if self.ui is not None:
            await self.ui.close()
        if self._control is not None:
            await self._control.close()
        for host in self._hosts.values():
            try:
                host.close()
            except Exception:
                self.log.exception("%s: stopping failed", host.name, extra={"device": host.name})
            self.state.unlink_console(host.record)
        for host in self._hosts.values():
            try:
                await host.wait_closed()
            except Exception:
                self.log.exception(
                    "%s: closing its web server and console ports failed",
                    host.name,
                    extra={"device": host.name},
                )
        self.network.close()
        self.logins.close()
        self._captures.close()
        self._watchers.end()
        self._unregister()
        self.state.unlock()
        if self._loud_accept_errors is not None:
            self._loud_accept_errors()
            self._loud_accept_errors = None

    def _unregister(self) -> None:
        if self.entry is None:
            return
        try:
            with self.registry.locked():
                self.registry.unregister(self.entry)
        except RuntimeSetupError as exc:
            self.log.warning("%s", exc)
        self.entry = None

    # -- state -----------------------------------------------------------------------------

    @property
    def watch_drops(self) -> int:
        """Events dropped because a watcher's queue was full."""
        return self._watchers.drops

    @property
    def running(self) -> bool:
        return self._started and not self._stopped

    def _check_running(self) -> None:
        if not self._started:
            raise RuntimeSetupError("the runtime is not started (use `async with Runtime(...)`)")
        if self._stopped:
            raise RuntimeSetupError("the runtime has stopped")

    # -- devices ---------------------------------------------------------------------------

    def add_devices(
        self,
        profile_name: str,
        count: int = 1,
        *,
        empty_firmware: bool = False,
        impairment: Impairment | None = None,
        pcap: Path | str | None = None,
    ) -> list[DeviceHost]:
        """Start ``count`` devices of a model and power them on.

        Devices of that model already in the state directory (and not running) come
        first, by number, with their saved flash; new ones are made for the rest
        (``empty_firmware``: with an empty firmware region, so they start in TFTP mode).
        ``impairment``: of these devices' links instead of the runtime's (``Impairment()``:
        none); ``pcap``: record these devices' datagrams in that file too.
        """
        if count < 0:
            raise RuntimeSetupError(f"count must not be negative, not {count}")
        if count == 0:
            self._check_running()
            return []
        spec = DeviceSpec(
            profile_name,
            count,
            empty_firmware=empty_firmware,
            impairment=impairment,
            pcap=Path(pcap) if pcap is not None else None,
        )
        return self.add(spec)

    def add(self, spec: DeviceSpec) -> list[DeviceHost]:
        """Start the devices of ``spec`` and power them on (:class:`DeviceSpec`).

        Everything is checked before the first device starts: a name or MAC that another
        device of this runtime has, a folder of another model under the name, a saved
        device whose MAC is not the one asked for, a starting config that does not load.
        """
        return self._add_batch([spec])

    def add_many(self, specs: list[DeviceSpec]) -> list[DeviceHost]:
        """Start the devices of several specs in order (``ipgwsim run IP800:2 IP811:3``).

        Names and MACs that two specs would share are refused before anything starts; a
        spec that fails stops the ones after it (the devices started so far keep running).
        The folders of all specs are chosen and their MACs registered in one turn of the
        host registry's lock (a lab of one spec per device would otherwise read every
        device folder and rewrite its registry entry once per device).
        """
        return self._start_all(*self._prepare_many(specs))

    async def add_many_turning(
        self, specs: list[DeviceSpec], every: int = ADD_TURN_EVERY
    ) -> list[DeviceHost]:
        """:meth:`add_many`, letting the event loop turn after every ``every`` devices started.

        A big fleet takes a while to start; meanwhile the devices started first already
        run: their timers (a poll due a second after the start) and datagrams are served
        between the chunks instead of all at once, late, after the last device. The checks
        and the registration are the same, all before the first device starts.
        """
        if every < 1:
            raise ValueError(f"every must be 1 or more, not {every}")
        prepared, failure = self._prepare_many(specs)
        hosts: list[DeviceHost] = []
        since_turn = 0
        for number, ready in enumerate(prepared):
            if since_turn >= every:
                since_turn = 0
                await asyncio.sleep(0)
                if self._stopped:
                    rest = ready.chosen + _after(prepared, number)
                    self._discard(rest)
                    names = {r.instance.name for r, _ in rest}
                    release_identities(self.registry, self.entry, names, self.log)
                    raise RuntimeSetupError(
                        f"the runtime stopped while devices were added ({len(hosts)} started)"
                    )
            started = self._start_prepared(ready, prepared, number)
            hosts += started
            since_turn += len(started)
        if failure is not None:
            raise failure
        return hosts

    def _prepare_many(
        self, specs: list[DeviceSpec]
    ) -> tuple[list[_Prepared], RuntimeSetupError | None]:
        """The checks of :meth:`add_many` and the preparation of its specs."""
        seen: dict[str, int] = {}
        for index, spec in enumerate(specs):
            for name in spec.names() or []:
                if name in seen:
                    raise RuntimeSetupError(
                        f"{name}: named by device spec {seen[name] + 1} and {index + 1}"
                    )
                seen[name] = index
        return self._prepare_batch(specs)

    def _add_batch(self, specs: list[DeviceSpec]) -> list[DeviceHost]:
        """Prepare the specs in order (up to the first that fails), register them at once,
        start them; then raise the failure, if one stopped the preparation."""
        return self._start_all(*self._prepare_batch(specs))

    def _start_all(
        self, prepared: list[_Prepared], failure: RuntimeSetupError | None
    ) -> list[DeviceHost]:
        """Start the prepared specs in order; then raise ``failure``, if there is one."""
        hosts: list[DeviceHost] = []
        for number, ready in enumerate(prepared):
            hosts += self._start_prepared(ready, prepared, number)
        if failure is not None:
            raise failure
        return hosts

    def _prepare_batch(
        self, specs: list[DeviceSpec]
    ) -> tuple[list[_Prepared], RuntimeSetupError | None]:
        """Prepare the specs in order (up to the first that fails) and register them at
        once; the prepared ones and the failure that stopped the preparation, if any."""
        self._check_running()
        prepared: list[_Prepared] = []
        failure: RuntimeSetupError | None = None
        taken = {host.record.folder for host in self._hosts.values()}
        with self.registry.locked():
            for spec in specs:
                try:
                    ready = self._prepare(spec, taken)
                except RuntimeSetupError as exc:
                    failure = exc
                    break
                prepared.append(ready)
                taken.update(record.folder for record, _ in ready.chosen)
            if prepared:
                chosen = [c for ready in prepared for c in ready.chosen]
                try:
                    assert self.entry is not None
                    if not self._worker:
                        claim_identities(
                            self.registry,
                            self.entry,
                            self.network,
                            [(r, ready.profile) for ready in prepared for r, _ in ready.chosen],
                        )
                except RuntimeSetupError:
                    self._discard(chosen)
                    raise
        return prepared, failure

    def _discard(self, chosen: list[tuple[DeviceRecord, bool]]) -> None:
        """Devices that will not start: a new one leaves no state folder."""
        for record, new in chosen:
            if new:
                shutil.rmtree(record.folder, ignore_errors=True)
        self.state.folders_changed()

    def _prepare(self, spec: DeviceSpec, taken: set[Path]) -> _Prepared:
        """Check ``spec`` and choose (or make) its folders; the registry is locked.
        ``taken``: folders of devices that run or are chosen already."""
        if spec.count < 1:
            raise RuntimeSetupError(f"count must be 1 or more, not {spec.count}")
        self.console_ports.check(spec.console_port)
        if spec.http_port is not None and self.network.kind == "loopback":
            ui = (self.ui.host, self.ui.port) if self.ui is not None else self._want_ui
            check_ui_beside_web(ui, spec.http_port)
        if spec.attachment is not None and not self.network.takes_attachments:
            raise RuntimeSetupError(
                f"attachment {spec.attachment}: attachments need the namespace network (netns)"
            )
        try:
            profile = find_profile(spec.model, self.profiles_dir)
        except KeyError as exc:
            raise UnknownModel(str(exc.args[0])) from None
        except ProfileError as exc:
            raise RuntimeSetupError(str(exc)) from None
        config = read_starting_config(spec.config)
        for mac in spec.macs() or []:
            holder = self._by_serial.get(mac)
            if holder is not None:
                raise RuntimeSetupError(f"MAC {format_mac(mac)} is {holder.name}'s already")
        for name in spec.names() or []:
            if name in self._hosts:
                raise RuntimeSetupError(f"{name}: a device of that name runs already")
        impairment = self.impairment if spec.impairment is None else seeded(spec.impairment)
        captures = self._captures.open(self.pcap, spec.pcap)
        chosen = self.state.choose_records(spec, profile.model, taken)
        return _Prepared(spec, profile, config, impairment, captures, chosen)

    def _start_prepared(
        self, ready: _Prepared, prepared: list[_Prepared], number: int
    ) -> list[DeviceHost]:
        """Start ``ready`` (``prepared[number]``); if a device fails, the rest (and the
        devices of the specs after it) do not start and leave the registry."""
        spec, profile, chosen = ready.spec, ready.profile, ready.chosen
        hosts: list[DeviceHost] = []
        for index, (record, new) in enumerate(chosen):
            console = None
            if spec.console_port is not None:
                console = spec.console_port + 2 * index
            try:
                flash, saved = self.flashes.flash_for(
                    record, profile, new=new, firmware=not spec.empty_firmware, config=ready.config
                )
                host = self._start_device(
                    record,
                    profile,
                    flash,
                    saved=saved,
                    http_port=spec.http_port,
                    console_port=console,
                    attachment=spec.attachment,
                    impairment=ready.impairment,
                    captures=ready.captures,
                )
            except RuntimeSetupError:
                rest = chosen[index:] + _after(prepared, number)
                self._discard(rest)
                names = {r.instance.name for r, _ in rest}
                release_identities(self.registry, self.entry, names, self.log)
                raise
            hosts.append(host)
        return hosts

    def _start_device(
        self,
        record: DeviceRecord,
        profile: Profile,
        flash: NorFlash,
        *,
        saved: bool,
        http_port: int | None = None,
        console_port: int | None = None,
        attachment: Attachment | None = None,
        impairment: Impairment | None = None,
        captures: list[CaptureFile] | None = None,
    ) -> DeviceHost:
        host = DeviceHost(
            record,
            profile,
            flash,
            clock=self.clock,
            network=self.network,
            port=self.port,
            http_port=self.http_port if http_port is None else http_port,
            on_event=self._device_event,
            log=self.log,
            saved=saved,
            wall_clock=self.wall_clock,
            attachment=attachment,
            rng=self.device_rng(record.instance.name) if self.device_rng is not None else None,
            impairment=impairment,
            logins=self.logins,
            connections=self.connections,
            console_pty=self.console_pty,
        )
        host.on_web = self._web_changed
        for capture in captures or []:
            host.link.capture(capture)
        if self.console_ports.enabled:
            self._serve_console(host, console_port)
        self._hosts[host.name] = host
        self._by_serial[record.instance.serial] = host
        self.state.link_console(record, host.console.path)
        host.power(True)
        return host

    def _serve_console(self, host: DeviceHost, port: int | None = None) -> None:
        """Bind the console's raw and RFC 2217 ports (:class:`ConsolePorts`)."""
        try:
            raw, rfc = self.console_ports.next(host.name, port)
            host.serve_console_tcp(raw, rfc)
        except RuntimeSetupError:
            host.console.close()
            raise
        except OSError as exc:
            host.console.close()
            held = ""
            if exc.errno == errno.EADDRINUSE:
                for taken in (raw, rfc):
                    holder = tcp_holder("127.0.0.1", taken) if taken else None
                    if holder is not None:
                        held = f" (port {taken} is in use by {holder})"
                        break
            raise RuntimeSetupError(
                f"{host.name}: cannot listen for the console on 127.0.0.1 "
                f"(ports {raw or 'any'}/{rfc or 'any'}): {describe_error(exc)}{held}"
            ) from None

    @property
    def devices(self) -> list[DeviceHost]:
        """The running devices, in the order they were added."""
        return list(self._hosts.values())

    def device(self, name_or_mac: str) -> DeviceHost:
        """A device by its name (``ip6000-1``) or its MAC in any common spelling."""
        key = name_or_mac.strip()
        host = self._hosts.get(key) or self._hosts.get(key.lower())
        if host is not None:
            return host
        mac = normalize_mac(key)
        if mac is not None and mac in self._by_serial:
            return self._by_serial[mac]
        names = list(self._hosts)
        shown = ", ".join(names[:10]) + (f", ... ({len(names)} in all)" if len(names) > 10 else "")
        raise UnknownDevice(
            f"no device {name_or_mac!r} in this runtime (devices: {shown or 'none'})"
        )

    @property
    def errors(self) -> list[str]:
        """Problems the devices' hosts reported, as ``name: text``."""
        return [f"{host.name}: {text}" for host in self._hosts.values() for text in host.errors]

    # -- what a person does ----------------------------------------------------------------

    def press(self, name: str, hold: float) -> asyncio.Future[None]:
        """Press the reset button now; the device lets it go ``hold`` device seconds later.

        Returns a future that is done once the button is released (and the boot code
        has acted on it), or at once when the device does not read the button now
        (off, programming, clearing). A hold above :data:`MAX_HOLD` is refused.
        """
        self._check_running()
        check_hold(hold)
        host = self.device(name)
        host.press(hold=hold)
        return self._presses.add(host, waits=host.device.boot.button is not None)

    def power(self, name: str, on: bool) -> DeviceHost:
        """Switch a device's power on or off."""
        self._check_running()
        host = self.device(name)
        host.power(on)
        return host

    def cut(self, name: str, at_op: int, mode: CutMode | str = CutMode.TORN) -> int:
        """Cut a device's power during its ``at_op``-th flash operation from now.

        Returns the absolute operation number. ``mode``: ``torn`` (part of the
        operation lands) or ``atomic`` (none of it does).
        """
        self._check_running()
        host = self.device(name)
        if isinstance(mode, str):
            try:
                mode = CutMode(mode.lower())
            except ValueError:
                raise RuntimeSetupError(
                    f"cut mode must be 'torn' or 'atomic', not {mode!r}"
                ) from None
        if at_op < 1:
            raise RuntimeSetupError(f"the cut must be at flash operation 1 or later, not {at_op}")
        return host.cut(at_op, mode)

    def impair(self, name: str, impairment: Impairment | None) -> DeviceHost:
        """Impair a device's link from now on (None, or ``Impairment()``: no impairment).

        Without a seed the impairment gets one (see :attr:`DeviceHost.link`'s impairment).
        """
        self._check_running()
        host = self.device(name)
        host.impair(seeded(impairment))
        return host

    @property
    def captures(self) -> list[CaptureFile]:
        """The capture files open (the runtime's first)."""
        return self._captures.files

    def status(self) -> list[DeviceStatus]:
        return [host.status() for host in self._hosts.values()]

    # -- watching --------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[DeviceHost, Event], None]) -> None:
        """Call ``listener(host, event)`` for every event of every device, as it happens.

        It runs inside the device's step: to act on a device, schedule the action
        (``loop.call_soon``) rather than calling it there.
        """
        self._listeners.append(listener)

    def subscribe_web(self, listener: Callable[[DeviceHost], None]) -> None:
        """Call ``listener(host)`` when a device's web server started listening
        (``host.web_url``) or could not (``host.web_error``)."""
        self._web_listeners.append(listener)

    def _web_changed(self, host: DeviceHost) -> None:
        for listener in self._web_listeners:
            listener(host)

    def _device_event(self, host: DeviceHost, event: Event) -> None:
        for listener in self._listeners:
            listener(host, event)
        self._presses.event(host, event)
        self._watchers.send(host.name, event, self.clock.now())

    def watch_timed(self, device: str | None = None) -> Watcher[Watched]:
        """Like :meth:`watch`, with the device time of each event."""
        self._check_running()
        only = self.device(device).name if device is not None else None
        return self._watchers.watch(only, timed=True)

    def watch(self, device: str | None = None) -> Watcher[tuple[str, Event]]:
        """``(device name, event)`` for every LED, mode, blink and power-off event.

        Subscribes at once (events from the call on are kept), so a caller can
        watch, act, then read. Iterate with ``async for``; it ends when the runtime
        stops or :meth:`Watcher.close` is called (``with rt.watch() as w:``).
        """
        self._check_running()
        only = self.device(device).name if device is not None else None
        return self._watchers.watch(only, timed=False)


def _after(prepared: list[_Prepared], number: int) -> list[tuple[DeviceRecord, bool]]:
    """The devices of the specs after ``prepared[number]``: made only when they will not
    start (made for every spec, a lab of one spec per device took quadratic time)."""
    return [c for r in prepared[number + 1 :] for c in r.chosen]

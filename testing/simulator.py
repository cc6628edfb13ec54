"""Simulated gateways on real sockets, driven from plain (synchronous) Python.

:class:`Simulator` runs a :class:`~ipgwsim.runtime.Runtime` on an event loop of its own,
in a background thread, so that a test or a script calls ordinary methods and runs real
tools (``subprocess.run(["tftp", ...])``, curl, pyserial, sipp) while the devices serve::

    from ipgwsim.events import Mode
    from ipgwsim.testing.simulator import Simulator

    with Simulator() as sim:  # loopback, virtual time, a temporary state directory
        gw = sim.add("IP6000")  # powered on; a Gateway
        gw.wait_for(Mode.FIRMWARE)
        gw.press(1.8)  # the press of Howto:Config or Password Recovery: TFTP mode, config kept
        assert gw.mode is Mode.TFTP_MODE

Time
    ``speed=None`` (the default): virtual time. Device time moves only inside
    :meth:`Gateway.press`, :meth:`Gateway.wait_for` and :meth:`Simulator.advance`; a 15 s
    press returns at once. Packets from outside tools are answered as they come, at the
    current device time. ``speed=10.0``: device time runs ten times faster than real time
    (``1.0``: as fast), for tools that wait on the device by the clock themselves.

Networks
    ``network="loopback"`` (no root): devices on 127.0.0.0/8; a firmware address
    a.b.c.d is served as 127.b.c.d (:attr:`Gateway.address`); TFTP mode and gwload use
    :attr:`Simulator.port`, the web servers :attr:`Simulator.http_port`: unless given,
    ports reserved for the simulator until it closes, which no other simulator or test
    run on the host can get meanwhile (:func:`~ipgwsim.testing.loopback.reserved_ports`).
    ``network="netns"`` (root): each device in a network namespace of its own with its
    real addresses. Without ``attach`` the simulator makes a lab namespace
    (:attr:`Simulator.lab`, a name unique on the host) with a bridge ``lab0`` carrying
    ``lab_address`` (default ``192.168.0.254/24``), puts every device's link on that
    bridge (one segment), and :meth:`Simulator.run` runs tools there. ``attach``
    (``host``, ``netns:NAME``, ``bridge:BR[@NS]``, ``macvlan:NIC[@NS]``) puts the links
    where you say instead, as ``ipgwsim run --netns --attach`` does.

Impaired links and captures
    ``impairment=Impairment(loss=30, seed=7)`` impairs every device's link (``add(...,
    impairment=...)`` one device's, :meth:`Gateway.impair` from now on; :attr:`Gateway.counters`
    has the counters); ``pcap=path`` records every device's datagrams as pcapng
    (``add(..., pcap=...)`` one device's in a file of its own). ``docs/runtime.md``.

Shutdown
    :meth:`Simulator.close` (also at the end of ``with``, and when a test fails): saves
    and closes every device, stops the loop and its thread, removes the namespaces it
    made and, when it made it, the state directory. Nothing is left behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import math
import os
import shutil
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from pyroute2 import IPRoute, netns

from ipgwsim.events import Event
from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.clock import Clock, ManualClock, ScaledClock
from ipgwsim.runtime.devicespec import DeviceSpec
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.labfile import check_lab, load_lab
from ipgwsim.runtime.ports import DEFAULT_PORT, parse_ui
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.gateway import Gateway, WaitTimeout
from ipgwsim.testing.loopback import reserved_ports
from ipgwsim.testing.netns import add_bridge, lab_namespace, netlink, root
from ipgwsim.testing.programs import program_argv
from ipgwsim.tools.gwload_where import BCAST_ENV, PORT_ENV, STATE_ENV

__all__ = ["Gateway", "Simulator", "WaitTimeout"]

T = TypeVar("T")

#: The lab bridge's name and default address in namespace mode.
LAB_BRIDGE = "lab0"
LAB_ADDRESS = "192.168.0.254/24"
#: Events kept per gateway for :meth:`Gateway.events`.
EVENT_HISTORY = 100_000


class Simulator:
    """Devices on a real network, run by a loop in a background thread (module docstring).

    ``state_dir``: where the devices' flash and consoles live (default: a temporary
    directory removed at :meth:`close`). ``timeout``: real seconds any one call may take
    before it raises ``TimeoutError`` (beyond the device time it was asked to wait).
    ``console_tcp``: serve the consoles on TCP too (:attr:`Gateway.console_url`).
    ``ui``: ``[HOST:]PORT`` (``"0"``: any free port on 127.0.0.1) where the control API
    and the front panel are served, as ``ipgwsim run --ui`` does (:attr:`ui_url`).
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        network: str = "loopback",
        speed: float | None = None,
        attach: str | None = None,
        port: int | None = None,
        http_port: int | None = None,
        lab_address: str = LAB_ADDRESS,
        profiles_dir: Path | str | None = None,
        timeout: float = 30.0,
        impairment: Impairment | None = None,
        pcap: Path | str | None = None,
        console_tcp: bool = False,
        ui: str | None = None,
    ) -> None:
        ui_address = parse_ui(ui) if ui is not None else None
        lab_interface = _check_options(network, speed, attach, lab_address)
        self.network = network
        self.speed = speed
        self.timeout = timeout
        self.clock: Clock = ManualClock() if speed is None else ScaledClock(speed)
        self._cleanup: contextlib.ExitStack = contextlib.ExitStack()
        self._gateways: list[Gateway] = []
        #: ``(device time, event)`` per device, as they happen (on the loop's thread).
        self._history: dict[DeviceHost, deque[tuple[float, Event]]] = {}
        #: The devices' namespaces (namespace mode), to check that close() removed them.
        self._namespaces: list[str] = []
        self._closed = False
        #: The lab namespace this simulator made (namespace mode without ``attach``).
        self.lab: str | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ipgwsim-simulator", daemon=True
        )
        try:
            self._made_state_dir = state_dir is None
            if state_dir is None:
                made = Path(tempfile.mkdtemp(prefix="ipgwsim-"))
                self._cleanup.callback(shutil.rmtree, made, ignore_errors=True)
                state_dir = made
            self.state_dir = Path(state_dir)
            attachment = Attachment.parse(attach) if attach is not None else None
            if network == "netns" and attachment is None:
                # Named like the runtime's own (ipgwsim-<pid>-lab<n>-<random>), so
                # `ipgwsim cleanup` removes it too if this process is killed.
                self.lab = self._cleanup.enter_context(lab_namespace())
                self._lab_bridge(self.lab, lab_interface)
                attachment = Attachment("bridge", LAB_BRIDGE, self.lab)
            #: The UDP port of TFTP mode and gwload (69 in namespaces).
            if port is None:
                port = DEFAULT_PORT if network == "netns" else self._reserve("udp")
            self.port = port
            if http_port is None and network == "loopback":
                http_port = self._reserve("tcp")
            self._thread.start()
            self.runtime: Runtime = self._call(
                lambda: Runtime(
                    self.state_dir,
                    port=self.port,
                    clock=self.clock,
                    network=network,
                    attachment=attachment,
                    control=False,
                    http_port=http_port,
                    profiles_dir=Path(profiles_dir) if profiles_dir is not None else None,
                    impairment=impairment,
                    pcap=pcap,
                    console_tcp=console_tcp,
                    ui=ui_address,
                )
            )
            self._changed: asyncio.Event = self._call(asyncio.Event)
            #: Held while virtual time moves: one advance at a time, from any thread.
            self._time: asyncio.Lock = self._call(asyncio.Lock)
            self._await(self.runtime.start)
            self._call(lambda: self.runtime.subscribe(self._on_event))
        except BaseException:
            self._shutdown()
            raise
        #: The TCP port of every device's admin web server.
        self.http_port = self.runtime.http_port
        #: Where the front panel and the control API are served (``ui``), or None.
        self.ui_url = self.runtime.ui.url if self.runtime.ui is not None else None

    def _moving_time(self) -> contextlib.AbstractAsyncContextManager[object]:
        """What a call that lets device time pass holds meanwhile: in virtual time such
        calls take turns (their times add up); a real clock moves by itself, and a press
        may come while another thread waits."""
        return self._time if self.speed is None else contextlib.nullcontext()

    def _reserve(self, kind: Literal["udp", "tcp"]) -> int:
        """A port reserved until :meth:`close` (the holder never meets the runtime's own
        sockets: it sits on 127.0.0.0)."""
        (port,) = self._cleanup.enter_context(reserved_ports(kind))
        return port

    @staticmethod
    def _lab_bridge(lab: str, address: ipaddress.IPv4Interface) -> None:
        add_bridge(lab, LAB_BRIDGE)

        def up() -> None:
            with IPRoute(netns=lab) as ns:
                (index,) = ns.link_lookup(ifname=LAB_BRIDGE)
                ns.addr(
                    "add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen
                )
                ns.link("set", index=index, state="up")
                # The lab is a PC whose one NIC is on the segment: broadcasts to
                # 255.255.255.255 (gwload's default) leave through the bridge.
                ns.route("add", dst="0.0.0.0/0", oif=index)

        netlink(up)

    # -- running things on the loop ------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeSetupError("the simulator is closed")

    def _await(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float | None = None) -> T:
        """Run ``make()`` on the loop and wait for it (``timeout`` real seconds)."""
        self._check_open()
        if threading.current_thread() is self._thread:
            raise RuntimeSetupError("Simulator methods cannot be called from its own loop")
        limit = self.timeout if timeout is None else timeout

        async def limited() -> T:
            return await asyncio.wait_for(make(), limit)

        future = asyncio.run_coroutine_threadsafe(limited(), self._loop)
        try:
            # The margin lets wait_for's own timeout answer first.
            return future.result(limit + 5.0)
        except concurrent.futures.CancelledError:
            raise RuntimeSetupError("the simulator was closed during the call") from None

    def _call(self, function: Callable[[], T]) -> T:
        """Run ``function()`` on the loop (where the devices live) and return its result."""

        async def call() -> T:
            return function()

        return self._await(call)

    def _on_event(self, host: DeviceHost, event: Event) -> None:
        # Kept by host: a device's first events come while add_devices() still runs.
        history = self._history.get(host)
        if history is None:
            history = self._history[host] = deque(maxlen=EVENT_HISTORY)
        history.append((self.clock.now(), event))
        self._changed.set()

    # -- what a test does ----------------------------------------------------------------

    def add(
        self,
        model: str,
        *,
        empty_firmware: bool = False,
        name: str | None = None,
        mac: str | None = None,
        config: Path | str | None = None,
        impairment: Impairment | None = None,
        pcap: Path | str | None = None,
    ) -> Gateway:
        """A device of ``model`` (a profile name such as ``IP6000``), powered on.

        A device of that model saved in the state directory (and not running) comes
        first, with its flash; otherwise a new one. ``empty_firmware``: a new one has no
        firmware in its flash (it starts in TFTP mode). ``name`` and ``mac`` make it that
        device (a saved one of that name is taken); ``config``: a new device starts from
        this saved ``cfg.txt`` or config ring dump. ``impairment``: of its link instead
        of the simulator's (``Impairment()``: none); ``pcap``: its datagrams in that file too.
        """
        (gateway,) = self.add_many(
            model,
            1,
            empty_firmware=empty_firmware,
            name=name,
            mac=mac,
            config=config,
            impairment=impairment,
            pcap=pcap,
        )
        return gateway

    def add_many(
        self,
        model: str,
        count: int,
        *,
        empty_firmware: bool = False,
        name: str | None = None,
        mac: str | None = None,
        config: Path | str | None = None,
        impairment: Impairment | None = None,
        pcap: Path | str | None = None,
    ) -> list[Gateway]:
        """``count`` devices of ``model`` (as :meth:`add`) on the same segment, powered on.

        With ``name`` they are ``name-1`` .. ``name-N``; with ``mac`` their MACs follow it.
        """
        if count < 1:
            raise RuntimeSetupError(f"count must be 1 or more, not {count}")
        spec = DeviceSpec(
            model,
            count,
            name=name,
            mac=mac,
            config=Path(config) if config is not None else None,
            empty_firmware=empty_firmware,
            impairment=impairment,
            pcap=Path(pcap) if pcap is not None else None,
        )
        return self.add_specs([spec])

    def add_lab(self, path: Path | str) -> list[Gateway]:
        """The devices of a lab file (``docs/lab-file.md``), checked as ``ipgwsim lab check``
        checks it. Its ``[runtime]`` table is not applied: the simulator's own options are."""
        lab = load_lab(Path(path))
        check_lab(lab)
        return self.add_specs(list(lab.devices))

    def add_specs(self, specs: list[DeviceSpec]) -> list[Gateway]:
        """The devices of several :class:`~ipgwsim.runtime.devicespec.DeviceSpec`, in order."""
        self._check_open()
        hosts = self._call(lambda: self.runtime.add_many(specs))
        gateways = [Gateway(self, host) for host in hosts]
        self._gateways.extend(gateways)
        network = self.runtime.network
        spaces = self._call(lambda: [network.namespace_of(host) for host in hosts])
        self._namespaces.extend(space for space in spaces if space is not None)
        return gateways

    @property
    def gateways(self) -> list[Gateway]:
        return list(self._gateways)

    def now(self) -> float:
        """The device time (seconds since the simulator started)."""
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        """Move virtual time forward, firing every device timer due on the way."""
        if self.speed is not None:
            raise RuntimeSetupError("advance() is for virtual time (speed=None)")
        self.elapse(seconds)

    def elapse(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass: in virtual time at once, the device timers
        due on the way firing; in scaled time by waiting for it."""
        self._check_open()
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise RuntimeSetupError(f"seconds must be 0 or more, not {seconds!r}")
        clock = self.clock

        async def elapse() -> None:
            async with self._moving_time():
                await clock.elapse(seconds)

        self._await(elapse, self.timeout + clock.real_seconds(seconds))

    def run(
        self, *command: str, timeout: float | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a program where the devices are reachable: in :attr:`lab` in namespace
        mode without ``attach``, else here. Its stdout and stderr come back together.

        ``gwload`` and ``ipgwsim`` are the ones installed with this ipgwsim, found next to
        the interpreter (or run as its modules), whatever ``PATH`` says
        (:func:`~ipgwsim.testing.programs.program_argv`); other names are looked up on
        ``PATH``.

        The program's environment is this process's, but for gwload's settings: its
        port and broadcast (``IPGWSIM_GWLOAD_PORT``, ``IPGWSIM_GWLOAD_BCAST``) are this
        simulator's, and ``IPGWSIM_STATE`` is removed (it names another runtime, and a
        simulator has no control socket), so that values exported in the user's shell
        never send a gwload run here elsewhere; ``/port`` and ``/bcast`` still win."""
        self._check_open()
        argv: list[str] = program_argv(command)
        if self.lab is not None:
            argv = ["ip", "netns", "exec", self.lab, *argv]
        env = dict(os.environ)
        env.pop(STATE_ENV, None)
        env[PORT_ENV] = str(self.port)
        env[BCAST_ENV] = self.runtime.network.broadcast
        return subprocess.run(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=self.timeout if timeout is None else timeout,
            check=check,
        )

    @property
    def errors(self) -> list[str]:
        """Problems the devices' hosts met (an address that could not be served, ...)."""
        return self._call(lambda: self.runtime.errors)

    # -- shutdown ------------------------------------------------------------------------

    def close(self) -> None:
        """Save and close every device, stop the loop, remove what was made; idempotent.

        Calls still waiting in other threads end with :class:`RuntimeSetupError`.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeSetupError(
                "close() cannot run on the simulator's own loop (in a listener or an "
                "until() callback's loop call); call it from your own code"
            )
        if self._closed:
            return
        self._closed = True
        self._shutdown()

    def _shutdown(self) -> None:
        problem: BaseException | None = None
        try:
            if self._thread.is_alive():
                runtime = getattr(self, "runtime", None)
                for step in (runtime.stop if runtime is not None else None, _cancel_others):
                    if step is None:
                        continue
                    try:
                        asyncio.run_coroutine_threadsafe(step(), self._loop).result(self.timeout)
                    except Exception as exc:  # the loop is stopped all the same
                        problem = problem or exc
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(self.timeout)
            if not self._thread.is_alive():
                self._loop.close()
        finally:
            self._closed = True
            self._cleanup.close()
        if problem is not None:
            raise RuntimeSetupError(f"closing the simulator: {problem!r}") from problem

    def leftovers(self) -> list[str]:
        """What :meth:`close` should have removed and did not (empty unless something went
        wrong): the loop's thread, the namespaces the simulator made (the lab and the
        devices'), the state directory when the simulator made it."""
        left = []
        if self._thread.is_alive():
            left.append(f"thread {self._thread.name} still runs")
        if self.lab is not None or self._namespaces:
            existing = set(netns.listnetns())
            for space in [*([self.lab] if self.lab else []), *self._namespaces]:
                if space in existing:
                    left.append(f"namespace {space}")
        if self._made_state_dir and self.state_dir.exists():
            left.append(f"state directory {self.state_dir}")
        return left

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        time = "virtual" if self.speed is None else f"x{self.speed:g}"
        return f"Simulator({self.network}, {time} time, {len(self._gateways)} gateways)"


def _check_options(
    network: str, speed: float | None, attach: str | None, lab_address: str
) -> ipaddress.IPv4Interface:
    """Refuse options that cannot work, saying why; the lab address."""
    if network not in ("loopback", "netns"):
        raise RuntimeSetupError(f"network {network!r} is not available: use 'loopback' or 'netns'")
    if speed is not None and not (speed > 0 and math.isfinite(speed)):
        raise RuntimeSetupError(f"speed must be a positive number or None, not {speed!r}")
    if attach is not None and network != "netns":
        raise RuntimeSetupError("attach needs network='netns'")
    if network == "netns" and not root():
        raise RuntimeSetupError("network='netns' needs root and /dev/net/tun")
    try:
        lab_interface = ipaddress.IPv4Interface(lab_address)
    except ValueError:
        raise RuntimeSetupError(
            f"lab_address must be an IPv4 address with a prefix such as "
            f"192.168.0.254/24, not {lab_address!r}"
        ) from None
    return lab_interface


async def _cancel_others() -> None:
    """Cancel every other task of the running loop and wait until they have ended."""
    me = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not me]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)

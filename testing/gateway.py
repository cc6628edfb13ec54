"""One simulated device of a :class:`~ipgwsim.testing.simulator.Simulator`: a :class:`Gateway`.

A gateway is what a test holds of a device: its identity and state, what a person does
to it (press, power, type on the console, configure) and :meth:`Gateway.wait_for`, which
lets the simulator's device time run until the device is where the test wants it (or says
what it did instead: :class:`WaitTimeout`). Every call goes to the simulator's event loop,
so every method is safe from any thread.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ipgwsim.device import DeviceStatus
from ipgwsim.events import Event, Led, Mode
from ipgwsim.firmware.console import SessionState
from ipgwsim.flash.faults import CutMode
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.impair import Impairment, LinkCounters

if TYPE_CHECKING:
    from ipgwsim.testing.simulator import Simulator

__all__ = ["Gateway", "WaitTimeout"]

E = TypeVar("E")


class WaitTimeout(TimeoutError):
    """:meth:`Gateway.wait_for` gave up; the message says what the device was doing."""


class Gateway:
    """One simulated device of a :class:`Simulator`; every method is safe from any thread."""

    def __init__(self, sim: Simulator, host: DeviceHost) -> None:
        self.sim = sim
        self.host = host

    def __repr__(self) -> str:
        return f"Gateway({self.name!r}, {self.model})"

    # -- identity ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def mac(self) -> str:
        """``00:90:33:10:00:01`` (unique on the host: the host registry hands them out)."""
        return self.host.mac

    @property
    def link_name(self) -> str | None:
        """In namespaces, the host-side name of ETH0's link (``ip811-100001``; ETH1's has
        ``.1`` added), else None."""
        return self.host.link_name

    @property
    def model(self) -> str:
        return self.host.profile.model

    @property
    def console_path(self) -> str:
        """The console's pty (for pyserial: ``serial.Serial(gw.console_path)``)."""
        path = self.host.console.path
        if path is None:
            raise RuntimeError(f"{self.host.name} has no pty: its runtime runs without them")
        return path

    @property
    def console_url(self) -> str | None:
        """The console as a pyserial URL (``socket://127.0.0.1:PORT``), or None unless the
        simulator serves the consoles on TCP (``Simulator(console_tcp=True)``). Each
        connection has a login session of its own, not the one of :meth:`login`."""
        tcp = self.host.console_tcp
        return None if tcp is None else f"socket://127.0.0.1:{tcp.raw_port}"

    # -- state ---------------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        return self.sim._call(self.host.status)

    @property
    def mode(self) -> Mode:
        return self.status().mode

    @property
    def led(self) -> Led:
        return self.status().led

    @property
    def ip(self) -> str | None:
        """The device's own address (TFTP mode or firmware), or None."""
        return self.status().ip

    @property
    def address(self) -> str | None:
        """Where tools on this host (or in the lab) reach :attr:`ip` (loopback: 127.b.c.d)."""
        ip = self.ip
        return None if ip is None else self.host.network.capabilities.served(ip)

    @property
    def url(self) -> str | None:
        """The admin web server's base URL (no ``/`` at the end) once it listens, else None."""
        server = self.sim._await(self.host.web_settled)
        if server is None:
            return None
        return f"http://{server.ip}" + ("" if server.port == 80 else f":{server.port}")

    @property
    def impairment(self) -> Impairment | None:
        """The impairment of the device's link (with its seed), or None."""
        return self.sim._call(lambda: self.host.link.impairment)

    @property
    def counters(self) -> LinkCounters:
        """What the link did so far: datagrams sent and received, dropped, duplicated, ..."""
        return self.sim._call(self.host.link.counters)

    def impair(self, impairment: Impairment | str | None) -> Impairment | None:
        """Impair the device's link from now on (None or ``"off"``: no impairment).

        Takes an :class:`Impairment` or its text form (``"loss=30%,seed=7"``); returns
        the impairment in force, with its seed.
        """
        if isinstance(impairment, str):
            impairment = Impairment.parse(impairment)
        chosen = impairment
        self.sim._call(lambda: self.sim.runtime.impair(self.name, chosen))
        return self.impairment

    def of_type(self, kind: type[E]) -> list[E]:
        """The device's events of one kind so far, in order (as ``DeviceNode.of_type``)."""
        return [event for _, event in self.timed_events() if isinstance(event, kind)]

    def timed_events(self) -> list[tuple[float, Event]]:
        """``(device time, event)`` for every event so far (LEDs, modes, blinks, ...)."""
        return self.sim._call(lambda: list(self.sim._history.get(self.host, ())))

    def console_lines(self, count: int | None = None) -> list[str]:
        """The last console lines (``[  12.345] text``), all that are kept by default."""
        console = self.host.console
        return self.sim._call(lambda: console.tail() if count is None else console.tail(count))

    def newest_config(self) -> str | None:
        """The newest config text in the flash's ring (None: the ring is empty)."""

        def read() -> str | None:
            partition = PartitionTable(self.host.flash, self.host.profile)["config"]
            return ConfigRing(partition).newest_text()

        return self.sim._call(read)

    # -- what a person does --------------------------------------------------------------

    def press(self, hold: float) -> None:
        """Hold the reset button ``hold`` device seconds; returns after the release.

        1.8 s is the TFTP-mode press of Howto:Config or Password Recovery; the profile says
        where short, medium and long presses end (``ipgwsim profiles``).
        """
        sim = self.sim
        clock = sim.clock

        async def press() -> None:
            async with sim._moving_time():
                released = sim.runtime.press(self.name, hold)
                await clock.elapse(hold)
            await released

        sim._await(press, sim.timeout + clock.real_seconds(hold))

    def power_on(self) -> None:
        self.sim._call(lambda: self.sim.runtime.power(self.name, True))

    def power_off(self) -> None:
        self.sim._call(lambda: self.sim.runtime.power(self.name, False))

    def power_cycle(self, off_for: float = 0.0) -> None:
        """Power off, wait ``off_for`` device seconds, power on."""
        if not (off_for >= 0 and math.isfinite(off_for)):
            raise RuntimeSetupError(f"off_for must be 0 or more seconds, not {off_for!r}")
        self.power_off()
        if off_for > 0:
            self.sim.elapse(off_for)
        self.power_on()

    def cut_power(self, at_op: int = 1, mode: CutMode | str = CutMode.TORN) -> int:
        """Cut the power during the ``at_op``-th flash operation from now.

        ``torn``: part of that operation lands; ``atomic``: none of it. Returns the
        absolute operation number. The device stays off until :meth:`power_on`.
        """
        return self.sim._call(lambda: self.sim.runtime.cut(self.name, at_op, mode))

    def type(self, text: str) -> str:
        """Type ``text`` on the console (``\\r`` ends a line); what the console printed back."""
        console = self.host.console

        def feed() -> str:
            out: list[bytes] = []
            console.sinks.append(out.append)
            try:
                console.feed(text.encode("utf-8"))
            finally:
                console.sinks.remove(out.append)
            return b"".join(out).decode("utf-8", "replace")

        return self.sim._call(feed)

    def login(self, user: str, password: str) -> None:
        """Log in on the console (the running firmware's); ``PermissionError`` if refused."""
        state = self._session_state()
        if state is SessionState.COMMAND:
            self.type("logout\r")
        elif state is SessionState.PASSWORD:
            self.type("\r")  # an empty password: back to login:
        out = self.type(f"{user}\r{password}\r")
        if self._session_state() is not SessionState.COMMAND:
            raise PermissionError(f"{self.name}: console login as {user!r} refused: {out!r}")

    def command(self, line: str) -> str:
        """Run one command line on the console (after :meth:`login`); its output."""
        if self._session_state() is not SessionState.COMMAND:
            raise RuntimeSetupError(f"{self.name}: not logged in on the console (use login())")
        out = self.type(line + "\r")
        echo, _, rest = out.partition("\r\n")
        body, _, _prompt = rest.rpartition("\r\n")
        return body if echo == line else out

    def configure(
        self, *lines: str, user: str = "admin", password: str | None = None, restart: bool = True
    ) -> None:
        """What an admin does on the console: log in, run ``lines`` (``config change ...``),
        ``config write``, ``config activate``; with ``restart``, ``reset`` and wait until the
        firmware runs again. ``password``: the profile's factory one unless given.
        :class:`RuntimeSetupError` names a line the firmware refused."""
        if password is None:
            password = self.host.profile.firmware.default_password
        if self._session_state() is not SessionState.COMMAND:
            self.login(user, password)
        for line in (*lines, "config write", "config activate"):
            out = self.command(line)
            if out.startswith("error"):
                raise RuntimeSetupError(f"{self.name}: {line!r} refused: {out.strip()}")
        if restart:
            self.type("reset\r")
            self.wait_for(Mode.FIRMWARE)

    def _session_state(self) -> SessionState | None:
        def state() -> SessionState | None:
            session = self.host.session
            return None if session is None else session.state

        found = self.sim._call(state)
        if found is None:
            raise RuntimeSetupError(f"{self.name}: no firmware runs (mode {self.mode.name})")
        return found

    # -- waiting -------------------------------------------------------------------------

    def wait_for(
        self,
        mode: Mode | None = None,
        *,
        led: Led | None = None,
        until: Callable[[Gateway], bool] | None = None,
        timeout: float = 120.0,
    ) -> None:
        """Wait until the device is in ``mode`` (and shows ``led``, and ``until(gw)`` holds).

        ``timeout`` is in device seconds. In virtual time the device's own timers run, time
        jumping from one to the next, and nothing outside is waited for: run a tool to its
        end first (:meth:`Simulator.run`), then wait; for a tool that runs beside the
        device, use scaled time. :class:`WaitTimeout` says what the device did instead.
        """
        sim = self.sim
        sim._check_open()
        if not (timeout >= 0 and math.isfinite(timeout)):
            raise RuntimeSetupError(f"timeout must be 0 or more device seconds, not {timeout!r}")
        host = self.host
        clock = sim.clock

        def state_holds() -> bool:
            status = host.status()
            return (mode is None or status.mode is mode) and (led is None or status.led is led)

        wanted = ", ".join(
            part
            for part in (
                f"mode {mode.name}" if mode is not None else "",
                f"LED {led.name}" if led is not None else "",
                "until(...)" if until is not None else "",
            )
            if part
        )

        def gave_up() -> WaitTimeout:
            status = host.status()
            return WaitTimeout(
                f"{self.name}: not {wanted or 'there'} after {timeout:g} device seconds "
                f"(mode {status.mode.name}, LED {status.led.name}); console: "
                f"{host.console.tail(3)}"
            )

        async def check() -> bool:
            # The device's state is read here, on the loop; until() may call Gateway
            # methods, which go through the loop: it runs in a worker thread.
            if not state_holds():
                return False
            return until is None or await asyncio.to_thread(until, self)

        async def wait() -> None:
            # Events wake a real clock's wait; its poll covers what has no event (until()).
            async with sim._moving_time():
                if not await clock.run_until(check, timeout, wake=sim._changed):
                    raise gave_up()

        try:
            sim._await(wait, clock.real_seconds(timeout) + sim.timeout)
        except WaitTimeout:
            raise
        except TimeoutError:
            # The real-time limit of the call (a slow until(), a device time that
            # never stops moving): said like a device timeout, with the state.
            status = self.status()
            raise WaitTimeout(
                f"{self.name}: not {wanted or 'there'} within the simulator's real-time "
                f"limit (mode {status.mode.name}, LED {status.led.name})"
            ) from None

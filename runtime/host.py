"""One device in the runtime: the sans-I/O :class:`~ipgwsim.device.Device` and its I/O.

A :class:`DeviceHost` feeds its device datagrams, button presses, power and timer
calls with the device time, and after every input drains the device with the one
drive loop of every sans-I/O node (:class:`~ipgwsim.proto.node.Pump`): **events
first** (ports to bind, console lines, flash saving, watchers), **then** the
datagrams the device wants to send, so that a socket exists before the first
datagram from its address leaves. Then it schedules the device's next deadline
with the clock.

While the device runs its firmware, what is typed on the console goes to a
:class:`~ipgwsim.firmware.ConsoleSession` of that firmware (one per firmware start, made on
``FirmwareStarted``, dropped when the mode leaves FIRMWARE), through :meth:`DeviceHost._step`
like any input; its output goes to the pty raw. A power cut in a command switches the device
off. While no firmware runs it goes to the boot code, which prints its state when a line
ends in TFTP mode, and ignores it otherwise. The console may also be served
on TCP (:meth:`DeviceHost.serve_console_tcp`): each connection is a terminal with a session
of its own (:mod:`ipgwsim.runtime.terminal`) and sees the device's time-stamped lines, never
what the pty or another connection typed or was printed.

Datagrams go through the device's :class:`~ipgwsim.runtime.link.Link` both ways (its
impairment and captures); ports and addresses the device gives up are given up once what
it sent before them has left the link.

Nothing a device does crashes the runtime: a bind failure is written to the
device's console and the runtime's log, and the device learns of it
(:meth:`~ipgwsim.device.Device.port_failed`: TFTP mode at once ends a transfer whose
port could not be bound, with an ERROR to the client); an exception inside the device is
logged with its traceback, shown on the console and kept in :attr:`DeviceHost.errors`.

The host's other jobs are modules of their own, each held by the host: the firmware's
admin web server (:mod:`ipgwsim.runtime.hostweb`), the HTTP requests the firmware makes
(:mod:`ipgwsim.runtime.hostfetch`) and the flash image file
(:mod:`ipgwsim.runtime.hostflash`).
"""

from __future__ import annotations

import errno
import logging
import random
import secrets
from collections.abc import Callable
from pathlib import Path

from ipgwsim.device import Device, DeviceStatus
from ipgwsim.events import (
    AddressAssigned,
    AddressReleased,
    ConsoleOutput,
    Event,
    FetchRequested,
    FirmwareStarted,
    FlashChanged,
    Mode,
    PortClosed,
    PortOpened,
    PoweredOff,
)
from ipgwsim.events.render import describe
from ipgwsim.firmware import ConsoleSession
from ipgwsim.flash.faults import CutMode
from ipgwsim.flash.nor import NorFlash
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.node import Pump
from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.clock import Clock, Timer
from ipgwsim.runtime.connlimit import ConnectionBudget
from ipgwsim.runtime.console import Console
from ipgwsim.runtime.consoleclients import ConsoleClients
from ipgwsim.runtime.consoletcp import ConsoleTcp
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.hostfetch import HostFetches
from ipgwsim.runtime.hostflash import HostFlashFile
from ipgwsim.runtime.hostweb import HostWeb
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.link import Link
from ipgwsim.runtime.logins import LoginChecker
from ipgwsim.runtime.network import Network
from ipgwsim.runtime.statedir import DeviceRecord
from ipgwsim.runtime.terminal import Terminal, Terminals
from ipgwsim.runtime.web import Fetcher, WebServer

#: A deadline that does not move after its timer fired is retried this much later.
STUCK_TIMER_DELAY = 0.001
#: Timers due before one input that the device runs first, at most.
MAX_CATCH_UP = 1000

EventSink = Callable[["DeviceHost", Event], None]


class DeviceHost:
    """One device with its sockets, console, timer and flash file (module docstring)."""

    def __init__(
        self,
        record: DeviceRecord,
        profile: Profile,
        flash: NorFlash,
        *,
        clock: Clock,
        network: Network,
        port: int,
        http_port: int = 80,
        on_event: EventSink | None = None,
        log: logging.Logger | None = None,
        saved: bool = False,
        wall_clock: float | None = None,
        attachment: Attachment | None = None,
        rng: random.Random | None = None,
        impairment: Impairment | None = None,
        logins: LoginChecker | None = None,
        connections: ConnectionBudget | None = None,
        console_pty: bool = True,
    ) -> None:
        self.record = record
        #: Makes the password checks of HTTP logins (the runtime's, shared by its devices;
        #: None: one of the device's own, stopped with it).
        self.logins = logins if logins is not None else LoginChecker()
        self._own_logins = logins is None
        #: Where this device's links go in the namespace network (None: the network's).
        self.attachment = attachment
        self.profile = profile
        self.clock = clock
        self.network = network
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        self._on_event = on_event
        #: The console's TCP listeners (None: not served on TCP).
        self.console_tcp: ConsoleTcp | None = None
        # The device (and, in namespace mode, its namespace and links) before the console:
        # a failure here leaves no pty behind.
        self.device = Device(
            profile,
            flash,
            record.instance,
            port=port,
            address_policy=network.policy_for(self),
            port_policy=network.port_policy(),
            # What the network offers the firmware: DHCP and NetBIOS on real links; on
            # loopback the firmware's addresses are the loopback ones that serve them.
            network=network.capabilities,
            # Salts of the admin credentials and TFTP transfer ports: from the system
            # unless the caller gives the device its randomness (tests).
            # (made on first use from a seed drawn now).
            rng=rng,
            rng_seed=secrets.randbits(64) if rng is None else None,
        )
        #: The device's link layer: impairment, captures (``impair`` sets the impairment).
        self.link = Link(
            record.instance.name,
            clock,
            transmit=self._transmit,
            deliver=self._receive,
            wall_clock=wall_clock,
            description=f"{profile.model} {record.instance.mac_text}",
        )
        self.link.impair(impairment)
        try:
            self.console = Console(clock.now, on_input=self._console_input, pty=console_pty)
        except OSError as exc:
            raise RuntimeSetupError(no_pty_left(record.instance.name, exc)) from None
        #: The pty's terminal and one per TCP connection, each with its own session.
        self.terminals = Terminals(self.console.write_raw, self._type_at)
        #: The console's clients besides the pty: TCP connections, the control API's
        #: WebSockets (each a terminal of its own, counted against ``connections``).
        self.console_clients = ConsoleClients(
            self.terminals.open, budget=connections, device=record.instance.name
        )
        self.console.line_sinks.append(self.console_clients.send_line)
        #: Problems seen: bind failures, save failures, exceptions inside the device.
        self.errors: list[str] = []
        self._timer: Timer | None = None
        self._timer_at: float | None = None
        self._fired_at: float | None = None
        #: False while the armed timer is later than a deadline that did not move
        #: (:data:`STUCK_TIMER_DELAY`): then no datagram takes :meth:`receive_fast`.
        self._fast_ok = True
        #: Datagrams that took the per-datagram path of :meth:`receive_fast`.
        self.fast_datagrams = 0
        #: The flash image file (:mod:`ipgwsim.runtime.hostflash`).
        self.flash_file = HostFlashFile(self, flash, saved=saved)
        #: The one drive loop (:class:`~ipgwsim.proto.node.Pump`): the device's events
        #: to :meth:`_take`, its datagrams to the link, ports it gave up closed after
        #: each round (:meth:`_close_ports`).
        self.pump: Pump[Event] = Pump(
            self.device, send=self.link.send, sink=self._take, settle=self._close_ports
        )
        self._closing: list[Address] = []
        self._pumping = False
        self._last_now = 0.0
        self.closed = False
        self.device.wall_clock = wall_clock
        self.http_port = http_port
        #: The runtime's count of TCP connections (None: the web server counts its own).
        self.connections = connections
        #: The firmware's admin web server (:mod:`ipgwsim.runtime.hostweb`).
        self.admin_web = HostWeb(self)
        #: Called with this host when its web server started or failed to
        #: (:meth:`Runtime.subscribe_web <ipgwsim.runtime.runtime.Runtime.subscribe_web>`).
        self.on_web: Callable[[DeviceHost], None] | None = None
        #: The firmware's fetches (:mod:`ipgwsim.runtime.hostfetch`).
        self.fetches = HostFetches(self)

    def __repr__(self) -> str:
        return f"DeviceHost({self.name!r})"

    # -- identity and status ---------------------------------------------------------

    @property
    def name(self) -> str:
        return self.record.instance.name

    @property
    def mac(self) -> str:
        return self.record.instance.mac_text

    @property
    def link_name(self) -> str | None:
        """The host-side name of ETH0's link in namespace mode (``ip6000-100001``), or None."""
        links = self.network.links_of(self)
        return links[0] if links else None

    def status(self) -> DeviceStatus:
        return self.device.status()

    @property
    def web(self) -> WebServer | None:
        """The firmware's admin web server while its address is served (None: not serving)."""
        return self.admin_web.server

    @property
    def web_url(self) -> str | None:
        """``http://IP:PORT/`` of the web server while it listens, else None."""
        server = self.admin_web.server
        return server.url if server is not None else None

    @property
    def web_error(self) -> str | None:
        """Why the web server of the firmware's address cannot listen (None: no failure)."""
        return self.admin_web.error

    def web_changed(self) -> None:
        """The web server started or failed to: tell :attr:`on_web`."""
        if self.on_web is not None:
            self.on_web(self)

    @property
    def web_ip(self) -> str | None:
        """The loopback address that serves the firmware's ETH0 address."""
        return self.admin_web.ip

    @property
    def fetcher(self) -> Fetcher:
        return self.fetches.fetcher

    async def web_settled(self) -> WebServer | None:
        """Wait until the web server's starts and stops so far are done; the server."""
        return await self.admin_web.settled()

    # -- what a person does ----------------------------------------------------------

    def power(self, on: bool) -> None:
        """Switch the power on or off (nothing happens if it already is)."""
        if on:
            self._step(self.device.power_on)
        else:
            self._step(self.device.power_off)

    def press(self, at: float | None = None, hold: float | None = None) -> float:
        """Press the reset button; returns the device time of it.

        Without ``hold`` it stays pressed until :meth:`release`; with ``hold`` the
        device lets it go that many device seconds later, by its own timer.
        """
        return self._step(lambda now: self.device.press(now, hold), at)

    def catch_up(self) -> float:
        """Let the device's timers due by now fire, as an input does first (to look at
        the device as the next input will find it); returns the device time."""
        return self._step(lambda now: None)

    def release(self, at: float | None = None) -> float:
        """Let the reset button go; the boot code acts on how long it was held.

        ``at``: the device time of the release (a scheduled release that the event
        loop runs a little late still holds the button exactly as long as asked).
        """
        return self._step(self.device.release, at)

    def cut(self, at_op: int, mode: CutMode = CutMode.TORN) -> int:
        """Cut the power during the ``at_op``-th flash operation from now; the absolute op."""
        at = self.device.cut_power_at(at_op, mode)
        self.console.write(f"power cut armed at flash operation {at} ({mode.value})")
        return at

    @property
    def session(self) -> ConsoleSession | None:
        """The pty's login and command line (None: no firmware runs; typed input goes to
        the boot code)."""
        return self.terminals.pty.session

    def serve_console_tcp(self, raw_port: int = 0, rfc2217_port: int = 0) -> ConsoleTcp:
        """Serve the console on TCP too (raw and RFC 2217); :class:`OSError` if binding fails."""
        if self.console_tcp is None:
            self.console_tcp = ConsoleTcp(
                self.console_clients, raw_port=raw_port, rfc2217_port=rfc2217_port
            )
        return self.console_tcp

    def _console_input(self, data: bytes) -> None:
        """What was typed on the pty."""
        self._type_at(self.terminals.pty, data)

    def _type_at(self, terminal: Terminal, data: bytes) -> None:
        """What was typed at ``terminal``: to its console session, else to the boot code."""
        if self.closed:
            return
        session = terminal.session
        if session is None:  # no firmware runs: the boot code hears it (TFTP mode answers)
            self._step(lambda now: self.device.boot_console_input(data, now))
            return

        def action(now: float) -> None:
            if session is not terminal.session or self.device.mode is not Mode.FIRMWARE:
                return  # the firmware stopped (by a timer due before this input), or the
                # connection closed
            output = self.device.console_input(session, data, now)
            if output is None:  # a power cut in a command switched the device off
                terminal.write(session.flush())
                terminal.start(None, greet=False)
                return
            terminal.write(output)

        self._step(action)

    def _follow_firmware(self, event: Event) -> None:
        """Start a console session on each firmware start; end it when the firmware stops.

        The web server goes with the firmware too: each start of a firmware stops the
        one before (the new firmware's address starts it again).
        """
        firmware = self.device.firmware
        if isinstance(event, FirmwareStarted):
            self.admin_web.stop()
        # The prompts follow the firmware's start lines.
        started = isinstance(event, FirmwareStarted) and firmware is not None
        self.terminals.follow(firmware, started=started)
        if firmware is None and self.web_ip is not None:
            self.admin_web.stop()

    # -- the network -------------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        return not self.closed and self.device.accepts(dst)

    def deliver(self, datagram: Datagram) -> None:
        self.link.receive([datagram])

    def deliver_all(self, datagrams: list[Datagram]) -> None:
        """Several datagrams that arrived together: through the link, one step, one pump."""
        self.link.receive(datagrams)

    def receive_fast(
        self,
        data: bytes,
        src: Address,
        dst: Address,
        reply: Callable[[bytes, Address], str | None],
    ) -> bool:
        """The per-datagram path of a datagram to one of the device's unicast ports:
        ``reply(payload, to)`` sends from the socket it came to (``dst``), and returns
        why it could not, or None. False: not taken (deliver it with :meth:`deliver_all`).

        It is taken while the link is :attr:`~ipgwsim.runtime.link.Link.plain` and no
        timer of the device is due by now; the device gets it as from :meth:`deliver_all`
        (the same time, the same step), and what it gives back goes out the same way.
        When all the datagram leads to is datagrams from ``dst`` (a DATA or ACK in the
        middle of a TFTP transfer), they are sent at once with ``reply``, and the pump,
        the link's stages and the full reschedule are skipped: none of them had anything
        to do (:meth:`Device.receive_fast <ipgwsim.device.Device.receive_fast>`).
        Otherwise the device is drained as after any input.
        """
        if self.closed or self._pumping or not self._fast_ok or not self.link.plain:
            return False
        now = max(self.clock.now(), self._last_now)
        timer_at = self._timer_at
        if timer_at is not None and timer_at <= now:
            return False  # a timer is due first: the ordinary step runs it before
        self._last_now = now
        try:
            fast = self.device.receive_fast(data, src, dst, now)
        except Exception as exc:
            self._internal_error(exc)
            fast = None
        if fast is None:
            self.link.passed(1, 0)
            self._drain()
            return True
        out, deadline = fast
        self.link.passed(1, len(out))
        self.fast_datagrams += 1
        for payload, to in out:
            problem = reply(payload, to)
            if problem is not None:
                self._problem(problem)
        # The device's deadline is the transfer's or one at least as late as the armed
        # timer: with the timer armed no later than the transfer's, _reschedule would
        # keep it (it looks again when it fires).
        if deadline is None or timer_at is None or deadline < timer_at:
            self._reschedule()
        return True

    def impair(self, impairment: Impairment | None) -> None:
        """Impair the device's link from now on (None: not at all)."""
        self.link.impair(impairment)

    def _transmit(self, datagram: Datagram) -> None:
        problem = self.network.send(self, datagram)
        if problem is not None:
            self._problem(problem)

    def _receive(self, datagrams: list[Datagram]) -> None:
        if self.closed:
            return
        receive = self.device.receive_datagram

        def action(now: float) -> None:
            for datagram in datagrams:
                receive(datagram, now)

        self._step(action)

    # -- driving the device --------------------------------------------------------------

    def _step(
        self, action: Callable[[float], None], at: float | None = None, *, catch_up: bool = True
    ) -> float:
        """Call ``action(now)`` and pump; device time never goes back for a device.

        ``catch_up``: first let the timers due by then fire at their own times (an input);
        the device's own timer passes False: what is due runs when it runs.
        """
        now = max(self.clock.now() if at is None else at, self._last_now)
        if self.closed:
            return now
        self._last_now = now
        try:
            if catch_up:
                self._catch_up(now)
            action(now)
        except Exception as exc:
            self._internal_error(exc)
        self._drain()
        return now

    def _catch_up(self, now: float) -> None:
        """Let the device's timers due by ``now`` fire first, each at its own time.

        A busy or late event loop may run an input (a release of the button, a
        datagram) before a timer that was due earlier; the device must see them
        in time order, or a 1.8 s press could show fewer than three blinks.
        """
        device = self.device
        for _ in range(MAX_CATCH_UP):
            deadline = device.get_timer()
            if deadline is None or deadline > now:
                return
            device.handle_timer(deadline)
            if device.get_timer() == deadline:
                return  # it did not move: the timer path deals with a stuck deadline

    def _internal_error(self, exc: Exception) -> None:
        text = f"internal error in the device model: {type(exc).__name__}: {describe_error(exc)}"
        self.errors.append(text)
        self.log.exception("%s: %s", self.name, text, extra={"device": self.name})
        self.console.write(text)

    def _problem(self, text: str) -> None:
        """Something the runtime could not do for the device: console and log."""
        self.errors.append(text)
        self.log.warning("%s: %s", self.name, text, extra={"device": self.name})
        self.console.write(text)

    def _drain(self) -> None:
        """Drain the device with its pump (events first, then datagrams, until no event
        comes), then greet the terminals and reschedule.

        Ports the device opens are bound before its datagrams go out; ports it
        closes are closed after them (its last word on a port, e.g. a TFTP
        ERROR that ends a transfer, still leaves from that port).
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            self.pump.flush()
        except Exception as exc:
            self._closing.clear()
            self._internal_error(exc)
        finally:
            self._pumping = False
        self.terminals.greet()
        self._reschedule()

    def _take(self, event: Event) -> None:
        """One event of the device, as the pump drains them."""
        if isinstance(event, PortClosed):
            self._closing.append(event.address)
            self._notify(event)
        elif isinstance(event, PortOpened) and event.address in self._closing:
            self._closing.remove(event.address)  # closed and opened again: open
            self._notify(event)
        else:
            self._handle(event)

    def _close_ports(self) -> None:
        """After a round's datagrams: close the ports the device gave up in it."""
        if not self._closing:
            return
        closing, self._closing = self._closing, []
        for address in closing:
            self._close_port(address)

    def _handle(self, event: Event) -> None:
        self._follow_firmware(event)
        if isinstance(event, ConsoleOutput):
            self.console.write(event.line)
        elif isinstance(event, PortOpened):
            self.link.cancel(("port", event.address))
            problem = self.network.open(self, event.address)
            if problem is not None:
                self._problem(problem)
                # The device learns it at once: a TFTP transfer on that port ends.
                self.device.port_failed(event.address, problem, self._last_now)
        elif isinstance(event, AddressAssigned):
            if self.device.firmware is not None:
                self.admin_web.serve(event)
            else:
                self._assign(event.ip, event.mask, event.gateway)
        elif isinstance(event, FetchRequested):
            self.fetches.start(event.fetch)
        elif isinstance(event, AddressReleased):
            if event.ip == self.web_ip:
                self.admin_web.stop()  # a firmware's address (a DHCP lease) ended
            else:
                self._release(event.ip)
        elif isinstance(event, FlashChanged):
            self.schedule_save()
        line = describe(event)
        if line is not None:
            self.console.write(line)
        if isinstance(event, PoweredOff):
            self.schedule_save()  # a power cut may have torn a write
        self._notify(event)

    def _assign(self, ip: str, mask: str, gateway: str) -> None:
        self.link.cancel(("ip", ip))  # taken again before its release came due
        self.network.assign(self, ip, mask, gateway)

    def _close_port(self, address: Address) -> None:
        self.link.after_sent(("port", address), lambda: self.network.close_port(self, address))

    def _release(self, ip: str) -> None:
        self.link.after_sent(("ip", ip), lambda: self.network.release(self, ip))

    def _notify(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(self, event)

    # -- the clock -----------------------------------------------------------------------

    def _reschedule(self) -> None:
        if self.closed:
            return
        try:
            deadline = self.device.get_timer()
        except Exception as exc:
            self._internal_error(exc)
            return
        self._fast_ok = deadline is None or deadline != self._fired_at
        if not self._fast_ok:
            assert deadline is not None
            # The device did not move its deadline when its timer fired: do not spin.
            deadline = max(deadline, self.clock.now()) + STUCK_TIMER_DELAY
        self._fired_at = None
        if self._timer is not None and self._timer_at is not None:
            if deadline == self._timer_at:
                return
            if deadline is not None and self._timer_at < deadline:
                # The armed timer fires first; it looks at the deadline again then.
                # (A retransmit deadline moves on with every datagram: no timer churn.)
                return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._fired_at, self._timer_at = self._timer_at, None
        # An event loop may run a timer a hair early: the device sees its deadline. One
        # that runs late (the loop was busy, e.g. adding a big fleet) runs at the time it
        # runs, like the timer of a busy device: a poll made now counts from now (its next
        # poll, its fetch's timeout), not from when it was due.
        at = max(self.clock.now(), self._fired_at or 0.0)
        self._step(self.device.handle_timer, at, catch_up=False)

    @property
    def next_deadline(self) -> float | None:
        """When the device's next timer is due (device time), or None."""
        return self._timer_at

    # -- the flash file -------------------------------------------------------------------

    @property
    def flash(self) -> NorFlash:
        return self.device.flash

    @property
    def degraded(self) -> str | None:
        """Why the flash image is behind the flash (a save failed), or None."""
        return self.flash_file.degraded

    @property
    def dirty(self) -> bool:
        """Whether the flash changed since it was last saved (or was never saved)."""
        return self.flash_file.dirty

    def schedule_save(self) -> None:
        """Save the flash soon (at most once per event-loop turn)."""
        self.flash_file.schedule_save()

    def save(self) -> bool:
        """Write the flash image if it changed; False if writing failed (and retried)."""
        return self.flash_file.save()

    async def wait_closed(self) -> None:
        """After :meth:`close`: the web server, the fetches and the console's TCP ports."""
        await self.web_settled()
        await self.fetches.close()
        if self.console_tcp is not None:
            await self.console_tcp.wait_closed()

    def close(self) -> None:
        """Save the flash, close sockets and console (the device is gone, not off)."""
        if self.closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flash_file.close()
        self.closed = True
        self.link.close()
        self.admin_web.close()
        self.network.detach(self)
        if self.console_tcp is not None:
            self.console_tcp.close()  # the runtime awaits its wait_closed()
        self.console_clients.close()
        if self._own_logins:
            self.logins.close()
        self.console.close()


def no_pty_left(name: str, exc: OSError) -> str:
    """The line for a console whose pty cannot be opened (most often: none left)."""
    try:
        limit = Path("/proc/sys/kernel/pty/max").read_text().strip()
    except OSError:
        limit = "unknown"
    # The kernel says ENOSPC ("No space left on device") when every pty is taken.
    reason = "no pty left" if exc.errno == errno.ENOSPC else describe_error(exc)
    return (
        f"{name}: cannot open a pty for its console: {reason} (the kernel allows"
        f" kernel.pty.max = {limit} ptys on this host, for every program): run with"
        " --no-console-pty (lab file: console_pty = false) for consoles without a pty,"
        " reached by --console-tcp and the control API, or raise the limit"
        " (sysctl -w kernel.pty.max=N, as root)"
    )

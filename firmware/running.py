"""The running firmware of one device (sans-I/O, like the boot code).

At start (:class:`Firmware` built on ``FirmwareStarted``) it mounts the config ring and the
vars, loads the newest config generation (the profile's defaults when the ring is empty or the
text does not load) and moves ``CMD0 /user user,password`` into the crypted var ``CMD0/AUTH``
(Howto:Config or Password Recovery: "on the first start of the firmware the user/password
definition is copied from the commandline to a crypted var"). The config then carries no
``/user``; it is written back as a new ring generation. ``config write`` stores a ``/user``
in clear like any line; ``config activate`` copies it into the var (the update-server
script: "config write", "# encrypt it" "config activate", "# remove from visible config").
Commands (console, ``http://ip/!cmd``) run through :meth:`Firmware.execute`
(:mod:`ipgwsim.firmware.commands`).

Two configs are kept: the *active* one (what runs) and the *edited* one (what ``config
change|add|rem`` change, ``config show`` prints and ``config write`` stores).
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterator

from ipgwsim.events import (
    AddressAssigned,
    AddressReleased,
    ConsoleOutput,
    Event,
    FetchRequested,
    FlashChanged,
    ImageProgrammed,
    PortClosed,
    PortOpened,
    ResetRequested,
    StartCause,
)
from ipgwsim.firmware import admin, commands, fullconfig
from ipgwsim.firmware.commands import CommandError, describe_error, execute, mask_secrets
from ipgwsim.firmware.conf import ConfInterface
from ipgwsim.firmware.config import Config, ConfigSyntaxError, ConfigValueError, defaults
from ipgwsim.firmware.context import StoreResult
from ipgwsim.firmware.dhcp import DhcpClient
from ipgwsim.firmware.logins import Logins, PasswordCheck
from ipgwsim.firmware.netbios import NetbiosResponder
from ipgwsim.firmware.services import Service
from ipgwsim.firmware.update import UpdateClient
from ipgwsim.flash.bootslots import running_slot, slot_size, store_boot
from ipgwsim.flash.credentials import (
    AUTH_VAR,
    AdminCredentials,
    CredentialsError,
    load_admin,
    store_admin,
)
from ipgwsim.flash.errors import NO_SPACE_EVENT, FlashError, NoSpace, PowerLost
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.formats import RING_HEADER_SIZE
from ipgwsim.flash.image import ImageError, ImageInfo, ImageKind, verify_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarStore
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.http import Fetch, FetchResult, HttpRequest, HttpResponse
from ipgwsim.proto.net import Address, Datagram, NetworkCapabilities

__all__ = ["DEFAULT_ADMIN", "LOG_LINES", "SALT_SIZE", "Firmware", "StoreResult"]

#: The admin user while no credentials are stored (the password is the profile's default).
DEFAULT_ADMIN = "admin"
#: Bytes of salt of a new credentials record.
SALT_SIZE = 16
#: Lines the firmware's event log keeps (``/log.txt``); older ones are dropped.
LOG_LINES = 1000
#: The serial number of a firmware run without a device (tests of one layer).
NO_SERIAL = "009033000000"
#: Modules whose change needs a restart to take effect (``iresetn``/``resetn`` look at it).
RESTART_MODULES = frozenset({"ETH0", "ETH1", "CMD0", "CONF"})


class Firmware:
    """A firmware image of ``build`` running on a device of ``profile``.

    It never answers gwload (gwload-protocol.md section 2: only the boot code in
    TFTP mode does) and, until it has a configured address, takes no datagrams.

    ``partitions`` is the device's flash; without it the firmware runs on the profile's
    defaults and every command that needs the flash is refused. ``rng`` gives the salts of
    credentials records (or ``rng_seed``: the seed of a ``random.Random`` made on its first
    use, as an idle firmware never draws; without either, the model and build seed it);
    ``now`` is the time of the start. A :class:`~ipgwsim.flash.PowerLost`
    at start or in :meth:`execute` goes up to the caller (the device is off then).
    """

    def __init__(
        self,
        profile: Profile,
        build: str,
        *,
        partitions: PartitionTable | None = None,
        rng: random.Random | None = None,
        rng_seed: int | None = None,
        now: float = 0.0,
        serial: str = NO_SERIAL,
        cause: StartCause = StartCause.POWER_UP,
        wall_clock: float | None = None,
        boot_build: int | None = None,
        fetch_ids: Iterator[int] | None = None,
        network: NetworkCapabilities | None = None,
    ) -> None:
        self.profile = profile
        self.build = build
        self.partitions = partitions
        self._rng = rng
        self._rng_seed: int | str = rng_seed if rng_seed is not None else f"{profile.model} {build}"
        self.started_at = now
        #: Device time of the last input.
        self.now = now
        #: Who may try a password when; credentials that passed (:mod:`.logins`).
        self.logins = Logins()
        #: 12 lower-case hex digits, the ETH0 MAC (``#m`` of update URLs).
        self.serial = serial
        self.cause = cause
        #: What the device's network offers: DHCP (a DHCP client runs for ``/dhcp
        #: client|auto``), NetBIOS, where an address is served (the loopback network's).
        self.network = network if network is not None else NetworkCapabilities()
        #: The build of the boot code that started this firmware (``box_info.xml``).
        self.boot_build = boot_build
        #: Seconds since the Unix epoch at device time 0, or None: no time of day.
        self.wall_clock = wall_clock
        #: ETH0's address ``(ip, mask)`` while it has one (fixed, or the factory address).
        self.address: tuple[str, str] | None = None
        #: Whether a change made since the start needs a restart (``iresetn``, ``resetn``).
        self.reset_required = False
        #: The firmware's event log (``/log.txt``): ``(device time, text)``.
        self.log: deque[tuple[float, str]] = deque(maxlen=LOG_LINES)
        #: Ids of fetches: the device's, so that no firmware takes an answer meant for
        #: the one before it (a late answer after a restart).
        self._fetch_ids = fetch_ids if fetch_ids is not None else itertools.count(1)
        #: Set by a requested reset: nothing more runs, the device restarts.
        self.reset_pending = False
        #: An ``ireset`` waiting for the calls to end (its reason), or None.
        self.idle_reset: str | None = None
        #: The ports its services listen on (the device closes them when it stops).
        self.open_ports: set[Address] = set()
        self.ring: ConfigRing | None = None
        self.vars: VarStore | None = None
        self._flashman: FlashMan | None = None
        #: The config that runs.
        self.active: Config = defaults(profile)
        #: The config that ``config change|add|rem`` change and ``config write`` stores.
        self.edited: Config = self.active.copy()
        self._events: list[Event] = [ConsoleOutput(f"{profile.model} firmware {build} running")]
        if partitions is not None:
            self._start(partitions)
        self._started_config = self.active.copy()
        #: What takes and gives datagrams (the DHCP client, the NetBIOS name service).
        self.services: list[Service] = []
        self._take_address(now)
        if self.network.netbios:
            self.services.append(NetbiosResponder(self))
        if self.active.get("CONF", "registrar") and self.active.get("CONF", "number"):
            self.services.append(ConfInterface(self, now))  # waits for ETH0's address
        if partitions is not None:
            self._report_credentials()
        # The update client comes last: its first timer depends on the config and the vars.
        self.update = UpdateClient(self, now)

    @property
    def rng(self) -> random.Random:
        """The firmware's randomness, made from its seed on first use."""
        if self._rng is None:
            self._rng = random.Random(self._rng_seed)
        return self._rng

    # -- start -----------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        self._events.append(ConsoleOutput(line))

    say = _say  # a line on the console only (``context.ServiceContext``)

    def log_event(self, text: str) -> None:
        """An entry of the event log (``/log.txt``), also shown on the console."""
        self.log.append((self.now, text))
        self._say(text)

    @property
    def hardware_id(self) -> str:
        """``#h`` of update URLs: model and the MAC's last 3 bytes (``IP6000-10-00-2a``)."""
        tail = self.serial[6:]
        return f"{self.profile.model}-" + "-".join(tail[i : i + 2] for i in range(0, 6, 2))

    def time_of_day(self, now: float) -> float | None:
        """Seconds since the Unix epoch at device time ``now`` (UTC), or None: no time set."""
        return None if self.wall_clock is None else self.wall_clock + now

    def _take_address(self, now: float) -> None:
        """ETH0's address from the active config (Reference11r2:IP4/ETH/DHCP).

        ``/dhcp off|server`` (or none) with ``/addr``: that address. ``/dhcp auto``: the
        factory address after a restart by the reset button; after power-up a DHCP client.
        ``/dhcp client``: a DHCP client. The DHCP client runs where the network has DHCP
        (its capabilities say so: namespace mode); elsewhere (loopback) ETH0 has no address then.
        """
        eth0 = self.profile.ethernet[0]
        mode = self.active.get("ETH0", "dhcp") or "off"
        addr = self.active.get("ETH0", "addr")
        mask = self.active.get("ETH0", "mask") or eth0.default_mask
        if mode in ("off", "server") and addr is not None:
            self.set_address(addr, mask, how="fixed")
        elif mode == "auto" and self.cause is StartCause.RESET_BUTTON:
            how = "factory address after a restart by the reset button (ETH0 /dhcp auto)"
            self.set_address(eth0.default_address, eth0.default_mask, how=how)
        elif self.network.dhcp:
            self._say(f"ETH0: DHCP client (/dhcp {mode})")
            self.services.append(DhcpClient(self, now))
        else:
            self._say(f"ETH0: DHCP client (/dhcp {mode}): no address without a DHCP server")

    @property
    def dhcp_update_url(self) -> str | None:
        """The update server URL of ETH0's DHCP lease (option 215), None without one."""
        for service in self.services:
            if isinstance(service, DhcpClient) and service.lease is not None:
                return service.lease.update_url
        return None

    def set_address(self, ip: str, mask: str, *, gateway: str = "0.0.0.0", how: str) -> None:
        """ETH0 takes ``ip``/``mask`` (fixed, the factory address, a DHCP lease).

        Another address held before is given up first (``AddressReleased``).
        """
        served = self.network.served(ip)
        if served != ip:
            how += f", served as {served}"
        if self.address is not None and self.address[0] != served:
            old = self.address[0]
            self._events.append(AddressReleased(old))
        self.address = (served, mask)
        self._say(f"ETH0: {ip}/{mask} ({how})")
        self._events.append(AddressAssigned(served, mask, gateway))
        for service in self.services:
            service.address_changed()

    def drop_address(self, why: str) -> None:
        """ETH0 gives its address up (a DHCP lease that ended)."""
        if self.address is None:
            return
        ip = self.address[0]
        self.address = None
        self._say(f"ETH0: {ip} given up ({why})")
        self._events.append(AddressReleased(ip))
        for service in self.services:
            service.address_changed()

    def open_port(self, address: Address) -> None:
        """Listen on ``address`` (``("255.255.255.255", port)``: that port's broadcasts)."""
        self.open_ports.add(address)
        self._events.append(PortOpened(address))

    def close_port(self, address: Address) -> None:
        self.open_ports.discard(address)
        self._events.append(PortClosed(address))

    # -- restart ---------------------------------------------------------------------------

    def mark_reset_required(self) -> None:
        self.reset_required = True

    def note_admin_command(self, user: str, line: str) -> None:
        """The admin log's line for a command run over HTTP (``CMD admin@ ...``, no secrets)."""
        self.log.append((self.now, f"CMD {user}@ {mask_secrets(line.strip())}"))

    def busy(self) -> bool:
        """Whether a call is up (a CONF call: the device is not idle)."""
        return any(isinstance(s, ConfInterface) and s.calls for s in self.services)

    def request_reset(
        self, reason: str, *, only_if_required: bool = False, when_idle: bool = False
    ) -> bool:
        """Restart the device (``ResetRequested``); with ``only_if_required``, only when a
        change since the start needs it; with ``when_idle`` (``ireset``, ``iresetn``), once
        no call is up (at once if none is). Returns whether a reset was requested (now or
        when idle).
        """
        if only_if_required and not self.reset_required:
            return False
        if when_idle and self.busy():
            self.idle_reset = reason
            self._say(f"reset when idle: {reason}")
            return True
        self.reset_pending = True
        self._events.append(ResetRequested(reason))
        return True

    def _check_idle_reset(self) -> None:
        """A reset waiting for the last call to end: now, if it has."""
        if self.idle_reset is not None and not self.reset_pending and not self.busy():
            reason, self.idle_reset = self.idle_reset, None
            self.reset_pending = True
            self._events.append(ResetRequested(f"{reason}, now idle"))

    # -- images --------------------------------------------------------------------------

    def store_image(self, kind: ImageKind, data: bytes) -> StoreResult:
        """Check and store a firmware (or boot code) image the firmware received.

        Everything is checked before anything is erased: a refused image leaves the flash
        and the running firmware as they were. An image that does not fit logs
        ``Error 0x00130001 Major FLASHMAN0 no space``. A stored image runs after a restart
        (``reset_required``).
        """
        word = "Firmwareupdate" if kind is ImageKind.FIRMWARE else "Bootcodeupdate"
        if self.partitions is None:
            return StoreResult(False, False, f"{word} failed:this firmware runs without a flash")
        before = self.partitions.flash.faults.count
        try:
            info = self._store(kind, data)
        except NoSpace as exc:
            self.log_event(NO_SPACE_EVENT)
            return StoreResult(False, True, f"{word} failed:no space\r\n{exc}")
        except (ImageError, FlashError) as exc:
            if isinstance(exc, PowerLost):
                raise
            self.log_event(f"{word} failed: {exc}")
            return StoreResult(False, False, f"{word} failed:{exc}")
        self.flash_changed(f"{info.kind.label} {info.build} stored")
        operations = self.partitions.flash.faults.count - before
        region = "prot" if kind is ImageKind.FIRMWARE else "boot"
        self._events.append(ImageProgrammed(region, operations, len(data)))
        self.mark_reset_required()
        self.log_event(f"{word}: {info.kind.label} {info.build} stored, runs after a restart")
        return StoreResult(True, False, f"{word} ok: {info.build} stored, runs after a restart")

    def _store(self, kind: ImageKind, data: bytes) -> ImageInfo:
        if kind is ImageKind.FIRMWARE:
            # The image must suit the boot code that starts it: the one in the boot slot
            # the next start uses (an update script stores boot code, then firmware).
            return self.flashman().store_firmware(data, boot_build=self.next_boot_build())
        if kind is not ImageKind.BOOT:
            raise ImageError(f"{kind.label} images are not taken here")
        assert self.partitions is not None
        region = self.partitions["boot"]
        info = verify_image(
            data,
            model=self.profile.model,
            kinds=(ImageKind.BOOT,),
            region_size=slot_size(region),
            region_name="boot",
        )
        store_boot(region, data, self.profile.model)  # the other slot; fail-safe
        return info

    def next_boot_build(self) -> int | None:
        """The build of the boot code the next start runs (the running one if unknown)."""
        if self.partitions is None:
            return self.boot_build
        _, status = running_slot(self.partitions["boot"], self.profile.model)
        if status.info is None or not status.info.build.isdigit():
            return self.boot_build
        return int(status.info.build)

    # -- fetches (effects the runtime performs) ---------------------------------------------

    def fetch(self, method: str, url: str, *, body: bytes | None = None, purpose: str = "") -> int:
        """Ask the runtime for an HTTP request; returns the id its result will carry."""
        request_id = next(self._fetch_ids)
        self._events.append(FetchRequested(Fetch(request_id, method, url, body, purpose)))
        return request_id

    def fetch_done(self, result: FetchResult, now: float) -> None:
        self.now = max(self.now, now)
        self.update.fetch_done(result, now)

    # -- the web server ----------------------------------------------------------------------

    def http(self, request: HttpRequest, now: float) -> HttpResponse:
        """Answer a request to the admin web server (:mod:`ipgwsim.firmware.admin`)."""
        self.now = max(self.now, now)
        return admin.handle(self, request)

    def http_refusal(self, request: HttpRequest, now: float) -> HttpResponse | PasswordCheck | None:
        """The answer to a request refused whatever its body, None, or the password check
        to make first (see :func:`admin.refusal`)."""
        self.now = max(self.now, now)
        return admin.refusal(self, request)

    def http_checked(
        self, request: HttpRequest, check: PasswordCheck, ok: bool, now: float
    ) -> HttpResponse | None:
        """The result of the check :meth:`http_refusal` asked for: the refusal, or None."""
        self.now = max(self.now, now)
        return admin.checked(self, request, check, ok)

    def flash_changed(self, what: str) -> None:
        """Report a write to the flash (the runtime saves its image file)."""
        self._events.append(FlashChanged(what))

    def _start(self, partitions: PartitionTable) -> None:
        self.ring = ConfigRing(partitions["config"])
        self.vars = VarStore(partitions["vars"])
        newest = self.ring.newest
        config = defaults(self.profile)
        if newest is None:
            self._say("config: the config ring is empty (long reset): running the factory defaults")
        else:
            try:
                config = Config.from_text(newest.text)
            except (ConfigSyntaxError, ConfigValueError) as exc:
                self._say(
                    f"config: generation {newest.number} does not load: "
                    f"{describe_error(exc, echo=False)}; running the factory defaults"
                )
            else:
                self._say(
                    f"config: generation {newest.number} loaded, {len(config.modules)} modules"
                )
                if config.has("CMD0", "user"):
                    self._start_move_user(config)
        self.active = config
        self.edited = config.copy()

    def _start_move_user(self, config: Config) -> None:
        """The first start's move of ``CMD0 /user`` into the var; the ring gets the rest."""
        assert self.ring is not None
        try:
            self.check_fits(config)
            user = self.move_user(config)
        except CommandError as exc:
            config.take_user()  # never run, nor show, a password that cannot be stored
            self._say(f"config: CMD0 /user not stored: {exc}")
            return
        generation = self.ring.write(config.render())
        self.flash_changed("config written")
        self._say(
            f"config: admin credentials of user '{user}' moved into the crypted var {AUTH_VAR}; "
            f"config written without /user as generation {generation.number}"
        )

    def _report_credentials(self) -> None:
        assert self.vars is not None
        try:
            stored = load_admin(self.vars)
        except CredentialsError as exc:
            self._say(f"admin: {AUTH_VAR} cannot be read ({exc}); every login is refused")
            return
        if stored is None:
            self._say(f"admin: no stored credentials, the defaults apply (user {DEFAULT_ADMIN})")

    # -- config write, activate and the /user move ---------------------------------------------

    def require_flash(self) -> tuple[ConfigRing, VarStore]:
        """The config ring and the vars; :class:`CommandError` without a flash."""
        if self.ring is None or self.vars is None:
            raise CommandError("this firmware runs without a flash")
        return self.ring, self.vars

    def flashman(self) -> FlashMan:
        """FLASHMAN0: the firmware slot and the flash directory as one pool (flash/DESIGN.md)."""
        if self.partitions is None:
            raise CommandError("this firmware runs without a flash")
        if self._flashman is None:
            self._flashman = FlashMan(self.partitions)
        return self._flashman

    def flashdir(self) -> FlashDir:
        """FLASHDIR0, mounted on first use (its region is large), beside the firmware's spill."""
        return self.flashman().flashdir()

    def check_fits(self, config: Config) -> None:
        """CommandError unless ``config`` fits one record of the config ring."""
        ring, _ = self.require_flash()
        size = len(config.render().encode("utf-8"))
        if size > ring.max_text:
            raise CommandError(
                f"the config needs {size} bytes, the config ring takes {ring.max_text} "
                f"(records of at most {ring.max_text + RING_HEADER_SIZE} bytes)"
            )

    def move_user(self, config: Config) -> str:
        """Store ``config``'s ``CMD0 /user`` as the crypted var and remove it from ``config``.

        Returns the user. :class:`CommandError` (nothing changed) when the pair cannot be
        stored. The var is written before any config without ``/user``: a power cut in
        between leaves ``/user`` in the ring, and the next start moves it again.
        """
        user = self._store_user(config)
        config.take_user()
        return user

    def _store_user(self, config: Config) -> str:
        """Store ``config``'s ``CMD0 /user`` as the crypted var (``config`` unchanged)."""
        _, store = self.require_flash()
        value = config.get("CMD0", "user")
        assert value is not None
        user, _, password = value.partition(",")
        try:
            credentials = AdminCredentials.create(user, password, self.rng.randbytes(SALT_SIZE))
        except ValueError as exc:
            raise CommandError(f"CMD0 /user: {exc}") from None
        store_admin(store, credentials)
        self.flash_changed("admin credentials stored")
        return user

    def write_config(self) -> str:
        """``config write``: the edited config, ``/user`` and all, becomes the newest ring
        generation; the running password stays (``config activate`` or the next start
        stores it). A ``/user`` the crypted var could not take is refused, nothing written."""
        ring, _ = self.require_flash()
        config = self.edited.copy()
        self.check_fits(config)
        pair = config.copy().take_user()
        if pair is not None:
            try:
                AdminCredentials.check_user(pair[0])
            except ValueError as exc:
                raise CommandError(f"CMD0 /user: {exc}") from None
        generation = ring.write(config.render())
        self.flash_changed("config written")
        if any(
            config.params(name) != self._started_config.params(name) for name in RESTART_MODULES
        ):
            self.mark_reset_required()
        return f"config written as generation {generation.number}\r\n"

    def activate_config(self) -> str:
        """``config activate``: the edited config runs; a ``/user`` in it is copied into the
        crypted var (Howto:Config or Password Recovery: "config activate # encrypt it") and
        stays in the edited config (that article's script removes it from the visible config
        next). The running config carries no ``/user``: its credentials are the var. The ring
        is not written."""
        config = self.edited.copy()
        out = ""
        if config.has("CMD0", "user"):
            user = self._store_user(config)
            out = f"admin credentials of user '{user}' stored in the crypted var {AUTH_VAR}\r\n"
        config.take_user()
        self.active = config
        return out

    # -- login and commands ----------------------------------------------------------------

    def password_check(self, user: str, password: str) -> PasswordCheck:
        """The check of ``user``/``password`` against the stored credentials, or the
        profile's default password for ``admin`` while none are stored (a record that
        cannot be read refuses every login). Reading the record is quick; the check's
        ``verify`` is the slow part and may run anywhere (:mod:`ipgwsim.firmware.logins`)."""
        stored: AdminCredentials | None = None
        default: str | None = self.profile.firmware.default_password
        if self.vars is not None:
            try:
                stored = load_admin(self.vars)
            except CredentialsError:
                default = None
        return PasswordCheck(user, password, stored, DEFAULT_ADMIN, default)

    def check_login(self, user: str, password: str) -> bool:
        """Whether ``user``/``password`` are the admin's (:meth:`password_check`), checked
        here and now, whatever :attr:`logins` says (the interfaces ask it first)."""
        return self.password_check(user, password).verify()

    def execute(self, line: str) -> str:
        """Run one command line; the text a user sees (CRLF lines, ``error: ...`` if refused)."""
        return execute(self, line)

    def full_config(self) -> str:
        return fullconfig.render_full(self)

    def load_full_config(self, text: str, *, require_eth0: bool = False) -> str:
        return fullconfig.load_full(self, text, require_eth0=require_eth0)

    def final_command(self, word: str, reason: str) -> str:
        return commands.run_final_command(self, word, reason)

    # -- the node --------------------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        return any(service.accepts(dst) for service in self.services)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self.now = max(self.now, now)
        for service in self.services:
            if service.accepts(datagram.dst):
                service.receive_datagram(datagram, now)
        self._check_idle_reset()

    def datagrams_to_send(self) -> list[Datagram]:
        out: list[Datagram] = []
        for service in self.services:
            out.extend(service.datagrams_to_send())
        return out

    def get_timer(self) -> float | None:
        deadlines = [self.update.get_timer(), *(s.get_timer() for s in self.services)]
        pending = [d for d in deadlines if d is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        self.now = max(self.now, now)
        self.update.handle_timer(now)
        for service in list(self.services):
            service.handle_timer(now)
        self._check_idle_reset()

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

"""The running firmware of one device (sans-I/O, like the boot code).

At start (:class:`Firmware` built on ``FirmwareStarted``) it mounts the config ring and the
vars, loads the newest config generation (the profile's defaults when the ring is empty or the
text does not load) and moves ``CMD0 /user user,password`` into the crypted var ``CMD0/AUTH``
(seed config-or-password-recovery: "on the first start of the firmware the user/password
definition is copied from the commandline to a crypted var"). The config then carries no
``/user``; it is written back as a new ring generation. Commands (console, ``http://ip/!cmd``)
run through :meth:`Firmware.execute` (:mod:`ipgwsim.firmware.commands`).

Two configs are kept: the *active* one (what runs) and the *edited* one (what ``config
change|add|rem`` change, ``config show`` prints and ``config write`` stores).
"""

from __future__ import annotations

import hmac
import random

from ipgwsim.events import ConsoleOutput, Event, FlashChanged
from ipgwsim.firmware.commands import CommandError, describe_error, execute
from ipgwsim.firmware.config import Config, ConfigSyntaxError, ConfigValueError, defaults
from ipgwsim.flash.credentials import (
    AUTH_VAR,
    AdminCredentials,
    CredentialsError,
    load_admin,
    store_admin,
)
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.formats import RING_HEADER_SIZE
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarStore
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.net import Address, Datagram

__all__ = ["DEFAULT_ADMIN", "SALT_SIZE", "Firmware"]

#: The admin user while no credentials are stored (the password is the profile's default).
DEFAULT_ADMIN = "admin"
#: Bytes of salt of a new credentials record.
SALT_SIZE = 16


class Firmware:
    """A firmware image of ``build`` running on a device of ``profile``.

    It never answers gwload (gwload-protocol.md section 2: only the boot code in
    TFTP mode does) and, until it has a configured address, takes no datagrams.

    ``partitions`` is the device's flash; without it the firmware runs on the profile's
    defaults and every command that needs the flash is refused. ``rng`` gives the salts of
    credentials records; ``now`` is the time of the start. A :class:`~ipgwsim.flash.PowerLost`
    at start or in :meth:`execute` goes up to the caller (the device is off then).
    """

    def __init__(
        self,
        profile: Profile,
        build: str,
        *,
        partitions: PartitionTable | None = None,
        rng: random.Random | None = None,
        now: float = 0.0,
    ) -> None:
        self.profile = profile
        self.build = build
        self.partitions = partitions
        self.rng = rng if rng is not None else random.Random(f"{profile.model} {build}")
        self.started_at = now
        self.ring: ConfigRing | None = None
        self.vars: VarStore | None = None
        self._flashdir: FlashDir | None = None
        #: The config that runs.
        self.active: Config = defaults(profile)
        #: The config that ``config change|add|rem`` change and ``config write`` stores.
        self.edited: Config = self.active.copy()
        self._events: list[Event] = [ConsoleOutput(f"{profile.model} firmware {build} running")]
        if partitions is not None:
            self._start(partitions)

    # -- start -----------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        self._events.append(ConsoleOutput(line))

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
        self._report_credentials()

    def _start_move_user(self, config: Config) -> None:
        """The first start's move of ``CMD0 /user`` into the var; the ring gets the rest."""
        assert self.ring is not None
        try:
            self._check_fits(config)
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

    def flashdir(self) -> FlashDir:
        """FLASHDIR0, mounted on first use (its region is large)."""
        if self.partitions is None:
            raise CommandError("this firmware runs without a flash")
        if self._flashdir is None:
            self._flashdir = FlashDir(self.partitions["flashdir"])
        return self._flashdir

    def _check_fits(self, config: Config) -> None:
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
        config.take_user()
        return user

    def _moved_line(self, user: str) -> str:
        return f"admin credentials of user '{user}' stored in the crypted var {AUTH_VAR}\r\n"

    def write_config(self) -> str:
        """``config write``: the edited config becomes the newest ring generation."""
        ring, _ = self.require_flash()
        config = self.edited.copy()
        self._check_fits(config)
        out = ""
        if config.has("CMD0", "user"):
            out += self._moved_line(self.move_user(config))
        generation = ring.write(config.render())
        self.flash_changed("config written")
        self.edited = config
        return out + f"config written as generation {generation.number}\r\n"

    def activate_config(self) -> str:
        """``config activate``: the edited config runs (a ``/user`` in it is moved first)."""
        config = self.edited.copy()
        out = ""
        if config.has("CMD0", "user"):
            out += self._moved_line(self.move_user(config))
        self.edited = config
        self.active = config.copy()
        return out

    # -- login and commands ----------------------------------------------------------------

    def check_login(self, user: str, password: str) -> bool:
        """Whether ``user``/``password`` are the admin's: the stored credentials, or the
        profile's default password for ``admin`` while none are stored."""
        stored: AdminCredentials | None = None
        if self.vars is not None:
            try:
                stored = load_admin(self.vars)
            except CredentialsError:
                return False
        if stored is not None:
            return stored.verify(user, password)
        default = self.profile.firmware.default_password
        user_ok = hmac.compare_digest(user.encode("utf-8"), DEFAULT_ADMIN.encode("utf-8"))
        password_ok = hmac.compare_digest(password.encode("utf-8"), default.encode("utf-8"))
        return user_ok and password_ok

    def execute(self, line: str) -> str:
        """Run one command line; the text a user sees (CRLF lines, ``error: ...`` if refused)."""
        return execute(self, line)

    # -- the node --------------------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        return False

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        return None

    def datagrams_to_send(self) -> list[Datagram]:
        return []

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def next_event(self) -> Event | None:
        return self._events.pop(0) if self._events else None

"""A Hypothesis state machine over the config commands of a running firmware, under power cuts.

:class:`ConfigMachine` drives a real :class:`~ipgwsim.firmware.Firmware` on a real
:class:`~ipgwsim.flash.nor.NorFlash` (:func:`~ipgwsim.device.factory_flash`) with ``config
change|add|rem`` lines, ``config write|activate|reset``, admin credentials (``CMD0 /user``),
power cycles, a recovery config with ``/user`` put into the ring (as TFTP mode does), long
resets, and power cuts at the first few flash operations of a write, an activate or a start.
Next to it runs a deliberately simple model (:mod:`ipgwsim.testing.config_model`): the edited
and the active config as dicts, the list of committed ring generations, and the admin
credentials.

A change is a sequence of *flash effects* in the firmware's documented order. The order of
Howto:Config or Password Recovery for ``CMD0 /user``: ``config write`` puts it into the ring as
text (the password unchanged), ``config activate`` copies it into the crypted var ``CMD0/AUTH``
(nothing in the ring), a start moves a ``/user`` of the newest generation into the var first,
then writes a generation without it. After a power cut the flash must show the state after some
prefix of them: never a later effect without an earlier one, never anything else. The machine
learns which prefix landed from the flash and goes on from there.

After every step, while the firmware runs: ``firmware.edited`` and ``firmware.active`` equal
the model's; ``config show`` parses back to the edited config and shows ``CMD0 /user``
exactly while the edited config has one (written and activated too: the script of
Howto:Config or Password Recovery removes it from the visible config with a change); the
running config never has one; the newest ring generation parses and is the model's (a
written ``/user`` in clear until the next start); the ring's generations are the model's
newest ones; and ``check_login`` accepts the model's credentials and refuses the ones they
replaced (so a ``config write`` leaves the password as it was). No output but ``config
show`` ever carries a password.

It runs on the IP6000 by default; subclass it and set :attr:`ConfigMachine.profile_name` for
another profile (the project's tests also run it on the IP811).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import ClassVar

from ipgwsim.device import default_config, factory_flash
from ipgwsim.firmware import Firmware
from ipgwsim.firmware.config import Config, defaults
from ipgwsim.flash.credentials import AUTH_VAR, AdminCredentials
from ipgwsim.flash.errors import PowerLost
from ipgwsim.flash.faults import PowerCut
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarStore
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.runtime.extras import extra_imports
from ipgwsim.testing.config_model import (
    ADMIN_PAIRS,
    SECRETS,
    Credentials,
    Cut,
    Effect,
    Line,
    Modules,
    NewCredentials,
    NewGeneration,
    admin_of,
    apply_line,
    config_lines,
    cuts,
    render_line,
    storable,
    without_admin,
)

with extra_imports(__name__):
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

__all__ = ["ConfigMachine"]


@functools.cache
def _profile(name: str) -> Profile:
    return find_profile(name)


class ConfigMachine(RuleBasedStateMachine):
    """A running firmware's config commands against a simple model, with power cuts."""

    profile_name = "IP6000"
    #: ``check_login`` results by (record, user, password): scrypt is slow and pure.
    _logins: ClassVar[dict[tuple[bytes, str, str], bool]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.profile = _profile(self.profile_name)
        self.flash = factory_flash(self.profile)
        self.firmware: Firmware | None = None
        self.starts = 0
        #: The flash operation count when the ring was last mounted afresh.
        self._looked_at = -1
        #: Power cuts that hit a flash operation in this run.
        self.cuts_hit = 0
        # -- the model -----------------------------------------------------------------
        # The factory ring holds one generation, the factory config.
        factory = Config.from_text(default_config(self.profile)).modules
        self.generations: list[tuple[int, Modules]] = [(1, factory)]
        self.admin: Credentials = None
        #: Credentials replaced since the last check: ``check_login`` must refuse them.
        self.replaced: list[Credentials] = []
        self.edited: Modules = {}
        self.active: Modules = {}
        self._power_on([])

    # -- the flash as it is ----------------------------------------------------------------

    def _ring(self) -> ConfigRing:
        """The config ring, mounted afresh from the flash."""
        return ConfigRing(PartitionTable(self.flash, self.profile)["config"])

    def _record(self, store: VarStore | None = None) -> bytes | None:
        """The credentials record in ``store``, by default the vars mounted afresh."""
        if store is None:
            store = VarStore(PartitionTable(self.flash, self.profile)["vars"])
        var = store.get(AUTH_VAR)
        return None if var is None else var.value

    def _newest(self) -> tuple[int, Modules] | None:
        return self.generations[-1] if self.generations else None

    # -- running a change that may be cut --------------------------------------------------

    def _arm(self, cut: Cut | None) -> None:
        if cut is not None:
            at, mode, keep = cut
            self.flash.faults.cut = PowerCut(self.flash.faults.count + at, mode, keep)

    def _land(self, effects: list[Effect]) -> None:
        """The model after ``effects`` reached the flash."""
        for effect in effects:
            if isinstance(effect, NewCredentials):
                if effect.pair != self.admin:
                    self.replaced.append(self.admin)
                self.admin = effect.pair
            else:
                newest = self._newest()
                number = 1 if newest is None else newest[0] + 1
                self.generations.append((number, effect.modules))

    def _learn(self, what: str, effects: list[Effect], record_before: bytes | None) -> None:
        """After a power cut: the flash holds the state after some prefix of ``effects``."""
        self.firmware = None
        self.flash.power_on()
        found = self._ring().newest
        found_config = None if found is None else Config.from_text(found.text)
        record_changed = self._record() != record_before
        newest = self._newest()
        seen: list[str] = []
        for landed in range(len(effects) + 1):
            prefix = effects[:landed]
            expect_record = any(isinstance(e, NewCredentials) for e in prefix)
            expect = newest
            rings = [e.modules for e in prefix if isinstance(e, NewGeneration)]
            if rings:
                base = 0 if newest is None else newest[0]
                expect = (base + len(rings), rings[-1])
            seen.append(f"{landed}: ring {expect}, new credentials {expect_record}")
            ring_ok = (
                found is None
                if expect is None
                else found is not None
                and found.number == expect[0]
                and found_config == Config(expect[1])
            )
            if ring_ok and record_changed == expect_record:
                event(f"power cut in {what}: {landed} of {len(effects)} flash changes landed")
                self.cuts_hit += 1
                self._land(prefix)
                return
        # The firmware lost a config, mixed two, or changed the credentials out of order.
        raise AssertionError(
            f"after a power cut in {what} the flash holds no allowed state:\n"
            f"ring newest {found}, credentials record changed: {record_changed}\n"
            "allowed (changes landed: state):\n"
            + "\n".join(seen)
            + "\n"
            + self.flash.faults.describe()
        )

    def _attempt(
        self, what: str, run: Callable[[], str], effects: list[Effect], cut: Cut | None
    ) -> str | None:
        """``run`` with ``cut`` armed; the output, or ``None`` if the power went.

        A change the model says writes nothing is not cut, and must not touch the flash.
        """
        record_before = self._record()
        operations = self.flash.faults.count
        self._arm(cut if effects else None)
        try:
            out = run()
        except PowerLost:
            self._learn(what, effects, record_before)
            return None
        finally:
            self.flash.faults.cut = None
        if not effects:
            assert self.flash.faults.count == operations, (
                f"{what} should write nothing, but it programmed or erased the flash:\n"
                + self.flash.faults.describe()
            )
        elif cut is not None:
            event(f"power cut armed before {what}: not reached")
        self._land(effects)
        return out

    # -- the firmware's start ----------------------------------------------------------------

    def _start_model(self) -> tuple[list[Effect], Modules]:
        """What a start does: its flash effects, and the config it runs."""
        newest = self._newest()
        if newest is None:
            return [], defaults(self.profile).modules  # a long reset: the defaults, unwritten
        loaded = {m: dict(p) for m, p in newest[1].items()}
        admin = admin_of(loaded)
        if admin is None:
            return [], loaded
        rest = without_admin(loaded)
        if not storable(admin[0]):
            return [], rest  # dropped from the running config, the ring left alone
        return [NewCredentials(admin), NewGeneration(rest)], rest

    def _power_on(self, start_cuts: list[Cut]) -> None:
        """The power returns: starts cut by ``start_cuts`` in turn, until one runs; the last
        one is never cut."""
        for cut in [*start_cuts, None]:
            if self._start(cut):
                return

    def _start(self, cut: Cut | None) -> bool:
        """One start of the firmware, maybe cut; whether it runs."""
        self.flash.power_on()
        effects, loaded = self._start_model()
        newest = self._newest()
        pending = newest is not None and admin_of(newest[1]) is not None
        self.starts += 1
        rng = random.Random(self.starts)
        built: list[Firmware] = []

        def start() -> str:
            built.append(
                Firmware(
                    self.profile,
                    self.profile.firmware.build,
                    partitions=PartitionTable(self.flash, self.profile),
                    rng=rng,
                )
            )
            return ""

        if self._attempt("the start", start, effects, cut) is None:
            return False
        self.firmware = built[0]
        self.edited = loaded
        self.active = {m: dict(p) for m, p in loaded.items()}
        if effects:
            event("a start moved CMD0 /user into the crypted var")
        elif pending:
            event("a start dropped a CMD0 /user it cannot store")
        # The TFTP path's first start: a storable /user is never left in the newest generation.
        newest = self._newest()
        admin = None if newest is None else admin_of(newest[1])
        assert admin is None or not storable(admin[0]), newest
        return True

    @rule(
        recovery=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(ADMIN_PAIRS)),
        name=st.sampled_from(["gw1", "rescued"]),
        start_cuts=st.lists(cuts, min_size=1, max_size=2),
    )
    def restart(self, recovery: tuple[str, str] | None, name: str, start_cuts: list[Cut]) -> None:
        """A power cycle: a new firmware on the same flash.

        With ``recovery``, the recovery of Howto:Config or Password Recovery: in TFTP mode a
        config with ``CMD0 /user`` goes into the ring, and the next start moves it
        (``start_cuts`` may cut those starts; the others write nothing)."""
        self.firmware = None
        if recovery is not None:
            newest = self._newest()
            modules = {m: dict(p) for m, p in (newest[1] if newest else {}).items()}
            modules.setdefault("CMD0", {}).update({"name": name, "user": ",".join(recovery)})
            self._ring().write(Config(modules).render())
            self._land([NewGeneration(modules)])
        self._power_on(start_cuts if recovery is not None else [])

    @rule()
    def long_reset(self) -> None:
        """What the boot code does on a long press: the ring and the vars are erased."""
        self.firmware = None
        table = PartitionTable(self.flash, self.profile)
        ConfigRing(table["config"]).clear()
        VarStore(table["vars"]).clear()
        if self.admin is not None:
            self.replaced.append(self.admin)
        self.generations = []
        self.admin = None
        self._power_on([])

    # -- commands ----------------------------------------------------------------------------

    def _execute(self, line: str) -> str:
        assert self.firmware is not None
        out = self.firmware.execute(line)
        if line == "config show":
            return out  # the edited config, an unwritten CMD0 /user and CONF /pwd with it
        # This check found mask_secrets masking the next parameter's name after a flag
        # /user or /pwd (`config change CMD0 /user /user admin,s3cret` showed the password);
        # tests/firmware/test_admin.py keeps that case.
        for secret in SECRETS:
            assert secret not in out, f"{line!r} shows a password: {out!r}"
        return out

    @rule(line=config_lines(), blank=st.sampled_from([" ", "  ", "\t"]))
    def config_line(self, line: Line, blank: str) -> None:
        text = render_line(line, blank)
        new = apply_line(self.edited, line)
        out = self._execute(text)
        if new is None:
            assert out.startswith("error: "), (text, out)
            assert out.count("\r\n") == 1, (text, out)
            event("a config line refused")
        else:
            assert out == "", (text, out)
            self.edited = new

    @rule(
        verb=st.sampled_from(["change", "add"]),
        name=st.sampled_from(["gw1", "gw2"]),
        pair=st.sampled_from(ADMIN_PAIRS),
        then=st.sampled_from([None, "write", "activate", "script", "script"]),
        cuts_=st.lists(st.one_of(cuts, st.none(), st.none()), min_size=3, max_size=3),
    )
    def credentials(
        self,
        verb: str,
        name: str,
        pair: tuple[str, str],
        then: str | None,
        cuts_: list[Cut | None],
    ) -> None:
        """``config change CMD0 /name X /user U,P`` (or ``add``), then maybe at once
        ``config write`` or ``config activate``, or the rest of the update-server
        script: ``config write``, ``config activate``, ``config change CMD0 /name X`` (the
        /user removed from the visible config), ``config write``; each maybe cut (a cut
        ends the script: the device starts again)."""
        line: Line = (verb, "CMD0", (("name", name), ("user", ",".join(pair))))
        self.config_line(line, " ")
        if then == "write":
            self.config_write(cuts_[0])
        elif then == "activate":
            self.config_activate(cuts_[0])
        elif then == "script":
            starts = self.starts
            self.config_write(cuts_[0])
            if self.starts == starts:
                self.config_activate(cuts_[1])
            if self.starts == starts:
                self.config_line(("change", "CMD0", (("name", name),)), " ")
                self.config_write(cuts_[2])
            if self.starts == starts:
                event("the password script ran to its end")

    @rule(cut=st.one_of(cuts, st.none()))
    def config_write(self, cut: Cut | None) -> None:
        """``config write``: the edited config, ``/user`` and all, as the newest generation;
        refused (nothing written) for a user the credentials record cannot take."""
        admin = admin_of(self.edited)
        refused = admin is not None and not storable(admin[0])
        effects: list[Effect] = [] if refused else [NewGeneration(self.edited)]
        out = self._attempt("config write", lambda: self._execute("config write"), effects, cut)
        if out is None:
            self._power_on([])
            return
        if refused:
            assert out.startswith("error: CMD0 /user: "), out
            event("config write refused: a user the record cannot take")
            return
        newest = self._newest()
        assert newest is not None
        assert out == f"config written as generation {newest[0]}\r\n", out
        if admin is not None:
            event("config write put CMD0 /user into the ring in clear")

    @rule(cut=st.one_of(cuts, st.none()))
    def config_activate(self, cut: Cut | None) -> None:
        admin = admin_of(self.edited)
        effects: list[Effect] = []
        if admin is not None and storable(admin[0]):
            effects = [NewCredentials(admin)]
        out = self._attempt(
            "config activate", lambda: self._execute("config activate"), effects, cut
        )
        if out is None:
            self._power_on([])
            return
        if admin is not None and not effects:
            assert out.startswith("error: CMD0 /user: "), out
            return
        assert out == ("" if admin is None else self._moved(admin[0])), out
        self.active = without_admin(self.edited)  # /user stays in the visible config

    @rule()
    def config_reset(self) -> None:
        assert self._execute("config reset") == ""
        self.edited = {m: dict(p) for m, p in self.active.items()}

    @staticmethod
    def _moved(user: str) -> str:
        return f"admin credentials of user '{user}' stored in the crypted var {AUTH_VAR}\r\n"

    def teardown(self) -> None:
        hit = "none" if not self.cuts_hit else "one" if self.cuts_hit == 1 else "two or more"
        event(f"power cuts that hit in this run: {hit}")

    # -- what must always hold ---------------------------------------------------------

    @invariant()
    def configs_match_the_model(self) -> None:
        if self.firmware is None:
            return
        assert self.firmware.edited == Config(self.edited), (self.firmware.edited, self.edited)
        assert self.firmware.active == Config(self.active), (self.firmware.active, self.active)
        assert not self.firmware.active.has("CMD0", "user")
        shown = Config.parse(self._execute("config show"))
        assert shown == Config(self.edited), (shown, self.edited)
        # /user shows while the edited config has it (never another one).
        assert shown.has("CMD0", "user") == (admin_of(self.edited) is not None)

    @invariant()
    def ring_matches_the_model(self) -> None:
        rings = []
        if self.firmware is not None:
            assert self.firmware.ring is not None
            rings.append(self.firmware.ring)
        # The flash itself, mounted afresh, whenever it was written since the last look.
        fresh = self.flash.faults.count != self._looked_at
        if fresh:
            ring = self._ring()
            rings.append(ring)
            self._looked_at = self.flash.faults.count
        newest = self._newest()
        for each in rings:
            found = each.newest
            if newest is None:
                assert found is None, found
                continue
            assert found is not None
            assert found.number == newest[0], (found, newest)
            assert Config.from_text(found.text) == Config(newest[1]), (found, newest)
        if not fresh:
            return
        # Every generation still in the ring is one the model committed, in order.
        held = [(g.number, Config.from_text(g.text)) for g in ring.generations()]
        tail = [(n, Config(m)) for n, m in self.generations[-len(held) :]] if held else []
        assert held == tail, (held, self.generations)

    def _login(self, record: bytes | None, user: str, password: str) -> bool:
        assert self.firmware is not None
        if record is None:
            return self.firmware.check_login(user, password)
        key = (record, user, password)
        if key not in self._logins:
            if len(self._logins) > 10_000:
                self._logins.clear()
            self._logins[key] = self.firmware.check_login(user, password)
        return self._logins[key]

    def _pair(self, credentials: Credentials) -> tuple[str, str]:
        return credentials or ("admin", self.profile.firmware.default_password)

    @invariant()
    def credentials_match_the_model(self) -> None:
        if self.firmware is None:
            return
        assert self.firmware.vars is not None
        record = self._record(self.firmware.vars)
        assert (record is None) == (self.admin is None), (record, self.admin)
        current = self._pair(self.admin)
        if record is not None:
            # Cheap: the record names the model's user (check_login compares it too).
            assert AdminCredentials.decode(record).user == current[0], (record, current)
        assert self._login(record, *current), f"{current} refused"
        for old in map(self._pair, self.replaced):
            # Another user is refused by the record's user; the same user's old password
            # needs check_login (an scrypt derivation: only here, and cached).
            if old != current and (record is None or old[0] == current[0]):
                assert not self._login(record, *old), f"{old} still accepted"
        self.replaced = []

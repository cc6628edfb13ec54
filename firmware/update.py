"""The update-server client of the firmware: UP1 polls a script, UP0 loads and saves (sans-I/O).

Reference9:Services/Update, the innovaphone IP DECT manual, the Ascom IPBL manual and
php-update-server. ``UP1`` fetches the script at ``UP1 /url`` every ``/poll``
minutes (a *new device* every ``/poll-fast`` minute for its first 30 minutes) and runs it;
``UP0`` downloads firmware, boot code and configs and uploads the full config. Every HTTP
request is an effect: ``Firmware.fetch`` emits ``FetchRequested``, the runtime performs it
and its :class:`~ipgwsim.proto.http.FetchResult` comes back through :meth:`fetch_done`. All
times are device times. ``docs/update-server.md`` describes every decision, and
:mod:`ipgwsim.firmware.updatetable` the table that says what each state does with each input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from ipgwsim.firmware import admin
from ipgwsim.firmware.commands import (
    RESET_OUTPUT,
    CommandError,
    mask_secrets,
)
from ipgwsim.firmware.config import MAX_POLL_MINUTES, check_url, decode_url
from ipgwsim.firmware.configlang import ModCmd
from ipgwsim.firmware.updatescript import (
    Check,
    Execute,
    Final,
    Load,
    Provision,
    Save,
    ScriptError,
    ScriptLine,
    Times,
    expand_url,
    parse_script,
    parse_update_command,
    script_name,
    with_file,
    with_query,
)
from ipgwsim.firmware.updatetable import TABLE, UpdateAction, UpdateInput, UpdateState
from ipgwsim.flash.errors import FlashError
from ipgwsim.flash.image import ImageKind
from ipgwsim.flash.vars import VarFlags
from ipgwsim.proto.http import FetchResult

if TYPE_CHECKING:
    from ipgwsim.firmware.context import UpdateContext

__all__ = [
    "ACTIONS",
    "BOOT_VAR",
    "CHECK_VAR",
    "DEFAULT_POLL",
    "DEFAULT_POLL_FAST",
    "FETCH_TIMEOUT",
    "NEW_DEVICE_WINDOW",
    "PROT_VAR",
    "SCRIPT_VAR",
    "UpdateClient",
    "decode_url",
    "expand_url",
    "script_name",
    "with_file",
]

#: Minutes between polls (``UP1 /poll``).
DEFAULT_POLL = 15
#: Minutes between the polls of a new device (``UP1 /poll-fast``).
DEFAULT_POLL_FAST = 1
#: Seconds after the start during which a new device polls fast.
NEW_DEVICE_WINDOW = 30 * 60
#: Seconds a fetch may take; then it counts as failed and a late answer is ignored.
FETCH_TIMEOUT = 300.0
#: The serial of the last ``mod cmd UP1 check`` that ran (innovaphone IP DECT manual p.111).
CHECK_VAR = "UPDATE/CHECK"
#: The build serial of the last firmware ``mod cmd UP0 prot`` stored (cleared at start).
PROT_VAR = "UPDATE/PROT"
#: The build serial of the last boot code ``mod cmd UP0 boot`` stored (cleared at start).
BOOT_VAR = "UPDATE/BOOT"
#: DESIGN: set at the first successful script download; while it is missing the device is new.
SCRIPT_VAR = "UPDATE/SCRIPT"


@dataclass
class _Job:
    """One run of a script (or of a typed ``mod cmd UP0|UP1`` line)."""

    #: ``update script URL`` or the typed command.
    origin: str
    #: The URL relative URLs resolve against (the script's); None for a typed command.
    base: str | None
    lines: list[ScriptLine]
    #: Whether the device was new when the script was fetched (``UP1 times``).
    new_device: bool
    index: int = 0
    #: ``check`` lines whose serial differed: CHECK is set when the script completes.
    checks: list[Check] = field(default_factory=list)
    #: What a typed command prints, while it runs within :meth:`UpdateClient.command`.
    output: list[str] | None = None

    def where(self, line: ScriptLine) -> str:
        return f"{self.origin} line {line.number}" if self.base is not None else self.origin


@dataclass(frozen=True)
class _Fetch:
    """A fetch the client waits for: its deadline, and the job it continues (None: a poll)."""

    deadline: float
    job: _Job | None
    #: The URL fetched.
    url: str
    #: A poll's script URL without the query arguments (for the log).
    script: str = ""


@dataclass(frozen=True)
class _Given:
    """What comes with an input: the job it concerns, the fetch and its answer."""

    job: _Job | None = None
    fetch: _Fetch | None = None
    result: FetchResult | None = None


class _Stop(Exception):
    """The job ends here: ``complete`` (the rest is not needed) or not."""

    def __init__(self, outcome: str, *, complete: bool = False) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.complete = complete


class _Reset(Exception):
    """A final command restarted the device: nothing more runs."""


class UpdateClient:
    """The update client of ``firmware`` started at device time ``now``.

    Drive it with :meth:`get_timer`/:meth:`handle_timer` and :meth:`fetch_done`; typed
    ``mod cmd UP0|UP1`` lines come through :meth:`command`.
    """

    def __init__(self, context: UpdateContext, now: float) -> None:
        self.context = context
        self.started_at = now
        #: Device time of the last poll (the start before the first).
        self.last_poll = now
        #: How the last script ended (``complete``, ``refused: line 3 ...``), None before.
        self.outcome: str | None = None
        #: Script fetches made.
        self.polls = 0
        self._memory: dict[str, str] = {}  # the vars of a firmware without a flash
        self._downloaded = False
        self._fetches: dict[int, _Fetch] = {}
        #: Where the client is (:mod:`ipgwsim.firmware.updatetable`).
        self.state = UpdateState.IDLE
        #: ``(UP1 /url, whether it gives a script URL)``: the timer asks on every input.
        self._url_usable: tuple[str | None, bool] = (None, False)
        # Facts 5.4: UPDATE/PROT is unset "as with a new device or after a restart".
        for name in (PROT_VAR, BOOT_VAR):
            self._del_var(name)

    # -- vars ----------------------------------------------------------------------------

    def _get_var(self, name: str) -> str | None:
        store = self.context.vars
        if store is None:
            return self._memory.get(name)
        var = store.get(name)
        return None if var is None else var.value.decode("latin-1")

    def _set_var(self, name: str, value: str) -> None:
        store = self.context.vars
        if store is None:
            self._memory[name] = value
            return
        store.set(name, value.encode("latin-1"), VarFlags.PERSISTENT)
        self.context.flash_changed(f"var {name} stored")

    def _del_var(self, name: str) -> None:
        store = self.context.vars
        if store is None:
            self._memory.pop(name, None)
        elif store.delete(name):
            self.context.flash_changed(f"var {name} deleted")

    @property
    def new_device(self) -> bool:
        """Never downloaded a script since the last factory reset (var ``UPDATE/SCRIPT``)."""
        return not self._downloaded and self._get_var(SCRIPT_VAR) is None

    # -- URLs ----------------------------------------------------------------------------

    def _placeholders(self) -> dict[str, str]:
        fw = self.context
        return {
            "m": fw.serial,
            "h": fw.hardware_id,
            "i": fw.address[0] if fw.address is not None else "",
            "t": fw.profile.model,
        }

    def script_url(self) -> str | None:
        """The script's URL from ``UP1 /url`` (decoded, expanded, the standard name added).

        None without one, or when it is no URL (the config refuses such values; this
        guards a flash written otherwise): no polling then.
        """
        value = self.url_value()
        if not value:
            return None
        try:
            url = expand_url(value, self._placeholders())
            return with_file(url, script_name(self.context.profile.model))
        except ValueError:
            return None

    def url_value(self) -> str | None:
        """The script URL as configured: ``UP1 /url``; without one, the URL of ETH0's DHCP
        lease (option 215) unless ``UP1 /no-dhcp`` is set (docs/update-server.md)."""
        active = self.context.active
        value = active.get("UP1", "url")
        if value or active.has("UP1", "no-dhcp"):
            return value
        offered = self.context.dhcp_update_url
        if offered is None:
            return None
        try:
            check_url(offered)  # what the config would take as UP1 /url
        except ValueError:
            return None
        return offered

    def query_args(self) -> list[tuple[str, str]]:
        """The standard query arguments appended to every script URL (Reference9:Services/Update;
        php-update-server)."""
        fw = self.context
        boot = "" if fw.boot_build is None else str(fw.boot_build)
        return [
            ("ver", admin.version_string(fw)),
            ("PROT", self._get_var(PROT_VAR) or fw.build),
            ("BOOT", self._get_var(BOOT_VAR) or boot),
            ("CHECK", self._get_var(CHECK_VAR) or ""),
        ]

    def _resolve(self, job: _Job, url: str) -> str:
        try:
            expanded = expand_url(url, self._placeholders())
            if job.base is not None:
                return urljoin(job.base, expanded)
            scheme = urlsplit(expanded).scheme
        except ValueError as exc:
            raise CommandError(f"{url}: not a URL: {exc}") from None
        if not scheme:
            raise CommandError(f"{url}: a typed command needs an absolute URL (http://...)")
        return expanded

    # -- timing --------------------------------------------------------------------------

    def _minutes(self, param: str, default: int) -> int:
        value = self.context.active.get("UP1", param)
        if not (value and value.isascii() and value.isdigit()):
            return default
        return min(max(1, int(value)), MAX_POLL_MINUTES)

    def next_poll(self) -> float | None:
        """Device time of the next poll; None without ``UP1 /url`` or while one runs."""
        if self.state is not UpdateState.IDLE or not self._has_script_url():
            return None
        fast = self._minutes("poll-fast", DEFAULT_POLL_FAST) * 60
        if self.new_device and self.last_poll + fast <= self.started_at + NEW_DEVICE_WINDOW:
            return self.last_poll + fast
        return self.last_poll + self._minutes("poll", DEFAULT_POLL) * 60

    def _has_script_url(self) -> bool:
        """Whether ``UP1 /url`` gives a script URL, worked out once per value of it."""
        value = self.url_value()
        if value != self._url_usable[0]:
            self._url_usable = (value, self.script_url() is not None)
        return self._url_usable[1]

    def get_timer(self) -> float | None:
        if self.state is UpdateState.ENDED:
            return None
        deadlines = [f.deadline for f in self._fetches.values()]
        poll = self.next_poll()
        if poll is not None:
            deadlines.append(poll)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for request_id, waiting in list(self._fetches.items()):
            if now >= waiting.deadline and request_id in self._fetches:
                error = f"no answer within {FETCH_TIMEOUT:g} s"
                self.fetch_done(FetchResult(request_id, None, error=error), now)
        poll = self.next_poll()
        if poll is not None and now >= poll:
            self._handle(UpdateInput.POLL_DUE, _Given(), now)

    def _handle(self, given: UpdateInput, what: _Given, now: float) -> None:
        """Look ``(state, given)`` up in the table and act."""
        transition = TABLE[self.state, given]
        decided = ACTIONS[transition.action](self, what, now)
        target = transition.next if transition.next is not None else decided
        if target is not None:
            self.state = target

    # -- actions (named in the table) ---------------------------------------------------

    def _ignore(self, what: _Given, now: float) -> None:
        pass

    def _poll(self, what: _Given, now: float) -> None:
        url = self.script_url()
        assert url is not None
        self.last_poll = now
        self.polls += 1
        fetched = with_query(url, self.query_args())
        request_id = self.context.fetch("GET", fetched, purpose="update script")
        self._fetches[request_id] = _Fetch(now + FETCH_TIMEOUT, None, fetched, url)

    def _fetch(
        self, now: float, job: _Job, method: str, url: str, purpose: str, *, body: bytes = b""
    ) -> None:
        request_id = self.context.fetch(
            method, url, body=body if method == "PUT" else None, purpose=purpose
        )
        self._fetches[request_id] = _Fetch(now + FETCH_TIMEOUT, job, url)

    # -- results -------------------------------------------------------------------------

    def fetch_done(self, result: FetchResult, now: float) -> None:
        waiting = self._fetches.pop(result.request_id, None)
        if waiting is None:
            return  # not ours, or too late
        job = waiting.job
        if job is None:
            given = UpdateInput.SCRIPT_ANSWER
        else:
            given = UpdateInput.LINE_ANSWER if job.base is not None else UpdateInput.COMMAND_ANSWER
        self._handle(given, _Given(job, waiting, result), now)

    def _script_fetched(self, what: _Given, now: float) -> UpdateState | None:
        fetch, result = what.fetch, what.result
        assert fetch is not None
        assert result is not None
        origin = f"update script {fetch.script}"
        if not result.ok:
            self._end(f"no script: {result.describe()}", f"{origin} failed: {result.describe()}")
            return UpdateState.IDLE
        new_device = self.new_device
        if new_device:
            self._downloaded = True
            self._set_var(SCRIPT_VAR, "1")
        try:
            lines = parse_script(result.body.decode("latin-1"))
        except ScriptError as exc:
            self._end(f"refused: {exc}", f"{origin} {exc}; script refused, nothing run")
            return UpdateState.IDLE
        return self._run(_Job(origin, fetch.url, lines, new_device), now)

    def _continue(self, what: _Given, now: float) -> UpdateState | None:
        assert what.job is not None
        return self._run(what.job, now, what.result)

    def _refuse_command(self, what: _Given, now: float) -> None:
        raise CommandError("the device restarts")

    def _end(self, outcome: str, log: str | None = None) -> None:
        self.outcome = outcome
        if log is not None:
            self.context.log_event(log)

    # -- running scripts -----------------------------------------------------------------

    def _say(self, job: _Job, text: str, *, log: bool = True) -> None:
        if job.output is not None:
            job.output.append(text)
        if log:
            self.context.log_event(text)

    def _run(self, job: _Job, now: float, result: FetchResult | None = None) -> UpdateState | None:
        """Run ``job`` from its current line until it waits for a fetch or ends.

        The state afterwards: RUNNING while a script waits, IDLE when it is done, ENDED
        after a reset; None (the state stays) for a typed command that did not reset.
        """
        try:
            if result is not None:
                self._finish_load(job, job.lines[job.index], result)
                job.index += 1
            while job.index < len(job.lines):
                if self._step(job, job.lines[job.index], now):
                    # waits for a fetch
                    return UpdateState.RUNNING if job.base is not None else None
                job.index += 1
            outcome, complete = "complete", True
        except _Stop as stop:
            outcome, complete = stop.outcome, stop.complete
        except _Reset:
            return self._reset(job)
        except (CommandError, FlashError, ValueError) as exc:
            # A line the checks let through fails when it runs (a URL, no space, a
            # limit of the flash): the script stops there and polling goes on. A typed
            # command says it as its error line.
            if job.base is None:
                raise
            number = job.lines[job.index].number if job.index < len(job.lines) else 0
            self._say(job, f"{job.origin} line {number}: {exc}; stopped")
            outcome, complete = f"stopped at line {number}: {exc}", False
        if complete:
            try:
                self._complete(job)
            except _Reset:
                return self._reset(job)
            except (CommandError, FlashError, ValueError) as exc:
                self._say(job, f"{job.origin}: {exc}; stopped")
                outcome = f"stopped at the end: {exc}"
        return self._job_done(job, outcome)

    def _reset(self, job: _Job) -> UpdateState:
        self._fetches.clear()
        self._job_done(job, "reset")
        return UpdateState.ENDED

    def _job_done(self, job: _Job, outcome: str) -> UpdateState | None:
        if job.base is None:
            return None  # a typed command: the polling is not its business
        self.outcome = outcome
        return UpdateState.IDLE

    def _complete(self, job: _Job) -> None:
        """The script is done: set ``UPDATE/CHECK`` of its ``check`` lines, run their finals."""
        checks, job.checks = job.checks, []
        for check in checks:
            self._set_var(CHECK_VAR, check.serial)
            self._say(job, f"{job.origin}: complete, {CHECK_VAR} set to {check.serial}")
        for check in checks:
            self._final(job, None, check.final)

    def _final(self, job: _Job, line: ScriptLine | None, word: str) -> None:
        where = job.origin if line is None else job.where(line)
        if self.context.final_command(word, where) == RESET_OUTPUT:
            self._say(job, f"{where}: {word}: the device restarts")
            raise _Reset

    def _step(self, job: _Job, line: ScriptLine, now: float) -> bool:
        """Run one line; True when it waits for a fetch. Raises _Stop or _Reset."""
        step = line.step
        if isinstance(step, Execute):
            out = self.context.execute(step.text)
            errors = [o for o in out.split("\r\n") if o.startswith("error:")]
            if errors:
                self._say(job, f"{job.where(line)}: {mask_secrets(step.text)}: {errors[0]}")
                raise _Stop(f"stopped at line {line.number}: {errors[0]}")
            return False
        if isinstance(step, Final):
            self._final(job, line, step.word)
            return False
        if isinstance(step, Check):
            current = self._get_var(CHECK_VAR)
            if current == step.serial:
                self._say(job, f"{job.where(line)}: {CHECK_VAR} is {current}", log=False)
                raise _Stop(f"up to date ({CHECK_VAR} {current})", complete=True)
            job.checks.append(step)
            return False
        if isinstance(step, Times):
            why = self._not_now(job, step, now)
            if why is not None:
                self._say(job, f"{job.where(line)}: not now: {why}", log=False)
                raise _Stop(f"not now (line {line.number}: {why})")
            self._say(job, f"{job.where(line)}: scripts run now", log=False)
            return False
        if isinstance(step, Provision):
            return False
        if isinstance(step, Save):
            url = self._resolve(job, step.url)
            body = self.context.full_config().encode("utf-8")
            self._fetch(now, job, "PUT", url, "config backup", body=body)
            self._say(job, f"{job.where(line)}: PUT {url}", log=False)
            return True
        return self._start_load(job, line, step, now)

    def _not_now(self, job: _Job, step: Times, now: float) -> str | None:
        if step.initial is not None and now - self.started_at < step.initial * 60:
            return f"within {step.initial} minutes of the start (/initial)"
        if job.new_device:
            return None  # IP DECT manual p.111: new devices get the script even outside /allow
        seconds = self.context.time_of_day(now)
        if seconds is None:
            return "the device has no time of day"
        hour = int(seconds // 3600) % 24
        if step.allow is not None and hour not in step.allow:
            hours = ",".join(str(h) for h in sorted(step.allow))
            return f"hour {hour} (UTC) is not in /allow {hours}"
        return None

    def _start_load(self, job: _Job, line: ScriptLine, step: Load, now: float) -> bool:
        files = self.context.profile.files
        if step.what == "cfg":
            url = self._resolve(job, step.url)
            self._fetch(now, job, "GET", url, "config")
            self._say(job, f"{job.where(line)}: GET {url}", log=False)
            return True
        var = PROT_VAR if step.what == "prot" else BOOT_VAR
        boot = "" if self.context.boot_build is None else str(self.context.boot_build)
        current = self._get_var(var) or (self.context.build if step.what == "prot" else boot)
        if step.build == current:
            self._say(job, f"{job.where(line)}: {step.build} is the current build", log=False)
            return False
        name = files.firmware if step.what == "prot" else files.boot
        url = with_file(self._resolve(job, step.url), name)
        purpose = "firmware" if step.what == "prot" else "boot code"
        self._fetch(now, job, "GET", url, purpose)
        self._say(job, f"{job.where(line)}: GET {url}", log=False)
        return True

    def _finish_load(self, job: _Job, line: ScriptLine, result: FetchResult) -> None:
        """The answer to the fetch of ``line``'s prot, boot, cfg or scfg."""
        step = line.step
        where = job.where(line)
        if isinstance(step, Save):
            if not result.ok:  # DECISION: a failed backup does not stop the script
                self._say(job, f"{where}: config upload failed: {result.describe()}")
                return
            self._final(job, line, step.final)
            return
        assert isinstance(step, Load)
        what = {"prot": "firmware", "boot": "boot code", "cfg": "config"}[step.what]
        if not result.ok:
            self._say(job, f"{where}: {what} download failed: {result.describe()}; stopped")
            raise _Stop(f"stopped at line {line.number}: {what} download failed")
        if step.what == "cfg":
            try:
                # DECISION: never a config without ETH0 (an empty download is one): the
                # device would have no address, so no update server could mend it.
                text = result.body.decode("latin-1")
                out = self.context.load_full_config(text, require_eth0=True)
            except CommandError as exc:
                self._say(job, f"{where}: config not loaded: {exc}; stopped")
                raise _Stop(f"stopped at line {line.number}: config not loaded") from None
            self._say(job, f"{where}: {out.splitlines()[0]}")
        else:
            kind = ImageKind.FIRMWARE if step.what == "prot" else ImageKind.BOOT
            stored = self.context.store_image(kind, result.body)
            if not stored.stored:
                reason = stored.message.split("\r\n", 1)[0]
                self._say(job, f"{where}: {reason}; stopped")
                raise _Stop(f"stopped at line {line.number}: {reason}")
            assert step.build is not None
            var = PROT_VAR if step.what == "prot" else BOOT_VAR
            self._set_var(var, step.build)
            self._say(job, f"{where}: {what} stored, {var} set to {step.build}")
        self._final(job, line, step.final)

    # -- typed commands ------------------------------------------------------------------

    def command(self, module: str, args: tuple[str, ...]) -> str:
        """``mod cmd UP0|UP1 ARGS`` typed on the command line; the text a user sees.

        It runs like a one-line script (URLs must be absolute); what it fetches finishes
        later, into the event log. :class:`CommandError` for what is not understood.
        """
        step = parse_update_command(module, args)
        text = mask_secrets(ModCmd(module, args).render())
        job = _Job(text, None, [ScriptLine(1, text, step)], self.new_device, output=[])
        self._handle(UpdateInput.COMMAND, _Given(job), self.context.now)
        out, job.output = job.output or [], None
        return "".join(line + "\r\n" for line in out)

    def _run_command(self, what: _Given, now: float) -> UpdateState | None:
        assert what.job is not None
        return self._run(what.job, now)


#: The method of :class:`UpdateClient` behind each
#: :class:`~ipgwsim.firmware.updatetable.UpdateAction`; it returns the next state where the
#: table leaves it to the action (``None``: the state stays).
ACTIONS: dict[UpdateAction, Callable[[UpdateClient, _Given, float], UpdateState | None]] = {
    UpdateAction.POLL: UpdateClient._poll,
    UpdateAction.RUN_SCRIPT: UpdateClient._script_fetched,
    UpdateAction.CONTINUE_SCRIPT: UpdateClient._continue,
    UpdateAction.RUN_COMMAND: UpdateClient._run_command,
    UpdateAction.CONTINUE_COMMAND: UpdateClient._continue,
    UpdateAction.REFUSE_COMMAND: UpdateClient._refuse_command,
    UpdateAction.IGNORE: UpdateClient._ignore,
}

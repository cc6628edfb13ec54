"""The update client (UP1 polls scripts, UP0 loads and saves), driven in virtual time.

A real :class:`Firmware` runs on a factory flash; the bench collects its ``FetchRequested``
events and answers them with scripted :class:`FetchResult` values (the end-to-end test
with a real HTTP server is the runtime's).
"""

from __future__ import annotations

import random
from urllib.parse import parse_qsl, urlsplit

import pytest

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import Event, FetchRequested, Mode, ResetRequested
from ipgwsim.firmware import Firmware
from ipgwsim.firmware.admin import version_string
from ipgwsim.firmware.config import defaults
from ipgwsim.firmware.fullconfig import render_full
from ipgwsim.firmware.update import (
    BOOT_VAR,
    CHECK_VAR,
    FETCH_TIMEOUT,
    PROT_VAR,
    SCRIPT_VAR,
    expand_url,
    script_name,
    with_file,
)
from ipgwsim.firmware.updatescript import (
    Check,
    Load,
    ScriptError,
    Times,
    parse_script,
)
from ipgwsim.flash.bootslots import running_slot
from ipgwsim.flash.credentials import AUTH_VAR
from ipgwsim.flash.errors import NO_SPACE_EVENT
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import ImageKind, build_image, check_slot
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarFlags, VarStore
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto.http import Fetch, FetchResult
from ipgwsim.proto.node import drain_events
from ipgwsim.testing.lab import Lab

PROFILE = find_profile("IP6000")
SERIAL = "009033100abc"
SERVER = "http://10.0.0.9/up/"
SCRIPT = SERVER + "update-ip6000.htm"
UP1 = "config change UP1 /url http%3A%2F%2F10.0.0.9%2Fup%2F\r\n"
#: Midnight UTC of a day, as seconds since the epoch.
DAY = 19675 * 86400
MINUTE = 60.0
NEW_IMAGE = build_image(ImageKind.FIRMWARE, "IP6000", "09-new", random.Random(9).randbytes(4096))


class Bench:
    """One firmware on a factory flash; its fetches answered from ``files`` or by hand."""

    def __init__(
        self,
        config: str = UP1,
        *,
        new: bool = False,
        wall_clock: float | None = None,
        flash: NorFlash | None = None,
        vars_: dict[str, str] | None = None,
    ) -> None:
        self.flash = flash if flash is not None else factory_flash(PROFILE)
        table = PartitionTable(self.flash, PROFILE)
        ConfigRing(table["config"]).write(defaults(PROFILE).render() + config)
        store = VarStore(table["vars"])
        if not new:
            store.set(SCRIPT_VAR, b"1", VarFlags.PERSISTENT)
        for name, value in (vars_ or {}).items():
            store.set(name, value.encode(), VarFlags.PERSISTENT)
        self.fw = Firmware(
            PROFILE,
            PROFILE.firmware.build,
            partitions=PartitionTable(self.flash, PROFILE),
            rng=random.Random(1),
            serial=SERIAL,
            wall_clock=wall_clock,
            boot_build=PROFILE.boot.build,
        )
        self.now = 0.0
        #: Answers by URL without its query: ``(status, body)``; others wait in ``pending``.
        self.files: dict[str, tuple[int | None, bytes]] = {}
        self.pending: list[Fetch] = []
        self.fetched: list[tuple[float, Fetch]] = []
        self.events: list[Event] = []
        self.drain()
        self.generations_at_start = self.generations()

    # -- events and time -------------------------------------------------------------

    def drain(self) -> None:
        events: list[Event] = drain_events(self.fw)
        for event in events:
            self.events.append(event)
            if isinstance(event, FetchRequested):
                self.fetched.append((self.now, event.fetch))
                self.pending.append(event.fetch)
        for fetch in list(self.pending):
            answer = self.files.get(fetch.url.split("?", 1)[0])
            if answer is not None and fetch in self.pending:
                self.answer(fetch, *answer)

    def run_until(self, until: float) -> None:
        for _ in range(10_000):
            timer = self.fw.get_timer()
            if timer is None or timer > until:
                break
            self.now = max(self.now, timer)
            self.fw.handle_timer(self.now)
            self.drain()
        self.now = max(self.now, until)

    def answer(self, fetch: Fetch, status: int | None, body: bytes = b"") -> None:
        self.pending.remove(fetch)
        error = "connection refused" if status is None else None
        self.fw.fetch_done(FetchResult(fetch.request_id, status, body, error), self.now)
        self.drain()

    def serve_script(self, text: str) -> None:
        self.files[SCRIPT] = (200, text.encode("latin-1"))

    # -- what happened ---------------------------------------------------------------

    def script_polls(self) -> list[float]:
        return [t for t, f in self.fetched if f.purpose == "update script"]

    def log(self) -> list[str]:
        return [text for _, text in self.fw.log]

    def resets(self) -> list[str]:
        return [e.reason for e in self.events if isinstance(e, ResetRequested)]

    def var(self, name: str) -> str | None:
        var = VarStore(PartitionTable(self.flash, PROFILE)["vars"]).get(name)
        return None if var is None else var.value.decode()

    def generations(self) -> int:
        return len(ConfigRing(PartitionTable(self.flash, PROFILE)["config"]).generations())

    def writes(self) -> int:
        """Config generations written since the start."""
        return self.generations() - self.generations_at_start

    def prot_build(self) -> str | None:
        slot = check_slot(
            PartitionTable(self.flash, PROFILE)["prot"], model="IP6000", kinds=(ImageKind.FIRMWARE,)
        )
        assert slot.valid, slot.problem
        assert slot.info is not None
        return slot.info.build


def _one_poll(bench: Bench, script: str, at: float = 15 * MINUTE) -> None:
    bench.serve_script(script)
    bench.run_until(at)
    assert bench.script_polls() == [at]


# -- URLs ----------------------------------------------------------------------------------


def test_standard_name_decoding_and_query_arguments() -> None:
    bench = Bench()
    bench.run_until(15 * MINUTE)
    (fetch,) = bench.pending
    assert (fetch.method, fetch.purpose, fetch.body) == ("GET", "update script", None)
    parts = urlsplit(fetch.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == SCRIPT
    assert parse_qsl(parts.query, keep_blank_values=True) == [
        ("ver", version_string(bench.fw)),
        ("PROT", PROFILE.firmware.build),
        ("BOOT", str(PROFILE.boot.build)),
        ("CHECK", ""),
    ]
    assert " " not in fetch.url


def test_query_arguments_follow_the_vars() -> None:
    bench = Bench()
    assert bench.fw.execute(f"vars create {CHECK_VAR} p {b'c7'.hex()}") == ""
    assert bench.fw.execute(f"vars create {PROT_VAR} p {b'09-new'.hex()}") == ""
    assert bench.fw.execute(f"vars create {BOOT_VAR} p {b'146'.hex()}") == ""
    bench.run_until(15 * MINUTE)
    query = dict(parse_qsl(urlsplit(bench.pending[0].url).query, keep_blank_values=True))
    assert (query["PROT"], query["BOOT"], query["CHECK"]) == ("09-new", "146", "c7")


def test_placeholders_in_the_url() -> None:
    config = (
        "config change ETH0 /addr 10.0.0.5 /mask 255.255.255.0 /dhcp off\r\n"
        "config change UP1 /url http://srv/#t/#h/x?mac=#m&ip=#i\r\n"
    )
    bench = Bench(config)
    bench.run_until(15 * MINUTE)
    url = bench.pending[0].url
    assert url.startswith("http://srv/IP6000/IP6000-10-0a-bc/x?mac=009033100abc&ip=10.0.0.5&ver=")


def test_placeholders_without_an_address_and_the_helpers() -> None:
    values = {"m": SERIAL, "h": "IP6000-10-0a-bc", "i": "", "t": "IP6000"}
    assert expand_url("http%3A%2F%2Fs%2F%23t%2F%23i%2F", values) == "http://s/IP6000//"
    assert expand_url("http://s/a%20b/#m", values) == f"http://s/a%20b/{SERIAL}"
    assert script_name("IP6000") == "update-ip6000.htm"
    assert with_file("http://s", "f.bin") == "http://s/f.bin"
    assert with_file("http://s/a/?x=1", "f.bin") == "http://s/a/f.bin?x=1"
    assert with_file("http://s/a/script.txt", "f.bin") == "http://s/a/script.txt"


# -- polling -------------------------------------------------------------------------------


def test_no_url_no_polling() -> None:
    bench = Bench("")
    assert bench.fw.get_timer() is None
    bench.run_until(24 * 3600)
    assert bench.fetched == []


def test_first_poll_one_interval_after_the_start_then_every_15_minutes() -> None:
    bench = Bench()
    bench.serve_script("# nothing to do\r\n")
    bench.run_until(3600)
    assert bench.script_polls() == [900, 1800, 2700, 3600]
    assert bench.fw.update.outcome == "complete"


def test_a_poll_made_late_counts_the_next_one_and_its_timeout_from_when_it_was_made() -> None:
    """The timer ran 400 s after the poll was due (longer than the fetch timeout): one poll
    then, its fetch waits its full 300 s, and the next poll is one interval after it."""
    bench = Bench(new=True)
    due = bench.fw.update.next_poll()
    assert due == 60
    bench.now = due + 400
    bench.fw.handle_timer(bench.now)
    bench.drain()
    assert bench.script_polls() == [460]  # no answer yet: one poll, not a timed-out one
    assert bench.fw.update.last_poll == 460
    assert bench.fw.get_timer() == 460 + 300  # the fetch's timeout, from the poll made
    bench.serve_script("")
    bench.drain()
    assert bench.fw.update.next_poll() == 460 + 15 * MINUTE


def test_a_new_device_polls_every_minute_for_30_minutes() -> None:
    bench = Bench(new=True)
    bench.files[SCRIPT] = (404, b"")  # never a script: the device stays new
    bench.run_until(3600)
    assert bench.script_polls() == [60.0 * m for m in range(1, 31)] + [2700, 3600]
    assert bench.var(SCRIPT_VAR) is None
    assert bench.fw.update.new_device


def test_the_first_script_ends_the_fast_polling() -> None:
    bench = Bench(new=True)
    bench.files[SCRIPT] = (404, b"")
    bench.run_until(3 * MINUTE)
    bench.serve_script("")
    bench.run_until(3600)
    assert bench.script_polls() == [60, 120, 180, 240, 1140, 2040, 2940]
    assert bench.var(SCRIPT_VAR) == "1"
    assert not bench.fw.update.new_device


def test_poll_and_poll_fast() -> None:
    slow = Bench(UP1 + "config add UP1 /poll 5 /poll-fast 10\r\n")
    slow.serve_script("")
    slow.run_until(1800)
    assert slow.script_polls() == [300, 600, 900, 1200, 1500, 1800]

    fast = Bench(UP1 + "config add UP1 /poll-fast 10\r\n", new=True)
    fast.files[SCRIPT] = (500, b"")
    fast.run_until(3600)
    assert fast.script_polls() == [600, 1200, 1800, 2700, 3600]


def test_a_url_set_later_starts_the_polling() -> None:
    bench = Bench("")
    bench.serve_script("")
    bench.run_until(600)
    assert bench.fw.execute("config change UP1 /url http://10.0.0.9/up/") == ""
    assert bench.fw.get_timer() is None  # only the active config counts
    assert bench.fw.execute("config activate") == ""
    assert bench.fw.get_timer() == 900
    bench.run_until(1800)
    assert bench.script_polls() == [900, 1800]


def test_a_failed_fetch_is_logged_and_the_next_poll_comes_as_usual() -> None:
    bench = Bench()
    bench.run_until(15 * MINUTE)
    bench.answer(bench.pending[0], 404)
    bench.run_until(30 * MINUTE)
    bench.answer(bench.pending[0], None)
    assert bench.log() == [
        f"update script {SCRIPT} failed: HTTP 404",
        f"update script {SCRIPT} failed: connection refused",
    ]
    assert bench.fw.get_timer() == 45 * MINUTE
    assert bench.fw.update.outcome == "no script: connection refused"


def test_a_fetch_without_an_answer_times_out_and_a_late_answer_is_ignored() -> None:
    bench = Bench()
    bench.run_until(15 * MINUTE)
    (fetch,) = bench.pending
    assert bench.fw.get_timer() == 15 * MINUTE + FETCH_TIMEOUT
    bench.run_until(15 * MINUTE + FETCH_TIMEOUT)
    assert bench.log() == [f"update script {SCRIPT} failed: no answer within {FETCH_TIMEOUT:g} s"]
    bench.answer(fetch, 200, b"config add CMD0 /log on\r\nconfig write\r\n")
    assert bench.writes() == 0
    assert bench.fw.get_timer() == 30 * MINUTE


# -- parsing -------------------------------------------------------------------------------


def test_parse_script_steps_and_line_numbers() -> None:
    text = (
        "# comment\r\n"
        "mod cmd UP1 check iresetn 7\n"
        "\r\n"
        "mod cmd UP1 time /initial 5 /allow 1,2\r\n"
        "mod cmd UP0 prot fw/ ireset 09-new\r\n"
        "config write\r\n"
        "iresetn"
    )
    lines = parse_script(text)
    assert [line.number for line in lines] == [2, 4, 5, 6, 7]
    assert lines[0].step == Check("iresetn", "7")
    assert lines[1].step == Times(frozenset({1, 2}), 5)
    assert lines[2].step == Load("prot", "fw/", "ireset", "09-new")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("frob", "unknown command 'frob'"),
        ("resets", "unknown command 'resets'"),
        ("mod cmd FOO bar", "unknown command"),
        ("mod cmd UP1 frob", "unknown command"),
        (
            "config change ETH0 /dhcp maybe",
            "ETH0 /dhcp maybe: not one of off, client, server, auto",
        ),
        ("mod cmd UP1 check 7", "usage: mod cmd UP1 check FINAL SERIAL"),
        (
            "mod cmd UP1 check nop 7",
            "'nop' is not a final command (reset, ireset, resetn, iresetn, ser)",
        ),
        ("mod cmd UP1 times /allow 25", "/allow 25: not a list of hours 0-23"),
        ("mod cmd UP1 times /initial x", "/initial x: not a whole number of minutes"),
        ("mod cmd UP0 prot http://s/ ser", "usage: mod cmd UP0 prot URL FINAL BUILD"),
        ("mod cmd UP0 scfg", "usage: mod cmd UP0 scfg URL [FINAL] [...]"),
        ("vars read", "usage: vars read NAME"),
        ("config change CMD0 /user admin", "CMD0 /user ***: not user,password"),
    ],
)
def test_lines_that_are_not_understood(line: str, reason: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script(f"config write\r\n{line}\r\n")
    assert (caught.value.line_number, caught.value.reason) == (2, reason)


def test_a_broken_script_runs_nothing_and_the_log_names_the_line() -> None:
    bench = Bench()
    script = "# fix\r\nconfig add CMD0 /log on\r\nconfig write\r\nmod cmd FOO bar\r\nireset\r\n"
    _one_poll(bench, script)
    assert bench.log() == [
        f"update script {SCRIPT} line 4: mod cmd FOO bar: unknown command; "
        "script refused, nothing run"
    ]
    assert bench.writes() == 0
    assert not bench.fw.edited.has("CMD0", "log")
    assert bench.resets() == []
    assert bench.fw.update.outcome == "refused: line 4: mod cmd FOO bar: unknown command"


def test_a_broken_line_never_shows_a_password() -> None:
    bench = Bench()
    _one_poll(bench, "config write\r\nconfig change CMD0 /name x /user s3cret\r\n")
    assert bench.log() == [
        f"update script {SCRIPT} line 2: config change CMD0 /name x /user ***: "
        "CMD0 /user ***: not user,password; script refused, nothing run"
    ]


# -- running -------------------------------------------------------------------------------


def test_the_password_recovery_script_of_scenario_2() -> None:
    flash = factory_flash(PROFILE)
    bench = Bench(UP1 + "config change CMD0 /name gw /user admin,old\r\n", flash=flash)
    assert bench.fw.check_login("admin", "old")
    script = (
        "config change CMD0 /name X /log on /user admin,ip6000\r\n"
        "config write\r\n"
        "config activate\r\n"
        "config change CMD0 /name X /log on\r\n"
    )
    _one_poll(bench, script)
    fw = bench.fw
    assert fw.check_login("admin", "ip6000")
    assert not fw.check_login("admin", "old")
    assert bench.var(AUTH_VAR) is not None
    assert fw.active.params("CMD0") == {"name": "X", "log": "on"}
    assert "/user" not in fw.execute("config show")
    # The script writes no more after its removal: line 2's generation, /user in clear,
    # stays the newest until the next start moves it into the var.
    newest = ConfigRing(PartitionTable(flash, PROFILE)["config"]).newest_text() or ""
    assert "/user admin,ip6000" in newest
    assert "ip6000" not in " ".join(bench.log())
    assert fw.update.outcome == "complete"
    again = Firmware(PROFILE, PROFILE.firmware.build, partitions=PartitionTable(flash, PROFILE))
    assert again.check_login("admin", "ip6000")
    newest = ConfigRing(PartitionTable(flash, PROFILE)["config"]).newest_text() or ""
    assert "/user" not in newest


def test_an_error_stops_the_script_at_its_line() -> None:
    bench = Bench()
    script = (
        "mod cmd UP1 check ser 7\r\nconfig add CMD0 /log on\r\nvars del NOPE\r\nconfig write\r\n"
    )
    _one_poll(bench, script)
    assert bench.log() == [f"update script {SCRIPT} line 3: vars del NOPE: error: no var NOPE"]
    assert bench.fw.edited.has("CMD0", "log")  # line 2 ran
    assert bench.writes() == 0  # line 4 did not
    assert bench.var(CHECK_VAR) is None  # so the script runs again at the next poll
    assert bench.fw.update.outcome == "stopped at line 3: error: no var NOPE"


def test_check_runs_a_script_once_per_serial() -> None:
    bench = Bench()
    bench.serve_script("mod cmd UP1 check ser 7\r\nconfig add CMD0 /log on\r\nconfig write\r\n")
    bench.run_until(15 * MINUTE)
    assert bench.writes() == 1
    assert bench.var(CHECK_VAR) == "7"
    assert bench.log() == [f"update script {SCRIPT}: complete, {CHECK_VAR} set to 7"]
    bench.run_until(60 * MINUTE)
    assert bench.script_polls() == [900, 1800, 2700, 3600]
    assert bench.writes() == 1  # CHECK matched: the rest never ran again
    assert bench.fw.update.outcome == f"up to date ({CHECK_VAR} 7)"
    query = dict(parse_qsl(urlsplit(bench.fetched[-1][1].url).query, keep_blank_values=True))
    assert query["CHECK"] == "7"
    # a new serial runs it again
    bench.serve_script("mod cmd UP1 check ser 8\r\nconfig add CMD0 /log off\r\nconfig write\r\n")
    bench.run_until(75 * MINUTE)
    assert (bench.writes(), bench.var(CHECK_VAR)) == (2, "8")


def test_check_is_set_only_after_the_whole_script_then_its_final_runs() -> None:
    bench = Bench()
    script = (
        "mod cmd UP1 check iresetn 7\r\n"
        "config add CMD0 /name other\r\n"
        "config write\r\n"
        "mod cmd UP0 cfg nothing.txt\r\n"  # waits for its fetch
    )
    bench.serve_script(script)
    bench.run_until(15 * MINUTE)
    (cfg,) = bench.pending
    assert cfg.url == SERVER + "nothing.txt"
    assert bench.writes() == 1  # lines 2 and 3 ran
    assert bench.var(CHECK_VAR) is None  # not yet: the script has not ended
    assert bench.resets() == []
    bench.answer(cfg, 404)
    assert bench.var(CHECK_VAR) is None  # the script stopped: no CHECK, no final
    assert bench.resets() == []


def test_check_final_after_the_script_resets_when_required() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP1 check iresetn 7\r\nconfig add CMD0 /name x\r\nconfig write\r\n")
    assert bench.var(CHECK_VAR) == "7"
    assert bench.resets() == [f"iresetn (update script {SCRIPT})"]
    assert bench.fw.get_timer() is None  # the device restarts: nothing more
    assert bench.fw.update.outcome == "reset"


def test_times_without_a_time_of_day_stops_the_script() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP1 times /allow 1,2\r\nconfig write\r\n")
    assert bench.writes() == 0
    assert bench.fw.update.outcome == "not now (line 1: the device has no time of day)"
    assert bench.log() == []  # routine: not logged


@pytest.mark.parametrize(("allow", "runs"), [("13", True), ("12,22,23,0", False), (None, True)])
def test_times_allow_by_the_utc_hour(allow: str | None, runs: bool) -> None:
    bench = Bench(wall_clock=DAY + 13 * 3600 + 30 * 60 - 15 * MINUTE)  # 13:30 at the poll
    times = "mod cmd UP1 times" + (f" /allow {allow}" if allow else "")
    _one_poll(bench, f"{times}\r\nconfig write\r\n")
    assert bench.writes() == (1 if runs else 0)


def test_times_initial_waits_after_the_start() -> None:
    bench = Bench(wall_clock=DAY)
    bench.serve_script("mod cmd UP1 times /initial 20\r\nconfig write\r\n")
    bench.run_until(15 * MINUTE)
    assert bench.writes() == 0
    assert bench.fw.update.outcome == "not now (line 1: within 20 minutes of the start (/initial))"
    bench.run_until(30 * MINUTE)
    assert bench.writes() == 1


def test_a_new_device_runs_the_script_outside_allow_and_without_time() -> None:
    bench = Bench(new=True)
    bench.serve_script("mod cmd UP1 times /allow 3\r\nconfig write\r\n")
    bench.run_until(MINUTE)
    assert bench.writes() == 1
    # the next poll finds a device that has had its script: /allow applies again
    bench.run_until(16 * MINUTE)
    assert bench.script_polls() == [60, 960]
    assert bench.writes() == 1


def test_a_new_device_still_waits_for_initial() -> None:
    bench = Bench(new=True)
    _one_poll(bench, "mod cmd UP1 times /initial 5\r\nconfig write\r\n", at=MINUTE)
    assert bench.writes() == 0


def test_a_script_waits_for_its_fetch() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 prot fw/ ser 09-new\r\nconfig write\r\n")
    (download,) = bench.pending
    assert (download.method, download.url, download.purpose) == (
        "GET",
        SERVER + "fw/ip6000.bin",
        "firmware",
    )
    assert bench.writes() == 0
    assert bench.fw.get_timer() == 15 * MINUTE + FETCH_TIMEOUT  # no poll while it runs
    bench.now = 16 * MINUTE
    bench.answer(download, 200, NEW_IMAGE)
    assert bench.writes() == 1
    assert bench.fw.get_timer() == 30 * MINUTE


# -- UP0 prot and boot ---------------------------------------------------------------------


@pytest.mark.parametrize("build", ["09-new", PROFILE.firmware.build])
def test_prot_is_skipped_for_the_current_build(build: str) -> None:
    bench = Bench()
    if build == "09-new":
        assert bench.fw.execute(f"vars create {PROT_VAR} p {build.encode().hex()}") == ""
    _one_poll(bench, f"mod cmd UP0 prot http://fw/ ireset {build}\r\nconfig write\r\n")
    assert len(bench.fetched) == 1  # the script only
    assert bench.writes() == 1
    assert bench.resets() == []


def test_prot_downloads_stores_sets_the_var_and_runs_its_final() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 prot fw/#t/ ireset 09-new\r\nconfig write\r\n")
    (download,) = bench.pending
    assert download.url == SERVER + "fw/IP6000/ip6000.bin"
    bench.answer(download, 200, NEW_IMAGE)
    assert bench.prot_build() == "09-new"
    assert bench.var(PROT_VAR) == "09-new"
    assert bench.fw.reset_required
    assert bench.resets() == [f"ireset (update script {SCRIPT} line 1)"]
    assert bench.writes() == 0  # a reset ends the script
    assert f"update script {SCRIPT} line 1: firmware stored, {PROT_VAR} set to 09-new" in (
        bench.log()
    )


def test_prot_var_is_cleared_at_the_next_start() -> None:
    flash = factory_flash(PROFILE)
    bench = Bench(flash=flash, vars_={PROT_VAR: "09-new", BOOT_VAR: "146"})
    assert bench.var(PROT_VAR) is None
    assert bench.var(BOOT_VAR) is None


def test_prot_with_no_space_leaves_the_firmware_alone() -> None:
    # Larger than the whole pool (prot and the flash directory's free sectors).
    pool = FlashMan(PartitionTable(factory_flash(PROFILE), PROFILE)).largest_firmware()
    big = build_image(ImageKind.FIRMWARE, "IP6000", "09-big", bytes(pool))
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 prot fw/ ireset 09-big\r\nconfig write\r\n")
    bench.answer(bench.pending[0], 200, big)
    assert NO_SPACE_EVENT in bench.log()
    assert f"update script {SCRIPT} line 1: Firmwareupdate failed:no space; stopped" in bench.log()
    assert bench.prot_build() == PROFILE.firmware.build
    assert bench.var(PROT_VAR) is None
    assert bench.resets() == []
    assert bench.writes() == 0


def test_prot_refuses_an_image_of_another_model() -> None:
    other = build_image(ImageKind.FIRMWARE, "IP811", "09-new", b"x" * 100)
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 prot fw/ ireset 09-new\r\nconfig write\r\n")
    bench.answer(bench.pending[0], 200, other)
    assert "Firmwareupdate failed: image is for IP811, this device is an IP6000" in bench.log()
    assert bench.prot_build() == PROFILE.firmware.build
    assert (bench.var(PROT_VAR), bench.resets(), bench.writes()) == (None, [], 0)


def test_prot_download_failure_stops_the_script() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 prot fw/ ser 09-new\r\nconfig write\r\n")
    bench.answer(bench.pending[0], 404)
    assert bench.log() == [
        f"update script {SCRIPT} line 1: firmware download failed: HTTP 404; stopped"
    ]
    assert bench.writes() == 0


def test_boot_uses_the_boot_name_and_its_var() -> None:
    bench = Bench()
    current = str(PROFILE.boot.build)
    _one_poll(
        bench, f"mod cmd UP0 boot http://s/ ser {current}\r\nmod cmd UP0 boot http://s/ ser 999\r\n"
    )
    (download,) = bench.pending
    assert (download.url, download.purpose) == ("http://s/boot6000.bin", "boot code")
    bench.answer(download, 404)
    assert bench.var(BOOT_VAR) is None
    assert bench.fw.update.outcome == "stopped at line 2: boot code download failed"


def test_boot_stores_a_new_boot_code_in_the_other_slot() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 boot http://s/ ireset 146\r\n")
    (download,) = bench.pending
    image = build_image(ImageKind.BOOT, "IP6000", "146", b"b" * 4096, boot_build=146)
    bench.answer(download, 200, image)
    assert bench.var(BOOT_VAR) == "146"
    slot, status = running_slot(PartitionTable(bench.flash, PROFILE)["boot"], "IP6000")
    assert slot == 1
    assert status.info is not None
    assert status.info.build == "146"
    assert bench.resets() == [f"ireset (update script {SCRIPT} line 1)"]


# -- UP0 cfg and scfg ----------------------------------------------------------------------


def test_cfg_loads_a_full_config_then_its_final() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 cfg cfg/#m.txt iresetn\r\n")
    (download,) = bench.pending
    assert (download.url, download.purpose) == (SERVER + f"cfg/{SERIAL}.txt", "config")
    full = (
        "config change CMD0 /name loaded\r\n"
        "config change ETH0 /addr 10.0.0.5 /mask 255.255.255.0 /dhcp off\r\n"
        f"{UP1}"
        "vars create X/Y p 0102\r\n"
        "mod cmd FLASHDIR0 add-item cn=a tel=1\r\n"
    )
    bench.answer(download, 200, full.encode())
    assert bench.fw.active.get("CMD0", "name") == "loaded"
    assert bench.var("X/Y") == "\x01\x02"
    assert FlashDir(PartitionTable(bench.flash, PROFILE)["flashdir"]).items() == [
        ("cn=a", b"tel=1")
    ]
    assert bench.resets() == [f"iresetn (update script {SCRIPT} line 1)"]


@pytest.mark.parametrize("body", [b"", b"config change CMD0 /name lost\r\n"])
def test_cfg_without_eth0_is_not_loaded_and_stops_the_script(body: bytes) -> None:
    """A config without ETH0 (an empty download too) would leave the device without an
    address, out of reach of any update server: it is refused, nothing written."""
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 cfg c.txt iresetn\r\nconfig write\r\n")
    bench.answer(bench.pending[0], 200, body)
    (line,) = [text for text in bench.log() if "line 1" in text]
    assert line.startswith(
        f"update script {SCRIPT} line 1: config not loaded: the config has no ETH0 line"
    )
    assert bench.writes() == 0
    assert bench.resets() == []
    assert bench.fw.active.get("ETH0", "dhcp") == "auto"  # the config as it was
    assert bench.fw.active.get("CMD0", "name") == "IP6000"


def test_cfg_that_does_not_load_stops_the_script() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 cfg c.txt ser\r\nconfig write\r\n")
    bench.answer(bench.pending[0], 200, b"config write\r\nmod cmd FLASHMAN0 info state\r\n")
    (line,) = [text for text in bench.log() if "line 1" in text]
    assert line.startswith(f"update script {SCRIPT} line 1: config not loaded: line 2: ")
    assert bench.writes() == 0


def test_scfg_puts_the_full_config_and_a_failure_does_not_stop() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 scfg backup.php?mode=backup&sn=#m\r\nconfig write\r\n")
    (upload,) = bench.pending
    assert (upload.method, upload.purpose) == ("PUT", "config backup")
    assert upload.url == SERVER + f"backup.php?mode=backup&sn={SERIAL}"
    assert upload.body == render_full(bench.fw).encode()
    assert b"config change UP1 /url" in upload.body
    bench.answer(upload, 500)
    assert bench.log() == [f"update script {SCRIPT} line 1: config upload failed: HTTP 500"]
    assert bench.writes() == 1
    assert bench.fw.update.outcome == "complete"


# -- final commands ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "required", "resets"),
    [
        ("reset", False, True),
        ("ireset", False, True),
        ("resetn", False, False),
        ("iresetn", False, False),
        ("resetn", True, True),
        ("iresetn", True, True),
        ("ser", True, False),
    ],
)
def test_final_commands_as_lines(word: str, required: bool, resets: bool) -> None:
    bench = Bench()
    change = "config add CMD0 /name other\r\nconfig write\r\n" if required else ""
    _one_poll(bench, f"{change}{word}\r\nconfig add CMD0 /log on\r\n")
    assert bench.resets() == (
        [f"{word} (update script {SCRIPT} line {3 if required else 1})"] if resets else []
    )
    assert bench.fw.edited.has("CMD0", "log") is not resets  # a reset ends the script
    assert (bench.fw.get_timer() is None) is resets


# -- typed commands ------------------------------------------------------------------------


def test_typed_prot_downloads_and_logs_later() -> None:
    bench = Bench("")
    out = bench.fw.execute("mod cmd UP0 prot http://srv/ ser 1")
    assert out == "mod cmd UP0 prot http://srv/ ser 1: GET http://srv/ip6000.bin\r\n"
    bench.drain()
    (download,) = bench.pending
    assert download.url == "http://srv/ip6000.bin"
    bench.answer(download, 200, NEW_IMAGE)
    assert bench.prot_build() == "09-new"
    assert bench.var(PROT_VAR) == "1"
    assert "mod cmd UP0 prot http://srv/ ser 1: firmware stored, UPDATE/PROT set to 1" in (
        bench.log()
    )
    assert bench.fw.execute("mod cmd UP0 prot http://srv/ ser 1") == (
        "mod cmd UP0 prot http://srv/ ser 1: 1 is the current build\r\n"
    )


def test_typed_check_and_times_and_errors() -> None:
    bench = Bench("")
    assert bench.fw.execute("mod cmd UP1 check ser 5") == (
        f"mod cmd UP1 check ser 5: complete, {CHECK_VAR} set to 5\r\n"
    )
    assert bench.var(CHECK_VAR) == "5"
    assert bench.fw.execute("mod cmd UP1 check ser 5") == (
        f"mod cmd UP1 check ser 5: {CHECK_VAR} is 5\r\n"
    )
    assert bench.fw.execute("mod cmd UP1 times /allow 1") == (
        "mod cmd UP1 times /allow 1: not now: the device has no time of day\r\n"
    )
    assert bench.fw.execute("mod cmd UP1 provision 5") == ""
    assert bench.fw.execute("mod cmd UP0 prot fw/ ser 2") == (
        "error: fw/: a typed command needs an absolute URL (http://...)\r\n"
    )
    assert bench.fw.execute("mod cmd UP0 cfg") == "error: usage: mod cmd UP0 cfg URL [FINAL]\r\n"
    bench.drain()
    assert bench.pending == []


def test_a_firmware_without_a_flash_keeps_its_vars_in_memory() -> None:
    fw = Firmware(PROFILE, PROFILE.firmware.build, serial=SERIAL)
    assert fw.update.new_device
    assert fw.execute("mod cmd UP1 check ser 5") == (
        f"mod cmd UP1 check ser 5: complete, {CHECK_VAR} set to 5\r\n"
    )
    assert fw.execute("mod cmd UP1 check ser 5") == f"mod cmd UP1 check ser 5: {CHECK_VAR} is 5\r\n"


# -- on a device -----------------------------------------------------------------------------


def test_on_a_device_prot_and_ireset_restart_into_the_new_firmware() -> None:
    flash = factory_flash(PROFILE)
    table = PartitionTable(flash, PROFILE)
    ConfigRing(table["config"]).write(defaults(PROFILE).render() + UP1)
    VarStore(table["vars"]).set(SCRIPT_VAR, b"1", VarFlags.PERSISTENT)
    lab = Lab()
    gw = lab.add("IP6000", flash=flash)
    assert gw.mode is Mode.FIRMWARE
    lab.run(15 * MINUTE)
    (script,) = gw.of_type(FetchRequested)
    assert script.fetch.url.startswith("http://10.0.0.9/up/update-ip6000.htm?ver=")
    body = b"mod cmd UP0 prot fw/ ireset 09-new\r\nconfig write\r\n"
    gw.device.fetch_done(FetchResult(script.fetch.request_id, 200, body), lab.now)
    download = gw.of_type(FetchRequested)[1].fetch
    assert download.url == SERVER + "fw/ip6000.bin"
    gw.device.fetch_done(FetchResult(download.request_id, 200, NEW_IMAGE), lab.now)
    (reset,) = gw.of_type(ResetRequested)
    assert reset.reason == f"ireset (update script {SCRIPT} line 1)"
    lab.run(60)
    firmware = gw.device.firmware
    assert firmware is not None
    assert firmware.build == "09-new"
    assert gw.mode is Mode.FIRMWARE
    # after the restart UPDATE/PROT is unset: the running build is compared
    assert VarStore(table["vars"]).get(PROT_VAR) is None
    assert dict(firmware.update.query_args())["PROT"] == "09-new"


# -- what a review found -----------------------------------------------------------------


def test_a_bad_url_in_the_active_config_stops_polling_instead_of_the_device() -> None:
    bench = Bench()
    # The config refuses such a value; a flash written otherwise must not wedge the device.
    bench.fw.active._modules["UP1"] = {"url": "http://[fe80::1/up/"}
    assert bench.fw.update.script_url() is None
    assert bench.fw.get_timer() is None
    bench.fw.active._modules["UP1"] = {"url": "http://srv/", "poll": "9" * 400}
    assert bench.fw.update.next_poll() is not None  # an absurd interval is bounded


def test_a_line_that_fails_while_it_runs_stops_the_script_and_polling_goes_on() -> None:
    bench = Bench()
    _one_poll(bench, "mod cmd UP0 prot http://[::1/ ser 09-x\r\nconfig write\r\n")
    assert bench.fw.update.outcome is not None
    assert bench.fw.update.outcome.startswith("stopped at line 1: ")
    assert any("line 1: " in text and text.endswith("; stopped") for text in bench.log())
    assert bench.writes() == 0  # nothing after the failed line ran
    assert bench.fw.update.next_poll() == 30 * MINUTE


def test_boot_code_then_a_firmware_that_needs_it_then_iresetn() -> None:
    """innovaphone's own server sends boot, prot, iresetn; the firmware needs the new boot."""
    bench = Bench()
    boot = build_image(ImageKind.BOOT, "IP6000", "146", b"b" * 4096, boot_build=146)
    firmware = build_image(
        ImageKind.FIRMWARE, "IP6000", "09-needs-146", b"f" * 4096, min_boot_build=146
    )
    bench.files["http://10.0.0.9/up/boot6000.bin"] = (200, boot)
    bench.files["http://10.0.0.9/up/ip6000.bin"] = (200, firmware)
    _one_poll(
        bench, "mod cmd UP0 boot ./ ser 146\r\nmod cmd UP0 prot ./ ser 09-needs-146\r\niresetn\r\n"
    )
    assert bench.prot_build() == "09-needs-146"
    assert bench.resets() == [f"iresetn (update script {SCRIPT} line 3)"]


def test_an_answer_meant_for_the_firmware_before_a_restart_is_ignored() -> None:
    device = Device(PROFILE, factory_flash(PROFILE), Instance.numbered("gw", 1))
    fetches: list[Fetch] = []

    def drain() -> None:
        for event in drain_events(device):
            if isinstance(event, FetchRequested):
                fetches.append(event.fetch)

    device.power_on(0.0)
    drain()
    firmware = device.firmware
    assert firmware is not None
    firmware.execute("mod cmd UP0 cfg http://10.0.0.9/slow.txt ser")
    firmware.execute(UP1.strip())
    firmware.execute("config write")
    assert firmware.execute("reset") == "reset\r\n"
    drain()
    (old,) = fetches
    restarted = device.firmware
    assert restarted is not None
    assert restarted is not firmware
    due = device.get_timer()
    assert due is not None
    device.handle_timer(due)
    drain()
    new = fetches[-1]
    assert new.purpose == "update script"
    assert new.request_id != old.request_id
    # The old download answers late: the new firmware does not take it for its script.
    late = b"config change CMD0 /name fromold\r\n"
    device.fetch_done(FetchResult(old.request_id, 200, late), due + 1)
    assert restarted.edited.get("CMD0", "name") == "IP6000"
    assert restarted.update.outcome is None

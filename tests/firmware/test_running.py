"""The running firmware: config at start, the /user move, the admin login, the commands."""

# The device's mode changes between two asserts on the same expression.
# mypy: disable-error-code="comparison-overlap"

from __future__ import annotations

import random

import pytest

from ipgwsim.device import Device, Instance, default_config, factory_flash, factory_payload
from ipgwsim.events import ConsoleOutput, FlashChanged, Mode
from ipgwsim.firmware import Firmware
from ipgwsim.firmware.config import Config, defaults
from ipgwsim.flash.credentials import AUTH_VAR, AdminCredentials
from ipgwsim.flash.errors import PowerLost
from ipgwsim.flash.faults import PowerCut
from ipgwsim.flash.flashdir import FlashDir
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarFlags, VarStore
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.node import drain_events
from ipgwsim.proto.tftp import TransferComplete
from ipgwsim.testing.lab import DeviceNode, Lab

IP = "10.0.0.5"
PROFILE = find_profile("IP6000")
#: The factory config (the firmware's defaults).
FACTORY = default_config(PROFILE)
RECOVERY = "config change CMD0 /name gw1 /log on /user admin,s3cret\r\n"


def _ring(flash: NorFlash, profile: Profile = PROFILE) -> ConfigRing:
    return ConfigRing(PartitionTable(flash, profile)["config"])


def _vars(flash: NorFlash, profile: Profile = PROFILE) -> VarStore:
    return VarStore(PartitionTable(flash, profile)["vars"])


def _start(flash: NorFlash, seed: int = 1, profile: Profile = PROFILE) -> Firmware:
    return Firmware(
        profile,
        profile.firmware.build,
        partitions=PartitionTable(flash, profile),
        rng=random.Random(seed),
    )


def _console(firmware: Firmware) -> list[str]:
    return [e.line for e in drain_events(firmware) if isinstance(e, ConsoleOutput)]


def _running(node: DeviceNode) -> Firmware:
    firmware = node.device.firmware
    assert firmware is not None
    return firmware


def _restart_through_tftp_mode(lab: Lab, gw: DeviceNode, config: str) -> None:
    """The TFTP approach of Howto:Config or Password Recovery: TFTP mode, gwload /setip,
    PUT config, gwload RESET."""
    lab.press(gw, hold=1.8)
    assert gw.mode is Mode.TFTP_MODE
    lab.setip(gw, IP)
    assert isinstance(lab.put(IP, "config", config.encode()), TransferComplete)
    lab.ask(gwload.Reset(11, gw.device.instance.mac, PROFILE.gwtype), to=IP)
    assert gw.mode is Mode.FIRMWARE


# -- start, and the TFTP recovery ----------------------------------------------------------------


def test_factory_start_runs_the_factory_config_with_the_default_password() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    firmware = _running(gw)
    assert firmware.active == Config.from_text(default_config(PROFILE))
    assert firmware.edited == firmware.active
    assert firmware.check_login("admin", PROFILE.firmware.default_password)
    assert not firmware.check_login("admin", "wrong")
    assert not firmware.check_login("root", PROFILE.firmware.default_password)
    assert _vars(gw.device.flash).get(AUTH_VAR) is None  # nothing written at a plain start
    console = gw.console()
    assert "config: generation 1 loaded, 3 modules" in console
    assert "admin: no stored credentials, the defaults apply (user admin)" in console


def test_tftp_recovery_moves_the_user_into_the_crypted_var() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    before = _running(gw)
    assert before.execute("vars create UPDATE/CHECK p 3432") == ""
    assert before.execute("mod cmd FLASHDIR0 add-item cn=alice tel=21") == ""
    _restart_through_tftp_mode(lab, gw, RECOVERY)

    firmware = _running(gw)
    assert firmware is not before
    assert firmware.check_login("admin", "s3cret")
    assert not firmware.check_login("admin", PROFILE.firmware.default_password)
    auth = _vars(gw.device.flash).get(AUTH_VAR)
    assert auth is not None
    assert "c" in auth.flags.letters()
    assert b"s3cret" not in auth.value
    # the visible config has no /user: not the running one, not the newest generation
    assert not firmware.active.has("CMD0", "user")
    assert firmware.active.params("CMD0") == {"name": "gw1", "log": "on"}
    ring = _ring(gw.device.flash)
    texts = [g.text for g in ring.generations()]
    assert texts == [default_config(PROFILE), RECOVERY, "config change CMD0 /name gw1 /log on\r\n"]
    assert "/user" not in (ring.newest_text() or "")
    # vars and the flash directory are kept: no long reset was done
    assert firmware.execute("vars read UPDATE/CHECK") == "UPDATE/CHECK p 3432\r\n"
    assert firmware.execute("mod cmd FLASHDIR0 list") == "cn=alice tel=21\r\n"
    console = gw.console()
    assert (
        "config: admin credentials of user 'admin' moved into the crypted var CMD0/AUTH; "
        "config written without /user as generation 3"
    ) in console
    assert not any("s3cret" in line for line in console)


def test_tftp_recovery_with_the_model_password() -> None:
    flash = factory_flash(PROFILE)
    first = _start(flash)
    first.execute("config change CMD0 /name gw1 /user admin,other")
    first.execute("config activate")
    assert not first.check_login("admin", "ip6000")
    _ring(flash).write("config change CMD0 /name gw1 /user admin,ip6000\r\n")
    firmware = _start(flash)
    assert firmware.check_login("admin", "ip6000")
    var = _vars(flash).get(AUTH_VAR)
    assert var is not None
    assert VarFlags.CRYPTED in var.flags
    assert _ring(flash).newest_text() == "config change CMD0 /name gw1\r\n"


def test_the_salt_comes_from_the_injected_rng() -> None:
    flash = factory_flash(PROFILE)
    _ring(flash).write(RECOVERY)
    _start(flash, seed=7)
    var = _vars(flash).get(AUTH_VAR)
    assert var is not None
    assert AdminCredentials.decode(var.value).salt == random.Random(7).randbytes(16)


def test_after_a_long_reset_the_defaults_and_the_default_password_apply() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _restart_through_tftp_mode(lab, gw, RECOVERY)
    assert _running(gw).check_login("admin", "s3cret")
    lab.press(gw, hold=10.5)
    lab.run(5.0)
    assert gw.mode is Mode.TFTP_MODE
    lab.power_off(gw)
    lab.power_on(gw)
    assert gw.mode is Mode.FIRMWARE
    firmware = _running(gw)
    assert firmware.active == defaults(PROFILE)
    assert firmware.check_login("admin", PROFILE.firmware.default_password)
    assert not firmware.check_login("admin", "s3cret")
    assert _ring(gw.device.flash).newest is None  # the defaults are not written by themselves
    assert (
        "config: the config ring is empty (long reset): running the factory defaults"
        in gw.console()
    )


def test_a_config_that_does_not_load_gives_the_defaults_and_says_why() -> None:
    flash = factory_flash(PROFILE)
    _ring(flash).write("config change CMD0 /name gw1\r\n# ok\r\nconfig change ETH0 /dhcp maybe\r\n")
    firmware = _start(flash)
    assert firmware.active == defaults(PROFILE)
    assert firmware.edited == defaults(PROFILE)
    assert (
        "config: generation 2 does not load: line 3: ETH0 /dhcp maybe: not one of off, client, "
        "server, auto; running the factory defaults"
    ) in _console(firmware)


def test_a_config_with_a_syntax_error_names_the_line_and_no_password() -> None:
    flash = factory_flash(PROFILE)
    _ring(flash).write("config change CMD0 /user admin,pw1 /name\r\nconfig frob CMD0\r\n")
    firmware = _start(flash)
    console = _console(firmware)
    assert (
        "config: generation 2 does not load: line 2: unknown config verb 'frob'; "
        "running the factory defaults"
    ) in console
    assert not any("pw1" in line for line in console)
    assert _vars(flash).get(AUTH_VAR) is None  # a config that does not load moves nothing
    assert firmware.check_login("admin", PROFILE.firmware.default_password)


def test_a_user_that_cannot_be_stored_is_dropped_and_said() -> None:
    flash = factory_flash(PROFILE)
    _ring(flash).write("config change CMD0 /name gw1 /user ad$min,pw1\r\n")
    firmware = _start(flash)
    console = _console(firmware)
    assert any(line.startswith("config: CMD0 /user not stored: CMD0 /user: ") for line in console)
    assert not any("pw1" in line for line in console)
    assert not firmware.active.has("CMD0", "user")
    assert _vars(flash).get(AUTH_VAR) is None


def test_a_damaged_credentials_var_refuses_every_login() -> None:
    flash = factory_flash(PROFILE)
    _vars(flash).set(AUTH_VAR, b"scrypt$garbage", VarFlags.PERSISTENT | VarFlags.CRYPTED)
    firmware = _start(flash)
    assert not firmware.check_login("admin", PROFILE.firmware.default_password)
    assert any("CMD0/AUTH cannot be read" in line for line in _console(firmware))


def test_a_power_cut_during_the_move_never_loses_the_password() -> None:
    """Cut the first start at every flash operation: a later start always ends the move."""
    cut_at = 1
    while True:
        flash = factory_flash(PROFILE)
        _ring(flash).write(RECOVERY)
        flash.faults.cut = PowerCut(flash.faults.count + cut_at)
        try:
            _start(flash)
        except PowerLost:
            flash.power_on()
            firmware = _start(flash, seed=2)
            assert firmware.check_login("admin", "s3cret"), cut_at
            assert _ring(flash).newest_text() == "config change CMD0 /name gw1 /log on\r\n"
            cut_at += 1
            continue
        break
    assert cut_at > 2  # the var and the ring were both cut at least once


def test_a_power_cut_at_the_start_switches_the_device_off() -> None:
    flash = factory_flash(PROFILE)
    _ring(flash).write(RECOVERY)
    lab = Lab()
    gw = lab.add("IP6000", flash=flash, power_on=False)
    gw.device.cut_power_at(1)
    lab.power_on(gw)
    assert gw.mode is Mode.OFF
    assert gw.device.firmware is None
    lab.power_on(gw)
    assert gw.mode is Mode.FIRMWARE
    assert _running(gw).check_login("admin", "s3cret")


def test_without_a_flash_the_firmware_runs_as_before() -> None:
    firmware = Firmware(PROFILE, "x")
    assert _console(firmware) == [
        "IP6000 firmware x running",
        "ETH0: DHCP client (/dhcp auto): no address without a DHCP server",
    ]
    assert firmware.active == defaults(PROFILE)
    assert firmware.check_login("admin", PROFILE.firmware.default_password)
    assert firmware.execute("config change CMD0 /name a") == ""
    for line in ("config write", "vars read X", "mod cmd FLASHMAN0 info state"):
        assert firmware.execute(line) == "error: this firmware runs without a flash\r\n"


# -- config commands ------------------------------------------------------------------------------


def test_config_change_show_reset_write_activate() -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    _console(firmware)
    assert firmware.execute("config change ETH0 /addr 10.0.0.9 /mask 255.0.0.0") == ""
    assert firmware.execute("config add UP1 /url http://srv/ /no-dhcp") == ""
    shown = firmware.execute("config show")
    assert shown == (
        "config change CMD0 /name IP6000\r\n"
        "config change ETH0 /addr 10.0.0.9 /mask 255.0.0.0\r\n"
        "config change ETH1 /addr 192.168.1.1 /mask 255.255.255.0\r\n"
        "config change UP1 /url http://srv/ /no-dhcp\r\n"
    )
    assert firmware.active == Config.from_text(default_config(PROFILE))  # not active yet
    assert firmware.execute("config rem UP1") == ""
    assert "UP1" not in firmware.edited
    assert firmware.execute("config reset") == ""  # the edits are discarded
    assert firmware.edited == firmware.active
    firmware.execute("config change ETH0 /dhcp client")
    assert firmware.execute("config write") == "config written as generation 2\r\n"
    assert _ring(flash).newest_text() == firmware.edited.render()
    assert any(isinstance(e, FlashChanged) for e in iter(firmware.next_event, None))
    assert firmware.active != firmware.edited
    assert firmware.execute("config activate") == ""
    assert firmware.active == firmware.edited
    assert firmware.active.get("ETH0", "dhcp") == "client"
    assert _start(flash).active == firmware.active  # the written config runs after a restart


def test_config_change_with_a_bad_value_changes_nothing() -> None:
    firmware = _start(factory_flash(PROFILE))
    firmware.execute("config change ETH0 /addr 10.0.0.9 /dhcp off")
    before = firmware.edited.copy()
    out = firmware.execute("config change ETH0 /addr 10.0.0.10 /dhcp maybe")
    assert out == "error: line 1: ETH0 /dhcp maybe: not one of off, client, server, auto\r\n"
    assert firmware.edited == before
    assert firmware.execute("config add ETH0 /addr 10.0.0.10 /mask 255.0.255.0").startswith(
        "error: line 1: ETH0 /mask 255.0.255.0: not a netmask"
    )
    assert firmware.edited == before


def test_config_syntax_errors_and_passwords_in_errors() -> None:
    firmware = _start(factory_flash(PROFILE))
    assert firmware.execute("config frob") == (
        "error: line 1: config frob: unknown config verb 'frob'\r\n"
    )
    assert firmware.execute("config write now") == (
        "error: line 1: config write now: config write takes no arguments\r\n"
    )
    assert firmware.execute("config change CMD0 /user admin,") == (
        "error: line 1: CMD0 /user ***: the password is empty\r\n"
    )
    # an empty password does not change it (Reference8:Configuration/General/Admin)
    assert firmware.execute("config activate") == ""
    assert firmware.check_login("admin", PROFILE.firmware.default_password)
    assert not firmware.check_login("admin", "")
    out = firmware.execute("config change CMD0 /user admin,pw1 stray")
    assert out.startswith("error: line 1: config change CMD0 /user *** stray: ")
    assert "pw1" not in out
    assert firmware.execute("") == ""
    assert firmware.execute("# a comment") == ""


def test_the_update_server_password_script_step_by_step() -> None:
    """config change with /user; config write; "# encrypt it" config activate; "# remove
    from visible config" config change without /user; then config write."""
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    firmware.execute("config change CMD0 /name gw1 /log on /user admin,pw2")
    assert firmware.execute("config write") == "config written as generation 2\r\n"
    # Written as text: the running password is not changed yet, the var not written.
    newest = _ring(flash).newest_text() or ""
    assert newest.startswith("config change CMD0 /name gw1 /log on /user admin,pw2\r\n")
    assert firmware.check_login("admin", "ip6000")
    assert not firmware.check_login("admin", "pw2")
    assert _vars(flash).get(AUTH_VAR) is None
    # "# encrypt it"
    assert firmware.execute("config activate") == (
        "admin credentials of user 'admin' stored in the crypted var CMD0/AUTH\r\n"
    )
    assert firmware.check_login("admin", "pw2")
    assert not firmware.check_login("admin", "ip6000")
    record = _vars(flash).get(AUTH_VAR)
    assert record is not None
    assert AdminCredentials.decode(record.value).verify("admin", "pw2")
    assert not firmware.active.has("CMD0", "user")
    assert "/user admin,pw2" in firmware.execute("config show")  # still visible, as in the article
    assert [g.number for g in _ring(flash).generations()][-1] == 2  # nothing written
    # "# remove from visible config", then written
    firmware.execute("config change CMD0 /name gw1 /log on")
    assert "/user" not in firmware.execute("config show")
    assert firmware.execute("config write") == "config written as generation 3\r\n"
    assert "/user" not in (_ring(flash).newest_text() or "")
    assert "/user" not in (_start(flash, seed=2).execute("config show"))
    assert "/user" not in (_ring(flash).newest_text() or "")  # the start wrote nothing new
    assert firmware.check_login("admin", "pw2")


def test_config_activate_moves_the_user_without_writing_the_ring() -> None:
    """Activated without a write: the var holds it, the ring not, the view still shows it."""
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    firmware.execute("config change CMD0 /name gw1 /user admin,pw3")
    assert firmware.execute("config activate") == (
        "admin credentials of user 'admin' stored in the crypted var CMD0/AUTH\r\n"
    )
    assert firmware.check_login("admin", "pw3")
    assert not firmware.active.has("CMD0", "user")
    assert "/user admin,pw3" in firmware.execute("config show")
    assert _ring(flash).newest_text() == default_config(PROFILE)  # nothing written


def test_a_written_user_stays_in_clear_in_the_older_generation() -> None:
    """The TFTP path after a config write of /user: the start moves it into the var and
    writes a generation without it; the generation before keeps it in clear."""
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    firmware.execute("config change CMD0 /name gw1 /user admin,pw3")
    firmware.execute("config write")
    assert firmware.check_login("admin", "ip6000")  # not activated: the old password
    again = _start(flash, seed=2)
    assert again.check_login("admin", "pw3")
    assert not again.edited.has("CMD0", "user")
    texts = [g.text for g in _ring(flash).generations()]
    written = FACTORY.replace("/name IP6000", "/name gw1 /user admin,pw3")
    assert texts[-2:] == [written, written.replace(" /user admin,pw3", "")]


def test_config_write_refuses_a_user_the_var_cannot_hold() -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    firmware.execute("config change CMD0 /name gw1 /user a$b,pw3")
    assert firmware.execute("config write").startswith("error: CMD0 /user: ")
    assert _ring(flash).newest_text() == default_config(PROFILE)  # nothing written


def test_a_config_too_large_for_the_ring_is_refused_whole() -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    ring = _ring(flash)
    for n in range(ring.max_text // 60 + 1):
        firmware.execute(f"config add X{n} /p{n} {'v' * 40}")
    firmware.execute("config add CMD0 /user admin,pw4")
    out = firmware.execute("config write")
    assert out.startswith("error: the config needs ")
    assert _vars(flash).get(AUTH_VAR) is None  # the var is not written either
    assert _ring(flash).newest_text() == default_config(PROFILE)


def test_a_power_cut_in_a_command_goes_up() -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    flash.faults.cut = PowerCut(flash.faults.count + 1)
    with pytest.raises(PowerLost):
        firmware.execute("config write")


# -- vars -----------------------------------------------------------------------------------------


def test_vars_create_read_del() -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    assert firmware.execute("vars create UPDATE/PROT p 30382d31") == ""
    assert firmware.execute("vars read UPDATE/PROT") == "UPDATE/PROT p 30382d31\r\n"
    assert firmware.execute("vars create X509/REQUEST pb 00ff") == ""
    assert firmware.execute("vars read X509/REQUEST") == "X509/REQUEST pb 00ff\r\n"
    assert firmware.execute("vars create EMPTY b") == ""  # every var is persistent
    assert firmware.execute("vars read EMPTY") == "EMPTY pb\r\n"
    assert firmware.execute("vars create SECRET pc 1234") == ""
    assert firmware.execute("vars read SECRET") == "SECRET pc (crypted)\r\n"
    assert firmware.execute("vars del UPDATE/PROT") == ""
    assert firmware.execute("vars read UPDATE/PROT") == "error: no var UPDATE/PROT\r\n"
    assert _vars(flash).get("X509/REQUEST") is not None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("vars create A", "usage: vars create NAME FLAGS HEX"),
        ("vars create A p 12 34", "usage: vars create NAME FLAGS HEX"),
        ("vars create A px 12", "vars create A: unknown var flag 'x' (known: p, b, c)"),
        ("vars create A p 1g", "vars create A: non-hexadecimal number found"),
        ("vars create CMD0/AUTH p 00", "vars create CMD0/AUTH: the admin credentials are crypted"),
        ("vars create CMD0/AUTH pc 00", "vars create CMD0/AUTH: the credentials record is damaged"),
        ("vars del NOPE", "no var NOPE"),
        ("vars read", "usage: vars read NAME"),
        ("vars del A B", "usage: vars del NAME"),
        ("vars frob A", "line 1: vars frob A: unknown vars verb 'frob'"),
    ],
)
def test_vars_refusals(line: str, error: str) -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    out = firmware.execute(line)
    assert out.startswith(f"error: {error}"), out
    assert out.endswith("\r\n")
    assert _vars(flash).all() == []


# -- FLASHMAN0, FLASHDIR0, unknown commands -------------------------------------------------------


#: Header and payload of the factory firmware image.
FACTORY_IMAGE_SIZE = len(
    build_image(ImageKind.FIRMWARE, PROFILE.model, PROFILE.firmware.build, factory_payload(PROFILE))
)


def test_flashman_info_state_shows_every_region() -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    lines = firmware.execute("mod cmd FLASHMAN0 info state").split("\r\n")
    assert lines[0].split() == ["region", "size", "used", "free"]
    usage = PartitionTable(flash, PROFILE).usage()
    rows = [line.split() for line in lines[1:-4]]
    assert rows == [[u.name, str(u.size), str(u.used), str(u.free)] for u in usage]
    # FLASHMAN0's pool: the firmware's size and spill, the LDAP directory's room.
    assert lines[-3].split()[:3] == ["firmware", "size", str(FACTORY_IMAGE_SIZE)]
    assert lines[-2].split()[:2] == ["ldap", "allocatable"]
    assert lines[-4].split() == [
        "total",
        str(sum(u.size for u in usage)),
        str(sum(u.used for u in usage)),
        str(sum(u.free for u in usage)),
    ]
    assert lines[-1] == ""
    assert firmware.execute("mod CMD FLASHMAN0 info state") == "\r\n".join(lines)


def test_flashman_reset_ldap_clears_the_flash_directory_only() -> None:
    flash = factory_flash(PROFILE)
    firmware = _start(flash)
    firmware.execute("mod cmd FLASHDIR0 add-item cn=bob tel=22 x")
    firmware.execute("mod cmd FLASHDIR0 add-item cn=alice tel=21")
    firmware.execute("vars create UPDATE/CHECK p 01")
    assert firmware.execute("mod cmd FLASHDIR0 list") == "cn=alice tel=21\r\ncn=bob tel=22 x\r\n"
    before = firmware.execute("mod cmd FLASHMAN0 info state")
    assert firmware.execute("mod cmd FLASHMAN0 reset ldap") == ""
    assert firmware.execute("mod cmd FLASHDIR0 list") == ""
    assert len(FlashDir(PartitionTable(flash, PROFILE)["flashdir"])) == 0
    assert firmware.execute("vars read UPDATE/CHECK") == "UPDATE/CHECK p 01\r\n"
    assert _ring(flash).newest_text() == default_config(PROFILE)
    assert firmware.execute("mod cmd FLASHMAN0 info state") != before


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("frob", "unknown command: frob"),
        ("resets", "unknown command: resets"),
        # the update client's commands (tests/firmware/test_update.py): refused arguments
        ("mod cmd UP0 prot http://srv/ ser", "usage: mod cmd UP0 prot URL FINAL BUILD"),
        (
            "mod cmd UP0 prot http://srv/ frob 1",
            "'frob' is not a final command (reset, ireset, resetn, iresetn, ser)",
        ),
        ("mod cmd UP0 frob", "unknown command: mod cmd UP0 frob"),
        ("mod cmd FLASHMAN0 info", "unknown command: mod cmd FLASHMAN0 info"),
        ("mod cmd FLASHMAN0 reset all", "unknown command: mod cmd FLASHMAN0 reset all"),
        ("mod cmd FLASHDIR0 add-item cn=x", "usage: mod cmd FLASHDIR0 add-item KEY VALUE"),
        ("mod cmd FLASHDIR0 frob", "unknown command: mod cmd FLASHDIR0 frob"),
        ("mod frob X", "line 1: mod frob X: mod needs 'cmd' and a module name"),
    ],
)
def test_unknown_commands_and_refusals(line: str, error: str) -> None:
    firmware = _start(factory_flash(PROFILE))
    assert firmware.execute(line) == f"error: {error}\r\n"


def test_the_device_seeds_the_firmware_as_before_and_makes_its_generator_on_first_use() -> None:
    """The device draws the firmware's seed from the boot code's generator at the start
    and the firmware makes ``random.Random(seed)`` only when it first draws: the salts are
    those of ``random.Random(boot.getrandbits(64))`` made at the start, as before."""
    device = Device(
        PROFILE, factory_flash(PROFILE), Instance.numbered("gw", 1), rng=random.Random(42)
    )
    device.power_on(0.0)
    drain_events(device)
    firmware = device.firmware
    assert firmware is not None
    assert firmware._rng is None  # an idle firmware holds no generator
    assert firmware.partitions is device.boot.partitions  # one table of regions per device
    boot = random.Random(42)
    before = random.Random(boot.getrandbits(64))
    assert firmware.rng.randbytes(16) == before.randbytes(16)
    # The boot code's generator went on from the same point.
    assert device.boot.rng.getrandbits(64) == boot.getrandbits(64)


def test_without_a_seed_the_firmware_draws_from_its_model_and_build() -> None:
    firmware = Firmware(PROFILE, PROFILE.firmware.build)
    expected = random.Random(f"{PROFILE.model} {PROFILE.firmware.build}")
    assert firmware.rng.getrandbits(64) == expected.getrandbits(64)

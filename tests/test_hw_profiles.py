"""The shipped hardware profiles and the strict loader's refusals."""

from __future__ import annotations

import itertools
import tomllib
from importlib import resources
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from ipgwsim.device import default_config
from ipgwsim.events import FirmwareStarted, Mode
from ipgwsim.hw_profiles import (
    REGION_NAMES,
    ConferenceMode,
    Profile,
    ProfileError,
    find_profile,
    load_profile_file,
    load_profiles,
    parse_profile,
)
from ipgwsim.proto import gwload
from ipgwsim.proto.tftp import ErrorCode, TransferComplete, TransferFailed
from ipgwsim.testing.lab import Lab

PACKAGE = resources.files("ipgwsim.hw_profiles")
SHIPPED = sorted(entry.name for entry in PACKAGE.iterdir() if entry.name.endswith(".toml"))
TEMPLATE = (PACKAGE / "ip6000.toml").read_text(encoding="utf-8")
X11 = ("IP811", "IP311", "IP411", "IP0011", "IP1130", "IP3011", "IP6010", "IP6013")
#: Telephony classes per model (php-update-server config.xml).
CLASSES = {
    "IP800": {"bri"},
    "IP6000": {"pri"},
    "IP811": {"bri"},
    "IP311": {"fxo", "fxs"},
    "IP411": {"fxs", "bri"},
    "IP0011": set(),
    "IP1130": {"pri"},
    "IP3011": {"pri"},
    "IP6010": {"pri", "bri"},
    "IP6013": {"pri"},
    "IP3000": {"pri"},
    "IP400": {"bri"},
    "IP21": set(),
    "IP200": set(),
    "IP22": {"fxs"},
    "IP24": {"fxs"},
    "IP302": {"fxs", "bri"},
    "IP305": {"bri"},
}
#: The minimum boot builds for the config recovery (Howto:Config or Password Recovery).
RECOVERY_MIN_BOOT = {
    "IP3000": 320,
    "IP400": 319,
    "IP21": 326,
    "IP200": 338,
    "IP800": 405,
    "IP6000": 132,
    "IP22": 357,
    "IP24": 357,
    "IP302": 357,
    "IP305": 357,
}
#: Profiles whose boot code serves the config as `c`, the older boot code of Howto:Config or
#: Password Recovery.
SERVES_C = {"IP3000", "IP400", "IP21"}


def shipped_text(name: str) -> str:
    return (PACKAGE / name).read_text(encoding="utf-8")


def dotted_keys(node: Any, prefix: str = "") -> set[str]:
    """Every dotted key of a TOML document, lists of tables indexed by position."""
    if isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        node = {str(index): item for index, item in enumerate(node)}
    if not isinstance(node, dict):
        return {prefix}
    keys: set[str] = set()
    for key, value in node.items():
        keys |= dotted_keys(value, f"{prefix}.{key}" if prefix else key)
    return keys


def edit(old: str, new: str, text: str = TEMPLATE) -> str:
    """``text`` with the one occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def refusal(tmp_path: Path, text: str, name: str = "ip6000.toml") -> tuple[ProfileError, Path]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    return info.value, path


def assert_names(error: ProfileError, path: Path, key: str, reason: str) -> None:
    message = str(error)
    assert error.source == str(path)
    assert error.key == key
    assert message.startswith(f"{path}: {key}: ")
    assert reason in message


# --- the shipped profiles ---------------------------------------------------------------


def test_every_requested_model_is_shipped() -> None:
    assert set(load_profiles()) == set(CLASSES)
    assert {f"{model.lower()}.toml" for model in CLASSES} == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_loads_with_sane_regions(name: str) -> None:
    profile = parse_profile(shipped_text(name), name)
    flash = profile.flash
    assert profile.model.lower() + ".toml" == name
    assert flash.size % flash.sector_size == 0
    assert flash.sector_size % flash.program_unit == 0
    offsets = [r.offset for r in profile.regions]
    assert offsets == sorted(offsets)
    for region in profile.regions:
        assert region.name in REGION_NAMES
        assert region.offset % flash.sector_size == 0
        assert region.size % flash.sector_size == 0
        assert region.size > 0
        assert region.end <= flash.size
    for before, after in itertools.pairwise(profile.regions):
        assert before.end <= after.offset
    assert profile.region("config").size >= 4 * flash.sector_size
    assert profile.regions[-1].name == "flashdir"
    assert profile.region("flashdir").end == flash.size


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_boots_answers_gwload_and_serves_its_config(name: str) -> None:
    """Each model: firmware check and start, the press of Howto:Config or Password Recovery,
    DISCOVER/SETIP, its config name.

    The config is served under the profile's name only, and only by a boot code at or
    above the minimum build of Howto:Config or Password Recovery (below it: boot/README.md,
    *Boot code below the recovery build*).
    """
    profile = parse_profile(shipped_text(name), name)
    lab = Lab()
    node = lab.add(profile)
    assert [e.build for e in node.of_type(FirmwareStarted)] == [profile.firmware.build]
    assert f"firmware check: {profile.firmware.build} ok" in node.console()
    started = node.mode
    lab.press(node, hold=1.8)
    assert (started, node.mode) == (Mode.FIRMWARE, Mode.TFTP_MODE)

    [(hello, _)] = lab.ask(gwload.Discover(1, gwload.ANY_MAC, profile.gwtype))
    assert isinstance(hello, gwload.Hello)
    assert (hello.gwtype, hello.model) == (profile.gwtype, profile.model)
    assert (hello.boot_build, hello.config_name) == (
        profile.boot.build,
        profile.boot.tftp_config_name,
    )
    assert hello.ip == IPv4Address("0.0.0.0")
    addressed, _ = lab.setip(node, "10.0.0.7")
    assert isinstance(addressed, gwload.Hello)
    assert addressed.ip == IPv4Address("10.0.0.7")

    other = {"c": "config", "config": "c"}[profile.boot.tftp_config_name]
    missing = lab.get("10.0.0.7", other)
    assert isinstance(missing, TransferFailed)
    assert missing.error_code == ErrorCode.FILE_NOT_FOUND
    dump = lab.get("10.0.0.7", profile.boot.tftp_config_name)
    needed = profile.boot.min_recovery_build
    if needed is not None and profile.boot.build < needed:
        assert isinstance(dump, TransferFailed)
        assert dump.error_code == ErrorCode.ILLEGAL_OPERATION
    else:
        assert isinstance(dump, TransferComplete)
        assert dump.data is not None
        assert default_config(profile) in dump.data.decode()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_has_the_template_shape(name: str) -> None:
    text = shipped_text(name)
    keys = dotted_keys(tomllib.loads(text))
    template = dotted_keys(tomllib.loads(TEMPLATE))
    optional = {"boot.rescue_from_build", "flash.regions.altboot.offset"}
    optional.add("flash.regions.altboot.size")
    assert template <= keys <= template | optional
    lines = text.splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    assert any(line.startswith("placeholders = [") for line in lines[:first_table])


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_follows_the_documented_classes(name: str) -> None:
    profile = parse_profile(shipped_text(name), name)
    tel = profile.telephony
    counts = {"bri": tel.bri, "pri": tel.pri, "fxs": tel.fxs, "fxo": tel.fxo}
    assert {kind for kind, count in counts.items() if count} == CLASSES[profile.model]
    root = profile.model.lower().removeprefix("ip")
    assert (profile.files.firmware, profile.files.boot) == (f"ip{root}.bin", f"boot{root}.bin")
    assert profile.firmware.default_password == profile.model.lower()
    assert profile.boot.tftp_config_name == ("c" if profile.model in SERVES_C else "config")
    assert profile.reset.medium_s == 1.0
    assert profile.supports_gwload
    # Whatever is counted but not in a documented class must be a placeholder.
    for kind in CLASSES[profile.model]:
        assert f"telephony.{kind}" in profile.placeholders


@pytest.mark.parametrize("model", X11)
def test_x11_models(model: str) -> None:
    profile = find_profile(model)
    assert profile.family == "x11"
    assert profile.gwtype == int(model.removeprefix("IP"))
    assert profile.conference.mode is ConferenceMode.PBX_OBJECT
    assert profile.reset.long_s == 10.0  # DECISION in the profile: Reference7, not 15 s
    assert not profile.boot.rescue_copy
    assert not profile.has_region("altboot")
    assert profile.flash.size in (16 << 20, 32 << 20)
    assert profile.flash.sector_size == 64 << 10
    assert {"gwtype", "boot.build", "firmware.default_password"} <= profile.placeholders
    assert profile.leds.has_orange is (model != "IP0011")
    assert "leds.has_orange" in profile.placeholders


def test_ip800_documented_values() -> None:
    ip800 = find_profile("IP800")
    assert (ip800.gwtype, ip800.family, ip800.files.boot) == (800, "legacy", "boot800.bin")
    assert ip800.boot.build == 405
    assert ip800.boot.min_recovery_build == 405
    assert ip800.boot.rescue_copy
    assert ip800.boot.rescue_from_build == 358
    assert ip800.region("altboot").size == ip800.region("boot").size
    assert ip800.flash.size == 32 * 1024 * 1024
    assert "flash.size" not in ip800.placeholders
    assert ip800.telephony.bri > 0
    assert ip800.conference.mode is ConferenceMode.LEGACY
    assert ip800.leds.has_orange


@pytest.mark.parametrize("model", sorted(RECOVERY_MIN_BOOT))
def test_recovery_minimum_boot_builds(model: str) -> None:
    """Every model the recovery of Howto:Config or Password Recovery applies to has a profile
    with its minimum."""
    profile = find_profile(model)
    assert profile.boot.min_recovery_build == RECOVERY_MIN_BOOT[model]
    assert "boot.min_recovery_build" not in profile.placeholders


def test_ip21_ships_boot_code_below_the_recovery_build() -> None:
    ip21 = find_profile("IP21")
    assert ip21.boot.min_recovery_build is not None
    assert ip21.boot.build < ip21.boot.min_recovery_build
    assert "boot.build" in ip21.placeholders
    below = [
        p.model
        for p in load_profiles().values()
        if p.boot.min_recovery_build is not None and p.boot.build < p.boot.min_recovery_build
    ]
    assert below == ["IP21"]


def test_documented_conference_channels() -> None:
    assert find_profile("IP811").conference.channels == 30
    assert find_profile("IP411").conference.channels == 5
    for model in ("IP811", "IP411"):
        assert "conference.channels" not in find_profile(model).placeholders


def test_ip6000_documented_values() -> None:
    ip6000 = find_profile("6000")
    assert ip6000.model == "IP6000"
    assert ip6000.gwtype == 6000
    assert ip6000.firmware.default_password == "ip6000"
    assert ip6000.conference.mode is ConferenceMode.LEGACY


def test_only_ip0011_lacks_the_orange_led() -> None:
    assert [p.model for p in load_profiles().values() if not p.leds.has_orange] == ["IP0011"]


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("ip811", "IP811"),
        ("Ip811", "IP811"),
        ("811", "IP811"),
        ("11", "IP0011"),
        ("0011", "IP0011"),
    ],
)
def test_find_profile_by_name_or_gwtype(name: str, model: str) -> None:
    assert find_profile(name).model == model


def test_find_profile_unknown_model() -> None:
    with pytest.raises(KeyError, match=r"no hardware profile for 'IP999' \(known: IP0011, "):
        find_profile("IP999")


# --- the strict loader's refusals --------------------------------------------------------

BOOT_LINE = "build = 145                   # [DOC]"
PRI_LINE = "pri = 4                       # placeholder"
VARS_REGION = "vars     = { offset = 0x00C0000, size = 0x0080000 }"
FLASHDIR_REGION = "flashdir = { offset = 0x0D40000, size = 0x12C0000 }"


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        pytest.param(
            "supports_gwload = true ",
            'colour = "red"\nsupports_gwload = true ',
            "colour",
            "unknown key",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "has_orange = true ",
            "blue = true\nhas_orange = true ",
            "leds.blue",
            "unknown key",
            id="unknown-nested-key",
        ),
        pytest.param(
            "boot     = { offset = 0x0000000, size = 0x0040000 }",
            "boot     = { offset = 0x0000000, size = 0x0040000, crc = 1 }",
            "flash.regions.boot.crc",
            "unknown key",
            id="unknown-key-in-region",
        ),
        pytest.param("fxo = 0\n", "", "telephony.fxo", "is missing", id="missing-key"),
        pytest.param(
            "[leds]\nhas_orange = true ",
            "has_orange = true ",
            "reset.has_orange",
            "unknown key",
            id="key-outside-its-table",
        ),
        pytest.param(
            BOOT_LINE,
            BOOT_LINE.replace("145", '"145"'),
            "boot.build",
            "must be int, not str",
            id="string-for-int",
        ),
        pytest.param(
            PRI_LINE,
            PRI_LINE.replace("4", "true"),
            "telephony.pri",
            "must be an integer, not True",
            id="true-for-int",
        ),
        pytest.param(
            "supports_gwload = true ",
            "supports_gwload = 1 ",
            "supports_gwload",
            "must be bool, not int",
            id="int-for-bool",
        ),
        pytest.param(
            VARS_REGION,
            VARS_REGION.replace("0x00C0000", "0x0080000"),
            "flash.regions.vars",
            "overlaps region 'config' (0x80000 < 0xc0000)",
            id="overlapping-regions",
        ),
        pytest.param(
            "prot     = { offset = 0x0140000,",
            "prot     = { offset = 0x0141000,",
            "flash.regions.prot.offset",
            "0x141000 is not a multiple of the sector size 0x20000",
            id="unaligned-offset",
        ),
        pytest.param(
            VARS_REGION,
            VARS_REGION.replace("size = 0x0080000", "size = 0x0081000"),
            "flash.regions.vars.size",
            "0x81000 is not a multiple of the sector size 0x20000",
            id="unaligned-size",
        ),
        pytest.param(
            FLASHDIR_REGION,
            FLASHDIR_REGION.replace("0x12C0000", "0x12E0000"),
            "flash.regions.flashdir.size",
            "region ends at 0x2020000, beyond the flash (0x2000000)",
            id="region-outside-the-flash",
        ),
        pytest.param(
            "vars     = {",
            "settings = {",
            "flash.regions.settings",
            "unknown region (known: boot, altboot, prot, config, vars, flashdir)",
            id="unknown-region-name",
        ),
        pytest.param(
            VARS_REGION + "   # placeholder\n",
            "",
            "flash.regions.vars",
            "is missing",
            id="missing-region",
        ),
        pytest.param(
            FLASHDIR_REGION,
            FLASHDIR_REGION.replace("0x12C0000", "0x1280000")
            + "\naltboot  = { offset = 0x1FC0000, size = 0x0040000 }",
            "flash.regions.altboot",
            "must exist exactly when boot.rescue_copy is true",
            id="altboot-without-rescue-copy",
        ),
        pytest.param(
            VARS_REGION,
            "vars     = { offset = 0x00C0000, size = 0x0020000 }",
            "flash.regions.vars",
            "has 1 sector(s); the key-value log of the vars needs at least 2",
            id="vars-one-sector",
        ),
        pytest.param(
            "rescue_copy = false",
            "rescue_copy = true",
            "flash.regions.altboot",
            "must exist exactly when boot.rescue_copy is true",
            id="rescue-copy-without-altboot",
        ),
        pytest.param(
            '"firmware.build",\n]',
            '"firmware.build", "telephony.isdn",\n]',
            "placeholders",
            "names 'telephony.isdn', which the profile lacks",
            id="placeholder-path-missing",
        ),
        pytest.param(
            '"ethernet.1.default_mask"',
            '"ethernet.2.default_mask"',
            "placeholders",
            "names 'ethernet.2.default_mask', which the profile lacks",
            id="placeholder-index-missing",
        ),
        pytest.param(
            '"ethernet.1.default_mask"',
            '"ethernet.-1.default_mask"',
            "placeholders",
            "names 'ethernet.-1.default_mask', which the profile lacks",
            id="placeholder-negative-index",
        ),
        pytest.param(
            '"ethernet.1.default_mask"',
            '"ethernet.01.default_mask"',
            "placeholders",
            "names 'ethernet.01.default_mask', which the profile lacks",
            id="placeholder-padded-index",
        ),
        pytest.param(
            'mode = "legacy"',
            'mode = "rooms"',
            "conference.mode",
            "must be 'legacy' or 'pbx_object', not 'rooms'",
            id="unknown-conference-mode",
        ),
        pytest.param(
            'default_mask = "255.255.255.0"    # placeholder\n\n[telephony]',
            'default_mask = "255.0.255.0"\n\n[telephony]',
            "ethernet.1.default_mask",
            "is not a netmask: '255.0.255.0'",
            id="bad-netmask",
        ),
    ],
)
def test_loader_refuses(tmp_path: Path, old: str, new: str, key: str, reason: str) -> None:
    error, path = refusal(tmp_path, edit(old, new))
    assert_names(error, path, key, reason)


def test_loader_refuses_invalid_toml(tmp_path: Path) -> None:
    error, path = refusal(tmp_path, edit("schema = 1", "schema = "))
    assert error.source == str(path)
    assert error.key == ""
    assert str(error).startswith(f"{path}: is not valid TOML: ")
    assert "line 4" in str(error)


def test_parse_profile_names_the_given_source() -> None:
    with pytest.raises(ProfileError, match=r"^mine\.toml: leds\.blue: unknown key$"):
        parse_profile(edit("has_orange = true ", "blue = 1\nhas_orange = true "), "mine.toml")


def test_template_itself_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "ip6000.toml"
    path.write_text(TEMPLATE, encoding="utf-8")
    profile = load_profile_file(path)
    assert profile.source == str(path)
    assert profile == parse_profile(TEMPLATE, str(path))


# --- user folders --------------------------------------------------------------------


def _own_model(model: str, gwtype: int) -> str:
    text = edit('model = "IP6000"', f'model = "{model}"')
    return edit("gwtype = 6000 ", f"gwtype = {gwtype} ", text)


def test_load_a_user_folder(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(_own_model("IP6001", 6001), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a profile", encoding="utf-8")
    profiles = load_profiles(tmp_path)
    assert list(profiles) == ["IP6001"]
    profile: Profile = profiles["IP6001"]
    assert profile.source == str(tmp_path / "lab.toml")
    assert find_profile("ip6001", tmp_path) == profile
    assert find_profile("6001", tmp_path) == profile
    with pytest.raises(KeyError, match=r"known: IP6001\)"):
        find_profile("IP811", tmp_path)


def test_user_folder_refuses_a_duplicate_model(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "b.toml").write_text(_own_model("ip6000", 6000), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profiles(tmp_path)
    assert_names(
        info.value, tmp_path / "b.toml", "model", f"ip6000 is also defined in {tmp_path / 'a.toml'}"
    )


def test_user_folder_with_a_bad_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(TEMPLATE, encoding="utf-8")
    bad = tmp_path / "b.toml"
    bad.write_text(edit(PRI_LINE, PRI_LINE.replace("4", "-1")), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profiles(tmp_path)
    assert_names(info.value, bad, "telephony.pri", "must not be negative, not -1")


def test_user_folder_must_be_a_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ProfileError, match="is not a folder") as info:
        load_profiles(missing)
    assert info.value.source == str(missing)


def test_the_benchmarks_profiles_load() -> None:
    """benchmarks/profiles holds what the benchmarks load: it must pass the loader's rules
    as they are now, or the benchmarks fail at their start."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks" / "profiles"
    profiles = load_profiles(folder)
    assert "IP6000" in profiles
    assert profiles["IP6000"].flash.size == 0x4000000


# --- parsed once per process ----------------------------------------------------------


def test_the_shipped_profiles_are_parsed_once() -> None:
    """A runtime looks a model up once per device: the profiles are not parsed again."""
    first, second = load_profiles(), load_profiles()
    assert first is not second  # each caller gets a dict of its own
    assert all(second[model] is profile for model, profile in first.items())
    assert find_profile("IP6000") is first["IP6000"]


def test_a_user_folder_file_that_changes_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(_own_model("IP6001", 6001), encoding="utf-8")
    before = find_profile("IP6001", tmp_path)
    assert find_profile("IP6001", tmp_path) is before  # unchanged: the same object
    path.write_text(_own_model("IP6002", 6002), encoding="utf-8")
    assert list(load_profiles(tmp_path)) == ["IP6002"]
    bad = edit(PRI_LINE, PRI_LINE.replace("4", "-1"))
    path.write_text(bad, encoding="utf-8")
    for _ in range(2):  # a refusal is not remembered as a profile
        with pytest.raises(ProfileError, match="must not be negative"):
            load_profiles(tmp_path)

"""The admin web server's answers, one layer: ``Firmware.http`` with plain request values."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from ipgwsim.device import factory_flash
from ipgwsim.firmware import Firmware
from ipgwsim.flash.bootslots import running_slot
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto.http import HttpRequest

PROFILE = find_profile("IP6000")
ADMIN = ("admin", "ip6000")


def _firmware() -> Firmware:
    flash = factory_flash(PROFILE)
    return Firmware(
        PROFILE,
        PROFILE.firmware.build,
        partitions=PartitionTable(flash, PROFILE),
        rng=random.Random(1),
        serial="00903310002a",
        boot_build=145,
    )


def _get(firmware: Firmware, target: str, credentials: tuple[str, str] | None = ADMIN) -> str:
    response = firmware.http(HttpRequest("GET", target, credentials), 0.0)
    assert response.status == 200, response.body
    return response.body.decode()


def test_box_info_has_the_version_string_and_needs_no_login() -> None:
    firmware = _firmware()
    response = firmware.http(HttpRequest("GET", "/CMD0/box_info.xml"), 0.0)
    assert response.status == 200
    assert response.content_type.startswith("text/xml")
    sys = ET.fromstring(response.body).find("sys")
    assert sys is not None
    assert sys.attrib == {
        "version": "8.00 ipgwsim IP6000[08-6000.08], Bootcode[145], HW[00903310002a]",
        "type": "IP6000",
        "serial": "00903310002a",
        "hwid": "IP6000-10-00-2a",
        "name": "IP6000",
    }


@pytest.mark.parametrize(
    "credentials", [None, ("admin", "wrong"), ("Admin", "ip6000"), ("admin", "")]
)
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/!config%20change%20CMD0%20/name%20x"),
        ("GET", "/cfg.txt"),
        ("GET", "/log.txt"),
        ("PUT", "/upload/config"),
        ("PUT", "/upload/prot"),
    ],
)
def test_without_the_admin_credentials_nothing_runs(
    credentials: tuple[str, str] | None, method: str, target: str
) -> None:
    firmware = _firmware()
    body = b"config change CMD0 /name x\r\n"
    response = firmware.http(HttpRequest(method, target, credentials, body), 0.0)
    assert response.status == 401
    assert dict(response.headers) == {"WWW-Authenticate": 'Basic realm="IP6000"'}
    assert firmware.edited.get("CMD0", "name") == "IP6000"
    assert firmware.active.get("CMD0", "name") == "IP6000"
    assert list(firmware.log) == []


def test_commands_methods_and_unknown_paths() -> None:
    firmware = _firmware()
    assert _get(firmware, "/!config%20show").startswith("config change CMD0 /name IP6000\r\n")
    refused = firmware.http(HttpRequest("GET", "/!vars%20read%20NOPE", ADMIN), 0.0)
    assert (refused.status, refused.body) == (400, b"error: no var NOPE\r\n")
    wrong = firmware.http(HttpRequest("POST", "/cfg.txt", ADMIN), 0.0)
    assert wrong.status == 405
    assert dict(wrong.headers) == {"Allow": "GET, HEAD"}
    assert firmware.http(HttpRequest("GET", "/upload/prot", ADMIN), 0.0).status == 405
    assert firmware.http(HttpRequest("GET", "/admin.xml", ADMIN), 0.0).status == 404
    # The event log names who ran what, never a password.
    _get(firmware, "/!config%20change%20CMD0%20/name%20gw%20/user%20admin,s3cret")
    log = _get(firmware, "/log.txt")
    assert "CMD admin@ config change CMD0 /name gw /user ***\r\n" in log
    assert "s3cret" not in log


def test_a_wrong_image_is_refused_and_a_good_one_stored_for_the_next_start() -> None:
    firmware = _firmware()
    other = build_image(ImageKind.FIRMWARE, "IP811", "09-811.01", b"x" * 4096)
    response = firmware.http(HttpRequest("PUT", "/upload/prot", ADMIN, other), 0.0)
    assert response.status == 400
    assert (
        response.body == b"Firmwareupdate failed:image is for IP811, this device is an IP6000\r\n"
    )
    assert not firmware.reset_required
    boot = firmware.http(HttpRequest("PUT", "/upload/boot", ADMIN, b"x"), 0.0)
    assert boot.status == 400
    assert boot.body.startswith(b"Bootcodeupdate failed:")
    good = build_image(ImageKind.FIRMWARE, "IP6000", "09-6000.01", b"y" * 4096)
    response = firmware.http(HttpRequest("POST", "/upload/prot", ADMIN, good), 0.0)
    assert (response.status, response.body) == (
        200,
        b"Firmwareupdate ok: 09-6000.01 stored, runs after a restart\r\n",
    )
    assert firmware.reset_required
    assert firmware.execute("iresetn") == "reset\r\n"


def test_an_interrupted_boot_code_upload_changes_nothing_and_is_repeated() -> None:
    """Reference7/9 Upload Boot: an interrupted upload is repeated, the device not powered off."""
    firmware = _firmware()
    assert firmware.partitions is not None
    region = firmware.partitions["boot"]
    before = region.read(0, region.size)
    image = build_image(ImageKind.BOOT, "IP6000", "146", b"b" * 4096, boot_build=146)
    cut = firmware.http(HttpRequest("PUT", "/upload/boot", ADMIN, image[: len(image) // 2]), 0.0)
    assert cut.status == 400
    assert cut.body.startswith(b"Bootcodeupdate failed")
    assert region.read(0, region.size) == before
    assert running_slot(region, "IP6000")[0] == 0
    assert not firmware.reset_required
    again = firmware.http(HttpRequest("PUT", "/upload/boot", ADMIN, image), 1.0)
    assert (again.status, again.body) == (
        200,
        b"Bootcodeupdate ok: 146 stored, runs after a restart\r\n",
    )
    slot, status = running_slot(region, "IP6000")
    assert slot == 1
    assert status.info is not None
    assert status.info.build == "146"


def test_a_boot_code_upload_goes_into_the_other_slot() -> None:
    firmware = _firmware()
    assert firmware.partitions is not None
    region = firmware.partitions["boot"]
    assert running_slot(region, "IP6000")[0] == 0
    image = build_image(ImageKind.BOOT, "IP6000", "146", b"b" * 4096, boot_build=146)
    response = firmware.http(HttpRequest("PUT", "/upload/boot", ADMIN, image), 0.0)
    assert (response.status, response.body) == (
        200,
        b"Bootcodeupdate ok: 146 stored, runs after a restart\r\n",
    )
    slot, status = running_slot(region, "IP6000")
    assert slot == 1
    assert status.info is not None
    assert status.info.build == "146"
    assert firmware.reset_required


def test_a_refused_config_load_changes_nothing() -> None:
    firmware = _firmware()
    assert firmware.vars is not None
    before = firmware.edited.copy()
    bad_user = (
        b"config change CMD0 /name loaded /user ad$min,pw\r\n"
        b"vars create SIDE/EFFECT p 01\r\n"
        b"mod cmd FLASHDIR0 add-item k1 v1\r\n"
    )
    response = firmware.http(HttpRequest("PUT", "/upload/config", ADMIN, bad_user), 0.0)
    assert response.status == 400
    assert b"a user name is not empty and has no '$'" in response.body
    too_big = b"vars create A p 00\r\nvars create B p " + b"ab" * 300_000 + b"\r\n"
    response = firmware.http(HttpRequest("PUT", "/upload/config", ADMIN, too_big), 0.0)
    assert response.status == 400
    assert b"Error 0x00130001 Major FLASHMAN0 no space" in response.body
    long_key = b"mod cmd FLASHDIR0 add-item " + b"k" * 300 + b" v\r\n"
    response = firmware.http(HttpRequest("PUT", "/upload/config", ADMIN, long_key), 0.0)
    assert response.status == 400
    assert response.body == b"error: line 1: add-item: a key has at most 255 bytes\r\n"
    assert firmware.vars.all() == []
    assert firmware.flashdir().items() == []
    assert firmware.edited == before
    assert "ad$min" not in firmware.execute("config show")


def test_limits_of_the_flash_are_refusals_not_internal_errors() -> None:
    firmware = _firmware()
    long_key = "/!mod%20cmd%20FLASHDIR0%20add-item%20" + "k" * 300 + "%20v"
    response = firmware.http(HttpRequest("GET", long_key, ADMIN), 0.0)
    assert (response.status, response.body) == (
        400,
        b"error: add-item: a key has at most 255 bytes\r\n",
    )
    # A command runs for GET only: never a second time for a HEAD.
    head = firmware.http(HttpRequest("HEAD", "/!config%20change%20CMD0%20/name%20x", ADMIN), 0.0)
    assert head.status == 405
    assert firmware.edited.get("CMD0", "name") == "IP6000"


def test_the_full_config_never_carries_a_password_in_clear() -> None:
    firmware = _firmware()
    assert firmware.execute("config change CMD0 /name gw /user bob,plain-secret") == ""
    text = _get(firmware, "/cfg.txt")
    assert "plain-secret" not in text
    assert text.startswith("config change CMD0 /name gw\r\n")
    # A /user given as a flag hides no other parameter's password from the mask.
    out = firmware.execute("config change CMD0 /user /user admin,s3cret")
    assert out.startswith("error: ")
    assert "s3cret" not in out


def test_the_home_page_shows_the_conference_channels() -> None:
    firmware = _firmware()
    page = _get(firmware, "/")
    assert "<td>Type</td><td>IP6000</td>" in page
    assert "<td>MAC</td><td>00:90:33:10:00:2a</td>" in page
    assert f"Conference {PROFILE.conference.channels} Channels" in page
    assert firmware.http(HttpRequest("GET", "/", None, b""), 0.0).status == 401


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize(
    "body",
    [b"", b"\r\n", b"config change CMD0 /name no-address\r\n"],
    ids=["empty", "blank-line", "no-ETH0"],
)
def test_a_config_upload_that_would_leave_the_device_unreachable_is_refused(
    method: str, body: bytes
) -> None:
    firmware = _firmware()
    before = (firmware.active.copy(), firmware.edited.copy(), _get(firmware, "/cfg.txt"))
    response = firmware.http(HttpRequest(method, "/upload/config", ADMIN, body), 0.0)
    assert response.status == 422
    text = response.body.decode()
    assert text.startswith("error: the config has no ETH0 line")
    assert "/upload/config?force=1" in text
    assert (firmware.active, firmware.edited, _get(firmware, "/cfg.txt")) == before
    # The admin who means it says so.
    forced = firmware.http(HttpRequest(method, "/upload/config?force=1", ADMIN, body), 0.0)
    assert forced.status == 200, forced.body
    assert forced.body.startswith(b"config loaded: ")
    assert firmware.active.params("ETH0") is None


def test_a_config_upload_with_an_eth0_line_needs_no_force() -> None:
    firmware = _firmware()
    saved = _get(firmware, "/cfg.txt").replace("/name IP6000", "/name loaded")
    assert "ETH0" in saved
    response = firmware.http(HttpRequest("PUT", "/upload/config", ADMIN, saved.encode()), 0.0)
    assert response.status == 200, response.body
    assert firmware.active.get("CMD0", "name") == "loaded"


def test_the_device_name_is_the_browser_title_of_the_home_page() -> None:
    # Reference8:Configuration/General/Admin: "This name is displayed in the browser as a
    # title."
    firmware = _firmware()
    assert "<title>IP6000</title>" in _get(firmware, "/")  # no name set: the model
    _get(firmware, "/!config%20change%20CMD0%20/name%20branch-gw")
    _get(firmware, "/!config%20activate")
    assert "<title>branch-gw</title>" in _get(firmware, "/")

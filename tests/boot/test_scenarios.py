"""Boot code scenarios on the virtual network, read like the recovery procedures."""

# The device's mode and LED change between two asserts on the same expression;
# mypy would take the first assert as narrowing them for good.
# mypy: disable-error-code="comparison-overlap"

from __future__ import annotations

import dataclasses
import random
from ipaddress import IPv4Address

import pytest

from ipgwsim.device import default_config, factory_flash
from ipgwsim.events import ButtonBlink, FirmwareStarted, Led, Mode, PoweredOff
from ipgwsim.firmware.config import with_admin_password
from ipgwsim.flash.dumptext import newest_generation
from ipgwsim.flash.errors import NO_SPACE_EVENT
from ipgwsim.flash.image import ImageKind, build_image, store_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.flash.vars import VarStore
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.gwloadclient import classify
from ipgwsim.proto.net import Datagram
from ipgwsim.proto.tftp import (
    Ack,
    Data,
    Error,
    ErrorCode,
    TransferComplete,
    TransferFailed,
    WriteRequest,
    encode_packet,
)
from ipgwsim.testing.clients import TftpClientNode
from ipgwsim.testing.lab import DeviceNode, Lab
from ipgwsim.testing.vnet import Endpoint
from ipgwsim.tools.gwload_cmd import transfer_timers

IP = "10.0.0.5"


def _tftp_mode(lab: Lab, node: DeviceNode, ip: str = IP) -> gwload.Message:
    lab.press(node, hold=1.8)
    assert node.mode is Mode.TFTP_MODE
    hello, _ = lab.setip(node, ip)
    return hello


def _firmware(model: str, build: str, size: int = 4000) -> bytes:
    return build_image(ImageKind.FIRMWARE, model, build, bytes(range(256)) * (size // 256))


def _flash_bytes(node: DeviceNode) -> bytes:
    flash = node.device.flash
    return flash.read(0, flash.geometry.size)


# -- power-on ----------------------------------------------------------------------


def test_factory_device_starts_its_firmware_with_a_steady_green_led() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    assert gw.mode is Mode.FIRMWARE
    assert gw.led is Led.GREEN
    profile = find_profile("IP6000")
    started = gw.of_type(FirmwareStarted)
    assert [e.build for e in started] == [profile.firmware.build]
    console = gw.console()
    assert "innovaphone IP6000 boot code 145" in console
    assert f"firmware check: {profile.firmware.build} ok" in console
    assert gw.device.status().firmware_build == profile.firmware.build


def test_running_firmware_never_answers_gwload() -> None:
    lab = Lab()
    lab.add("IP6000")
    assert lab.ask(gwload.Discover(1, gwload.ANY_MAC, 0)) == []


def test_empty_firmware_region_gives_tftp_mode_with_red_led() -> None:
    lab = Lab()
    gw = lab.add("IP6000", firmware=False)
    assert gw.mode is Mode.TFTP_MODE
    assert gw.led is Led.RED_FLASHING
    [(hello, src)] = lab.ask(gwload.Discover(1, gwload.ANY_MAC, 6000))
    assert isinstance(hello, gwload.Hello)
    assert hello.state == gwload.DeviceState.DEFECTIVE_FIRMWARE
    assert hello.firmware_build == ""
    assert src == ("0.0.0.0", 69)  # no address yet: it answers from 0.0.0.0


def test_bad_checksum_after_a_cut_firmware_write_gives_tftp_mode_red() -> None:
    profile = find_profile("IP6000")
    flash = factory_flash(profile)
    prot = PartitionTable(flash, profile)["prot"]
    prot.program(4096, b"\x00\x00")  # a payload byte flipped: the checksum fails
    lab = Lab()
    gw = lab.add(profile, flash=flash)
    assert gw.mode is Mode.TFTP_MODE
    assert gw.led is Led.RED_FLASHING
    assert any("checksum" in line for line in gw.console())
    replies = lab.ask(gwload.Go(2, gw.device.instance.mac, 6000))
    [(nak, _)] = replies
    assert isinstance(nak, gwload.Nak)
    assert nak.code == gwload.NakCode.NOTHING_TO_START


def test_damaged_main_boot_code_falls_back_to_the_rescue_copy() -> None:
    profile = find_profile("IP800")
    flash = factory_flash(profile)
    PartitionTable(flash, profile)["boot"].erase_sector(0)
    lab = Lab()
    gw = lab.add(profile, flash=flash)
    assert gw.mode is Mode.FIRMWARE
    assert any("starting the rescue copy" in line for line in gw.console())
    assert gw.device.boot.running_boot is not None
    assert gw.device.boot.running_boot.rescue


def test_no_valid_boot_code_without_rescue_copy_is_dead() -> None:
    profile = find_profile("IP6000")
    flash = factory_flash(profile)
    PartitionTable(flash, profile)["boot"].erase_sector(0)
    lab = Lab()
    gw = lab.add(profile, flash=flash)
    assert gw.mode is Mode.DEAD
    assert gw.led is Led.OFF
    assert any("no rescue copy" in line for line in gw.console())


# -- the reset button ---------------------------------------------------------------


def test_short_press_restarts_the_firmware() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=0.3)
    assert gw.mode is Mode.FIRMWARE
    assert len(gw.of_type(FirmwareStarted)) == 2
    assert gw.leds()[-2:] == [Led.COUNTING, Led.GREEN]


def test_a_press_of_1_8_s_blinks_three_times_and_gives_tftp_mode_config_kept() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    before = ConfigRing(PartitionTable(gw.device.flash, gw.device.profile)["config"]).dump()
    lab.press(gw, hold=1.8)
    assert [b.count for b in gw.of_type(ButtonBlink)] == [1, 2, 3]
    assert gw.mode is Mode.TFTP_MODE
    assert gw.led is Led.ORANGE
    assert gw.device.ip is None  # "the device is without IP address"
    after = ConfigRing(PartitionTable(gw.device.flash, gw.device.profile)["config"]).dump()
    assert after == before


def test_long_press_clears_config_vars_and_flashdir_then_tftp_mode() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    table = PartitionTable(gw.device.flash, gw.device.profile)
    VarStore(table["vars"]).set("UPDATE/CHECK", b"7")
    lab.press(gw, hold=10.5)
    assert gw.mode is Mode.CLEARING
    assert gw.led is Led.GREEN_FLASHING_FAST
    lab.run(5.0)
    assert gw.device.status().mode is Mode.TFTP_MODE
    assert gw.led is Led.ORANGE
    assert ConfigRing(table["config"]).newest is None
    assert VarStore(table["vars"]).all() == []
    [(hello, _)] = lab.ask(gwload.Discover(3, gwload.ANY_MAC, 0))
    assert isinstance(hello, gwload.Hello)
    assert hello.state == gwload.DeviceState.AFTER_LONG_RESET


def test_device_without_orange_led_flashes_green_while_programming() -> None:
    """The Course11 variant of the LED table: "flashing green = firmware ..." (truncated)."""
    lab = Lab()
    gw = lab.add("IP0011")
    _tftp_mode(lab, gw)
    result = lab.put(IP, "prot", _firmware("IP0011", "13-new", 100_000))
    assert isinstance(result, TransferComplete)
    assert gw.mode is Mode.PROGRAMMING
    assert gw.led is Led.GREEN_FLASHING
    lab.run(10.0)
    assert gw.device.status().mode is Mode.TFTP_MODE
    assert gw.led is Led.BLINK_EVERY_2S


def test_device_without_orange_led_blinks_every_2_s_in_tftp_mode() -> None:
    lab = Lab()
    gw = lab.add("IP0011")
    lab.press(gw, hold=1.8)
    assert gw.mode is Mode.TFTP_MODE
    assert gw.led is Led.BLINK_EVERY_2S


def test_button_is_not_read_while_programming() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    gw.device.press(lab.now)
    assert gw.led is Led.COUNTING
    result = lab.put(IP, "prot", _firmware("IP6000", "09-1"))
    assert isinstance(result, TransferComplete)
    assert gw.mode is Mode.PROGRAMMING
    gw.device.release(lab.now + 0.1)
    # the press began in TFTP mode, its release lands in programming: ignored
    assert gw.mode is Mode.PROGRAMMING


# -- gwload in TFTP mode -------------------------------------------------------------


def test_discover_and_setip_follow_the_contract() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)
    [(hello, _src)] = lab.ask(gwload.Discover(7, gwload.ANY_MAC, 6000))
    assert isinstance(hello, gwload.Hello)
    assert (hello.xid, hello.mac, hello.gwtype) == (7, gw.device.instance.mac, 6000)
    assert (hello.model, hello.boot_build, hello.config_name) == ("IP6000", 145, "config")
    assert hello.ip == IPv4Address("0.0.0.0")
    hello2, src2 = lab.setip(gw, IP)
    assert isinstance(hello2, gwload.Hello)
    assert hello2.ip == IPv4Address(IP)
    assert src2 == (IP, 69)  # from the new address
    assert gw.device.ip == IP


def test_repeated_setip_is_answered_again_and_changes_nothing() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)
    message = gwload.SetIp(
        42,
        gw.device.instance.mac,
        6000,
        ip=IPv4Address(IP),
        mask=IPv4Address("255.255.255.0"),
        gateway=IPv4Address("0.0.0.0"),
    )
    first = lab.ask(message)
    events = len(gw.events)
    second = lab.ask(message, to=IP)
    assert [m for m, _ in first] == [m for m, _ in second]
    assert not [e for _, e in gw.events[events:] if type(e).__name__ == "AddressAssigned"]


@pytest.mark.parametrize(
    ("ip", "mask", "reason"),
    [
        ("0.0.0.0", "255.255.255.0", "not a host address"),
        ("255.255.255.255", "255.255.255.0", "limited broadcast"),
        ("224.0.0.5", "255.255.255.0", "multicast"),
        ("10.0.0.0", "255.255.255.0", "network address"),
        ("10.0.0.255", "255.255.255.0", "broadcast address"),
        ("10.0.0.5", "255.0.255.0", "not a netmask"),
    ],
)
def test_setip_with_a_bad_address_gets_nak_2_and_keeps_what_it_had(
    ip: str, mask: str, reason: str
) -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)
    nak, _ = lab.setip(gw, ip, mask=mask)
    assert isinstance(nak, gwload.Nak)
    assert nak.code == gwload.NakCode.BAD_ADDRESS
    assert reason in nak.text
    assert gw.device.ip is None


def test_wrong_gwtype_named_by_mac_gets_nak_1_and_otherwise_silence() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)
    assert lab.ask(gwload.Discover(1, gwload.ANY_MAC, 800)) == []
    [(nak, _)] = lab.ask(gwload.Discover(2, gw.device.instance.mac, 800))
    assert isinstance(nak, gwload.Nak)
    assert nak.code == gwload.NakCode.WRONG_GWTYPE
    assert "IP6000" in nak.text
    assert "6000" in nak.text
    assert lab.ask(gwload.Discover(3, bytes.fromhex("009033ffffff"), 0)) == []


def test_garbage_never_changes_the_device() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    flash = _flash_bytes(gw)
    replies = len(lab.probe.replies)
    for data in [b"", b"\x47", b"\x47\x01\x02", b"\x47\x99" + bytes(14), b"\xff" * 40]:
        lab.probe.send_raw(data)
        lab.probe.send_raw(data, to=IP)
    lab.run(1.0)
    assert gw.mode is Mode.TFTP_MODE
    assert gw.device.ip == IP
    assert _flash_bytes(gw) == flash
    assert len(lab.probe.replies) == replies  # garbage is never answered with gwload
    # unknown gwload opcode sent by unicast: answered as a TFTP server would (ERROR 4)
    errors = [classify(d.data) for d in lab.probe.other]
    assert any(isinstance(e, Error) and e.code == ErrorCode.ILLEGAL_OPERATION for e in errors)


def test_go_starts_the_firmware_and_reset_restarts() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    [(ack, _)] = lab.ask(gwload.Go(9, gw.device.instance.mac, 6000), to=IP)
    assert isinstance(ack, gwload.Ack)
    assert ack.acked == gwload.Opcode.GO
    assert gw.mode is Mode.FIRMWARE
    assert gw.led is Led.GREEN
    _tftp_mode(lab, gw)
    [(ack, _)] = lab.ask(gwload.Reset(10, gw.device.instance.mac, 6000), to=IP)
    assert isinstance(ack, gwload.Ack)
    assert ack.acked == gwload.Opcode.RESET
    assert gw.mode is Mode.FIRMWARE


# -- the TFTP file table --------------------------------------------------------------


def test_tftp_recovery_get_config_edit_put_back_restart() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    profile = gw.device.profile
    _tftp_mode(lab, gw)
    got = lab.get(IP, "config")
    assert isinstance(got, TransferComplete)
    assert got.data is not None
    newest = newest_generation(got.data)
    assert newest is not None
    assert newest.text == default_config(profile)
    edited = with_admin_password(newest.text, "admin", profile.firmware.default_password)
    put = lab.put(IP, "config", edited.encode())
    assert isinstance(put, TransferComplete)
    lab.ask(gwload.Reset(11, gw.device.instance.mac, 6000), to=IP)
    assert gw.mode is Mode.FIRMWARE
    ring = ConfigRing(PartitionTable(gw.device.flash, profile)["config"])
    texts = [g.text for g in ring.generations()]
    # the factory config, the one sent, and what the firmware's first start wrote:
    # the same without /user, which went into the crypted var
    assert texts[:2] == [default_config(profile), edited]
    assert len(texts) == 3
    assert "/user" not in texts[2]
    assert "/name IP6000" in texts[2]
    firmware = gw.device.firmware
    assert firmware is not None
    assert firmware.check_login("admin", profile.firmware.default_password)


def test_the_other_config_name_and_unknown_names_are_not_found() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    for name, code, words in [
        ("c", ErrorCode.FILE_NOT_FOUND, "file not found: 'c'"),
        ("firmware.bin", ErrorCode.FILE_NOT_FOUND, "file not found"),
        ("prot", ErrorCode.FILE_NOT_FOUND, "can only be written"),
        ("../etc/passwd", ErrorCode.ACCESS_VIOLATION, "no paths"),
    ]:
        result = lab.get(IP, name)
        assert isinstance(result, TransferFailed), name
        assert result.error_code == code, result
        assert words in result.reason, result
        if name == "c":  # the reason does not name the file this boot code serves
            assert result.reason == "file not found: 'c'", result


def test_older_boot_code_serves_c() -> None:
    base = find_profile("IP6000")
    old = dataclasses.replace(base, boot=dataclasses.replace(base.boot, tftp_config_name="c"))
    lab = Lab()
    gw = lab.add(old)
    hello = _tftp_mode(lab, gw)
    assert isinstance(hello, gwload.Hello)
    assert hello.config_name == "c"
    assert isinstance(lab.get(IP, "c"), TransferComplete)
    result = lab.get(IP, "config")
    assert isinstance(result, TransferFailed)
    assert result.error_code == ErrorCode.FILE_NOT_FOUND
    assert result.reason == "file not found: 'config'"


def test_boot_code_older_than_the_recovery_build_refuses_the_config() -> None:
    profile = find_profile("IP800")
    flash = factory_flash(profile)
    table = PartitionTable(flash, profile)
    old = build_image(ImageKind.BOOT, "IP800", "357", b"b" * 4096, boot_build=357)
    store_image(table["boot"], old)
    lab = Lab()
    gw = lab.add(profile, flash=flash)
    _tftp_mode(lab, gw)
    result = lab.get(IP, "config")
    assert isinstance(result, TransferFailed)
    assert result.error_code == ErrorCode.ILLEGAL_OPERATION
    assert "not supported by this boot code" in result.reason
    altboot = lab.put(IP, "altboot", old)
    assert isinstance(altboot, TransferFailed)
    assert "does not know altboot" in altboot.reason


def test_shipped_boot_code_below_the_recovery_build_needs_a_boot_update_first() -> None:
    """The IP21 profile ships boot 300, below the 326 of Howto:Config or Password Recovery
    (boot/README.md).

    It boots and answers gwload, but neither reads nor takes the config (that article:
    earlier boot code "may not work"); loading boot code of the minimum build with
    gwload's /boot and restarting gives the recovery of Howto:Config or Password Recovery.
    """
    profile = find_profile("IP21")
    needed = profile.boot.min_recovery_build
    assert needed is not None
    lab = Lab()
    gw = lab.add(profile)
    assert gw.mode is Mode.FIRMWARE
    hello = _tftp_mode(lab, gw)
    assert isinstance(hello, gwload.Hello)
    assert hello.boot_build == profile.boot.build < needed
    name = profile.boot.tftp_config_name
    for result in (lab.get(IP, name), lab.put(IP, name, b"config change CMD0 /user admin,ip21\n")):
        assert isinstance(result, TransferFailed)
        assert result.error_code == ErrorCode.ILLEGAL_OPERATION
        assert f"config recovery needs {needed}" in result.reason

    newer = build_image(ImageKind.BOOT, "IP21", str(needed), b"b" * 4096, boot_build=needed)
    assert isinstance(lab.put(IP, "boot", newer), TransferComplete)
    lab.run(30.0)
    mac = gw.device.instance.mac
    [(ack, _)] = lab.ask(gwload.Reset(1, mac, profile.gwtype), to=IP)
    assert isinstance(ack, gwload.Ack)
    lab.run(5.0)
    assert gw.mode is Mode.FIRMWARE
    hello = _tftp_mode(lab, gw)
    assert isinstance(hello, gwload.Hello)
    assert hello.boot_build == needed
    dump = lab.get(IP, name)
    assert isinstance(dump, TransferComplete)
    assert dump.data is not None
    assert default_config(profile) in dump.data.decode()


def test_firmware_upload_is_programmed_with_flashing_orange_then_go_starts_it() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    result = lab.put(IP, "prot", _firmware("IP6000", "09-new", 100_000))
    assert isinstance(result, TransferComplete)
    assert gw.mode is Mode.PROGRAMMING
    assert gw.led is Led.ORANGE_FLASHING
    [(nak, _)] = lab.ask(gwload.Go(1, gw.device.instance.mac, 6000), to=IP)
    assert isinstance(nak, gwload.Nak)
    assert nak.code == gwload.NakCode.BUSY
    lab.run(10.0)
    assert gw.device.status().mode is Mode.TFTP_MODE
    assert gw.led is Led.ORANGE
    [(ack, _)] = lab.ask(gwload.Go(2, gw.device.instance.mac, 6000), to=IP)
    assert isinstance(ack, gwload.Ack)
    assert gw.of_type(FirmwareStarted)[-1].build == "09-new"


@pytest.mark.parametrize(
    ("name", "image", "code", "words"),
    [
        ("prot", _firmware("IP800", "09-x"), ErrorCode.NOT_DEFINED, "for IP800"),
        ("prot", b"just some text, not an image" * 10, ErrorCode.NOT_DEFINED, "not an image"),
        ("boot", _firmware("IP6000", "09-x"), ErrorCode.NOT_DEFINED, "expected boot code"),
        ("altboot", _firmware("IP6000", "09-x"), ErrorCode.ILLEGAL_OPERATION, "no rescue copy"),
    ],
)
def test_refused_uploads_say_why_and_leave_the_flash_as_it_was(
    name: str, image: bytes, code: ErrorCode, words: str
) -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    before = _flash_bytes(gw)
    result = lab.put(IP, name, image)
    assert isinstance(result, TransferFailed)
    assert result.error_code == code, result
    assert words in result.reason, result
    assert _flash_bytes(gw) == before
    assert gw.mode is Mode.TFTP_MODE


def test_bad_checksum_is_refused_after_the_last_block_and_nothing_is_erased() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    image = bytearray(_firmware("IP6000", "09-bad", 20_000))
    image[-1] ^= 0xFF
    before = _flash_bytes(gw)
    result = lab.put(IP, "prot", bytes(image))
    assert isinstance(result, TransferFailed)
    assert "checksum" in result.reason
    assert _flash_bytes(gw) == before


def test_image_larger_than_its_region_gets_error_3_no_space() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    region = PartitionTable(gw.device.flash, gw.device.profile)["boot"].size
    image = build_image(ImageKind.BOOT, "IP6000", "146", bytes(region), boot_build=146)
    before = _flash_bytes(gw)
    # with tsize: refused at the request; without: refused at the header
    for options in ({"tsize": str(len(image))}, None):
        result = lab.put(IP, "boot", image, options=options)
        assert isinstance(result, TransferFailed)
        assert result.error_code == ErrorCode.DISK_FULL
        assert NO_SPACE_EVENT in result.reason
    assert _flash_bytes(gw) == before


def test_config_that_is_not_text_is_refused() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    before = _flash_bytes(gw)
    result = lab.put(IP, "config", b"config change CMD0 /name \xff\xfe\r\n")
    assert isinstance(result, TransferFailed)
    assert "not text" in result.reason
    assert _flash_bytes(gw) == before


def test_power_cut_while_programming_firmware_leaves_a_defective_firmware() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    gw.device.cut_power_at(3)
    result = lab.put(IP, "prot", _firmware("IP6000", "09-cut", 300_000))
    assert isinstance(result, TransferComplete)  # the final ACK went out before programming
    assert gw.mode is Mode.OFF
    assert gw.of_type(PoweredOff)
    lab.power_on(gw)
    assert gw.device.status().mode is Mode.TFTP_MODE
    assert gw.led is Led.RED_FLASHING
    # recovery: upload the firmware again
    lab.setip(gw, IP)
    assert isinstance(lab.put(IP, "prot", _firmware("IP6000", "09-cut", 300_000)), TransferComplete)
    lab.run(30.0)
    lab.ask(gwload.Go(5, gw.device.instance.mac, 6000), to=IP)
    assert gw.mode is Mode.FIRMWARE


def test_rescue_copy_cannot_overwrite_itself_but_main_boot_code_can_be_loaded() -> None:
    profile = find_profile("IP800")
    flash = factory_flash(profile)
    PartitionTable(flash, profile)["boot"].erase_sector(0)
    lab = Lab()
    gw = lab.add(profile, flash=flash)
    _tftp_mode(lab, gw)
    boot = build_image(ImageKind.BOOT, "IP800", "405", b"b" * 4096, boot_build=405)
    refused = lab.put(IP, "altboot", boot)
    assert isinstance(refused, TransferFailed)
    assert "cannot overwrite itself" in refused.reason
    assert isinstance(lab.put(IP, "boot", boot), TransferComplete)
    lab.run(5.0)
    lab.ask(gwload.Reset(3, gw.device.instance.mac, 800), to=IP)
    assert gw.mode is Mode.FIRMWARE
    assert gw.device.boot.running_boot is not None
    assert not gw.device.boot.running_boot.rescue


def test_transfers_survive_loss_duplication_and_reordering() -> None:
    lab = Lab(rng=random.Random(5), loss=0.1, duplicate=0.1, reorder=0.2)
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)
    # SETIP may be lost: repeat it as gwload does, with the same xid
    message = gwload.SetIp(
        77,
        gw.device.instance.mac,
        6000,
        ip=IPv4Address(IP),
        mask=IPv4Address("255.255.255.0"),
        gateway=IPv4Address("0.0.0.0"),
    )
    for _ in range(10):
        if lab.ask(message):
            break
    assert gw.device.ip == IP
    # One config of many lines (a config begins with CMD0, as the firmware writes it)
    text = "config change CMD0 /name gw\r\n"
    text += "".join(f"config change GW{i} /name gw{i}\r\n" for i in range(200))
    for _ in range(5):
        if isinstance(
            lab.put(IP, "config", text.encode(), options={"blksize": "512"}), TransferComplete
        ):
            break
    ring = ConfigRing(PartitionTable(gw.device.flash, gw.device.profile)["config"])
    assert ring.newest_text() == text
    got = lab.get(IP, "config", options={"windowsize": "4"})
    assert isinstance(got, TransferComplete)
    assert got.data is not None
    newest = newest_generation(got.data)
    assert newest is not None
    assert newest.text == text


def test_a_profile_restricts_the_options_its_boot_code_grants() -> None:
    base = find_profile("IP6000")
    plain = dataclasses.replace(base, boot=dataclasses.replace(base.boot, tftp_options=()))
    lab = Lab()
    gw = lab.add(plain)
    _tftp_mode(lab, gw)
    asked = {"blksize": "1468", "windowsize": "16", "tsize": "0"}
    got = lab.get(IP, "config", options=asked)
    assert isinstance(got, TransferComplete)
    assert got.data is not None
    assert b"config change CMD0 /name IP6000" in got.data
    # No OACK went out: the device answered the RRQ with plain DATA block 1.
    from_device = [d.datagram.data[:2] for d in lab.net.log if d.datagram.src[0] == IP]
    assert b"\x00\x06" not in from_device
    assert b"\x00\x03" in from_device


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x01\x02\x1b[2J" * 50, "control character 0x00 at offset 0"),
        (b"config change CMD0 /name a\x07b\r\n", "control character 0x07 at offset 26"),
        (b"", "config is empty"),
        (b" \r\n\t\r\n", "config is empty"),
    ],
)
def test_config_uploads_that_are_no_config_text_are_refused(data: bytes, words: str) -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    before = _flash_bytes(gw)
    result = lab.put(IP, "config", data)
    assert isinstance(result, TransferFailed)
    assert words in result.reason
    assert _flash_bytes(gw) == before


def test_hostile_requests_get_answers_not_crashes() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    huge = "9" * 5000  # int() refuses it: must be treated as "no number"
    got = lab.get(IP, "config", options={"blksize": huge, "tsize": huge})
    assert isinstance(got, TransferComplete)
    put = lab.put(IP, "prot", _firmware("IP6000", "09-x"), options={"tsize": huge})
    assert isinstance(put, TransferComplete)
    assert not [line for line in gw.console() if "internal error" in line]


def test_an_error_to_the_control_port_is_never_answered() -> None:
    lab = Lab()
    first = lab.add("IP6000")
    second = lab.add("IP6000")
    _tftp_mode(lab, first, "10.0.0.5")
    _tftp_mode(lab, second, "10.0.0.6")
    sent = lab.net.counters["sent"]
    # one spoofed ERROR from one device's control port to the other's
    lab.net.send(Datagram(b"\x00\x05\x00\x05stray\x00", ("10.0.0.5", 69), ("10.0.0.6", 69)))
    lab.run(1.0)
    assert lab.net.counters["sent"] - sent <= 1  # the spoofed one, and no answer to it


def test_a_power_cut_at_any_operation_of_a_boot_code_update_leaves_a_boot_code() -> None:
    profile = find_profile("IP6000")  # no rescue copy: the two boot slots must do it
    image = build_image(ImageKind.BOOT, "IP6000", "146", b"new boot" * 1000, boot_build=146)
    operations = 0
    for cut_at in range(1, 40):
        lab = Lab()
        gw = lab.add(profile)
        _tftp_mode(lab, gw)
        gw.device.cut_power_at(cut_at)
        assert isinstance(lab.put(IP, "boot", image), TransferComplete)
        lab.run(5.0)
        cut = gw.device.status().mode is Mode.OFF
        lab.power_off(gw)  # a power cycle either way
        lab.power_on(gw)
        running = gw.device.boot.running_boot
        assert running is not None, f"cut at operation {cut_at}: {gw.console()[-3:]}"
        assert running.build in (145, 146)
        if not cut:
            assert running.build == 146
            operations = cut_at
            break
    assert operations > 3  # the update took several flash operations, each one cut once


def test_a_release_never_loses_the_blinks_that_were_due() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    boot = gw.device.boot
    boot.press(10.0)
    boot.handle_timer(11.9)  # a late timer: three blinks were due
    boot.release(11.9)
    assert [b.count for b in gw.of_type(ButtonBlink)] == [1, 2, 3]
    assert gw.mode is Mode.TFTP_MODE


def test_a_timed_press_releases_itself_in_device_time() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    gw.device.press(lab.now, hold=1.8)
    lab.run(5.0)
    assert [b.count for b in gw.of_type(ButtonBlink)] == [1, 2, 3]
    assert gw.mode is Mode.TFTP_MODE


def test_an_image_for_another_model_is_refused_by_its_header_mid_transfer() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    image = _firmware("IP800", "09-x", 100_000)  # ~200 blocks of 512 bytes
    result = lab.put(IP, "prot", image)
    assert isinstance(result, TransferFailed)
    assert "image is for IP800" in result.reason
    data_blocks = [d for d in lab.net.log if d.datagram.data[:2] == b"\x00\x03"]
    assert 0 < len(data_blocks) < 5  # refused after the first block, not after the last


def test_a_repeated_request_is_answered_by_its_transfer_not_refused_as_busy() -> None:
    """A client that missed ACK 0 sends its WRQ again; a duplicated WRQ comes twice."""
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    client = Endpoint("10.0.0.100", 40123)
    lab.net.attach(client)
    wrq = encode_packet(WriteRequest("config", "octet"))
    client.sendto(wrq, (IP, 69))
    client.sendto(wrq, (IP, 69))
    lab.run(0.1)
    first, second = client.received
    assert first.data == second.data == encode_packet(Ack(0))
    assert first.src == second.src  # both from the one transfer
    assert first.src[1] != 69
    again = "tftp: WRQ config from 10.0.0.100 again: answered again"
    assert any(again in line for line in gw.console())
    text = b"".join(b"config change M%d /name again\r\n" % i for i in range(20))  # two blocks
    client.sendto(encode_packet(Data(1, text[:512])), first.src)
    client.sendto(wrq, (IP, 69))  # a late copy: the transfer is past its first answer
    lab.run(0.1)
    client.sendto(encode_packet(Data(2, text[512:])), first.src)
    lab.run(0.1)
    assert [d.data for d in client.received[2:]] == [
        encode_packet(Ack(1)),
        encode_packet(Ack(2)),
    ]
    ring = ConfigRing(PartitionTable(gw.device.flash, gw.device.profile)["config"])
    assert ring.newest_text() == text.decode()


class _Outage(TftpClientNode):
    """A client behind a link that goes down for 20 s when the device's ACK of the last
    block comes (virtual time): what either side sends meanwhile is lost."""

    def __init__(self, client: TftpClientNode, lab: Lab) -> None:
        super().__init__(client.ip, client.port, client.transfer)
        self.lab = lab
        self.last_sent = False
        self.start: float | None = None

    def down(self) -> bool:
        return self.start is not None and self.start <= self.lab.now < self.start + 20.0

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        if self.start is None and self.last_sent and datagram.data[:2] == b"\x00\x04":
            self.start = now
        if not self.down():
            super().receive_datagram(datagram, now)

    def datagrams_to_send(self) -> list[Datagram]:
        out = super().datagrams_to_send()
        # the last block: DATA shorter than 512 bytes (no options asked)
        self.last_sent |= any(d.data[:2] == b"\x00\x03" and len(d.data) < 516 for d in out)
        return [] if self.down() else out


def test_an_upload_whose_final_ack_is_lost_is_reported_done_by_gwloads_client() -> None:
    """The link goes down for 20 s just as the device sends its final ACK: the ACK and
    gwload's retransmissions of the last block at 1, 3, 7 and 15 s are lost; the one at
    23 s gets through. The device, which stored the config at once, must still answer it,
    or gwload reports a stored upload as failed."""
    lab = Lab()
    gw = lab.add("IP6000")
    _tftp_mode(lab, gw)
    text = "".join(f"config change M{i:02} /name outage\r\n" for i in range(40))  # 3 blocks
    client = _Outage(
        TftpClientNode.put((IP, 69), "config", text.encode(), timers=transfer_timers()), lab
    )
    lab.net.attach(client)
    assert lab.net.run_until(lambda: client.done, timeout=120)
    assert client.start is not None, "the outage never began"
    assert client.result == TransferComplete(None)
    ring = ConfigRing(PartitionTable(gw.device.flash, gw.device.profile)["config"])
    assert ring.newest_text() == text

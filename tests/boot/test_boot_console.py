"""What the boot code prints on the console: entering TFTP mode, and when a line is typed
while no firmware runs (it has no command line: a line end makes it print its state)."""

from __future__ import annotations

from ipgwsim.events import Mode
from ipgwsim.testing.lab import DeviceNode, Lab


def _typed(lab: Lab, gw: DeviceNode, data: bytes) -> list[str]:
    """The console lines ``data`` typed on the console gave."""
    before = len(gw.console())
    gw.device.boot_console_input(data, lab.now)
    return gw.console()[before:]


STATE = [
    "innovaphone IP6000 boot code 145",
    "firmware check: 08-6000.08 ok",
    "TFTP mode: no IP address, waiting for gwload",
    "TFTP mode: MAC 00:90:33:10:00:01, gwload and TFTP on UDP port 69",
]


def test_entering_tftp_mode_prints_boot_code_firmware_check_address_mac_and_port() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    before = len(gw.console())
    lab.press(gw, hold=1.8)
    assert gw.mode is Mode.TFTP_MODE
    lines = gw.console()[before:]
    start = lines.index("restart (reset button held 1.8 s): TFTP mode, config kept")
    assert lines[start + 1 :] == STATE


def test_a_line_typed_in_tftp_mode_prints_the_state_and_anything_else_nothing() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)
    assert _typed(lab, gw, b"help") == []  # no command line, no echo
    assert _typed(lab, gw, b"\r") == STATE
    assert _typed(lab, gw, b"\n") == []  # the LF of a CRLF split over two chunks
    assert _typed(lab, gw, b"\n") == STATE
    assert _typed(lab, gw, b"a\r\nb\r\n\r\n") == STATE  # several line ends in a chunk: once
    # After gwload's SETIP the state names the address.
    lab.setip(gw, "10.0.0.5")
    assert (
        _typed(lab, gw, b"\r")[2] == "TFTP mode: address 10.0.0.5 mask 255.255.255.0, set by gwload"
    )


def test_a_defective_firmware_is_named_and_a_running_firmware_is_not_the_boot_codes() -> None:
    lab = Lab()
    gw = lab.add("IP6000", firmware=False)
    assert gw.mode is Mode.TFTP_MODE
    lines = _typed(lab, gw, b"\r")
    assert lines[1].startswith("firmware check: defective (")
    assert lines[2] == "TFTP mode: no IP address, waiting for gwload"
    running = lab.add("IP6000")
    assert running.mode is Mode.FIRMWARE
    assert _typed(lab, running, b"\r") == []  # the firmware's console session hears it


def test_while_clearing_the_config_it_asks_to_wait() -> None:
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=10.5)
    assert gw.mode is Mode.CLEARING
    assert _typed(lab, gw, b"\r") == ["clearing the flash, please wait"]

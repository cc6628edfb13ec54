"""``ipgwsim flash-demo``: the flash side of the TFTP password recovery, step by step.

What a user sees of the flash in the documented procedure
(Howto:Config or Password Recovery), on a simulated IP6000 flash kept in a
state directory: configs saved over time, a power cut in the middle of a
``config write``, the ring dump that TFTP mode serves as ``config``, the
newest generation found in it, and a config with a known password stored as
the next generation. ``ipgwsim demo`` runs the whole procedure on a device.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from ipgwsim.flash import (
    AdminCredentials,
    ConfigRing,
    CutMode,
    NorFlash,
    PartitionTable,
    PowerCut,
    PowerLost,
    VarStore,
    load_admin,
    read_dump,
    store_admin,
)
from ipgwsim.hw_profiles import find_profile
from ipgwsim.runtime.errors import describe_error
from ipgwsim.runtime.flashfile import load_flash, save_flash


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "flash-demo",
        help="the flash side of the TFTP password recovery on a simulated IP6000",
        description=__doc__,
    )
    parser.add_argument("--state", type=Path, help="state directory (default: a temporary one)")
    parser.set_defaults(handler=run)


def _step(text: str) -> None:
    print(f"\n== {text}")


def run(args: argparse.Namespace) -> int:
    if args.state is None:
        with tempfile.TemporaryDirectory(prefix="ipgwsim-") as tmp:
            return _demo(Path(tmp))
    args.state.mkdir(parents=True, exist_ok=True)
    return _demo(args.state)


def _demo(state: Path) -> int:
    from ipgwsim.firmware.config import with_admin_password  # noqa: PLC0415 (loaded on use)

    profile = find_profile("IP6000")
    image = state / "flash.img"
    _step(f"a factory-new {profile.model}: {profile.flash.size // 2**20} MiB NOR flash in {image}")
    flash = NorFlash(profile.flash)
    table = PartitionTable(flash, profile)
    ring = ConfigRing(table["config"])
    names = ["gw-lab", "gw-lab", "gw-office", "gw-office"]
    for number, name in enumerate(names, start=1):
        ring.write(f"config change CMD0 /name {name} /log on\r\nconfig change ETH0 /dhcp off\r\n")
        print(f"config write: generation {number} stored ({name})")
    store_admin(
        VarStore(table["vars"]),
        AdminCredentials.create("admin", "s3cret-nobody-remembers", os.urandom(16)),
    )
    print("admin password set: kept as crypted var CMD0/AUTH (salted scrypt hash)")
    save_flash(flash, image)

    _step("the power fails in the middle of the next config write")
    flash.faults.cut = PowerCut(flash.faults.count + 1, CutMode.TORN, keep=300)
    try:
        ring.write("config change CMD0 /name gw-broken /log on\r\n")
    except PowerLost as exc:
        print(f"flash: {describe_error(exc)}")
    flash.power_on()
    save_flash(flash, image)

    _step("power on again: the flash is loaded from the state directory and mounted")
    flash = load_flash(image, profile.flash)
    table = PartitionTable(flash, profile)
    ring = ConfigRing(table["config"])
    newest = ring.newest
    assert newest is not None
    print(f"newest valid generation: {newest.number} (the torn one never wins)")

    _step(f"TFTP mode: GET {profile.boot.tftp_config_name} returns the ring dump")
    dump = ring.dump()
    dump_file = state / "config.txt"
    dump_file.write_bytes(dump)
    reading = read_dump(dump)
    print(
        f"{len(dump)} bytes written to {dump_file}: config text only, "
        f"{len(reading.generations)} generation(s) oldest first"
    )

    _step("find the newest generation from the text and set a known password")
    found = reading.newest
    assert found is not None
    if reading.torn is not None:
        print(f"the last one is passed over as the torn write: {reading.torn_reason}")
    print(f"newest complete generation in the dump: from line {found.line}")
    edited = with_admin_password(found.text, "admin", profile.firmware.default_password)
    generation = ring.write(edited)
    print(f"config stored as generation {generation.number} (gwload /cfg will do this)")
    save_flash(flash, image)

    credentials = load_admin(VarStore(table["vars"]))
    assert credentials is not None
    print(f"vars kept (no long reset): admin credentials for user {credentials.user!r}")
    print(
        "\nSUCCESS: config recovered from the ring, "
        f"known password in generation {generation.number}"
    )
    return 0

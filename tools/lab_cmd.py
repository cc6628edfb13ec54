"""``ipgwsim lab check FILE``: check a lab file completely, start nothing.

Every key is checked as ``ipgwsim run --lab FILE`` would (unknown keys, wrong types, a
model without a profile, a name or MAC two devices would share, console ports that
overlap), and every starting config is loaded onto a factory flash of its model, as the
runtime will load it. A good file prints one line per ``[[device]]`` and exit status 0;
a bad one prints ``FILE: key: reason`` on stderr, exit status 2 (``docs/lab-file.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ipgwsim.runtime.devicespec import DeviceSpec, format_mac
from ipgwsim.tools.run_cmd import columns

if TYPE_CHECKING:
    # Loaded by run_check (the device model): building the parser stays cheap.
    from ipgwsim.runtime.labfile import Lab


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="lab files: check one (ipgwsim lab check FILE)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="check a lab file, start nothing")
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(handler=run_check)


def _names(spec: DeviceSpec) -> str:
    names = spec.names()
    if names is None:
        return f"{spec.count} x {spec.model.lower()}-N"
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"


def _start(spec: DeviceSpec) -> str:
    if spec.config is not None:
        return str(spec.config)
    return "empty firmware (TFTP mode)" if spec.empty_firmware else "factory defaults"


def _macs(spec: DeviceSpec) -> str:
    if spec.mac is None:
        return "auto"
    return format_mac(spec.mac) + (" and on" if spec.count > 1 else "")


def _impairment(spec: DeviceSpec, lab: Lab) -> str:
    impairment = spec.impairment if spec.impairment is not None else lab.impairment
    return impairment.to_text() if impairment is not None else "off"


def describe(lab: Lab) -> list[str]:
    """One line for the lab, then a table of its devices."""
    network = lab.network + (f" ({lab.attachment})" if lab.attachment else "")
    port = lab.port if lab.port is not None else 69
    head = f"{lab.source}: ok: {lab.device_count} devices, {network}, port {port}"
    rows = [["DEVICES", "MODEL", "MAC", "STARTS FROM", "IMPAIRMENT"]]
    rows += [
        [_names(spec), spec.model, _macs(spec), _start(spec), _impairment(spec, lab)]
        for spec in lab.devices
    ]
    return [head, *columns(rows)]


def run_check(args: argparse.Namespace) -> int:
    from ipgwsim.runtime.labfile import LabError, check_lab, load_lab  # noqa: PLC0415 (on use)

    try:
        lab = load_lab(args.file)
        check_lab(lab)
    except LabError as exc:
        print(f"ipgwsim lab check: {exc}", file=sys.stderr)
        return 2
    print("\n".join(describe(lab)))
    return 0

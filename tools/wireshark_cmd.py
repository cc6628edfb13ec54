"""``ipgwsim wireshark``: the Wireshark dissector for gwload that ships with ipgwsim.

``--install`` copies ``gwload.lua`` into Wireshark's personal Lua plugins folder
(``~/.local/lib/wireshark/plugins``, what ``tshark -G folders`` calls *Personal Lua
Plugins*; ``--dir DIR`` names another), where Wireshark and tshark load it at their next
start; an older copy there is replaced. ``--print`` prints the script, ``--path`` the
path of the installed package's copy (for ``tshark -X lua_script:PATH`` without
installing). docs/wireshark.md says what the dissector shows.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

#: Wireshark's personal Lua plugins folder (``tshark -G folders``, Debian's Wireshark 4.0).
DEFAULT_DIR = Path("~/.local/lib/wireshark/plugins")
SCRIPT_NAME = "gwload.lua"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``wireshark`` subcommand."""
    parser = subparsers.add_parser(
        "wireshark",
        help="install, print or locate the Wireshark dissector for gwload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--install",
        action="store_true",
        help=f"copy {SCRIPT_NAME} into Wireshark's personal Lua plugins folder",
    )
    what.add_argument("--print", action="store_true", help="print the script")
    what.add_argument("--path", action="store_true", help="print the path of the script")
    parser.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help=f"where --install writes (default {DEFAULT_DIR})",
    )
    parser.set_defaults(handler=run)


def script_path() -> Path:
    """The package's copy of the dissector."""
    return Path(str(resources.files("ipgwsim.tools") / "wireshark" / SCRIPT_NAME))


def run(args: argparse.Namespace) -> int:
    if args.dir is not None and not args.install:
        print("ipgwsim wireshark: --dir goes with --install", file=sys.stderr)
        return 2
    source = script_path()
    if args.path:
        print(source)
        return 0
    text = source.read_text(encoding="utf-8")
    if args.print:
        sys.stdout.write(text)
        return 0
    folder: Path = (args.dir if args.dir is not None else DEFAULT_DIR).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SCRIPT_NAME
    target.write_text(text, encoding="utf-8")
    print(target)
    return 0

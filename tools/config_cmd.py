"""``ipgwsim config-extract DUMP``: the newest config out of a config ring dump.

A TFTP GET of ``config`` (``c`` on older boot code) in TFTP mode returns the
config ring: several generations one after the other, each behind a header line
with its number, length and CRC32. This command writes the text of the newest
complete generation to a file or stdout and says on stderr which generation it
took of how many; torn records and garbage around them are passed over.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ipgwsim.flash.ring import scan_records

PROG = "ipgwsim config-extract"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``config-extract`` subcommand."""
    parser = subparsers.add_parser(
        "config-extract",
        help="extract the newest config from a config ring dump (TFTP GET of 'config')",
        description="Write the newest complete config generation of a ring dump "
        "to FILE or stdout; exit 1 if the dump holds none.",
    )
    parser.add_argument("dump", type=Path, metavar="DUMP", help="the ring dump")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the config here, not to stdout"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Write the newest generation's text; 1 with a message if there is none."""
    dump: Path = args.dump
    data = dump.read_bytes()
    generations = list(scan_records(data))
    found = max(generations, key=lambda g: g.number, default=None)
    if found is None:
        print(
            f"{PROG}: {dump} holds no complete config generation ({len(data)} bytes searched)",
            file=sys.stderr,
        )
        return 1
    output: Path | None = args.output
    if output is None:
        sys.stdout.write(found.text)
        sys.stdout.flush()
        target = "stdout"
    else:
        output.write_bytes(found.text.encode("utf-8"))
        target = str(output)
    count = len(generations)
    print(
        f"{PROG}: generation {found.number}, the newest of {count} complete "
        f"generation{'s' if count != 1 else ''} in {dump} (at offset {found.offset}, "
        f"{len(found.text.encode('utf-8'))} bytes of text), written to {target}",
        file=sys.stderr,
    )
    return 0

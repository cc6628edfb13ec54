"""``ipgwsim config-extract DUMP``: the newest config out of a config ring dump.

A TFTP GET of ``config`` (``c`` on older boot code) in TFTP mode returns the config
ring: the config text several times, oldest first, with nothing that marks a
generation. This command finds the generations from the text alone (a new one starts
where a module's ``config change`` line comes again; ``flash/dumptext.py``), writes
the newest to a file or stdout, and says on stderr which one it took and where it
starts. A last generation that a power cut tore (its last line without a line end) is
passed over and named; ``flash/SPEC.md`` 2.1 says where the text can mislead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ipgwsim.flash.dumptext import read_dump

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
    reading = read_dump(data)
    found = reading.newest
    if found is None:
        print(
            f"{PROG}: {dump} holds no complete config generation ({len(data)} bytes searched: "
            "no 'config change' line)",
            file=sys.stderr,
        )
        return 1
    output: Path | None = args.output
    if output is None:
        sys.stdout.buffer.write(found.data)
        sys.stdout.flush()
        target = "stdout"
    else:
        output.write_bytes(found.data)
        target = str(output)
    if reading.torn is not None:
        print(
            f"{PROG}: the last generation (from line {reading.torn.line}) is taken for a "
            f"write cut by a power loss and passed over: {reading.torn_reason}",
            file=sys.stderr,
        )
    count = len(reading.generations)
    print(
        f"{PROG}: generation {found.position} of {count} in {dump} (from line {found.line}, "
        f"{len(found.data)} bytes of text), the newest complete one, written to {target}",
        file=sys.stderr,
    )
    return 0

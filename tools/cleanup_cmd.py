"""``ipgwsim cleanup``: remove what a killed namespace runtime left behind.

A runtime removes its network namespaces and links when it stops, also after an error.
A process that was killed (``kill -9``, a crash of the interpreter) cannot: this command
removes every ``ipgwsim-<pid>-<device>`` namespace and every link with the alias
``ipgwsim <pid> ...`` whose process is gone (``--all``: also of running ones). Root only.
"""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cleanup",
        help="remove the namespaces and links a killed runtime left (root)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--all", action="store_true", help="also those of runtimes that still run")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ipgwsim.runtime.netlink import cleanup  # noqa: PLC0415 (pyroute2, loaded on use)

    if os.geteuid() != 0:
        print("ipgwsim cleanup: needs root (network namespaces)", file=sys.stderr)
        return 2
    removed = cleanup(all_runtimes=args.all)
    for what in removed:
        print(f"removed {what}")
    print(f"ipgwsim cleanup: {len(removed)} removed")
    return 0

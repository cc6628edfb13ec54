"""The ``ipgwsim`` command: one subcommand per module in :mod:`ipgwsim.tools`.

Each subcommand module offers ``register(subparsers)`` that adds its parser and
sets ``handler`` to a function taking the parsed arguments and returning the
exit status. Errors that a user caused are printed as one line on stderr with
exit status 2; nothing prints a traceback for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ipgwsim import __version__
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.tools import (
    cleanup_cmd,
    completion_cmd,
    config_cmd,
    control_cmd,
    demo_cmd,
    flash_demo_cmd,
    lab_cmd,
    mkimage_cmd,
    profiles_cmd,
    run_cmd,
    wireshark_cmd,
)
from ipgwsim.tools.closedpipe import guard

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class UsageError(Exception):
    """The user asked for something that cannot be done; the text says why."""


class Parser(argparse.ArgumentParser):
    """argparse, whose own output (help, usage, version, errors) into a closed pipe fails
    as every other write does, so that :func:`~ipgwsim.tools.closedpipe.guard` ends the
    command with the same quiet 141 on every Python: argparse of Python 3.11.4 and later
    passes over a failed write and would exit 0, earlier ones raise, and a parser's
    subcommands are of its class."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            (file if file is not None else sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ipgwsim",
        description="Simulated innovaphone gateways: profiles, flash images, devices.",
    )
    parser.add_argument("--version", action="version", version=f"ipgwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        profiles_cmd,
        demo_cmd,
        flash_demo_cmd,
        mkimage_cmd,
        config_cmd,
        run_cmd,
        lab_cmd,
        control_cmd,
        cleanup_cmd,
        completion_cmd,
        wireshark_cmd,
    ):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``ipgwsim`` command; output into a closed pipe ends it quietly
    (:mod:`ipgwsim.tools.closedpipe`)."""
    return guard(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except BrokenPipeError:
        raise
    except (UsageError, RuntimeSetupError, ValueError, KeyError, OSError) as exc:
        print(f"ipgwsim {args.command}: {describe_error(exc, with_file=True)}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())

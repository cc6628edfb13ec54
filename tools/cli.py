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


class UsageError(Exception):
    """The user asked for something that cannot be done; the text says why."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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

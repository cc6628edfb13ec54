"""``python -m ipgwsim.testing.fuzz`` (``scripts/fuzz``): the long fuzzing run.

    scripts/fuzz --surface all --examples 100000 --minutes 2
    scripts/fuzz --surface sip-parser --engine atheris --examples 1000000

Prints one line per surface (inputs tried, seconds, crashes) and each crash's input and
traceback; exits 1 if any surface crashed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from ipgwsim.testing.fuzz import surfaces
from ipgwsim.testing.fuzz.runner import run, run_atheris


def main(argv: list[str] | None = None) -> int:
    known = surfaces()
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--surface",
        action="append",
        help=f"a surface, or 'all' (default); more than one may be given: {', '.join(known)}",
    )
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per surface")
    parser.add_argument("--minutes", type=float, help="at most this long per surface")
    parser.add_argument("--engine", choices=["hypothesis", "atheris"], default="hypothesis")
    parser.add_argument("--list", action="store_true", help="list the surfaces and what crashes")
    args = parser.parse_args(argv)
    if args.list:
        for surface in known.values():
            print(f"{surface.name}: {surface.entry}\n    crash: {surface.crash}")
        return 0
    names = args.surface or ["all"]
    chosen = list(known) if "all" in names else names
    unknown = [n for n in chosen if n not in known]
    if unknown:
        parser.error(f"unknown surface {', '.join(unknown)} (surfaces: {', '.join(known)})")
    if args.examples < 1:
        parser.error(f"--examples must be at least 1, not {args.examples}")
    seconds = args.minutes * 60 if args.minutes is not None else None
    if args.engine == "atheris":
        if len(chosen) != 1:
            parser.error("atheris runs one surface per process: give one --surface")
        run_atheris(known[chosen[0]], examples=args.examples, seconds=seconds)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M %Z')} on {platform.node()} ({platform.machine()},"
        f" Python {platform.python_version()}), hypothesis engine",
        flush=True,
    )
    crashed = 0
    total = 0
    for name in chosen:
        result = run(known[name], examples=args.examples, seconds=seconds)
        total += result.tried
        crashed += bool(result.crashes)
        print(
            f"{name:16} {result.tried:9} inputs {result.seconds:8.1f} s "
            f"{len(result.crashes)} crash(es)",
            flush=True,
        )
        for crash in result.crashes:
            print(crash, file=sys.stderr, flush=True)
    print(f"{'total':16} {total:9} inputs, {crashed} surface(s) crashed", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())

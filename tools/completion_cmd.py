"""``ipgwsim completion bash|zsh`` and ``ipgwsim man``: shell completion and manual pages
for ``ipgwsim`` and ``gwload``, made from the installed commands' own parsers.

``ipgwsim completion bash`` prints the completion of both commands (for ``eval "$(ipgwsim
completion bash)"`` in ``~/.bashrc``); ``--install`` writes one file per command where the
shell looks them up: ``PREFIX/share/bash-completion/completions/{ipgwsim,gwload}`` or
``PREFIX/share/zsh/site-functions/{_ipgwsim,_gwload}`` (zsh: that directory must be on
``fpath``). ``ipgwsim man`` lists the pages, ``ipgwsim man NAME`` prints one
(``ipgwsim man ipgwsim-run | man -l -``), ``--install`` writes every page to
``PREFIX/share/man/man1`` and ``--output DIR`` into DIR. PREFIX is ``~/.local`` unless
``--prefix`` names another. A file already there is replaced (it is an older copy);
each file written is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_PREFIX = Path("~/.local")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``completion`` and ``man`` subcommands."""
    parser = subparsers.add_parser(
        "completion",
        help="print or install bash or zsh completion for ipgwsim and gwload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", choices=["bash", "zsh"], help="the shell")
    parser.add_argument(
        "--command",
        choices=["ipgwsim", "gwload"],
        help="only this command's completion (default: both)",
    )
    _install_options(parser, "write one file per command under PREFIX instead of printing")
    parser.set_defaults(handler=run_completion)

    parser = subparsers.add_parser(
        "man",
        help="list, print or install the manual pages of ipgwsim and gwload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("page", nargs="?", metavar="NAME", help="print this page (ipgwsim-run)")
    _install_options(parser, "write every page to PREFIX/share/man/man1")
    parser.add_argument("--output", type=Path, metavar="DIR", help="write every page into DIR")
    parser.set_defaults(handler=run_man)


def _install_options(parser: argparse.ArgumentParser, install_help: str) -> None:
    parser.add_argument("--install", action="store_true", help=install_help)
    parser.add_argument(
        "--prefix",
        type=Path,
        metavar="DIR",
        help=f"where --install writes (default {DEFAULT_PREFIX})",
    )


def _prefix(args: argparse.Namespace) -> Path:
    prefix: Path = args.prefix if args.prefix is not None else DEFAULT_PREFIX
    return prefix.expanduser()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(path)


def run_completion(args: argparse.Namespace) -> int:
    from ipgwsim.tools.completion import (  # noqa: PLC0415 (loaded on use)
        COMMANDS,
        INSTALL_DIRS,
        CompletionError,
        file_name,
        script,
    )

    if args.prefix is not None and not args.install:
        print("ipgwsim completion: --prefix goes with --install", file=sys.stderr)
        return 2
    commands = [args.command] if args.command else list(COMMANDS)
    try:
        scripts = {command: script(command, args.shell) for command in commands}
    except CompletionError as exc:
        print(f"ipgwsim completion: {exc}", file=sys.stderr)
        return 2
    if not args.install:
        sys.stdout.write("\n".join(scripts.values()))
        return 0
    folder = _prefix(args) / INSTALL_DIRS[args.shell]
    for command, text in scripts.items():
        _write(folder / file_name(command, args.shell), text)
    return 0


def run_man(args: argparse.Namespace) -> int:
    from ipgwsim.tools.manpages import (  # noqa: PLC0415 (on use)
        ManPageError,
        page,
        page_file,
        page_names,
        pages,
    )

    if args.prefix is not None and not args.install:
        print("ipgwsim man: --prefix goes with --install", file=sys.stderr)
        return 2
    if args.page is not None and (args.install or args.output is not None):
        print("ipgwsim man: give a page to print, or --install/--output, not both", file=sys.stderr)
        return 2
    folders = [_prefix(args) / "share/man/man1"] if args.install else []
    folders += [args.output] if args.output is not None else []
    names = page_names()  # listing them needs no extra; making an ipgwsim page does
    try:
        if args.page is not None:
            name = args.page.removesuffix(".1")
            if name not in names:
                print(
                    f"ipgwsim man: no page {args.page!r} (pages: {', '.join(names)})",
                    file=sys.stderr,
                )
                return 2
            sys.stdout.write(page(name))
        elif folders:
            made = pages()  # every page made before any is written
            for folder in folders:
                for name, text in made.items():
                    _write(folder / page_file(name), text)
        else:
            print("\n".join(page_file(name) for name in names))
    except ManPageError as exc:
        print(f"ipgwsim man: {exc}", file=sys.stderr)
        return 2
    return 0

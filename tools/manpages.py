"""Manual pages, made from the commands' own parsers: ``ipgwsim(1)`` (every subcommand),
one page per subcommand (``ipgwsim-run(1)``, ``ipgwsim-status(1)``, ...) and ``gwload(1)``.

The ``ipgwsim`` pages come from its argparse parsers, made by argparse-manpage (the
``man`` extra: ``pip install 'ipgwsim[man]'``). ``gwload``'s vendor command line
(``/option value``) is not argparse: its page is written here from gwload's option table
(:data:`ipgwsim.tools.gwload_cmd.OPTIONS`), so an option added to the table is in it too.
The pages' date is ``SOURCE_DATE_EPOCH`` if set (reproducible builds), else today.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from typing import TYPE_CHECKING

from ipgwsim import __version__
from ipgwsim.runtime.extras import missing_extra_message
from ipgwsim.tools.gwload_cmd import (
    EXIT_NO_DEVICE,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TRANSFER,
    EXIT_USAGE,
    OPTIONS,
)

if TYPE_CHECKING:
    from argparse_manpage.manpage import Manpage

SECTION = "1"
MANUAL = "ipgwsim manual"
SOURCE = f"ipgwsim {__version__}"
#: A word longer than this gets break points after its commas (an impairment spec), so
#: that groff can fill the line instead of warning that it cannot adjust it.
LONG_WORD = 40


class ManPageError(Exception):
    """Pages cannot be made here (a missing library); the text says why."""


def page_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(epoch) if epoch and epoch.isdigit() else None
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def page_names() -> list[str]:
    """Every page's name, ``ipgwsim`` first and ``gwload`` last; needs no extra."""
    return ["ipgwsim", *(f"ipgwsim-{name}" for name in subcommands(_parser())), "gwload"]


def page(name: str) -> str:
    """The roff text of the page ``name`` (one of :func:`page_names`); only an ``ipgwsim``
    page needs argparse-manpage (:class:`ManPageError` without it)."""
    if name == "gwload":
        return gwload_page()
    parser = _parser()
    subs = subcommands(parser)
    if name == "ipgwsim":
        return _top_page(_manpage(name), parser, subs)
    sub = name.removeprefix("ipgwsim-")
    if name.startswith("ipgwsim-") and sub in subs:
        return _sub_page(_manpage(name), sub, *subs[sub])
    raise ValueError(f"no page {name!r} (pages: {', '.join(page_names())})")


def pages() -> dict[str, str]:
    """Every page: its name (``ipgwsim-run``) and its roff text, ``ipgwsim`` first."""
    found = ipgwsim_pages()
    found["gwload"] = gwload_page()
    return found


def page_file(name: str) -> str:
    return f"{name}.{SECTION}"


# -- ipgwsim: argparse, by argparse-manpage -------------------------------------------------


def subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    """The subcommands of ``parser``: name -> (parser, one-line help)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}
    return {}


def ipgwsim_pages() -> dict[str, str]:
    """The pages of ``ipgwsim`` and each of its subcommands (argparse-manpage)."""
    manpage = _manpage("ipgwsim")
    parser = _parser()
    subs = subcommands(parser)
    found = {"ipgwsim": _top_page(manpage, parser, subs)}
    for name, (sub, help_text) in subs.items():
        found[f"ipgwsim-{name}"] = _sub_page(manpage, name, sub, help_text)
    return found


def _parser() -> argparse.ArgumentParser:
    from ipgwsim.tools.cli import build_parser  # noqa: PLC0415 (cli registers this module)

    return build_parser()


def _manpage(name: str) -> type[Manpage]:
    """argparse-manpage's page class, needed for the page ``name``."""
    try:
        from argparse_manpage.manpage import Manpage  # noqa: PLC0415 (an extra, on use)
    except ImportError:
        raise ManPageError(
            missing_extra_message(f"the page {name}({SECTION})", "argparse_manpage")
        ) from None
    found: type[Manpage] = Manpage  # the library has no type hints
    return found


def _page_data(description: str) -> dict[str, str]:
    return {
        "project_name": "ipgwsim",
        "version": __version__,
        "manual_title": MANUAL,
        "date": page_date(),
        "description": description,
    }


def _top_page(
    manpage: type[Manpage],
    parser: argparse.ArgumentParser,
    subs: dict[str, tuple[argparse.ArgumentParser, str]],
) -> str:
    see_also = [page_file(f"ipgwsim-{name}") for name in subs] + ["gwload.1"]
    top = manpage(parser, _page_data("simulated innovaphone gateways"))
    return _finish(str(top), see_also)


def _sub_page(
    manpage: type[Manpage], name: str, sub: argparse.ArgumentParser, help_text: str
) -> str:
    made = manpage(sub, _page_data(help_text))
    made.prog = f"ipgwsim-{name}"
    return _finish(str(made), ["ipgwsim.1"])


def _finish(text: str, see_also: list[str]) -> str:
    """Break points in long words, and a SEE ALSO section naming the other pages."""
    lines = []
    for line in text.splitlines():
        if line.startswith((".", "'")):
            lines.append(line)
        else:
            lines.append(" ".join(_breakable(word) for word in line.split(" ")))
    refs = [re.sub(r"^(.*)\.(\d)$", r"\\fB\1\\fR(\2)", ref).replace("-", "\\-") for ref in see_also]
    lines += [".SH SEE ALSO", ",\n".join(refs)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _breakable(word: str) -> str:
    return word.replace(",", ",\\:") if len(word) > LONG_WORD else word


# -- gwload: from its option table ----------------------------------------------------------


def roff(text: str) -> str:
    """``text`` as roff: backslashes and hyphens escaped, no line taken for a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def gwload_page() -> str:
    lines = [
        f'.TH GWLOAD "{SECTION}" "{page_date()}" "{roff(SOURCE)}" "{MANUAL}"',
        ".SH NAME",
        "gwload \\- load config, firmware and boot code into a device in TFTP mode",
        ".SH SYNOPSIS",
        ".B gwload",
        "/option [value] ...",
        ".SH DESCRIPTION",
        "The vendor's command lines work as they are: options start with",
        ".BR / ,",
        "in any case and any order, and those that take a value are followed by it.",
        "gwload discovers the device (when",
        ".B /setip",
        "has no",
        ".BR /mac ),",
        "gives it the address of",
        ".BR /i ,",
        "downloads the config",
        ".RB ( /getcfg ),",
        "loads boot code, the rescue boot code, firmware and config in that order, and",
        "restarts the device after an upload (unless",
        ".BR /noreset ),",
        "or starts its firmware with",
        ".BR /go .",
        ".PP",
        "Examples:",
        ".PP",
        ".nf",
        ".RS",
        "gwload /gwtype 6000 /i 192.168.0.1 /setip",
        "gwload /gwtype 6000 /i 192.168.0.1 /setip /cfg config.txt",
        "gwload /scan /port 6969 /bcast 127.255.255.255",
        ".RE",
        ".fi",
    ]
    for documented, heading in ((True, "OPTIONS"), (False, "EXTENSIONS")):
        lines.append(f".SH {heading}")
        if not documented:
            lines.append("Options of ipgwsim's gwload that the vendor's does not document.")
        for name, arg, doc, text in OPTIONS:
            if doc is documented:
                lines.append(".TP")
                lines.append(f"\\fB/{roff(name)}\\fR" + (f" \\fI{roff(arg)}\\fR" if arg else ""))
                lines.append(roff(text))
    statuses = (
        (EXIT_OK, "done"),
        (EXIT_USAGE, "the command line is wrong (the reason is printed)"),
        (EXIT_NO_DEVICE, "no device answered, or several did"),
        (EXIT_TRANSFER, "a transfer failed"),
        (EXIT_REFUSED, "the device refused (NAK or TFTP ERROR), with its reason"),
    )
    lines.append(".SH EXIT STATUS")
    for status, meaning in statuses:
        lines += [".TP", f"\\fB{status}\\fR", roff(meaning)]
    lines += [".SH SEE ALSO", "\\fBipgwsim\\fR(1)"]
    return "\n".join(lines) + "\n"

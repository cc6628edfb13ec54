"""Manual pages (``ipgwsim man``): made from the current parsers by the real command, one
per command and subcommand; each renders with groff without a warning and holds every
option of its command, so a page that went stale or broken would fail here."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from ipgwsim.tools.cli import build_parser
from ipgwsim.tools.gwload_cmd import OPTIONS
from ipgwsim.tools.manpages import subcommands

CLI = [sys.executable, "-m", "ipgwsim.tools.cli"]
SUBCOMMANDS = subcommands(build_parser())
PAGES = ["ipgwsim", *(f"ipgwsim-{name}" for name in SUBCOMMANDS), "gwload"]


def options(parser: argparse.ArgumentParser) -> list[str]:
    """The options of ``parser`` a page must describe (``--help`` is only in the synopsis,
    as in most manual pages)."""
    return [
        option
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
    ]


def man(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "man", *args], capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ipgwsim man --install --prefix PREFIX``: PREFIX/share/man/man1."""
    prefix = tmp_path_factory.mktemp("prefix")
    done = man("--install", "--prefix", str(prefix))
    assert done.returncode == 0, done.stderr
    folder = prefix / "share" / "man" / "man1"
    assert done.stdout.splitlines() == [str(folder / f"{page}.1") for page in PAGES]
    return folder


def render(path: Path) -> str:
    """The page as a terminal shows it (without hyphenation, so that every option is one
    word); groff's warnings (all of them) fail the test."""
    done = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-rHY=0", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # groff's -Tutf8 marks bold and underline with backspaces; the words are what count.
    text = done.stdout
    while "\b" in text:
        index = text.index("\b")
        text = text[: index - 1] + text[index + 1 :]
    return text.replace("\u2010", "-").replace("\u2212", "-")


@pytest.mark.requires("groff")
@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_a_subcommand_page_renders_and_holds_every_option(installed: Path, name: str) -> None:
    parser, help_text = SUBCOMMANDS[name]
    text = render(installed / f"ipgwsim-{name}.1")
    assert f"ipgwsim-{name} - {help_text}"[:40] in " ".join(text.split())
    for option in options(parser):
        assert option in text, f"{option} missing from ipgwsim-{name}(1)"


@pytest.mark.requires("groff")
def test_the_ipgwsim_page_names_every_subcommand_and_option(installed: Path) -> None:
    text = render(installed / "ipgwsim.1")
    assert "--version" in text
    for name, (parser, _) in SUBCOMMANDS.items():
        assert name in text
        for option in options(parser):
            assert option in text, f"{option} of {name} missing from ipgwsim(1)"
    assert "ipgwsim-run(1)" in text
    assert "gwload(1)" in text


@pytest.mark.requires("groff")
def test_the_gwload_page_holds_every_option_of_its_table(installed: Path) -> None:
    text = render(installed / "gwload.1")
    for name, arg, _, help_text in OPTIONS:
        assert f"/{name}" + (f" {arg}" if arg else "") in text
        assert help_text.split()[0] in text
    assert "EXIT STATUS" in text


def test_man_lists_and_prints_pages() -> None:
    done = man()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{page}.1" for page in PAGES]
    done = man("gwload")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('.TH GWLOAD "1"')


def test_an_unknown_page_is_refused_naming_the_pages() -> None:
    done = man("ipgwsim-nothing")
    assert done.returncode == 2
    assert done.stderr.startswith("ipgwsim man: no page 'ipgwsim-nothing' (pages: ipgwsim, ")
    assert done.stdout == ""


def test_the_date_follows_source_date_epoch(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "man", "ipgwsim-run"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SOURCE_DATE_EPOCH": "1700000000"},
    )
    assert done.returncode == 0, done.stderr
    assert '"2023\\-11\\-14"' in done.stdout.splitlines()[0]

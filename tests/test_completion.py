"""Shell completion (``ipgwsim completion bash|zsh``): the scripts are installed with the
real command, then a real bash or zsh completes command lines with them. Every
subcommand and option of ipgwsim's current parsers and every option of gwload's table
is offered, so a script that went stale would fail here."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ipgwsim.tools.cli import build_parser
from ipgwsim.tools.gwload_cmd import OPTIONS
from ipgwsim.tools.manpages import subcommands

CLI = [sys.executable, "-m", "ipgwsim.tools.cli"]


def install(shell: str, prefix: Path) -> Path:
    """``ipgwsim completion SHELL --install --prefix PREFIX``; the folder it wrote to."""
    done = subprocess.run(
        [*CLI, "completion", shell, "--install", "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written = [Path(line) for line in done.stdout.splitlines()]
    assert len(written) == 2
    assert all(path.is_file() for path in written)
    return written[0].parent


@pytest.fixture(scope="module")
def bash_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = install("bash", tmp_path_factory.mktemp("prefix"))
    assert folder.parts[-3:] == ("share", "bash-completion", "completions")
    return folder


@pytest.fixture(scope="module")
def zsh_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = install("zsh", tmp_path_factory.mktemp("prefix"))
    assert folder.parts[-3:] == ("share", "zsh", "site-functions")
    return folder


def bash_complete(folder: Path, words: list[str], cwd: Path | None = None) -> list[str]:
    """COMPREPLY of the completion function the script registers for ``words[0]``, with
    the cursor at the end of the last word."""
    command = words[0]
    line = " ".join(words)
    code = f"""
        source {shlex.quote(str(folder / command))}
        spec=$(complete -p {command})
        function=${{spec##*-F }}; function=${{function%% *}}
        COMP_WORDS=({" ".join(shlex.quote(w) for w in words)})
        COMP_CWORD={len(words) - 1}
        COMP_LINE={shlex.quote(line)}
        COMP_POINT={len(line)}
        "$function" {command} {shlex.quote(words[-1])} {shlex.quote(words[-2])}
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return [word.strip() for word in done.stdout.splitlines() if word.strip()]


#: A real interactive zsh in a pty: compinit with the installed functions on fpath,
#: compadd wrapped to print every match it is given, and the shell ending after the
#: first completion (comppostfuncs), so that nothing waits on the terminal.
ZSH_PROBE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a hits
  builtin compadd -A hits "$@"
  (( $#hits )) && print -l -- "" "MATCH:"${^hits}
  builtin compadd "$@"
}'
zpty -w z 'comppostfuncs=(exit)'
zpty -w z "cd ${(q)3}"
zpty -n -w z "$2"$'\t'
out=""
while zpty -r z chunk; do out+=$chunk; done
print -r -- $out
"""


def zsh_complete(folder: Path, line: str, cwd: Path) -> list[str]:
    """The matches zsh offers when TAB is pressed at the end of ``line``."""
    done = subprocess.run(
        ["zsh", "-f", "-c", ZSH_PROBE, "probe", str(folder), line, str(cwd)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = [row.strip("\r") for row in done.stdout.splitlines()]
    return sorted({row.removeprefix("MATCH:") for row in found if row.startswith("MATCH:")})


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


SUBCOMMANDS = subcommands(build_parser())
GWLOAD_OPTIONS = {f"/{name}" for name, *_ in OPTIONS}


def test_bash_completes_the_subcommands(bash_dir: Path) -> None:
    offered = bash_complete(bash_dir, ["ipgwsim", ""])
    assert set(SUBCOMMANDS) <= set(offered)
    assert bash_complete(bash_dir, ["ipgwsim", "ru"]) == ["run"]


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_bash_completes_every_option_of_a_subcommand(bash_dir: Path, name: str) -> None:
    parser, _ = SUBCOMMANDS[name]
    wanted = option_strings(parser)
    assert wanted  # at least --help
    assert wanted <= set(bash_complete(bash_dir, ["ipgwsim", name, "-"]))


def test_bash_completes_an_option_by_its_prefix(bash_dir: Path) -> None:
    offered = bash_complete(bash_dir, ["ipgwsim", "run", "--co"])
    assert {"--count", "--console-tcp", "--console-port"} <= set(offered)
    assert all(word.startswith("--co") for word in offered)


def test_bash_completes_file_names_after_a_file_option(bash_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "capture-here.pcapng").write_bytes(b"")
    offered = bash_complete(bash_dir, ["ipgwsim", "run", "--pcap", "capt"], cwd=tmp_path)
    assert offered == ["capture-here.pcapng"]


def test_bash_completes_every_gwload_option(bash_dir: Path) -> None:
    assert set(bash_complete(bash_dir, ["gwload", "/"])) == GWLOAD_OPTIONS
    assert "/gwtype" in bash_complete(bash_dir, ["gwload", "/g"])
    # The vendor's options are case-insensitive.
    assert "/gwtype" in bash_complete(bash_dir, ["gwload", "/GW"])


def test_bash_completes_gwload_values(bash_dir: Path, tmp_path: Path) -> None:
    assert set(bash_complete(bash_dir, ["gwload", "/gwtype", "IP60"])) == {
        "IP6000",
        "IP6010",
        "IP6013",
    }
    (tmp_path / "config-new.txt").write_text("")
    offered = bash_complete(bash_dir, ["gwload", "/i", "10.0.0.5", "/cfg", "conf"], cwd=tmp_path)
    assert offered == ["config-new.txt"]
    # A value the shell cannot know (an address) gets no option names.
    assert bash_complete(bash_dir, ["gwload", "/i", ""]) == []


@pytest.mark.requires("zsh")
def test_zsh_completes_subcommands_and_options(zsh_dir: Path, tmp_path: Path) -> None:
    assert set(SUBCOMMANDS) <= set(zsh_complete(zsh_dir, "ipgwsim ", tmp_path))
    assert {"--count", "--console-tcp", "--console-port"} <= set(
        zsh_complete(zsh_dir, "ipgwsim run --co", tmp_path)
    )
    (tmp_path / "capture-here.pcapng").write_bytes(b"")
    assert zsh_complete(zsh_dir, "ipgwsim run --pcap capt", tmp_path) == ["capture-here.pcapng"]


@pytest.mark.requires("zsh")
def test_zsh_completes_gwload(zsh_dir: Path, tmp_path: Path) -> None:
    assert set(zsh_complete(zsh_dir, "gwload /", tmp_path)) == GWLOAD_OPTIONS
    assert zsh_complete(zsh_dir, "gwload /gwtype IP60", tmp_path) == ["IP6000", "IP6010", "IP6013"]
    (tmp_path / "config-new.txt").write_text("")
    assert zsh_complete(zsh_dir, "gwload /cfg conf", tmp_path) == ["config-new.txt"]


def test_completion_prints_both_commands_scripts() -> None:
    done = subprocess.run(
        [*CLI, "completion", "bash"], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "complete -o bashdefault -F _shtab_ipgwsim ipgwsim" in done.stdout
    assert "complete -F _ipgwsim_gwload gwload" in done.stdout


def test_prefix_without_install_is_refused() -> None:
    done = subprocess.run(
        [*CLI, "completion", "zsh", "--prefix", "/nonexistent"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == "ipgwsim completion: --prefix goes with --install\n"


def without(
    library: str, args: list[str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``ipgwsim ARGS`` in an interpreter where ``library`` cannot be imported, as where
    its extra is missing."""
    code = (
        f"import sys; sys.modules[{library!r}] = None\n"
        "from ipgwsim.tools.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "library", "line"),
    [
        (
            ["completion", "bash"],
            "shtab",
            "ipgwsim completion: the completion of ipgwsim needs shtab, which is not "
            "installed: pip install 'ipgwsim[completion]'\n",
        ),
        (
            ["man", "ipgwsim-run"],
            "argparse_manpage",
            "ipgwsim man: the page ipgwsim-run(1) needs argparse_manpage, which is not "
            "installed: pip install 'ipgwsim[man]'\n",
        ),
        (
            ["man", "ipgwsim"],
            "argparse_manpage",
            "ipgwsim man: the page ipgwsim(1) needs argparse_manpage, which is not "
            "installed: pip install 'ipgwsim[man]'\n",
        ),
    ],
)
def test_a_missing_extra_is_named(args: list[str], library: str, line: str) -> None:
    done = without(library, args)
    assert done.returncode == 2
    assert done.stderr == line
    assert done.stdout == ""


def test_gwload_needs_no_extra() -> None:
    """gwload's completion and page, and the list of pages, are made without shtab or
    argparse-manpage; only ipgwsim's need them."""
    done = without("shtab", ["completion", "bash", "--command", "gwload"])
    assert (done.returncode, done.stderr) == (0, "")
    assert "complete -F _ipgwsim_gwload gwload" in done.stdout
    assert "shtab" not in done.stdout
    done = without("shtab", ["completion", "zsh", "--command", "gwload"])
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("#compdef gwload\n")

    done = without("argparse_manpage", ["man", "gwload"])
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(".TH GWLOAD ")
    done = without("argparse_manpage", ["man", "gwload.1"])
    assert (done.returncode, done.stdout.startswith(".TH GWLOAD ")) == (0, True)
    listed = without("argparse_manpage", ["man"])
    assert (listed.returncode, listed.stderr) == (0, "")
    names = listed.stdout.splitlines()
    assert names[0] == "ipgwsim.1"
    assert names[-1] == "gwload.1"
    assert "ipgwsim-run.1" in names


def test_installing_the_pages_without_the_extra_writes_none(tmp_path: Path) -> None:
    done = without("argparse_manpage", ["man", "--output", str(tmp_path / "out")])
    assert done.returncode == 2
    assert done.stderr == (
        "ipgwsim man: the page ipgwsim(1) needs argparse_manpage, which is not "
        "installed: pip install 'ipgwsim[man]'\n"
    )
    assert done.stdout == ""
    assert not (tmp_path / "out").exists()

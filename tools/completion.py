"""Shell completion for ``ipgwsim`` and ``gwload``, made from their own command lines.

``ipgwsim``'s script comes from its argparse parsers, made by shtab (the ``completion``
extra: ``pip install 'ipgwsim[completion]'``); every subcommand and option is in it, and
an option that takes a file or a directory (``type=Path``) completes file names.
``gwload``'s vendor command line (``/option value``, any case) is not argparse: its script
is written here from gwload's option table (:data:`ipgwsim.tools.gwload_cmd.OPTIONS`), so
an option added to the table is completed too. After an option that takes a file,
gwload completes file names; after ``/gwtype``, the models and their gwtypes; after
``/if``, the network interfaces; after any other option with a value, nothing.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ipgwsim.hw_profiles import load_profiles
from ipgwsim.runtime.extras import missing_extra_message
from ipgwsim.tools.gwload_cmd import OPTIONS

SHELLS = ("bash", "zsh")
COMMANDS = ("ipgwsim", "gwload")
#: Where ``--install`` puts each shell's scripts, under the prefix (``~/.local``).
INSTALL_DIRS = {
    "bash": Path("share/bash-completion/completions"),
    "zsh": Path("share/zsh/site-functions"),
}
#: The gwload options whose value is a file (completed with file names).
FILE_ARGUMENTS = frozenset({"FILE"})


class CompletionError(Exception):
    """A script cannot be made here (a missing library); the text says why."""


def script(command: str, shell: str) -> str:
    """The completion script of ``command`` (``ipgwsim``, ``gwload``) for ``shell``."""
    if shell not in SHELLS:
        raise ValueError(f"no completion for the shell {shell!r} (known: {', '.join(SHELLS)})")
    if command == "ipgwsim":
        return ipgwsim_script(shell)
    if command == "gwload":
        return gwload_bash() if shell == "bash" else gwload_zsh()
    raise ValueError(f"no completion for the command {command!r} (known: {', '.join(COMMANDS)})")


def file_name(command: str, shell: str) -> str:
    """The file name a shell looks the script up by: ``ipgwsim`` (bash), ``_ipgwsim`` (zsh)."""
    return command if shell == "bash" else f"_{command}"


# -- ipgwsim: argparse, by shtab ----------------------------------------------------------


def ipgwsim_script(shell: str) -> str:
    try:
        import shtab  # noqa: PLC0415 (an extra, loaded on use)
    except ImportError:
        raise CompletionError(missing_extra_message("the completion of ipgwsim", "shtab")) from None
    from ipgwsim.tools.cli import build_parser  # noqa: PLC0415 (cli registers this module)

    parser = build_parser()
    for action in _all_actions(parser):
        if action.type is Path:
            wanted = shtab.DIRECTORY if action.metavar == "DIR" else shtab.FILE
            action.complete = wanted  # type: ignore[attr-defined]
    text: str = shtab.complete(parser, shell=shell)
    return text.rstrip("\n") + "\n"


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of ``parser`` and of its subcommands, at any depth."""
    found: list[argparse.Action] = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _all_actions(sub)
    return found


# -- gwload: from its option table ---------------------------------------------------------


def gwload_options() -> list[tuple[str, str | None, str]]:
    """(``/name``, argument or None, help) of every gwload option, from its table."""
    return [(f"/{name}", arg, text) for name, arg, _documented, text in OPTIONS]


def gwtype_words() -> list[str]:
    """What ``/gwtype`` takes: the models (``IP6000``) and their gwtypes (``6000``)."""
    profiles = load_profiles()
    gwtypes = sorted({str(p.gwtype) for p in profiles.values()}, key=int)
    return [*sorted(profiles), *gwtypes]


def gwload_bash() -> str:
    options = gwload_options()
    names = " ".join(name for name, _, _ in options)
    files = "|".join(name for name, arg, _ in options if arg in FILE_ARGUMENTS)
    valued = "|".join(
        name
        for name, arg, _ in options
        if arg is not None and arg not in FILE_ARGUMENTS and name not in ("/gwtype", "/if")
    )
    gwtypes = " ".join(gwtype_words())
    cases = [
        f"        {files})",
        "            compopt -o filenames 2>/dev/null",
        '            COMPREPLY=($(compgen -f -- "$cur"))',
        "            return 0;;",
        "        /gwtype)",
        f'            COMPREPLY=($(compgen -W {shlex.quote(gwtypes)} -- "$cur"))',
        "            return 0;;",
        "        /if)",
        '            COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))',
        "            return 0;;",
    ]
    if valued:
        cases += [f"        {valued})", "            return 0;;"]
    body = "\n".join(cases)
    return f"""# bash completion for gwload (ipgwsim), made from gwload's option table.
_ipgwsim_gwload() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}"
    local prev=""
    if [ "$COMP_CWORD" -gt 0 ]; then
        prev="${{COMP_WORDS[COMP_CWORD-1],,}}"
    fi
    COMPREPLY=()
    case "$prev" in
{body}
    esac
    COMPREPLY=($(compgen -W {shlex.quote(names)} -- "${{cur,,}}"))
    return 0
}}
complete -F _ipgwsim_gwload gwload
"""


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def gwload_zsh() -> str:
    options = gwload_options()
    described = "\n".join(
        "    " + _zsh_quote(f"{name}:{text.replace(':', chr(92) + ':')}")
        for name, _, text in options
    )
    files = "|".join(name for name, arg, _ in options if arg in FILE_ARGUMENTS)
    arguments = {name: arg for name, arg, _ in options if arg is not None}
    messages = "\n".join(
        f"    ({name}) _message {_zsh_quote(f'{name} {arg}')}; return;;"
        for name, arg in arguments.items()
        if arg not in FILE_ARGUMENTS and name not in ("/gwtype", "/if")
    )
    gwtypes = " ".join(_zsh_quote(word) for word in gwtype_words())
    return f"""#compdef gwload
# zsh completion for gwload (ipgwsim), made from gwload's option table.
_ipgwsim_gwload() {{
  local prev=${{(L)words[CURRENT-1]}}
  case $prev in
    ({files}) _files; return;;
    (/gwtype) compadd -- {gwtypes}; return;;
    (/if) _net_interfaces; return;;
{messages}
  esac
  local -a opts
  opts=(
{described}
  )
  _describe -t gwload-options 'gwload option' opts
}}
{_ZSH_TAIL.format(function="_ipgwsim_gwload", command="gwload")}"""


#: Sourced (``eval "$(ipgwsim completion zsh)"``) the script registers its function;
#: loaded from ``fpath`` (``_gwload``) it completes at once.
_ZSH_TAIL = """if [[ $zsh_eval_context[-1] == eval ]]; then
  compdef {function} {command}
else
  {function} "$@"
fi
"""

"""Output into a pipe whose reader has gone (``ipgwsim profiles | head -1``) ends the
command quietly: nothing on stderr, exit status 141, as a tool killed by SIGPIPE."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ipgwsim.tools.closedpipe import CLOSED_PIPE, guard

COMMANDS = {
    "ipgwsim profiles": [sys.executable, "-m", "ipgwsim.tools.cli", "profiles"],
    "ipgwsim --help": [sys.executable, "-m", "ipgwsim.tools.cli", "--help"],
    "ipgwsim run --help": [sys.executable, "-m", "ipgwsim.tools.cli", "run", "--help"],
    "ipgwsim --version": [sys.executable, "-m", "ipgwsim.tools.cli", "--version"],
    "gwload /help": [sys.executable, "-m", "ipgwsim.tools.gwload_cmd", "/help"],
}


def run_into_closed_pipe(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` with stdout a pipe whose read end is closed before it starts, so
    that its first write fails (EPIPE) whatever the timing."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            command, check=False, stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_into_a_closed_pipe_ends_quietly(name: str) -> None:
    done = run_into_closed_pipe(COMMANDS[name])
    assert done.stderr.decode() == ""
    assert done.returncode == CLOSED_PIPE
    assert CLOSED_PIPE == 141


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_same_command_into_an_open_pipe_writes_everything(name: str) -> None:
    done = subprocess.run(COMMANDS[name], check=False, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.strip()
    assert done.stderr.decode() == ""


def test_guard_passes_the_status_through_and_turns_a_closed_pipe_into_141() -> None:
    assert guard(lambda: 3) == 3

    def closed() -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert guard(closed) == CLOSED_PIPE

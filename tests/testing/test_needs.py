"""The rule for tests that cannot run here: skipped on a developer's machine, failed in CI."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ipgwsim.testing import needs
from ipgwsim.testing.needs import find_program, in_ci, unavailable


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("yes", True), ("", False), ("0", False), ("false", False)],
)
def test_in_ci_reads_the_ci_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_without_ci_a_test_that_cannot_run_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no frobnicator"):
        unavailable("no frobnicator")


def test_in_ci_a_test_that_cannot_run_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no frobnicator: CI runs every test"):
        unavailable("no frobnicator")
    with pytest.raises(pytest.skip.Exception, match="no frobnicator"):
        unavailable("no frobnicator", fail_in_ci=False)


def test_a_program_in_sbin_is_found_without_sbin_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for a user who is not root: Debian's /usr/sbin is not on PATH."""
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    program = sbin / "in.tftpd"
    program.write_text("#!/bin/sh\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(needs, "SBIN", (str(sbin),))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert find_program("in.tftpd") == str(program)
    assert find_program("no-such-program") is None
    # PATH comes first.
    (tmp_path / "bin").mkdir()
    first = tmp_path / "bin" / "in.tftpd"
    first.write_text("#!/bin/sh\n")
    first.chmod(first.stat().st_mode | stat.S_IXUSR)
    assert find_program("in.tftpd") == str(first)

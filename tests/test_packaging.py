"""The layout: one import package, the top-level folders reached through symlinks."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

import ipgwsim

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("flash", "boot", "firmware", "tools", "hw_profiles")
#: The package root's own files; everything else in src/ipgwsim is a link to a layer.
ROOT_FILES = {"__init__.py", "__main__.py", "py.typed"}


def test_only_ipgwsim_is_installed() -> None:
    packages = find_packages(where=str(ROOT / "src"))
    assert "ipgwsim" in packages
    assert "ipgwsim.flash" in packages
    assert all(p == "ipgwsim" or p.startswith("ipgwsim.") for p in packages), packages


def test_top_level_folders_are_relative_symlinks() -> None:
    for name in FOLDERS:
        link = ROOT / "src" / "ipgwsim" / name
        assert link.is_symlink(), link
        assert os.readlink(link) == f"../../{name}"
        assert (ROOT / name).is_dir()


def test_bare_imports_of_the_folders_are_banned() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    banned = config["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    assert set(FOLDERS) <= set(banned)


def test_the_package_root_holds_only_its_files_and_links() -> None:
    package = ROOT / "src" / "ipgwsim"
    entries = [p for p in package.iterdir() if p.name != "__pycache__"]
    files = {p.name for p in entries if not p.is_symlink()}
    assert files == ROOT_FILES
    for link in (p for p in entries if p.is_symlink()):
        assert os.readlink(link) == f"../../{link.name}", link
        assert (ROOT / link.name / "__init__.py").is_file(), link


def test_python_m_ipgwsim_is_the_ipgwsim_command() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ipgwsim", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    version = run("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["ipgwsim", ipgwsim.__version__]
    usage = run("--help")
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("usage: ipgwsim "), usage.stdout
    profiles = run("profiles")
    assert profiles.returncode == 0, profiles.stderr
    assert "IP6000" in profiles.stdout
    wrong = run("no-such-command")
    assert wrong.returncode == 2
    assert "ipgwsim: error: argument COMMAND: invalid choice: 'no-such-command'" in wrong.stderr

"""The layout: one import package, the top-level folders reached through symlinks."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("flash", "boot", "firmware", "tools", "hw_profiles")


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

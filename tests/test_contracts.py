"""The import contracts (pyproject.toml, ``lint-imports``) fail when they are broken.

Each probe goes into a copy of the package in a temporary folder, and ``lint-imports`` runs
on that copy with the project's own contracts: a contract that stayed KEPT here would be a
safety net with a hole. import-linter cannot forbid a submodule of the standard library
(``urllib.request``) while allowing its sibling (``urllib.parse``), so the cores' imports of
such submodules are checked here too, from their source.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ipgwsim"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
#: The sans-I/O cores (the "cores do no I/O" contract's source modules).
CORES = ("flash", "proto", "events.py", "boot", "firmware", "device.py")
#: Submodules that reach the outside world, of packages whose other submodules are pure.
IO_SUBMODULES = (
    "urllib.request",
    "urllib.robotparser",
    "http.client",
    "http.server",
    "http.cookiejar",
    "logging.handlers",
    "xmlrpc.client",
    "xmlrpc.server",
    "email.mime",
)

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="lint-imports not installed")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package (symlinked layers resolved) and pyproject.toml, copied to ``tmp_path``."""
    shutil.copytree(PACKAGE, tmp_path / "ipgwsim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(copy: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(copy / "pyproject.toml"), "--no-cache"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_copy_keeps_both_contracts(copy: Path) -> None:
    result = lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    "module", ["pathlib", "datetime", "multiprocessing", "pyroute2", "scapy", "socket"]
)
def test_a_core_that_reaches_the_outside_world_breaks_the_contract(copy: Path, module: str) -> None:
    (copy / "ipgwsim" / "flash" / "probe.py").write_text(f"import {module}\n")
    result = lint(copy)
    assert result.returncode != 0
    assert f"ipgwsim.flash is not allowed to import {module}" in result.stdout, result.stdout


def test_a_core_importing_a_higher_layer_breaks_the_layers(copy: Path) -> None:
    (copy / "ipgwsim" / "flash" / "probe.py").write_text("import ipgwsim.runtime.runtime\n")
    result = lint(copy)
    assert result.returncode != 0
    assert "ipgwsim.flash.probe -> ipgwsim.runtime.runtime" in result.stdout, result.stdout


def test_a_module_in_no_layer_breaks_the_layers(copy: Path) -> None:
    (copy / "ipgwsim" / "stray.py").write_text("")
    result = lint(copy)
    assert result.returncode != 0
    assert "ipgwsim.stray" in result.stdout + result.stderr


def test_main_is_checked_as_a_layer_beside_testing(copy: Path) -> None:
    """``__main__`` (python -m ipgwsim) is in a layer, not ignored: importing the testing
    kit from it breaks the contract."""
    main = copy / "ipgwsim" / "__main__.py"
    main.write_text(main.read_text() + "import ipgwsim.testing.lab\n")
    result = lint(copy)
    assert result.returncode != 0
    assert "ipgwsim.__main__ -> ipgwsim.testing.lab" in result.stdout, result.stdout


def test_a_layer_that_does_not_exist_is_an_error(copy: Path) -> None:
    config = copy / "pyproject.toml"
    text = config.read_text()
    assert '    "proto",\n' in text
    config.write_text(text.replace('    "proto",\n', '    "protocol",\n', 1))
    result = lint(copy)
    assert result.returncode != 0
    assert "protocol" in result.stdout + result.stderr


def io_submodule_imports(source: str) -> list[str]:
    """The submodules of :data:`IO_SUBMODULES` that ``source`` imports."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found += [m for m in IO_SUBMODULES for n in names if n == m or n.startswith(m + ".")]
    return sorted(set(found))


def test_the_source_check_sees_each_form_of_import() -> None:
    assert io_submodule_imports("import urllib.request\n") == ["urllib.request"]
    assert io_submodule_imports("from urllib import request\n") == ["urllib.request"]
    assert io_submodule_imports("from http.client import HTTPConnection\n") == ["http.client"]
    assert io_submodule_imports("from urllib.parse import quote\n") == []


def test_no_core_imports_a_submodule_that_does_io() -> None:
    for core in CORES:
        path = PACKAGE / core
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            assert io_submodule_imports(file.read_text()) == [], file

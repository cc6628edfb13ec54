"""docs/architecture.md names what is there: every path it names exists, and every package
and top-level module of ``ipgwsim`` is named in it; docs/runtime.md's module table names
every module of the runtime and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "src" / "ipgwsim"
#: A path in the page: in backticks, or at the start of a line of the layer diagram.
NAMED = re.compile(r"`([A-Za-z_][\w./-]*(?:/|\.py))`|^((?:src/ipgwsim/)?[a-z_]+(?:/|\.py))", re.M)
#: Where a path the page names may be, relative to: the repository, or the package.
BASES = (ROOT, PACKAGE, ROOT / "src")


def named_paths(text: str) -> set[str]:
    return {a or b for a, b in NAMED.findall(text)}


def test_the_pattern_finds_backticked_and_diagram_paths() -> None:
    text = "see `flash/formats.py` and\nsrc/ipgwsim/runtime/   the only I/O\nboot/  |  x\n"
    assert named_paths(text) == {"flash/formats.py", "src/ipgwsim/runtime/", "boot/"}


def test_every_path_the_page_names_exists() -> None:
    missing = [
        path
        for path in sorted(named_paths(PAGE.read_text()))
        if not any((base / path).exists() for base in BASES)
    ]
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_layer_of_the_package_is_named() -> None:
    text = PAGE.read_text()
    children = sorted(
        p.name
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    )
    assert children  # the package was found
    unnamed = [
        name
        for name in children
        if not re.search(rf"(?<![\w.]){re.escape(name)}{'' if name.endswith('.py') else '/'}", text)
    ]
    assert unnamed == [], f"docs/architecture.md does not name: {unnamed}"


RUNTIME_PAGE = ROOT / "docs" / "runtime.md"
#: A row of docs/runtime.md's module table: the modules it is about, in backticks.
TABLE_ROW = re.compile(r"^\| ((?:`[\w/]+\.py`(?:, )?)+) \|", re.M)


def table_modules(text: str) -> set[str]:
    return {m for row in TABLE_ROW.findall(text) for m in re.findall(r"`([\w/]+\.py)`", row)}


def test_the_table_pattern_reads_rows_with_one_or_more_modules() -> None:
    text = "| `runtime/a.py` | x |\n| `tools/b.py`, `tools/c.py` | y |\n| `loss=P%` | z |\n"
    assert table_modules(text) == {"runtime/a.py", "tools/b.py", "tools/c.py"}


def test_the_runtime_module_table_names_every_runtime_module_and_only_those_there() -> None:
    named = table_modules(RUNTIME_PAGE.read_text())
    modules = {
        f"runtime/{p.name}" for p in (ROOT / "runtime").glob("*.py") if p.name != "__init__.py"
    }
    assert modules  # the layer was found
    assert sorted(modules - named) == [], "docs/runtime.md's module table does not name these"
    gone = sorted(m for m in named if not (ROOT / m).exists())
    assert gone == [], f"docs/runtime.md's module table names modules that do not exist: {gone}"

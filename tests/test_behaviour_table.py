"""docs/behaviours.md cites only tests that exist, every row names its source, and the
documents cite their sources by title and link, never by a file outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "behaviours.md"
#: Rows written when the table was made; the table may grow, not shrink.
MIN_ROWS = 124
NODE = re.compile(r"`(tests/[^`\s]+\.py::[^`\s]+)`")


def _rows() -> list[list[str]]:
    """The cells of every numbered row of the table."""
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if re.match(r"^\| *\d+ *\|", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def collected() -> set[str]:
    """Every test node id of the project, without parametrization."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    nodes = {line.split("[", 1)[0] for line in result.stdout.splitlines() if "::" in line}
    assert nodes, result.stdout[-2000:]
    return nodes


def test_every_cited_test_exists(collected: set[str]) -> None:
    cited = {node for row in _rows() for node in NODE.findall(row[-1])}
    assert cited
    missing = sorted(cited - collected)
    assert missing == [], missing


def test_the_table_keeps_its_rows_each_with_a_source_and_an_answer() -> None:
    rows = _rows()
    assert len(rows) >= MIN_ROWS
    numbers = [int(row[0]) for row in rows]
    assert numbers == list(range(1, len(rows) + 1))
    for row in rows:
        assert len(row) == 4, row
        _, behaviour, source, shown = row
        assert behaviour, row
        assert source, row
        assert NODE.search(shown) or re.search(r"not (modelled|tested)", shown), row


#: Spellings of files outside the repository that documents once cited instead of sources.
OUTSIDE = re.compile(r"\.\./shared|/shared/(spec|seeds)|innovaphone-facts|seeds/|\bfacts [0-9]")


#: What documents once called their main source instead of naming it by its title. (A
#: random seed, as of an impairment or Hypothesis, is another word and stays.)
UNNAMED_SOURCE = re.compile(r"\(seed\)|\bthe seed's\b|\bseed (article|document|script)s?\b", re.I)


def _documents() -> list[Path]:
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [*docs, *sorted(ROOT.glob("*/README.md")), ROOT / "README.md"]


def test_documents_cite_no_file_outside_the_repository() -> None:
    found = [
        f"{doc.relative_to(ROOT)}:{n}: {line.strip()}"
        for doc in _documents()
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line) or UNNAMED_SOURCE.search(line)
    ]
    assert found == []


def test_profiles_cite_no_file_outside_the_repository() -> None:
    """The shipped profiles (package data: their comments go to users) and the benchmarks'."""
    profiles = [*sorted((ROOT / "hw_profiles").glob("*.toml"))]
    profiles += sorted((ROOT / "benchmarks" / "profiles").glob("*.toml"))
    assert len(profiles) > 10
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in profiles
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line) or re.search(r"\bseed\b", line, re.I)
    ]
    assert found == []


def test_the_sources_page_links_its_sources_and_is_linked() -> None:
    sources = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert sources.count("wiki.innovaphone.com/") >= 30
    assert "(sources.md)" in TABLE.read_text(encoding="utf-8")
    assert "(docs/sources.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## What the simulator invents" in TABLE.read_text(encoding="utf-8")

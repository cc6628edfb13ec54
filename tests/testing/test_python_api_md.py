"""The examples of docs/python-api.md run as a user runs them: scripts in a process of
their own, the pytest example as a user's test file (pytester). Blocks that use
network namespaces run only as root."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pyroute2 import netns

from ipgwsim.testing.netns import root

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]

PAGE = Path(__file__).parents[2] / "docs" / "python-api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
SCRIPTS = [block for block in BLOCKS if "def test_" not in block]
TESTS = [block for block in BLOCKS if "def test_" in block]


def needs_root(block: str) -> bool:
    return 'network="netns"' in block or "ipgwsim_netns" in block


def test_the_page_has_its_examples() -> None:
    assert len(SCRIPTS) == 6
    assert len(TESTS) == 1


@pytest.mark.parametrize("block", SCRIPTS, ids=[f"block{n}" for n in range(len(SCRIPTS))])
@pytest.mark.usefixtures("installed_scripts_on_path")
def test_a_script_example(block: str, tmp_path: Path) -> None:
    if needs_root(block) and not root():
        pytest.skip("the example uses network namespaces (root)")
    script = tmp_path / "example.py"
    script.write_text(block)
    spaces = set(netns.listnetns()) if root() else set()
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    if root():
        assert set(netns.listnetns()) == spaces  # the example left no namespace


@pytest.mark.usefixtures("installed_scripts_on_path")
def test_the_pytest_example(pytester: pytest.Pytester) -> None:
    (block,) = TESTS
    pytester.makepyfile(block)
    result = pytester.runpytest("-p", "no:cacheprovider")
    if root():
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, skipped=1)

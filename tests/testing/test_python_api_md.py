"""The examples of docs/python-api.md run as a user runs them: scripts in a process of
their own, the pytest example as a user's test file (pytester). Blocks that use
network namespaces run only as root."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pyroute2 import IPRoute, netns

from ipgwsim.runtime.netlink import ALIAS, PREFIX
from ipgwsim.testing.needs import unavailable
from ipgwsim.testing.netns import root

pytestmark = pytest.mark.integration
pytest_plugins = ["pytester"]

PAGE = Path(__file__).parents[2] / "docs" / "python-api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
SCRIPTS = [block for block in BLOCKS if "def test_" not in block]
TESTS = [block for block in BLOCKS if "def test_" in block]


def needs(block: str) -> list[str]:
    """What the example needs of the host (``requires``): namespaces, tftp, curl."""
    wanted = []
    if 'network="netns"' in block or "ipgwsim_netns" in block:
        wanted.append("netns")
    wanted += [tool for tool in ("tftp", "curl") if f'"{tool}"' in block]
    return wanted


def test_the_page_has_its_examples() -> None:
    assert len(SCRIPTS) == 6
    assert len(TESTS) == 1


def left_behind(pid: int) -> list[str]:
    """The namespaces and (in this namespace) the links that process ``pid`` made and did
    not remove: the runtime names them ``ipgwsim-<pid>-...`` and tags links
    ``ipgwsim <pid> ...``. Nothing of other programs on this host is looked at."""
    left = [f"namespace {n}" for n in netns.listnetns() if n.startswith(f"{PREFIX}{pid}-")]
    with IPRoute() as ipr:
        for link in ipr.get_links():
            words = (link.get_attr("IFLA_IFALIAS") or "").split()
            if words[:2] == [ALIAS, str(pid)]:
                left.append(f"link {link.get_attr('IFLA_IFNAME')}")
    return left


@pytest.mark.parametrize(
    "block",
    [pytest.param(block, marks=pytest.mark.requires(*needs(block))) for block in SCRIPTS],
    ids=[f"block{n}" for n in range(len(SCRIPTS))],
)
@pytest.mark.usefixtures("installed_scripts_off_path")
def test_a_script_example(block: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block)
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=120)
        finally:
            proc.kill()
    assert proc.returncode == 0, out
    if root():  # (without root nothing could have made one)
        assert left_behind(proc.pid) == []  # the example left no namespace, no link


@pytest.mark.usefixtures("installed_scripts_off_path")
def test_the_pytest_example(pytester: pytest.Pytester) -> None:
    (block,) = TESTS
    pytester.makepyfile(block)
    result = pytester.runpytest("-p", "no:cacheprovider")
    if root():
        result.assert_outcomes(passed=2)
    else:
        result.assert_outcomes(passed=1, skipped=1)
        unavailable("the example's namespace test needs root and /dev/net/tun")

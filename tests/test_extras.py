"""Optional dependencies: what each extra brings, and what ipgwsim says when one is missing.

The subprocess tests make packages unimportable with a ``sys.meta_path`` blocker, as in an
environment where pip installed ipgwsim without the extra, then import every module of
ipgwsim (or run pytest with the plugin) and read what failed and why.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from ipgwsim.runtime.extras import EXTRAS, extra_imports, missing_extra_message

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ipgwsim"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

#: Makes the top-level packages named in sys.argv[1] (comma-separated) unimportable.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(","))
    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Blocker())
    """
)

#: Imports each module named on stdin; prints {module: null or "Type: message"} as JSON.
IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json
    results = {}
    for name in sys.stdin.read().split():
        try:
            importlib.import_module(name)
            results[name] = None
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(results))
    """
)


def package_modules() -> list[str]:
    """Every module of ipgwsim, from the files (the layers through their links)."""
    names = []
    files = [
        Path(folder, file)
        for folder, _, found in os.walk(PACKAGE, followlinks=True)
        for file in found
        if file.endswith(".py")
    ]
    for path in sorted(files):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(["ipgwsim", *parts]))
    return names


def import_all_without(*blocked: str) -> dict[str, str | None]:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER + IMPORT_ALL, ",".join(blocked)],
        input="\n".join(package_modules()),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, str | None] = json.loads(result.stdout)
    return outcome


def normalise(name: str) -> str:
    """A package name as pip compares them (PEP 503: ``-``, ``_``, ``.`` are the same)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {normalise(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0]) for r in requirements}


def test_the_sweep_finds_every_layer() -> None:
    modules = package_modules()
    for name in ("ipgwsim", "ipgwsim.flash.nor", "ipgwsim.testing.fuzz", "ipgwsim.tools.cli"):
        assert name in modules


def test_each_optional_package_is_in_the_extra_its_message_names() -> None:
    extras = PYPROJECT["optional-dependencies"]
    runtime = requirement_names(PYPROJECT["dependencies"])
    assert {"shtab", "argparse_manpage"} <= set(EXTRAS)
    for package, extra in EXTRAS.items():
        assert normalise(package) in requirement_names(extras[extra]), (package, extra)
        assert normalise(package) not in runtime, package


def test_the_project_suite_brings_every_extra_it_needs_and_tftpy() -> None:
    test = PYPROJECT["optional-dependencies"]["test"]
    assert "ipgwsim[testing,scapy,completion,man]" in test
    assert "tftpy" in requirement_names(test)
    assert "tftpy" not in requirement_names(PYPROJECT["dependencies"])


def test_scripts_setup_installs_each_extra_once() -> None:
    """The extras scripts/setup installs exist, and none is already in another of them."""
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8")
    found = re.search(r"pip install --quiet -e '\.\[([^\]]+)\]'", setup)
    assert found is not None
    named = found.group(1).split(",")
    extras = PYPROJECT["optional-dependencies"]
    for extra in named:
        assert extra in extras, extra
        brought = {
            part.strip()
            for requirement in extras[extra]
            if requirement.startswith("ipgwsim[")
            for part in requirement[len("ipgwsim[") : requirement.index("]")].split(",")
        }
        assert not brought & set(named), (extra, sorted(brought & set(named)))


def test_a_missing_optional_package_names_its_extra() -> None:
    with pytest.raises(ModuleNotFoundError) as caught, extra_imports("some.module"):
        raise ModuleNotFoundError("No module named 'hypothesis.strategies'", name="hypothesis")
    assert str(caught.value) == (
        "some.module needs hypothesis, which is not installed: pip install 'ipgwsim[testing]'"
    )
    assert caught.value.name == "hypothesis"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_other_import_errors_go_through_unchanged() -> None:
    original = ModuleNotFoundError("No module named 'attrs'", name="attrs")
    with pytest.raises(ModuleNotFoundError) as caught, extra_imports("some.module"):
        raise original
    assert caught.value is original
    with pytest.raises(ImportError, match="cannot import name"), extra_imports("x"):
        raise ImportError("cannot import name 'y' from 'hypothesis'", name="hypothesis")


#: The modules of ipgwsim.testing (besides the fuzz package) that import hypothesis or
#: pytest, themselves or through another of them.
NEED_THE_TESTING_EXTRA = {
    "ipgwsim.testing.config_machine",
    "ipgwsim.testing.config_model",
    "ipgwsim.testing.device_machine",
    "ipgwsim.testing.flash_machine",
    "ipgwsim.testing.image_strategies",
    "ipgwsim.testing.pytest_plugin",
    "ipgwsim.testing.strategies",
}


def test_without_the_testing_extra_only_the_testing_kit_fails_and_says_why() -> None:
    outcome = import_all_without("hypothesis", "pytest")
    failed = {name: error for name, error in outcome.items() if error is not None}
    # Exactly the kit that is made of hypothesis or pytest fails (the block worked); the
    # rest of ipgwsim.testing, the Simulator of plain scripts included, imports.
    fuzz = {
        n for n in outcome if n == "ipgwsim.testing.fuzz" or n.startswith("ipgwsim.testing.fuzz.")
    }
    assert fuzz
    assert set(failed) == NEED_THE_TESTING_EXTRA | fuzz, sorted(failed)
    for name in (
        "ipgwsim.testing.simulator",
        "ipgwsim.testing.needs",
        "ipgwsim.testing.netns",
        "ipgwsim.testing.lab",
        "ipgwsim.testing.loopback",
    ):
        assert outcome[name] is None, (name, outcome[name])
    assert failed["ipgwsim.testing.image_strategies"] == (
        "ModuleNotFoundError: "
        + missing_extra_message("ipgwsim.testing.image_strategies", "hypothesis")
    )
    for name, error in failed.items():
        assert error is not None
        assert error.endswith("which is not installed: pip install 'ipgwsim[testing]'"), (
            name,
            error,
        )
        assert "\n" not in error


def test_without_pytest_a_test_that_cannot_run_says_which_extra_is_missing() -> None:
    call = (
        "from ipgwsim.testing.needs import unavailable\n"
        "try:\n"
        "    unavailable('no frobnicator')\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER + call, "pytest,hypothesis"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        missing_extra_message("ipgwsim.testing.needs.unavailable", "pytest") + "\n"
    )


def test_without_hypothesis_the_plugin_and_the_simulator_still_import() -> None:
    outcome = import_all_without("hypothesis")
    for name in (
        "ipgwsim.testing.pytest_plugin",
        "ipgwsim.testing.lab",
        "ipgwsim.testing.simulator",
        "ipgwsim.tools.cli",
    ):
        assert outcome[name] is None, (name, outcome[name])
    assert outcome["ipgwsim.testing.device_machine"] is not None
    assert "needs hypothesis" in outcome["ipgwsim.testing.device_machine"]


def test_without_scapy_only_the_capture_layers_fail_and_say_why() -> None:
    outcome = import_all_without("scapy")
    failed = {name: error for name, error in outcome.items() if error is not None}
    assert failed == {
        "ipgwsim.runtime.capture": "ModuleNotFoundError: "
        + missing_extra_message("ipgwsim.runtime.capture", "scapy")
    }
    assert failed["ipgwsim.runtime.capture"].endswith("pip install 'ipgwsim[scapy]'")


def test_without_playwright_only_the_browser_kit_fails_and_says_why() -> None:
    outcome = import_all_without("playwright")
    failed = {name: error for name, error in outcome.items() if error is not None}
    # The screenshots import the browser kit first, which names itself.
    said = "ModuleNotFoundError: " + missing_extra_message("ipgwsim.testing.browser", "playwright")
    assert failed == {"ipgwsim.testing.browser": said, "ipgwsim.testing.screenshots": said}
    assert failed["ipgwsim.testing.browser"].endswith("pip install 'ipgwsim[test]'")


def test_no_module_of_ipgwsim_needs_tftpy() -> None:
    outcome = import_all_without("tftpy")
    assert {n: e for n, e in outcome.items() if e is not None} == {}


PLUGIN_TESTS = """
import sys

import pytest
from ipgwsim.events import Mode


def test_hypothesis_is_not_there():
    with pytest.raises(ModuleNotFoundError):
        import hypothesis  # noqa: F401
    assert "hypothesis" not in sys.modules


def test_virtual_time_fixtures(ipgwsim_lab, ipgwsim_device, ipgwsim_devices):
    ipgwsim_lab.press(ipgwsim_device, hold=1.8)
    assert ipgwsim_device.mode is Mode.TFTP_MODE
    assert len(ipgwsim_devices("IP800", 2)) == 2


def test_a_gateway_on_loopback(ipgwsim_gateway):
    assert ipgwsim_gateway.mode is Mode.FIRMWARE
"""


def test_the_plugin_and_its_fixtures_work_without_hypothesis(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(PLUGIN_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run_pytest = "import pytest\nsys.exit(pytest.main(sys.argv[2:]))\n"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKER + run_pytest,
            "hypothesis,_hypothesis_pytestplugin",
            # hypothesis's own plugin is an entry point too: off, as if not installed.
            "-p",
            "no:hypothesispytest",
            "-p",
            "no:cacheprovider",
            "-q",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout


def _readme_row(install: str) -> set[str]:
    """The packages the README's dependency table says ``install`` brings."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{re.escape(install)}` \| ([^|]+) \|", readme, re.M)
    assert row is not None, install
    return {normalise(name.strip()) for name in row.group(1).split(",")}


def test_the_readme_says_what_each_install_brings() -> None:
    extras = PYPROJECT["optional-dependencies"]
    assert _readme_row("ipgwsim") == requirement_names(PYPROJECT["dependencies"])
    assert _readme_row("ipgwsim[testing]") == requirement_names(extras["testing"])
    assert _readme_row("ipgwsim[scapy]") == requirement_names(extras["scapy"])
    assert _readme_row("ipgwsim[completion]") == requirement_names(extras["completion"])
    assert _readme_row("ipgwsim[man]") == requirement_names(extras["man"])


def test_no_device_runs_without_numpy_so_it_stays_a_runtime_dependency() -> None:
    outcome = import_all_without("numpy")
    for name in ("ipgwsim.firmware", "ipgwsim.device", "ipgwsim.firmware.media"):
        assert outcome[name] == "ModuleNotFoundError: No module named 'numpy'", name
    assert "numpy" in requirement_names(PYPROJECT["dependencies"])

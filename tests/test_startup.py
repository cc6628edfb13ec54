"""Start-up stays cheap: ``ipgwsim --version``, building every parser, ``gwload /help``
and a pytest run with ipgwsim's plugin load none of the heavy libraries nor the device
model; each command loads them in the handler that runs. Nothing here is timed: each
check runs in a fresh interpreter and looks at ``sys.modules`` (the benchmark
``benchmarks/bench_startup.py`` measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Libraries and parts of ipgwsim that take a noticeable part of a second to import.
HEAVY = (
    "pyroute2",
    "aiohttp",
    "numpy",
    "scapy",
    "serial",
    "hypothesis",
    "ipgwsim.device",
    "ipgwsim.firmware",
    "ipgwsim.boot",
    "ipgwsim.runtime.runtime",
    "ipgwsim.runtime.host",
)

#: Each snippet runs in a fresh interpreter; then the heavy modules loaded are printed.
SNIPPETS = {
    "ipgwsim --version": """
        from ipgwsim.tools import cli
        try:
            cli.main(["--version"])
        except SystemExit:
            pass
    """,
    "every ipgwsim parser, and --help of each subcommand": """
        import argparse, contextlib, io
        from ipgwsim.tools import cli
        parser = cli.build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name in sub.choices:
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    cli.main([name, "--help"])
                except SystemExit:
                    pass
    """,
    "ipgwsim status with no runtime": """
        import contextlib, io, tempfile
        from ipgwsim.tools import cli
        with tempfile.TemporaryDirectory() as state, contextlib.redirect_stderr(io.StringIO()):
            assert cli.main(["status", "--state", state]) == 2
    """,
    "gwload /help": """
        import contextlib, io
        from ipgwsim.tools import gwload_cmd
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                gwload_cmd.main(["/help"])
            except SystemExit:
                pass
    """,
}


def heavy_modules_after(code: str) -> list[str]:
    """The modules of :data:`HEAVY` a fresh interpreter has loaded after ``code``."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_a_command_loads_no_heavy_module(name: str) -> None:
    assert heavy_modules_after(SNIPPETS[name]) == []


def test_the_probe_sees_a_heavy_module_when_one_is_loaded() -> None:
    # The check above can fail: a handler that runs loads what it needs.
    loaded = heavy_modules_after("import ipgwsim.runtime.runtime")
    assert "ipgwsim.runtime.runtime" in loaded
    assert "ipgwsim.device" in loaded


def test_a_pytest_run_with_the_plugin_loads_no_heavy_module(tmp_path: Path) -> None:
    """A test suite that never uses the fixtures pays for no more than the plugin."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_trivial.py").write_text(
        textwrap.dedent(
            f"""
            import sys

            def test_plugin_loaded_and_nothing_heavy():
                assert "ipgwsim.testing.pytest_plugin" in sys.modules
                assert [m for m in {HEAVY!r} if m in sys.modules] == []
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout

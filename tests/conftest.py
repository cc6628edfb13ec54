"""Settings shared by the whole test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Deterministic by default, so a red CI run can be replayed; IPGWSIM_HYPOTHESIS=thorough
# runs many more examples by hand.
settings.register_profile(
    "default",
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=2000)
settings.load_profile(os.environ.get("IPGWSIM_HYPOTHESIS", "default"))


@pytest.fixture
def installed_scripts_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the scripts installed with ipgwsim (gwload, ipgwsim: the venv's bin) first on
    PATH, as a user's shell finds them; programs the test starts inherit it."""
    bin_dir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture
def private_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A host registry of the test's own (``IPGWSIM_REGISTRY``, inherited by the programs
    the test starts): its first state directory gets block 0, so its first device is
    ``00:90:33:10:00:01`` whatever else runs on this host, as for a single user.

    For loopback tests only (the kernel still refuses a port another runtime has bound):
    namespace tests use the host's registry, since their link names must be unique on
    the host.
    """
    path = tmp_path / "registry"
    monkeypatch.setenv("IPGWSIM_REGISTRY", str(path))
    return path

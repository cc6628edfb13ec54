"""Settings shared by the whole test suite."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ipgwsim.testing.loopback import Ports
from ipgwsim.testing.needs import CHROMIUM, find_program, namespaces_work, unavailable

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


#: Settings of gwload a developer may have exported in the shell that runs the tests.
GWLOAD_SETTINGS = ("IPGWSIM_GWLOAD_PORT", "IPGWSIM_GWLOAD_BCAST", "IPGWSIM_STATE")


@pytest.fixture(autouse=True)
def no_gwload_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without gwload's settings in the environment (the programs it
    starts inherit that): exported in the developer's shell, they would send its gwload
    runs elsewhere. A test that wants one sets it."""
    for name in GWLOAD_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def installed_scripts_off_path(monkeypatch: pytest.MonkeyPatch) -> str:
    """Take the folder of the scripts installed with ipgwsim (gwload, ipgwsim: the venv's
    bin, which scripts/test puts on PATH) off PATH, as in a shell that did not activate
    the venv; programs the test starts inherit it. Returns the PATH left.

    What runs ipgwsim's programs must find them where ipgwsim is installed, not by name
    on PATH; a gwload found on the PATH that is left would hide that, so the test cannot
    run then."""
    bin_dir = os.path.realpath(Path(sys.executable).parent)
    kept = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and os.path.realpath(entry) != bin_dir
    ]
    path = os.pathsep.join(kept)
    monkeypatch.setenv("PATH", path)
    for name in ("gwload", "ipgwsim"):
        found = shutil.which(name, path=path)
        if found is not None:
            unavailable(f"another {name} is on PATH ({found}): it would hide a lookup by name")
    return path


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


@pytest.fixture
def ports() -> Iterator[Ports]:
    """Ports reserved for the test until it ends: ``ports.udp()``, ``ports.tcp()``.

    Test runs share the host: a port is never guessed (the kernel picks it) and stays
    held, so no other run gets it while the test uses it (``ipgwsim.testing.loopback``).
    """
    with Ports() as reserved:
        yield reserved


#: What ``@pytest.mark.requires(...)`` may name: the programs the tests run (with the
#: Debian package that scripts/setup installs for each) and ``netns``.
PROGRAMS = {
    "tftp": "tftp-hpa",
    "in.tftpd": "tftpd-hpa",
    "curl": "curl",
    "dnsmasq": "dnsmasq-base",
    "nmblookup": "samba-common-bin",
    "sipp": "sip-tester",
    "kamailio": "kamailio",
    "tshark": "tshark",
    "zsh": "zsh",
    "groff": "groff-base",
    "chromium": "chromium",
}
NETNS = "netns"


def pytest_configure(config: pytest.Config) -> None:
    # A run started in the background by a script (`scripts/test &`, as .ci/run starts
    # two) has SIGINT ignored, and every program a test starts would inherit that: a
    # test that stops one with Ctrl-C's signal (ipgwsim watch) would wait in vain. Take
    # it as a terminal gives it.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line(
        "markers",
        f"requires(*needs): what the test needs of the host: programs "
        f"({', '.join(PROGRAMS)}) or {NETNS!r} (root and /dev/net/tun); without it the "
        f"test is skipped, and fails in CI",
    )


def missing(needs: tuple[str, ...]) -> list[str]:
    """What of ``needs`` (names of ``requires``) this host lacks, said for people."""
    lacking = []
    for need in needs:
        if need == NETNS:
            if not namespaces_work():
                lacking.append("network namespaces (root and /dev/net/tun)")
        elif need == "chromium":
            # The one the launcher runs (ipgwsim.testing.browser), not one on PATH.
            if not os.access(CHROMIUM, os.X_OK):
                lacking.append(f"{CHROMIUM} (Debian package {PROGRAMS[need]})")
        elif need in PROGRAMS:
            if find_program(need) is None:
                lacking.append(f"{need} (Debian package {PROGRAMS[need]})")
        else:
            raise pytest.UsageError(f"requires({need!r}): not one of {[*PROGRAMS, NETNS]}")
    return lacking


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Every ``requires`` marker of the test, checked by the one rule: skip, fail in CI."""
    needs = tuple(need for marker in item.iter_markers("requires") for need in marker.args)
    lacking = missing(needs)
    if lacking:
        unavailable(f"this host lacks {', '.join(lacking)}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs namespaces carries the ``netns`` marker (``-m netns`` picks them)."""
    for item in items:
        needs = {need for marker in item.iter_markers("requires") for need in marker.args}
        if NETNS in needs or item.get_closest_marker("ipgwsim_netns") is not None:
            item.add_marker(pytest.mark.netns)

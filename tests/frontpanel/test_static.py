"""The front panel's static files: what the page loads is there and ships in the wheel, and
the vendored xterm.js is what scripts/vendor-xterm makes of its pinned versions."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRONTPANEL = ROOT / "runtime" / "frontpanel"
XTERM = FRONTPANEL / "vendor" / "xterm"
SCRIPT = (ROOT / "scripts" / "vendor-xterm").read_text(encoding="utf-8")


def pin(name: str) -> str:
    found = re.search(rf"^{name}=(\S+)$", SCRIPT, re.MULTILINE)
    assert found is not None, f"scripts/vendor-xterm sets no {name}"
    return found.group(1)


def test_the_vendored_versions_are_the_scripts_pins() -> None:
    lines = (XTERM / "VERSIONS").read_text(encoding="utf-8").splitlines()
    assert lines == [
        f"@xterm/xterm {pin('XTERM_VERSION')} {pin('XTERM_INTEGRITY')}",
        f"@xterm/addon-fit {pin('FIT_VERSION')} {pin('FIT_INTEGRITY')}",
    ]


def test_the_licences_are_there() -> None:
    for name in ("LICENSE", "LICENSE.addon-fit"):
        text = (XTERM / name).read_text(encoding="utf-8")
        assert "The xterm.js authors" in text, name
        assert "Permission is hereby granted, free of charge" in text, name  # MIT


def test_the_vendored_files_are_as_the_script_wrote_them() -> None:
    sums = (XTERM / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    listed = {}
    for line in sums:
        digest, name = line.split()
        listed[name] = digest
    assert set(listed) == {"xterm.js", "xterm.css", "addon-fit.js", "LICENSE", "LICENSE.addon-fit"}
    for name, digest in listed.items():
        assert hashlib.sha256((XTERM / name).read_bytes()).hexdigest() == digest, name
    # Nothing else is in the folder than what the script writes.
    assert {p.name for p in XTERM.iterdir()} == {*listed, "VERSIONS", "SHA256SUMS"}


def test_every_file_the_page_loads_is_there() -> None:
    html = (FRONTPANEL / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r'(?:src|href)="static/([^"]+)"', html)
    assert "panel.js" in loaded
    assert "vendor/xterm/xterm.js" in loaded
    assert "panel.css" in loaded
    for name in loaded:
        assert (FRONTPANEL / name).is_file(), name


def test_the_wheel_takes_every_static_file() -> None:
    """Each file of runtime/frontpanel matches a package-data pattern of ipgwsim.runtime
    (scripts/smoke-wheel checks the built wheel itself)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["ipgwsim.runtime"]
    base = FRONTPANEL.parent
    files = {p.relative_to(base).as_posix() for p in FRONTPANEL.rglob("*") if p.is_file()}
    assert len(files) >= 3 + 7
    # As setuptools reads them: glob patterns, "*" stops at a "/".
    taken = {p.relative_to(base).as_posix() for pattern in patterns for p in base.glob(pattern)}
    assert sorted(files - taken) == []

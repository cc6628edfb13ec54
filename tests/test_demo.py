"""The README's main job (``ipgwsim demo``) runs end to end with the real tftp client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ipgwsim.testing.loopback import free_loopback_ip, free_udp_port

pytestmark = pytest.mark.integration


def test_demo_recovers_the_config_with_the_real_tftp_client() -> None:
    if shutil.which("tftp") is None:
        if os.environ.get("CI"):
            pytest.fail("tftp (tftp-hpa) is missing: .ci/run must install it")
        pytest.skip("tftp-hpa's tftp client is not installed")
    port = free_udp_port()
    ip = free_loopback_ip(port)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ipgwsim.tools.cli",
            "demo",
            "--port",
            str(port),
            "--ip",
            ip,
            "--speed",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "ready LED: blink 3" in out
    assert "blink 4" not in out
    assert "device: TFTP mode (reset button held 1.8 s)" in out
    assert f"$ gwload /gwtype 6000 /i {ip} /setip" in out
    assert f"gwload: setip: IP6000 00:90:33:10:00:01 has {ip}" in out
    assert "gwload: reset: the device restarts" in out
    assert "4 generation(s) of config text in the ring" in out
    assert "config change CMD0 /name gw-office-2 /log on" in out
    assert "tftp: config stored as generation 5" in out
    assert "newest generation 6 of the ring has no /user:" in out
    assert "login admin/ip6000: accepted (kept as the crypted var CMD0/AUTH)" in out
    assert out.rstrip().splitlines()[-1].startswith("SUCCESS: config recovered from generation 4")

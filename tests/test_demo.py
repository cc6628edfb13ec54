"""The README's main job (``ipgwsim demo``) runs end to end with the real tftp client."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ipgwsim.testing.loopback import Ports, free_loopback_ip

pytestmark = pytest.mark.integration


@pytest.mark.requires("tftp", "curl")
def test_demo_recovers_the_password_by_tftp_and_by_the_update_server(ports: Ports) -> None:
    port = ports.udp()
    http = ports.tcp()
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
            "--http-port",
            str(http),
            "--update-port",
            str(ports.tcp()),
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
    # The MAC is the demo device's own (unique on the host): gwload found that device.
    mac = re.search(r"^name ip6000-1, MAC (00:90:33(?::[0-9a-f]{2}){3}),", out, re.M)
    assert mac is not None, out
    assert f"gwload: setip: IP6000 {mac.group(1)} has {ip}" in out
    assert "gwload: reset: the device restarts" in out
    assert "the config text 5 time(s), oldest first" in out
    assert "config change CMD0 /name gw-office-2 /log on" in out
    assert "tftp: config stored as generation 6" in out
    assert "newest generation 7 of the ring has no /user:" in out
    # The history was typed on the console; the lost password is never shown there.
    assert "console> config change CMD0 /name gw-office-2 /log on /user admin,****" in out
    # Over HTTP: the lost password is refused, the recovered one taken, /user not shown.
    web = f"http://127.168.0.10:{http}"
    assert f"$ curl -u admin:ip6000 {web}/!config%20show\nHTTP 200\n" in out
    assert "HTTP 401\n  401 Unauthorized" in out
    assert "console> password: ******\nconsole> config show\n" in out
    # The update server: the device fetched the standard script name from its own address.
    assert "127.168.0.10 - - [" in out
    assert '"GET /update-ip6000.htm?ver=' in out
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("SUCCESS: config recovered from generation 5 of the dump over TFTP")
    assert "the update server then set admin/upd4te-" in last

"""gwload's transfers against tftpy's server, both directions.

tftpy plays the TFTP side of a device that already has its address (no
/setip): gwload reads the config (/getcfg) and sends one (/cfg /noreset).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from ipgwsim.flash.ring import ConfigRing
from ipgwsim.testing.flash import region_of, small_flash
from ipgwsim.testing.loopback import Ports, wait_until_bound
from ipgwsim.tools.gwload_cmd import EXIT_OK, main

pytestmark = pytest.mark.integration

SERVER = """
import logging, signal, sys, tftpy
logging.disable(logging.CRITICAL)
server = tftpy.TftpServer(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: server.stop(now=False))
server.listen("127.0.0.1", int(sys.argv[2]))
"""


def ring_dump(*texts: str) -> bytes:
    """A config ring dump as a device serves it, with these generations."""
    flash = small_flash(sectors=8, sector_size=512)
    ring = ConfigRing(region_of(flash, "config", 0, 8))
    for text in texts:
        ring.write(text)
    return ring.dump()


def test_gwload_reads_and_writes_with_tftpy(tmp_path: Path, ports: Ports) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "config").write_bytes(
        ring_dump("config change CMD0 /name first\r\n", "config change CMD0 /name newest\r\n")
    )
    port = ports.udp()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(root), str(port)])
    try:
        wait_until_bound(("127.0.0.1", port), server, "tftpy's server")
        out = io.StringIO()
        got = tmp_path / "got.txt"
        sent = tmp_path / "sent.txt"
        sent.write_bytes(b"config change CMD0 /name from-gwload\r\n")
        common = ["/i", "127.0.0.1", "/port", str(port), "/tries", "1", "/timeout", "0.2"]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            assert main([*common, "/getcfg", str(got)]) == EXIT_OK, out.getvalue()
            assert (tmp_path / "got.txt.dump").read_bytes() == (root / "config").read_bytes()
            assert got.read_bytes() == b"config change CMD0 /name newest\r\n"
            assert main([*common, "/cfg", str(sent), "/noreset"]) == EXIT_OK, out.getvalue()
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0
    assert (root / "config").read_bytes() == sent.read_bytes()
    assert "config: " in out.getvalue()

"""The project's TFTP client engine against independent servers on loopback.

tftp-hpa's ``in.tftpd`` (Debian tftpd-hpa) and tftpy's server, each started by
the test on a free loopback port. They grant different options (tftp-hpa has
no windowsize), so this also shows the client taking what a server grants.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipgwsim.runtime.tftpclient import TftpClientError, tftp_get, tftp_put
from ipgwsim.testing.loopback import Ports, wait_until_bound
from ipgwsim.testing.needs import find_program, unavailable

pytestmark = pytest.mark.integration

#: tftp-hpa's server (in /usr/sbin, found also when that is not on PATH).
IN_TFTPD = find_program("in.tftpd")

PAYLOAD = bytes((i * 7 + i // 251) % 256 for i in range(300_000))


@pytest.fixture
def in_tftpd(tmp_path: Path, ports: Ports) -> Iterator[tuple[int, Path]]:
    if IN_TFTPD is None:
        unavailable("in.tftpd is not installed (Debian package tftpd-hpa)")
    if os.geteuid() != 0:
        # It changes its user for every request, which only root may do.
        unavailable("in.tftpd serves only when started as root")
    port = ports.udp()
    proc = subprocess.Popen(
        [IN_TFTPD, "-L", "-a", f"127.0.0.1:{port}", "-s", str(tmp_path), "-c", "-p", "-u", "root"]
    )
    try:
        wait_until_bound(("127.0.0.1", port), proc, "in.tftpd")
        yield port, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


#: tftpy's server; SIGTERM stops it gracefully (open sessions end, files are closed).
TFTPY_SERVER = """
import logging, signal, sys, tftpy
logging.disable(logging.CRITICAL)
server = tftpy.TftpServer(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: server.stop(now=False))
server.listen("127.0.0.1", int(sys.argv[2]))
"""


@pytest.fixture
def tftpy_server(
    tmp_path: Path, ports: Ports
) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    port = ports.udp()
    proc = subprocess.Popen([sys.executable, "-c", TFTPY_SERVER, str(tmp_path), str(port)])
    try:
        wait_until_bound(("127.0.0.1", port), proc, "tftpy's server")
        yield port, tmp_path, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    "options",
    [None, {"blksize": "1468"}, {"blksize": "8192", "windowsize": "16"}],
    ids=["plain", "blksize", "blksize+windowsize"],
)
def test_download_and_upload_with_tftp_hpa(
    in_tftpd: tuple[int, Path], options: dict[str, str] | None
) -> None:
    port, root = in_tftpd
    (root / "image.bin").write_bytes(PAYLOAD)
    got = tftp_get(("127.0.0.1", port), "image.bin", options=options)
    assert got.data == PAYLOAD
    assert "windowsize" not in got.options  # tftp-hpa grants no windowsize
    if options is not None:
        assert got.blksize == int(options["blksize"])
    tftp_put(("127.0.0.1", port), "upload.bin", PAYLOAD, options=options)
    assert (root / "upload.bin").read_bytes() == PAYLOAD


def test_missing_file_error_from_tftp_hpa(in_tftpd: tuple[int, Path]) -> None:
    port, _ = in_tftpd
    with pytest.raises(TftpClientError) as failure:
        tftp_get(("127.0.0.1", port), "no-such-file")
    assert failure.value.code == 1


@pytest.mark.parametrize("options", [None, {"blksize": "1468", "windowsize": "8"}])
def test_download_and_upload_with_tftpy(
    tftpy_server: tuple[int, Path, subprocess.Popen[bytes]], options: dict[str, str] | None
) -> None:
    port, root, proc = tftpy_server
    (root / "image.bin").write_bytes(PAYLOAD)
    got = tftp_get(("127.0.0.1", port), "image.bin", options=options)
    assert got.data == PAYLOAD
    tftp_put(("127.0.0.1", port), "upload.bin", PAYLOAD, options=options)
    # tftpy closes the file only when its session ends: stop it gracefully first.
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    assert (root / "upload.bin").read_bytes() == PAYLOAD

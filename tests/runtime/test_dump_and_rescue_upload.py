"""Two documented limits seen with the tools users have (docs/behaviours.md rows 16, 56).

- The recovered file (``tftp get config``) holds only config text: the crypted admin
  password (a var) and the flash directory live in other regions and never appear.
- The rescue copy of the boot code (IP800) is loaded only by gwload (``/altboot``), not
  by the web UI: there is no upload path for it over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipgwsim.flash.dumptext import read_dump
from ipgwsim.flash.formats import RING_MARKER
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.testing.simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.requires("tftp", "curl")]

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]


def test_the_recovered_file_holds_no_vars_and_no_flash_directory(tmp_path: Path) -> None:
    with Simulator(tmp_path / "state") as sim:
        gw = sim.add("IP6000")
        gw.configure(
            "config change CMD0 /name site /user admin,Secret-Pw-93",
            "mod cmd FLASHDIR0 add-item ldap-entry-4711 cn=Alice,o=site",
        )
        gw.login("admin", "Secret-Pw-93")  # the password is in the crypted var now
        assert "ldap-entry-4711" in gw.command("mod cmd FLASHDIR0 list")

        gw.press(1.8)
        loopback = ["/port", str(sim.port), "/bcast", "127.255.255.255"]
        done = sim.run(*GWLOAD, "/i", "127.0.0.5", "/setip", *loopback)
        assert done.returncode == 0, done.stdout
        dump = tmp_path / "config.txt"
        got = sim.run("tftp", "-m", "binary", "127.0.0.5", str(sim.port), "-c", "get", "config",
                      str(dump))  # fmt: skip
        assert got.returncode == 0, got.stdout
    data = dump.read_bytes()
    assert RING_MARKER not in data  # config text only: the record headers stay in flash
    generations = read_dump(data).generations
    assert len(generations) >= 2
    for generation in generations:  # config lines only
        assert all(line.startswith("config ") for line in generation.text.splitlines())
    assert b"ldap-entry-4711" not in data
    assert b"cn=Alice" not in data
    assert b"AUTH" not in data  # the crypted var's name (CMD0/AUTH)


def test_the_rescue_copy_is_not_loaded_over_http(tmp_path: Path) -> None:
    with Simulator(tmp_path / "state") as sim:
        gw = sim.add("IP800")
        gw.configure("config change ETH0 /addr 192.168.0.1 /mask 255.255.255.0")
        assert gw.url is not None

        def altboot() -> bytes:
            flash, profile = gw.host.flash, gw.host.profile
            return PartitionTable(flash, profile)["altboot"].read(0, 4096)

        before = sim._call(altboot)
        profile = gw.host.profile
        image = build_image(
            ImageKind.RESCUE_BOOT, "IP800", str(profile.boot.build + 1), b"r" * 4096,
            boot_build=profile.boot.build + 1,
        )  # fmt: skip
        upload = tmp_path / "altboot.bin"
        upload.write_bytes(image)
        for path in ("/upload/altboot", "/upload/boot"):
            done = subprocess.run(
                ["curl", "-s", "-w", "\n%{http_code}", "-u", "admin:ip800",
                 "--data-binary", f"@{upload}", f"{gw.url}{path}"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            body, _, status = done.stdout.rpartition("\n")
            if path == "/upload/altboot":
                assert status == "404", body  # no such upload on the web UI
            else:
                assert status == "400", body  # the boot code path takes no rescue copy
                assert "Bootcodeupdate failed" in body
        assert sim._call(altboot) == before


def test_a_whole_dump_sent_back_is_refused_and_the_newest_alone_is_stored(
    tmp_path: Path,
) -> None:
    with Simulator(tmp_path / "state") as sim:
        gw = sim.add("IP6000")
        gw.configure("config change CMD0 /name site-a")
        gw.configure("config change CMD0 /name site-b")
        gw.press(1.8)
        loopback = ["/port", str(sim.port), "/bcast", "127.255.255.255"]
        done = sim.run(*GWLOAD, "/i", "127.0.0.5", "/setip", *loopback)
        assert done.returncode == 0, done.stdout
        dump = tmp_path / "config.txt"
        tftp = ["tftp", "-m", "binary", "127.0.0.5", str(sim.port), "-c"]
        got = sim.run(*tftp, "get", "config", str(dump))
        assert got.returncode == 0, got.stdout
        data = dump.read_bytes()
        reading = read_dump(data)
        assert len(reading.generations) >= 2
        assert reading.newest is not None
        second = reading.generations[1]
        edited = data.replace(b"/name site-b", b"/name site-c")
        dump.write_bytes(edited)
        refused = sim.run(*tftp, "put", str(dump), "config")
        assert f"line {second.line} sets module CMD0 again" in refused.stdout
        assert "send only the newest" in refused.stdout
        assert gw.newest_config() == reading.newest.text  # nothing was stored
        newest = tmp_path / "newest.txt"
        newest.write_bytes(reading.newest.data.replace(b"/name site-b", b"/name site-c"))
        stored = sim.run(*tftp, "put", str(newest), "config")
        assert stored.returncode == 0, stored.stdout
        assert gw.newest_config() == newest.read_bytes().decode()

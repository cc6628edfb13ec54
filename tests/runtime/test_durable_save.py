"""What a device acknowledged is saved, also when the disk was full at the time.

``config write`` answered ``config written as generation N`` while the runtime could not
write the flash image (the disk full, no descriptors left), and nothing tried again: after
a restart the device had generation N-1. Here the state directory lies on a small tmpfs
the test mounts (root) and fills; the save is tried again until it works.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import find_profile
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.flashfile import load_flash
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.hostflash import SAVE_RETRY
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.needs import unavailable

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own, unmounted at the end."""
    if os.geteuid() != 0:
        unavailable("mounting a small file system needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the file system is full."""
    with path.open("wb", buffering=0) as out:
        while True:
            try:
                out.write(bytes(64 * 1024))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return


def generation_in_memory(host: DeviceHost) -> int:
    newest = ConfigRing(PartitionTable(host.flash, host.profile)["config"]).newest
    assert newest is not None
    return newest.number


def generation_on_disk(host: DeviceHost) -> int:
    profile = find_profile(host.profile.model)
    flash = load_flash(host.record.flash_path, profile.flash)
    newest = ConfigRing(PartitionTable(flash, profile)["config"]).newest
    assert newest is not None
    return newest.number


@pytest.mark.usefixtures("private_registry")
def test_an_acknowledged_write_is_saved_once_the_disk_has_room(
    small_disk: Path, ports: Ports
) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            small_disk / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            assert host.save()
            before = generation_on_disk(host)
            filler = small_disk / "filler"
            fill(filler)
            typed = b"admin\rip6000\rconfig change CMD0 /name acked\rconfig write\r"
            host.console.feed(typed)
            await asyncio.sleep(0)  # one loop turn: the save that was scheduled runs
            acknowledged = generation_in_memory(host)
            assert acknowledged == before + 1
            assert host.degraded is not None
            assert "No space left on device" in host.degraded
            lines = host.console.tail()
            warned = [line for line in lines if "saving again every" in line]
            assert len(warned) == 1, lines
            assert generation_on_disk(host) == before  # the file is behind: degraded

            await clock.advance(SAVE_RETRY * 3)  # still full: tried again, said once
            assert host.degraded is not None
            assert len([line for line in host.console.tail() if "saving again" in line]) == 1

            filler.unlink()
            await clock.advance(SAVE_RETRY)
            assert host.degraded is None
            assert generation_on_disk(host) == acknowledged
            assert host.console.tail()[-1].endswith(
                f"flash saved to {host.record.flash_path} again"
            )

    run(main())

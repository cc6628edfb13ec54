"""Devices of one runtime given the same image hold it once in memory.

A provisioning run gives a fleet one firmware (``benchmarks/bench_upload.py``: a thousand
IP6000, 4 MiB each); the flashes share the image's sectors, as clones of the factory
flash and loaded flash images do (copy on write: ``tests/flash/test_nor.py``).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from ipgwsim.events import Mode
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.testing.simulator import Simulator

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]
SIZE = 1024 * 1024


def test_a_fleet_given_one_image_holds_it_once(tmp_path: Path) -> None:
    image = build_image(
        ImageKind.FIRMWARE, "IP6000", "91-share", random.Random(3).randbytes(SIZE - 64)
    )
    path = tmp_path / "ip6000.bin"
    path.write_bytes(image)
    with Simulator(tmp_path / "state") as sim:
        gateways = sim.add_many("IP6000", 2, empty_firmware=True)
        for number, gw in enumerate(gateways, start=5):
            assert gw.mode is Mode.TFTP_MODE
            ip = f"127.0.0.{number}"
            done = sim.run(*GWLOAD, "/mac", gw.mac, "/i", ip, "/setip", "/prot", str(path),
                           "/noreset")  # fmt: skip
            assert done.returncode == 0, done.stdout
            gw.wait_for(Mode.TFTP_MODE)  # programmed
            assert gw.status().firmware_build == "91-share"

        def flashes() -> list[tuple[int, bytes]]:
            return [
                (
                    gw.host.flash.memory_bytes(),
                    PartitionTable(gw.host.flash, gw.host.profile)["prot"].read(0, SIZE),
                )
                for gw in gateways
            ]

        held = sim._call(flashes)
        # Both hold the image; neither holds a private copy of it.
        assert [data for _, data in held] == [image, image]
        assert all(private < SIZE // 4 for private, _ in held), [p for p, _ in held]

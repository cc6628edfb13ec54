"""What a device keeps of an uploaded image once it is programmed: only its flash.

A runtime of a thousand devices each given a 4 MiB firmware (``benchmarks/bench_upload.py``)
holds a thousand images in their flashes; a second copy of each, kept by the boot code
after programming, doubled that.
"""

from __future__ import annotations

import gc
import random
import tracemalloc

from ipgwsim.events import Mode
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.tftp import TransferComplete
from ipgwsim.testing.lab import Lab

IP = "10.0.0.5"
SIZE = 1024 * 1024
#: The device's TFTP server: where the bytes of an upload are gathered and handed over.
SERVER_FILES = ("*/proto/tftp/server.py", "*/proto/tftp/receiver.py")


def _live_bytes_from(snapshot: tracemalloc.Snapshot, patterns: tuple[str, ...]) -> int:
    filters = [tracemalloc.Filter(True, pattern) for pattern in patterns]
    return sum(stat.size for stat in snapshot.filter_traces(filters).statistics("filename"))


def test_a_programmed_image_is_held_only_by_the_flash() -> None:
    image = build_image(
        ImageKind.FIRMWARE, "IP6000", "91-mem", random.Random(7).randbytes(SIZE - 64)
    )
    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)
    lab.setip(gw, IP)
    tracemalloc.start()
    try:
        result = lab.put(IP, "prot", image, options={"blksize": "1468", "windowsize": "16"})
        assert isinstance(result, TransferComplete)
        during = tracemalloc.take_snapshot()
        lab.run(30.0)  # programmed, back in TFTP mode
        assert gw.device.status().mode is Mode.TFTP_MODE
        [(ack, _)] = lab.ask(gwload.Reset(9, gw.device.instance.mac, 6000), to=IP)
        assert isinstance(ack, gwload.Ack)
        lab.run(5.0)
        del result
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    status = gw.device.status()
    assert (status.mode, status.firmware_build) == (Mode.FIRMWARE, "91-mem")
    # While the upload was being checked the server held it (the measurement sees it) ...
    assert _live_bytes_from(during, SERVER_FILES) >= SIZE
    # ... and once it is in the flash, nothing of it is left outside the flash.
    assert _live_bytes_from(after, SERVER_FILES) < SIZE // 16
    prot = PartitionTable(gw.device.flash, find_profile("IP6000"))["prot"]
    assert prot.read(0, len(image)) == image

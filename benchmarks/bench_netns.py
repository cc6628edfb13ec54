"""Devices per machine in namespace mode (run by hand as root, not a test).

    .venv/bin/python benchmarks/bench_netns.py                 # 10, 50 and 200 devices
    .venv/bin/python benchmarks/bench_netns.py --counts 20     # one size
    .venv/bin/python benchmarks/bench_netns.py --json out.json

For each count N, in one process: a lab namespace with a bridge, a runtime with
``network="netns"`` and ``bridge:br0@LAB``, ``add_devices("IP6000", N)`` (each device:
a namespace, two veth pairs enslaved to the bridge, sockets, a firmware start), then the
runtime's stop (everything removed). It reports the time to create and to tear down
(per device too), the runtime process's VmRSS growth per device, and the growth of the
kernel's memory (``MemTotal - MemAvailable`` from ``/proc/meminfo``) per device while
the devices exist. Then it checks that no namespace or link of the run is left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pyroute2 import netns

from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.netlink import PREFIX
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.netns import add_bridge, lab_namespace, netlink, root


@dataclass
class Result:
    count: int
    create_s: float
    teardown_s: float
    create_ms_per_device: float
    teardown_ms_per_device: float
    rss_kib_per_device: float
    kernel_kib_per_device: float
    left_over: int


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _used_kib() -> int:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0])
    return info["MemTotal"] - info["MemAvailable"]


async def measure(count: int) -> Result:
    with lab_namespace("ipgwb") as lab, tempfile.TemporaryDirectory() as state:
        add_bridge(lab, "br0")
        rss, used = _status_kib("VmRSS"), _used_kib()
        runtime = Runtime(
            state,
            clock=ScaledClock(),
            network="netns",
            attachment=Attachment.parse(f"bridge:br0@{lab}"),
            control=False,
            console_tcp=False,
        )
        await runtime.start()
        start = time.perf_counter()
        runtime.add_devices("IP6000", count)
        create = time.perf_counter() - start
        rss_growth, used_growth = _status_kib("VmRSS") - rss, _used_kib() - used
        start = time.perf_counter()
        await runtime.stop()
        teardown = time.perf_counter() - start
        left = [n for n in netlink(netns.listnetns) if n.startswith(PREFIX)]
    return Result(
        count,
        round(create, 3),
        round(teardown, 3),
        round(create / count * 1000, 1),
        round(teardown / count * 1000, 1),
        round(rss_growth / count, 1),
        round(used_growth / count, 1),
        len(left),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not root():
        print("bench_netns: needs root (network namespaces)", file=sys.stderr)
        return 2
    results = [asyncio.run(measure(n)) for n in args.counts]
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    header = "devices  create s  ms/dev  teardown s  ms/dev  RSS KiB/dev  kernel KiB/dev  left"
    print(header)
    for r in results:
        print(
            f"{r.count:7d}  {r.create_s:8.2f}  {r.create_ms_per_device:6.1f}  "
            f"{r.teardown_s:10.2f}  {r.teardown_ms_per_device:6.1f}  "
            f"{r.rss_kib_per_device:11.1f}  {r.kernel_kib_per_device:14.1f}  {r.left_over:4d}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.left_over for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

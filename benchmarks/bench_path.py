"""The device's CPU time per lock-step TFTP block (run by hand, not a test).

    .venv/bin/python benchmarks/bench_path.py                  # 4 MiB, blksize 512 1468 8192
    .venv/bin/python benchmarks/bench_path.py --size 1M --repeat 1
    IPGWSIM_LOOP=uvloop .venv/bin/python benchmarks/bench_path.py    # the runtime on uvloop

One ``ipgwsim run IP6000 --empty-firmware`` process (the benchmark profile of
``benchmarks/profiles``: TFTP mode from power-on), given an address with gwload SETIP and
a config of ``--size`` bytes; then, for each blksize, ``--repeat`` lock-step downloads of
the config dump and uploads of the config (``ipgwsim.runtime.tftpclient``, in this
process). For each transfer it reads the runtime process's CPU time (user + system,
``/proc/PID/stat``) before and after, and prints the CPU time per block (one datagram in,
one out) beside the throughput. On a machine shared with other work the throughput moves
with the load, while the CPU time per block moves much less: that is the number to
compare between two versions of the code (alternate them in one session). A download's
CPU time includes the config dump made at the request; an upload's the storing of the
config after the last block. The event loop is the runtime's choice (``IPGWSIM_LOOP``,
docs/runtime.md, *Event loop*).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostinfo import loadavg

from ipgwsim.proto import gwload
from ipgwsim.runtime.tftpclient import tftp_get, tftp_put
from ipgwsim.testing.loopback import Ports, free_loopback_ip
from ipgwsim.tools.mkimage_cmd import size_argument

PROFILES = Path(__file__).resolve().parent / "profiles"
BLKSIZES = (512, 1468, 8192)
TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def config_text(size: int) -> bytes:
    """About ``size`` bytes of ``config change`` lines, one module each."""
    lines: list[bytes] = []
    total = 0
    number = 0
    while total < size:
        line = f"config change M{number} /p{number} {number * 2654435761 % (1 << 32):08x}\r\n"
        lines.append(line.encode())
        total += len(line)
        number += 1
    return b"".join(lines)


def setip(port: int, ip: str, timeout: float = 30.0) -> None:
    """SETIP ``ip`` for the one device in TFTP mode (any MAC), until it answers."""
    message = gwload.SetIp(
        7,
        gwload.ANY_MAC,
        6000,
        ip=ipaddress.IPv4Address(ip),
        mask=ipaddress.IPv4Address("255.0.0.0"),
        gateway=ipaddress.IPv4Address("0.0.0.0"),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind(("0.0.0.0", 0))
        sock.settimeout(2.0)  # few repeats: a late SETIP would end the transfers
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.sendto(gwload.encode_message(message), ("127.255.255.255", port))
            try:
                data, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            reply = gwload.parse_message(data)
            if isinstance(reply, gwload.Hello) and str(reply.ip) == ip:
                return
    raise SystemExit(f"bench_path: the device did not take {ip} within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=size_argument, default=4 * MIB, help="bytes (default 4M)")
    parser.add_argument("--repeat", type=int, default=3, help="transfers per cell (default 3)")
    parser.add_argument("--blksizes", type=int, nargs="+", default=list(BLKSIZES))
    args = parser.parse_args()
    config = config_text(args.size)
    with tempfile.TemporaryDirectory(prefix="bench-path-") as tmp, Ports() as ports:
        port = ports.udp()
        argv = [
            sys.executable, "-m", "ipgwsim.tools.cli", "run", "IP6000", "--empty-firmware",
            "--state", str(Path(tmp) / "state"), "--port", str(port), "--speed", "100",
            "--http-port", str(ports.tcp()), "--no-console-tcp", "--profiles-dir", str(PROFILES),
        ]  # fmt: skip
        log = (Path(tmp) / "run.log").open("wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            ip = free_loopback_ip(port)
            setip(port, ip)
            tftp_put((ip, port), "config", config, options={"blksize": "8192"})
            loop = os.environ.get("IPGWSIM_LOOP") or "asyncio"
            print(f"bench_path: {len(config)} bytes, loop {loop}, load average {loadavg()}")
            print("direction  blksize  CPU us/block (runs)          MiB/s (runs)")
            for blksize in args.blksizes:
                options = {"blksize": str(blksize)}
                for direction in ("download", "upload"):
                    per_block: list[float] = []
                    rates: list[float] = []
                    for _ in range(args.repeat):
                        before = cpu_seconds(proc.pid)
                        if direction == "download":
                            result = tftp_get((ip, port), "config", options=options)
                            size = len(result.data or b"")
                        else:
                            result = tftp_put((ip, port), "config", config, options=options)
                            size = len(config)
                        used = cpu_seconds(proc.pid) - before
                        blocks = size // blksize + 1
                        per_block.append(used / blocks * 1e6)
                        rates.append(size / MIB / result.seconds)
                    cpu = ", ".join(f"{v:.1f}" for v in per_block)
                    mibs = ", ".join(f"{v:.1f}" for v in rates)
                    print(
                        f"{direction:9}  {blksize:7}  {statistics.median(per_block):6.1f} ({cpu})"
                        f"  {statistics.median(rates):6.1f} ({mibs})"
                    )
            print(f"bench_path: load average at the end {loadavg()}")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Control-socket latency while many clients send wrong HTTP logins (run by hand, not a test).

    .venv/bin/python benchmarks/bench_login.py              # 50 clients, 8 s per variant
    .venv/bin/python benchmarks/bench_login.py --quick      # 3 s per variant
    .venv/bin/python benchmarks/bench_login.py --clients 50 --seconds 8 --json out.json

First it measures whether ``hashlib.scrypt`` releases the GIL: the wall time of derivations
(the devices' cost, n=2**14 r=8 p=1) one after another in one thread, and the same number
split over two threads. Two threads taking about half the time (on two or more cores)
means the derivations run in parallel, so a worker thread does not hold up the event loop.

It also runs a Python loop in one thread while another derives, and reports the loop's
longest pause: about one derivation if scrypt held the GIL, far less if it lets go.

Then, for each variant, a runtime with one IP6000 runs in a child process (real time), its
admin password is set over HTTP (a stored scrypt record), and ``--clients`` threads, each
from its own loopback address (127.0.2.N), send ``GET /!config show`` with a wrong password
over and over on a keep-alive connection for ``--seconds``, while one more thread asks the
control socket for ``status`` every 20 ms and notes how long each answer took. The variants:

- ``before``: checks on the event loop (``login_executor=OnLoop()``) and no wait after
  failed logins (the throttle's limits raised out of reach in the child): what the runtime
  did before;
- ``on loop, throttled``: checks on the event loop, with the throttle;
- ``off loop, no throttle``: checks in the runtime's worker threads, no throttle;
- ``after``: checks in worker threads, with the throttle (the default).

It reports per variant the control socket's median, 95th percentile and largest latency,
the logins answered by status, and the password checks made (401 answers).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hostinfo import cpu_model, loadavg

from ipgwsim.firmware import logins as throttle
from ipgwsim.flash.credentials import DEFAULT_N, DEFAULT_P, DEFAULT_R, AdminCredentials
from ipgwsim.runtime.control import ControlClient
from ipgwsim.runtime.logins import OnLoop
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports

PORTS = Ports()
VARIANTS = ("before", "on loop, throttled", "off loop, no throttle", "after")
#: Where the factory address 192.168.0.1 is served on loopback.
FACTORY_IP = "127.168.0.1"
PASSWORD = "s3cret"
SHOW = "/!config%20show"


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- does scrypt release the GIL? ------------------------------------------------------------


def gil(derivations: int) -> dict[str, float]:
    creds = AdminCredentials.create("admin", PASSWORD, bytes(16))
    assert (creds.n, creds.r, creds.p) == (DEFAULT_N, DEFAULT_R, DEFAULT_P)

    def work(count: int) -> None:
        for _ in range(count):
            creds.verify("admin", "wrong")

    started = time.perf_counter()
    work(derivations)
    one = time.perf_counter() - started
    half = derivations // 2
    threads = [threading.Thread(target=work, args=(half,)) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    two = time.perf_counter() - started
    # The longest pause of a Python loop in this thread while another thread derives: about
    # one derivation if scrypt held the GIL, far less if it lets go of it.
    worker = threading.Thread(target=work, args=(derivations,))
    stall = 0.0
    worker.start()
    last = time.perf_counter()
    while worker.is_alive():
        now = time.perf_counter()
        stall, last = max(stall, now - last), now
    worker.join()
    return {
        "longest_stall_ms": 1e3 * stall,
        "derivations": derivations,
        "ms_per_derivation": 1e3 * one / derivations,
        "one_thread_s": one,
        "two_threads_s": two,
        "speedup": one / two,
    }


# -- the runtime in a child process --------------------------------------------------------


def serve(variant: str, state: str, port: int, http_port: int) -> None:
    """The child: a runtime with one IP6000 whose web server is up; runs until stdin closes."""
    if "no throttle" in variant or variant == "before":
        throttle.FREE_FAILURES = 10**9
        throttle.CHECK_BURST = 10**9
        throttle.CHECKS_PER_SECOND = 1e9
    executor = OnLoop() if "on loop" in variant or variant == "before" else None

    async def main() -> None:
        async with Runtime(
            state, port=port, http_port=http_port, login_executor=executor, console_tcp=False
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            await asyncio.wait_for(rt.press(host.name, 0.3), 10)
            for _ in range(200):
                server = await host.web_settled()
                if server is not None:
                    break
                await asyncio.sleep(0.05)
            assert server is not None, host.errors
            print(f"READY {server.url}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


@dataclass
class Result:
    variant: str
    control_requests: int
    control_median_ms: float
    control_p95_ms: float
    control_max_ms: float
    logins: dict[str, int] = field(default_factory=dict)
    checks: int = 0
    logins_per_s: float = 0.0


def run_variant(variant: str, clients: int, seconds: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp:
        state = Path(tmp) / "state"
        http_port = PORTS.tcp()
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", variant, "--state", str(state),
             "--port", str(PORTS.udp()), "--http-port", str(http_port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            assert child.stdin is not None
            line = child.stdout.readline()
            if not line.startswith("READY "):
                raise SystemExit(f"{variant}: the runtime did not start: {line!r}")
            set_password(http_port)
            return load(variant, state, http_port, clients, seconds)
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(30)


def set_password(http_port: int) -> None:
    conn = http.client.HTTPConnection(FACTORY_IP, http_port, timeout=30)
    for command in (f"config change CMD0 /user admin,{PASSWORD}", "config write"):
        conn.request("GET", "/!" + command.replace(" ", "%20"), headers=auth("admin", "ip6000"))
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    conn.close()


def load(variant: str, state: Path, http_port: int, clients: int, seconds: float) -> Result:
    stop = threading.Event()
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        source = (f"127.0.2.{index + 1}", 0)
        conn: http.client.HTTPConnection | None = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        FACTORY_IP, http_port, timeout=30, source_address=source
                    )
                conn.request("GET", SHOW, headers=auth("admin", f"wrong{index}"))
                response = conn.getresponse()
                response.read()
                key = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                key = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                statuses[key] += 1
        if conn is not None:
            conn.close()

    latencies: list[float] = []

    def control() -> None:
        with ControlClient(state, timeout=60) as ctl:
            while not stop.is_set():
                started = time.perf_counter()
                ctl.request("status")
                latencies.append(time.perf_counter() - started)
                stop.wait(0.02)

    progress(f"{variant}: {clients} clients for {seconds:g} s")
    with ThreadPoolExecutor(clients + 1) as pool:
        futures = [pool.submit(client, i) for i in range(clients)]
        futures.append(pool.submit(control))
        stop.wait(seconds)
        stop.set()
        for future in futures:
            future.result()
    ms = sorted(1e3 * x for x in latencies)
    return Result(
        variant,
        len(ms),
        statistics.median(ms),
        ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        ms[-1],
        dict(statuses),
        statuses.get("401", 0),
        sum(statuses.values()) / seconds,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per variant")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.state, args.port, args.http_port)
        return 0
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    load_before = loadavg()
    progress("scrypt in one thread and in two")
    scrypt = gil(8 if args.quick else 40)
    results = [run_variant(v, args.clients, seconds) for v in VARIANTS]
    print(
        f"Logins: {platform.python_implementation()} {platform.python_version()}, "
        f"{cpu_model()}, {os.cpu_count()} CPUs; load {load_before} -> {loadavg()}"
    )
    print(
        f"scrypt: {scrypt['ms_per_derivation']:.1f} ms per derivation; "
        f"{scrypt['derivations']} take {scrypt['one_thread_s']:.2f} s in one thread, "
        f"{scrypt['two_threads_s']:.2f} s in two ({scrypt['speedup']:.2f}x); a Python loop "
        f"beside a deriving thread paused at most {scrypt['longest_stall_ms']:.1f} ms"
    )
    print(f"{args.clients} clients sending wrong logins for {seconds:g} s; control-socket status:")
    print(f"{'variant':<24}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}{'checks':>8}  answers")
    for r in results:
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r.logins.items()))
        print(
            f"{r.variant:<24}{r.control_median_ms:>10.1f}{r.control_p95_ms:>9.1f}"
            f"{r.control_max_ms:>9.1f}{r.checks:>8}  {answers}"
        )
    if args.json is not None:
        data: dict[str, Any] = {
            "clients": args.clients,
            "seconds": seconds,
            "scrypt": scrypt,
            "variants": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

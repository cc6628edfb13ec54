"""``ipgwsim run MODEL``: run simulated devices on loopback until Ctrl-C (or SIGTERM).

Prints one line per device (name, model, MAC, console pty, mode, LED), then one line
per device with its console's TCP URLs on 127.0.0.1 (raw ``socket://`` and RFC 2217
``rfc2217://``, for pyserial's ``serial_for_url``) and one with its web server's URL
while the firmware has an address (``192.168.0.1`` is served as ``127.168.0.1`` on
loopback; a factory device after power-up is a DHCP client and has none: a short press
of the reset button gives it the factory address), then keeps the
devices running; the other ``ipgwsim`` commands (``status``, ``press``, ``power``,
``watch``, ``cut``, ``console``) talk to it through the state directory's control
socket. ``--impair SPEC`` impairs every device's link (loss, duplication, reordering,
delay, corruption; ``ipgwsim impair`` changes it while running), ``--pcap FILE`` records
every datagram of every device as pcapng. Stopping saves every flash. Errors (a port
that cannot be bound, a state directory in use) are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.impair import Impairment, ImpairmentError
from ipgwsim.runtime.loopback import LOOPBACK_BROADCAST
from ipgwsim.runtime.netns import Attachment
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.runtime.statedir import default_state_dir


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run simulated devices on loopback until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("profile", metavar="MODEL", help="model (IP6000) or gwtype (6000)")
    parser.add_argument("--count", type=int, default=1, help="number of devices (default 1)")
    parser.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="state directory (default $IPGWSIM_STATE, $XDG_STATE_HOME/ipgwsim "
        "or ~/.local/state/ipgwsim)",
    )
    parser.add_argument(
        "--port", type=int, default=69, help="UDP port of gwload and TFTP (default 69)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="device time runs this many times faster than real time (default 1)",
    )
    parser.add_argument(
        "--empty-firmware",
        action="store_true",
        help="new devices get no firmware image (they start in TFTP mode)",
    )
    parser.add_argument(
        "--console-port",
        type=int,
        metavar="PORT",
        help="TCP ports of the consoles on 127.0.0.1 from PORT on: raw PORT+2n, "
        "RFC 2217 PORT+2n+1 for the n-th device (default: free ports)",
    )
    parser.add_argument(
        "--no-console-tcp", action="store_true", help="serve the consoles on the pty only"
    )
    parser.add_argument(
        "--netns",
        action="store_true",
        help="namespace network (root): each device in a network namespace of its own, "
        "on a veth pair (docs/runtime.md)",
    )
    parser.add_argument(
        "--attach",
        metavar="SPEC",
        help="with --netns, where the devices' links go: host (default), netns:NAME, "
        "bridge:BR[@NAMESPACE], macvlan:NIC[@NAMESPACE]",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        metavar="PORT",
        help="TCP port of the devices' web servers (default 80 as root, else 8080)",
    )
    parser.add_argument(
        "--impair",
        metavar="SPEC",
        help="impair every device's link, e.g. loss=30%%,dup=10%%,reorder=10%%,delay=20ms,"
        "jitter=5ms,corrupt=1%%,dir=in,seed=7 (docs/runtime.md, Impaired links)",
    )
    parser.add_argument(
        "--pcap",
        type=Path,
        metavar="FILE",
        help="record every datagram each device sends and receives in FILE (pcapng, "
        "one interface per device)",
    )
    parser.add_argument(
        "--profiles-dir", type=Path, metavar="DIR", help="load the *.toml profiles in DIR"
    )
    parser.set_defaults(handler=run)


def columns(rows: list[list[str]]) -> list[str]:
    """Rows as left-aligned columns, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def device_lines(hosts: list[DeviceHost]) -> list[str]:
    rows = [["NAME", "MODEL", "MAC", "CONSOLE", "MODE", "LED"]]
    for host in hosts:
        status = host.status()
        rows.append(
            [
                status.name,
                status.model,
                status.mac,
                host.console.path,
                status.mode.value,
                status.led.value,
            ]
        )
    return columns(rows)


def tcp_lines(hosts: list[DeviceHost]) -> list[str]:
    """``ip6000-1  console on TCP: socket://127.0.0.1:P  rfc2217://127.0.0.1:Q``."""
    rows = [
        [host.name, "console on TCP:", tcp.raw_url, tcp.rfc2217_url]
        for host in hosts
        if (tcp := host.console_tcp) is not None
    ]
    return columns(rows) if rows else []


def web_lines(hosts: list[DeviceHost]) -> list[str]:
    """``ip6000-1  web: http://127.168.0.10:8080/`` or why there is none."""
    rows = []
    for host in hosts:
        if host.web is not None:
            rows.append([host.name, "web:", host.web.url])
        elif host.status().mode.value == "running firmware":
            rows.append([host.name, "web:", "none (ETH0 has no address: DHCP client)"])
    return columns(rows) if rows else []


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        print("ipgwsim run: --count must be 1 or more", file=sys.stderr)
        return 2
    if args.attach and not args.netns:
        print("ipgwsim run: --attach needs --netns", file=sys.stderr)
        return 2
    if not args.speed > 0:
        print("ipgwsim run: --speed must be a positive number", file=sys.stderr)
        return 2
    try:
        args.impairment = Impairment.parse(args.impair) if args.impair is not None else None
    except ImpairmentError as exc:
        print(f"ipgwsim run: --impair: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args))
    except RuntimeSetupError as exc:
        print(f"ipgwsim run: {exc}", file=sys.stderr)
        return 2


def _log_to_stderr() -> None:
    log = logging.getLogger("ipgwsim.runtime")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("ipgwsim run: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


async def _run(args: argparse.Namespace) -> int:
    _log_to_stderr()
    state: Path = args.state if args.state is not None else default_state_dir()
    clock = ScaledClock(args.speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Runtime(
            state,
            port=args.port,
            clock=clock,
            profiles_dir=args.profiles_dir,
            console_tcp=not args.no_console_tcp,
            console_port_base=args.console_port,
            http_port=args.http_port,
            network="netns" if args.netns else "loopback",
            attachment=Attachment.parse(args.attach) if args.attach else None,
            impairment=args.impairment,
            pcap=args.pcap,
        ) as runtime:
            hosts = runtime.add_devices(
                args.profile, args.count, empty_firmware=args.empty_firmware
            )
            for host in hosts:
                await host.web_settled()
            model = hosts[0].profile.model if hosts else args.profile
            if args.netns:
                where = f"in network namespaces, links {args.attach or 'host'}, port {args.port}"
            else:
                where = f"on loopback, broadcast {LOOPBACK_BROADCAST}:{args.port}"
            print(
                f"ipgwsim: {len(hosts)} x {model} {where}, speed {args.speed:g}x, "
                f"state {runtime.state.path}; Ctrl-C stops"
            )
            lines = device_lines(hosts) + tcp_lines(hosts) + web_lines(hosts)
            if runtime.impairment is not None:
                lines.append(f"impairment on every device: {runtime.impairment.to_text()}")
            if args.pcap is not None:
                lines.append(f"capture: {args.pcap} (pcapng, one interface per device)")
            print("\n".join(lines), flush=True)
            await stop.wait()
            print("ipgwsim: stopping, saving flash images", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0

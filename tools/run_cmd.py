"""``ipgwsim run MODEL[:COUNT] ...``: run simulated devices until Ctrl-C (or SIGTERM, SIGHUP).

``ipgwsim run IP800:2 IP811:3`` runs a mix of models in one runtime; ``ipgwsim run
--lab lab.toml`` runs the lab a lab file describes (``docs/lab-file.md``; options given
on the command line win over the file's ``[runtime]`` table).

Prints one line per device (name, model, MAC, console pty, mode, LED), then, with
``--console-tcp``, one line per device with its console's TCP URLs on 127.0.0.1 (raw
``socket://`` and RFC 2217 ``rfc2217://``, for pyserial's ``serial_for_url``; off by
default, as every local user can connect to them) and one with its web server's URL
while the firmware has an address (``192.168.0.1`` is served as ``127.168.0.1`` on
loopback; a factory device after power-up is a DHCP client and has none: a short press
of the reset button gives it the factory address); later, whenever a device's web server
starts listening (or cannot), one more such line. Then it keeps the
devices running; the other ``ipgwsim`` commands (``status``, ``press``, ``power``,
``watch``, ``cut``, ``console``) talk to it through the state directory's control
socket. ``--impair SPEC`` impairs every device's link (loss, duplication, reordering,
delay, corruption; ``ipgwsim impair`` changes it while running), ``--pcap FILE`` records
every datagram of every device as pcapng. Stopping saves every flash. Errors (a port
that cannot be bound, a state directory in use) are one line on stderr, exit status 2.

Ports: gwload and TFTP on UDP 69 as root, else 6969; the web servers on TCP 80 as
root, else 8080 (ports below 1024 need root; a runtime that is not root says which it
took). The log goes to stderr: --log-level, --log-format text|json (docs/runtime.md,
Logging).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.devicespec import DeviceSpec, parse_model_counts
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.impair import Impairment, ImpairmentError
from ipgwsim.runtime.loopback import LOOPBACK_BROADCAST
from ipgwsim.runtime.loops import LOOP_VARIABLE, LOOPS, choose_loop, run_on
from ipgwsim.runtime.ports import (
    DEFAULT_HTTP_PORT,
    DEFAULT_PORT,
    UNPRIVILEGED_HTTP_PORT,
    UNPRIVILEGED_PORT,
    UNPRIVILEGED_REASON,
    check_http_port,
    default_http_port,
    default_port,
    parse_ui,
)

if TYPE_CHECKING:
    # The device model and the runtime load where they are used: building the parser
    # (every ipgwsim command) stays cheap.
    from ipgwsim.runtime.host import DeviceHost
    from ipgwsim.runtime.labfile import Lab

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run simulated devices on loopback until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "models",
        metavar="MODEL[:COUNT]",
        nargs="*",
        help="model (IP6000) or gwtype (6000), with a count: IP800:2 IP811:3",
    )
    parser.add_argument(
        "--count", type=int, help="number of devices of a single MODEL without :COUNT"
    )
    parser.add_argument("--lab", type=Path, metavar="FILE", help="run the lab a lab file describes")
    parser.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="state directory (default $IPGWSIM_STATE, $XDG_STATE_HOME/ipgwsim "
        "or ~/.local/state/ipgwsim)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help=f"UDP port of gwload and TFTP (default {DEFAULT_PORT} as root, else "
        f"{UNPRIVILEGED_PORT}: ports below 1024 need root)",
    )
    parser.add_argument(
        "--share-port",
        action="store_true",
        help="on loopback, let other runtimes started with --share-port use the same UDP "
        "port: the devices of all of them hear the broadcast (default: refused)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="spread the devices over N worker processes, round robin in order, behind "
        "one control API (loopback only; default 1: one process; docs/runtime.md, Workers)",
    )
    parser.add_argument(
        "--speed",
        type=float,
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
        help="serve the consoles on TCP (as --console-tcp) from PORT on: raw PORT+2n, "
        "RFC 2217 PORT+2n+1 for the n-th device",
    )
    tcp = parser.add_mutually_exclusive_group()
    tcp.add_argument(
        "--console-tcp",
        action="store_true",
        help="serve the consoles on TCP on 127.0.0.1 too, on free ports; any local user "
        "can connect, each connection has a login of its own (default: the pty only)",
    )
    tcp.add_argument(
        "--no-console-tcp",
        action="store_true",
        help="serve the consoles on the pty only, whatever a lab file says",
    )
    parser.add_argument(
        "--no-console-pty",
        action="store_true",
        help="give the consoles no pty (for more devices than kernel.pty.max): reach them "
        "by --console-tcp or the control API",
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
        help=f"TCP port of the devices' web servers (default {DEFAULT_HTTP_PORT} as root, "
        f"else {UNPRIVILEGED_HTTP_PORT}: ports below 1024 need root)",
    )
    parser.add_argument(
        "--ui",
        metavar="[HOST:]PORT",
        help="serve the front panel (a web page: LEDs, the reset button, consoles) and the "
        "control API on this TCP port too (host default 127.0.0.1; port 0: any free one); "
        "off loopback with a token (docs/control-api.md, The UI port)",
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
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="least important log message shown on stderr (default info)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text ('ipgwsim run: ...', default) or one JSON object per "
        "line: time, level, logger, message, device (docs/runtime.md, Logging)",
    )
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default=None,
        help="event loop: asyncio's own (the default; "
        f"${LOOP_VARIABLE} sets another), uvloop (pip install 'ipgwsim[fast]'), or auto: "
        "uvloop where it is installed (docs/runtime.md, Event loop)",
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
    """One row per device; a LINK column (the host-side link) in namespace mode."""
    links = any(host.link_name is not None for host in hosts)
    rows = [["NAME", "MODEL", "MAC", *(["LINK"] if links else []), "CONSOLE", "MODE", "LED"]]
    for host in hosts:
        status = host.status()
        rows.append(
            [
                status.name,
                status.model,
                status.mac,
                *([host.link_name or "-"] if links else []),
                host.console.path or "-",
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


def web_line(host: DeviceHost) -> str | None:
    """What a device's web server did just now: ``ip6000-1  web: http://127.168.0.1:8080/``,
    or the reason it cannot listen."""
    if host.web_url is not None:
        return columns([[host.name, "web:", host.web_url]])[0]
    if host.web_error is not None:
        return columns([[host.name, "web:", f"none ({host.web_error})"]])[0]
    return None


def web_lines(hosts: list[DeviceHost]) -> list[str]:
    """``ip6000-1  web: http://127.168.0.10:8080/`` or why there is none."""
    rows = []
    for host in hosts:
        if host.web_url is not None:
            rows.append([host.name, "web:", host.web_url])
        elif host.web_error is not None:
            rows.append([host.name, "web:", f"none ({host.web_error})"])
        elif host.status().mode.value == "running firmware":
            rows.append([host.name, "web:", "none (ETH0 has no address: DHCP client)"])
    return columns(rows) if rows else []


def ui_line(url: str, token_file: Path, token: str | None) -> str:
    """``ui: URL``, saying where the token is when one is needed (never the token)."""
    if token is None:
        return f"ui: {url}"
    return f"ui: {url} (token required off loopback: see {token_file})"


@dataclass(frozen=True)
class Plan:
    """What to run: the command line and the lab file put together."""

    specs: list[DeviceSpec]
    state: Path
    port: int
    #: The defaults taken because the runtime is not root, said once at the start.
    unprivileged: list[str]
    speed: float
    netns: bool
    attachment: Attachment | None
    http_port: int
    console_port: int | None
    console_tcp: bool
    profiles_dir: Path | None
    share_port: bool
    impairment: Impairment | None
    pcap: Path | None
    #: Where the front panel is served (host, port), or None.
    ui: tuple[str, int] | None = None
    #: Worker processes the devices are spread over (1: the runtime's own process).
    workers: int = 1
    #: The log's level and form, for the workers' logs too.
    log_level: str = "info"
    log_format: str = "text"
    #: Whether each console has a pty (``--no-console-pty``, lab ``console_pty``).
    console_pty: bool = True
    #: The event loop (``--loop``), for the workers too.
    loop: str = "asyncio"


def plan(args: argparse.Namespace) -> Plan:
    """The devices and settings to run; bad input raises RuntimeSetupError or LabError."""
    from ipgwsim.runtime.labfile import check_lab, load_lab  # noqa: PLC0415 (loaded on use)
    from ipgwsim.runtime.statedir import default_state_dir  # noqa: PLC0415 (loaded on use)

    lab = load_lab(args.lab) if args.lab is not None else None
    if lab is not None:
        check_lab(lab)
        if args.models:
            raise RuntimeSetupError("give either models or --lab, not both")
    elif not args.models:
        raise RuntimeSetupError("give a model (ipgwsim run IP6000), models with counts, or --lab")
    if args.count is not None:
        if len(args.models) != 1 or ":" in args.models[0]:
            raise RuntimeSetupError(
                "--count goes with a single MODEL; for several write MODEL:COUNT"
            )
        if args.count < 1:
            raise RuntimeSetupError("--count must be 1 or more")
    if args.attach and not args.netns and (lab is None or lab.network != "netns"):
        raise RuntimeSetupError("--attach needs --netns")
    if args.speed is not None and not args.speed > 0:
        raise RuntimeSetupError("--speed must be a positive number")
    netns = args.netns or (lab is not None and lab.network == "netns")
    share_port = args.share_port or (lab is not None and lab.share_port)
    if share_port and netns:
        raise RuntimeSetupError(
            "--share-port is for loopback (in namespaces every device has its own ports)"
        )
    if lab is not None:
        specs = list(lab.devices)
        if args.empty_firmware:
            specs = [replace(spec, empty_firmware=True) for spec in specs]
    else:
        specs = [
            DeviceSpec(model, count or args.count or 1, empty_firmware=args.empty_firmware)
            for model, count in parse_model_counts(args.models)
        ]

    def pick(given: T | None, from_lab: T | None, default: T) -> T:
        if given is not None:
            return given
        return from_lab if from_lab is not None else default

    attachment = Attachment.parse(args.attach) if args.attach else None
    console_tcp = _console_tcp(args, lab)
    console_port = pick(args.console_port, lab.console_port if lab else None, None)
    if not console_tcp:  # the command line wins: a lab file's console ports go unused
        console_port = None
        specs = [replace(spec, console_port=None) for spec in specs]
    euid = os.geteuid()
    port = pick(args.port, lab.port if lab else None, None)
    http_port = pick(args.http_port, lab.http_port if lab else None, None)
    unprivileged = []
    if port is None:
        port = default_port(euid)
        if port != DEFAULT_PORT:
            unprivileged.append(f"gwload and TFTP on UDP port {port} (as root {DEFAULT_PORT})")
    if http_port is None:
        http_port = default_http_port(euid)
        if http_port != DEFAULT_HTTP_PORT:
            unprivileged.append(
                f"web servers on TCP port {http_port} (as root {DEFAULT_HTTP_PORT})"
            )
    pcap = pick(args.pcap, lab.pcap if lab else None, None)
    return Plan(
        specs=specs,
        state=pick(args.state, lab.state if lab else None, default_state_dir()),
        port=port,
        unprivileged=unprivileged,
        speed=pick(args.speed, lab.speed if lab else None, 1.0),
        netns=netns,
        attachment=pick(attachment, lab.attachment if lab else None, None),
        http_port=http_port,
        console_port=console_port,
        console_tcp=console_tcp,
        profiles_dir=pick(args.profiles_dir, lab.profiles_dir if lab else None, None),
        share_port=share_port,
        impairment=pick(
            Impairment.parse(args.impair) if args.impair is not None else None,
            lab.impairment if lab else None,
            None,
        ),
        pcap=pcap,
        ui=pick(_ui(args.ui), lab.ui if lab else None, None),
        workers=_workers(args, lab, specs, netns, pcap),
        log_level=getattr(args, "log_level", "info"),
        log_format=getattr(args, "log_format", "text"),
        console_pty=not args.no_console_pty and (lab is None or lab.console_pty),
    )


def _workers(
    args: argparse.Namespace,
    lab: Lab | None,
    specs: list[DeviceSpec],
    netns: bool,
    pcap: Path | None,
) -> int:
    """``--workers N`` (else the lab file's ``workers``, else 1), checked."""
    from ipgwsim.runtime.workers import check_workers  # noqa: PLC0415 (loaded on use)

    given = getattr(args, "workers", None)
    workers: int = given if given is not None else (lab.workers if lab else None) or 1
    check_workers(specs, workers, "netns" if netns else "loopback", pcap)
    return workers


def _ui(text: str | None) -> tuple[str, int] | None:
    """``--ui [HOST:]PORT``, checked (None: not given)."""
    if text is None:
        return None
    try:
        return parse_ui(text)
    except RuntimeSetupError as exc:
        raise RuntimeSetupError(f"--ui {text}: {exc}") from None


def _console_tcp(args: argparse.Namespace, lab: Lab | None) -> bool:
    """Consoles on TCP: off unless ``--console-tcp``, ``--console-port`` or the lab file
    asks for them; ``--no-console-tcp`` turns them off."""
    if args.no_console_tcp:
        if args.console_port is not None:
            raise RuntimeSetupError(
                "--console-port serves the consoles on TCP, --no-console-tcp does not: "
                "give one of them"
            )
        return False
    if args.console_tcp or args.console_port is not None:
        return True
    return lab is not None and lab.console_tcp


def run(args: argparse.Namespace) -> int:
    from ipgwsim.runtime.labfile import LabError  # noqa: PLC0415 (loaded on use)

    _log_to_stderr(args.log_level, args.log_format)
    try:
        loop = choose_loop(args.loop)
        logging.getLogger("ipgwsim.runtime").debug("event loop: %s", loop)
        return run_on(loop, _run(replace(plan(args), loop=loop)))
    except ImpairmentError as exc:
        print(f"ipgwsim run: --impair: {exc}", file=sys.stderr)
        return 2
    except (RuntimeSetupError, LabError) as exc:
        print(f"ipgwsim run: {describe_error(exc)}", file=sys.stderr)
        return 2


#: ``--log-level`` values, least important first.
LOG_LEVELS = ("debug", "info", "warning", "error")


class _LogFields(logging.Filter):
    """Gives every record the fields of the JSON form: ``time`` (UTC, ISO 8601) and
    ``device`` (None unless the message is about one device)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.time = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        if not hasattr(record, "device"):
            record.device = None
        return True


def _log_to_stderr(level: str = "info", form: str = "text") -> None:
    """The runtime's log on stderr: ``ipgwsim run: MESSAGE`` lines, or one JSON object
    per line (python-json-logger) with ``time``, ``level``, ``logger``, ``message`` and
    ``device``.

    A second ``run`` in one process replaces the handler the first one added, so its
    level and format hold; a handler someone else put there (a program that embeds
    ``run`` and set up its own logging) stays, and only the level is set."""
    log = logging.getLogger("ipgwsim.runtime")
    log.setLevel(level.upper())
    for old in [h for h in log.handlers if getattr(h, _OURS, False)]:
        log.removeHandler(old)
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _OURS, True)
    if form == "json":
        from pythonjsonlogger.json import JsonFormatter  # noqa: PLC0415 (loaded on use)

        handler.addFilter(_LogFields())
        handler.setFormatter(
            JsonFormatter(
                "{time}{levelname}{name}{message}{device}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger"},
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("ipgwsim run: %(message)s"))
    log.addHandler(handler)
    log.propagate = False


#: Marks the handler :func:`_log_to_stderr` added.
_OURS = "ipgwsim_run_handler"


def summary(hosts: list[DeviceHost]) -> str:
    """``2 x IP800, 3 x IP811``: the models, in the order they were added."""
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host.profile.model] = counts.get(host.profile.model, 0) + 1
    return ", ".join(f"{n} x {model}" for model, n in counts.items()) or "no devices"


#: What ends ``run`` as Ctrl-C does, saving every flash: SIGINT, SIGTERM, and SIGHUP (its
#: terminal went away, or a supervisor asks it to end).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


async def _run(plan: Plan) -> int:
    from ipgwsim.runtime.runtime import Runtime  # noqa: PLC0415 (loaded on use)

    if not plan.netns:  # in namespaces, each device binds in its own (as root)
        ports = {plan.http_port} | {s.http_port for s in plan.specs if s.http_port is not None}
        for http_port in sorted(ports):
            check_http_port(http_port)
    if plan.workers > 1:
        return await _run_workers(plan)
    clock = ScaledClock(plan.speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Runtime(
            plan.state,
            port=plan.port,
            share_port=plan.share_port,
            clock=clock,
            profiles_dir=plan.profiles_dir,
            console_tcp=plan.console_tcp,
            console_pty=plan.console_pty,
            console_port_base=plan.console_port,
            http_port=plan.http_port,
            network="netns" if plan.netns else "loopback",
            attachment=plan.attachment,
            impairment=plan.impairment,
            pcap=plan.pcap,
            ui=plan.ui,
        ) as runtime:
            listed = False

            def web_changed(host: DeviceHost) -> None:
                line = web_line(host)
                if listed and line is not None:  # before the listing, it says so itself
                    print(line, flush=True)

            runtime.subscribe_web(web_changed)
            hosts = await runtime.add_many_turning(plan.specs)
            for host in hosts:
                await host.web_settled()
            if plan.netns:
                links = plan.attachment or "host"
                where = f"in network namespaces, links {links}, port {plan.port}"
            else:
                where = f"on loopback, broadcast {LOOPBACK_BROADCAST}:{plan.port}"
                if plan.share_port:
                    where += " (shared)"
            print(
                f"ipgwsim: {summary(hosts)} {where}, speed {plan.speed:g}x, "
                f"state {runtime.state.path}; Ctrl-C stops"
            )
            if plan.unprivileged:
                print(
                    f"ipgwsim: {UNPRIVILEGED_REASON}: {', '.join(plan.unprivileged)}; "
                    f"--port and --http-port choose others"
                )
            lines = device_lines(hosts) + tcp_lines(hosts) + web_lines(hosts)
            if runtime.impairment is not None:
                lines.append(f"impairment on every device: {runtime.impairment.to_text()}")
            for host in hosts:
                own = host.link.impairment
                if own != runtime.impairment:
                    lines.append(f"{host.name}  impairment: {own.to_text() if own else 'none'}")
            lines += [
                f"capture: {c.path} (pcapng, one interface per device)" for c in runtime.captures
            ]
            if runtime.ui is not None:
                lines.append(ui_line(runtime.ui.url, runtime.ui.token_file, runtime.ui.token))
            print("\n".join(lines), flush=True)
            listed = True
            await stop.wait()
            print("ipgwsim: stopping, saving flash images", flush=True)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    return 0


def listing_lines(rows: list[dict[str, Any]]) -> list[str]:
    """:func:`device_lines`, :func:`tcp_lines` and :func:`web_lines` from the JSON the
    workers give of their devices (DEVICE with its ``console``)."""
    from ipgwsim.runtime.consoletcp import CONSOLE_HOST  # noqa: PLC0415 (loaded on use)

    table = [["NAME", "MODEL", "MAC", "CONSOLE", "MODE", "LED"]]
    tcp = []
    web = []
    for row in rows:
        console = row["console"]
        table.append(
            [row["name"], row["model"], row["mac"], console["pty"] or "-", row["mode"], row["led"]]
        )
        if console["tcp_port"] is not None:
            tcp.append(
                [
                    row["name"],
                    "console on TCP:",
                    f"socket://{CONSOLE_HOST}:{console['tcp_port']}",
                    f"rfc2217://{CONSOLE_HOST}:{console['rfc2217_port']}",
                ]
            )
        if row["web"] is not None:
            web.append([row["name"], "web:", row["web"]])
        elif row["web_error"] is not None:
            web.append([row["name"], "web:", f"none ({row['web_error']})"])
        elif row["mode"] == "running firmware":
            web.append([row["name"], "web:", "none (ETH0 has no address: DHCP client)"])
    return columns(table) + (columns(tcp) if tcp else []) + (columns(web) if web else [])


async def _run_workers(plan: Plan) -> int:
    """``run`` with ``--workers N`` (N > 1): the same lines, from the workers' devices."""
    from ipgwsim.runtime.workers import Workers  # noqa: PLC0415 (loaded on use)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Workers(
            plan.state,
            plan.specs,
            workers=plan.workers,
            port=plan.port,
            share_port=plan.share_port,
            speed=plan.speed,
            profiles_dir=plan.profiles_dir,
            console_tcp=plan.console_tcp,
            console_pty=plan.console_pty,
            console_port_base=plan.console_port,
            http_port=plan.http_port,
            impairment=plan.impairment,
            ui=plan.ui,
            log_level=plan.log_level,
            log_format=plan.log_format,
            loop=plan.loop,
        ) as runtime:

            def web_changed(message: dict[str, Any]) -> None:
                if message["url"] is not None:
                    print(columns([[message["web"], "web:", message["url"]]])[0], flush=True)
                elif message["error"] is not None:
                    shown = f"none ({message['error']})"
                    print(columns([[message["web"], "web:", shown]])[0], flush=True)

            rows = runtime.listing()
            models: dict[str, int] = {}
            for row in rows:
                models[row["model"]] = models.get(row["model"], 0) + 1
            where = f"on loopback, broadcast {LOOPBACK_BROADCAST}:{plan.port}"
            if plan.share_port:
                where += " (shared)"
            pids = ", ".join(str(w.pid) for w in runtime.workers)
            print(
                f"ipgwsim: {', '.join(f'{n} x {m}' for m, n in models.items())} {where}, "
                f"speed {plan.speed:g}x, {plan.workers} workers (pids {pids}), "
                f"state {runtime.state.path}; Ctrl-C stops"
            )
            if plan.unprivileged:
                print(
                    f"ipgwsim: {UNPRIVILEGED_REASON}: {', '.join(plan.unprivileged)}; "
                    f"--port and --http-port choose others"
                )
            lines = listing_lines(rows)
            if runtime.impairment is not None:
                lines.append(f"impairment on every device: {runtime.impairment.to_text()}")
            for row in rows:
                if row["impairment"] != (
                    runtime.impairment.to_text() if runtime.impairment else None
                ):
                    lines.append(f"{row['name']}  impairment: {row['impairment'] or 'none'}")
            if runtime.ui is not None:
                lines.append(ui_line(runtime.ui.url, runtime.ui.token_file, runtime.ui.token))
            print("\n".join(lines), flush=True)
            runtime.subscribe_web(web_changed)
            failed = asyncio.ensure_future(runtime.failed.wait())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
            failed.cancel()
            stopped.cancel()
            if runtime.failure is not None:  # logged (on stderr) by the runtime
                return 1
            print("ipgwsim: stopping, saving flash images", flush=True)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    return 0

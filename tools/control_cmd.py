"""``ipgwsim status|press|power|cut|impair|watch|console``: control a running ``ipgwsim run``.

Each command talks to the runtime of a state directory (``--state DIR``, default as
for ``ipgwsim run``) through its control socket. A device is named by its name
(``ip6000-1``) or its MAC in any common spelling (``00:90:33:10:00:01``,
``00-90-33-10-00-01``, ``009033100001``). Errors are one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipgwsim.events.render import describe_fields
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.impair import Impairment, ImpairmentError
from ipgwsim.runtime.press import MAX_HOLD, check_hold

if TYPE_CHECKING:
    # Loaded by _call: building the parser (every ipgwsim command) stays cheap.
    from ipgwsim.runtime.control import ControlClient

#: Seconds to wait for a reply to a quick request.
REPLY_TIMEOUT = 30.0

Handler = Callable[[argparse.Namespace, "ControlClient"], int]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``status``, ``press``, ``power``, ``cut``, ``impair``, ``watch`` and ``console``."""
    parser = _add(subparsers, "status", "show the devices of a running runtime", _status)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")

    parser = _add(subparsers, "press", "press a device's reset button", _press, device=True)
    parser.add_argument(
        "--hold",
        type=_hold,
        default=0.5,
        metavar="S",
        help=f"device seconds to hold the button (default 0.5; 1.5-2 gives TFTP mode; "
        f"at most {MAX_HOLD:g})",
    )

    parser = _add(subparsers, "power", "switch a device off or on", _power, device=True)
    parser.add_argument("state_of_power", choices=["off", "on"], metavar="off|on")

    parser = _add(
        subparsers, "cut", "cut a device's power at a chosen flash operation", _cut, device=True
    )
    parser.add_argument(
        "--at-op",
        type=int,
        required=True,
        metavar="N",
        help="the N-th flash operation from now is interrupted (1 = the next one)",
    )
    parser.add_argument(
        "--mode",
        choices=["torn", "atomic"],
        default="torn",
        help="torn: part of the operation lands (default); atomic: none of it",
    )

    parser = _add(
        subparsers, "impair", "impair a device's link, or show how it is impaired", _impair, True
    )
    parser.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC|off",
        help="e.g. loss=30%%,dup=10%%,reorder=10%%,delay=20ms,jitter=5ms,corrupt=1%%,dir=in,"
        "seed=7 (docs/runtime.md, Impaired links); off: none; without it: show",
    )

    parser = _add(subparsers, "watch", "print LED, mode and blink events as they happen", _watch)
    parser.add_argument("device", nargs="?", metavar="DEVICE", help="only this device")
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line per event (docs/runtime.md, JSON output)",
    )

    parser = _add(
        subparsers,
        "console",
        "print a device's last console lines, or attach to its console",
        _console,
        True,
    )
    parser.add_argument(
        "--lines", type=int, metavar="N", help="default 50 (with --attach: 0, none)"
    )
    parser.add_argument(
        "--attach",
        action="store_true",
        help="type at the console: keyboard to the device, its output here (Ctrl-] leaves); "
        "without a terminal, stdin to the device until its end",
    )
    parser.add_argument(
        "--tcp",
        action="store_true",
        help="with --attach: through the console's TCP port (a session of its own; "
        "needs run --console-tcp) instead of its pty",
    )
    parser.add_argument(
        "--linger",
        type=_seconds,
        default=0.5,
        metavar="S",
        help="with --attach and no terminal: after the end of stdin, stop when the device "
        "has printed nothing for S seconds (default 0.5)",
    )


def _add(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
    device: bool = False,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=f"{help_text}. {__doc__}")
    if device:
        parser.add_argument("device", metavar="DEVICE", help="device name or MAC")
    parser.add_argument(
        "--state", type=Path, metavar="DIR", help="state directory of the running runtime"
    )
    parser.set_defaults(handler=lambda args: _call(args, handler))
    return parser


def _call(args: argparse.Namespace, handler: Handler) -> int:
    from ipgwsim.runtime.control import ControlClient, ControlError  # noqa: PLC0415 (loaded on use)
    from ipgwsim.runtime.statedir import default_state_dir  # noqa: PLC0415 (loaded on use)

    state: Path = args.state if args.state is not None else default_state_dir()
    spec = getattr(args, "spec", None)
    problem = check_impairment(spec) if spec is not None else None
    if problem is not None:  # said before asking the runtime
        print(f"ipgwsim {args.command}: {problem}", file=sys.stderr)
        return 2
    quick = args.command not in ("press", "watch")
    try:
        with ControlClient(state, timeout=REPLY_TIMEOUT if quick else None) as client:
            return handler(args, client)
    except (RuntimeSetupError, ControlError) as exc:
        print(f"ipgwsim {args.command}: {describe_error(exc)}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(f"ipgwsim {args.command}: the runtime did not answer in time", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def link_counts(counters: dict[str, dict[str, int]]) -> str:
    """``dropped/duplicated/reordered/corrupted``, both directions together."""
    keys = ("dropped", "duplicated", "reordered", "corrupted")
    return "/".join(str(counters["sent"][k] + counters["received"][k]) for k in keys)


def status_table(devices: list[dict[str, Any]]) -> list[str]:
    """The ``ipgwsim status`` table (a LINK column when a device has a link: netns)."""
    links = any(d.get("link") for d in devices)
    link = ["LINK"] if links else []
    rows = [
        [
            "NAME", "MODEL", "MAC", *link, "MODE", "LED", "IP", "WEB", "BOOT", "FIRMWARE",
            "IMPAIRMENT", "DROP/DUP/REORD/CORRUPT",
        ]
    ]  # fmt: skip
    for d in devices:
        rows.append(
            [
                d["name"],
                d["model"],
                d["mac"],
                *([_text(d.get("link"))] if links else []),
                d["mode"],
                d["led"],
                _text(d["ip"]),
                web_cell(d),
                _text(d["boot_build"]),
                _text(d["firmware_build"]),
                _text(d["impairment"]),
                link_counts(d["counters"]),
            ]
        )
    lines = _columns(rows)
    lines += [f"{d['name']}: {d['web_error']}" for d in devices if d.get("web_error")]
    return lines


def web_cell(device: dict[str, Any]) -> str:
    """The WEB column: the web server's URL while it listens, ``error (below)`` (the
    error is said below the table), or the port it will listen on once the firmware
    has an address: ``- (port 8080)``."""
    if device.get("web"):
        return str(device["web"])
    if device.get("web_error"):
        return "error (below)"
    return f"- (port {device['http_port']})"


def describe_event(event: dict[str, Any]) -> str:
    """One watched event as a person reads it: ``LED: steady orange``, ``blink 3``."""
    line = describe_fields(event)
    return line if line is not None else str(event.get("event"))


def _status(args: argparse.Namespace, client: ControlClient) -> int:
    reply = client.request("status")
    devices = reply["devices"]
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    if devices:
        print("\n".join(status_table(devices)))
    else:
        print("no devices")
    if reply.get("ui"):
        print(f"ui: {reply['ui']}")
    return 0


def _hold(text: str) -> float:
    """``--hold``: a number of device seconds the runtime takes (checked before connecting)."""
    try:
        hold = float(text)
        check_hold(hold)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    except RuntimeSetupError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return hold


def _press(args: argparse.Namespace, client: ControlClient) -> int:
    from ipgwsim.runtime.console import format_line  # noqa: PLC0415 (asyncio, on use)

    reply = client.request("press", device=args.device, hold=args.hold)
    print(f"{reply['name']}: reset button held {args.hold:g} s")
    for event in reply["events"]:
        print(f"  {format_line(event['time'], describe_event(event))}")
    print(f"{reply['name']}: {reply['mode']}, LED {reply['led']}")
    return 0


def _power(args: argparse.Namespace, client: ControlClient) -> int:
    reply = client.request("power", device=args.device, on=args.state_of_power == "on")
    print(f"{reply['name']}: power {args.state_of_power}: {reply['mode']}, LED {reply['led']}")
    return 0


def _cut(args: argparse.Namespace, client: ControlClient) -> int:
    reply = client.request("cut", device=args.device, at_op=args.at_op, mode=args.mode)
    print(
        f"{reply['device']}: power cut armed at flash operation {reply['at_op']} "
        f"({args.mode}, {args.at_op} from now)"
    )
    return 0


def _impair(args: argparse.Namespace, client: ControlClient) -> int:
    if args.spec is None:
        reply = client.request("impair", device=args.device)
        print(f"{reply['device']}: impairment {reply['impairment'] or 'off'}")
    else:
        reply = client.request("impair", device=args.device, impairment=args.spec)
        print(
            f"{reply['device']}: impairment {reply['impairment'] or 'off'} "
            f"(was {reply['previous'] or 'off'})"
        )
    for direction in ("sent", "received"):
        counts = reply["counters"][direction]
        print(
            f"  {direction}: {counts['datagrams']} datagrams, {counts['dropped']} dropped, "
            f"{counts['duplicated']} duplicated, {counts['reordered']} reordered, "
            f"{counts['corrupted']} corrupted"
        )
    return 0


def check_impairment(text: str) -> str | None:
    """Why ``text`` is no impairment (``off`` is one), or None."""
    try:
        Impairment.parse(text)
    except ImpairmentError as exc:
        return str(exc)
    return None


def _watch(args: argparse.Namespace, client: ControlClient) -> int:
    from ipgwsim.runtime.console import format_line  # noqa: PLC0415 (asyncio, on use)

    try:
        events = client.watch(args.device)
        what = args.device if args.device is not None else "all devices"
        print(f"ipgwsim watch: watching {what}; Ctrl-C stops", file=sys.stderr, flush=True)
        for event in events:
            if args.json:  # the runtime's JSON form of the event (events/render.py), as sent
                line = json.dumps(event, separators=(",", ":"))
            else:
                line = format_line(event["time"], f"{event['device']}  {describe_event(event)}")
            print(line, flush=True)
    except KeyboardInterrupt:
        return 0
    print("ipgwsim watch: the runtime stopped", file=sys.stderr)
    return 0


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"must be 0 to 3600 seconds, not {text}")
    return seconds


def _console(args: argparse.Namespace, client: ControlClient) -> int:
    if not args.attach and args.tcp:
        print("ipgwsim console: --tcp needs --attach", file=sys.stderr)
        return 2
    lines = args.lines if args.lines is not None else (0 if args.attach else 50)
    reply = client.request("console", device=args.device, lines=lines)
    if args.attach:
        client.close()  # the runtime need not keep a control connection for the attach
        return _attach(args, reply)
    where = f"{reply['device']}: console {reply['pty'] or 'without a pty'}"
    if reply.get("tcp_port") is not None:
        where += f", socket://127.0.0.1:{reply['tcp_port']}"
    if reply.get("rfc2217_port") is not None:
        where += f", rfc2217://127.0.0.1:{reply['rfc2217_port']}"
    print(where)
    for line in reply["lines"]:
        print(line)
    return 0


def _attach(args: argparse.Namespace, reply: dict[str, Any]) -> int:
    """``--attach``: the console's pty (or TCP port) to this terminal or pipe."""
    from ipgwsim.tools import console_attach  # noqa: PLC0415 (only --attach needs it)

    device = reply["device"]
    url = reply["pty"]
    if args.tcp:
        if reply.get("tcp_port") is None:
            print(
                f"ipgwsim console: the console of {device} is not served on TCP "
                "(start the runtime with --console-tcp)",
                file=sys.stderr,
            )
            return 2
        url = f"socket://127.0.0.1:{reply['tcp_port']}"
    elif url is None:
        print(
            f"ipgwsim console: {device} has no pty (the runtime runs with --no-console-pty):"
            " attach with --tcp (start the runtime with --console-tcp too)",
            file=sys.stderr,
        )
        return 2
    for line in reply["lines"]:
        print(line)
    try:
        port = console_attach.open_console(url, device)
    except console_attach.AttachError as exc:
        print(f"ipgwsim console: {exc}", file=sys.stderr)
        return 2
    stdin, stdout, stderr = console_attach.stdio()
    return console_attach.attach(
        port, device, stdin=stdin, stdout=stdout, stderr=stderr, linger=args.linger
    )

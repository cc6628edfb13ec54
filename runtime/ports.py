"""The runtime's default ports, and who holds a TCP port a web server cannot have.

One rule for both default ports (docs/runtime.md, *Default ports*): as root the
vendor's port (gwload and TFTP on UDP 69, the web servers on TCP 80); otherwise,
as ports below 1024 need root, an unprivileged one (6969, 8080). ``ipgwsim run``
and ``ipgwsim demo`` share these constants.

:func:`check_http_port` is what ``ipgwsim run`` checks before it starts on loopback:
a port no device's web server could bind (privileged without root, or held on every
address by another program) is refused at once, in one line. A web server that
cannot bind its own address later is one device's problem
(:func:`http_bind_problem`), with the holder named when it can be found
(:func:`tcp_holder`, with psutil: a process of another user is named only to root).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from ipgwsim.runtime.errors import RuntimeSetupError, describe_error

__all__ = [
    "DEFAULT_HTTP_PORT",
    "DEFAULT_PORT",
    "UNPRIVILEGED_HTTP_PORT",
    "UNPRIVILEGED_PORT",
    "check_http_port",
    "default_http_port",
    "default_port",
    "http_bind_problem",
    "is_loopback",
    "parse_ui",
    "tcp_holder",
]

#: gwload's and TFTP's UDP port as root (the vendor's: TFTP is port 69).
DEFAULT_PORT = 69
#: ... and otherwise (ports below 1024 need root).
UNPRIVILEGED_PORT = 6969
#: The devices' web servers listen here when the runtime runs as root.
DEFAULT_HTTP_PORT = 80
#: ... and here otherwise.
UNPRIVILEGED_HTTP_PORT = 8080

#: Why a port other than the vendor's is the default, said once by ``ipgwsim run``.
UNPRIVILEGED_REASON = "not root (ports below 1024 need root)"

_WILDCARDS = ("0.0.0.0", "::")
#: Where ``run --ui PORT`` serves the front panel without a host.
DEFAULT_UI_HOST = "127.0.0.1"


def default_port(euid: int) -> int:
    """The gwload/TFTP UDP port for a runtime of user ``euid``: 69 for root, else 6969."""
    return DEFAULT_PORT if euid == 0 else UNPRIVILEGED_PORT


def default_http_port(euid: int) -> int:
    """The web servers' TCP port for a runtime of user ``euid``: 80 for root, else 8080."""
    return DEFAULT_HTTP_PORT if euid == 0 else UNPRIVILEGED_HTTP_PORT


def _listeners(port: int) -> list[tuple[str, str]]:
    """The TCP listeners on ``port``: (address, who), who being ``python3 (pid 4242)``,
    or ``another program`` when its process cannot be seen (another user's, to anyone
    but root)."""
    import psutil  # noqa: PLC0415 (only after a bind failed: every command imports this module)

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return []
    found = []
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        who = "another program"
        if conn.pid is not None:
            try:
                process = psutil.Process(conn.pid)
                who = _worker_of(process) or f"{process.name()} (pid {conn.pid})"
            except psutil.Error:
                who = f"another program (pid {conn.pid})"
        found.append((conn.laddr.ip, who))
    return found


def _worker_of(process: Any) -> str | None:
    """A worker of ``ipgwsim run --workers N`` as the runtime users see, its parent
    (``the ipgwsim runtime of state directory /x (pid 12)``, from the worker's command
    line: its private folder, the parent's pid and state directory); None for another
    process."""
    from ipgwsim.runtime.workers import WORKER_MODULE  # noqa: PLC0415 (after a failure only)

    argv = process.cmdline()
    if WORKER_MODULE not in argv:
        return None
    args = argv[argv.index(WORKER_MODULE) + 1 :]
    if len(args) == 3 and args[1].isdigit():
        return f"the ipgwsim runtime of state directory {args[2]} (pid {args[1]})"
    return f"a worker (pid {process.pid}) of the ipgwsim runtime of pid {process.ppid()}"


def tcp_holder(ip: str, port: int) -> str | None:
    """Who listens on TCP ``(ip, port)``, on that address or on every address
    (:func:`_listeners`), or None when no such listener is seen."""
    listeners = _listeners(port)
    for address in (ip, *_WILDCARDS):
        for where, who in listeners:
            if where == address:
                return who
    return None


def http_bind_problem(ip: str, port: int, exc: OSError) -> str:
    """One line on why a web server cannot listen on ``(ip, port)``."""
    text = f"cannot serve HTTP on {ip}:{port}: "
    if exc.errno == errno.EACCES:
        return (
            text + f"{describe_error(exc)} (ports below 1024 need root: use another HTTP "
            f"port, e.g. --http-port {UNPRIVILEGED_HTTP_PORT})"
        )
    if exc.errno == errno.EADDRINUSE:
        holder = tcp_holder(ip, port)
        return text + f"address in use by {holder or 'another program'}"
    return text + describe_error(exc)


def check_http_port(port: int) -> None:
    """Refuse a web server port that no device on loopback could listen on: one below
    1024 without root, or one another program listens on at every address (naming it).
    A listener on one address (127.0.0.1:8080) does not stop the devices, which serve
    other addresses."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    except OSError as exc:
        if exc.errno == errno.EACCES:
            raise RuntimeSetupError(
                f"cannot serve HTTP on TCP port {port}: ports below 1024 need root "
                f"(or CAP_NET_BIND_SERVICE); use an unprivileged one, e.g. --http-port "
                f"{UNPRIVILEGED_HTTP_PORT}"
            ) from None
        if exc.errno != errno.EADDRINUSE:
            raise RuntimeSetupError(
                f"cannot serve HTTP on TCP port {port}: {describe_error(exc)}"
            ) from None
    else:
        return
    finally:
        probe.close()
    listeners = _listeners(port)
    for wildcard in _WILDCARDS:
        for where, who in listeners:
            if where == wildcard:
                raise RuntimeSetupError(
                    f"TCP port {port} is in use on every address by {who}: the devices' "
                    f"web servers cannot listen on it; use another --http-port"
                )


def parse_ui(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` of ``run --ui``: an IP address (``[::1]`` in brackets, ``localhost``
    for 127.0.0.1; default :data:`DEFAULT_UI_HOST`) and a TCP port (0: any free one).
    RuntimeSetupError says what is wrong."""
    host, colon, port_text = text.strip().rpartition(":")
    if not colon:
        host = DEFAULT_UI_HOST
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise RuntimeSetupError(f"{text!r}: write an IPv6 address in brackets: [::1]:PORT")
    if host == "localhost":
        host = DEFAULT_UI_HOST
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        raise RuntimeSetupError(
            f"{host!r} is not an IP address (give [HOST:]PORT, e.g. 127.0.0.1:8088 or 0)"
        ) from None
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise RuntimeSetupError(f"{port_text!r} is not a TCP port (0-65535; 0: any free one)")
    return host, port


def check_ui_beside_web(ui: tuple[str, int] | None, web_port: int) -> None:
    """Refuse a UI port on every address (0.0.0.0, ::) that is a web port of devices on
    loopback: their web servers listen on that port on their own loopback addresses."""
    if ui is None or not ipaddress.ip_address(ui[0]).is_unspecified or ui[1] != web_port:
        return
    raise RuntimeSetupError(
        f"--ui {ui[0]}:{ui[1]} takes TCP port {ui[1]} on every address, and the devices' "
        "web servers listen on it on theirs: choose another --ui port (0: any free one)"
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address) is a loopback address (127.0.0.0/8, ::1)."""
    return ipaddress.ip_address(host).is_loopback

"""The control API of a runtime, client side: HTTP/JSON on ``<state>/control.sock``.

The server (``runtime/api.py``, ``runtime/apiserver.py``) runs inside the runtime;
``docs/control-api.md`` has the routes. :class:`ControlClient` is the small blocking client
the ``ipgwsim`` commands, the pyserial URL handler and the labgrid example use: stdlib
``http.client`` on the Unix socket (no aiohttp: ``ipgwsim status`` stays light), one
keep-alive connection, the commands of the JSON-lines API it replaced::

    client.request("status")
    client.request("press", device="ip6000-1", hold=1.8)
    client.request("button", device="ip6000-1", down=True)
    client.request("power", device="ip6000-1", on=False)
    client.request("cut", device="ip6000-1", at_op=1, mode="torn")
    client.request("console", device="ip6000-1", lines=50)
    client.request("impair", device="ip6000-1", impairment="loss=30%,seed=7")  ("off": none)
    client.watch("ip6000-1")        (device optional; the events until the runtime stops)

A reply is ``{"ok": true, ...}``; ``{"ok": false, "error": ...}`` raises
:class:`ControlError` with that text. The JSON forms of devices and events are made here
too (:func:`device_json`, :func:`event_json`), for the server.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from ipgwsim.events import Event
from ipgwsim.events.render import event_fields
from ipgwsim.runtime.errors import NoRuntime, RuntimeSetupError, describe_error
from ipgwsim.runtime.statedir import CONTROL_SOCKET

if TYPE_CHECKING:
    # Only for annotations: a client (ipgwsim status) does not load the device model.
    from ipgwsim.device import DeviceStatus
    from ipgwsim.runtime.host import DeviceHost
    from ipgwsim.runtime.runtime import Runtime

__all__ = [
    "COMMANDS",
    "ControlClient",
    "ControlError",
    "console_json",
    "device_json",
    "event_json",
    "link_json",
    "network_json",
    "status_json",
    "unix_socket",
]

#: Unix socket paths longer than this are reached through /proc/self/fd (limit: 108).
_SUN_PATH_SAFE = 100


class ControlError(Exception):
    """The runtime answered ``{"ok": false}``; the text is its error."""


def status_json(status: DeviceStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "model": status.model,
        "mac": status.mac,
        "mode": status.mode.value,
        "led": status.led.value,
        "ip": status.ip,
        "boot_build": status.boot_build,
        "firmware_build": status.firmware_build,
    }


def link_json(host: DeviceHost) -> dict[str, Any]:
    """The impairment in force on a device's datagrams (text, or None) and the counters."""
    impairment = host.link.impairment
    return {
        "impairment": impairment.to_text() if impairment is not None else None,
        "counters": host.link.counters().as_dict(),
    }


def device_json(host: DeviceHost) -> dict[str, Any]:
    """DEVICE: the status fields, ``link`` (the host-side link name, None on loopback), the
    impairment and the counters (:func:`link_json`), ``degraded`` (why its flash image
    cannot be saved now, or None), and its web server: ``http_port``, ``web`` (its URL
    while it listens, or None) and ``web_error`` (why it cannot listen, or None)."""
    return {
        **status_json(host.status()),
        "link": host.link_name,
        **link_json(host),
        "degraded": host.degraded,
        "http_port": host.http_port,
        "web": host.web_url,
        "web_error": host.web_error,
    }


def network_json(runtime: Runtime) -> dict[str, Any]:
    """NETWORK: where clients reach the runtime's devices: the network's kind, the UDP
    port of gwload and TFTP, and the address a client broadcasts to (gwload's /bcast)."""
    return {
        "kind": runtime.network.kind,
        "port": runtime.port,
        "broadcast": runtime.network.broadcast,
    }


def console_json(host: DeviceHost) -> dict[str, Any]:
    """A device's console: its pty and its TCP ports (None when not served on TCP)."""
    tcp = host.console_tcp
    return {
        "pty": host.console.path,
        "tcp_port": tcp.raw_port if tcp is not None else None,
        "rfc2217_port": tcp.rfc2217_port if tcp is not None else None,
    }


def event_json(name: str, event: Event, time: float) -> dict[str, Any]:
    """One watched event as JSON: ``{"device", "time", "event", ...}``."""
    return {"device": name, "time": round(time, 6), **event_fields(event)}


def unix_socket(path: Path) -> tuple[socket.socket, str, int | None]:
    """A Unix stream socket and the address to use for ``path`` (long paths via /proc);
    the caller closes the descriptor (the third item) once bound or connected."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    text = str(path)
    if len(os.fsencode(text)) <= _SUN_PATH_SAFE:
        return sock, text, None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return sock, f"/proc/self/fd/{fd}/{path.name}", fd


#: ``request(cmd)``: the HTTP method and the route after ``/v1/devices/D/`` ("": the
#: device itself); status and watch have routes of their own.
COMMANDS: dict[str, tuple[str, str]] = {
    "device": ("GET", ""),
    "press": ("POST", "press"),
    "button": ("POST", "button"),
    "power": ("POST", "power"),
    "cut": ("POST", "cut"),
    "console": ("GET", "console"),
    "impair": ("GET", "impair"),
    "panel": ("GET", "panel"),
    "flash": ("GET", "flash"),
}
#: Commands whose arguments travel in the query string.
_QUERY = {"console"}


class _UnixConnection(http.client.HTTPConnection):
    """HTTP on the control socket (``Host: ipgwsim``)."""

    def __init__(self, path: Path, timeout: float | None) -> None:
        super().__init__("ipgwsim", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock, address, fd = unix_socket(self.path)
        try:
            sock.settimeout(self.timeout)
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        finally:
            if fd is not None:
                os.close(fd)
        self.sock = sock


class ControlClient:
    """A blocking client of a runtime's control socket (used by the ``ipgwsim`` commands).

    Connects at once (no runtime: :class:`NoRuntime`); ``timeout``: real seconds a reply
    may take (None: no limit), :class:`TimeoutError` after that.
    """

    def __init__(self, state_dir: Path, *, timeout: float | None = None) -> None:
        self.state_dir = state_dir
        self.path = state_dir / CONTROL_SOCKET
        self._http = _UnixConnection(self.path, timeout)
        try:
            self._http.connect()
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoRuntime(
                f"no ipgwsim runtime is running with state directory {state_dir} "
                f"(no control socket {self.path}): start one with "
                f"`ipgwsim run MODEL --state {state_dir}`"
            ) from None
        except OSError as exc:
            raise RuntimeSetupError(
                f"cannot reach the runtime at {self.path}: {describe_error(exc)}"
            ) from None

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(
        self, method: str, target: str, body: dict[str, Any] | None = None
    ) -> http.client.HTTPResponse:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            self._http.request(method, target, body=data, headers=headers)
            return self._http.getresponse()
        except http.client.RemoteDisconnected:
            self._http.close()
            raise RuntimeSetupError(
                f"the runtime at {self.path} closed the connection without answering"
            ) from None
        except http.client.HTTPException as exc:
            self._http.close()
            raise RuntimeSetupError(
                f"the runtime at {self.path} answered with something that is not the "
                f"control API's HTTP ({type(exc).__name__}: {describe_error(exc)})"
            ) from None

    def _json(self, response: http.client.HTTPResponse, data: bytes) -> dict[str, Any]:
        try:
            reply = json.loads(data)
        except (ValueError, RecursionError):
            reply = None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            shown = data[:60].decode("utf-8", "replace")
            raise RuntimeSetupError(
                f"the runtime at {self.path} answered with something that is not the "
                f"control API's JSON (HTTP {response.status}: {shown!r})"
            )
        if not reply["ok"]:
            raise ControlError(str(reply.get("error") or "the runtime refused the request"))
        return reply

    @staticmethod
    def target(cmd: str, args: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
        """The method, path and JSON body of a request (:data:`COMMANDS`)."""
        args = dict(args)
        if cmd == "status":
            method, path = "GET", "/v1/status"
        elif cmd in COMMANDS:
            method, route = COMMANDS[cmd]
            device = args.pop("device", None)
            if not isinstance(device, str):
                raise ControlError(f"{cmd} needs a device (a name or MAC), not {device!r}")
            path = f"/v1/devices/{quote(device, safe='')}" + (f"/{route}" if route else "")
            if cmd == "impair" and "impairment" in args:
                method = "POST"
        else:
            known = ", ".join(["status", *COMMANDS, "watch"])
            raise ControlError(f"unknown command {cmd!r} (known: {known})")
        if method == "GET" or cmd in _QUERY:
            if args:
                path += "?" + urlencode(args)
            return "GET", path, None
        return method, path, args

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one request and return its reply; ``{"ok": false}`` raises ControlError."""
        method, path, body = self.target(cmd, args)
        response = self._send(method, path, body)
        data = response.read()
        return self._json(response, data)

    def watch(self, device: str | None = None) -> Iterator[dict[str, Any]]:
        """Subscribe now; the events, as JSON objects, until the runtime stops."""
        path = "/v1/watch" + (f"?{urlencode({'device': device})}" if device is not None else "")
        response = self._send("GET", path)
        if response.status != 200:
            self._json(response, response.read())
        self._json(response, response.readline())
        return self._events(response)

    def _events(self, response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
        try:
            while True:
                try:
                    line = response.readline()
                except (http.client.IncompleteRead, ConnectionError):
                    return  # the runtime went while streaming: the stream has ended
                if not line:
                    return
                yield json.loads(line)
        finally:
            response.close()

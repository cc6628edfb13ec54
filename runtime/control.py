"""The control API of a runtime: JSON lines on the Unix socket ``<state>/control.sock``.

One request per line, one reply per line (``docs/runtime.md`` has the full protocol)::

    {"cmd": "status"}
    {"cmd": "press", "device": "ip6000-1", "hold": 1.8}
    {"cmd": "power", "device": "ip6000-1", "on": false}
    {"cmd": "cut", "device": "ip6000-1", "at_op": 1, "mode": "torn"}
    {"cmd": "console", "device": "ip6000-1", "lines": 50}
    {"cmd": "impair", "device": "ip6000-1", "impairment": "loss=30%,seed=7"}  ("off": none)
    {"cmd": "watch", "device": "ip6000-1"}      (device optional; streams)

A reply is ``{"ok": true, ...}`` or ``{"ok": false, "error": "clear text"}``. ``watch``
answers ``{"ok": true, "watching": ...}`` and then one line per event until the client
disconnects. :class:`ControlServer` runs inside the runtime; :class:`ControlClient` is
the small blocking client the ``ipgwsim`` commands use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipgwsim.events import Event
from ipgwsim.events.render import event_fields
from ipgwsim.runtime.errors import NoRuntime, RuntimeSetupError, describe_error
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.private import PRIVATE_FILE
from ipgwsim.runtime.statedir import CONTROL_SOCKET

if TYPE_CHECKING:
    # Only for annotations: a client (ipgwsim status) does not load the device model.
    from ipgwsim.device import DeviceStatus
    from ipgwsim.runtime.host import DeviceHost
    from ipgwsim.runtime.runtime import Runtime

#: Longest request line the server reads.
MAX_LINE = 64 * 1024
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


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def _unix_socket(path: Path) -> tuple[socket.socket, str, int | None]:
    """A Unix stream socket and the address to use for ``path`` (long paths via /proc)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    text = str(path)
    if len(os.fsencode(text)) <= _SUN_PATH_SAFE:
        return sock, text, None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return sock, f"/proc/self/fd/{fd}/{path.name}", fd


_MISSING = object()


def _arg(
    request: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = _MISSING
) -> Any:
    """``request[key]``, checked against ``kind`` (true/false is no number here)."""
    value = request.get(key)
    if value is None:
        if default is _MISSING:
            raise ValueError(f"missing argument {key!r}")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ValueError(f"argument {key!r} has the wrong type: {value!r}")
    return value


class ControlServer:
    """Serves the control API of ``runtime`` on the Unix socket ``path``."""

    def __init__(self, runtime: Runtime, path: Path) -> None:
        self.runtime = runtime
        self.path = path
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # stale: the state directory's lock is ours
        sock, address, fd = _unix_socket(self.path)
        try:
            sock.bind(address)
            # Owner-only before it listens: whoever reaches it presses buttons and cuts power.
            os.chmod(address, PRIVATE_FILE)
        except OSError as exc:
            sock.close()
            raise RuntimeSetupError(
                f"cannot create the control socket {self.path}: {describe_error(exc)}"
            ) from None
        finally:
            if fd is not None:
                os.close(fd)
        self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(_encode({"ok": False, "error": "request line too long"}))
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("a request is a JSON object")
                except (ValueError, RecursionError) as exc:
                    why = (
                        "the JSON is nested too deeply"
                        if isinstance(exc, RecursionError)
                        else describe_error(exc)
                    )
                    writer.write(_encode({"ok": False, "error": f"bad request: {why}"}))
                    await writer.drain()
                    continue
                if request.get("cmd") == "watch":
                    await self._watch(request, reader, writer)
                    break
                writer.write(_encode(await self._reply(request)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _reply(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._dispatch(request)
        except (RuntimeSetupError, ValueError, TypeError) as exc:
            return {"ok": False, "error": describe_error(exc)}

    async def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        rt = self.runtime
        cmd = request.get("cmd")
        if cmd == "status":
            return {
                "ok": True,
                "devices": [device_json(host) for host in rt.devices],
                "network": network_json(rt),
            }
        if cmd == "impair":
            return self._impair(request)
        if cmd == "press":
            return await self._press(request)
        if cmd == "power":
            on = _arg(request, "on", bool)
            host = rt.power(_arg(request, "device", str), on)
            return {"ok": True, **device_json(host)}
        if cmd == "cut":
            at = rt.cut(
                _arg(request, "device", str),
                _arg(request, "at_op", int),
                _arg(request, "mode", str, "torn"),
            )
            name = rt.device(request["device"]).name
            return {"ok": True, "device": name, "at_op": at}
        if cmd == "console":
            host = rt.device(_arg(request, "device", str))
            count = _arg(request, "lines", int, 200)
            return {
                "ok": True,
                "device": host.name,
                **console_json(host),
                "dropped": host.console.dropped,
                "lines": host.console.tail(count),
            }
        known = "status, press, power, cut, console, impair, watch"
        return {"ok": False, "error": f"unknown command {cmd!r} (known: {known})"}

    def _impair(self, request: dict[str, Any]) -> dict[str, Any]:
        """Set a device's impairment (text form, ``off``); without one, only show it."""
        host = self.runtime.device(_arg(request, "device", str))
        previous = host.link.impairment
        text = _arg(request, "impairment", str, None)
        if text is not None:
            self.runtime.impair(host.name, Impairment.parse(text))
        return {
            "ok": True,
            "device": host.name,
            **link_json(host),
            "previous": previous.to_text() if previous is not None else None,
        }

    async def _press(self, request: dict[str, Any]) -> dict[str, Any]:
        rt = self.runtime
        host = rt.device(_arg(request, "device", str))
        hold = float(_arg(request, "hold", (int, float), 0.5))
        with rt.watch_timed(host.name) as watcher:
            await rt.press(host.name, hold)
            seen = [event_json(*item) for item in watcher.pending()]
        return {"ok": True, **device_json(host), "hold": hold, "events": seen}

    async def _watch(
        self, request: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        device = request.get("device")
        try:
            if device is not None and not isinstance(device, str):
                raise ValueError(f"argument 'device' has the wrong type: {device!r}")
            watcher = self.runtime.watch_timed(device)
        except (RuntimeSetupError, ValueError) as exc:
            writer.write(_encode({"ok": False, "error": describe_error(exc)}))
            await writer.drain()
            return
        name = self.runtime.device(device).name if device is not None else None
        writer.write(_encode({"ok": True, "watching": name}))
        await writer.drain()
        gone = asyncio.ensure_future(reader.read())  # ends when the client disconnects
        try:
            with watcher:
                while True:
                    step = asyncio.ensure_future(watcher.__anext__())
                    done, _ = await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
                    if step not in done:
                        step.cancel()
                        break
                    try:
                        item = step.result()
                    except StopAsyncIteration:
                        break
                    writer.write(_encode(event_json(*item)))
                    await writer.drain()
        finally:
            gone.cancel()


class ControlClient:
    """A blocking client of a runtime's control socket (used by the ``ipgwsim`` commands)."""

    def __init__(self, state_dir: Path, *, timeout: float | None = None) -> None:
        self.state_dir = state_dir
        self.path = state_dir / CONTROL_SOCKET
        sock, address, fd = _unix_socket(self.path)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise NoRuntime(
                f"no ipgwsim runtime is running with state directory {state_dir} "
                f"(no control socket {self.path}): start one with "
                f"`ipgwsim run MODEL --state {state_dir}`"
            ) from None
        except OSError as exc:
            sock.close()
            raise RuntimeSetupError(
                f"cannot reach the runtime at {self.path}: {describe_error(exc)}"
            ) from None
        finally:
            if fd is not None:
                os.close(fd)
        self._sock = sock
        self._file = sock.makefile("rwb")

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def _read(self) -> dict[str, Any]:
        line = self._file.readline()
        if not line:
            raise RuntimeSetupError(f"the runtime at {self.path} closed the connection")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise RuntimeSetupError(f"the runtime at {self.path} sent a bad reply: {line!r}")
        return reply

    def send(self, cmd: str, **args: Any) -> None:
        self._file.write(_encode({"cmd": cmd, **args}))
        self._file.flush()

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one request and return its reply; ``{"ok": false}`` raises ControlError."""
        self.send(cmd, **args)
        reply = self._read()
        if not reply.get("ok"):
            raise ControlError(str(reply.get("error", "the runtime refused the request")))
        return reply

    def watch(self, device: str | None = None) -> Iterator[dict[str, Any]]:
        """Subscribe now; the events, as JSON objects, until the runtime stops."""
        args = {"device": device} if device is not None else {}
        self.request("watch", **args)
        return self._events()

    def _events(self) -> Iterator[dict[str, Any]]:
        while True:
            line = self._file.readline()
            if not line:
                return
            yield json.loads(line)

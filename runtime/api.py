"""The control API over HTTP/JSON: the routes, their arguments and their refusals.

One aiohttp application per place it is served (``runtime/apiserver.py``): the control
socket ``<state>/control.sock`` and, with ``ipgwsim run --ui``, a TCP port. Both serve the
same routes (``docs/control-api.md`` has the table); the TCP one adds its guards (token,
Host header) and the front-panel page.

Every reply is JSON, ``{"ok": true, ...}`` or ``{"ok": false, "error": "one line"}``, with
the HTTP status saying what kind of refusal it is: 400 a bad argument or body, 404 an
unknown device or route, 405 a wrong method, 409 a device or runtime not in a state for
it, 413 a body too long, 415 a POST without ``Content-Type: application/json``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from ipgwsim.events import (
    AddressAssigned,
    AddressReleased,
    Event,
    FirmwareStarted,
    ImageProgrammed,
)
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.consoleclients import ConsoleRefused
from ipgwsim.runtime.control import (
    console_json,
    device_json,
    event_json,
    link_json,
    network_json,
)
from ipgwsim.runtime.errors import RuntimeSetupError, UnknownDevice, describe_error
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.panelview import flash_json, panel_json
from ipgwsim.runtime.watch import WATCH_QUEUE, WATCHED

if TYPE_CHECKING:
    from ipgwsim.runtime.host import DeviceHost
    from ipgwsim.runtime.runtime import Runtime

__all__ = ["MAX_BODY", "ROUTES", "Api", "ApiError"]

#: Longest request body the API reads (bytes).
MAX_BODY = 64 * 1024
#: The connection budget's name for console WebSockets (a limit per device of their own).
CONSOLE_WS = "console WebSocket"
#: Real seconds between the comments that keep an idle SSE stream open through proxies.
KEEP_ALIVE = 15.0
#: Events after which DEVICE shows something new, besides the watched ones (an SSE
#: ``state`` follows them; a web server that starts or fails to listen too).
CHANGES_DEVICE = (
    *WATCHED,
    AddressAssigned,
    AddressReleased,
    FirmwareStarted,
    ImageProgrammed,
)
#: The routes, as the 404 answer lists them (D: a device's name or MAC, URL-quoted).
ROUTES = (
    "GET /v1/status",
    "GET /v1/devices/D",
    "POST /v1/devices/D/press",
    "POST /v1/devices/D/button",
    "POST /v1/devices/D/power",
    "POST /v1/devices/D/cut",
    "GET /v1/devices/D/console",
    "GET|POST /v1/devices/D/impair",
    "GET /v1/devices/D/panel",
    "GET /v1/devices/D/flash",
    "GET /v1/watch",
    "GET /v1/devices/D/console/ws (WebSocket)",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A refusal with its HTTP status; the text is the reply's ``error``."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def reply(status: int = 200, **fields: Any) -> web.Response:
    """A JSON reply: ``ok`` true for 2xx, else ``error`` must be among the fields."""
    return web.json_response({"ok": status < 300, **fields}, status=status)


def refuse(status: int, text: str) -> web.Response:
    return reply(status, error=text or "refused")


_MISSING = object()


def arg(
    request: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = _MISSING
) -> Any:
    """``request[key]``, checked against ``kind`` (true/false is no number here)."""
    value = request.get(key)
    if value is None:
        if default is _MISSING:
            raise ApiError(400, f"missing argument {key!r}")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ApiError(400, f"argument {key!r} has the wrong type: {value!r}")
    return value


def whole_number(query: Any, key: str, default: int) -> int:
    """A query argument that is a whole number of 0 or more."""
    text = query.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"argument {key!r} must be a whole number, not {text!r}") from None
    if value < 0:
        raise ApiError(400, f"argument {key!r} must be 0 or more, not {value}")
    return value


def _known_query(request: web.Request, *known: str) -> None:
    """Refuse query arguments a route does not take (``token`` is the guard's)."""
    for key in request.query:
        if key not in known and key != "token":
            taken = ", ".join(known) if known else "none"
            raise ApiError(400, f"unknown query argument {key!r} (this route takes: {taken})")


class Api:
    """The handlers over one runtime; :meth:`app` builds an application serving them."""

    def __init__(self, runtime: Runtime, *, log: logging.Logger | None = None) -> None:
        self.runtime = runtime
        self.log = log if log is not None else runtime.log
        #: Set when the runtime stops: every stream ends.
        self.closing = asyncio.Event()
        #: Real seconds between ``: keep-alive`` comments of an idle SSE stream.
        self.keep_alive = KEEP_ALIVE
        self._feeds: set[_Feed] = set()
        runtime.subscribe(self._event)
        runtime.subscribe_web(self._web)

    def app(self, middlewares: list[Any] | None = None) -> web.Application:
        """An application with every route, the error handling, then ``middlewares``."""
        app = web.Application(
            client_max_size=MAX_BODY, middlewares=[self._errors, *(middlewares or [])]
        )
        get, post = web.get, web.post
        app.add_routes(
            [
                get("/v1/status", self.status, allow_head=False),
                get("/v1/devices/{device}", self.device, allow_head=False),
                post("/v1/devices/{device}/press", self.press),
                post("/v1/devices/{device}/button", self.button),
                post("/v1/devices/{device}/power", self.power),
                post("/v1/devices/{device}/cut", self.cut),
                get("/v1/devices/{device}/console", self.console, allow_head=False),
                get("/v1/devices/{device}/impair", self.impair, allow_head=False),
                post("/v1/devices/{device}/impair", self.impair),
                get("/v1/devices/{device}/panel", self.panel, allow_head=False),
                get("/v1/devices/{device}/flash", self.flash, allow_head=False),
                get("/v1/watch", self.watch, allow_head=False),
                get("/v1/devices/{device}/console/ws", self.console_ws, allow_head=False),
            ]
        )
        return app

    # -- the refusals ----------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return refuse(exc.status, str(exc))
        except UnknownDevice as exc:
            return refuse(404, str(exc))
        except web.HTTPNotFound:
            return refuse(
                404, f"no route {request.method} {request.path} (routes: {', '.join(ROUTES)})"
            )
        except web.HTTPMethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.allowed_methods))
            return refuse(
                405,
                f"method {request.method} is not allowed on {request.path} (allowed: {allowed})",
            )
        except web.HTTPRequestEntityTooLarge:
            return refuse(413, f"the request body is longer than {MAX_BODY} bytes")
        except RuntimeSetupError as exc:
            status = 409 if not self.runtime.running else 400
            return refuse(status, describe_error(exc))
        except web.HTTPException as exc:
            return refuse(exc.status, exc.reason or f"HTTP {exc.status}")
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:
            self.log.exception("control API: %s %s failed", request.method, request.path)
            return refuse(500, f"internal error: {describe_error(exc)}")

    def _running(self) -> None:
        if not self.runtime.running:
            raise ApiError(409, "the runtime is stopping")

    async def _body(self, request: web.Request, *known: str) -> dict[str, Any]:
        """The JSON object of a POST; refuses another content type, bad JSON, other keys."""
        if request.content_type != "application/json":
            shown = request.headers.get("Content-Type")
            raise ApiError(
                415,
                "a POST needs Content-Type: application/json"
                + (f", not {shown}" if shown else " (none was given)"),
            )
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except RecursionError:
            raise ApiError(400, "bad request body: the JSON is nested too deeply") from None
        except ValueError as exc:
            raise ApiError(400, f"bad request body: {describe_error(exc)}") from None
        if not isinstance(body, dict):
            raise ApiError(
                400, f"the request body must be a JSON object, not {type(body).__name__}"
            )
        for key in body:
            if key not in known:
                taken = ", ".join(known) if known else "none"
                raise ApiError(400, f"unknown argument {key!r} (this route takes: {taken})")
        return body

    def _host(self, request: web.Request) -> DeviceHost:
        self._running()
        return self.runtime.device(request.match_info["device"])

    # -- the routes ----------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        _known_query(request)
        self._running()
        rt = self.runtime
        return reply(
            devices=[device_json(host) for host in rt.devices],
            network=network_json(rt),
            clock=self.clock(),
            ui=rt.ui.url if rt.ui is not None else None,
        )

    async def device(self, request: web.Request) -> web.Response:
        _known_query(request)
        return reply(**device_json(self._host(request)))

    async def panel(self, request: web.Request) -> web.Response:
        """PANEL: the device's front as its hardware profile draws it (docs/front-panel-data.md)."""
        _known_query(request)
        return reply(**panel_json(self._host(request)))

    async def flash(self, request: web.Request) -> web.Response:
        """FLASH: the regions, the config ring, the wear and the last power cut."""
        _known_query(request)
        return reply(**flash_json(self._host(request)))

    async def press(self, request: web.Request) -> web.Response:
        _known_query(request)
        host = self._host(request)
        body = await self._body(request, "hold")
        hold = float(arg(body, "hold", (int, float), 0.5))
        rt = self.runtime
        with rt.watch_timed(host.name) as watcher:
            await rt.press(host.name, hold)
            seen = [event_json(*item) for item in watcher.pending()]
        return reply(**device_json(host), hold=hold, events=seen)

    async def button(self, request: web.Request) -> web.Response:
        """Press the reset button without a hold (``down``), or let it go (``up``)."""
        _known_query(request)
        host = self._host(request)
        body = await self._body(request, "down")
        down = arg(body, "down", bool)
        boot = host.device.boot
        if down:
            if boot.button is not None:
                raise ApiError(409, f"the reset button of {host.name} is already held")
            host.press()
            if boot.button is None:  # off, programming, clearing: the press is not read
                raise ApiError(
                    409,
                    f"{host.name} does not read its reset button now ({host.status().mode.value})",
                )
            state = {"down": True, "since": boot.button.since, "held": None}
        else:
            if boot.button is None:
                raise ApiError(409, f"the reset button of {host.name} is not held")
            since = boot.button.since
            at = host.release()
            state = {"down": False, "since": since, "held": round(max(0.0, at - since), 6)}
        return reply(**device_json(host), button=state)

    async def power(self, request: web.Request) -> web.Response:
        _known_query(request)
        host = self._host(request)
        body = await self._body(request, "on")
        on = arg(body, "on", bool)
        self.runtime.power(host.name, on)
        return reply(**device_json(host))

    async def cut(self, request: web.Request) -> web.Response:
        _known_query(request)
        host = self._host(request)
        body = await self._body(request, "at_op", "mode")
        at = self.runtime.cut(host.name, arg(body, "at_op", int), arg(body, "mode", str, "torn"))
        return reply(device=host.name, at_op=at)

    async def console(self, request: web.Request) -> web.Response:
        _known_query(request, "lines")
        host = self._host(request)
        count = whole_number(request.query, "lines", 200)
        return reply(
            device=host.name,
            **console_json(host),
            dropped=host.console.dropped,
            lines=host.console.tail(count) if count else [],
        )

    async def impair(self, request: web.Request) -> web.Response:
        """Set a device's impairment (text form, ``off``: none) with POST; GET shows it."""
        _known_query(request)
        host = self._host(request)
        previous = host.link.impairment
        if request.method == "POST":
            body = await self._body(request, "impairment")
            text = arg(body, "impairment", str)
            try:
                impairment = Impairment.parse(text)
            except ValueError as exc:
                raise ApiError(400, describe_error(exc)) from None
            self.runtime.impair(host.name, impairment)
        return reply(
            device=host.name,
            **link_json(host),
            previous=previous.to_text() if previous is not None else None,
        )

    async def console_ws(self, request: web.Request) -> web.StreamResponse:
        """A console terminal of its own over a WebSocket (as a TCP console connection):
        the console's bytes out as binary frames, the keys typed in as text or binary."""
        _known_query(request)
        host = self._host(request)
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY)
        if not ws.can_prepare(request).ok:
            raise ApiError(
                400,
                f"{request.path} is a WebSocket: ask with Upgrade: websocket "
                "(a browser's new WebSocket(url))",
            )
        await ws.prepare(request)
        sink = _WsSink(ws)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        try:
            joined = host.console_clients.join(
                sink, CONSOLE_WS, sock.fileno() if sock is not None else -1
            )
        except ConsoleRefused as exc:
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=_reason(str(exc)))
            return ws
        closing = asyncio.ensure_future(self.closing.wait())
        closing.add_done_callback(lambda _: sink.close())
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    joined.terminal.feed(message.data.encode("utf-8"))
                elif message.type is WSMsgType.BINARY:
                    joined.terminal.feed(message.data)
        finally:
            closing.cancel()
            host.console_clients.leave(joined)
            sink.close()
            await sink.done()
        return ws

    async def watch(self, request: web.Request) -> web.StreamResponse:
        _known_query(request, "device")
        self._running()
        device = request.query.get("device")
        name = self.runtime.device(device).name if device is not None else None
        if "text/event-stream" in request.headers.get("Accept", ""):
            return await self._sse(request, name)
        with self.runtime.watch_timed(name) as watcher:
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(_line({"ok": True, "watching": name}))
            async for item in self._stream(watcher):
                if item is not None:
                    await response.write(_line(event_json(*item)))
        return response

    async def _sse(self, request: web.Request, name: str | None) -> web.StreamResponse:
        """The watch as Server-Sent Events: ``hello``, then ``device-event`` for each
        watched event and ``state`` (DEVICE as it is then) after each event that changes
        what DEVICE shows, a ``: keep-alive`` comment after a quiet while."""
        feed = _Feed(name)
        self._feeds.add(feed)
        try:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                }
            )
            await response.prepare(request)
            await response.write(_sse("hello", {"watching": name, "clock": self.clock()}))
            async for item in self._stream(feed, self.keep_alive):
                await response.write(b": keep-alive\n\n" if item is None else item)
        finally:
            self._feeds.discard(feed)
        return response

    def clock(self) -> dict[str, Any]:
        """CLOCK: how fast device time runs (None: only when moved, a virtual clock) and
        the device time now."""
        clock = self.runtime.clock
        speed = clock.speed if isinstance(clock, ScaledClock) else None
        return {"speed": speed, "now": round(clock.now(), 6)}

    def _event(self, host: DeviceHost, event: Event) -> None:
        """Every event of every device (inside its step: it only reads and queues)."""
        if not self._feeds or not isinstance(event, CHANGES_DEVICE):
            return
        now = self.runtime.clock.now()
        for feed in self._feeds:
            if feed.only is None or feed.only == host.name:
                if isinstance(event, WATCHED):
                    feed.put(_sse("device-event", event_json(host.name, event, now)))
                feed.put(_sse("state", device_json(host)))

    def _web(self, host: DeviceHost) -> None:
        """A device's web server started listening, or could not."""
        for feed in self._feeds:
            if feed.only is None or feed.only == host.name:
                feed.put(_sse("state", device_json(host)))

    async def _stream(self, source: Any, keep_alive: float | None = None) -> AsyncIterator[Any]:
        """The items of ``source`` (a watcher, a feed) until it ends or the API closes;
        None after ``keep_alive`` real seconds without one."""
        closing = asyncio.ensure_future(self.closing.wait())
        step: asyncio.Future[Any] | None = None
        try:
            while not self.closing.is_set():
                if step is None:
                    step = asyncio.ensure_future(source.__anext__())
                done, _ = await asyncio.wait(
                    {step, closing}, timeout=keep_alive, return_when=asyncio.FIRST_COMPLETED
                )
                if closing in done:
                    return
                if step not in done:
                    yield None
                    continue
                try:
                    item = step.result()
                except StopAsyncIteration:
                    return
                step = None
                yield item
        finally:
            for future in (closing, step):
                if future is not None:
                    future.cancel()


class _WsSink:
    """A console WebSocket as a :class:`~ipgwsim.runtime.consoleclients.Sink`: written to
    without waiting, sent in binary frames by a task of its own, closed with 1000 once
    what was written has gone."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._pending = bytearray()
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.ensure_future(self._send())

    def write(self, data: bytes) -> None:
        self._pending += data
        self._wake.set()

    def buffered(self) -> int:
        return len(self._pending)

    def is_closing(self) -> bool:
        return self._closing or self.ws.closed

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    async def done(self) -> None:
        """Wait until the WebSocket is closed."""
        await asyncio.shield(self._task)

    async def _send(self) -> None:
        ws = self.ws
        try:
            while not ws.closed:
                await self._wake.wait()
                self._wake.clear()
                while self._pending and not ws.closed:
                    chunk = bytes(self._pending)
                    self._pending.clear()
                    await ws.send_bytes(chunk)
                if self._closing:
                    break
            await ws.close(code=WSCloseCode.OK)
        except (ConnectionError, RuntimeError):
            pass  # the client went: nothing more to send it


def _reason(text: str) -> bytes:
    """A close frame's reason: at most 123 bytes of UTF-8."""
    data = text.encode("utf-8")
    return data if len(data) <= 123 else data[:120].decode("utf-8", "ignore").encode() + b"..."


class _Feed:
    """One SSE stream's messages, in the order the devices' events came; a stream that
    falls :data:`WATCH_QUEUE` behind loses the further ones."""

    def __init__(self, only: str | None) -> None:
        self.only = only
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(WATCH_QUEUE)
        #: Messages dropped because the queue was full.
        self.drops = 0

    def put(self, message: bytes) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.drops += 1

    def __aiter__(self) -> _Feed:
        return self

    async def __anext__(self) -> bytes:
        return await self._queue.get()


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return f"event: {kind}\ndata: {text}\n\n".encode()


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"

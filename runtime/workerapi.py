"""The one control API of a runtime split over workers (:mod:`ipgwsim.runtime.workers`).

The same routes as one runtime's (``docs/control-api.md``), served by the parent on
``<state>/control.sock`` and the UI port: a device's routes (its console WebSocket too) go
to the worker that has the device and its answer comes back as it is; ``/v1/status``
merges every worker's devices in the lab order (and adds ``workers``: each one's pid and
devices); ``/v1/watch`` merges the workers' streams (one ``hello`` or first line, every
worker's events as they come). Anything else (an unknown route, a wrong method) goes to
the first worker, which refuses it as one runtime does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import WSMsgType, web

from ipgwsim.runtime.api import (
    CLOSE_WAIT,
    MAX_BODY,
    SEND_TIMEOUT,
    ApiError,
    _Stream,
    refuse,
    reply,
)
from ipgwsim.runtime.errors import UnknownDevice, describe_error
from ipgwsim.runtime.watch import WATCH_QUEUE

if TYPE_CHECKING:
    from ipgwsim.runtime.workers import Placed, Workers, _Worker

__all__ = ["WorkerApi", "merge_status"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Headers of a request passed on to a worker (the rest are the connection's own).
_PASSED = (
    "Accept",
    "Content-Type",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Key",
)


def merge_status(
    replies: list[dict[str, Any]], order: dict[str, int], extra: dict[str, Any]
) -> dict[str, Any]:
    """The workers' ``/v1/status`` replies as one: the devices in the lab order
    (``order``: name to place), the first worker's network and clock, then ``extra``."""
    devices = [device for r in replies for device in r["devices"]]
    devices.sort(key=lambda device: order.get(device["name"], len(order)))
    first = replies[0]
    return {**first, "devices": devices, **extra}


class WorkerApi:
    """The handlers of the parent: :meth:`app` serves them (as :class:`Api` does)."""

    def __init__(self, runtime: Workers) -> None:
        self.runtime = runtime
        self._sessions: dict[int, aiohttp.ClientSession] = {}
        self._streams: set[asyncio.Task[Any]] = set()
        self.closing = asyncio.Event()
        #: Real seconds a write of a stream may wait for its client (:data:`SEND_TIMEOUT`).
        self.send_timeout = SEND_TIMEOUT

    def session(self, worker: _Worker) -> aiohttp.ClientSession:
        session = self._sessions.get(worker.index)
        if session is None:
            connector = aiohttp.UnixConnector(path=str(worker.socket))
            session = aiohttp.ClientSession(
                connector=connector,
                base_url="http://ipgwsim",
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,
            )
            self._sessions[worker.index] = session
        return session

    def app(self, middlewares: list[Any] | None = None) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY, middlewares=[self._errors, *(middlewares or [])]
        )
        app.add_routes(
            [
                web.get("/v1/status", self.status, allow_head=False),
                web.get("/v1/watch", self.watch, allow_head=False),
                web.get("/v1/devices/{device}/console/ws", self.console_ws, allow_head=False),
                web.route("*", "/v1/devices/{device}", self.device),
                web.route("*", "/v1/devices/{device}/{route}", self.device),
            ]
        )
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:  # the UI port's guards
            return refuse(exc.status, str(exc))
        except UnknownDevice as exc:
            return refuse(404, str(exc))
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            return await self._forward(self.runtime.workers[0], request)
        except web.HTTPRequestEntityTooLarge:
            return refuse(413, f"the request body is longer than {MAX_BODY} bytes")
        except aiohttp.ClientError as exc:
            if not self.runtime.running:  # the stop closed the connections to the workers
                return refuse(409, "the runtime is stopping")
            return refuse(503, f"a worker of this runtime did not answer: {describe_error(exc)}")
        except (ConnectionError, asyncio.CancelledError, web.HTTPException):
            raise
        except Exception as exc:
            self.runtime.log.exception("control API: %s %s failed", request.method, request.path)
            return refuse(500, f"internal error: {describe_error(exc)}")

    async def stop(self) -> None:
        """Every stream ends; the connections to the workers close."""
        self.closing.set()
        for task in list(self._streams):
            task.cancel()
        if self._streams:
            await asyncio.wait(list(self._streams), timeout=CLOSE_WAIT)
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    # -- passing on --------------------------------------------------------------------

    def _headers(self, request: web.Request) -> dict[str, str]:
        return {k: v for k in _PASSED if (v := request.headers.get(k)) is not None}

    async def _forward(self, worker: _Worker, request: web.Request) -> web.Response:
        if not self.runtime.running:
            return refuse(409, "the runtime is stopping")
        body = await request.read()
        async with self.session(worker).request(
            request.method,
            request.rel_url,
            data=body if body else None,
            headers=self._headers(request),
        ) as answer:
            data = await answer.read()
            headers = {}
            if "Sec-WebSocket-Version" in answer.headers:
                headers["Sec-WebSocket-Version"] = answer.headers["Sec-WebSocket-Version"]
            return web.Response(
                status=answer.status,
                body=data,
                content_type=answer.content_type,
                headers=headers,
            )

    def _owner(self, request: web.Request) -> tuple[Placed, _Worker]:
        device = self.runtime.device(request.match_info["device"])
        return device, self.runtime.worker_of(device)

    async def device(self, request: web.Request) -> web.StreamResponse:
        _, worker = self._owner(request)
        return await self._forward(worker, request)

    async def status(self, request: web.Request) -> web.Response:
        if not self.runtime.running:
            return refuse(409, "the runtime is stopping")
        replies = []
        for worker in self.runtime.workers:
            async with self.session(worker).get(request.rel_url) as answer:
                data = await answer.read()
                if answer.status != 200:
                    return web.Response(
                        status=answer.status, body=data, content_type=answer.content_type
                    )
                replies.append(json.loads(data))
        order = {device.name: device.order for device in self.runtime.devices}
        ui = self.runtime.ui
        workers = [
            {"worker": w.index, "pid": w.pid, "devices": [d.name for d in w.devices]}
            for w in self.runtime.workers
        ]
        merged = merge_status(
            replies, order, {"ui": ui.url if ui is not None else None, "workers": workers}
        )
        merged.pop("ok", None)
        return reply(**merged)

    # -- streams -----------------------------------------------------------------------

    async def watch(self, request: web.Request) -> web.StreamResponse:
        if not self.runtime.running:
            return refuse(409, "the runtime is stopping")
        given = request.query.get("device")
        if given is not None:
            workers = [self.runtime.worker_of(self.runtime.device(given))]
        else:
            workers = self.runtime.workers
        answers = []
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            for worker in workers:
                answer = await self.session(worker).get(
                    request.rel_url, headers=self._headers(request)
                )
                answers.append(answer)
                if answer.status != 200:
                    data = await answer.read()
                    return web.Response(
                        status=answer.status, body=data, content_type=answer.content_type
                    )
            sse = answers[0].content_type == "text/event-stream"
            response = web.StreamResponse(headers={"Content-Type": answers[0].content_type})
            if sse:
                response.headers["Cache-Control"] = "no-cache"
                response.headers["X-Accel-Buffering"] = "no"
            response.enable_chunked_encoding()
            await response.prepare(request)
            # Bounded: a client that falls behind holds up the workers' streams (their
            # own APIs cut the parent off as any slow client), and is cut off itself
            # when a write is not taken in time.
            queue: asyncio.Queue[bytes] = asyncio.Queue(WATCH_QUEUE)
            readers = [
                asyncio.create_task(_read(answer, queue, first=n == 0, sse=sse))
                for n, answer in enumerate(answers)
            ]
            stream = _Stream(task, request.transport, self.send_timeout)
            all_read = asyncio.ensure_future(asyncio.wait(readers))
            try:
                while True:
                    if queue.empty():
                        if all_read.done():
                            break
                        getting = asyncio.ensure_future(queue.get())
                        await asyncio.wait({getting, all_read}, return_when=asyncio.FIRST_COMPLETED)
                        if not getting.done():
                            getting.cancel()
                            continue
                        item = getting.result()
                    else:
                        item = queue.get_nowait()
                    await stream.write(response.write(item))
            except ConnectionError:
                pass  # the client went, or was cut off
            finally:
                all_read.cancel()
                for reader in readers:
                    reader.cancel()
            return response
        finally:
            self._streams.discard(task)
            for answer in answers:
                answer.release()

    async def console_ws(self, request: web.Request) -> web.StreamResponse:
        _, worker = self._owner(request)
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY, timeout=CLOSE_WAIT)
        if not ws.can_prepare(request).ok or not self.runtime.running:
            return await self._forward(worker, request)  # the worker says what is wrong
        try:
            inner = await self.session(worker).ws_connect(
                request.rel_url, max_msg_size=MAX_BODY, autoclose=False
            )
        except aiohttp.WSServerHandshakeError as exc:
            return refuse(exc.status, exc.message or "the console WebSocket was refused")
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            await ws.prepare(request)
            outward = asyncio.create_task(_pump_out(inner, ws))
            try:
                async for message in ws:
                    if message.type is WSMsgType.TEXT:
                        await inner.send_str(message.data)
                    elif message.type is WSMsgType.BINARY:
                        await inner.send_bytes(message.data)
            finally:
                outward.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await outward
                await inner.close()
                if not ws.closed:
                    await ws.close()
        finally:
            self._streams.discard(task)
        return ws


async def _pump_out(inner: aiohttp.ClientWebSocketResponse, ws: web.WebSocketResponse) -> None:
    """The worker's frames to the client; its close (code and reason) too."""
    reason = ""
    while True:
        message = await inner.receive()
        if message.type is WSMsgType.BINARY:
            await ws.send_bytes(message.data)
        elif message.type is WSMsgType.TEXT:
            await ws.send_str(message.data)
        else:  # CLOSE (with the worker's code and reason), CLOSED, ERROR
            if message.type is WSMsgType.CLOSE:
                reason = str(message.extra or "")
            break
    code = inner.close_code if inner.close_code is not None else 1000
    await ws.close(code=code, message=reason.encode("utf-8"))


async def _read(
    answer: aiohttp.ClientResponse,
    queue: asyncio.Queue[bytes],
    *,
    first: bool,
    sse: bool,
) -> None:
    """One worker's watch stream into ``queue``, a whole line (or SSE message) at a time,
    waiting while it is full; the hello (first line) and keep-alive comments only from
    the first worker."""
    try:
        head = True
        if sse:
            buffer = b""
            async for chunk in answer.content.iter_any():
                buffer += chunk
                while b"\n\n" in buffer:
                    message, buffer = buffer.split(b"\n\n", 1)
                    keep = first or not (head or message.startswith(b":"))
                    head = False
                    if keep:
                        await queue.put(message + b"\n\n")
        else:
            while line := await answer.content.readline():
                if first or not head:
                    await queue.put(line)
                head = False
    except (aiohttp.ClientError, ConnectionError):
        pass

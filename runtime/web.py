"""HTTP for the running firmware: its admin web server and its fetches, with aiohttp.

:class:`WebServer` serves one device's admin pages on ``(ip, port)`` while its firmware
has that address; each request becomes a :class:`~ipgwsim.proto.http.HttpRequest` for
``Device.http`` (HTTP Basic credentials decoded, a ``multipart/form-data`` upload reduced
to its first file part), and the :class:`~ipgwsim.proto.http.HttpResponse` goes back.
Every connection is counted in the runtime's
:class:`~ipgwsim.runtime.connlimit.ConnectionBudget` first (over a limit: 503 and closed at
once), must send each request's head within the header timeout and its body within the
body timeout (``docs/runtime.md``, *Connection limits*).

:class:`Fetcher` performs the firmware's ``FetchRequested`` effects (update scripts,
firmware and config downloads, ``scfg`` uploads) with an aiohttp client whose
connections leave from the device's own loopback address, so an update server sees
the device's address as the peer. The result comes back as a
:class:`~ipgwsim.proto.http.FetchResult`, through the device host like any input.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ipgwsim.proto.http import Fetch, FetchResult, HttpRequest, HttpResponse
from ipgwsim.runtime.connlimit import ConnectionBudget
from ipgwsim.runtime.errors import describe_error

__all__ = ["FETCH_TIMEOUT", "MAX_BODY", "SERVER_LOG", "Fetcher", "WebServer"]

#: Largest request or response body (a firmware image of the largest flash fits).
MAX_BODY = 64 * 1024 * 1024
#: Seconds (real time) a fetch may take in all.
FETCH_TIMEOUT = 60.0

Handler = Callable[[HttpRequest], HttpResponse]
#: Asked before a body is read (it may make a password check off the loop first).
Precheck = Callable[[HttpRequest], Awaitable["HttpResponse | None"]]
#: Seconds a stopping web server waits for requests in flight (a restart, the runtime's stop).
SHUTDOWN_TIMEOUT = 0.5


class _QuietBadRequests(logging.Filter):
    """Turns aiohttp's report of a request it could not parse (a traceback at ERROR; it
    has answered 400 already) into one INFO line; other reports pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "bad HTTP request from %s: %s"
            words = str(exc.message).split()
            if words[-1:] == ["^"]:  # the marker under the bad byte means nothing on one line
                words.pop()
            record.args = (remote, " ".join(words))
            record.levelno = min(record.levelno, logging.INFO)
            record.levelname = logging.getLevelName(record.levelno)
            record.exc_info, record.exc_text = None, None
        return True


#: aiohttp's server reports (a malformed request, an exception in a handler) go here.
SERVER_LOG = logging.getLogger("ipgwsim.runtime.web")
SERVER_LOG.addFilter(_QuietBadRequests())


def _credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    try:
        auth = aiohttp.BasicAuth.decode(header)
    except ValueError:
        return None
    return auth.login, auth.password


async def _expect(request: web.Request) -> None:
    """``Expect: 100-continue`` as aiohttp answers it; any other expectation 417 with the
    header's value quoted (aiohttp's own answer cannot encode a value that is not UTF-8:
    it answered 500 and logged a traceback)."""
    expect = request.headers.get(aiohttp.hdrs.EXPECT, "")
    if request.version != aiohttp.HttpVersion11:
        return
    if expect.lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the body has not started
        return
    shown = ascii(expect.encode("utf-8", "surrogateescape").decode("latin-1"))
    raise web.HTTPExpectationFailed(text=f"417 unknown Expect: {shown}\r\n")


async def _body(request: web.Request) -> bytes:
    """The body; of a multipart form (``curl -F file=@ip6000.bin``), the first file part."""
    if request.content_type != "multipart/form-data":
        return await request.read()
    reader = await request.multipart()
    first = b""
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            continue
        data = await part.read()
        if part.filename is not None:
            return bytes(data)
        first = first or bytes(data)
    return first


class WebServer:
    """The admin web server of one device on ``(ip, port)``."""

    def __init__(
        self,
        ip: str,
        port: int,
        handler: Handler,
        precheck: Precheck,
        *,
        listener: Callable[[], socket.socket] | None = None,
        budget: ConnectionBudget | None = None,
        device: str | None = None,
    ) -> None:
        self.ip = ip
        self.port = port
        #: Makes the listening socket (in a device's namespace); None: bind (ip, port) here.
        self._listener = listener
        self._handler = handler
        self._precheck = precheck
        #: Counts this server's connections in with the runtime's (None: a budget of its own).
        self.budget = budget if budget is not None else ConnectionBudget()
        #: Whose connections they are, in the budget and in refusals.
        self.device = device if device is not None else f"{ip}:{port}"
        self._guards: dict[asyncio.BaseTransport, _Guard] = {}
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._in_request])
        app.router.add_route("*", "/{tail:.*}", self._handle, expect_handler=_expect)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, logger=SERVER_LOG
        )

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}/"

    async def start(self) -> None:
        """Listen; :class:`OSError` if the address cannot be bound."""
        await self._runner.setup()
        try:
            sock = self._listener() if self._listener is not None else _listen(self.ip, self.port)
            site = _GuardedSite(self._runner, sock, self._connection)
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise

    async def close(self) -> None:
        await self._runner.cleanup()

    @property
    def connections(self) -> int:
        """Connections open now (counted in the budget)."""
        return len(self._guards)

    @property
    def waiting(self) -> int:
        """Connections open now that wait for a request's head (the others' requests run)."""
        return sum(1 for guard in self._guards.values() if guard.idle_since is not None)

    def _connection(self) -> asyncio.Protocol:
        return _Guard(self)

    def _evict_idle(self) -> None:
        """At the limit: close the connection that has waited longest for a request's head,
        so that a new connection is served (DECISION: an idle connection gives way to a new
        one, so clients that hold connections open without asking cannot keep others out;
        a connection whose request runs is never closed for another)."""
        waiting = [g for g in self._guards.values() if g.idle_since is not None]
        if waiting:
            min(waiting, key=lambda g: g.idle_since or 0.0).evict()

    @web.middleware
    async def _in_request(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """From a request's head to its answer: no header timeout, the body timeout."""
        guard = self._guards.get(request.transport) if request.transport is not None else None
        if guard is not None:
            guard.busy()
        limit = self.budget.limits.body_timeout
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                return await handler(request)
        except TimeoutError:
            if not scope.expired():
                raise
            text = f"408 the request's body did not arrive within {limit:g} s\r\n"
            answer = web.Response(status=408, text=text, headers={"Connection": "close"})
            await answer.prepare(request)
            await answer.write_eof()
            if request.transport is not None:
                request.transport.close()  # not the rest of the body: the answer, then close
            return answer
        finally:
            if guard is not None:
                guard.idle()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parsed = HttpRequest(
            method=request.method,
            target=request.raw_path,
            credentials=_credentials(request.headers.get(aiohttp.hdrs.AUTHORIZATION)),
            content_type=request.content_type,
            client=request.remote or "",
        )
        answer = await self._precheck(parsed)  # refused whatever the body: never read it
        if answer is None:
            try:
                body = await _body(request)
            except (ValueError, aiohttp.ClientError, aiohttp.web.HTTPException) as exc:
                answer = HttpResponse.text(400, f"400 bad request body: {describe_error(exc)}\r\n")
            except ConnectionError as exc:  # the client went away before its body ended
                SERVER_LOG.info(
                    "request from %s ended before its body: %s", parsed.client, describe_error(exc)
                )
                answer = HttpResponse.text(400, "400 the request's body did not end\r\n")
            else:
                answer = self._handler(dataclasses.replace(parsed, body=body))
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers=dict(answer.headers),
            content_type=answer.content_type.split(";")[0],
            charset="utf-8" if "charset=utf-8" in answer.content_type else None,
        )


def _listen(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


#: Connections a listening socket queues, and accepts in one turn of the event loop: each
#: is a descriptor until it is refused, so few (the per-device limit is 16).
BACKLOG = 16


class _GuardedSite(web.BaseSite):
    """Serves on a listening socket; every connection gets a :class:`_Guard` first."""

    def __init__(
        self,
        runner: web.AppRunner,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
    ) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._sock = sock
        self._protocol = protocol

    @property
    def name(self) -> str:
        ip, port = self._sock.getsockname()[:2]
        return f"http://{ip}:{port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._protocol, sock=self._sock, backlog=self._backlog
            )
        except BaseException:
            self._sock.close()
            raise


class _Guard(asyncio.Protocol):
    """One connection to a :class:`WebServer`: counted in the budget or refused at once
    (503 with the reason, read nothing, close), then handed to aiohttp; closed when its
    request's head takes longer than the header timeout (also when idle between requests).

    DECISION: the refusal is written at once without reading the request; a client whose
    request had already arrived may see the connection reset instead of the 503.
    """

    def __init__(self, server: WebServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        #: The transport after :meth:`connection_lost` (an evicted one is aborted then).
        self._closing: asyncio.Transport | None = None
        self._inner: asyncio.Protocol | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: Loop time since which it waits for a request's head (None: a request runs).
        self.idle_since: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._server
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        if server.budget.open(server.device, "HTTP") >= server.budget.limits.per_device:
            server._evict_idle()
        refusal = server.budget.admit(server.device, "HTTP", sock.fileno() if sock else -1)
        if refusal is not None:
            body = f"503 {refusal}: try again later\r\n".encode()
            head = (
                "HTTP/1.1 503 Service Unavailable\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            transport.write(head.encode() + body)
            transport.close()
            return
        self._transport = transport
        server._guards[transport] = self
        self.idle()
        runner_server = server._runner.server
        assert runner_server is not None
        self._inner = runner_server()
        self._inner.connection_made(transport)

    def busy(self) -> None:
        """A request's head has arrived: its body and answer have the body timeout."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.idle_since = None

    def idle(self) -> None:
        """Waiting for a request's head: it must come within the header timeout."""
        self.busy()
        if self._transport is not None and not self._transport.is_closing():
            loop = asyncio.get_running_loop()
            limit = self._server.budget.limits.header_timeout
            self._timer = loop.call_later(limit, self._expired)
            self.idle_since = loop.time()

    def evict(self) -> None:
        """Close this idle connection now, its place in the budget given up at once."""
        self.connection_lost(None)  # counted out now; the transport's own report is ignored
        transport = self._closing
        if transport is not None:
            transport.abort()

    def _expired(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._transport.abort()  # a client that stopped reading must not keep it open

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.busy()
        if self._transport is None:
            return
        server = self._server
        server._guards.pop(self._transport, None)
        self._closing, self._transport = self._transport, None
        server.budget.release(server.device, "HTTP")
        if self._inner is not None:
            self._inner.connection_lost(exc)


class Fetcher:
    """Performs fetches for one device; ``deliver(result)`` gets each result."""

    def __init__(
        self,
        deliver: Callable[[FetchResult], None],
        *,
        log: logging.Logger | None = None,
        timeout: float = FETCH_TIMEOUT,
        socket_factory: Callable[[tuple[object, ...]], socket.socket] | None = None,
    ) -> None:
        #: Makes client sockets (in a device's namespace); None: the default.
        self.socket_factory = socket_factory
        self._deliver = deliver
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._sessions: dict[str | None, aiohttp.ClientSession] = {}

    def start(self, fetch: Fetch, source_ip: str | None) -> None:
        """Make the request in the background, from ``source_ip`` (None: any address)."""
        task = asyncio.get_running_loop().create_task(self._run(fetch, source_ip))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _session(self, source_ip: str | None) -> aiohttp.ClientSession:
        session = self._sessions.get(source_ip)
        if session is None or session.closed:
            local = (source_ip, 0) if source_ip is not None else None
            if self.socket_factory is not None:
                connector = aiohttp.TCPConnector(
                    force_close=True,
                    socket_factory=self.socket_factory,
                )
            else:
                connector = aiohttp.TCPConnector(local_addr=local, force_close=True)
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                auto_decompress=True,
            )
            self._sessions[source_ip] = session
        return session

    async def _run(self, fetch: Fetch, source_ip: str | None) -> None:
        result = await self._request(fetch, source_ip)
        self._deliver(result)

    async def _request(self, fetch: Fetch, source_ip: str | None) -> FetchResult:
        try:
            session = self._session(source_ip)
            async with session.request(fetch.method, fetch.url, data=fetch.body) as response:
                body = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > MAX_BODY:
                        return FetchResult(
                            fetch.request_id, None, b"", f"the body is over {MAX_BODY} bytes"
                        )
                return FetchResult(fetch.request_id, response.status, bytes(body))
        except TimeoutError:
            return FetchResult(fetch.request_id, None, b"", f"timed out after {self.timeout:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return FetchResult(fetch.request_id, None, b"", _describe(exc))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # asyncio replaces strerror by "Connect call failed (...)": say the errno's words.
        error = exc.os_error
        reason = os.strerror(error.errno).lower() if error.errno else describe_error(error)
        return f"cannot connect to {exc.host}:{exc.port}: {reason}"
    return describe_error(exc)

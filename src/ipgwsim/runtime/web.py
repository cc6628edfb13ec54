"""HTTP for the running firmware: its admin web server and its fetches, with aiohttp.

:class:`WebServer` serves one device's admin pages on ``(ip, port)`` while its firmware
has that address; each request becomes a :class:`~ipgwsim.proto.http.HttpRequest` for
``Device.http`` (HTTP Basic credentials decoded, a ``multipart/form-data`` upload reduced
to its first file part), and the :class:`~ipgwsim.proto.http.HttpResponse` goes back.

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
from collections.abc import Callable

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ipgwsim.proto.http import Fetch, FetchResult, HttpRequest, HttpResponse
from ipgwsim.runtime.errors import describe_error

__all__ = ["FETCH_TIMEOUT", "MAX_BODY", "SERVER_LOG", "Fetcher", "WebServer"]

#: Largest request or response body (a firmware image of the largest flash fits).
MAX_BODY = 64 * 1024 * 1024
#: Seconds (real time) a fetch may take in all.
FETCH_TIMEOUT = 60.0

Handler = Callable[[HttpRequest], HttpResponse]
Precheck = Callable[[HttpRequest], "HttpResponse | None"]
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
    ) -> None:
        self.ip = ip
        self.port = port
        #: Makes the listening socket (in a device's namespace); None: bind (ip, port) here.
        self._listener = listener
        self._handler = handler
        self._precheck = precheck
        app = web.Application(client_max_size=MAX_BODY)
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
        site: web.BaseSite
        if self._listener is not None:
            try:
                site = web.SockSite(self._runner, self._listener())
            except OSError:
                await self._runner.cleanup()
                raise
        else:
            site = web.TCPSite(self._runner, self.ip, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise

    async def close(self) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parsed = HttpRequest(
            method=request.method,
            target=request.raw_path,
            credentials=_credentials(request.headers.get(aiohttp.hdrs.AUTHORIZATION)),
            content_type=request.content_type,
        )
        answer = self._precheck(parsed)  # refused whatever the body: never read it
        if answer is None:
            try:
                body = await _body(request)
            except (ValueError, aiohttp.ClientError, aiohttp.web.HTTPException) as exc:
                answer = HttpResponse.text(400, f"400 bad request body: {describe_error(exc)}\r\n")
            else:
                answer = self._handler(dataclasses.replace(parsed, body=body))
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers=dict(answer.headers),
            content_type=answer.content_type.split(";")[0],
            charset="utf-8" if "charset=utf-8" in answer.content_type else None,
        )


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

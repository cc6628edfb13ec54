"""Where the control API (``runtime/api.py``) is served: the control socket, the UI port.

:class:`ControlServer` binds ``<state>/control.sock`` itself (mode 0600 before it
listens; a path longer than a socket address takes is reached through /proc/self/fd)
and serves the API there with aiohttp. Nothing is checked on it: only its owner can
connect.

:class:`UiServer` (``ipgwsim run --ui [HOST:]PORT``) serves the same API on a TCP port,
and the front panel's page (the static files of ``runtime/frontpanel/``) at ``/`` and
``/static/...``. TCP has no file mode, so it guards itself (``docs/control-api.md``,
*The UI port*): a Host header that is not the address served is refused (403: a page of
another site that a DNS name points at this port cannot use it), so is a request with
the Origin of another site (403: a browser lets any page open a WebSocket), a POST without
``Content-Type: application/json`` too (415, in the API: a browser sends no such POST to
another site without asking first, and nothing here answers that question); bound off
loopback, every ``/v1`` request needs the token the runtime made at its start
(``<state>/ui-token``, 0600), as ``Authorization: Bearer T`` or ``?token=T`` (401).
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import ipaddress
import os
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from aiohttp import web

from ipgwsim.runtime.api import ApiError, Handler
from ipgwsim.runtime.control import unix_socket
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.ports import is_loopback, tcp_holder
from ipgwsim.runtime.private import PRIVATE_FILE, write_private

if TYPE_CHECKING:
    from ipgwsim.runtime.runtime import Runtime


class Served(Protocol):
    """What the servers here serve: :class:`Api`, or the parent of ``--workers``
    (:class:`~ipgwsim.runtime.workerapi.WorkerApi`)."""

    def app(self, middlewares: list[Any] | None = None) -> web.Application: ...

    async def stop(self) -> None: ...


S = TypeVar("S", bound=Served)

__all__ = ["FRONT_PANEL", "ControlServer", "UiServer", "host_allowed", "origin_refusal"]

#: The front panel's static files (package data), served on the UI port.
FRONT_PANEL = Path(__file__).resolve().parent / "frontpanel"
#: The static files are never cached: a page from before a restart must not linger.
NO_CACHE = {"Cache-Control": "no-store"}

#: Real seconds the handlers still running at the stop get to finish.
SHUTDOWN_TIMEOUT = 2.0


async def _serve(app: web.Application, sock: socket.socket) -> web.AppRunner:
    """Serve ``app`` on the listening socket ``sock``; the runner to clean up at the stop.
    A handler is cancelled when its client goes; the stop gives the ones still running
    :data:`SHUTDOWN_TIMEOUT` (the API's streams have ended by then: ``Api.stop``)."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


class ControlServer(Generic[S]):
    """Serves a control API (of a runtime, or of the parent of ``--workers``) on the Unix
    socket ``path``."""

    def __init__(self, path: Path, api: S) -> None:
        self.path = path
        self.api = api
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # stale: the state directory's lock is ours
        sock, address, fd = unix_socket(self.path)
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
        self._runner = await _serve(self.api.app(), sock)

    async def close(self) -> None:
        await self.api.stop()
        if self._runner is None:
            return
        await self._runner.cleanup()
        self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class UiServer(Generic[S]):
    """Serves the control API and the front panel on TCP ``host:port`` (module docstring).

    :meth:`start` binds (port 0: any free one; :attr:`port` is the one bound) and refuses
    a busy port naming its holder; off loopback it writes the token file first.
    """

    def __init__(
        self,
        runtime: Runtime | None,
        host: str,
        port: int,
        api: S,
        *,
        static: Path = FRONT_PANEL,
        token_file: Path | None = None,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self.api = api
        self.static = static
        #: Off loopback: the token every /v1 request must carry (None on loopback).
        self.token = None if is_loopback(host) else secrets.token_urlsafe(24)
        if token_file is None:
            assert runtime is not None, "a UiServer without a runtime needs its token_file"
            token_file = runtime.state.ui_token
        self.token_file = token_file
        self._runner: web.AppRunner | None = None

    @property
    def where(self) -> str:
        """``HOST:PORT`` (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://HOST:PORT/``."""
        return f"http://{self.where}/"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            where = f"cannot serve the front panel on {self.where}: "
            if exc.errno == errno.EADDRINUSE:
                holder = tcp_holder(self.host, self.port)
                raise RuntimeSetupError(
                    f"{where}address in use by {holder or 'another program'}; "
                    "choose another --ui port (0: any free one)"
                ) from None
            raise RuntimeSetupError(f"{where}{describe_error(exc)}") from None
        return sock

    async def start(self) -> None:
        sock = self._bind()
        self.port = sock.getsockname()[1]
        try:
            if self.token is not None:
                write_private(self.token_file, self.token.encode() + b"\n")
            else:  # a token file of an earlier run off loopback means nothing now
                with contextlib.suppress(FileNotFoundError):
                    self.token_file.unlink()
            app = self.api.app([self._host_header, self._token_check])
            app.router.add_get("/", self._index, allow_head=False)
            app.router.add_get("/static/{path:.+}", self._static, allow_head=False)
            self._runner = await _serve(app, sock)
        except BaseException:
            sock.close()
            raise

    async def close(self) -> None:
        await self.api.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.token is not None:
            with contextlib.suppress(FileNotFoundError):
                self.token_file.unlink()

    # -- the guards ------------------------------------------------------------------

    @web.middleware
    async def _host_header(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not host_allowed(host, self.host, self.port):
            raise ApiError(
                403,
                f"this panel is served on {self.where}, "
                f"not on {host!r} (Host header refused: DNS rebinding guard)",
            )
        origin = request.headers.get("Origin")
        if origin is not None:
            # A page of another site: a browser lets it open a WebSocket anywhere (no CORS).
            refusal = origin_refusal(origin, self.host, self.port)
            if refusal is not None:
                raise ApiError(403, refusal)
        return await handler(request)

    @web.middleware
    async def _token_check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.token is None or not request.path.startswith("/v1/"):
            return await handler(request)
        given = None
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        elif "token" in request.query:
            given = request.query["token"]
        if given is None:
            raise ApiError(
                401,
                f"this panel is served on {self.where}, off loopback: a token is required "
                f"(Authorization: Bearer T or ?token=T; it is in {self.token_file})",
            )
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise ApiError(401, f"the token is wrong: the right one is in {self.token_file}")
        return await handler(request)

    # -- the page --------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        index = self.static / "index.html"
        if not index.is_file():
            return web.Response(
                status=404,
                text=f"the front panel is not installed: no index.html in {self.static}\n",
                headers=NO_CACHE,
            )
        return web.FileResponse(index, headers=NO_CACHE)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["path"]
        root = self.static.resolve()
        path = (root / wanted).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return web.Response(
                status=404, text=f"no file {wanted!r} in the front panel\n", headers=NO_CACHE
            )
        return web.FileResponse(path, headers=NO_CACHE)


# -- the guards' checks (pure functions) ------------------------------------------------

#: The port a browser leaves out of an ``http://`` Host or Origin.
HTTP_PORT = 80


def host_allowed(header: str | None, host: str, port: int) -> bool:
    """Whether a Host header (or an Origin's ``host[:port]``) names a server bound to
    ``host``:``port``: that address (``localhost`` too, bound to loopback or to every
    address; any IP address when bound to every address) and that port, 80 when left out
    (a browser leaves ``:80`` out of an ``http://`` URL)."""
    if not header:
        return False
    name, colon, given = header.rpartition(":")
    if not colon or name.endswith(":") or (":" in name and not name.endswith("]")):
        # No port: the whole header is the name (an IPv6 address only in brackets).
        name, given = header, str(HTTP_PORT)
        if ":" in name and not (name.startswith("[") and name.endswith("]")):
            return False
    if given != str(port):
        return False
    name = name.removeprefix("[").removesuffix("]").lower()
    bound = ipaddress.ip_address(host)
    if name == "localhost":
        return bound.is_loopback or bound.is_unspecified
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a DNS name: what a rebinding attack sends
    return bound.is_unspecified or address == bound


def origin_refusal(origin: str, host: str, port: int) -> str | None:
    """Why a request with this Origin header may not use a panel served on
    ``host``:``port`` (None: it may). Only the panel's own pages may: ``http://`` ones,
    from an address :func:`host_allowed` takes."""
    scheme, sep, rest = origin.partition("://")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if sep and scheme.lower() == "http" and host_allowed(rest.rstrip("/"), host, port):
        return None
    if sep and scheme.lower() == "https":
        return (
            f"a page of {origin} may not use this panel: the panel speaks plain HTTP, "
            f"only pages served by http://{where} may"
        )
    return f"a page of {origin} may not use this panel (only pages served by http://{where} may)"

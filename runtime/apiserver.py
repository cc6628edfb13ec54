"""Where the control API (``runtime/api.py``) is served: the control socket, owner-only.

:class:`ControlServer` binds ``<state>/control.sock`` itself (mode 0600 before it
listens; a path longer than a socket address takes is reached through /proc/self/fd)
and serves the API there with aiohttp. Nothing is checked on it: only its owner can
connect.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ipgwsim.runtime.api import Api
from ipgwsim.runtime.control import unix_socket
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.private import PRIVATE_FILE

if TYPE_CHECKING:
    from ipgwsim.runtime.runtime import Runtime

__all__ = ["ControlServer"]

#: Real seconds the handlers still running at the stop get to finish.
SHUTDOWN_TIMEOUT = 2.0


class ControlServer:
    """Serves the control API of ``runtime`` on the Unix socket ``path``."""

    def __init__(self, runtime: Runtime, path: Path, api: Api | None = None) -> None:
        self.runtime = runtime
        self.path = path
        self.api = api if api is not None else Api(runtime)
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
        runner = web.AppRunner(
            self.api.app(),
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        self._runner = runner
        await web.SockSite(runner, sock).start()

    async def close(self) -> None:
        self.api.closing.set()
        if self._runner is None:
            return
        await self._runner.cleanup()
        self._runner = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

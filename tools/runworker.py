"""One worker of ``ipgwsim run --workers N`` (``python -m ipgwsim.tools.runworker``).

Started by its parent (:class:`ipgwsim.runtime.workers.Workers`), never by a person, with
the parent's private folder of worker sockets, the parent's pid and its state directory
as arguments (the last two name the parent in collision messages,
:mod:`ipgwsim.runtime.ports`): it
reads its :class:`~ipgwsim.runtime.workers.WorkerConfig` from stdin (4 bytes of length,
then the pickle), runs a :class:`~ipgwsim.runtime.runtime.Runtime` of its devices that
leaves the state directory's lock to the parent and serves its control API on the socket
the parent gave, and says on stdout, one JSON object a line: ``{"ready": [...]}`` (each
device's DEVICE and console) or ``{"error": "one line"}``, then ``{"web": name, "url",
"error"}`` whenever a device's web server starts listening or cannot. It stops (saving
every flash) on SIGTERM, or when its stdin ends (the parent is gone: then it removes
the parent's private folder of worker sockets too, as the parent cannot; each worker
does so when it has stopped, so the last one leaves nothing; a worker whose parent is
gone before it sent the config removes that folder too). It inherits the state
directory's lock from the parent and holds it until it ends, so no other runtime takes
the directory while it still writes there. Its log goes to stderr, the parent's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.control import console_json, device_json
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.loops import run_on
from ipgwsim.runtime.registry import Registry
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.runtime.workers import PRIVATE_PREFIX, WorkerConfig
from ipgwsim.tools.run_cmd import _log_to_stderr


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("the parent closed the worker's stdin before its config")
        data += chunk
    return data


def _say(message: dict[str, Any]) -> None:
    try:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass  # the parent is gone; stdin's end stops this worker


async def _serve(config: WorkerConfig) -> int:
    loop = asyncio.get_running_loop()
    logging.getLogger("ipgwsim.runtime").debug(
        "worker %d: event loop: %s", config.index, type(loop).__module__.split(".")[0]
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    orphaned = False

    def stdin_readable() -> None:
        nonlocal orphaned
        if not os.read(0, 4096):
            loop.remove_reader(0)
            orphaned = True
            stop.set()

    loop.add_reader(0, stdin_readable)
    try:
        async with Runtime(
            config.state,
            port=config.port,
            share_port=True,  # every worker hears the broadcast (SO_REUSEADDR)
            clock=ScaledClock(config.speed, start=config.clock_start),
            wall_clock=config.wall_clock,
            registry=Registry(config.registry),
            control_socket=config.control_socket,
            worker=True,
            profiles_dir=config.profiles_dir,
            console_tcp=config.console_tcp,
            console_pty=config.console_pty,
            http_port=config.http_port,
            impairment=config.impairment,
        ) as runtime:
            listed = False

            def web_changed(host: DeviceHost) -> None:
                if listed:
                    _say({"web": host.name, "url": host.web_url, "error": host.web_error})

            runtime.subscribe_web(web_changed)
            hosts = await runtime.add_many_turning(config.specs)
            for host in hosts:
                await host.web_settled()
            _say({"ready": [{**device_json(h), "console": console_json(h)} for h in hosts]})
            listed = True
            await stop.wait()
    except RuntimeSetupError as exc:
        _say({"error": describe_error(exc)})
        return 2
    finally:
        loop.remove_reader(0)
        if orphaned:  # the parent is gone without cleaning up: the last worker out does
            shutil.rmtree(config.control_socket.parent, ignore_errors=True)
    return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        size = int.from_bytes(_read_exactly(0, 4), "big")
        config = pickle.loads(_read_exactly(0, size))  # from the parent process only
    except EOFError as exc:  # the parent is gone while starting: it cannot clean up
        if len(sys.argv) > 1 and Path(sys.argv[1]).name.startswith(PRIVATE_PREFIX):
            shutil.rmtree(sys.argv[1], ignore_errors=True)
        sys.stderr.write(f"ipgwsim worker: {exc}: stopping\n")
        return 1
    if not isinstance(config, WorkerConfig):
        raise SystemExit("ipgwsim worker: stdin did not hold a worker config")
    if config.lock_fd is not None:  # held until this process ends; not for its children
        os.set_inheritable(config.lock_fd, False)
    _log_to_stderr(config.log_level, config.log_format)
    return run_on(config.loop, _serve(config))


if __name__ == "__main__":
    sys.exit(main())

"""Where gwload sends: its UDP port and broadcast address, and a hint when nothing answered.

Each of ``/port`` and ``/bcast`` is taken from the first of (``docs/gwload.md``, *Port and
broadcast*):

1. the command line (``/port 6969``, ``/bcast 127.255.255.255``);
2. the environment (``IPGWSIM_GWLOAD_PORT``, ``IPGWSIM_GWLOAD_BCAST``; empty: unset);
3. the running ipgwsim runtime of a state directory: ``/state DIR``, else
   ``$IPGWSIM_STATE`` when it is set (the variable the ``ipgwsim`` commands take, but not
   their fallback: no default state directory is asked, so a user aiming at a real
   device is not redirected to a runtime that happens to run), asked on its control
   socket (``docs/runtime.md``, *Control API*, NETWORK). ``/state DIR`` where no runtime
   runs is an error naming it; ``$IPGWSIM_STATE`` where none runs is passed over (``/v``
   says so);
4. the vendor's defaults, port 69 and the limited broadcast 255.255.255.255.

When no device answered a broadcast, :func:`loopback_hint` says where the ipgwsim
runtimes on loopback of this host listen, if gwload did not reach them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address
from pathlib import Path
from typing import TypeVar

from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.errors import NoRuntime, RuntimeSetupError, describe_error
from ipgwsim.runtime.loopback import LOOPBACK_BROADCAST
from ipgwsim.runtime.ports import DEFAULT_PORT
from ipgwsim.runtime.registry import Registry, RuntimeEntry
from ipgwsim.runtime.statedir import CONTROL_SOCKET

PORT_ENV = "IPGWSIM_GWLOAD_PORT"
BCAST_ENV = "IPGWSIM_GWLOAD_BCAST"
STATE_ENV = "IPGWSIM_STATE"
#: The vendor's gwload: the TFTP port (``DEFAULT_PORT``) and the limited broadcast.
DEFAULT_BCAST = "255.255.255.255"
#: Seconds to wait for the runtime's answer on its control socket.
CONTROL_TIMEOUT = 10.0


T = TypeVar("T")


class SettingError(Exception):
    """A setting from the environment or a state directory is unusable (one line)."""


@dataclass(frozen=True)
class Where:
    """The port and broadcast gwload uses, and where each came from (for people)."""

    port: int
    bcast: str
    #: ``/port``, ``IPGWSIM_GWLOAD_PORT``, ``the runtime of state directory DIR``, ``default``
    port_from: str
    bcast_from: str
    #: Why ``$IPGWSIM_STATE`` was not used (no runtime runs there), for ``/v``; or None.
    passed_over: str | None = None


def check_port(text: str) -> int:
    """A UDP port, 1 to 65535; ``ValueError`` says why not."""
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r} is not between 1 and 65535")
    return port


def check_address(text: str) -> str:
    """A dotted IPv4 address, normalised; ``ValueError`` says why not."""
    try:
        return str(IPv4Address(text))
    except (AddressValueError, ValueError):
        raise ValueError(f"{text!r} is not an IPv4 address") from None


def _checked_env(environ: Mapping[str, str], name: str, check: Callable[[str], T]) -> T | None:
    """The variable ``name`` as ``check`` reads it, or None when it is not set;
    :class:`SettingError` naming the variable when ``check`` refuses it."""
    text = _from_env(environ, name)
    if text is None:
        return None
    try:
        return check(text)
    except ValueError as exc:
        raise SettingError(f"{name}: {exc}") from None


def _from_env(environ: Mapping[str, str], name: str) -> str | None:
    text = environ.get(name, "").strip()
    return text or None


def resolve(
    port: int | None,
    bcast: str | None,
    state: Path | None,
    environ: Mapping[str, str],
) -> Where:
    """The port and broadcast: ``port``/``bcast`` from the command line (None: not given),
    then the environment, then the runtime of ``state`` (``/state``; None: ``$IPGWSIM_STATE``,
    passed over when no runtime runs there), then the defaults. :class:`SettingError` says
    what is unusable."""
    port_from = "/port"
    if port is None:
        port = _checked_env(environ, PORT_ENV, check_port)
        port_from = PORT_ENV
    bcast_from = "/bcast"
    if bcast is None:
        bcast = _checked_env(environ, BCAST_ENV, check_address)
        bcast_from = BCAST_ENV
    named_by = "/state"
    if state is None:
        text = _from_env(environ, STATE_ENV)
        state = Path(text).expanduser() if text is not None else None
        named_by = STATE_ENV
        if port is not None and bcast is not None:
            state = None  # nothing left to take from it
    passed_over = None
    if state is not None:
        try:
            known_port, known_bcast = runtime_network(state, named_by)
        except NoRuntimeThere as exc:
            if named_by != STATE_ENV:
                raise
            # The user's shell may name a runtime long gone while they aim at a real
            # device: only a state directory given on the command line must have one.
            passed_over = f"{exc}; not used"
            state = None
    if state is not None:
        origin = f"the runtime of state directory {state}"
        if port is None:
            port, port_from = known_port, origin
        if bcast is None:
            bcast, bcast_from = known_bcast, origin
    if port is None:
        port, port_from = DEFAULT_PORT, "default"
    if bcast is None:
        bcast, bcast_from = DEFAULT_BCAST, "default"
    return Where(port, bcast, port_from, bcast_from, passed_over)


class NoRuntimeThere(SettingError):
    """The state directory has no running runtime (no control socket, or a stale one)."""


def runtime_network(state: Path, named_by: str) -> tuple[int, str]:
    """The UDP port and broadcast address of the runtime running on ``state``."""
    try:
        with ControlClient(state, timeout=CONTROL_TIMEOUT) as client:
            reply = client.request("status")
    except NoRuntime as exc:
        raise NoRuntimeThere(f"{named_by}: {describe_error(exc)}") from None
    except (RuntimeSetupError, ControlError) as exc:
        raise SettingError(f"{named_by}: {describe_error(exc)}") from None
    except (TimeoutError, OSError, ValueError) as exc:
        raise SettingError(
            f"{named_by}: the runtime of state directory {state} did not answer: "
            f"{describe_error(exc)}"
        ) from None
    network = reply.get("network")
    if not isinstance(network, dict):
        raise SettingError(
            f"{named_by}: the runtime of state directory {state} does not tell its port "
            f"(an older ipgwsim): give /port and /bcast"
        )
    try:
        return check_port(str(network["port"])), check_address(str(network["broadcast"]))
    except (KeyError, ValueError) as exc:
        raise SettingError(
            f"{named_by}: the runtime of state directory {state} told a bad port or "
            f"broadcast ({describe_error(exc)})"
        ) from None


def loopback_runtimes() -> list[RuntimeEntry]:
    """The ipgwsim runtimes on loopback running on this host (from the host registry;
    none when there is no registry to read)."""
    registry = Registry()
    with contextlib.suppress(RuntimeSetupError, OSError):
        if not registry.root.is_dir():
            return []  # nothing ran here: nothing to make
        with registry.locked():
            return [entry for entry in registry.running() if entry.network == "loopback"]
    return []


def loopback_hint(port: int, bcast: str) -> str | None:
    """Where the loopback runtimes of this host listen, when a broadcast to
    ``bcast:port`` does not reach them; None when it does, or none runs."""
    running = loopback_runtimes()
    if bcast == LOOPBACK_BROADCAST and any(r.port == port for r in running):
        return None
    if not running:
        return None
    first = running[0]
    places = "; ".join(f"port {r.port}, state directory {r.state}" for r in running[:3])
    more = f"; and {len(running) - 3} more" if len(running) > 3 else ""
    # /state asks the control socket, which `ipgwsim run` has (not the Simulator, the demo)
    served = (Path(first.state) / CONTROL_SOCKET).exists()
    other = f" (or /state {first.state})" if served else ""
    return (
        f"a broadcast to {bcast}:{port} reaches no ipgwsim runtime on loopback; those "
        f"running on this host hear {LOOPBACK_BROADCAST} ({places}{more}): try "
        f"/bcast {LOOPBACK_BROADCAST} /port {first.port}{other}"
    )

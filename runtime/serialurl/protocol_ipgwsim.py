"""pyserial's handler of ``ipgwsim://DEVICE[?state=DIR][&tcp|&rfc2217]``.

``serial.serial_for_url`` calls :func:`serial_class_for_url` with the URL (once this
package is in ``serial.protocol_handler_packages``: see :mod:`ipgwsim.runtime.serialurl`).
It asks the runtime of the state directory, through its control socket, where the
device's console is, as ``ipgwsim console`` does, and hands pyserial what to open:

- ``ipgwsim://ip6000-1``: the device's pty (the serial line, one session shared with
  ``ipgwsim console --attach`` and anything else on the pty);
- ``...?tcp``: its raw TCP port (``socket://127.0.0.1:PORT``, a session of its own);
- ``...?rfc2217``: its RFC 2217 port (``rfc2217://127.0.0.1:PORT``, a session of its own);
  both need a runtime started with ``--console-tcp``.

DEVICE is a name (``ip6000-1``) or a MAC in any common spelling (``00:90:33:10:00:01``,
``00-90-33-10-00-01``, ``009033100001``). ``state=DIR`` is the runtime's state directory
(default as for ``ipgwsim run``: ``$IPGWSIM_STATE``, else ``$XDG_STATE_HOME/ipgwsim``,
else ``~/.local/state/ipgwsim``); options are joined with ``&`` and percent-encoded as in
any URL. Whatever cannot be opened raises :class:`serial.SerialException` with one line
saying why: a bad URL, no runtime on the state directory, a device the runtime does not
have (the ones it has are named), a device switched off, a console not served on TCP.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import serial
from serial import SerialBase, SerialException
from serial.rfc2217 import Serial as Rfc2217Serial
from serial.urlhandler.protocol_socket import Serial as SocketSerial

from ipgwsim.runtime.control import ControlClient, ControlError
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.statedir import default_state_dir

SCHEME = "ipgwsim://"
#: The URL's form, as errors name it.
FORM = "ipgwsim://DEVICE[?state=DIR][&tcp|&rfc2217]"
#: Seconds to wait for the runtime's answer.
REPLY_TIMEOUT = 30.0
#: The options that choose the console's TCP ports instead of its pty.
TCP_OPTIONS = ("tcp", "rfc2217")


@dataclass(frozen=True)
class Target:
    """What a URL names: the device, the state directory, and ``pty``, ``tcp`` or
    ``rfc2217``."""

    device: str
    state: Path
    via: str


def parse(url: str) -> Target:
    """The parts of an ``ipgwsim://`` URL; :class:`SerialException` naming what is wrong."""
    if not url.lower().startswith(SCHEME):
        raise SerialException(f"not an {SCHEME} URL: {url!r} (expected {FORM})")
    rest = url[len(SCHEME) :]
    where, _, query = rest.partition("?")
    device = unquote(where.rstrip("/"))
    if not device or "/" in device:
        raise SerialException(f"no device name or MAC in {url!r} (expected {FORM})")
    state: Path | None = None
    via = "pty"
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "state":
            if state is not None:
                raise SerialException(f"state= is given twice in {url!r}")
            if not value:
                raise SerialException(f"state= needs a directory in {url!r}")
            state = Path(value).expanduser()
        elif name in TCP_OPTIONS:
            if value:
                raise SerialException(f"{name} takes no value, not {value!r}, in {url!r}")
            if via != "pty":
                raise SerialException(f"{via} and {name} are both given in {url!r}: choose one")
            via = name
        else:
            raise SerialException(
                f"unknown option {name!r} in {url!r} (known: state=DIR, tcp, rfc2217)"
            )
    return Target(device, state if state is not None else default_state_dir(), via)


def _ask(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """The runtime's ``console`` reply for the device and the device's status."""
    try:
        with ControlClient(target.state, timeout=REPLY_TIMEOUT) as client:
            console = client.request("console", device=target.device, lines=0)
            devices = client.request("status")["devices"]
    except TimeoutError:
        raise SerialException(
            f"the runtime with state directory {target.state} did not answer in time"
        ) from None
    except (RuntimeSetupError, ControlError) as exc:
        raise SerialException(describe_error(exc)) from None
    except OSError as exc:  # the connection broke off
        raise SerialException(
            f"the runtime with state directory {target.state}: {describe_error(exc)}"
        ) from None
    status = next((d for d in devices if d["name"] == console["device"]), None)
    if status is None:  # it went away between the two requests
        raise SerialException(f"{console['device']} is no longer in the runtime")
    return console, status


def resolve(url: str) -> tuple[str, type[SerialBase]]:
    """What pyserial opens for ``url``: a pty path or a TCP URL, and its class."""
    target = parse(url)
    console, status = _ask(target)
    name = console["device"]
    if status["mode"] == "off":
        raise SerialException(
            f"{name} is switched off: switch it on first "
            f"(ipgwsim power {name} on --state {target.state})"
        )
    if target.via == "pty":
        return str(console["pty"]), serial.Serial
    port = console["tcp_port"] if target.via == "tcp" else console["rfc2217_port"]
    if port is None:
        raise SerialException(
            f"the console of {name} is not served on TCP: start the runtime with --console-tcp"
        )
    if target.via == "tcp":
        return f"socket://127.0.0.1:{port}", SocketSerial
    return f"rfc2217://127.0.0.1:{port}", Rfc2217Serial


def serial_class_for_url(url: str) -> tuple[str, type[SerialBase]]:
    """pyserial's hook (``serial.serial_for_url``): the URL resolved, and the class to open
    it with."""
    return resolve(url)

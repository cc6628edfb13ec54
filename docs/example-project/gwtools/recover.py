"""Recover a gateway whose admin password is lost: the vendor's TFTP procedure.

Hold the reset button 1.5-2 s (TFTP mode, config kept), then::

    recover_password("192.168.0.1", "admin", "n3w-secret", workdir=Path("/tmp/gw"))

It gives the device its address with gwload, reads the config ring with tftp, puts
``/user admin,n3w-secret`` on the newest config's CMD0 line and sends that back with
gwload, which restarts the device. The firmware moves the password into its crypted
store at the start.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from gwtools.ring import newest


class RecoveryFailed(RuntimeError):
    pass


def installed_gwload() -> list[str]:
    """The gwload installed with ipgwsim for this Python: next to the interpreter (the
    venv's ``bin``, whether or not it is on PATH), else run as ipgwsim's module."""
    beside = Path(sys.executable).parent / "gwload"
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]


def with_user(config: str, user: str, password: str) -> str:
    """``config`` with ``/user user,password`` on its CMD0 line (any old /user replaced)."""
    lines = config.splitlines()
    for n, line in enumerate(lines):
        words = line.split()
        if words[:3] == ["config", "change", "CMD0"]:
            if "/user" in words:
                at = words.index("/user")
                del words[at : at + 2]
            lines[n] = " ".join([*words, "/user", f"{user},{password}"])
            break
    else:
        lines.append(f"config change CMD0 /user {user},{password}")
    return "\r\n".join(lines) + "\r\n"


def recover_password(
    ip: str,
    user: str,
    password: str,
    *,
    workdir: Path,
    gwload: Sequence[str] | None = None,
    gwload_options: Sequence[str] = (),
    tftp_port: int = 69,
    prefix: Sequence[str] = (),
) -> str:
    """Set a new admin password on the device in TFTP mode; the config it was given.

    ``gwload``: the gwload command (default: the one installed with ipgwsim for this
    Python, :func:`installed_gwload`); ``gwload_options``: more options for gwload
    (``/gwtype 6000``, ``/mac ...``);
    ``prefix``: run the tools under this command (``ip netns exec LAB``).
    """

    def run(*argv: str) -> str:
        done = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RecoveryFailed(
                f"{argv[0]} failed ({done.returncode}): {done.stdout}{done.stderr}"
            )
        return done.stdout

    gwload = installed_gwload() if gwload is None else list(gwload)
    run(*gwload, "/i", ip, "/setip", *gwload_options)
    dump = workdir / "config.dump"
    run("tftp", "-m", "binary", ip, str(tftp_port), "-c", "get", "config", str(dump))
    config = newest(dump.read_bytes())
    if config is None:
        raise RecoveryFailed(f"{ip}: the config ring is empty (was the config cleared?)")
    edited = workdir / "config.txt"
    edited.write_text(with_user(config, user, password), newline="")
    run(*gwload, "/i", ip, "/setip", "/cfg", str(edited), *gwload_options)
    return edited.read_text()

"""A state directory is its owner's alone, whatever the umask (issue: files followed it)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: what the process makes is open to everyone unless it says otherwise."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.usefixtures("open_umask", "private_registry")
def test_state_files_are_owner_only_whatever_the_umask(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"

    async def main() -> None:
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            host.save()
            assert stat.S_ISSOCK(rt.state.control_socket.lstat().st_mode)
            assert mode(rt.state.control_socket) == 0o600
            assert mode(state / "lock") == 0o600

    run(main())
    assert mode(state) == 0o700
    device = state / "ip6000-1"
    assert mode(device) == 0o700
    for name in ("flash.img", "instance.toml"):
        assert mode(device / name) == 0o600, name
    assert mode(state / "serials.toml") == 0o600
    # A folder the user made before, open to all, is closed too.
    again = tmp_path / "made-by-hand"
    again.mkdir(mode=0o777)

    async def second() -> None:
        async with Runtime(again, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()):
            pass

    run(second())
    assert mode(again) == 0o700

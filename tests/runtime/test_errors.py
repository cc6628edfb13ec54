"""Every error line says what went wrong: exceptions without text are described too."""

from __future__ import annotations

import argparse
import errno
from pathlib import Path

import pytest

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.errors import UnknownDevice, describe_error
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.tools import cli


def test_an_exception_with_text_is_that_text() -> None:
    assert describe_error(ValueError("bad value")) == "bad value"
    assert describe_error(KeyError("ip6000-9")) == "ip6000-9"  # not "'ip6000-9'"
    assert describe_error(UnknownDevice("no device 'x'")) == "no device 'x'"
    in_use = OSError(errno.EADDRINUSE, "Address already in use")
    assert describe_error(in_use) == "Address already in use"  # without [Errno 98]
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "a.bin")
    assert describe_error(missing) == "No such file or directory"
    assert describe_error(missing, with_file=True) == "No such file or directory: 'a.bin'"
    assert describe_error(OSError("plain text")) == "plain text"


def test_an_exception_without_text_is_described_by_its_kind_and_context() -> None:
    assert describe_error(TimeoutError()) == "timed out"
    assert (
        describe_error(TimeoutError(), waiting_for="the device's answer", after=30)
        == "timed out after 30 s waiting for the device's answer"
    )
    assert describe_error(ConnectionResetError()) == "ConnectionResetError (without a message)"
    assert describe_error(ValueError("  ")) == "ValueError (without a message)"
    timeout = TimeoutError()
    timeout.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert describe_error(timeout) == "timed out (ConnectionRefusedError: Connection refused)"


def test_the_cli_never_prints_an_empty_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command that times out without text (``asyncio.wait_for``) still says so."""

    def handler(args: argparse.Namespace) -> int:
        raise TimeoutError()

    parser = cli.build_parser()
    original = parser.parse_args

    def parse(argv: list[str] | None = None) -> argparse.Namespace:
        args = original(argv)
        args.handler = handler
        return args

    monkeypatch.setattr(parser, "parse_args", parse)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main(["profiles"]) == 2
    assert capsys.readouterr().err == "ipgwsim profiles: timed out\n"


def test_a_watcher_that_waits_in_vain_says_for_what(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with Runtime(
            tmp_path / "s", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            rt.add_devices("IP6000", 1)
            with rt.watch("ip6000-1") as watcher, pytest.raises(TimeoutError) as info:
                await watcher.next(timeout=0.01)
            assert str(info.value) == "timed out after 0.01 s waiting for an event of ip6000-1"
            with rt.watch() as watcher, pytest.raises(TimeoutError) as info:
                await watcher.next(timeout=0.01)
            assert str(info.value) == "timed out after 0.01 s waiting for a device event"

    run(main())

"""HTTP Basic logins on real sockets: the wait after failed logins, and checks off the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

import pytest

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.web import curl, short_press

pytestmark = [pytest.mark.integration, pytest.mark.requires("curl")]

P = ParamSpec("P")
T = TypeVar("T")
SHOW = "/!config%20show"


def _split(response: str) -> tuple[dict[str, str], str]:
    """Headers (names in lower case) and body of ``curl -i``'s output."""
    head, _, body = response.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


def test_repeated_wrong_logins_from_one_client_wait_with_429(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(tmp_path / "s", port=ports.udp(), clock=clock, http_port=http) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            for _ in range(3):
                assert (await curl("-u", "admin:wrong", url + SHOW))[0] == 401
            # The right password within the wait is not checked: 429, how long to wait.
            status, out = await curl("-i", "-u", "admin:ip6000", url + SHOW)
            headers, body = _split(out)
            assert status == 429
            assert headers["retry-after"] == "1"
            assert body == (
                "429 Too Many Requests: 3 failed logins in a row from 127.0.0.1; "
                "try again in 1 s\r\n"
            )
            assert host.device.firmware is not None
            assert host.device.firmware.logins.failures("127.0.0.1") == 3
            # After the wait (device time) the right password works, and resets the count.
            await clock.advance(1.0)
            status, body = await curl("-u", "admin:ip6000", url + SHOW)
            assert status == 200, body
            assert host.device.firmware.logins.failures("127.0.0.1") == 0

    run(main())


class GatedPool(ThreadPoolExecutor):
    """A pool whose calls wait for :attr:`release` and note the thread they run in."""

    def __init__(self) -> None:
        super().__init__(1, thread_name_prefix="gated-login")
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[int] = []

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        def gated() -> T:
            self.threads.append(threading.get_ident())
            self.entered.set()
            self.release.wait(30)
            return fn(*args, **kwargs)

        return super().submit(gated)


def test_a_password_check_runs_off_the_event_loop_which_answers_meanwhile(
    tmp_path: Path, ports: Ports
) -> None:
    pool = GatedPool()

    async def main() -> None:
        clock = ManualClock()
        http = ports.tcp()
        async with Runtime(
            tmp_path / "s", port=ports.udp(), clock=clock, http_port=http, login_executor=pool
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            url = await short_press(rt, clock, host)
            # A stored record: its check is an scrypt derivation.
            change = "config%20change%20CMD0%20/user%20admin,s3cret"
            assert (await curl("-u", "admin:ip6000", f"{url}/!{change}"))[0] == 200
            assert (await curl("-u", "admin:ip6000", f"{url}/!config%20write"))[0] == 200
            assert (await curl("-u", "admin:ip6000", f"{url}/!config%20activate"))[0] == 200
            pool.release.clear()
            wrong = asyncio.create_task(curl("-u", "admin:wrong", url + SHOW))
            entered = await asyncio.to_thread(pool.entered.wait, 20)
            assert entered, "the password check never reached the login executor"
            # While it is held in the pool the event loop still serves: an open page.
            status, body = await curl(f"{url}/CMD0/box_info.xml")
            assert status == 200
            assert "<sys " in body
            assert not wrong.done()
            pool.release.set()
            assert (await wrong)[0] == 401
            loop_thread = threading.get_ident()
            assert pool.threads
            assert loop_thread not in pool.threads
            # The right password is checked once; then it is known while the record stays.
            checks = len(pool.threads)
            for _ in range(3):
                assert (await curl("-u", "admin:s3cret", url + SHOW))[0] == 200
            assert len(pool.threads) == checks + 1

    try:
        run(main())
    finally:
        pool.release.set()
        pool.shutdown(wait=True)

"""The connection budget and the once-said limits, one layer at a time (no sockets)."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from ipgwsim.runtime.connlimit import ConnectionBudget, ConnectionLimits, quiet_accept_errors
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.testing.loopback import run


def test_accept_failures_for_want_of_descriptors_are_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """asyncio reports every failed accept of every listener with a traceback (each one
    tries again a second later); the runtime says it once."""
    budget = ConnectionBudget(log=logging.getLogger("ipgwsim.runtime"), nofile=1024)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        undo = quiet_accept_errors(loop, budget.once)
        try:
            for _ in range(500):
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "Too many open files"),
                    }
                )
            loop.call_exception_handler({"message": "something else"})
        finally:
            undo()
        assert loop.get_exception_handler() is None
        assert budget.admit("ip6000-1", "HTTP", 10) is None  # accepting again

    caplog.set_level(logging.DEBUG)
    run(main())
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "Using selector" not in r.msg]
    assert lines == [
        (logging.WARNING, "cannot accept connections: Too many open files; trying again"),
        (logging.ERROR, "something else"),
        (logging.INFO, "connections are accepted again (500 refused meanwhile)"),
    ]
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("ipgwsim"))


def test_the_reserve_is_a_quarter_of_a_small_limit_and_refuses_high_descriptors() -> None:
    budget = ConnectionBudget(ConnectionLimits(per_device=100), nofile=32)
    assert (budget.reserve, budget.fd_ceiling) == (8, 24)
    assert budget.admit("ip6000-1", "HTTP", 23) is None
    refusal = budget.admit("ip6000-1", "HTTP", 24)
    assert refusal == "the runtime keeps its last 8 file descriptors for itself"
    assert budget.total == 1
    budget.release("ip6000-1", "HTTP")
    assert budget.total == 0
    assert budget.open("ip6000-1", "HTTP") == 0


def test_the_runtime_limit_counts_every_device() -> None:
    budget = ConnectionBudget(ConnectionLimits(per_device=2, per_runtime=3), nofile=1 << 16)
    assert budget.admit("a", "HTTP", 10) is None
    assert budget.admit("a", "HTTP", 11) is None
    assert budget.admit("a", "HTTP", 12) == "a has 2 HTTP connections open, its limit"
    assert budget.admit("b", "HTTP", 12) is None
    assert budget.admit("c", "HTTP", 13) == "the runtime holds 3 connections, its limit"


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("per_device", 0, "per_device must be a whole number of 1 or more, not 0"),
        ("reserve", 2.5, "reserve must be a whole number of 1 or more, not 2.5"),
        ("header_timeout", float("inf"), "header_timeout must be seconds above 0, not inf"),
        ("body_timeout", -1, "body_timeout must be seconds above 0, not -1"),
    ],
)
def test_bad_limits_are_refused_saying_which(field: str, value: object, text: str) -> None:
    with pytest.raises(RuntimeSetupError) as refused:
        ConnectionLimits(**{field: value})  # type: ignore[arg-type]
    assert str(refused.value) == text

"""Option negotiation and timer settings of :mod:`ipgwsim.proto.tftp.options`."""

from __future__ import annotations

import pytest

from ipgwsim.proto.errors import RemoteProtocolError
from ipgwsim.proto.tftp.options import (
    KNOWN_OPTIONS,
    OptionPolicy,
    TimerPolicy,
    negotiate,
    option_number,
    validate_oack,
)

ALL = OptionPolicy(supported=KNOWN_OPTIONS)


def test_everything_granted_as_asked() -> None:
    result = negotiate(
        {"blksize": "1468", "tsize": "0", "timeout": "3", "windowsize": "16"}, ALL, tsize=12345
    )
    assert result.options == {
        "blksize": "1468",
        "tsize": "12345",
        "timeout": "3",
        "windowsize": "16",
    }
    assert result.reply == result.options
    assert (result.blksize, result.windowsize, result.timeout, result.tsize) == (1468, 16, 3, 12345)


def test_names_are_case_insensitive_and_the_reply_keeps_the_spelling() -> None:
    result = negotiate({"BLKSIZE": "1024", "WindowSize": "4"}, ALL)
    assert result.options == {"blksize": "1024", "windowsize": "4"}
    assert result.reply == {"BLKSIZE": "1024", "WindowSize": "4"}


def test_policy_restricts_the_options() -> None:
    policy = OptionPolicy(supported=frozenset({"blksize", "tsize"}))
    result = negotiate({"blksize": "1468", "windowsize": "16", "timeout": "2", "x": "1"}, policy)
    assert result.options == {"blksize": "1468"}
    assert (result.windowsize, result.timeout) == (1, None)


def test_nothing_granted_means_plain() -> None:
    result = negotiate({"blksize": "4", "multicast": ""}, OptionPolicy(supported=frozenset()))
    assert result.reply == {}
    assert (result.blksize, result.windowsize) == (512, 1)


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        ("7", None),
        ("0", None),
        ("8", "8"),
        ("65464", "9000"),
        ("70000", "9000"),
        ("-1", None),
        ("1k", None),
        ("", None),
    ],
)
def test_blksize_range(asked: str, granted: str | None) -> None:
    result = negotiate({"blksize": asked}, OptionPolicy(supported=KNOWN_OPTIONS, max_blksize=9000))
    assert result.options.get("blksize") == granted
    assert result.blksize == (512 if granted is None else int(granted))


@pytest.mark.parametrize(
    ("asked", "granted"),
    [("0", None), ("1", "1"), ("8", "8"), ("64", "32"), ("65535", "32"), ("65536", None)],
)
def test_windowsize_range(asked: str, granted: str | None) -> None:
    result = negotiate(
        {"windowsize": asked}, OptionPolicy(supported=KNOWN_OPTIONS, max_windowsize=32)
    )
    assert result.options.get("windowsize") == granted


@pytest.mark.parametrize(("asked", "granted"), [("0", None), ("1", 1), ("255", 255), ("256", None)])
def test_timeout_range(asked: str, granted: int | None) -> None:
    assert negotiate({"timeout": asked}, ALL).timeout == granted


def test_tsize_of_a_write_is_echoed() -> None:
    assert negotiate({"tsize": "4096"}, ALL).options == {"tsize": "4096"}
    assert negotiate({"tsize": "4096"}, ALL, tsize=10).options == {"tsize": "10"}


def test_a_repeated_name_is_granted_once() -> None:
    result = negotiate({"blksize": "1024", "BLKSIZE": "2048"}, ALL)
    assert result.reply == {"blksize": "1024"}


def test_policy_checks_its_values() -> None:
    with pytest.raises(ValueError, match="unknown TFTP options"):
        OptionPolicy(supported=frozenset({"multicast"}))
    with pytest.raises(ValueError, match="max_blksize"):
        OptionPolicy(supported=KNOWN_OPTIONS, max_blksize=65465)
    with pytest.raises(ValueError, match="max_windowsize"):
        OptionPolicy(supported=KNOWN_OPTIONS, max_windowsize=0)


def test_timer_policy_defaults() -> None:
    assert TimerPolicy() == TimerPolicy(1.0, 2.0, 8.0, 5, None)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"timeout": 0.0}, "timeout must be positive"),
        ({"backoff": 0.5}, "backoff must be at least 1"),
        ({"timeout": 9.0, "max_timeout": 8.0}, "max_timeout must not be below timeout"),
        ({"retries": -1}, "retries must not be negative"),
        ({"dally": -1.0}, "dally must not be negative"),
    ],
)
def test_timer_policy_checks_its_values(bad: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimerPolicy(**bad)  # type: ignore[arg-type]


# -------------------- the client's check of an OACK -----------------------------


def test_valid_oack() -> None:
    asked = {"BlkSize": "1468", "tsize": "0", "timeout": "2", "windowsize": "16"}
    result = validate_oack(asked, {"blksize": "1024", "TSIZE": "99", "windowsize": "8"})
    assert result.options == {"blksize": "1024", "tsize": "99", "windowsize": "8"}
    assert (result.blksize, result.windowsize, result.tsize, result.timeout) == (1024, 8, 99, None)


@pytest.mark.parametrize(
    ("oack", "message"),
    [
        ({"windowsize": "4"}, "the server granted option 'windowsize', which was not asked"),
        ({"blksize": "2000"}, "the server granted blksize 2000, asked 1468"),
        ({"blksize": "4"}, "the server granted blksize 4, asked 1468"),
        ({"blksize": "big"}, "the server granted blksize 'big', which is no number"),
        ({"timeout": "5"}, "the server granted timeout 5, asked 2"),
        ({"blksize": "512", "BLKSIZE": "512"}, "the server granted option 'BLKSIZE' twice"),
    ],
)
def test_invalid_oack(oack: dict[str, str], message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        validate_oack({"blksize": "1468", "timeout": "2", "tsize": "0"}, oack)


def test_oack_windowsize_larger_than_asked() -> None:
    with pytest.raises(RemoteProtocolError, match="windowsize 32, asked 16"):
        validate_oack({"windowsize": "16"}, {"windowsize": "32"})


def test_absurdly_long_numbers_are_no_numbers_on_either_side() -> None:
    huge = "9" * 5000  # int() itself refuses more than 4300 digits
    assert option_number(huge) is None
    assert option_number("1" * 21) is None
    assert option_number("1" * 20) == int("1" * 20)
    # server: the option is simply not granted
    assert "blksize" not in negotiate({"blksize": huge}, OptionPolicy()).options
    # client: a server granting such a value is refused with a reason, not a crash
    with pytest.raises(RemoteProtocolError, match="no number"):
        validate_oack({"blksize": "1468"}, {"blksize": huge})


def test_the_retry_span_is_the_whole_schedule() -> None:
    assert TimerPolicy().retry_span() == 1 + 2 + 4 + 8 + 8 + 8
    assert TimerPolicy(timeout=2.0, retries=2).retry_span() == 2 + 4 + 8
    assert TimerPolicy(timeout=10.0, max_timeout=10.0, retries=1).retry_span() == 20
    assert TimerPolicy(retries=0).retry_span() == 1

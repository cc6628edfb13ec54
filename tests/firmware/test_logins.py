"""The login throttle and the checks that passed before (sans-I/O, device time passed in)."""

from __future__ import annotations

import pytest

from ipgwsim.firmware.logins import (
    ACCEPTED_KEPT,
    CHECK_BURST,
    CHECKS_PER_SECOND,
    MAX_DELAY,
    MAX_SOURCES,
    Logins,
    PasswordCheck,
    Refused,
    delay,
)
from ipgwsim.flash.credentials import AdminCredentials

SALT = bytes(range(16))
#: A stored record with a cheap scrypt cost (the derivation is the same code).
STORED = AdminCredentials.create("admin", "s3cret", SALT, n=2**4, r=1, p=1)


def _check(
    password: str, user: str = "admin", stored: AdminCredentials | None = STORED
) -> PasswordCheck:
    return PasswordCheck(user, password, stored, "admin", "ip6000")


def _attempt(logins: Logins, source: str, password: str, now: float) -> bool | Refused:
    """One attempt as an interface makes it: ask, check if let through, tell the result."""
    check = _check(password)
    admitted = logins.begin(source, check, now)
    if admitted is not False:
        return admitted
    ok = check.verify()
    logins.end(source, check, ok)
    return ok


def test_the_third_failure_in_a_row_makes_the_source_wait_then_the_wait_doubles() -> None:
    logins = Logins()
    assert [delay(n) for n in range(1, 12)] == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert delay(10**6) == MAX_DELAY
    assert _attempt(logins, "10.0.0.9", "a", 0.0) is False
    assert _attempt(logins, "10.0.0.9", "b", 0.0) is False
    assert _attempt(logins, "10.0.0.9", "c", 0.0) is False  # the third: 1 s from now
    # Within the wait even the right password is not checked, and the try does not count.
    refused = _attempt(logins, "10.0.0.9", "s3cret", 0.5)
    assert refused == Refused(0.5, "3 failed logins in a row from 10.0.0.9")
    assert isinstance(refused, Refused)
    assert refused.seconds == 1
    assert logins.failures("10.0.0.9") == 3
    # Another source is not held up (its password is checked).
    assert _attempt(logins, "10.0.0.10", "wrong", 0.5) is False
    # After the wait: a check again; a fourth failure makes it 2 s, a fifth 4 s.
    assert _attempt(logins, "10.0.0.9", "d", 1.0) is False
    early = _attempt(logins, "10.0.0.9", "e", 2.9)
    assert isinstance(early, Refused)
    assert early.reason == "4 failed logins in a row from 10.0.0.9"
    assert early.wait == pytest.approx(0.1)
    assert _attempt(logins, "10.0.0.9", "e", 3.0) is False
    assert isinstance(_attempt(logins, "10.0.0.9", "s3cret", 6.9), Refused)
    # The right password after the wait: in, and the count starts again.
    assert _attempt(logins, "10.0.0.9", "s3cret", 7.0) is True
    assert logins.failures("10.0.0.9") == 0
    assert _attempt(logins, "10.0.0.9", "f", 7.0) is False
    assert _attempt(logins, "10.0.0.9", "g", 7.0) is False
    assert logins.failures("10.0.0.9") == 2


def test_checks_begun_at_once_count_before_their_results() -> None:
    logins = Logins()
    begun = [logins.begin("10.0.0.9", _check(f"p{i}"), 0.0) for i in range(10)]
    # Three checks may be under way for one source; the rest wait for the third's delay.
    assert begun[:3] == [False, False, False]
    assert all(isinstance(r, Refused) and r.wait == 1.0 for r in begun[3:])
    # One of the three was right: it takes the count back.
    logins.end("10.0.0.9", _check("s3cret"), True)
    assert logins.failures("10.0.0.9") == 0


def test_the_device_checks_at_most_a_burst_then_a_rate_whatever_the_sources() -> None:
    logins = Logins()
    for i in range(CHECK_BURST):
        assert _attempt(logins, f"10.0.1.{i}", "wrong", 0.0) is False
    refused = _attempt(logins, "10.0.2.1", "s3cret", 0.0)
    assert isinstance(refused, Refused)
    assert refused.device_busy
    assert refused.reason == "too many password checks on this device (at most 4 a second)"
    assert refused.wait == 1 / CHECKS_PER_SECOND
    assert logins.failures("10.0.2.1") == 0  # the device's refusal is not the source's failure
    assert _attempt(logins, "10.0.2.1", "s3cret", 1 / CHECKS_PER_SECOND) is True
    assert isinstance(_attempt(logins, "10.0.2.2", "x", 1 / CHECKS_PER_SECOND), Refused)
    # After a quiet while the whole burst is back, never more.
    for i in range(CHECK_BURST):
        assert _attempt(logins, f"10.0.3.{i}", "wrong", 100.0) is False
    assert isinstance(_attempt(logins, "10.0.3.99", "wrong", 100.0), Refused)


def test_a_success_is_remembered_until_the_record_changes() -> None:
    logins = Logins()
    assert _attempt(logins, "10.0.0.9", "s3cret", 0.0) is True
    # Again: no check (begin says True), no budget spent, even beyond the burst.
    for _ in range(CHECK_BURST * 2):
        assert logins.begin("10.0.0.9", _check("s3cret"), 0.0) is True
    # Not for another password or user, and not against another record.
    assert logins.begin("10.0.0.9", _check("s3cret", user="root"), 0.0) is False
    other = AdminCredentials.create("admin", "s3cret", bytes(16), n=2**4, r=1, p=1)
    assert logins.begin("10.0.0.9", _check("s3cret", stored=other), 0.0) is False


def test_a_remembered_success_does_not_clear_the_failures_of_its_source() -> None:
    logins = Logins()
    assert _attempt(logins, "127.0.0.1", "s3cret", 0.0) is True
    for password in ("a", "b", "c"):
        assert _attempt(logins, "127.0.0.1", password, 0.0) is False
    # The browser that knows the password goes on; the guesser still waits.
    assert _attempt(logins, "127.0.0.1", "s3cret", 0.1) is True
    assert isinstance(_attempt(logins, "127.0.0.1", "d", 0.1), Refused)


def test_the_remembered_successes_and_sources_are_bounded() -> None:
    logins = Logins()
    for i in range(ACCEPTED_KEPT + 1):
        check = PasswordCheck("admin", f"p{i}", None, "admin", f"p{i}")
        assert logins.begin("a", check, float(i)) is False
        logins.end("a", check, check.verify())
    first = PasswordCheck("admin", "p0", None, "admin", "p0")
    assert logins.begin("a", first, 100.0) is False  # forgotten: checked again
    last = PasswordCheck("admin", f"p{ACCEPTED_KEPT}", None, "admin", f"p{ACCEPTED_KEPT}")
    assert logins.begin("a", last, 100.0) is True
    for i in range(MAX_SOURCES + 1):
        logins.begin(f"s{i}", _check("x"), 1000.0 + i)
    assert logins.failures("s0") == 0  # the source unheard of longest was forgotten
    assert logins.failures(f"s{MAX_SOURCES}") == 1


def test_password_checks_against_a_record_the_defaults_or_a_damaged_record() -> None:
    assert _check("s3cret").verify()
    assert not _check("ip6000").verify()
    assert not _check("s3cret", user="root").verify()
    assert PasswordCheck("admin", "ip6000", None, "admin", "ip6000").verify()
    assert not PasswordCheck("root", "ip6000", None, "admin", "ip6000").verify()
    assert not PasswordCheck("admin", "ip6000", None, "admin", None).verify()
    # The key tells user and password apart wherever the split is.
    one = PasswordCheck("a:b", "c", STORED, "admin", None)
    two = PasswordCheck("a", "b:c", STORED, "admin", None)
    assert one.key != two.key
    assert "s3cret" not in repr(_check("s3cret"))

"""Logins: which attempts get a password check, and which checks succeeded before (sans-I/O).

A password check derives the stored record's scrypt hash (about 50 ms of CPU and 16 MiB).
:class:`Logins` decides, before that work, whether an attempt is checked at all:

- :class:`PasswordCheck` is one check, made from the stored record on the device's side;
  :meth:`PasswordCheck.verify` is pure and may run anywhere (the runtime runs the checks of
  HTTP logins in a worker thread, off its event loop).
- DECISION (the vendor documents no lock-out for its admin interfaces): per *source* (an
  HTTP client's address; ``the console`` for every console session, as on the device's one
  serial line) the failures in a row are counted. The first :data:`FREE_FAILURES` - 1 cost
  nothing; from the :data:`FREE_FAILURES`-th on, the source waits 1 s, then 2, 4, ... at most
  :data:`MAX_DELAY` s (device time) before its next attempt is checked. An attempt within the
  wait is refused without a check and does not count. A verified success resets the count.
  An attempt counts as a failure when its check begins (a success takes it back), so that
  attempts sent at once cannot all be checked before the first result is known.
- DECISION: the device checks at most :data:`CHECK_BURST` passwords at once and
  :data:`CHECKS_PER_SECOND` a second after that, whatever their sources (a token bucket in
  device time), so that many sources cannot multiply the work.
- DECISION: credentials that passed a check pass again without one (and without counting
  against the sources or the device) while the stored record is the same: a browser sends
  HTTP Basic credentials with every request. The last :data:`ACCEPTED_KEPT` are kept, keyed
  by the record and a hash of user and password; a new record (a new ``/user``) makes them
  unknown. Such an attempt does not reset its source's failures either: a client that knows
  the password cannot clear the count of another client at the same address.
- The failures of the last :data:`MAX_SOURCES` sources are remembered (the budget of the
  device bounds what sources beyond them could try).
- The counts live in RAM: a restart of the firmware forgets them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import OrderedDict
from dataclasses import dataclass, field

from ipgwsim.flash.credentials import AdminCredentials

__all__ = [
    "ACCEPTED_KEPT",
    "CHECKS_PER_SECOND",
    "CHECK_BURST",
    "CONSOLE",
    "FREE_FAILURES",
    "MAX_DELAY",
    "MAX_SOURCES",
    "Logins",
    "PasswordCheck",
    "Refused",
]

#: The failure in a row from which a source waits before its next check.
FREE_FAILURES = 3
#: The longest wait (device seconds) after failed logins.
MAX_DELAY = 60.0
#: Password checks a device makes a second, whatever the sources (after a burst).
CHECKS_PER_SECOND = 4.0
#: Password checks a device makes at once before :data:`CHECKS_PER_SECOND` applies.
CHECK_BURST = 8
#: Credentials that passed a check, remembered per firmware.
ACCEPTED_KEPT = 16
#: Sources whose failures are remembered; the one unheard of longest is forgotten first.
MAX_SOURCES = 1024
#: The source of every console session's logins.
CONSOLE = "the console"
#: The record of a device without stored credentials (the profile's default applies).
_DEFAULTS = b"defaults"


@dataclass(frozen=True)
class PasswordCheck:
    """``user``/``password`` against the stored credentials (``stored``), or, while none are
    stored, against ``default_user``/``default_password``; a damaged record
    (``default_password`` None and nothing stored) refuses every login."""

    user: str
    password: str = field(repr=False)
    stored: AdminCredentials | None
    default_user: str
    default_password: str | None = field(repr=False)

    @property
    def record(self) -> bytes:
        """What the check is made against (the encoded record; for the defaults a marker)."""
        if self.stored is not None:
            return self.stored.encode()
        return _DEFAULTS if self.default_password is not None else b""

    @property
    def key(self) -> bytes:
        """The record and a hash of user and password: what a success is remembered by."""
        user, password = self.user.encode("utf-8"), self.password.encode("utf-8")
        secret = b"%d:%s%s" % (len(user), user, password)
        return self.record + b"\0" + hashlib.sha256(self.record + b"\0" + secret).digest()

    def verify(self) -> bool:
        """Whether the credentials are right (scrypt for a stored record: slow, pure)."""
        if self.stored is not None:
            return self.stored.verify(self.user, self.password)
        if self.default_password is None:
            return False
        user_ok = hmac.compare_digest(self.user.encode("utf-8"), self.default_user.encode("utf-8"))
        password_ok = hmac.compare_digest(
            self.password.encode("utf-8"), self.default_password.encode("utf-8")
        )
        return user_ok and password_ok


@dataclass(frozen=True)
class Refused:
    """An attempt that is not checked: try again in ``wait`` seconds; ``reason`` says why."""

    wait: float
    reason: str
    #: Whether the device's budget refused it (not the source's failures).
    device_busy: bool = False

    @property
    def seconds(self) -> int:
        """The wait in whole seconds, rounded up (at least 1): ``Retry-After``."""
        return max(1, math.ceil(self.wait - 1e-9))


@dataclass
class _Source:
    failures: int = 0
    #: Device time before which the source's attempts are not checked.
    until: float = 0.0


def delay(failures: int) -> float:
    """The wait after ``failures`` failed logins in a row (0 below :data:`FREE_FAILURES`)."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY, 2.0 ** min(failures - FREE_FAILURES, 32))


class Logins:
    """The login bookkeeping of one running firmware (module docstring)."""

    def __init__(self) -> None:
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._accepted: OrderedDict[bytes, None] = OrderedDict()
        self._tokens = float(CHECK_BURST)
        self._refilled_at: float | None = None

    def failures(self, source: str) -> int:
        """Failed logins in a row from ``source`` (a check under way counts)."""
        state = self._sources.get(source)
        return state.failures if state is not None else 0

    def begin(self, source: str, check: PasswordCheck, now: float) -> bool | Refused:
        """May ``check`` be made now? True: it passed before (no check needed); a
        :class:`Refused`: not now; False: make it, then tell :meth:`end` the result."""
        if check.key in self._accepted:
            self._accepted.move_to_end(check.key)
            return True
        state = self._sources.get(source)
        if state is not None and now < state.until:
            return Refused(
                state.until - now, f"{state.failures} failed logins in a row from {source}"
            )
        self._refill(now)
        if self._tokens < 1.0:
            rate = f"at most {CHECKS_PER_SECOND:g} a second"
            wait = (1.0 - self._tokens) / CHECKS_PER_SECOND
            return Refused(wait, f"too many password checks on this device ({rate})", True)
        self._tokens -= 1.0
        state = self._sources.setdefault(source, _Source())
        self._sources.move_to_end(source)
        while len(self._sources) > MAX_SOURCES:
            self._sources.popitem(last=False)
        state.failures += 1  # taken back by a success (see the module docstring)
        state.until = now + delay(state.failures)
        return False

    def end(self, source: str, check: PasswordCheck, ok: bool) -> None:
        """The result of a check :meth:`begin` let through."""
        if not ok:
            return
        self._sources.pop(source, None)
        self._accepted[check.key] = None
        self._accepted.move_to_end(check.key)
        while len(self._accepted) > ACCEPTED_KEPT:
            self._accepted.popitem(last=False)

    def _refill(self, now: float) -> None:
        if self._refilled_at is not None and now > self._refilled_at:
            elapsed = now - self._refilled_at
            self._tokens = min(float(CHECK_BURST), self._tokens + elapsed * CHECKS_PER_SECOND)
        if self._refilled_at is None or now > self._refilled_at:
            self._refilled_at = now

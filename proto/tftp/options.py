"""Option negotiation (RFC 2347, 2348, 2349, 7440) and timer settings.

* :class:`OptionPolicy`: which options a server grants, and its limits.
* :func:`negotiate`: the server's answer to a request's options.
* :func:`validate_oack`: the client's check of a server's OACK.
* :class:`TimerPolicy`: retransmission timeout, backoff, retries and dally.

Option names are case-insensitive. Values are decimal numbers; a value that
is no number, or out of its RFC range, makes the server ignore the option
(it is simply not acknowledged, RFC 2347). Granted values:

========== ==================================================================
blksize    8..65464 (RFC 2348); below 8 ignored, above the policy's maximum
           granted as that maximum
windowsize 1..65535 (RFC 7440); clamped to the policy's maximum
timeout    1..255 seconds (RFC 2349); granted as asked
tsize      RRQ: the size of the file; WRQ: the client's size, echoed
========== ==================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from ipgwsim.proto.errors import RemoteProtocolError

#: The options this engine knows.
KNOWN_OPTIONS: Final = frozenset({"blksize", "tsize", "timeout", "windowsize"})
#: Block size without the blksize option (RFC 1350).
DEFAULT_BLKSIZE: Final = 512
#: The RFC 2348 range of blksize.
MIN_BLKSIZE: Final = 8
MAX_BLKSIZE: Final = 65464
#: The RFC 7440 range of windowsize.
MAX_WINDOWSIZE: Final = 65535
#: The RFC 2349 range of timeout, in seconds.
MIN_TIMEOUT: Final = 1
MAX_TIMEOUT: Final = 255


@dataclass(frozen=True)
class OptionPolicy:
    """What a server grants: a hardware profile's ``boot.tftp_options`` and limits."""

    supported: frozenset[str] = KNOWN_OPTIONS
    max_blksize: int = MAX_BLKSIZE
    max_windowsize: int = 64

    def __post_init__(self) -> None:
        unknown = set(self.supported) - KNOWN_OPTIONS
        if unknown:
            raise ValueError(f"unknown TFTP options {sorted(unknown)}")
        if not MIN_BLKSIZE <= self.max_blksize <= MAX_BLKSIZE:
            raise ValueError(f"max_blksize {self.max_blksize} is outside 8..65464")
        if not 1 <= self.max_windowsize <= MAX_WINDOWSIZE:
            raise ValueError(f"max_windowsize {self.max_windowsize} is outside 1..65535")


@dataclass(frozen=True)
class TimerPolicy:
    """Retransmission settings of one transfer (both roles).

    The first wait is ``timeout`` seconds; each retransmission multiplies it
    by ``backoff``, up to ``max_timeout``. After ``retries`` retransmissions
    without progress, the next timeout fails the transfer. ``dally`` is how
    long the side that sent the final ACK stays to re-ACK a retransmitted
    final DATA (starting again at each); None means :meth:`retry_span`: as long
    as a peer with the same timers may still send its last block again, so a
    lost final ACK never turns a stored upload into a failure at the sender
    (DECISION: RFC 1350 leaves the dally's length open). A negotiated
    ``timeout`` option replaces ``timeout`` (and raises ``max_timeout`` to it
    if needed).
    """

    timeout: float = 1.0
    backoff: float = 2.0
    max_timeout: float = 8.0
    retries: int = 5
    dally: float | None = None

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")
        if self.backoff < 1:
            raise ValueError(f"backoff must be at least 1, not {self.backoff}")
        if self.max_timeout < self.timeout:
            raise ValueError("max_timeout must not be below timeout")
        if self.retries < 0:
            raise ValueError(f"retries must not be negative, not {self.retries}")
        if self.dally is not None and self.dally < 0:
            raise ValueError(f"dally must not be negative, not {self.dally}")

    def retry_span(self) -> float:
        """Seconds from the first sending of a block until these timers give up on it."""
        return retry_span(self.timeout, self.backoff, self.max_timeout, self.retries)


def retry_span(timeout: float, backoff: float, max_timeout: float, retries: int) -> float:
    """Seconds from the first sending of a block until a sender gives up: the first wait
    and one after each of ``retries`` retransmissions (1 + 2 + 4 + 8 + 8 + 8 = 31 s with
    the defaults)."""
    total, wait = timeout, timeout
    for _ in range(retries):
        wait = min(wait * backoff, max_timeout)
        total += wait
    return total


#: The default timers, as a shared default argument.
DEFAULT_TIMERS: Final = TimerPolicy()


@dataclass(frozen=True)
class Negotiated:
    """The outcome of a negotiation: what both sides use from now on."""

    #: Granted options by lower-case name (the event and the owner see these).
    options: dict[str, str] = field(default_factory=dict)
    #: The OACK's options: granted, spelled as the client spelled them.
    reply: dict[str, str] = field(default_factory=dict)
    blksize: int = DEFAULT_BLKSIZE
    windowsize: int = 1
    timeout: int | None = None
    tsize: int | None = None


#: Longer option values are not numbers to us (and ``int()`` refuses > 4300 digits).
MAX_OPTION_DIGITS = 20


def option_number(value: str) -> int | None:
    """A decimal option value, or None (not decimal, or absurdly long)."""
    if value.isascii() and value.isdigit() and len(value) <= MAX_OPTION_DIGITS:
        return int(value)
    return None


def negotiate(
    requested: Mapping[str, str], policy: OptionPolicy, *, tsize: int | None = None
) -> Negotiated:
    """The server's answer to the options of a request.

    ``tsize`` is the size of the file for an RRQ; None for a WRQ, whose tsize
    is echoed. An empty :attr:`Negotiated.reply` means: answer as plain RFC 1350.
    """
    granted: dict[str, str] = {}
    reply: dict[str, str] = {}
    values: dict[str, int] = {}
    for name, value in requested.items():
        key = name.lower()
        if key not in policy.supported or key in granted:
            continue
        number = option_number(value)
        if number is None:
            continue
        if key == "blksize":
            if number < MIN_BLKSIZE:
                continue
            number = min(number, policy.max_blksize)
        elif key == "windowsize":
            if not 1 <= number <= MAX_WINDOWSIZE:
                continue
            number = min(number, policy.max_windowsize)
        elif key == "timeout":
            if not MIN_TIMEOUT <= number <= MAX_TIMEOUT:
                continue
        elif tsize is not None:
            number = tsize
        values[key] = number
        granted[key] = reply[name] = str(number)
    return Negotiated(
        options=granted,
        reply=reply,
        blksize=values.get("blksize", DEFAULT_BLKSIZE),
        windowsize=values.get("windowsize", 1),
        timeout=values.get("timeout"),
        tsize=values.get("tsize"),
    )


def validate_oack(requested: Mapping[str, str], oack: Mapping[str, str]) -> Negotiated:
    """The client's check of an OACK against its request.

    A server may grant only options that were asked for, blksize and
    windowsize no larger than asked, timeout exactly as asked.
    :class:`RemoteProtocolError` says what is wrong (the client then sends
    ERROR 8 with that text).
    """
    asked = {name.lower(): value for name, value in requested.items()}
    granted: dict[str, str] = {}
    values: dict[str, int] = {}
    for name, value in oack.items():
        key = name.lower()
        if key not in asked:
            raise RemoteProtocolError(f"the server granted option {name!r}, which was not asked")
        if key in granted:
            raise RemoteProtocolError(f"the server granted option {name!r} twice")
        granted[key] = value
        if key not in KNOWN_OPTIONS:
            continue
        number = option_number(value)
        if number is None:
            raise RemoteProtocolError(f"the server granted {key} {value!r}, which is no number")
        wanted = option_number(asked[key])
        if key == "blksize":
            limit = MAX_BLKSIZE if wanted is None else wanted
            if not MIN_BLKSIZE <= number <= limit:
                raise RemoteProtocolError(f"the server granted blksize {number}, asked {wanted}")
        elif key == "windowsize":
            limit = MAX_WINDOWSIZE if wanted is None else wanted
            if not 1 <= number <= limit:
                raise RemoteProtocolError(f"the server granted windowsize {number}, asked {wanted}")
        elif key == "timeout" and number != wanted:
            raise RemoteProtocolError(f"the server granted timeout {number}, asked {wanted}")
        values[key] = number
    return Negotiated(
        options=granted,
        reply=dict(oack),
        blksize=values.get("blksize", DEFAULT_BLKSIZE),
        windowsize=values.get("windowsize", 1),
        timeout=values.get("timeout"),
        tsize=values.get("tsize"),
    )

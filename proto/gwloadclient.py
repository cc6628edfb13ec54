"""The client side of gwload (gwload-protocol.md 3) as a sans-I/O engine.

A :class:`GwloadRequest` is one request of a lab PC: it sends the message, repeats it
until answered (``tries`` times, ``interval`` seconds apart), takes only replies that
echo the request's xid, are no request themselves and pass ``accept``; with
``collect`` it keeps listening that long after the first reply (a broadcast DISCOVER
is answered by every device); with ``busy_wait`` it asks again, with a new xid,
``interval`` seconds after each NAK 4 (busy) until that many seconds have passed.
A TFTP ERROR in answer (boot code that does not know the request answers as a TFTP
server would) is remembered and reported once the tries run out unanswered.

It is a node like every other core: ``receive_datagram(datagram, now)``,
``handle_timer(now)``, ``datagrams_to_send()``, ``get_timer()``, ``next_event()``
(one :data:`Outcome` when it is done) and ``accepts(dst)``. The blocking functions of
``runtime/gwloadclient.py`` drive it over a real socket, the tests' gwload probe over
the virtual network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, UNSPECIFIED, Address, Datagram
from ipgwsim.proto.tftp import Error, MalformedPacket, parse_packet

#: A reply and where it came from.
Reply = tuple[gwload.Message, Address]
#: Which replies a request takes: ``accept(reply, source)``.
Accept = Callable[[gwload.Message, Address], bool]


class GwloadError(Exception):
    """A request was not answered, refused, or ambiguous; ``str()`` says which."""


class NoAnswer(GwloadError):
    pass


class Refused(GwloadError):
    def __init__(self, nak: gwload.Nak) -> None:
        super().__init__(f"device {gwload.format_mac(nak.mac)} refused: {nak.text}")
        self.nak = nak


class Ambiguous(GwloadError):
    pass


class NotUnderstood(GwloadError):
    """The device answered a request with a TFTP ERROR: its boot code does not know it."""


@dataclass(frozen=True)
class Answered:
    """The request was answered; with ``collect``, every reply within the window."""

    replies: tuple[Reply, ...]


@dataclass(frozen=True)
class Unanswered:
    """The tries ran out without a reply; ``tftp_error`` is a TFTP ERROR's text, if one
    came."""

    what: str
    tftp_error: str | None

    def error(self) -> GwloadError:
        if self.tftp_error is not None:
            return NotUnderstood(
                f"retry errors: the boot code does not know this request "
                f"(it answered TFTP ERROR: {self.tftp_error})"
            )
        return NoAnswer(f"no answer to {self.what} (retry errors)")


Outcome = Answered | Unanswered


def any_reply(reply: gwload.Message, src: Address) -> bool:
    return True


def classify(data: bytes) -> gwload.Message | Error | None:
    """What a datagram to a gwload client is: a gwload message, a TFTP ERROR, or
    neither (``None``: garbage, dropped)."""
    if gwload.is_gwload(data):
        try:
            return gwload.parse_message(data)
        except gwload.MalformedMessage:
            return None
    try:
        packet = parse_packet(data)
    except MalformedPacket:
        return None
    return packet if isinstance(packet, Error) else None


def the_reply(outcome: Outcome) -> gwload.Message:
    """The first reply of an answered request; a NAK raises :class:`Refused`, no answer
    :class:`NoAnswer` or :class:`NotUnderstood`."""
    if isinstance(outcome, Unanswered):
        raise outcome.error()
    reply = outcome.replies[0][0]
    if isinstance(reply, gwload.Nak):
        raise Refused(reply)
    return reply


class GwloadRequest:
    """One gwload request from ``local`` to ``to`` (see the module docstring).

    ``make(xid)`` builds the message; ``xids()`` gives each new xid (a new one for each
    round of a busy wait, the same one for the repeats of a round).
    """

    def __init__(
        self,
        make: Callable[[int], gwload.Message],
        to: Address,
        local: Address,
        now: float,
        *,
        xids: Callable[[], int],
        what: str,
        tries: int = 5,
        interval: float = 1.0,
        collect: float = 0.0,
        accept: Accept = any_reply,
        busy_wait: float | None = None,
    ) -> None:
        if tries < 1:
            raise ValueError(f"tries must be at least 1, not {tries}")
        if interval <= 0:
            raise ValueError(f"interval must be more than 0 s, not {interval}")
        if collect < 0:
            raise ValueError(f"collect must not be negative, not {collect}")
        self.make = make
        self.to = to
        self.local = local
        self.xids = xids
        self.tries = tries
        self.interval = interval
        self.collect = collect
        self.accept = accept
        self.what = what
        self.give_up = None if busy_wait is None else now + busy_wait
        self.finished = False
        self.outcome: Outcome | None = None
        self._outgoing: list[Datagram] = []
        self._events: list[Outcome] = []
        self._replies: list[Reply] = []
        self._tftp_error: str | None = None
        self._tries_left = 0
        self._deadline: float | None = None
        self._wait_until: float | None = None
        self._start_round(now)

    # -- the node protocol -------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        if dst[1] != self.local[1]:
            return False
        return self.local[0] == UNSPECIFIED or dst[0] in (self.local[0], LIMITED_BROADCAST)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        if self.finished or self._wait_until is not None:
            return
        reply = classify(datagram.data)
        if isinstance(reply, Error):
            self._tftp_error = reply.message
            return
        if (
            reply is None
            or reply.xid != self.message.xid
            or isinstance(reply, type(self.message))
            or not self.accept(reply, datagram.src)
        ):
            return
        self._replies.append((reply, datagram.src))
        if self.collect == 0.0:
            self._answered(now)
        elif len(self._replies) == 1:
            assert self._deadline is not None
            self._deadline = min(self._deadline, now + self.collect)

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> Outcome | None:
        return self._events.pop(0) if self._events else None

    def get_timer(self) -> float | None:
        if self.finished:
            return None
        return self._wait_until if self._wait_until is not None else self._deadline

    def handle_timer(self, now: float) -> None:
        if self.finished:
            return
        if self._wait_until is not None:
            if now >= self._wait_until:
                self._start_round(now)
            return
        assert self._deadline is not None
        if now < self._deadline:
            return
        if self._replies:
            self._answered(now)
        elif self._tries_left > 0:
            self._send(now)
        else:
            self._finish(Unanswered(self.what, self._tftp_error))

    # -- inside --------------------------------------------------------------------------

    def _start_round(self, now: float) -> None:
        self._wait_until = None
        self.message = self.make(self.xids())
        self._data = gwload.encode_message(self.message)
        self._replies = []
        self._tries_left = self.tries
        self._send(now)

    def _send(self, now: float) -> None:
        self._tries_left -= 1
        self._outgoing.append(Datagram(self._data, self.local, self.to))
        self._deadline = now + self.interval

    def _answered(self, now: float) -> None:
        first = self._replies[0][0]
        busy = isinstance(first, gwload.Nak) and first.code == gwload.NakCode.BUSY
        if busy and self.give_up is not None and now < self.give_up:
            self._wait_until = now + self.interval  # programming: ask again in a moment
            self._deadline = None
            return
        self._finish(Answered(tuple(self._replies)))

    def _finish(self, outcome: Outcome) -> None:
        self.finished = True
        self.outcome = outcome
        self._events.append(outcome)

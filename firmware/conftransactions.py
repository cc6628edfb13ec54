"""CONF's SIP transactions over UDP (RFC 3261 17): sending, retransmitting and matching.

Client transactions (our REGISTER and BYE) are resent at T1, 2 T1, ... T2 until a final
response or timer F; server transactions keep their final response for retransmitted
requests, and an INVITE's non-2xx final is resent until its ACK (timers G, H, J). Sans-I/O:
datagrams go to :attr:`Transactions.outbox`, the time is passed in (``now``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.sip import (
    BRANCH_MAGIC,
    T1,
    T2,
    SipRequest,
    SipResponse,
    make_response,
)

__all__ = ["SIP_PORT", "TRANSACTION_TIME", "ClientTransaction", "Resend", "Transactions"]

SIP_PORT = 5060
#: Timer F / H / J: how long a transaction lives (RFC 3261 17).
TRANSACTION_TIME = 64 * T1


@dataclass
class Resend:
    """A datagram sent again at T1, 2 T1, ... T2 (timers E, G) until ``deadline``."""

    datagram: Datagram
    next: float | None
    deadline: float
    interval: float = T1

    def due(self) -> float:
        return self.deadline if self.next is None else min(self.next, self.deadline)

    def again(self, now: float) -> Datagram | None:
        if self.next is None or now < self.next:
            return None
        self.interval = min(2 * self.interval, T2)
        self.next = now + self.interval
        return self.datagram


@dataclass
class ClientTransaction:
    """A request of ours (REGISTER, BYE) waiting for its final response."""

    request: SipRequest
    resend: Resend


class Transactions:
    """The transaction layer of one user agent on ``ip``:5060.

    ``hex(n)`` gives ``n`` random bytes as hex (branches, tags); ``agent`` is the
    ``Server``/``User-Agent`` value. ``now`` is the latest time the owner passed in.
    """

    def __init__(self, hex: Callable[[int], str], agent: str, now: float = 0.0) -> None:
        self._hex = hex
        self.agent = agent
        self.now = now
        self.ip: str | None = None
        self.outbox: list[Datagram] = []
        self.clients: dict[str, ClientTransaction] = {}
        self.answered: dict[tuple[str, str], Resend] = {}

    def clear(self) -> None:
        """Forget every transaction and unsent datagram (the address is gone)."""
        self.outbox.clear()
        self.clients.clear()
        self.answered.clear()

    # -- sending ---------------------------------------------------------------------------

    def send(self, message: SipRequest | SipResponse, dst: Address) -> Datagram:
        assert self.ip is not None
        datagram = Datagram(message.render(), (self.ip, SIP_PORT), dst)
        self.outbox.append(datagram)
        return datagram

    def request_headers(self, method: str, cseq: int) -> tuple[tuple[str, str], ...]:
        branch = BRANCH_MAGIC + self._hex(8)
        return (
            ("Via", f"SIP/2.0/UDP {self.ip}:{SIP_PORT};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("CSeq", f"{cseq} {method}"),
        )

    def start_client(self, request: SipRequest, dst: Address, now: float) -> None:
        datagram = self.send(request, dst)
        resend = Resend(datagram, now + T1, now + TRANSACTION_TIME)
        self.clients[request.via.branch or ""] = ClientTransaction(request, resend)

    def drop_clients(self, method: str) -> None:
        """Stop the client transactions of ``method`` (a new REGISTER replaces the old)."""
        for branch, client in list(self.clients.items()):
            if client.request.method == method:
                del self.clients[branch]

    # -- server side -----------------------------------------------------------------------

    @staticmethod
    def key(request: SipRequest) -> str:
        branch = request.branch or ""
        if branch.startswith(BRANCH_MAGIC):
            return branch
        via = request.via
        return f"{request.call_id}|{request.cseq.number}|{request.from_.tag}|{via.host}:{via.port}"

    @staticmethod
    def reply_to(request: SipRequest, src: Address) -> Address:
        """RFC 3261 18.2.2 and RFC 3581: the source address; its port only with ``rport``."""
        via = request.via
        return src if via.has_param("rport") else (src[0], via.port or SIP_PORT)

    def answer(
        self,
        request: SipRequest,
        src: Address,
        status: int,
        *,
        to_tag: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
        await_ack: bool = False,
    ) -> Datagram:
        """Send a response, kept for retransmitted requests (and resent until the ACK)."""
        tag = to_tag if to_tag is not None else self._hex(4)
        extra = (*headers, ("Server", self.agent))
        response = make_response(request, status, to_tag=tag, headers=extra, body=body)
        datagram = self.send(response, self.reply_to(request, src))
        if status >= 200 or request.method == "INVITE":
            retransmit = self.now + T1 if await_ack else None
            resend = Resend(datagram, retransmit, self.now + TRANSACTION_TIME)
            self.answered[(self.key(request), request.method)] = resend
        return datagram

    def cached(self, request: SipRequest, method: str | None = None) -> Resend | None:
        """The response kept for ``request`` (as a request of ``method``), if any."""
        return self.answered.get((self.key(request), method or request.method))

    # -- responses and timers --------------------------------------------------------------

    def client_for(self, response: SipResponse, now: float) -> ClientTransaction | None:
        """The client transaction a final ``response`` ends; a provisional one slows the
        transaction's resends to T2 and gives None, as does a response to nothing of ours."""
        client = self.clients.get(response.branch or "")
        if client is None:
            return None
        if response.status < 200:
            client.resend.next, client.resend.interval = now + T2, T2
            return None
        return client

    def finish(self, response: SipResponse) -> None:
        self.clients.pop(response.branch or "", None)

    def deadlines(self) -> list[float]:
        return [c.resend.due() for c in self.clients.values()] + [
            r.due() for r in self.answered.values()
        ]

    def handle_timer(self, now: float) -> list[SipRequest]:
        """Resend what is due, forget what has lived its time; the requests of ours that
        got no final response in time."""
        timed_out: list[SipRequest] = []
        for branch, client in list(self.clients.items()):
            if now >= client.resend.deadline:
                del self.clients[branch]
                timed_out.append(client.request)
            elif (datagram := client.resend.again(now)) is not None:
                self.outbox.append(datagram)
        for key, resend in list(self.answered.items()):
            if now >= resend.deadline:
                del self.answered[key]
            elif (datagram := resend.again(now)) is not None:
                self.outbox.append(datagram)
        return timed_out

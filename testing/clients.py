"""Lab-side nodes for the virtual network: a gwload prober and TFTP clients.

They sit on a :class:`~ipgwsim.testing.vnet.VirtualNetwork` beside simulated
devices, the way a PC with gwload and a TFTP client sits on a LAN segment:

    net = VirtualNetwork()
    net.attach(device)
    lab = GwloadProbe("10.0.0.100", 40000)
    net.attach(lab)
    lab.send(gwload.Discover(1, gwload.ANY_MAC, 6000))
    net.run_until(lambda: lab.replies, timeout=5)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ipgwsim.proto import gwload
from ipgwsim.proto.gwloadclient import GwloadRequest, classify
from ipgwsim.proto.net import LIMITED_BROADCAST, Address, Datagram
from ipgwsim.proto.tftp import (
    ClientRead,
    ClientWrite,
    Error,
    TimerPolicy,
    TransferComplete,
    TransferEvent,
    TransferFailed,
    TransferNode,
)
from ipgwsim.testing.recorder import Recorder


class GwloadProbe:
    """A lab PC's gwload socket: bound to ``(0.0.0.0, port)``, sending from ``ip``.

    It hears unicast to ``ip`` and broadcasts to its port, as a socket bound to
    the wildcard address does. Replies that parse land in :attr:`replies`, the
    rest (TFTP errors, garbage) in :attr:`other`. Besides single messages
    (:meth:`send`) it runs requests with the client engine that the blocking
    ``gwload`` uses (:meth:`request`): retries, xid matching, collect window, busy wait.
    """

    def __init__(self, ip: str, port: int, *, device_port: int = 69) -> None:
        self.ip = ip
        self.port = port
        self.device_port = device_port
        self.replies: list[tuple[gwload.Message, Address]] = []
        self.other: list[Datagram] = []
        self._outgoing: list[Datagram] = []
        self._requests: list[GwloadRequest] = []
        self._xids = itertools.count(1)

    def next_xid(self) -> int:
        return next(self._xids)

    def send(self, message: gwload.Message, to: str = LIMITED_BROADCAST) -> None:
        self.send_raw(gwload.encode_message(message), to)

    def send_raw(self, data: bytes, to: str = LIMITED_BROADCAST) -> None:
        self._outgoing.append(Datagram(data, (self.ip, self.port), (to, self.device_port)))

    def request(
        self,
        make: Callable[[int], gwload.Message],
        now: float,
        *,
        what: str,
        to: str = LIMITED_BROADCAST,
        **settings: Any,
    ) -> GwloadRequest:
        """Start a request of ``make(xid)`` at ``now``; its ``outcome`` says how it ended
        (``settings``: ``tries``, ``interval``, ``collect``, ``accept``, ``busy_wait``)."""
        request = GwloadRequest(
            make,
            (to, self.device_port),
            (self.ip, self.port),
            now,
            xids=self.next_xid,
            what=what,
            **settings,
        )
        self._requests.append(request)
        return request

    def accepts(self, dst: Address) -> bool:
        return dst[1] == self.port and dst[0] in (self.ip, LIMITED_BROADCAST)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        reply = classify(datagram.data)
        if isinstance(reply, Error) or reply is None:
            self.other.append(datagram)
        else:
            self.replies.append((reply, datagram.src))
        for request in self._requests:
            request.receive_datagram(datagram, now)

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outgoing = self._outgoing, []
        for request in self._requests:
            out.extend(request.datagrams_to_send())
        self._requests = [r for r in self._requests if not r.finished]
        return out

    def get_timer(self) -> float | None:
        deadlines = [t for r in self._requests if (t := r.get_timer()) is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for request in self._requests:
            request.handle_timer(now)


class TftpClientNode(Recorder[TransferEvent]):
    """One sans-I/O TFTP client transfer on the virtual network, at ``(ip, port)``;
    its events are recorded with the time of the input that made them."""

    def __init__(self, ip: str, port: int, transfer: ClientRead | ClientWrite) -> None:
        self.ip = ip
        self.port = port
        self.transfer = transfer
        super().__init__(TransferNode(transfer, (ip, port)))

    @classmethod
    def get(
        cls,
        server: Address,
        filename: str,
        *,
        ip: str = "10.0.0.100",
        port: int = 40001,
        now: float = 0.0,
        options: dict[str, str] | None = None,
        timers: TimerPolicy | None = None,
    ) -> TftpClientNode:
        transfer = ClientRead(
            filename, server, now, options=options, timers=timers or TimerPolicy()
        )
        return cls(ip, port, transfer)

    @classmethod
    def put(
        cls,
        server: Address,
        filename: str,
        data: bytes,
        *,
        ip: str = "10.0.0.100",
        port: int = 40002,
        now: float = 0.0,
        options: dict[str, str] | None = None,
        timers: TimerPolicy | None = None,
    ) -> TftpClientNode:
        transfer = ClientWrite(
            filename, server, data, now, options=options, timers=timers or TimerPolicy()
        )
        return cls(ip, port, transfer)

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def result(self) -> TransferComplete | TransferFailed | None:
        self.take()
        for _, event in self.events:
            if isinstance(event, TransferComplete | TransferFailed):
                return event
        return None

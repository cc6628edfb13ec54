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

from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, Address, Datagram
from ipgwsim.proto.tftp import (
    ClientRead,
    ClientWrite,
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
    rest (TFTP errors, garbage) in :attr:`other`.
    """

    def __init__(self, ip: str, port: int, *, device_port: int = 69) -> None:
        self.ip = ip
        self.port = port
        self.device_port = device_port
        self.replies: list[tuple[gwload.Message, Address]] = []
        self.other: list[Datagram] = []
        self._outgoing: list[Datagram] = []
        self._xids = itertools.count(1)

    def next_xid(self) -> int:
        return next(self._xids)

    def send(self, message: gwload.Message, to: str = LIMITED_BROADCAST) -> None:
        self.send_raw(gwload.encode_message(message), to)

    def send_raw(self, data: bytes, to: str = LIMITED_BROADCAST) -> None:
        self._outgoing.append(Datagram(data, (self.ip, self.port), (to, self.device_port)))

    def accepts(self, dst: Address) -> bool:
        return dst[1] == self.port and dst[0] in (self.ip, LIMITED_BROADCAST)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        try:
            self.replies.append((gwload.parse_message(datagram.data), datagram.src))
        except gwload.MalformedMessage:
            self.other.append(datagram)

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outgoing = self._outgoing, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None


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

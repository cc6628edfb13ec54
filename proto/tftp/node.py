"""A transfer as a node at an address: the shape every sans-I/O node has.

A :class:`~ipgwsim.proto.tftp.Transfer` does not know the address it talks from: it
takes datagrams and gives ``(bytes, destination)``. :class:`TransferNode` puts it at
``local`` so that the one drive loop (:class:`~ipgwsim.proto.node.Pump`) and the virtual
network drive it as any other :class:`~ipgwsim.proto.node.EventNode`: it takes
datagrams to ``local``, gives :class:`~ipgwsim.proto.net.Datagram` from ``local``, and
has no timer once the transfer is finished.
"""

from __future__ import annotations

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.tftp.events import TransferEvent
from ipgwsim.proto.tftp.transfer import Transfer

__all__ = ["TransferNode"]


class TransferNode:
    """``transfer`` talking from ``local`` (see the module docstring)."""

    __slots__ = ("local", "transfer")

    def __init__(self, transfer: Transfer, local: Address) -> None:
        self.transfer = transfer
        self.local = local

    def __repr__(self) -> str:
        return f"TransferNode({self.transfer!r}, {self.local!r})"

    def accepts(self, dst: Address) -> bool:
        return dst == self.local

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self.transfer.receive_datagram(datagram, now)

    def datagrams_to_send(self) -> list[Datagram]:
        local = self.local
        return [Datagram(data, local, dst) for data, dst in self.transfer.datagrams_to_send()]

    def get_timer(self) -> float | None:
        transfer = self.transfer
        return None if transfer.finished else transfer.get_timer()

    def handle_timer(self, now: float) -> None:
        self.transfer.handle_timer(now)

    def next_event(self) -> TransferEvent | None:
        return self.transfer.next_event()

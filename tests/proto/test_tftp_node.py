"""A TFTP transfer as a node: driven by the one pump, on the virtual network."""

from __future__ import annotations

from ipgwsim.proto.net import Datagram
from ipgwsim.proto.node import EventNode, Pump, drain_events
from ipgwsim.proto.tftp import (
    ClientRead,
    ReadRequest,
    ServerRead,
    TransferComplete,
    TransferEvent,
    TransferNode,
    encode_packet,
)
from ipgwsim.testing.tftp_pair import ALL_OPTIONS, CLIENT, SERVER, TID, payload
from ipgwsim.testing.vnet import VirtualNetwork


def test_a_transfer_node_speaks_from_its_address() -> None:
    node: EventNode[TransferEvent] = TransferNode(ClientRead("f", SERVER, 0.0), CLIENT)
    assert node.accepts(CLIENT)
    assert not node.accepts(TID)
    assert node.datagrams_to_send() == [Datagram(encode_packet(ReadRequest("f")), CLIENT, SERVER)]
    assert node.get_timer() is not None
    assert "TransferNode(" in repr(node)


def test_two_transfer_nodes_on_the_virtual_network_complete_a_read() -> None:
    data = payload(3000)
    client = ClientRead("f", TID, 0.0)  # straight to the server transfer's port
    server = ServerRead(ReadRequest("f"), CLIENT, data, 0.0, policy=ALL_OPTIONS)
    net = VirtualNetwork()
    net.attach(TransferNode(client, CLIENT))
    net.attach(TransferNode(server, TID))
    assert net.run_until(lambda: server.finished, timeout=60.0)
    events: list[TransferEvent] = drain_events(client)
    assert TransferComplete(data) in events


def test_a_finished_transfer_has_no_timer() -> None:
    server = ServerRead(ReadRequest("f"), CLIENT, b"x", 0.0, policy=ALL_OPTIONS)
    node = TransferNode(server, TID)
    sent: list[Datagram] = []
    pump: Pump[TransferEvent] = Pump(node, send=sent.append, sink=lambda e: None)
    pump.flush()
    assert [d.src for d in sent] == [TID]
    pump.receive(Datagram(b"\x00\x04\x00\x01", CLIENT, TID), 0.1)  # ACK 1: the end
    assert server.finished
    assert pump.deadline is None

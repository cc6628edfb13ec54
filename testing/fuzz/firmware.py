"""The running firmware's network services as fuzz targets, on a device in virtual time:
DHCP (the client of ETH0), NetBIOS (UDP 137) and SIP (the CONF interface, UDP 5060, and
its RTP ports).

A crash: any exception out of the device; more than
:data:`~ipgwsim.testing.fuzz.bench.MAX_REPLIES` datagrams per hostile one; a device no
longer running firmware once what the input began has run its course; or a service that
no longer does its job: DHCP still leases an address from a real server, NetBIOS still
answers a node status request, CONF still answers an INVITE with 200.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ipgwsim.events import Mode
from ipgwsim.proto import dhcp, netbios, sip
from ipgwsim.proto.net import LIMITED_BROADCAST, Address, Datagram
from ipgwsim.testing.fuzz import Surface
from ipgwsim.testing.fuzz import seeds as seed
from ipgwsim.testing.fuzz.bench import Bench
from ipgwsim.testing.fuzz.mutate import hostile
from ipgwsim.testing.fuzz.seeds import DEVICE_IP, PEER_IP
from ipgwsim.testing.vnet import Endpoint

__all__ = ["SURFACES"]

FIXED = f"config change ETH0 /addr {DEVICE_IP} /mask 255.255.255.0 /dhcp off\r\n"
CONF = "config change CONF /number 87 /registrar 10.0.0.1 /user conf87 /pwd s3cret\r\n"
DHCP_CLIENT = "config change ETH0 /dhcp client\r\n"
#: The address the DHCP server of the check leases.
LEASED = "10.0.0.50"
#: The CONF interface's RTP ports (the first two channels).
RTP_PORTS = (16384, 16386)

_waits = st.sampled_from([0.0, 0.001, 0.5, 3.0, 30.0])


def _datagrams(
    payloads: st.SearchStrategy[bytes], ports: tuple[int, ...]
) -> st.SearchStrategy[list[Any]]:
    """One to eight ``(payload, port, to the broadcast address, from another port, wait)``."""
    one = st.tuples(payloads, st.sampled_from(ports), st.booleans(), st.booleans(), _waits)
    return st.lists(one, min_size=1, max_size=8)


def _send_all(bench: Bench, datagrams: list[Any]) -> None:
    for data, port, broadcast, other, wait in datagrams:
        dst: Address = (LIMITED_BROADCAST if broadcast else DEVICE_IP, port)
        bench.send(data, dst, other=other, wait=wait)
    bench.check_bounded()
    bench.settle()
    assert bench.gw.mode is Mode.FIRMWARE, f"the device is {bench.gw.mode.value} after input"


# -- DHCP ------------------------------------------------------------------------------------


def _dhcp_server(bench: Bench) -> Endpoint:
    """A DHCP server on the segment, written with the codec: it offers and acknowledges
    :data:`LEASED` for an hour."""
    server = Endpoint("0.0.0.0", 67, source_ip=PEER_IP)

    def answer(datagram: Datagram, now: float) -> None:
        try:
            asked = dhcp.parse_message(datagram.data)
        except dhcp.MalformedDhcpMessage:
            return
        kind = {dhcp.MessageType.DISCOVER: dhcp.MessageType.OFFER}.get(asked.kind)
        if asked.kind is dhcp.MessageType.REQUEST:
            kind = dhcp.MessageType.ACK
        if kind is None:
            return
        reply = dhcp.DhcpMessage(
            kind=kind,
            xid=asked.xid,
            chaddr=asked.chaddr,
            yiaddr=LEASED,
            server_id=PEER_IP,
            mask="255.255.255.0",
            lease_time=3600,
        )
        server.sendto(dhcp.encode_message(reply), (LIMITED_BROADCAST, 68))

    server.on_receive = answer
    return server


def _dhcp(_: None, datagrams: list[Any]) -> None:
    bench = Bench(config=DHCP_CLIENT, dhcp=True)
    _send_all(bench, datagrams)
    bench.lab.net.attach(_dhcp_server(bench))
    leased = bench.lab.net.run_until(lambda: bench.device.ip is not None, timeout=600)
    assert leased, "no address from a DHCP server after the input"


# -- NetBIOS ---------------------------------------------------------------------------------


def _netbios(_: None, datagrams: list[Any]) -> None:
    bench = Bench(config=FIXED, netbios=True)
    _send_all(bench, datagrams)
    before = len(bench.peer.received)
    ask = netbios.NodeStatusRequest(0x4242)
    bench.send(netbios.encode_packet(ask), (DEVICE_IP, 137), wait=1.0)
    answers = [netbios.parse_packet(d.data) for d in bench.peer.received[before:]]
    assert any(isinstance(a, netbios.NodeStatusResponse) for a in answers), answers


# -- SIP -------------------------------------------------------------------------------------


def _sip(_: None, datagrams: list[Any]) -> None:
    bench = Bench(config=FIXED + CONF)
    _send_all(bench, datagrams)
    before = len(bench.peer.received)
    bench.send(seed.invite("after-the-input"), (DEVICE_IP, 5060), wait=2.0)
    statuses = []
    for datagram in bench.peer.received[before:]:
        message = sip.parse_message(datagram.data)  # what the device sends parses
        if isinstance(message, sip.SipResponse) and message.call_id == "after-the-input":
            statuses.append(message.status)
    assert 200 in statuses, f"an INVITE after the input was answered {statuses}"


SURFACES = [
    Surface(
        name="dhcp",
        entry="Device.receive_datagram on UDP 68 (the firmware's DHCP client)",
        crash="an exception out of the device; a flood; no lease from a DHCP server after",
        inputs=_datagrams(hostile(seed.dhcp_bytes()), (68,)),
        check=_dhcp,
        from_bytes=lambda data: [(data, 68, True, False, 0.0)],
    ),
    Surface(
        name="netbios",
        entry="Device.receive_datagram on UDP 137 (the firmware's NetBIOS name service)",
        crash="an exception out of the device; a flood; no answer to a node status request",
        inputs=_datagrams(hostile(seed.netbios_bytes()), (137,)),
        check=_netbios,
        from_bytes=lambda data: [(data, 137, False, False, 0.0)],
    ),
    Surface(
        name="sip",
        entry="Device.receive_datagram on UDP 5060 and the RTP ports (the CONF interface)",
        crash="an exception out of the device; a flood; no 200 to an INVITE after",
        inputs=_datagrams(
            st.one_of(hostile(seed.sip_bytes()), hostile(seed.rtp_bytes())),
            (5060, *RTP_PORTS),
        ),
        check=_sip,
        from_bytes=lambda data: [(data, 5060, False, False, 0.0)],
    ),
]

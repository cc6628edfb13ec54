"""ETH0's DHCP client in a real firmware, against a small DHCP server, in virtual time.

The server below is written with the codec (``ipgwsim.proto.dhcp``); the test against
dnsmasq on real links is the namespace runtime's.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace

import pytest

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import (
    AddressAssigned,
    AddressReleased,
    FetchRequested,
    Mode,
    PortClosed,
    PortOpened,
    StartCause,
)
from ipgwsim.firmware import Firmware
from ipgwsim.firmware.config import defaults
from ipgwsim.firmware.dhcp import (
    MAX_REQUESTS,
    NAK_WAIT,
    PARAMETERS,
    VENDOR_CLASS,
    DhcpClient,
    DhcpState,
)
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto.dhcp import (
    BROADCAST_FLAG,
    INFINITE_LEASE,
    DhcpMessage,
    MalformedDhcpMessage,
    MessageType,
    encode_message,
    parse_message,
)
from ipgwsim.proto.dhcpvendor import encode_suboptions
from ipgwsim.proto.net import LIMITED_BROADCAST, Address, Datagram, NetworkCapabilities
from ipgwsim.testing.firmware_node import FirmwareNode
from ipgwsim.testing.lab import DeviceNode, Lab
from ipgwsim.testing.vnet import Endpoint, VirtualNetwork

PROFILE = find_profile("IP6000")
SERIAL = "009033100abc"
MAC = bytes.fromhex(SERIAL)
SERVER = "10.0.0.1"
IP = "10.0.0.50"
MASK = "255.255.255.0"
CLIENT_CONFIG = "config change ETH0 /dhcp client\r\n"


# -- a DHCP server, written with the codec ---------------------------------------------


@dataclass
class Received:
    time: float
    datagram: Datagram
    msg: DhcpMessage


@dataclass
class DhcpServer:
    """Answers DISCOVER with OFFER and REQUEST with ACK (or NAK), as RFC 2131 section 4.3."""

    ip: str = SERVER
    address: str = IP
    lease: int = 3600
    t1: int | None = None
    t2: int | None = None
    #: Answer nothing at all / nothing sent to the server's own address / no REQUEST.
    silent: bool = False
    deaf_to_unicast: bool = False
    ignore_requests: bool = False
    #: NAKs to send before acknowledging again.
    naks: int = 0
    #: Further options of OFFER and ACK, ``(code, value)``.
    options: tuple[tuple[int, bytes], ...] = ()
    received: list[Received] = field(default_factory=list)
    _outbox: list[Datagram] = field(default_factory=list)

    def accepts(self, dst: Address) -> bool:
        return dst[1] == 67 and dst[0] in (LIMITED_BROADCAST, self.ip)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        try:
            msg = parse_message(datagram.data)
        except MalformedDhcpMessage:
            return
        self.received.append(Received(now, datagram, msg))
        if self.silent or (self.deaf_to_unicast and datagram.dst[0] == self.ip):
            return
        if msg.kind is MessageType.DISCOVER:
            self._reply(msg, MessageType.OFFER)
        elif msg.kind is MessageType.REQUEST and not self.ignore_requests:
            if msg.server_id not in (None, self.ip):
                return  # the client chose another server
            if self.naks:
                self.naks -= 1
                self._reply(msg, MessageType.NAK)
            else:
                self._reply(msg, MessageType.ACK)

    def _reply(self, request: DhcpMessage, kind: MessageType) -> None:
        nak = kind is MessageType.NAK
        reply = DhcpMessage(
            kind=kind,
            xid=request.xid,
            chaddr=request.chaddr,
            flags=request.flags,
            yiaddr="0.0.0.0" if nak else self.address,
            server_id=self.ip,
            message="address not available" if nak else None,
            mask=None if nak else MASK,
            routers=() if nak else (self.ip,),
            dns=() if nak else (self.ip,),
            lease_time=None if nak else self.lease,
            t1=None if nak else self.t1,
            t2=None if nak else self.t2,
            other=() if nak else self.options,
        )
        # RFC 2131 4.1: to ciaddr if set, else broadcast if asked (NAKs always), else yiaddr.
        if request.ciaddr != "0.0.0.0" and not nak:
            dst = request.ciaddr
        elif request.broadcast or nak:
            dst = LIMITED_BROADCAST
        else:
            dst = reply.yiaddr
        self._outbox.append(Datagram(encode_message(reply), (self.ip, 67), (dst, 68)))

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    # -- what a test reads -------------------------------------------------------------

    def of_kind(self, kind: MessageType) -> list[Received]:
        return [r for r in self.received if r.msg.kind is kind]


# -- the firmware on the network ---------------------------------------------------------


class DhcpNode(FirmwareNode):
    """The firmware on the virtual network, with its DHCP client at hand."""

    @property
    def client(self) -> DhcpClient:
        return self.service(DhcpClient)

    def dhcp_lines(self) -> list[str]:
        return [line for line in self.console() if line.startswith(("DHCP:", "ETH0:"))]


def start_firmware(
    config: str = CLIENT_CONFIG,
    *,
    cause: StartCause = StartCause.POWER_UP,
    dhcp: bool = True,
    seed: int = 1,
) -> Firmware:
    """A firmware on a factory flash whose config ring holds ``config``."""
    flash = factory_flash(PROFILE)
    ConfigRing(PartitionTable(flash, PROFILE)["config"]).write(defaults(PROFILE).render() + config)
    return Firmware(
        PROFILE,
        PROFILE.firmware.build,
        partitions=PartitionTable(flash, PROFILE),
        rng=random.Random(seed),
        serial=SERIAL,
        cause=cause,
        network=NetworkCapabilities(dhcp=dhcp),
    )


def bench(
    server: DhcpServer,
    config: str = CLIENT_CONFIG,
    *,
    cause: StartCause = StartCause.POWER_UP,
    dhcp: bool = True,
) -> tuple[VirtualNetwork, DhcpNode]:
    net = VirtualNetwork()
    net.attach(server)
    node = DhcpNode(start_firmware(config, cause=cause, dhcp=dhcp), net)
    net.attach(node)
    return net, node


def bound(net: VirtualNetwork, node: DhcpNode, timeout: float = 10.0) -> None:
    assert net.run_until(lambda: node.client.state is DhcpState.BOUND, timeout=timeout)


# -- DORA ---------------------------------------------------------------------------------


def test_discover_offer_request_ack() -> None:
    server = DhcpServer()
    net, node = bench(server)
    bound(net, node)
    discover, request = (r for r in server.received)
    # DISCOVER: from no address to the limited broadcast, replies asked as broadcasts.
    assert discover.datagram.src == ("0.0.0.0", 68)
    assert discover.datagram.dst == (LIMITED_BROADCAST, 67)
    d = discover.msg
    assert d.kind is MessageType.DISCOVER
    assert d.flags == BROADCAST_FLAG
    assert (d.htype, d.chaddr, d.ciaddr) == (1, MAC, "0.0.0.0")
    assert d.client_id == b"\x01" + MAC
    assert d.hostname == "IP6000-10-0a-bc"  # model + the MAC's last 3 bytes (Reference11r2)
    assert d.vendor_class == VENDOR_CLASS == b"1.3.6.1.4.1.6666"
    assert d.parameters == PARAMETERS == (1, 3, 6, 15, 28, 42, 43, 51, 58, 59, 215)
    assert d.max_size == 1500
    assert (d.requested_ip, d.server_id) == (None, None)
    # REQUEST: the offer's xid, broadcast, naming the address and the server.
    assert request.datagram.src == ("0.0.0.0", 68)
    assert request.datagram.dst == (LIMITED_BROADCAST, 67)
    r = request.msg
    assert r.kind is MessageType.REQUEST
    assert r.xid == d.xid
    assert r.flags == BROADCAST_FLAG
    assert (r.requested_ip, r.server_id, r.ciaddr) == (IP, SERVER, "0.0.0.0")
    assert r.secs == d.secs
    assert (r.hostname, r.client_id, r.vendor_class) == (d.hostname, d.client_id, d.vendor_class)
    # The address, then the port on it.
    fw = node.firmware
    assert fw.address == (IP, MASK)
    assert [e for _, e in node.of_type(AddressAssigned)] == [AddressAssigned(IP, MASK, SERVER)]
    ports = [e for _, e in node.events if isinstance(e, PortOpened | AddressAssigned)]
    assert ports == [
        PortOpened((LIMITED_BROADCAST, 68)),
        AddressAssigned(IP, MASK, SERVER),
        PortOpened((IP, 68)),
    ]
    assert node.dhcp_lines() == [
        "ETH0: DHCP client (/dhcp client)",
        "DHCP: discover",
        f"DHCP: offer {IP} from {SERVER}",
        f"DHCP: lease {IP} for 3600 s",
        f"ETH0: {IP}/{MASK} (DHCP lease from {SERVER} for 3600 s)",
    ]
    assert [text for _, text in fw.log][-1] == f"DHCP: lease {IP} for 3600 s"
    lease = node.client.lease
    assert lease is not None
    assert (lease.ip, lease.mask, lease.gateway, lease.server, lease.dns) == (
        IP,
        MASK,
        SERVER,
        SERVER,
        (SERVER,),
    )
    assert lease.t1 == pytest.approx(1800.0, abs=0.01)
    assert lease.t2 == pytest.approx(3150.0, abs=0.01)
    assert lease.end == pytest.approx(3600.0, abs=0.01)
    # Unicast to the leased address reaches the client now.
    assert fw.accepts((IP, 68))
    assert not fw.accepts((IP, 67))


def test_no_answer_retransmits_with_the_rfc_backoff_in_device_time() -> None:
    server = DhcpServer(silent=True)
    net, node = bench(server)
    net.run(400.0)
    sent = server.of_kind(MessageType.DISCOVER)
    times = [r.time for r in sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, base in zip(gaps, [4, 8, 16, 32, 64, 64, 64], strict=False):
        assert base - 1 <= gap <= base + 1, (gaps, base)
    assert len(gaps) >= 7
    assert len(set(gaps)) == len(gaps)  # randomized
    assert {r.msg.xid for r in sent} == {sent[0].msg.xid}
    secs = [r.msg.secs for r in sent]
    assert secs == sorted(secs)
    assert secs[0] == 0
    assert secs[-1] == int(times[-1] - times[0])
    assert node.firmware.address is None
    assert node.dhcp_lines().count("DHCP: discover") == 1  # retransmissions are quiet


def test_unanswered_requests_lead_to_a_new_discover() -> None:
    server = DhcpServer(ignore_requests=True)
    net, node = bench(server)
    net.run(70.0)
    discovers = server.of_kind(MessageType.DISCOVER)
    assert len(discovers) == 2
    requests = [r for r in server.of_kind(MessageType.REQUEST) if r.time < discovers[1].time]
    assert len(requests) == MAX_REQUESTS
    assert {r.msg.xid for r in requests} == {discovers[0].msg.xid}
    assert discovers[1].msg.xid != discovers[0].msg.xid
    assert 59.0 - 4 <= discovers[1].time - requests[0].time <= 60.0 + 4
    assert f"DHCP: no answer from {SERVER}, discovering again" in node.console()


def test_nak_goes_back_to_init_after_a_short_wait() -> None:
    server = DhcpServer(naks=1)
    net, node = bench(server)
    assert net.run_until(lambda: node.client.state is DhcpState.INIT, timeout=1.0)
    nak_time = net.now
    assert f"DHCP: NAK from {SERVER}: address not available" in node.console()
    assert node.firmware.address is None
    net.run(net.now + NAK_WAIT - 0.01)
    assert len(server.of_kind(MessageType.DISCOVER)) == 1
    bound(net, node, timeout=1.0)
    discovers = server.of_kind(MessageType.DISCOVER)
    assert len(discovers) == 2
    assert discovers[1].time == pytest.approx(nak_time + NAK_WAIT, abs=0.01)
    assert discovers[1].msg.xid != discovers[0].msg.xid
    assert node.firmware.address == (IP, MASK)


# -- renewing, rebinding, the end of a lease ----------------------------------------------


def test_renewal_at_t1_is_unicast_to_the_server_and_keeps_the_address() -> None:
    server = DhcpServer()
    net, node = bench(server)
    bound(net, node)
    first_ack = net.now
    before = len(server.received)
    net.run(1799.0)
    assert len(server.received) == before  # nothing until T1
    net.run(1801.0)
    (renew,) = server.received[before:]
    assert renew.time == pytest.approx(1800.0, abs=0.01)
    assert renew.datagram.src == (IP, 68)
    assert renew.datagram.dst == (SERVER, 67)
    m = renew.msg
    assert m.kind is MessageType.REQUEST
    assert (m.ciaddr, m.flags) == (IP, 0)
    assert (m.requested_ip, m.server_id) == (None, None)  # RFC 2131 4.3.2: RENEWING
    assert node.client.state is DhcpState.BOUND
    assert len(node.of_type(AddressAssigned)) == 1  # the address is kept
    assert f"DHCP: renewing {IP} with {SERVER}" in node.console()
    assert f"DHCP: lease {IP} renewed for 3600 s" in node.console()
    lease = node.client.lease
    assert lease is not None
    assert lease.t1 == pytest.approx(renew.time + 1800.0, abs=0.01)
    assert first_ack < 0.01


def test_rebinding_at_t2_is_broadcast_after_unanswered_renewals() -> None:
    server = DhcpServer(t1=1000, t2=2000, deaf_to_unicast=True)
    net, node = bench(server)
    bound(net, node)
    before = len(server.received)
    net.run(2001.0)
    renews = [r for r in server.received[before:] if r.datagram.dst == (SERVER, 67)]
    # RFC 2131 4.4.5: half the time left until T2, at least 60 s.
    times = [r.time for r in renews]
    expected = [1000.0, 1500.0, 1750.0, 1875.0, 1937.5, 1997.5]
    assert times == pytest.approx(expected, abs=0.01)
    (rebind,) = [r for r in server.received[before:] if r.datagram.dst[0] == LIMITED_BROADCAST]
    assert rebind.time == pytest.approx(2000.0, abs=0.01)
    assert rebind.datagram.src == (IP, 68)
    assert rebind.datagram.dst == (LIMITED_BROADCAST, 67)
    assert (rebind.msg.ciaddr, rebind.msg.flags, rebind.msg.server_id) == (IP, 0, None)
    assert rebind.msg.xid != renews[0].msg.xid
    assert node.client.state is DhcpState.BOUND
    assert node.firmware.address == (IP, MASK)
    assert len(node.of_type(AddressAssigned)) == 1
    assert f"DHCP: rebinding {IP}" in node.console()


def test_the_end_of_a_lease_gives_the_address_up_and_discovers_again() -> None:
    server = DhcpServer(lease=600)
    net, node = bench(server)
    bound(net, node)
    first_xid = server.received[0].msg.xid
    server.silent = True
    net.run(599.9)
    assert node.firmware.address == (IP, MASK)
    net.run(600.1)
    assert node.firmware.address is None
    released = node.of_type(AddressReleased)
    assert [e for _, e in released] == [AddressReleased(IP)]
    assert released[0][0] == pytest.approx(600.0, abs=0.01)
    # The port on the address closes before the address goes.
    tail = [e for _, e in node.events if isinstance(e, PortClosed | AddressReleased)]
    assert tail == [PortClosed((IP, 68)), AddressReleased(IP)]
    assert not node.firmware.accepts((IP, 68))
    assert f"ETH0: {IP} given up (DHCP lease ended)" in node.console()
    last = server.received[-1]
    assert last.msg.kind is MessageType.DISCOVER
    assert last.time == pytest.approx(600.0, abs=0.01)
    assert last.datagram.src == ("0.0.0.0", 68)
    assert last.msg.xid != first_xid
    assert node.client.state is DhcpState.SELECTING
    server.silent = False
    bound(net, node, timeout=10.0)
    assert node.firmware.address == (IP, MASK)


def test_a_renewal_that_changes_the_address_moves_port_and_address() -> None:
    server = DhcpServer()
    net, node = bench(server)
    bound(net, node)
    server.address = "10.0.0.77"
    net.run(1801.0)
    assert node.firmware.address == ("10.0.0.77", MASK)
    assert [e for _, e in node.of_type(AddressAssigned)][-1] == AddressAssigned(
        "10.0.0.77", MASK, SERVER
    )
    assert node.of_type(PortClosed)[-1][1] == PortClosed((IP, 68))
    assert node.of_type(PortOpened)[-1][1] == PortOpened(("10.0.0.77", 68))
    assert node.firmware.accepts(("10.0.0.77", 68))
    assert not node.firmware.accepts((IP, 68))


def test_an_infinite_lease_is_never_renewed() -> None:
    server = DhcpServer(lease=INFINITE_LEASE)
    net, node = bench(server)
    bound(net, node)
    assert node.client.get_timer() is None
    assert f"ETH0: {IP}/{MASK} (DHCP lease from {SERVER} for ever)" in node.console()
    before = len(server.received)
    net.run(10 * 86400.0)
    assert len(server.received) == before
    assert node.firmware.address == (IP, MASK)


def test_t1_and_t2_from_the_server_are_used() -> None:
    server = DhcpServer(lease=1000, t1=100, t2=900)
    net, node = bench(server)
    bound(net, node)
    lease = node.client.lease
    assert lease is not None
    assert (lease.t1, lease.t2, lease.end) == pytest.approx(
        (lease.start + 100, lease.start + 900, lease.start + 1000)
    )
    # T2 beyond the lease is nonsense: the defaults apply (7/8 and 1/2 of the lease).
    server = DhcpServer(lease=1000, t1=100, t2=2000)
    net, node = bench(server)
    bound(net, node)
    lease = node.client.lease
    assert lease is not None
    assert (lease.t1, lease.t2) == pytest.approx((lease.start + 100, lease.start + 875))


def test_release_gives_the_lease_back() -> None:
    server = DhcpServer()
    net, node = bench(server)
    bound(net, node)
    node.client.release(net.now)
    net.run(net.now + 1.0)
    (release,) = server.of_kind(MessageType.RELEASE)
    assert release.datagram.src == (IP, 68)
    assert release.datagram.dst == (SERVER, 67)
    assert (release.msg.ciaddr, release.msg.server_id) == (IP, SERVER)
    assert release.msg.client_id == b"\x01" + MAC
    assert node.firmware.address is None
    assert node.client.state is DhcpState.STOPPED
    assert node.client.get_timer() is None
    assert not node.firmware.accepts((LIMITED_BROADCAST, 68))
    net.run(net.now + 10_000.0)
    assert len(server.received) == 3


# -- what is not for this client ------------------------------------------------------------


def test_answers_for_other_clients_bootrequests_and_garbage_are_ignored() -> None:
    server = DhcpServer(silent=True)
    net, node = bench(server)
    rogue = Endpoint("0.0.0.0", 67, source_ip="10.0.0.66")
    net.attach(rogue)
    net.run(0.1)
    discover = server.received[0].msg
    offer = DhcpMessage(
        kind=MessageType.OFFER,
        xid=discover.xid,
        chaddr=MAC,
        yiaddr="10.0.0.66",
        server_id="10.0.0.66",
        mask=MASK,
        lease_time=60,
    )
    bad = [
        encode_message(replace(offer, xid=discover.xid ^ 1)),
        encode_message(replace(offer, chaddr=bytes(6))),
        encode_message(replace(offer, kind=MessageType.DISCOVER)),
        encode_message(replace(offer, kind=MessageType.ACK)),
        encode_message(replace(offer, server_id=None)),
        encode_message(replace(offer, yiaddr="0.0.0.0")),
        encode_message(offer)[:250],  # cut inside the options
        encode_message(offer)[:200],
        b"\x02" * 300,
        b"",
    ]
    for data in bad:
        rogue.sendto(data, (LIMITED_BROADCAST, 68))
    net.run(1.0)
    assert node.client.state is DhcpState.SELECTING
    assert server.of_kind(MessageType.REQUEST) == []
    assert node.firmware.address is None
    # The real server comes up: the next DISCOVER gets its offer.
    server.silent = False
    bound(net, node, timeout=10.0)
    assert node.firmware.address == (IP, MASK)
    assert "DHCP: offer of 0.0.0.0 ignored: 0.0.0.0 is no host address" in node.console()
    assert "DHCP: offer of 10.0.0.66 ignored: no server identifier (option 54)" in node.console()


def test_an_ack_from_another_server_does_not_bind() -> None:
    server = DhcpServer(ignore_requests=True)
    net, node = bench(server)
    rogue = Endpoint("0.0.0.0", 67, source_ip="10.0.0.66")
    net.attach(rogue)
    assert net.run_until(lambda: bool(server.of_kind(MessageType.REQUEST)), timeout=1.0)
    request = server.of_kind(MessageType.REQUEST)[0].msg
    ack = DhcpMessage(
        kind=MessageType.ACK,
        xid=request.xid,
        chaddr=MAC,
        yiaddr="10.0.0.66",
        server_id="10.0.0.66",
        lease_time=60,
    )
    rogue.sendto(encode_message(ack), (LIMITED_BROADCAST, 68))
    net.run(net.now + 1.0)
    assert node.client.state is DhcpState.REQUESTING
    assert node.firmware.address is None


# -- when the client runs ------------------------------------------------------------------


def test_dhcp_auto_after_power_up_runs_the_client() -> None:
    server = DhcpServer()
    net, node = bench(server, config="", cause=StartCause.POWER_UP)
    assert node.firmware.active.get("ETH0", "dhcp") == "auto"
    bound(net, node)
    assert node.firmware.address == (IP, MASK)
    assert "ETH0: DHCP client (/dhcp auto)" in node.console()


def test_dhcp_auto_after_the_reset_button_takes_the_factory_address() -> None:
    server = DhcpServer()
    net, node = bench(server, config="", cause=StartCause.RESET_BUTTON)
    net.run(100.0)
    assert server.received == []
    assert node.firmware.services == []
    eth0 = PROFILE.ethernet[0]
    assert node.firmware.address == (eth0.default_address, eth0.default_mask)
    assert node.firmware.address[0] == "192.168.0.1"  # Course10/11/12, Reference11r2


def test_without_dhcp_on_the_network_no_client_runs() -> None:
    server = DhcpServer()
    net, node = bench(server, dhcp=False)
    net.run(100.0)
    assert server.received == []
    assert "ETH0: DHCP client (/dhcp client): no address without a DHCP server" in node.console()


def test_a_device_powered_up_with_the_factory_config_gets_a_lease() -> None:
    lab = Lab()
    server = DhcpServer()
    lab.net.attach(server)
    device = Device(
        PROFILE,
        factory_flash(PROFILE),
        Instance.numbered("ip6000-1", 1),
        rng=random.Random(3),
        network=NetworkCapabilities(dhcp=True),
    )
    gw = DeviceNode(device, lab.net)
    lab.net.attach(gw)
    lab.power_on(gw)
    lab.run(30.0)
    assert gw.mode is Mode.FIRMWARE
    assert device.ip == IP
    assert gw.of_type(AddressAssigned) == [AddressAssigned(IP, MASK, SERVER)]
    discover = server.of_kind(MessageType.DISCOVER)[0].msg
    assert discover.chaddr == device.instance.mac
    # A short press restarts the firmware by the button: the factory address, no DHCP.
    before = len(server.received)
    lab.press(gw, hold=0.3)
    lab.run(30.0)
    assert device.ip == PROFILE.ethernet[0].default_address
    assert len(server.received) == before


# -- the update server URL (option 215) ------------------------------------------------

SCRIPT_URL = "http://10.0.0.9/up/"


def _script_fetches(node: DhcpNode) -> list[str]:
    return [
        e.fetch.url.split("?", 1)[0]
        for _, e in node.of_type(FetchRequested)
        if isinstance(e, FetchRequested) and e.fetch.purpose == "update script"
    ]


@pytest.mark.parametrize(
    "options",
    [
        ((215, SCRIPT_URL.encode()),),  # an option of its own
        ((43, encode_suboptions(((216, b"1"), (215, SCRIPT_URL.encode() + b"\0")))),),
    ],
    ids=["option-215", "option-43-sub-215"],
)
def test_the_update_client_polls_the_url_of_the_lease(
    options: tuple[tuple[int, bytes], ...],
) -> None:
    """No UP1 /url: the URL of the lease; a new device polls a minute after its start."""
    net, node = bench(DhcpServer(options=options))
    assert net.run_until(lambda: node.client.state is DhcpState.BOUND, timeout=5.0)
    assert node.client.lease is not None
    assert node.client.lease.update_url == SCRIPT_URL
    assert f"DHCP: update URL {SCRIPT_URL}" in node.dhcp_lines()
    assert node.firmware.update.script_url() == SCRIPT_URL + "update-ip6000.htm"
    net.run(59.0)
    assert _script_fetches(node) == []
    net.run(60.0)
    assert _script_fetches(node) == [SCRIPT_URL + "update-ip6000.htm"]
    assert "UP1" not in node.firmware.execute("config show")  # the URL is not config


def test_up1_url_wins_over_the_lease_and_no_dhcp_ignores_it() -> None:
    offered = ((215, b"http://10.0.0.8/dhcp/"),)
    net, node = bench(
        DhcpServer(options=offered), CLIENT_CONFIG + f"config change UP1 /url {SCRIPT_URL}\r\n"
    )
    net.run(61.0)
    assert node.client.lease is not None
    assert node.client.lease.update_url == "http://10.0.0.8/dhcp/"
    assert _script_fetches(node) == [SCRIPT_URL + "update-ip6000.htm"]
    net, node = bench(DhcpServer(options=offered), CLIENT_CONFIG + "config change UP1 /no-dhcp\r\n")
    net.run(3600.0)
    assert node.client.lease is not None
    assert node.firmware.update.script_url() is None
    assert _script_fetches(node) == []


@pytest.mark.parametrize("value", [b"tftp://10.0.0.9/", b"", b"http://\xe4/", b"no url"])
def test_an_offered_value_that_is_no_http_url_is_not_polled(value: bytes) -> None:
    net, node = bench(DhcpServer(options=((215, value),)))
    net.run(3600.0)
    assert node.client.state is DhcpState.BOUND
    assert node.firmware.update.script_url() is None
    assert _script_fetches(node) == []

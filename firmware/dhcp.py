"""ETH0's DHCP client (RFC 2131), a firmware service (sans-I/O, device time).

States as in RFC 2131 figure 5 (no INIT-REBOOT: the firmware keeps no lease over a
restart): INIT → SELECTING (DISCOVER) → REQUESTING (REQUEST for the first OFFER) → BOUND
(ACK) → RENEWING at T1 (REQUEST unicast to the server) → REBINDING at T2 (REQUEST
broadcast) → the lease ends: the address is given up and the client starts again. A NAK
sends it back to INIT. See the section "DHCP client" of firmware/README.md for the wire
details and the choices made, and :mod:`ipgwsim.firmware.dhcptable` for the table that
says what each state does with each input.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ipgwsim.firmware.dhcptable import TABLE, DhcpAction, DhcpInput, DhcpState
from ipgwsim.proto.dhcp import (
    BROADCAST_FLAG,
    CLIENT_PORT,
    HTYPE_ETHERNET,
    INFINITE_LEASE,
    SERVER_PORT,
    DhcpMessage,
    MalformedDhcpMessage,
    MessageType,
    Op,
    Option,
    client_id_for,
    encode_message,
    parse_message,
)
from ipgwsim.proto.dhcpvendor import UPDATE_URL, VENDOR_SPECIFIC, update_url
from ipgwsim.proto.net import LIMITED_BROADCAST, UNSPECIFIED, Address, Datagram

if TYPE_CHECKING:
    from ipgwsim.firmware.context import DhcpContext

__all__ = [
    "ACTIONS",
    "BACKOFF",
    "CLIENT_BROADCAST",
    "MAX_MESSAGE_SIZE",
    "MAX_REQUESTS",
    "NAK_WAIT",
    "PARAMETERS",
    "VENDOR_CLASS",
    "DhcpClient",
    "DhcpState",
    "Lease",
]

#: Where the client hears the servers' broadcast replies.
CLIENT_BROADCAST: Address = (LIMITED_BROADCAST, CLIENT_PORT)
#: Option 60: innovaphone's enterprise number (Reference11r2:IP4/ETH/DHCP; the vendor's DHCP
#: server can serve only clients of this class).
VENDOR_CLASS = b"1.3.6.1.4.1.6666"
#: Option 55: mask, router, DNS, domain name, broadcast address, NTP, vendor-specific
#: information (43), lease time, T1, T2, and innovaphone's update server URL (215).
PARAMETERS: tuple[int, ...] = (
    Option.SUBNET_MASK,
    Option.ROUTER,
    Option.DNS,
    Option.DOMAIN_NAME,
    Option.BROADCAST_ADDRESS,
    Option.NTP_SERVERS,
    VENDOR_SPECIFIC,
    Option.LEASE_TIME,
    Option.RENEWAL_TIME,
    Option.REBINDING_TIME,
    UPDATE_URL,
)
#: Option 57: the largest DHCP message the client takes (an Ethernet frame's payload).
MAX_MESSAGE_SIZE = 1500
#: Seconds before the retransmissions of DISCOVER and REQUEST (RFC 2131 section 4.1),
#: each randomized by -1..+1 s; DISCOVER goes on every 64 s after the last.
BACKOFF: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0, 64.0)
#: REQUESTs sent for one OFFER (at 0, ~4, ~12, ~28 s) before the client discovers again.
MAX_REQUESTS = 4
#: Seconds after a NAK before the next DISCOVER (RFC 2131 3.1 asks the same after DECLINE).
NAK_WAIT = 10.0
#: RENEWING and REBINDING retransmit after half the time left, but not sooner than this.
MIN_RETRANSMIT = 60.0


@dataclass(frozen=True)
class Lease:
    """An address the client holds; times are device time (None: an infinite lease)."""

    ip: str
    mask: str
    gateway: str
    server: str
    dns: tuple[str, ...]
    #: Seconds granted (None: infinite).
    duration: int | None
    #: When the REQUEST that got it was first sent (RFC 2131 4.4.5).
    start: float
    t1: float | None
    t2: float | None
    end: float | None
    #: The update server URL the server sent (option 215, :mod:`ipgwsim.proto.dhcpvendor`).
    update_url: str | None = None


def _classful_mask(ip: str) -> str:
    """The mask a server that sends no option 1 implies (the address's class)."""
    first = int(ip.split(".", 1)[0])
    return "255.0.0.0" if first < 128 else "255.255.0.0" if first < 192 else "255.255.255.0"


def _unusable(ip: str) -> str | None:
    """Why ``ip`` cannot be ETH0's address, or None."""
    address = ipaddress.IPv4Address(ip)
    bad = address.is_unspecified or address.is_multicast or address.is_loopback
    if bad or address.is_reserved:  # reserved: 240.0.0.0/4 and the limited broadcast
        return f"{ip} is no host address"
    return None


def _netmask_problem(mask: str) -> str | None:
    try:
        ipaddress.IPv4Network(f"0.0.0.0/{mask}")
    except ValueError:
        return f"{mask} is not a netmask"
    return None


class DhcpClient:
    """The DHCP client of ETH0 (a :class:`~ipgwsim.firmware.services.Service`).

    Built by the firmware at its start for ``/dhcp client`` (and ``/dhcp auto`` after
    power-up) where the network has DHCP; it opens its port and sends the first DISCOVER at
    once. ``state`` and ``lease`` say where it is.
    """

    def __init__(self, context: DhcpContext, now: float = 0.0) -> None:
        self.context = context
        #: ETH0's MAC: chaddr and the client identifier.
        self.mac = bytes.fromhex(context.serial)
        self.state = DhcpState.INIT
        self.lease: Lease | None = None
        self._offer: DhcpMessage | None = None
        self._xid = 0
        #: When this exchange began (``secs``), and the ``secs`` of the last DISCOVER.
        self._began = now
        self._discover_secs = 0
        #: When the first REQUEST of this exchange was sent (a lease counts from there).
        self._requested_at = now
        self._sent = 0
        self._deadline: float | None = None
        self._outbox: list[Datagram] = []
        context.open_port(CLIENT_BROADCAST)
        self._handle(DhcpInput.TIMER, None, now)  # INIT: the first DISCOVER goes at once

    # -- the service ---------------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        if dst == CLIENT_BROADCAST:
            return self.state is not DhcpState.STOPPED
        return self.lease is not None and dst == (self.lease.ip, CLIENT_PORT)

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def address_changed(self) -> None:
        """Nothing to do: the client itself is what changes ETH0's address."""

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        try:
            msg = parse_message(datagram.data)
        except MalformedDhcpMessage:
            return
        if (
            msg.op is not Op.BOOTREPLY
            or msg.xid != self._xid
            or msg.htype != HTYPE_ETHERNET
            or msg.chaddr != self.mac
        ):
            return
        given = _ANSWERS.get(msg.kind)
        if given is None:
            return
        if self.state is DhcpState.REQUESTING:
            assert self._offer is not None
            if msg.server_id not in (None, self._offer.server_id):
                return  # another server's answer to a REQUEST that named this one
        self._handle(given, msg, now)

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline:
            return
        self._handle(self._timer_input(now), None, now)

    def _timer_input(self, now: float) -> DhcpInput:
        """What the timer that ran out at ``now`` means in the current state."""
        lease = self.lease
        if lease is None or self.state not in _LEASE_STATES:
            if self.state is DhcpState.REQUESTING and self._sent >= MAX_REQUESTS:
                return DhcpInput.NO_ANSWER
            return DhcpInput.TIMER
        assert lease.t2 is not None
        assert lease.end is not None
        if now >= lease.end:
            return DhcpInput.LEASE_END
        return DhcpInput.T2 if now >= lease.t2 else DhcpInput.T1

    def _handle(self, given: DhcpInput, msg: DhcpMessage | None, now: float) -> None:
        """Look ``(state, given)`` up in the table and act."""
        transition = TABLE[self.state, given]
        decided = ACTIONS[transition.action](self, msg, now)
        target = transition.next if transition.next is not None else decided
        if target is not None:
            self.state = target

    # -- what the firmware may ask -----------------------------------------------------

    def release(self, now: float) -> None:
        """Give the lease back (RELEASE to the server) and stop; a stopped client does nothing.

        Not called by the firmware yet (a restart just forgets the lease, as most clients
        do); for a shutdown that should free the address at once.
        """
        self._handle(DhcpInput.RELEASE, None, now)

    # -- actions (named in the table) -------------------------------------------------

    def _ignore(self, msg: DhcpMessage | None, now: float) -> None:
        pass

    def _release(self, msg: DhcpMessage | None, now: float) -> None:
        lease = self.lease
        if lease is not None:
            release = DhcpMessage(
                kind=MessageType.RELEASE,
                xid=self._new_xid(),
                chaddr=self.mac,
                ciaddr=lease.ip,
                server_id=lease.server,
                client_id=client_id_for(self.mac),
            )
            self._send(release, (lease.ip, CLIENT_PORT), (lease.server, SERVER_PORT))
            self._say(f"release {lease.ip} to {lease.server}")
            self._unbind("DHCP lease released")
        self._deadline = None
        self.context.close_port(CLIENT_BROADCAST)

    # -- INIT, SELECTING, REQUESTING ---------------------------------------------------

    def _discover(self, msg: DhcpMessage | None, now: float) -> None:
        self._offer = None
        self._xid = self._new_xid()
        self._began = now
        self._sent = 0
        self._say("discover")
        self._send_discover(None, now)

    def _send_discover(self, msg: DhcpMessage | None, now: float) -> None:
        self._discover_secs = self._secs(now)
        discover = self._client_message(MessageType.DISCOVER, secs=self._discover_secs)
        self._send(discover, (UNSPECIFIED, CLIENT_PORT), (LIMITED_BROADCAST, SERVER_PORT))
        self._deadline = now + self._backoff()

    def _give_up_offer(self, msg: DhcpMessage | None, now: float) -> None:
        assert self._offer is not None
        self._say(f"no answer from {self._offer.server_id}, discovering again")
        self._discover(None, now)

    def _take_offer(self, offer: DhcpMessage | None, now: float) -> DhcpState | None:
        assert offer is not None
        problem = _unusable(offer.yiaddr)
        if offer.server_id is None:
            problem = "no server identifier (option 54)"
        elif offer.mask is not None:
            problem = problem or _netmask_problem(offer.mask)
        if problem is not None:
            self._say(f"offer of {offer.yiaddr} ignored: {problem}")
            return None
        self._offer = offer
        self._requested_at = now
        self._sent = 0
        self._say(f"offer {offer.yiaddr} from {offer.server_id}")
        self._send_request(DhcpState.REQUESTING, now)
        return DhcpState.REQUESTING

    def _resend_request(self, msg: DhcpMessage | None, now: float) -> None:
        self._send_request(self.state, now)

    def _send_request(self, state: DhcpState, now: float) -> None:
        if state is DhcpState.REQUESTING:
            assert self._offer is not None
            request = self._client_message(
                MessageType.REQUEST,
                secs=self._discover_secs,  # RFC 2131 4.4.1: the DISCOVER's secs
                requested_ip=self._offer.yiaddr,
                server_id=self._offer.server_id,
            )
            self._send(request, (UNSPECIFIED, CLIENT_PORT), (LIMITED_BROADCAST, SERVER_PORT))
            self._deadline = now + self._backoff()
            return
        lease = self.lease
        assert lease is not None
        assert lease.t2 is not None
        assert lease.end is not None
        request = self._client_message(
            MessageType.REQUEST, secs=self._secs(now), ciaddr=lease.ip, flags=0
        )
        if state is DhcpState.RENEWING:
            server, limit = lease.server, lease.t2
        else:
            server, limit = LIMITED_BROADCAST, lease.end
        self._send(request, (lease.ip, CLIENT_PORT), (server, SERVER_PORT))
        # RFC 2131 4.4.5: half the time left until T2 (the lease's end), at least 60 s.
        self._deadline = min(limit, now + max(MIN_RETRANSMIT, (limit - now) / 2))

    def _take_ack(self, ack: DhcpMessage | None, now: float) -> DhcpState | None:
        assert ack is not None
        old = self.lease
        offer = self._offer if self.state is DhcpState.REQUESTING else None
        duration = ack.lease_time
        if duration is None:
            duration = offer.lease_time if offer is not None else None
        if duration is None and old is not None:
            duration = INFINITE_LEASE if old.duration is None else old.duration
        mask = ack.mask or (offer.mask if offer is not None else None)
        mask = mask or (old.mask if old is not None and old.ip == ack.yiaddr else None)
        server = ack.server_id or (offer.server_id if offer is not None else None)
        server = server or (old.server if old is not None else None)
        problem = _unusable(ack.yiaddr)
        if not duration:
            problem = "no lease time (option 51 missing or 0)"
        elif server is None:
            problem = "no server identifier (option 54)"
        elif mask is not None:
            problem = problem or _netmask_problem(mask)
        if problem is not None or server is None or not duration:
            self._say(f"ACK for {ack.yiaddr} ignored: {problem}")
            return None
        lease = self._lease(ack, server, mask or _classful_mask(ack.yiaddr), duration)
        self.lease = lease
        self._offer = None
        self._deadline = lease.t1
        length = "for ever" if lease.duration is None else f"for {lease.duration} s"
        how = f"DHCP lease from {lease.server} {length}"
        if old is None:
            self._say(f"lease {lease.ip} {length}")
        else:
            self._say(f"lease {lease.ip} renewed {length}")
            if old.ip != lease.ip:
                self.context.close_port((old.ip, CLIENT_PORT))
        if old is None or (old.ip, old.mask, old.gateway) != (lease.ip, lease.mask, lease.gateway):
            # The address first, then the port on it (a real socket binds only to an
            # address the interface has).
            self.context.set_address(lease.ip, lease.mask, gateway=lease.gateway, how=how)
        if old is None or old.ip != lease.ip:
            self.context.open_port((lease.ip, CLIENT_PORT))
        if lease.update_url != (old.update_url if old is not None else None):
            self._say(f"update URL {lease.update_url or '(none)'}")
        return DhcpState.BOUND

    def _lease(self, ack: DhcpMessage, server: str, mask: str, duration: int) -> Lease:
        start = self._requested_at
        gateway = ack.routers[0] if ack.routers else UNSPECIFIED
        url = update_url(ack)
        if duration == INFINITE_LEASE:
            return Lease(
                ack.yiaddr, mask, gateway, server, ack.dns, None, start, None, None, None, url
            )
        t2 = float(ack.t2) if ack.t2 is not None and ack.t2 <= duration else duration * 0.875
        t1 = float(ack.t1) if ack.t1 is not None and ack.t1 <= t2 else min(duration * 0.5, t2)
        return Lease(
            ack.yiaddr,
            mask,
            gateway,
            server,
            ack.dns,
            duration,
            start,
            start + t1,
            start + t2,
            start + duration,
            url,
        )

    def _take_nak(self, nak: DhcpMessage | None, now: float) -> None:
        assert nak is not None
        server = nak.server_id or "a server"
        self._say(f"NAK from {server}" + (f": {nak.message}" if nak.message else ""))
        if self.lease is not None:
            self._unbind("DHCP NAK")
        self._offer = None
        self._xid = -1  # nothing matches until the next DISCOVER
        self._deadline = now + NAK_WAIT

    # -- BOUND, RENEWING, REBINDING ---------------------------------------------------

    def _lease_ended(self, msg: DhcpMessage | None, now: float) -> None:
        self._unbind("DHCP lease ended")
        self._discover(None, now)

    def _renew(self, msg: DhcpMessage | None, now: float) -> None:
        self._exchange(DhcpState.RENEWING, now)

    def _rebind(self, msg: DhcpMessage | None, now: float) -> None:
        self._exchange(DhcpState.REBINDING, now)

    def _exchange(self, state: DhcpState, now: float) -> None:
        """A new exchange for the lease held: its first REQUEST, for ``state``."""
        lease = self.lease
        assert lease is not None
        self._xid = self._new_xid()
        self._began = now
        self._requested_at = now
        renewing = state is DhcpState.RENEWING
        self._say(
            f"renewing {lease.ip} with {lease.server}" if renewing else f"rebinding {lease.ip}"
        )
        self._send_request(state, now)

    def _unbind(self, why: str) -> None:
        lease = self.lease
        assert lease is not None
        self.lease = None
        self.context.close_port((lease.ip, CLIENT_PORT))  # the port first, then the address
        self.context.drop_address(why)

    # -- helpers -----------------------------------------------------------------------

    def _client_message(
        self,
        kind: MessageType,
        *,
        secs: int,
        ciaddr: str = UNSPECIFIED,
        flags: int = BROADCAST_FLAG,
        requested_ip: str | None = None,
        server_id: str | None = None,
    ) -> DhcpMessage:
        """A DISCOVER or REQUEST with the options this client always sends."""
        return DhcpMessage(
            kind=kind,
            xid=self._xid,
            chaddr=self.mac,
            secs=secs,
            flags=flags,
            ciaddr=ciaddr,
            hostname=self.context.hardware_id,
            requested_ip=requested_ip,
            server_id=server_id,
            parameters=PARAMETERS,
            max_size=MAX_MESSAGE_SIZE,
            vendor_class=VENDOR_CLASS,
            client_id=client_id_for(self.mac),
        )

    def _send(self, msg: DhcpMessage, src: Address, dst: Address) -> None:
        self._sent += 1
        self._outbox.append(Datagram(encode_message(msg), src, dst))

    def _backoff(self) -> float:
        """RFC 2131 4.1: 4, 8, 16, 32, 64, 64, ... s after the n-th sending, each ±1 s."""
        base = BACKOFF[min(self._sent, len(BACKOFF)) - 1]
        return base + self.context.rng.uniform(-1.0, 1.0)

    def _secs(self, now: float) -> int:
        return min(0xFFFF, max(0, int(now - self._began)))

    def _new_xid(self) -> int:
        return self.context.rng.getrandbits(32)

    def _say(self, text: str) -> None:
        self.context.log_event(f"DHCP: {text}")


#: The messages of a server the client reacts to (others are ignored).
_ANSWERS = {
    MessageType.OFFER: DhcpInput.OFFER,
    MessageType.ACK: DhcpInput.ACK,
    MessageType.NAK: DhcpInput.NAK,
}
#: The states that hold a lease: their timer is T1, T2 or the lease's end.
_LEASE_STATES = frozenset({DhcpState.BOUND, DhcpState.RENEWING, DhcpState.REBINDING})

#: The method of :class:`DhcpClient` behind each
#: :class:`~ipgwsim.firmware.dhcptable.DhcpAction`; it returns the next state where the
#: table leaves it to the action (``None``: the state stays).
ACTIONS: dict[DhcpAction, Callable[[DhcpClient, DhcpMessage | None, float], DhcpState | None]] = {
    DhcpAction.DISCOVER: DhcpClient._discover,
    DhcpAction.RESEND_DISCOVER: DhcpClient._send_discover,
    DhcpAction.TAKE_OFFER: DhcpClient._take_offer,
    DhcpAction.RESEND_REQUEST: DhcpClient._resend_request,
    DhcpAction.GIVE_UP_OFFER: DhcpClient._give_up_offer,
    DhcpAction.TAKE_ACK: DhcpClient._take_ack,
    DhcpAction.TAKE_NAK: DhcpClient._take_nak,
    DhcpAction.RENEW: DhcpClient._renew,
    DhcpAction.REBIND: DhcpClient._rebind,
    DhcpAction.LEASE_ENDED: DhcpClient._lease_ended,
    DhcpAction.RELEASE: DhcpClient._release,
    DhcpAction.IGNORE: DhcpClient._ignore,
}

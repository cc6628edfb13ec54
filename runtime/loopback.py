"""The loopback network: devices on 127.0.0.0/8, ``127.255.255.255`` as the broadcast.

No root needed. One shared UDP socket is bound to ``(127.255.255.255, port)`` with
``SO_BROADCAST`` (and ``SO_REUSEADDR`` only when the port is shared with another
runtime, ``share=True``: otherwise the kernel refuses any other socket on that port, of
an ipgwsim runtime or not); it receives what clients broadcast to
``127.255.255.255:port`` and sends the answers of devices that have no address yet
(the kernel sends them from ``127.0.0.1``). A datagram received there reaches every
listening device as ``Datagram(data, src, ("255.255.255.255", port))``.

For a unicast address a device opens (its SETIP address on the control port, each
TFTP transfer port) the network binds a socket to exactly that ``(ip, port)``. What a
device sends from ``("0.0.0.0", p)`` goes out through the broadcast socket, anything
else from the socket bound to its source; ``255.255.255.255`` as destination becomes
``127.255.255.255``.

Sockets are plain non-blocking sockets watched with ``loop.add_reader``: binding and
sending are synchronous, so a device's answer never waits for a socket to exist.
A full socket buffer drops the datagram (UDP semantics), counted in :attr:`dropped`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from ipaddress import IPv4Address, IPv4Network

from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.net import (
    LIMITED_BROADCAST,
    UNSPECIFIED,
    Address,
    Datagram,
    NetworkCapabilities,
)
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.network import AddressPolicy, Attached, PortPolicy, SocketFactory
from ipgwsim.runtime.ports import UNPRIVILEGED_PORT

#: The network whose host addresses devices may take.
LOOPBACK_NETWORK = IPv4Network("127.0.0.0/8")
#: Plays the limited broadcast on loopback.
LOOPBACK_BROADCAST = "127.255.255.255"
#: The host's own address: clients send from it, no device may take it.
HOST_ADDRESS = IPv4Address("127.0.0.1")
#: Datagrams read per readiness callback (so one busy socket cannot starve the rest).
READ_BATCH = 64
#: Receive buffer of every socket (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER = 4 * 1024 * 1024
MAX_DATAGRAM = 65535


@dataclass
class _Bound:
    sock: socket.socket
    address: Address
    owner: Attached | None
    #: For broadcast sockets: the devices listening on it, in the order they opened it.
    listeners: dict[Attached, None]
    #: For a device's unicast socket: sends ``(payload, to)`` from it (the owner's
    #: per-datagram path); why it could not, or None.
    reply: Callable[[bytes, Address], str | None] | None = None


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    # A window of 16 blocks of 8 KiB must fit; the default (~208 KiB) drops datagrams.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return sock


def bind_problem(address: Address, exc: OSError) -> str:
    """A one-line explanation of a failed bind, with what to do about it."""
    ip, port = address
    if exc.errno == errno.EADDRINUSE:
        return f"cannot bind UDP {ip}:{port}: address in use (another program holds it)"
    if exc.errno == errno.EACCES:
        return (
            f"cannot bind UDP {ip}:{port}: permission denied (ports below 1024 need root "
            f"or CAP_NET_BIND_SERVICE); use an unprivileged port, e.g. --port {UNPRIVILEGED_PORT}"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot bind UDP {ip}:{port}: address not available on this host"
    return f"cannot bind UDP {ip}:{port}: {describe_error(exc)}"


class LoopbackNetwork:
    """The sockets of all devices of one runtime on loopback (see the module docstring).

    A :class:`~ipgwsim.runtime.network.Network`: no DHCP server, no NetBIOS, no namespaces
    or links; a firmware address is served at its loopback address (:meth:`map_address`).
    """

    kind = "loopback"
    #: Where a client (gwload /bcast) broadcasts to reach the devices.
    broadcast = LOOPBACK_BROADCAST
    takes_attachments = False

    def __init__(
        self, port: int = 69, *, log: logging.Logger | None = None, share: bool = False
    ) -> None:
        if not 0 < port < 65536:
            raise RuntimeSetupError(f"port must be 1..65535, not {port}")
        self.port = port
        #: Whether the broadcast socket lets another (sharing) runtime bind the port too.
        self.share = share
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broadcast: dict[int, _Bound] = {}
        self._unicast: dict[Address, _Bound] = {}
        self._holders: dict[IPv4Address, Attached] = {}
        #: Addresses bound by the address policy that no PortOpened has claimed yet.
        self._reserved: set[Address] = set()
        #: Datagrams dropped because a socket buffer was full or no socket could send them.
        self.dropped = 0
        #: Datagrams received from the outside, by all sockets.
        self.received = 0

    # -- life --------------------------------------------------------------------

    def start(self) -> None:
        """Bind the shared broadcast socket; a failure raises :class:`RuntimeSetupError`."""
        self._loop = asyncio.get_running_loop()
        self._open_broadcast(self.port)

    def close(self) -> None:
        """Close every socket."""
        for bound in [*self._broadcast.values(), *self._unicast.values()]:
            self._close_socket(bound.sock)
        self._broadcast.clear()
        self._unicast.clear()
        self._holders.clear()
        self._reserved.clear()

    def _close_socket(self, sock: socket.socket) -> None:
        if self._loop is not None and sock.fileno() >= 0:
            self._loop.remove_reader(sock.fileno())
        sock.close()

    def _open_broadcast(self, port: int) -> _Bound:
        assert self._loop is not None
        sock = _udp_socket()
        if self.share:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK_BROADCAST, port))
        except OSError as exc:
            sock.close()
            problem = bind_problem((LOOPBACK_BROADCAST, port), exc)
            if exc.errno == errno.EADDRINUSE:
                problem += "; use another --port"
                if self.share:
                    problem += " (sharing needs SO_REUSEADDR on every socket of the port)"
            raise RuntimeSetupError(problem) from None
        bound = _Bound(sock, (LOOPBACK_BROADCAST, port), None, {})
        self._broadcast[port] = bound
        self._loop.add_reader(sock.fileno(), self._readable, bound, port)
        return bound

    # -- what the network offers ------------------------------------------------------

    @property
    def capabilities(self) -> NetworkCapabilities:
        """No DHCP server, no NetBIOS; the firmware runs on the loopback address that
        serves its address (:meth:`map_address`)."""
        return LOOPBACK_CAPABILITIES

    def namespace_name(self, device_name: str) -> str | None:
        return None

    def link_names(self, profile: Profile, serial: str) -> list[str]:
        return []

    def namespace_of(self, host: Attached) -> str | None:
        return None

    def links_of(self, host: Attached) -> list[str]:
        return []

    def web_listener(
        self, host: Attached, ip: str, port: int
    ) -> Callable[[], socket.socket] | None:
        return None  # the web server binds its own socket on the host

    def socket_factory(self, host: Attached) -> SocketFactory | None:
        return None  # fetches leave from ordinary sockets bound to the served address

    # -- addresses -----------------------------------------------------------------

    def policy_for(self, host: Attached) -> AddressPolicy:
        """The address policy of ``host``'s device (gwload SETIP answers NAK 2 with it)."""

        def policy(ip: IPv4Address) -> str | None:
            if ip not in LOOPBACK_NETWORK:
                return (
                    f"bad address: {ip} is not on the loopback network 127.0.0.0/8 "
                    f"(this runtime runs on loopback: use 127.x.y.z)"
                )
            if ip == HOST_ADDRESS:
                return f"bad address: {ip} is the host's own address (clients use it)"
            if ip in (LOOPBACK_NETWORK.network_address, LOOPBACK_NETWORK.broadcast_address):
                return f"bad address: {ip} is not a host address of 127.0.0.0/8"
            holder = self._holders.get(ip)
            if holder is not None and holder is not host:
                return f"bad address: {ip} is taken by {holder.name}"
            return self._reserve(host, (str(ip), self.port))

        return policy

    def port_policy(self) -> PortPolicy:
        """Whether a device's transfer port can be bound now: another program on the host
        (another runtime's device at the same address, a tool) may hold it, and a transfer
        on a port that cannot be bound only ends with an error."""

        def free(address: Address) -> bool:
            if address in self._unicast:
                return False
            probe = _udp_socket()
            try:
                probe.bind(address)
            except OSError:
                return False
            finally:
                probe.close()
            return True

        return free

    def _reserve(self, host: Attached, address: Address) -> str | None:
        """Bind ``address`` for ``host`` now, so that SETIP fails if another program has it."""
        existing = self._unicast.get(address)
        if existing is not None:
            return None if existing.owner is host else f"bad address: {address[0]} is taken"
        problem = self.open(host, address)
        if problem is not None:
            return f"bad address: {problem}"
        self._reserved.add(address)
        return None

    @staticmethod
    def map_address(ip: str) -> str:
        """Where a firmware address is served on loopback: itself if it is on 127.0.0.0/8,
        else ``a.b.c.d`` as ``127.b.c.d`` (DECISION: loopback without root has no other
        addresses; ``192.168.0.1`` → ``127.168.0.1``); an address that is none stays."""
        try:
            address = IPv4Address(ip)
        except ValueError:
            return ip
        if address in LOOPBACK_NETWORK:
            return ip
        return str(IPv4Address(b"\x7f" + address.packed[1:]))

    def firmware_address(self, host: Attached, ip: str) -> tuple[str | None, str | None]:
        """Where a running firmware's address ``ip`` is served: ``(loopback ip, problem)``.

        :meth:`map_address` (the firmware on loopback already runs on it, so ``ip`` is
        usually served as it is). The problem says why it cannot be served (the host's
        own address, taken by another device).
        """
        try:
            address = IPv4Address(ip)
        except ValueError:
            return None, f"{ip!r} is not an IPv4 address"
        mapped = IPv4Address(self.map_address(ip))
        if mapped == HOST_ADDRESS or mapped in (
            LOOPBACK_NETWORK.network_address,
            LOOPBACK_NETWORK.broadcast_address,
        ):
            return None, f"{ip} would be served as {mapped}, which a device cannot take"
        holder = self._holders.get(mapped)
        if holder is not None and holder is not host:
            if mapped == address:
                return None, f"{ip} is held by {holder.name}"
            return None, f"{ip} would be served as {mapped}, which {holder.name} holds"
        return str(mapped), None

    def assign(
        self, host: Attached, ip: str, mask: str = "255.0.0.0", gateway: str = "0.0.0.0"
    ) -> None:
        self._holders[IPv4Address(ip)] = host
        self._drop_reserved(host)

    def _drop_reserved(self, host: Attached) -> None:
        """Close what the policy bound for ``host`` and no PortOpened claimed."""
        for address in list(self._reserved):
            bound = self._unicast.get(address)
            if bound is not None and bound.owner is host and address[0] not in self._ips(host):
                self.close_port(host, address)
            if bound is None or bound.owner is host:
                self._reserved.discard(address)

    def _ips(self, host: Attached) -> set[str]:
        return {str(ip) for ip, holder in self._holders.items() if holder is host}

    def release(self, host: Attached, ip: str) -> None:
        address = IPv4Address(ip)
        if self._holders.get(address) is host:
            del self._holders[address]

    def holder(self, ip: str) -> Attached | None:
        return self._holders.get(IPv4Address(ip))

    # -- ports -------------------------------------------------------------------------

    def open(self, host: Attached, address: Address) -> str | None:
        """Let ``host`` receive datagrams to ``address``; returns why not, or None."""
        ip, port = address
        if ip == LIMITED_BROADCAST:
            bound = self._broadcast.get(port)
            if bound is None:
                try:
                    bound = self._open_broadcast(port)
                except RuntimeSetupError as exc:
                    return describe_error(exc)
            bound.listeners[host] = None
            return None
        existing = self._unicast.get(address)
        if existing is not None:
            if existing.owner is host:
                self._reserved.discard(address)
                return None
            owner = existing.owner.name if existing.owner is not None else "?"
            return f"cannot bind UDP {ip}:{port}: {owner} holds it"
        sock = _udp_socket()
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            return bind_problem(address, exc)
        bound = _Bound(sock, address, host, {})
        bound.reply = partial(self._reply, sock)
        self._unicast[address] = bound
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._readable, bound, port)
        return None

    def close_port(self, host: Attached, address: Address) -> None:
        """``host`` no longer receives datagrams to ``address``."""
        ip, port = address
        if ip == LIMITED_BROADCAST:
            bound = self._broadcast.get(port)
            if bound is not None:
                bound.listeners.pop(host, None)
                if not bound.listeners and port != self.port:
                    self._close_socket(bound.sock)
                    del self._broadcast[port]
            return
        bound = self._unicast.get(address)
        if bound is not None and bound.owner is host:
            self._close_socket(bound.sock)
            del self._unicast[address]
            self._reserved.discard(address)

    def detach(self, host: Attached) -> None:
        """Close everything ``host`` has open (it is stopped)."""
        for port in list(self._broadcast):
            self.close_port(host, (LIMITED_BROADCAST, port))
        for address, bound in list(self._unicast.items()):
            if bound.owner is host:
                self.close_port(host, address)
        for ip, holder in list(self._holders.items()):
            if holder is host:
                del self._holders[ip]

    @property
    def open_sockets(self) -> int:
        return len(self._broadcast) + len(self._unicast)

    # -- datagrams -----------------------------------------------------------------------

    def send(self, host: Attached, datagram: Datagram) -> str | None:
        """Send what ``host``'s device wants to send; returns why it could not, or None."""
        dst_ip, dst_port = datagram.dst
        dst = (LOOPBACK_BROADCAST if dst_ip == LIMITED_BROADCAST else dst_ip, dst_port)
        src_ip, src_port = datagram.src
        if src_ip == UNSPECIFIED:
            bound = self._broadcast.get(src_port, self._broadcast.get(self.port))
        else:
            bound = self._unicast.get(datagram.src)
            if bound is not None and bound.owner is not host:
                bound = None
        if bound is None:
            self.dropped += 1
            return f"no socket for {src_ip}:{src_port}: datagram to {dst[0]}:{dst[1]} dropped"
        try:
            bound.sock.sendto(datagram.data, dst)
        except BlockingIOError:
            self.dropped += 1
        except OSError as exc:
            self.dropped += 1
            return f"sending to {dst[0]}:{dst[1]} failed: {describe_error(exc)}"
        return None

    def _reply(self, sock: socket.socket, data: bytes, to: Address) -> str | None:
        """Send ``data`` to ``to`` from a device's unicast socket (as :meth:`send` does)."""
        try:
            sock.sendto(data, to)
        except BlockingIOError:
            self.dropped += 1
        except OSError as exc:
            self.dropped += 1
            return f"sending to {to[0]}:{to[1]} failed: {describe_error(exc)}"
        return None

    def _readable(self, bound: _Bound, port: int) -> None:
        owner = bound.owner
        if owner is not None:
            # Each datagram by the owner's per-datagram path while it takes them; from
            # the first it does not take on, everything queued goes to the device in one
            # step (one pump, one reschedule).
            sock, address, reply = bound.sock, bound.address, bound.reply
            assert reply is not None
            fast = owner.receive_fast
            batch: list[Datagram] = []
            for _ in range(READ_BATCH):
                try:
                    data, src = sock.recvfrom(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. an ICMP error reported on the socket
                    self.log.debug("receive on port %d: %s", port, exc)
                    break
                self.received += 1
                if batch or not fast(data, src, address, reply):
                    batch.append(Datagram(data, src, address))
                elif sock.fileno() < 0:
                    return  # the device gave the port up
            if batch:
                owner.deliver_all(batch)
            return
        for _ in range(READ_BATCH):
            try:
                data, src = bound.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error reported on the socket
                self.log.debug("receive on port %d: %s", port, exc)
                return
            self.received += 1
            datagram = Datagram(data, src, (LIMITED_BROADCAST, port))
            for host in list(bound.listeners):
                if host.accepts(datagram.dst):
                    host.deliver(datagram)


#: What the loopback network offers every device.
LOOPBACK_CAPABILITIES = NetworkCapabilities(serve_address=LoopbackNetwork.map_address)

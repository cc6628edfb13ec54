"""The namespace network: each device in a network namespace of its own, on real links.

Root only (``CAP_NET_ADMIN``). For every device the network makes, with pyroute2
(netlink, never ``ip`` subprocesses):

- a network namespace ``ipgwsim-<pid>-<device name>`` (a process's second and later
  namespace networks: ``ipgwsim-<pid>-r<k>-<device name>``), its loopback up;
- ETH0: a veth pair whose device end is ``eth0`` in that namespace and carries the
  device's MAC (``00:90:33:…``); where the profile has ETH1, a second pair ``eth1``
  with the same MAC but the locally administered bit (``02:90:33:…``; see :func:`port_mac`);
- the other end of each pair (named after the model and the last six hex digits of the
  MAC, ``ip6000-100001`` and ``ip6000-100001.1``: unique on the host, :func:`link_name`)
  goes where the :class:`Attachment` says: stays in the runtime's namespace
  (``host``), is moved into an existing namespace (``netns:NAME``), or is enslaved to a
  Linux bridge (``bridge:BR`` or ``bridge:BR@NAMESPACE``), so that TAP interfaces of VMs
  on that bridge reach the device. ``macvlan:NIC`` (or ``macvlan:NIC@NAMESPACE``)
  instead puts a macvlan of a real NIC with the device's MAC into the device's
  namespace as ``eth0``: the device is on the NIC's Ethernet segment.

The device's IP stack is the kernel's, in its namespace: its sockets are made there
(``setns`` around ``socket()``), a SETIP or firmware address goes onto ``eth0``, the web
server listens there and the update client's connections leave from there. In TFTP mode
``eth0`` has no address: the device hears the limited broadcast on it and answers from
``0.0.0.0`` (Linux sends a broadcast from an interface without an address when the
socket is bound to it).

Everything made is tagged (namespaces by name, links by their alias ``ipgwsim <pid>
<device name> <state directory>``) and removed when the runtime stops;
:func:`~ipgwsim.runtime.netlink.cleanup` removes what a killed runtime left (``ipgwsim
cleanup``). A link name that exists already is refused, naming its owner as its alias
tells it. The netlink work is :mod:`ipgwsim.runtime.netlink`'s; :class:`Attachment`,
:func:`link_name` and :func:`port_mac` are :mod:`ipgwsim.runtime.attachment`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.net import (
    LIMITED_BROADCAST,
    UNSPECIFIED,
    Address,
    Datagram,
    NetworkCapabilities,
)
from ipgwsim.runtime.attachment import Attachment, link_name, port_mac
from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.netlink import (
    ALIAS,
    PREFIX,
    describe_owner,
    in_namespace,
    link_index,
    netlink_call,
    netlink_error,
    route,
)
from ipgwsim.runtime.network import AddressPolicy, Attached, PortPolicy, SocketFactory

__all__ = ["NAMESPACE_CAPABILITIES", "DeviceNamespace", "NamespaceNetwork"]

#: Longest alias Linux keeps (IFALIASZ less the NUL).
ALIAS_MAX = 255
READ_BATCH = 64
MAX_DATAGRAM = 65535
IP_FREEBIND = 15
RECEIVE_BUFFER = 4 * 1024 * 1024


@dataclass
class _Socket:
    sock: socket.socket
    address: Address


@dataclass
class DeviceNamespace:
    """One device's namespace, links and sockets."""

    host: Attached
    namespace: str
    interfaces: list[str]
    peers: list[tuple[str, str | None]]
    sockets: dict[Address, _Socket] = field(default_factory=dict)
    addresses: dict[str, int] = field(default_factory=dict)


#: What the namespace network offers every device: real links, where DHCP servers and
#: NetBIOS clients may be; addresses are served as they are.
NAMESPACE_CAPABILITIES = NetworkCapabilities(dhcp=True, netbios=True)


class NamespaceNetwork:
    """The sockets and links of all devices of one runtime (see the module docstring).

    A :class:`~ipgwsim.runtime.network.Network`.
    """

    kind = "netns"
    #: Where a client (gwload /bcast) on the devices' segment broadcasts to reach them.
    broadcast = LIMITED_BROADCAST
    takes_attachments = True
    capabilities = NAMESPACE_CAPABILITIES

    #: Namespace networks made in this process so far (see ``stem``).
    _instances = itertools.count()

    def __init__(
        self,
        port: int = 69,
        *,
        attachment: Attachment | None = None,
        eth1: bool = True,
        log: logging.Logger | None = None,
        owner: str = "",
    ) -> None:
        self.port = port
        #: Who makes the links (the state directory), the end of their alias.
        self.owner = owner
        self.attachment = attachment if attachment is not None else Attachment()
        self.eth1 = eth1
        self.log = log if log is not None else logging.getLogger("ipgwsim.runtime")
        self.pid = os.getpid()
        # DECISION: the first namespace network of a process names its namespaces
        # ipgwsim-<pid>-<device>; later ones (two simulators in one test process) add
        # r<k>, as both may have an ip6000-1. `ipgwsim cleanup` reads only the pid.
        number = next(NamespaceNetwork._instances)
        self.stem = f"{PREFIX}{self.pid}-" + (f"r{number}-" if number else "")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._devices: dict[Attached, DeviceNamespace] = {}
        #: Long-lived netlink handles by namespace (None: the runtime's own).
        self._handles: dict[str | None, IPRoute] = {}
        self.dropped = 0
        self.received = 0

    # -- life --------------------------------------------------------------------

    def start(self) -> None:
        if os.geteuid() != 0:
            raise RuntimeSetupError(
                "the namespace network needs root (CAP_NET_ADMIN); "
                "without root use the loopback network"
            )
        self._loop = asyncio.get_running_loop()
        netlink_call(self._check_attachment, self.attachment)

    def attachment_of(self, host: Attached) -> Attachment:
        """Where ``host``'s links go: its own attachment, else the network's."""
        return host.attachment if host.attachment is not None else self.attachment

    @staticmethod
    def _check_attachment(a: Attachment) -> None:
        if a.kind == "netns" and a.target not in netns.listnetns():
            raise RuntimeSetupError(f"attachment {a}: there is no network namespace {a.target!r}")
        if a.kind in ("bridge", "macvlan"):
            if a.namespace is not None and a.namespace not in netns.listnetns():
                raise RuntimeSetupError(f"attachment {a}: no network namespace {a.namespace!r}")
            with route(a.namespace) as ipr:
                index = link_index(ipr, a.target)
                if index is None:
                    raise RuntimeSetupError(f"attachment {a}: there is no interface {a.target!r}")
                if a.kind == "bridge":
                    kind = ipr.get_links(index)[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
                    if kind != "bridge":
                        raise RuntimeSetupError(f"attachment {a}: {a.target!r} is not a bridge")

    def close(self) -> None:
        for host in list(self._devices):
            self.detach(host)
        netlink_call(self._close_handles)

    def _close_handles(self) -> None:
        for handle in self._handles.values():
            with contextlib.suppress(OSError):
                handle.close()
        self._handles.clear()

    def namespace_of(self, host: Attached) -> str | None:
        device = self._devices.get(host)
        return device.namespace if device is not None else None

    def namespace_name(self, device_name: str) -> str:
        """The namespace a device of that name gets: ``ipgwsim-<pid>-<device name>``."""
        return f"{self.stem}{device_name}"

    def link_names(self, profile: Profile, serial: str) -> list[str]:
        """The host-side link names a device gets (none with a macvlan)."""
        if self.attachment.kind == "macvlan":
            return []
        count = 2 if self.eth1 and len(profile.ethernet) > 1 else 1
        return [link_name(profile.model, serial, n) for n in range(count)]

    def links_of(self, host: Attached) -> list[str]:
        """The host-side link names of a running device (``ip6000-100001``, ...)."""
        device = self._devices.get(host)
        return [peer for peer, _ in device.peers] if device is not None else []

    def _alias(self, host: Attached) -> str:
        alias = f"{ALIAS} {self.pid} {host.name}"
        if self.owner:
            alias += f" {self.owner}"
        return alias.encode()[:ALIAS_MAX].decode("utf-8", "ignore")

    # -- devices -----------------------------------------------------------------

    def port_policy(self) -> PortPolicy | None:
        """None: a device's ports are in its own namespace, where nothing else binds."""
        return None

    def policy_for(self, host: Attached) -> AddressPolicy:
        """Make the device's namespace and links; SETIP takes any host address then."""
        netlink_call(self._create, host)

        def policy(ip: IPv4Address) -> str | None:
            return None

        return policy

    def _create(self, host: Attached) -> DeviceNamespace:
        name = self.namespace_name(host.name)
        alias = self._alias(host)
        if name in netns.listnetns():
            raise RuntimeSetupError(
                f"{host.name}: a network namespace {name} exists already "
                f"(`ipgwsim cleanup` removes those of runtimes that are gone)"
            )
        try:
            netns.create(name)
        except OSError as exc:
            raise RuntimeSetupError(
                f"{host.name}: cannot create namespace {name}: {describe_error(exc)}"
            ) from None
        device = DeviceNamespace(host, name, [], [])
        self._devices[host] = device
        try:
            if host.attachment is not None:
                self._check_attachment(host.attachment)
            self._sysctls(name)
            with route(name) as ns:
                lo = link_index(ns, "lo")
                if lo is not None:
                    ns.link("set", index=lo, state="up")
                count = 2 if self.eth1 and len(host.profile.ethernet) > 1 else 1
                for n in range(count):
                    self._link(device, ns, n, alias)
        except (NetlinkError, OSError, RuntimeSetupError) as exc:
            self._devices.pop(host, None)
            self._remove(device)
            if isinstance(exc, RuntimeSetupError):
                raise
            if isinstance(exc, NetlinkError):
                raise netlink_error(f"{host.name}: cannot make its links", exc) from None
            raise RuntimeSetupError(
                f"{host.name}: cannot make its links: {describe_error(exc)}"
            ) from None
        return device

    @staticmethod
    def _sysctls(namespace: str) -> None:
        """The device's stack: ARP only for the address of the interface asked (ETH1 never
        answers for ETH0's), and no IPv6 (the model has none; no link-local chatter)."""
        settings = {
            "ipv4/conf/all/arp_ignore": "1",
            "ipv4/conf/default/arp_ignore": "1",
            "ipv4/conf/all/arp_announce": "2",
            "ipv4/conf/default/arp_announce": "2",
            "ipv6/conf/all/disable_ipv6": "1",
            "ipv6/conf/default/disable_ipv6": "1",
        }
        with in_namespace(namespace):
            for key, value in settings.items():
                with contextlib.suppress(OSError), open(f"/proc/sys/net/{key}", "w") as knob:
                    knob.write(value)

    def _handle(self, space: str | None) -> IPRoute:
        """A netlink handle in ``space`` kept for the runtime's life (netlink thread only)."""
        handle = self._handles.get(space)
        if handle is None:
            handle = self._handles[space] = route(space)
        return handle

    def _link(self, device: DeviceNamespace, ns: IPRoute, n: int, alias: str) -> None:
        host = device.host
        a = self.attachment_of(host)
        inner = f"eth{n}"
        mac = port_mac(host.mac, n)
        serial = host.mac.replace(":", "")
        # Made in the runtime's namespace, then moved: unique on the host as the MAC is.
        temp = f"ipgwt{serial[-6:]}{n}"
        if a.kind == "macvlan":
            if n > 0:
                return  # one macvlan per device: ETH0 on the real segment
            ipr = self._handle(a.namespace)
            parent = link_index(ipr, a.target)
            assert parent is not None
            ipr.link("add", ifname=temp, kind="macvlan", link=parent, macvlan_mode="bridge")
            index = link_index(ipr, temp)
            assert index is not None
            ipr.link("set", index=index, net_ns_fd=device.namespace)
        else:
            peer = link_name(host.profile.model, serial, n)
            space = a.target if a.kind == "netns" else a.namespace
            there = self._handle(space)
            for name in (peer, temp):
                ipr = there if name == peer else self._handle(None)
                index = link_index(ipr, name)
                if index is not None:
                    where = f"namespace {space}" if space and name == peer else "this host"
                    theirs = ipr.get_links(index)[0].get_attr("IFLA_IFALIAS") or ""
                    raise RuntimeSetupError(
                        f"{host.name}: a link {name} exists already in {where}: it belongs "
                        f"to {describe_owner(theirs)}"
                    )
            bridge = link_index(there, a.target) if a.kind == "bridge" else None
            if a.kind == "bridge" and bridge is None:
                raise RuntimeSetupError(f"{host.name}: the bridge {a} is gone")
            ipr = self._handle(None)
            # The peer is made where it lives: a name taken here does not matter there.
            peer_spec: dict[str, object] = {"ifname": peer}
            if space is not None:
                peer_spec["net_ns_fd"] = space
            ipr.link("add", ifname=temp, kind="veth", peer=peer_spec)
            index = link_index(ipr, temp)
            assert index is not None
            ipr.link("set", index=index, net_ns_fd=device.namespace)
            peer_index = link_index(there, peer)
            assert peer_index is not None
            there.link("set", index=peer_index, ifalias=alias)
            if bridge is not None:
                there.link("set", index=peer_index, master=bridge)
            there.link("set", index=peer_index, state="up")
            device.peers.append((peer, space))
        index = link_index(ns, temp)
        assert index is not None
        ns.link("set", index=index, ifname=inner, address=mac, ifalias=alias)
        ns.link("set", index=index, state="up")
        device.interfaces.append(inner)

    def detach(self, host: Attached) -> None:
        """Close the device's sockets, remove its namespace (and so its links)."""
        device = self._devices.pop(host, None)
        if device is None:
            return
        for bound in device.sockets.values():
            self._close_socket(bound.sock)
        device.sockets.clear()
        netlink_call(self._remove, device)

    def _remove(self, device: DeviceNamespace) -> None:
        for peer, space in device.peers:
            with contextlib.suppress(NetlinkError, OSError):
                ipr = self._handle(space)
                index = link_index(ipr, peer)
                if index is not None:
                    ipr.link("del", index=index)
        with contextlib.suppress(OSError):
            netns.remove(device.namespace)

    # -- addresses ---------------------------------------------------------------------

    def firmware_address(self, host: Attached, ip: str) -> tuple[str | None, str | None]:
        """A firmware's address is served as it is (the namespace is the device's own)."""
        try:
            IPv4Address(ip)
        except ValueError:
            return None, f"{ip!r} is not an IPv4 address"
        return ip, None

    def assign(
        self, host: Attached, ip: str, mask: str = "255.255.255.255", gateway: str = "0.0.0.0"
    ) -> None:
        """``ip``/``mask`` onto ``eth0`` (the mask changed: the old prefix goes), a default
        route via ``gateway`` unless it is ``0.0.0.0``, and a gratuitous ARP."""
        device = self._devices.get(host)
        if device is None:
            return
        prefix = IPv4Network(f"0.0.0.0/{mask}").prefixlen
        old = device.addresses.get(ip)
        if old is not None and old != prefix:
            del device.addresses[ip]
            netlink_call(self._del_address, device.namespace, ip, old)
        netlink_call(self._add_address, device, ip, prefix)
        if gateway != UNSPECIFIED:
            netlink_call(self._default_route, device, gateway)

    def _default_route(self, device: DeviceNamespace, gateway: str) -> None:
        try:
            with route(device.namespace) as ns:
                ns.route("replace", dst="0.0.0.0/0", gateway=gateway)
        except NetlinkError as exc:
            name = device.host.name
            self.log.warning(
                "%s: no default route via %s: %s", name, gateway, exc, extra={"device": name}
            )

    def _add_address(self, device: DeviceNamespace, ip: str, prefix: int) -> None:
        host = device.host
        try:
            with route(device.namespace) as ns:
                index = link_index(ns, "eth0")
                ns.addr("add", index=index, address=ip, prefixlen=prefix)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                self.log.warning(
                    "%s: cannot add %s/%s: %s",
                    host.name,
                    ip,
                    prefix,
                    exc,
                    extra={"device": host.name},
                )
                return
        device.addresses[ip] = prefix
        self._announce(device, ip)

    def _announce(self, device: DeviceNamespace, ip: str) -> None:
        """Send a gratuitous ARP for ``ip`` from ``eth0``, as a device taking an address does.

        A neighbour that asked for the address before (dnsmasq pings an address before
        it offers it) keeps a failed ARP entry for seconds otherwise, and a client there
        gets "no route to host" right after the lease. Linux sends none on its own when
        an address is added (``arp_notify`` covers only links coming up).
        """
        mac = bytes.fromhex(device.host.mac.replace(":", ""))
        addr = IPv4Address(ip).packed
        arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + addr + bytes(6) + addr
        frame = b"\xff" * 6 + mac + struct.pack("!H", 0x0806) + arp
        try:
            with in_namespace(device.namespace):
                raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            with raw:
                raw.bind(("eth0", 0))
                raw.send(frame)
        except OSError as exc:
            name = device.host.name
            self.log.warning(
                "%s: no gratuitous ARP for %s: %s", name, ip, exc, extra={"device": name}
            )

    def release(self, host: Attached, ip: str) -> None:
        device = self._devices.get(host)
        if device is None or ip not in device.addresses:
            return
        prefix = device.addresses.pop(ip)
        netlink_call(self._del_address, device.namespace, ip, prefix)

    @staticmethod
    def _del_address(namespace: str, ip: str, prefix: int) -> None:
        with contextlib.suppress(NetlinkError), route(namespace) as ns:
            index = link_index(ns, "eth0")
            ns.addr("del", index=index, address=ip, prefixlen=prefix)

    # -- sockets -----------------------------------------------------------------------

    def _socket(self, host: Attached, kind: socket.SocketKind) -> socket.socket:
        device = self._devices[host]
        with in_namespace(device.namespace):
            return socket.socket(socket.AF_INET, kind)

    def tcp_listener(self, host: Attached, ip: str, port: int) -> socket.socket:
        """A listening TCP socket on ``(ip, port)`` in the device's namespace."""
        sock = self._socket(host, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind((ip, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def web_listener(self, host: Attached, ip: str, port: int) -> Callable[[], socket.socket]:
        """The web server listens in the device's namespace (:meth:`tcp_listener`)."""
        return lambda: self.tcp_listener(host, ip, port)

    def socket_factory(self, host: Attached) -> SocketFactory:
        """For aiohttp's connector: client sockets made in the device's namespace."""

        def factory(addr_info: tuple[object, ...]) -> socket.socket:
            family, kind, proto = addr_info[0], addr_info[1], addr_info[2]
            device = self._devices[host]
            with in_namespace(device.namespace):
                return socket.socket(family, kind, proto)  # type: ignore[arg-type]

        return factory

    def open(self, host: Attached, address: Address) -> str | None:
        device = self._devices.get(host)
        if device is None:
            return "the device has no namespace"
        if address in device.sockets:
            return None
        ip, port = address
        sock = self._socket(host, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            if ip == LIMITED_BROADCAST:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
                sock.bind(("0.0.0.0", port))
            else:
                sock.bind((ip, port))
        except OSError as exc:
            sock.close()
            return f"cannot bind UDP {ip}:{port} in {device.namespace}: {describe_error(exc)}"
        bound = _Socket(sock, address)
        device.sockets[address] = bound
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._readable, host, bound)
        return None

    def _close_socket(self, sock: socket.socket) -> None:
        if self._loop is not None and sock.fileno() >= 0:
            self._loop.remove_reader(sock.fileno())
        sock.close()

    def close_port(self, host: Attached, address: Address) -> None:
        device = self._devices.get(host)
        if device is None:
            return
        bound = device.sockets.pop(address, None)
        if bound is not None:
            self._close_socket(bound.sock)

    @property
    def open_sockets(self) -> int:
        return sum(len(d.sockets) for d in self._devices.values())

    def send(self, host: Attached, datagram: Datagram) -> str | None:
        device = self._devices.get(host)
        if device is None:
            return "the device has no namespace"
        src_ip, src_port = datagram.src
        if src_ip == UNSPECIFIED:
            bound = device.sockets.get((LIMITED_BROADCAST, src_port))
            if bound is None:
                bound = device.sockets.get((LIMITED_BROADCAST, self.port))
        else:
            bound = device.sockets.get(datagram.src)
        if bound is None:
            self.dropped += 1
            return f"no socket for {src_ip}:{src_port}: datagram to {datagram.dst} dropped"
        try:
            bound.sock.sendto(datagram.data, datagram.dst)
        except BlockingIOError:
            self.dropped += 1
        except OSError as exc:
            self.dropped += 1
            return f"sending to {datagram.dst[0]}:{datagram.dst[1]} failed: {describe_error(exc)}"
        return None

    def _readable(self, host: Attached, bound: _Socket) -> None:
        batch: list[Datagram] = []
        ip, port = bound.address
        for _ in range(READ_BATCH):
            try:
                data, src = bound.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            self.received += 1
            dst = (ip if ip != LIMITED_BROADCAST else LIMITED_BROADCAST, port)
            if host.accepts(dst):
                batch.append(Datagram(data, (src[0], src[1]), dst))
        if batch:
            host.deliver_all(batch)

"""What the runtime needs of a network: one interface for both networks.

A device host (:mod:`ipgwsim.runtime.host`) and the runtime (:mod:`ipgwsim.runtime.runtime`)
speak to their network only through :class:`Network`; the loopback network
(:mod:`ipgwsim.runtime.loopback`) and the namespace network (:mod:`ipgwsim.runtime.netns`)
both provide it, and nothing outside them asks which one it is. What a network offers a
device (DHCP, NetBIOS, where a firmware address is served) is one declared value,
:attr:`Network.capabilities` (:class:`~ipgwsim.proto.net.NetworkCapabilities`), handed to
the device as it is.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from ipgwsim.hw_profiles import Profile
from ipgwsim.proto.net import Address, Datagram, NetworkCapabilities

if TYPE_CHECKING:
    from ipgwsim.runtime.attachment import Attachment

#: Whether a device may take an address (gwload SETIP): None, or why not.
AddressPolicy = Callable[[IPv4Address], "str | None"]
#: Whether a transfer port at an address can be opened now (the boot code's ``PortPolicy``).
PortPolicy = Callable[[Address], bool]
#: Makes a socket where the device's connections leave from (``socket.socket``'s arguments).
SocketFactory = Callable[[tuple[object, ...]], socket.socket]


class Attached(Protocol):
    """What a network needs of a device host."""

    @property
    def name(self) -> str: ...

    @property
    def mac(self) -> str: ...

    @property
    def attachment(self) -> Attachment | None: ...

    @property
    def profile(self) -> Profile: ...

    def accepts(self, dst: Address) -> bool: ...

    def deliver(self, datagram: Datagram) -> None: ...

    def deliver_all(self, datagrams: list[Datagram]) -> None: ...

    def receive_fast(
        self,
        data: bytes,
        src: Address,
        dst: Address,
        reply: Callable[[bytes, Address], str | None],
    ) -> bool:
        """A datagram to the unicast port ``dst`` by the per-datagram path, answered with
        ``reply(payload, to)`` from that port; False: not taken, deliver it."""
        ...


class Network(Protocol):
    """The sockets, addresses and (in namespace mode) links of one runtime's devices."""

    @property
    def kind(self) -> str:
        """``loopback`` or ``netns``: how the registry and ``status`` name the network."""
        ...

    @property
    def broadcast(self) -> str:
        """Where a client broadcasts to reach the devices (gwload's ``/bcast``)."""
        ...

    @property
    def capabilities(self) -> NetworkCapabilities:
        """What the network offers each device (DHCP, NetBIOS, the served addresses)."""
        ...

    @property
    def takes_attachments(self) -> bool:
        """Whether a device's links can go where an :class:`Attachment` says."""
        ...

    @property
    def open_sockets(self) -> int: ...

    def start(self) -> None:
        """Bind and check what the network needs; :class:`RuntimeSetupError` if it cannot."""
        ...

    def close(self) -> None:
        """Close every socket and remove what the network made."""
        ...

    # -- devices ----------------------------------------------------------------------

    def policy_for(self, host: Attached) -> AddressPolicy:
        """Attach ``host`` (its namespace and links, where there are any); its address policy."""
        ...

    def port_policy(self) -> PortPolicy | None: ...

    def detach(self, host: Attached) -> None:
        """Close everything ``host`` has open and remove what was made for it."""
        ...

    def namespace_name(self, device_name: str) -> str | None:
        """The namespace a device of that name gets (None: no namespaces)."""
        ...

    def link_names(self, profile: Profile, serial: str) -> list[str]:
        """The host-side link names a device gets (none on loopback)."""
        ...

    def namespace_of(self, host: Attached) -> str | None:
        """The namespace of a running device (None: none)."""
        ...

    def links_of(self, host: Attached) -> list[str]:
        """The host-side link names of a running device."""
        ...

    # -- addresses and ports ----------------------------------------------------------

    def firmware_address(self, host: Attached, ip: str) -> tuple[str | None, str | None]:
        """Where a running firmware's address is served: ``(address, problem)``."""
        ...

    def assign(self, host: Attached, ip: str, mask: str = ..., gateway: str = ...) -> None: ...

    def release(self, host: Attached, ip: str) -> None: ...

    def open(self, host: Attached, address: Address) -> str | None:
        """Let ``host`` receive datagrams to ``address``; returns why not, or None."""
        ...

    def close_port(self, host: Attached, address: Address) -> None: ...

    def send(self, host: Attached, datagram: Datagram) -> str | None:
        """Send what ``host``'s device sends; returns why it could not, or None."""
        ...

    # -- TCP --------------------------------------------------------------------------

    def web_listener(
        self, host: Attached, ip: str, port: int
    ) -> Callable[[], socket.socket] | None:
        """Makes the web server's listening socket (None: the web server binds its own)."""
        ...

    def socket_factory(self, host: Attached) -> SocketFactory | None:
        """Makes the sockets of the firmware's fetches (None: ordinary sockets)."""
        ...

"""What TFTP mode refuses before it touches anything: addresses and config texts."""

from __future__ import annotations

from ipaddress import AddressValueError, IPv4Address, IPv4Network, NetmaskValueError

#: Control characters a config text may hold: tab, line feed, carriage return.
_TEXT_CONTROLS = frozenset("\t\n\r")


def not_config_text(text: str) -> str | None:
    """Why an uploaded config is not config text (None: it is)."""
    if not text.strip():
        return "config is empty: nothing stored"
    for offset, char in enumerate(text):
        if (char < " " and char not in _TEXT_CONTROLS) or char == "\x7f":
            return f"config is not text: control character {ord(char):#04x} at offset {offset}"
    return None


def bad_address(ip: IPv4Address, mask: IPv4Address) -> str | None:
    """Why ``ip`` with ``mask`` cannot be a host address (gwload NAK 2), or None."""
    try:
        network = IPv4Network(f"{ip}/{mask}", strict=False)
    except (NetmaskValueError, AddressValueError, ValueError):
        return f"bad address: {mask} is not a netmask"
    if ip.is_unspecified:
        return "bad address: 0.0.0.0 is not a host address"
    if ip == IPv4Address("255.255.255.255"):
        return "bad address: 255.255.255.255 is the limited broadcast"
    if ip.is_multicast:
        return f"bad address: {ip} is a multicast address"
    if network.prefixlen < 31:
        if ip == network.network_address:
            return f"bad address: {ip} is the network address of {network}"
        if ip == network.broadcast_address:
            return f"bad address: {ip} is the broadcast address of {network}"
    return None

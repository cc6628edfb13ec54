"""The one network interface: both networks provide it, and only they ask which one it is."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import ipgwsim
from ipgwsim.proto.net import NetworkCapabilities
from ipgwsim.runtime.loopback import LOOPBACK_CAPABILITIES, LoopbackNetwork
from ipgwsim.runtime.netns import NAMESPACE_CAPABILITIES, NamespaceNetwork
from ipgwsim.runtime.network import Network

PACKAGE = Path(ipgwsim.__file__).resolve().parent
NETWORK_CLASSES = {"LoopbackNetwork", "NamespaceNetwork"}
#: The networks themselves may name their own type.
OWNERS = {"runtime/loopback.py", "runtime/netns.py"}


def _members(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


@pytest.mark.parametrize("network", [LoopbackNetwork, NamespaceNetwork])
def test_each_network_has_every_member_of_the_interface(network: type) -> None:
    wanted = _members(Network)
    missing = sorted(name for name in wanted if not hasattr(network, name))
    assert not missing, f"{network.__name__} lacks {missing}"
    for name in wanted:
        declared = getattr(Network, name)
        if inspect.isfunction(declared):
            got = inspect.signature(getattr(network, name)).parameters
            assert list(got) == list(inspect.signature(declared).parameters), name


def test_the_networks_declare_their_kind_and_capabilities() -> None:
    assert (LoopbackNetwork.kind, NamespaceNetwork.kind) == ("loopback", "netns")
    assert not LoopbackNetwork.takes_attachments
    assert NamespaceNetwork.takes_attachments
    assert NetworkCapabilities(dhcp=True, netbios=True) == NAMESPACE_CAPABILITIES
    assert not LOOPBACK_CAPABILITIES.dhcp
    assert not LOOPBACK_CAPABILITIES.netbios


def test_loopback_serves_a_firmware_address_at_its_loopback_address() -> None:
    assert LOOPBACK_CAPABILITIES.served("192.168.0.1") == "127.168.0.1"
    assert LOOPBACK_CAPABILITIES.served("127.3.2.1") == "127.3.2.1"
    assert NAMESPACE_CAPABILITIES.served("192.168.0.1") == "192.168.0.1"
    assert NetworkCapabilities().served("10.0.0.1") == "10.0.0.1"


def test_capabilities_are_frozen() -> None:
    with pytest.raises(AttributeError):
        NAMESPACE_CAPABILITIES.dhcp = False  # type: ignore[misc]


def _type_checks(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
        ):
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
            if names & NETWORK_CLASSES:
                lines.append(node.lineno)
    return lines


def test_nothing_outside_the_networks_asks_which_network_it_is() -> None:
    found = []
    for layer in ("runtime", "tools", "testing"):
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            relative = path.relative_to(PACKAGE).as_posix()
            if relative in OWNERS:
                continue
            for line in _type_checks(ast.parse(path.read_text(), relative)):
                found.append(f"{relative}:{line}")
    assert not found, f"isinstance checks on the network type: {found}"


def test_the_check_finds_a_type_check() -> None:
    probe = "if isinstance(network, (NamespaceNetwork, int)):\n    pass\n"
    assert _type_checks(ast.parse(probe)) == [1]

"""ipgwsim's pytest plugin: simulated gateways as fixtures (loaded when ipgwsim is installed).

Registered as the ``pytest11`` entry point ``ipgwsim``, so a test suite gets it by
installing ipgwsim; ``-p no:ipgwsim`` turns it off. Everything runs in virtual time on a
:class:`~ipgwsim.testing.lab.Lab` (a virtual Ethernet segment): a 15 s press costs
nothing, and nothing is left behind (no sockets, no files).

Fixtures:

- ``ipgwsim_lab``: a fresh :class:`~ipgwsim.testing.lab.Lab` per test.
- ``ipgwsim_device``: one device on that lab, powered on, running its firmware; the
  model comes from ``@pytest.mark.ipgwsim_profile("IP811")`` (default ``IP6000``).
- ``ipgwsim_devices``: a factory, ``ipgwsim_devices("IP800", 3)``: several devices on
  the same segment.

Markers:

- ``ipgwsim_profile(model)``: the model of ``ipgwsim_device``.
- ``ipgwsim_netns``: the test needs network namespaces (root and ``/dev/net/tun``);
  skipped otherwise, with the reason.

Example (``docs/testing.md`` has more)::

    @pytest.mark.ipgwsim_profile("IP6000")
    def test_tftp_mode(ipgwsim_lab, ipgwsim_device):
        ipgwsim_lab.press(ipgwsim_device, hold=1.8)
        assert ipgwsim_device.mode is Mode.TFTP_MODE
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from ipgwsim.testing.lab import DeviceNode, Lab

__all__ = ["DEFAULT_PROFILE"]

#: The model of ``ipgwsim_device`` without an ``ipgwsim_profile`` marker.
DEFAULT_PROFILE = "IP6000"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ipgwsim_profile(model): the model of the ipgwsim_device fixture"
    )
    config.addinivalue_line(
        "markers",
        "ipgwsim_netns: needs network namespaces (root and /dev/net/tun); skipped otherwise",
    )


def _namespaces_work() -> bool:
    return os.geteuid() == 0 and os.path.exists("/dev/net/tun")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("ipgwsim_netns") is not None and not _namespaces_work():
        pytest.skip("ipgwsim_netns: network namespaces need root and /dev/net/tun")


@pytest.fixture
def ipgwsim_lab() -> Lab:
    """A virtual segment in virtual time, with a gwload probe and TFTP clients at hand."""
    return Lab()


@pytest.fixture
def ipgwsim_device(request: pytest.FixtureRequest, ipgwsim_lab: Lab) -> DeviceNode:
    """One device (``ipgwsim_profile`` marker, default IP6000), powered on."""
    marker = request.node.get_closest_marker("ipgwsim_profile")
    model = marker.args[0] if marker is not None and marker.args else DEFAULT_PROFILE
    return ipgwsim_lab.add(model)


@pytest.fixture
def ipgwsim_devices(ipgwsim_lab: Lab) -> Callable[[str, int], list[DeviceNode]]:
    """``ipgwsim_devices(model, count)``: devices on the lab's one segment."""

    def make(model: str, count: int = 1) -> list[DeviceNode]:
        if count < 1:
            raise ValueError(f"count must be 1 or more, not {count}")
        return [ipgwsim_lab.add(model) for _ in range(count)]

    return make

"""ipgwsim's pytest plugin: simulated gateways as fixtures (loaded when ipgwsim is installed).

Registered as the ``pytest11`` entry point ``ipgwsim``, so a test suite gets it by
installing ipgwsim; ``-p no:ipgwsim`` turns it off. Nothing a fixture makes outlives its
test.

Fixtures in virtual time on a virtual segment (no sockets):

- ``ipgwsim_lab``: a fresh :class:`~ipgwsim.testing.lab.Lab` per test.
- ``ipgwsim_device``: one device on that lab, powered on, running its firmware; the
  model comes from ``@pytest.mark.ipgwsim_profile("IP811")`` (default ``IP6000``).
- ``ipgwsim_devices``: a factory, ``ipgwsim_devices("IP800", 3)``: several devices on
  the same segment.

Fixtures on real sockets (:class:`~ipgwsim.testing.simulator.Simulator`), for real tools:

- ``ipgwsim_sim``: a simulator on loopback, or, for a test marked ``ipgwsim_netns``, in
  network namespaces with a lab namespace of its own; virtual time unless the test is
  marked ``ipgwsim_speed(10)``; a state directory of its own. Its teardown closes it and
  fails the test if anything was left behind (a thread, a namespace, that directory).
- ``ipgwsim_gateway``: one device of the ``ipgwsim_profile`` model on ``ipgwsim_sim``.

Markers:

- ``ipgwsim_profile(model)``: the model of ``ipgwsim_device`` and ``ipgwsim_gateway``.
- ``ipgwsim_netns``: the test needs network namespaces (root and ``/dev/net/tun``);
  skipped otherwise, with the reason. ``ipgwsim_sim`` runs in namespaces then.

Settings (``[tool.pytest.ini_options]`` or ``pytest.ini``):

- ``ipgwsim_strict_ci = true``: in CI (the ``CI`` environment variable set, see
  :func:`ipgwsim.testing.needs.in_ci`) an ``ipgwsim_netns`` test that cannot run fails
  instead of skipping, so that a CI without root cannot pass by skipping them. Off by
  default; ipgwsim's own test suite turns it on.
- ``ipgwsim_speed(speed)``: ``ipgwsim_sim`` runs device time at ``speed`` times real
  time instead of virtual time.

Example (``docs/testing.md`` has more)::

    @pytest.mark.ipgwsim_profile("IP6000")
    def test_tftp_mode(ipgwsim_lab, ipgwsim_device):
        ipgwsim_lab.press(ipgwsim_device, hold=1.8)
        assert ipgwsim_device.mode is Mode.TFTP_MODE
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ipgwsim.runtime.extras import extra_imports
from ipgwsim.testing.needs import namespaces_work, unavailable

with extra_imports(__name__):
    import pytest

if TYPE_CHECKING:
    # Loaded by the fixtures that use them: the plugin loads with every pytest run in an
    # environment where ipgwsim is installed, most of which never use its fixtures.
    from ipgwsim.testing.lab import DeviceNode, Lab
    from ipgwsim.testing.simulator import Gateway, Simulator

__all__ = ["DEFAULT_PROFILE"]

#: The model of ``ipgwsim_device`` without an ``ipgwsim_profile`` marker.
DEFAULT_PROFILE = "IP6000"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "ipgwsim_strict_ci",
        "in CI (the CI environment variable set), an ipgwsim_netns test that cannot run "
        "fails instead of skipping",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ipgwsim_profile(model): the model of the ipgwsim_device fixture"
    )
    config.addinivalue_line(
        "markers",
        "ipgwsim_netns: needs network namespaces (root and /dev/net/tun); skipped otherwise",
    )
    config.addinivalue_line(
        "markers",
        "ipgwsim_speed(speed): ipgwsim_sim runs device time at speed times real time",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("ipgwsim_netns") is not None and not namespaces_work():
        unavailable(
            "ipgwsim_netns: network namespaces need root and /dev/net/tun",
            fail_in_ci=bool(item.config.getini("ipgwsim_strict_ci")),
        )


@pytest.fixture
def ipgwsim_lab() -> Lab:
    """A virtual segment in virtual time, with a gwload probe and TFTP clients at hand."""
    from ipgwsim.testing.lab import Lab  # noqa: PLC0415 - see the imports

    return Lab()


def _model(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("ipgwsim_profile")
    return str(marker.args[0]) if marker is not None and marker.args else DEFAULT_PROFILE


@pytest.fixture
def ipgwsim_device(request: pytest.FixtureRequest, ipgwsim_lab: Lab) -> DeviceNode:
    """One device (``ipgwsim_profile`` marker, default IP6000), powered on."""
    return ipgwsim_lab.add(_model(request))


@pytest.fixture
def ipgwsim_devices(ipgwsim_lab: Lab) -> Callable[[str, int], list[DeviceNode]]:
    """``ipgwsim_devices(model, count)``: devices on the lab's one segment."""

    def make(model: str, count: int = 1) -> list[DeviceNode]:
        if count < 1:
            raise ValueError(f"count must be 1 or more, not {count}")
        return [ipgwsim_lab.add(model) for _ in range(count)]

    return make


@pytest.fixture
def ipgwsim_sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """Devices on real sockets: loopback, or namespaces for ``ipgwsim_netns`` tests."""
    from ipgwsim.testing.simulator import Simulator  # noqa: PLC0415 - see the imports

    speed_marker = request.node.get_closest_marker("ipgwsim_speed")
    speed = None
    if speed_marker is not None:
        if len(speed_marker.args) != 1:
            raise pytest.UsageError("ipgwsim_speed takes the speed: @pytest.mark.ipgwsim_speed(10)")
        speed = float(speed_marker.args[0])
    netns = request.node.get_closest_marker("ipgwsim_netns") is not None
    # A state directory of its own, removed at close: the leftover check covers it.
    sim = Simulator(network="netns" if netns else "loopback", speed=speed)
    try:
        yield sim
    finally:
        sim.close()
    left = sim.leftovers()
    if left:
        pytest.fail(f"the simulator left things behind: {', '.join(left)}")


@pytest.fixture
def ipgwsim_gateway(request: pytest.FixtureRequest, ipgwsim_sim: Simulator) -> Gateway:
    """One device (``ipgwsim_profile`` marker, default IP6000) on ``ipgwsim_sim``."""
    return ipgwsim_sim.add(_model(request))

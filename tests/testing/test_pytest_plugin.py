"""The pytest plugin, as a user's test suite meets it (pytester runs an inner session)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipgwsim.events import Mode
from ipgwsim.testing.lab import DeviceNode, Lab
from ipgwsim.testing.needs import namespaces_work, unavailable

pytest_plugins = ["pytester"]


def test_the_plugin_is_loaded_by_its_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from ipgwsim.events import Led, Mode

        def test_factory_device(ipgwsim_device):
            assert ipgwsim_device.device.profile.model == "IP6000"
            assert ipgwsim_device.mode is Mode.FIRMWARE

        @pytest.mark.ipgwsim_profile("IP811")
        def test_tftp_mode_by_the_button(ipgwsim_lab, ipgwsim_device):
            assert ipgwsim_device.device.profile.model == "IP811"
            ipgwsim_lab.press(ipgwsim_device, hold=1.8)
            assert ipgwsim_device.mode is Mode.TFTP_MODE

        def test_two_devices_on_one_segment(ipgwsim_lab, ipgwsim_devices):
            first, second = ipgwsim_devices("IP800", 2)
            assert first.device.instance.serial != second.device.instance.serial
            assert len(ipgwsim_lab.net.nodes) >= 3

        @pytest.mark.ipgwsim_netns
        def test_needs_namespaces():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    root = namespaces_work()
    result.assert_outcomes(passed=4 if root else 3, skipped=0 if root else 1)


def test_the_plugin_can_be_switched_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(ipgwsim_lab):\n    pass\n")
    result = pytester.runpytest("-p", "no:ipgwsim", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ipgwsim_lab' not found*"])


def test_the_fixtures_in_this_session(ipgwsim_lab: Lab, ipgwsim_device: DeviceNode) -> None:
    ipgwsim_lab.press(ipgwsim_device, hold=12.0)  # long: the config is cleared
    ipgwsim_lab.run(30.0)
    assert ipgwsim_device.mode is Mode.TFTP_MODE


@pytest.mark.parametrize("number", [0, 1, 2])
@pytest.mark.usefixtures("installed_scripts_off_path")
def test_the_examples_of_docs_testing_md(pytester: pytest.Pytester, number: int) -> None:
    """Each code block of docs/testing.md runs as a user's test file."""
    text = (Path(__file__).parents[2] / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 3
    block = blocks[number]
    pytester.makepyfile(block)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=block.count("\ndef test_"))


def test_the_fixtures_on_real_sockets(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from ipgwsim.events import Mode

        def test_a_gateway_on_loopback(ipgwsim_sim, ipgwsim_gateway):
            assert ipgwsim_sim.network == "loopback"
            assert ipgwsim_sim.speed is None
            assert ipgwsim_gateway.model == "IP6000"
            ipgwsim_gateway.press(1.8)
            assert ipgwsim_gateway.mode is Mode.TFTP_MODE

        @pytest.mark.ipgwsim_profile("IP411")
        @pytest.mark.ipgwsim_speed(50)
        def test_scaled_time(ipgwsim_sim, ipgwsim_gateway):
            assert ipgwsim_sim.speed == 50.0
            assert ipgwsim_gateway.model == "IP411"
            ipgwsim_gateway.press(1.8)  # 36 ms of real time
            assert ipgwsim_gateway.mode is Mode.TFTP_MODE

        @pytest.mark.ipgwsim_speed
        def test_a_speed_marker_without_a_speed(ipgwsim_sim):
            pass

        @pytest.mark.ipgwsim_netns
        def test_in_namespaces(ipgwsim_sim):
            first, second = ipgwsim_sim.add_many("IP811", 2)
            assert ipgwsim_sim.network == "netns"
            assert ipgwsim_sim.lab is not None
            on_the_bridge = ipgwsim_sim.run("ip", "-br", "link", "show", "master", "lab0")
            names = sorted(line.split("@")[0] for line in on_the_bridge.stdout.splitlines())
            links = [first.link_name, second.link_name]
            assert all(link is not None for link in links)
            assert names == sorted(f"{link}{end}" for link in links for end in ("", ".1"))
            assert first.link_name == "ip811-" + first.mac.replace(":", "")[-6:]

        def test_something_left_behind_fails_the_test(ipgwsim_sim):
            ipgwsim_sim.leftovers = lambda: ["namespace ghost"]
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    root = namespaces_work()
    result.assert_outcomes(passed=4 if root else 3, skipped=0 if root else 1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ipgwsim_speed takes the speed*",
            "*the simulator left things behind: namespace ghost*",
        ],
        consecutive=False,
    )
    if not root:
        unavailable("the fixtures in namespaces need root and /dev/net/tun")


NETNS_TEST = """
import pytest

@pytest.mark.ipgwsim_netns
def test_in_namespaces():
    pass
"""


@pytest.mark.parametrize(
    ("strict", "ci", "outcome"),
    [
        (False, "", {"skipped": 1}),
        (False, "1", {"skipped": 1}),  # a user's CI: the plugin skips unless told
        (True, "", {"skipped": 1}),
        (True, "true", {"errors": 1}),  # ipgwsim's own suite in CI: it fails
        (True, "false", {"skipped": 1}),
    ],
)
def test_a_namespace_test_that_cannot_run_fails_in_ci_when_strict(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    strict: bool,
    ci: str,
    outcome: dict[str, int],
) -> None:
    # This host may well have namespaces: the plugin is told it has none.
    monkeypatch.setattr("ipgwsim.testing.pytest_plugin.namespaces_work", lambda: False)
    monkeypatch.setenv("CI", ci)
    pytester.makeini(f"[pytest]\nipgwsim_strict_ci = {'true' if strict else 'false'}\n")
    pytester.makepyfile(NETNS_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(**outcome)
    if outcome == {"skipped": 1}:
        result.stdout.fnmatch_lines(["*ipgwsim_netns: network namespaces need root*"])
    else:
        result.stdout.fnmatch_lines(["*CI runs every test (a skip would hide it)*"])

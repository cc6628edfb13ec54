"""``serial_block`` of a lab file: each host or pod of a fleet its own block of MACs.

A host registry is per host, so runtimes on different hosts (pods) know nothing of each
other; a lab file that gives each its own block keeps their MACs apart all the same. Each
pod is a registry of the test's own here, as each host has one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.labfile import Lab, LabError, parse_lab
from ipgwsim.runtime.registry import IdentityCollision, Registry, block_macs, block_of
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run

pytestmark = pytest.mark.integration

POD_LAB = """\
schema = 1
[runtime]
serial_block = {block}
[[device]]
model = "IP6000"
count = 2
[[device]]
model = "IP811"
name = "edge"
[[device]]
model = "IP800"
"""


def pod_lab(block: int, tmp_path: Path) -> Lab:
    return parse_lab(POD_LAB.format(block=block), "pod.toml", tmp_path)


async def macs_of_pod(lab: Lab, state: Path, registry: Registry, ports: Ports) -> list[str]:
    async with Runtime(
        state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock(), registry=registry
    ) as rt:
        return [host.mac for host in rt.add_many(list(lab.devices))]


def test_two_pods_given_different_blocks_never_share_a_mac(tmp_path: Path, ports: Ports) -> None:
    async def main() -> tuple[list[str], list[str]]:
        # Both pods' registries are new: without serial_block both would hand out block 0.
        a = await macs_of_pod(
            pod_lab(7, tmp_path), tmp_path / "a", Registry(tmp_path / "reg-a"), ports
        )
        b = await macs_of_pod(
            pod_lab(8, tmp_path), tmp_path / "b", Registry(tmp_path / "reg-b"), ports
        )
        return a, b

    a, b = run(main())
    assert a == [f"00:90:33:10:07:0{n}" for n in range(1, 5)]
    assert b == [f"00:90:33:10:08:0{n}" for n in range(1, 5)]
    assert {block_of(mac.replace(":", "")) for mac in a} == {7}
    assert {block_of(mac.replace(":", "")) for mac in b} == {8}


def test_the_same_block_twice_on_one_host_is_refused_naming_the_other(
    tmp_path: Path, ports: Ports
) -> None:
    registry = Registry(tmp_path / "registry")

    async def main() -> None:
        await macs_of_pod(pod_lab(7, tmp_path), tmp_path / "a", registry, ports)
        with pytest.raises(IdentityCollision) as info:
            await macs_of_pod(pod_lab(7, tmp_path), tmp_path / "b", registry, ports)
        assert str(info.value) == (
            f"MAC 00:90:33:10:07:01 is in the serial numbers {block_macs(7)}, which the state "
            f"directory {tmp_path / 'a'} holds: give a MAC outside them"
        )

    run(main())
    assert not (tmp_path / "b" / "ip6000-1").exists()


def test_a_serial_block_that_cannot_be_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError) as info:
        parse_lab(POD_LAB.format(block=-1), "pod.toml", tmp_path)
    assert (
        str(info.value) == "pod.toml: runtime.serial_block: must be a block from 0 to 61438, not -1"
    )
    many = "schema = 1\n[runtime]\nserial_block = 2\n[[device]]\nmodel = 'IP800'\ncount = 256\n"
    with pytest.raises(LabError) as info:
        parse_lab(many, "pod.toml", tmp_path)
    assert str(info.value) == (
        f"pod.toml: runtime.serial_block: block 2 ({block_macs(2)}) has 255 MACs, but 256 "
        "devices of the file have no mac of their own"
    )
    clash = POD_LAB.format(block=32).replace('"edge"', '"edge"\nmac = "00:90:33:10:20:02"')
    with pytest.raises(LabError) as info:
        parse_lab(clash, "pod.toml", tmp_path)
    assert str(info.value) == (
        "pod.toml: device.1.mac: 00:90:33:10:20:02 is also a MAC of device.0 (from serial_block 32)"
    )

"""Identity on a shared host: MACs unique across state directories, ports not shared unasked.

Tests that need to know which block a state directory gets make a registry of their own
(``Registry(tmp_path / "registry")``); the others use the host's, as users do, and
assert only about what they made.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from ipgwsim.device import Instance
from ipgwsim.runtime.attachment import IFNAME_MAX, link_name
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.netlink import describe_owner
from ipgwsim.runtime.registry import (
    BLOCK_SIZE,
    IdentityCollision,
    Registry,
    RuntimeConflict,
    RuntimeEntry,
    block_macs,
    block_of,
    process_start,
)
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run

pytestmark = pytest.mark.integration


def runtime(state: Path, registry: Registry, ports: Ports) -> Runtime:
    """A runtime on a port of its own, in virtual time, with the test's registry."""
    return Runtime(
        state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock(), registry=registry
    )


async def gone_pid() -> int:
    """The pid of a process that ran and is gone."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    return proc.pid


def blocks_of(state: Path) -> list[int]:
    data = tomllib.loads((state / "serials.toml").read_text())
    blocks: list[int] = data["blocks"]
    return blocks


def test_two_state_directories_give_their_devices_distinct_macs(
    tmp_path: Path, ports: Ports
) -> None:
    registry = Registry(tmp_path / "registry")

    async def main() -> None:
        async with (
            runtime(tmp_path / "a", registry, ports) as rt_a,
            runtime(tmp_path / "b", registry, ports) as rt_b,
        ):
            a = rt_a.add_devices("IP6000", 2)
            b = rt_b.add_devices("IP6000", 2)
            # Both have an ip6000-1; block 0 keeps the MACs a single user always had.
            assert [h.name for h in a] == [h.name for h in b] == ["ip6000-1", "ip6000-2"]
            assert [h.mac for h in a] == ["00:90:33:10:00:01", "00:90:33:10:00:02"]
            assert [h.mac for h in b] == ["00:90:33:10:01:01", "00:90:33:10:01:02"]
        assert blocks_of(tmp_path / "a") == [0]
        assert blocks_of(tmp_path / "b") == [1]
        assert registry.owner(0) == tmp_path / "a"
        assert registry.owner(1) == tmp_path / "b"

    run(main())


def test_a_full_block_is_followed_by_a_new_one(tmp_path: Path, ports: Ports) -> None:
    registry = Registry(tmp_path / "registry")

    async def main() -> None:
        async with Runtime(
            tmp_path / "a",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            registry=registry,
        ) as rt:
            hosts = rt.add_devices("IP800", BLOCK_SIZE)
        macs = [h.mac for h in hosts]
        assert len(set(macs)) == BLOCK_SIZE
        assert macs[BLOCK_SIZE - 2 :] == ["00:90:33:10:00:ff", "00:90:33:10:01:01"]
        assert blocks_of(tmp_path / "a") == [0, 1]

    run(main(), timeout=120)


def test_the_host_registry_keeps_macs_apart_too(tmp_path: Path, ports: Ports) -> None:
    """With the host's registry (as users have it): distinct MACs, whatever else runs."""

    async def main() -> None:
        async with (
            Runtime(
                tmp_path / "a", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
            ) as rt_a,
            Runtime(
                tmp_path / "b", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
            ) as rt_b,
        ):
            (a,) = rt_a.add_devices("IP6000", 1)
            (b,) = rt_b.add_devices("IP6000", 1)
            assert a.mac != b.mac
            for rt, host in ((rt_a, a), (rt_b, b)):
                [block] = blocks_of(rt.state.path)
                assert block_of(host.record.instance.serial) == block
                assert rt.registry.owner(block) == rt.state.path

    run(main())


def test_a_block_of_a_deleted_state_directory_is_taken_again(tmp_path: Path, ports: Ports) -> None:
    registry = Registry(tmp_path / "registry")

    async def first(state: Path) -> str:
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock(), registry=registry
        ) as rt:
            return rt.add_devices("IP6000", 1)[0].mac

    assert run(first(tmp_path / "gone")) == "00:90:33:10:00:01"
    assert run(first(tmp_path / "kept")) == "00:90:33:10:01:01"
    shutil.rmtree(tmp_path / "gone")  # e.g. the temporary directory of a test run
    assert run(first(tmp_path / "new")) == "00:90:33:10:00:01"
    assert registry.owner(0) == tmp_path / "new"


def test_a_moved_state_directory_keeps_its_macs(tmp_path: Path, ports: Ports) -> None:
    registry = Registry(tmp_path / "registry")

    async def mac(state: Path) -> str:
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock(), registry=registry
        ) as rt:
            return rt.add_devices("IP6000", 1)[0].mac

    before = run(mac(tmp_path / "lab"))
    (tmp_path / "lab").rename(tmp_path / "moved")
    assert run(mac(tmp_path / "moved")) == before
    assert registry.owner(0) == tmp_path / "moved"


def test_a_copied_state_directory_is_refused_naming_both(tmp_path: Path, ports: Ports) -> None:
    registry = Registry(tmp_path / "registry")
    original, copy = tmp_path / "lab-a", tmp_path / "lab-b"

    async def start(state: Path) -> None:
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock(), registry=registry
        ) as rt:
            rt.add_devices("IP6000", 1)

    run(start(original))
    shutil.copytree(original, copy, ignore=shutil.ignore_patterns("lock"))
    with pytest.raises(IdentityCollision) as info:
        run(start(copy))
    assert str(info.value) == (
        f"state directories {copy} and {original} hold the same serial numbers (block 0, "
        f"MACs {block_macs(0)}): one was copied from the other, and their devices would share "
        f"MACs on this host; delete one of them (or its serials.toml and device folders) to "
        f"run the other"
    )
    run(start(original))  # the original still runs
    shutil.rmtree(original)
    run(start(copy))  # and with it gone, the copy is the one


def test_a_state_directory_from_before_the_registry_claims_its_blocks(
    tmp_path: Path, ports: Ports
) -> None:
    """Devices made before serials.toml existed: their serials say which block is theirs."""
    registry = Registry(tmp_path / "registry")
    state = tmp_path / "old"
    (state / "ip6000-1").mkdir(parents=True)
    (state / "ip6000-1" / "instance.toml").write_text(
        'model = "IP6000"\nname = "ip6000-1"\nserial = "009033100001"\n'
    )

    async def main() -> list[str]:
        async with Runtime(
            state, port=ports.udp(), http_port=ports.tcp(), clock=ManualClock(), registry=registry
        ) as rt:
            return [h.mac for h in rt.add_devices("IP6000", 2)]

    assert run(main()) == ["00:90:33:10:00:01", "00:90:33:10:00:02"]
    assert blocks_of(state) == [0]
    assert registry.owner(0) == state


def test_a_runtime_registers_what_it_holds_and_leaves_at_stop(tmp_path: Path, ports: Ports) -> None:
    registry = Registry(tmp_path / "registry")
    port = ports.udp()

    async def main() -> None:
        async with Runtime(
            tmp_path / "s", port=port, http_port=ports.tcp(), clock=ManualClock(), registry=registry
        ) as rt:
            rt.add_devices("IP6000", 2)
            assert rt.entry is not None
            path = registry.root / "runtimes" / f"{rt.entry.key}.json"
            data = json.loads(path.read_text())
            assert data == {
                "pid": os.getpid(),
                "started": process_start(os.getpid()),
                "key": rt.entry.key,
                "state": str(tmp_path / "s"),
                "network": "loopback",
                "port": port,
                "share_port": False,
                "macs": {"00:90:33:10:00:01": "ip6000-1", "00:90:33:10:00:02": "ip6000-2"},
                "namespaces": {},
                "links": {},
            }
        assert not path.exists()
        with registry.locked():
            assert registry.running() == []

    run(main())


def test_a_port_another_runtime_has_is_refused_naming_it(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()

    async def main() -> None:
        async with Runtime(
            tmp_path / "a", port=port, http_port=ports.tcp(), clock=ManualClock()
        ) as rt_a:
            rt_a.add_devices("IP6000", 1)
            second = Runtime(tmp_path / "b", port=port, http_port=ports.tcp(), clock=ManualClock())
            with pytest.raises(RuntimeConflict) as info:
                await second.start()
            assert str(info.value) == (
                f"UDP port {port} is in use by the ipgwsim runtime of state directory "
                f"{tmp_path / 'a'} (pid {os.getpid()}): use another --port (to share a port, "
                f"start both with --share-port)"
            )
            assert not second.running
            assert not (tmp_path / "b" / "lock").read_text()  # released
            # Asking to share is not enough: the running one did not.
            sharing = Runtime(
                tmp_path / "b",
                port=port,
                http_port=ports.tcp(),
                clock=ManualClock(),
                share_port=True,
            )
            with pytest.raises(RuntimeConflict, match="start both with --share-port"):
                await sharing.start()

    run(main())


def test_a_runtime_that_shares_its_port_says_so_to_one_that_does_not(
    tmp_path: Path, ports: Ports
) -> None:
    port = ports.udp()

    async def main() -> None:
        async with Runtime(
            tmp_path / "a", port=port, http_port=ports.tcp(), clock=ManualClock(), share_port=True
        ):
            with pytest.raises(RuntimeConflict) as info:
                await Runtime(
                    tmp_path / "b", port=port, http_port=ports.tcp(), clock=ManualClock()
                ).start()
            assert str(info.value).endswith(
                "use another --port, or --share-port to share it (it shares its port)"
            )

    run(main())


def test_the_kernel_refuses_the_port_to_a_runtime_the_registry_does_not_see(
    tmp_path: Path,
    ports: Ports,
) -> None:
    """Two registries (another IPGWSIM_REGISTRY): the broadcast socket still is not shared."""
    port = ports.udp()

    async def main() -> None:
        async with Runtime(
            tmp_path / "a",
            port=port,
            http_port=ports.tcp(),
            clock=ManualClock(),
            registry=Registry(tmp_path / "r1"),
        ):
            other = Runtime(
                tmp_path / "b",
                port=port,
                http_port=ports.tcp(),
                clock=ManualClock(),
                registry=Registry(tmp_path / "r2"),
            )
            with pytest.raises(RuntimeSetupError) as info:
                await other.start()
            assert str(info.value) == (
                f"cannot bind UDP 127.255.255.255:{port}: address in use (another program "
                f"holds it); use another --port"
            )
            with Registry(tmp_path / "r2").locked() as r2:
                assert r2.running() == []  # it left the registry it had entered

    run(main())


def test_entries_of_processes_that_are_gone_are_ignored_and_removed(
    tmp_path: Path, ports: Ports
) -> None:
    registry = Registry(tmp_path / "registry")
    port = ports.udp()

    pid = run(gone_pid())
    dead = RuntimeEntry(pid, 1, f"{pid}-1", str(tmp_path / "dead"), "loopback", port)
    with registry.locked():
        registry.register(dead)
    path = registry.root / "runtimes" / f"{dead.key}.json"
    assert path.exists()

    async def main() -> None:
        async with Runtime(
            tmp_path / "s", port=port, http_port=ports.tcp(), clock=ManualClock(), registry=registry
        ):
            pass  # the port of a runtime that is gone is free

    run(main())
    assert not path.exists()


def test_a_mac_another_running_runtime_holds_is_refused(tmp_path: Path, ports: Ports) -> None:
    """Two registries disagree (a directory restored from a backup): the MAC is held."""
    registry = Registry(tmp_path / "registry")
    started = process_start(os.getpid())
    assert started is not None
    holder = RuntimeEntry(
        os.getpid(), started, f"{os.getpid()}-999999", "/srv/lab", "loopback", ports.udp(),
        macs={"00:90:33:10:00:01": "ip6000-7"},
    )  # fmt: skip
    with registry.locked():
        registry.register(holder)

    async def main() -> None:
        async with Runtime(
            tmp_path / "s",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            registry=registry,
        ) as rt:
            with pytest.raises(RuntimeConflict) as info:
                rt.add_devices("IP6000", 1)
            assert str(info.value) == (
                f"ip6000-1: MAC 00:90:33:10:00:01 is in use by the ipgwsim runtime of state "
                f"directory /srv/lab (pid {os.getpid()}) (its device ip6000-7): two state "
                f"directories hold the same serial numbers; stop that runtime or delete one "
                f"of them"
            )
            assert rt.devices == []
            assert not (tmp_path / "s" / "ip6000-1").exists()  # no folder left behind

    run(main())


def test_link_names_fit_linux_and_stay_apart() -> None:
    assert link_name("IP6000", "009033100001") == "ip6000-100001"
    assert link_name("IP6000", "009033100001", 1) == "ip6000-100001.1"
    assert link_name("IP811", "0090331005f0", 1) == "ip811-1005f0.1"
    # A model of a user's profile with a long or odd name is cut: the MAC part stays.
    long = link_name("Gateway 9000-XL", "009033abcdef", 1)
    assert long == "gatewa-abcdef.1"
    assert len(long) == IFNAME_MAX
    assert link_name("IP-1", "009033abcdef") == "ip1-abcdef"


def test_the_owner_of_a_link_is_named_from_its_alias() -> None:
    pid = os.getpid()
    assert describe_owner(f"ipgwsim {pid} ip6000-1 /srv/lab a") == (
        f"device ip6000-1 of the ipgwsim runtime (state directory /srv/lab a, pid {pid})"
    )
    assert describe_owner(f"ipgwsim {pid} ip6000-1") == (
        f"device ip6000-1 of the ipgwsim runtime (pid {pid})"  # an older runtime's alias
    )
    assert describe_owner("uplink to the lab") == "another program (alias 'uplink to the lab')"
    assert describe_owner("") == "another program (no alias)"


def test_the_owner_of_a_link_of_a_runtime_that_is_gone() -> None:
    pid = run(gone_pid())
    assert describe_owner(f"ipgwsim {pid} ip6000-1 /srv/lab") == (
        f"device ip6000-1 of the ipgwsim runtime (state directory /srv/lab, pid {pid}), "
        f"which is gone: `ipgwsim cleanup` removes it"
    )


def test_a_registry_that_cannot_be_used_is_refused_saying_what_to_do(
    tmp_path: Path, ports: Ports
) -> None:
    not_a_directory = tmp_path / "registry"
    not_a_directory.write_text("a file where the registry should be\n")
    rt = runtime(tmp_path / "s", Registry(not_a_directory), ports)
    with pytest.raises(RuntimeSetupError) as info:
        run(rt.start())
    assert str(info.value) == (
        f"cannot use the ipgwsim registry {not_a_directory} (cannot write to {not_a_directory}: "
        f"Permission denied): set IPGWSIM_REGISTRY to a directory every ipgwsim user of this "
        f"host can write"
    )
    assert not (tmp_path / "s" / "lock").read_text()  # the state directory is released


def test_every_serial_handed_out_is_a_mac_of_innovaphones_prefix() -> None:
    # Course12 (initial start-up and recovery): the MAC is the serial number and always
    # starts with 00-90-33.
    for number in (0, 1, 0xFF, 0xEFFFFE):
        serial = Instance.numbered("gw", number).serial
        assert len(serial) == 12
        assert serial.startswith("009033"), serial
    assert block_macs(0) == "00:90:33:10:00:01-00:90:33:10:00:ff"
    last = block_macs(0xEFFFFF // BLOCK_SIZE - 1)
    first, end = last.split("-")
    assert first.startswith("00:90:33:"), last
    assert end.startswith("00:90:33:"), last

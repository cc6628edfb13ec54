"""Lab files in the namespace network: each device's links go where its own ``attach`` says."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyroute2 import IPRoute

from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.labfile import load_lab
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import run
from ipgwsim.testing.netns import lab_namespace, netlink

pytestmark = [pytest.mark.netns, pytest.mark.requires("netns")]


def links_in(namespace: str) -> set[str]:
    def look() -> set[str]:
        with IPRoute(netns=namespace) as ns:
            return {link.get_attr("IFLA_IFNAME") for link in ns.get_links()}

    return netlink(look)


def test_each_device_of_a_lab_attaches_where_it_says(tmp_path: Path) -> None:
    with lab_namespace() as default, lab_namespace() as edge:
        (tmp_path / "lab.toml").write_text(
            f"""\
schema = 1
[runtime]
network = "netns"
attach = "netns:{default}"
[[device]]
model = "IP6000"
name = "core"
[[device]]
model = "IP811"
name = "edge"
attach = "netns:{edge}"
"""
        )
        lab = load_lab(tmp_path / "lab.toml")
        assert lab.devices[1].attachment == Attachment("netns", edge)

        async def main() -> None:
            async with Runtime(
                tmp_path / "state",
                clock=ScaledClock(10),
                network="netns",
                attachment=lab.attachment,
                control=False,
                console_tcp=False,
            ) as rt:
                core, edge_host = rt.add_many(list(lab.devices))
                assert core.link_name is not None
                assert edge_host.link_name is not None
                assert core.link_name in links_in(default)
                assert core.link_name not in links_in(edge)
                assert edge_host.link_name in links_in(edge)
                assert edge_host.link_name not in links_in(default)

        run(main(), timeout=60)
        # Gone with the runtime: nothing of either device stays in the namespaces.
        assert links_in(default) == links_in(edge) == {"lo"}

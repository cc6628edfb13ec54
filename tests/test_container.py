"""The container recipe (container/): its entry point run as the container runs it, and
its files linted.

A container is a network namespace of its own with an ``eth0`` (one end of a veth pair;
the other end is on the bridge of the host's container network). The test makes exactly
that: a namespace for the container with ``eth0``, and a lab namespace on the other end
of the veth, where gwload and curl run as another machine on the container's network
would. The entry point runs in the container's namespace with a lab file, its devices
attached to ``eth0`` by macvlans (its default), and they answer from the lab side.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pyroute2 import IPRoute

from ipgwsim.runtime.labfile import load_lab
from ipgwsim.testing.loopback import run
from ipgwsim.testing.needs import SBIN, unavailable
from ipgwsim.testing.netns import add_address, lab_namespace, netlink, ns_run
from ipgwsim.testing.processes import (
    GWLOAD,
    IPGWSIM,
    finished,
    read_line,
    read_until,
    running,
    stop,
)

ROOT = Path(__file__).resolve().parent.parent
CONTAINER = ROOT / "container"
ENTRYPOINT = CONTAINER / "entrypoint.sh"
#: The programs installed with this ipgwsim (the venv's bin, where the linters are too).
BIN = Path(sys.executable).parent
#: ``ip`` is in /usr/sbin on Debian, which a user's PATH may lack.
PATH = os.pathsep.join([str(BIN), os.environ.get("PATH", ""), *SBIN])


def program(name: str) -> str:
    """A linter the ``lint`` extra installs (its wheel ships the program)."""
    found = shutil.which(name, path=PATH)
    if found is None:
        unavailable(f"{name} is not installed (pip install -e '.[lint]' brings it)")
    return found


def entrypoint_env(**extra: str) -> dict[str, str]:
    return {"PATH": PATH, "IPGWSIM_BIN": str(BIN / "ipgwsim"), **extra}


def test_the_recipe_passes_hadolint() -> None:
    done = subprocess.run(
        [program("hadolint"), "--no-color", str(CONTAINER / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_recipes_scripts_pass_shellcheck() -> None:
    scripts = [str(ENTRYPOINT), str(CONTAINER / "install.sh")]
    done = subprocess.run(
        [program("shellcheck"), "--shell=sh", *scripts], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_entrypoint_refuses_what_it_cannot_run_in_one_line(tmp_path: Path) -> None:
    """No lab file, no NIC, a bad wait: one line each, naming what is wrong; nothing runs."""
    if shutil.which("ip", path=PATH) is None:
        unavailable("ip is not installed (Debian package iproute2)")
    lab = tmp_path / "lab.toml"
    lab.write_text('schema = 1\n[[device]]\nmodel = "IP6000"\n')
    nic = f"nx{os.getpid() % 100000}"  # a name no interface here has (ip link says so)
    cases = [
        ({"IPGWSIM_LAB": str(tmp_path / "none.toml")}, [],
         f"no lab file {tmp_path / 'none.toml'}: mount one there, set IPGWSIM_LAB, "
         "or give models (IP6000:2)"),
        ({}, [str(tmp_path / "gone.toml")], f"no lab file {tmp_path / 'gone.toml'}"),
        ({"IPGWSIM_NIC": nic, "IPGWSIM_NIC_WAIT": "0"}, [str(lab)],
         f"no network interface {nic} after 0 s (IPGWSIM_NIC names the one the devices "
         "attach to)"),
        ({"IPGWSIM_NIC_WAIT": "soon"}, [str(lab)],
         "IPGWSIM_NIC_WAIT=soon: give a whole number of seconds"),
        ({"IPGWSIM_BIN": str(tmp_path / "ipgwsim")}, [str(lab)],
         f"{tmp_path / 'ipgwsim'} is not installed (IPGWSIM_BIN names the ipgwsim program)"),
    ]  # fmt: skip
    for extra, args, message in cases:
        done = subprocess.run(
            ["sh", str(ENTRYPOINT), *args],
            env=entrypoint_env(**extra),
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert (done.returncode, done.stdout, done.stderr) == (
            2,
            "",
            f"ipgwsim-entrypoint: {message}\n",
        )


def container_link(container: str, lab: str) -> None:
    """The container's ``eth0``, its other end ``lab0`` in the lab namespace; both up."""
    with IPRoute(netns=lab) as ns:
        ns.link("add", ifname="lab0", kind="veth", peer={"ifname": "eth0", "net_ns_fd": container})
        (index,) = ns.link_lookup(ifname="lab0")
        ns.link("set", index=index, state="up")


def link_names(namespace: str) -> set[str]:
    with IPRoute(netns=namespace) as ns:
        return {link.get_attr("IFLA_IFNAME") for link in ns.get_links()}


async def until_web(stdout: asyncio.StreamReader | None, name: str) -> None:
    """Until the runtime says the device's web server listens: its ``NAME  web:
    http://...`` line, in the listing or when the server starts later."""

    async def web_line() -> None:
        while True:
            words = (await read_line(stdout, timeout=60)).split()
            if words[:2] == [name, "web:"] and words[2].startswith("http://"):
                return

    await asyncio.wait_for(web_line(), 120)


@pytest.mark.integration
@pytest.mark.requires("netns", "curl")
def test_the_entrypoint_in_a_containers_namespace_serves_gwload_and_http(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "office-cfg.txt"
    config.write_text("config change ETH0 /addr 10.77.0.5 /mask 255.255.255.0\r\n")
    lab_file = tmp_path / "lab.toml"
    lab_file.write_text(
        f"""\
schema = 1
[runtime]
speed = 20
state = "{state}"
[[device]]
model = "IP6000"
name = "office"
config = "{config}"
[[device]]
model = "IP811"
name = "blank"
empty_firmware = true
"""
    )

    async def main() -> None:
        with lab_namespace() as container, lab_namespace() as lab:
            netlink(container_link, container, lab)
            add_address(lab, "lab0", "10.77.0.1/24")
            command = ["ip", "netns", "exec", container, "sh", str(ENTRYPOINT), str(lab_file)]
            async with running(*command, env=entrypoint_env(IPGWSIM_NIC_WAIT="5")) as proc:
                await read_until(proc.stdout, "blank ")
                # gwload from another machine on the container's network: the device in
                # TFTP mode takes an address.
                code, out = await ns_run(
                    lab, *GWLOAD, "/gwtype", "811", "/i", "10.77.0.6", "/setip", "/if", "lab0"
                )
                assert code == 0, out
                assert "has 10.77.0.6" in out
                # HTTP: the running device's admin pages on its configured address.
                await until_web(proc.stdout, "office")
                code, out = await ns_run(lab, "curl", "-s", "http://10.77.0.5/CMD0/box_info.xml")
                assert code == 0, out
                assert 'type="IP6000"' in out
                # The devices are macvlans of the container's eth0: nothing of theirs is
                # left in the lab namespace but its own end of the veth.
                assert netlink(link_names, lab) == {"lo", "lab0"}
                await stop(proc)

    run(main(), timeout=120)


CLAB = CONTAINER / "containerlab"


def test_the_containerlab_topology_uses_the_image_and_links_each_site_to_provisioning() -> None:
    """containerlab's own schema is not in this repository: the fields ipgwsim relies on
    are checked here (containerlab itself does not run in the suite)."""
    topology = yaml.safe_load((CLAB / "ipgwsim.clab.yml").read_text())
    assert topology["name"] == "ipgwsim"
    nodes = topology["topology"]["nodes"]
    assert set(nodes) == {"provisioning", "site-a", "site-b"}
    for node in nodes.values():
        assert node["kind"] == "linux"
        assert node["image"] == "ipgwsim:latest"
        for bind in node["binds"]:
            source, target, *_ = bind.split(":")
            assert (CLAB / source).exists(), bind
            assert target.startswith("/")
    links = [sorted(link["endpoints"]) for link in topology["topology"]["links"]]
    assert links == [["provisioning:eth1", "site-a:eth1"], ["provisioning:eth2", "site-b:eth1"]]
    blocks = []
    for site in ("site-a", "site-b"):
        node = nodes[site]
        # The entry point's defaults: the lab file at /etc/ipgwsim/lab.toml, macvlans of
        # the NIC the link ends on.
        assert node["privileged"] is True
        assert node["env"] == {"IPGWSIM_NIC": "eth1"}
        (bind,) = node["binds"]
        source, target, _ = bind.split(":")
        assert target == "/etc/ipgwsim/lab.toml"
        lab = load_lab(CLAB / source)
        assert lab.network == "netns"
        blocks.append(lab.serial_block)
    # Each site's registry is in its own container: only the files keep their MACs apart.
    assert None not in blocks
    assert len(set(blocks)) == len(blocks)
    provisioning = nodes["provisioning"]
    assert provisioning["cmd"] == "/provisioning/provision.sh"
    for model in ("ip6000", "ip811"):
        assert (CLAB / "www" / f"update-{model}.htm").is_file()


def test_the_provisioning_script_passes_shellcheck() -> None:
    done = subprocess.run(
        [program("shellcheck"), str(CLAB / "provision.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
@pytest.mark.requires("netns", "dnsmasq")
def test_a_site_of_the_topology_is_provisioned_by_its_provisioning_node(tmp_path: Path) -> None:
    """The topology without containerlab: the provisioning node's script and site A's
    entry point and lab file, each in a namespace standing for its container, one link
    between them as containerlab makes it. Site A's factory-new devices take addresses
    and the update server's URL from the DHCP server and fetch their update scripts."""

    async def main() -> None:
        with lab_namespace() as provisioning, lab_namespace() as site:
            netlink(eth1_link, provisioning, site)
            server = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", provisioning, "sh", str(CLAB / "provision.sh"),
                env={
                    "PATH": PATH,
                    "PROVISION_NICS": "eth1",
                    "PROVISION_WWW": str(CLAB / "www"),
                    "PROVISION_LEASES": str(tmp_path / "leases"),
                },
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
            try:
                command = ["ip", "netns", "exec", site, "sh", str(ENTRYPOINT)]
                env = entrypoint_env(
                    IPGWSIM_NIC="eth1",
                    IPGWSIM_NIC_WAIT="5",
                    IPGWSIM_STATE=str(tmp_path / "state"),
                    # Site A's block is its own: a registry of its own, as in its container.
                    IPGWSIM_REGISTRY=str(tmp_path / "registry"),
                )
                args = [str(CLAB / "site-a.toml"), "--speed", "60"]
                async with running(*command, *args, env=env) as proc:
                    await read_until(proc.stdout, "ip811-2 ")
                    fetched: set[str] = set()
                    while fetched != {"update-ip6000.htm", "update-ip811.htm"}:
                        line = await read_line(server.stderr, timeout=60)
                        if '"GET /update-' in line:
                            fetched.add(line.split('"GET /')[1].split("?")[0].split()[0])
                    code, out, err = await finished(
                        *IPGWSIM, "status", "--state", str(tmp_path / "state"), "--json"
                    )
                    assert code == 0, err
                    devices = json.loads(out)
                    assert [d["mac"] for d in devices] == [
                        "00:90:33:10:01:01",
                        "00:90:33:10:01:02",
                        "00:90:33:10:01:03",
                    ]
                    for device in devices:
                        assert device["ip"] is not None, device
                        assert device["ip"].startswith("10.77.1."), device
                    await stop(proc)
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                await server.wait()

    run(main(), timeout=120)


def eth1_link(provisioning: str, site: str) -> None:
    """A link as containerlab makes one: ``eth1`` at both ends."""
    with IPRoute(netns=provisioning) as ns:
        ns.link("add", ifname="eth1", kind="veth", peer={"ifname": "eth1", "net_ns_fd": site})

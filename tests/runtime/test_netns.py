"""Devices in network namespaces on real links, used with real tools (root only).

Each test makes its own lab namespace (the side where gwload, tftp and curl run) and
attaches the devices' links to it, directly or through a bridge; nothing leaves the
namespaces the test made.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pyroute2 import IPRoute
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from ipgwsim.events import Mode
from ipgwsim.firmware.config import Config, with_admin_password
from ipgwsim.flash.dumptext import newest_generation
from ipgwsim.proto import gwload
from ipgwsim.runtime.attachment import Attachment
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.control import device_json
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.impair import Impairment
from ipgwsim.runtime.netlink import PREFIX
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import run, until_devices
from ipgwsim.testing.needs import find_program
from ipgwsim.testing.netns import (
    add_address,
    add_bridge,
    lab_namespace,
    netlink,
    ns_run,
    open_tap,
)
from ipgwsim.tools.control_cmd import status_table
from ipgwsim.tools.run_cmd import device_lines

pytestmark = [pytest.mark.integration, pytest.mark.requires("netns")]

GWLOAD = [sys.executable, "-m", "ipgwsim.tools.gwload_cmd"]
#: The programs by their paths (Debian puts dnsmasq in /usr/sbin); the tests that run
#: them say so with ``requires``.
DNSMASQ = find_program("dnsmasq") or "dnsmasq"
NMBLOOKUP = find_program("nmblookup") or "nmblookup"


#: Device time runs ten times faster than real time (a 1.8 s press takes 0.18 s).
SPEED = 10.0


@asynccontextmanager
async def runtime(
    tmp_path: Path, attachment: str, count: int = 1
) -> AsyncIterator[tuple[Runtime, list[DeviceHost]]]:
    async with Runtime(
        tmp_path / "state",
        clock=ScaledClock(SPEED),
        network="netns",
        attachment=Attachment.parse(attachment),
        control=False,
        console_tcp=False,
    ) as rt:
        yield rt, rt.add_devices("IP6000", count)


def link_of(host: DeviceHost) -> str:
    """The lab side of ETH0's link: ``ip6000-`` and the last six hex digits of its MAC."""
    assert host.link_name is not None
    assert host.link_name == "ip6000-" + host.record.instance.serial[-6:]
    return host.link_name


def old_name(host: DeviceHost) -> str:
    """The device's old NetBIOS name and DHCP host name: ``IP6000-10-00-01``."""
    return "IP6000-" + host.mac[9:].replace(":", "-")


async def tftp_mode(rt: Runtime, host: DeviceHost) -> None:
    """Hold the reset button 1.8 s (the press of Howto:Config or Password Recovery): TFTP mode."""
    await asyncio.wait_for(rt.press(host.name, 1.8), 10)
    assert host.status().mode is Mode.TFTP_MODE


@pytest.mark.requires("tftp", "curl")
def test_the_password_recovery_across_namespaces_with_gwload_tftp_and_curl(tmp_path: Path) -> None:
    async def main() -> None:
        with lab_namespace() as lab:
            async with runtime(tmp_path, f"netns:{lab}") as (rt, (host,)):
                assert await ns_run(lab, "true") == (0, "")
                await tftp_mode(rt, host)
                # The lab side of the device's link, with an address on the device's subnet.
                add_address(lab, link_of(host), "10.77.0.1/24")
                code, out = await ns_run(
                    lab,
                    *GWLOAD,
                    "/gwtype",
                    "6000",
                    "/i",
                    "10.77.0.5",
                    "/setip",
                    "/if",
                    link_of(host),
                )
                assert code == 0, out
                assert "has 10.77.0.5" in out
                dump = tmp_path / "config.txt"
                code, out = await ns_run(
                    lab, "tftp", "10.77.0.5", "-m", "binary", "-c", "get", "config", str(dump)
                )
                assert code == 0, out
                newest = newest_generation(dump.read_bytes())
                assert newest is not None
                edited = with_admin_password(newest.text, "admin", "n3w")
                # One config change line per module: ETH0's is changed, not added again.
                eth0 = "config change ETH0 /addr 10.77.0.5 /mask 255.255.255.0\r\n"
                edited = Config.from_text(edited).apply_text(eth0).render()
                (tmp_path / "new.txt").write_text(edited, newline="")
                code, out = await ns_run(
                    lab, *GWLOAD, "/gwtype", "6000", "/i", "10.77.0.5", "/setip",
                    "/cfg", str(tmp_path / "new.txt"), "/if", link_of(host),
                )  # fmt: skip
                assert code == 0, out
                # gwload's RESET restarts the device: its firmware takes 10.77.0.5.
                await until_devices(
                    rt,
                    lambda: host.status().mode is Mode.FIRMWARE and host.status().ip is not None,
                    "the firmware with its address",
                )
                assert await host.web_settled() is not None
                code, out = await ns_run(
                    lab, "curl", "-s", "-u", "admin:n3w", "http://10.77.0.5/!config%20show"
                )
                assert code == 0, out
                assert "config change CMD0 /name IP6000" in out
                assert "/user" not in out
                code, out = await ns_run(
                    lab, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u",
                    "admin:ip6000", "http://10.77.0.5/!config%20show",
                )  # fmt: skip
                assert out == "401"

    run(main(), timeout=120)


def test_a_device_on_a_bridge_answers_a_vm_behind_a_tap(tmp_path: Path) -> None:
    """A VM's NIC is a TAP on the bridge: a gwload DISCOVER frame gets the device's HELLO."""

    async def main() -> None:
        with lab_namespace() as lab:
            add_bridge(lab, "br0")
            fd = open_tap(lab, "tap0", "br0")
            try:
                async with runtime(tmp_path, f"bridge:br0@{lab}") as (rt, (host,)):
                    await tftp_mode(rt, host)
                    discover = gwload.encode_message(
                        gwload.Discover(xid=0x1234, mac=gwload.ANY_MAC, gwtype=6000)
                    )
                    frame = (
                        Ether(src="52:54:00:12:34:56", dst="ff:ff:ff:ff:ff:ff")
                        / IP(src="0.0.0.0", dst="255.255.255.255")
                        / UDP(sport=40000, dport=69)
                        / discover
                    )
                    hello = await asyncio.to_thread(_send_and_wait, fd, bytes(frame))
                    assert hello is not None, "no HELLO came back through the bridge"
                    reply = gwload.parse_message(hello)
                    assert isinstance(reply, gwload.Hello)
                    assert reply.xid == 0x1234
                    assert reply.mac == bytes.fromhex(host.record.instance.serial)
            finally:
                os.close(fd)

    run(main(), timeout=60)


def _send_and_wait(fd: int, frame: bytes) -> bytes | None:
    """Write ``frame`` to the TAP, then read frames for a UDP answer from port 69.

    select() wakes as each frame comes (no polling); other frames (IPv6, ARP) are read
    past. A real-time bound per try, since the kernel's bridge is a real peer: a new
    port may drop the first frames while it comes up, so the frame is sent again, up to
    five times.
    """
    for _ in range(5):
        os.write(fd, frame)
        end = time.monotonic() + 4.0
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            packet = Ether(os.read(fd, 65535))
            if UDP in packet and packet[UDP].sport == 69 and packet[UDP].dport == 40000:
                return bytes(packet[UDP].payload)
    return None


def test_two_devices_on_one_segment_and_gwload_does_not_guess(tmp_path: Path) -> None:
    async def main() -> None:
        with lab_namespace() as lab:
            add_bridge(lab, "br0")
            add_address(lab, "br0", "10.77.0.1/24")
            async with runtime(tmp_path, f"bridge:br0@{lab}", count=2) as (rt, hosts):
                for host in hosts:
                    await tftp_mode(rt, host)
                code, out = await ns_run(
                    lab, *GWLOAD, "/gwtype", "6000", "/i", "10.77.0.5", "/setip", "/if", "br0"
                )
                assert code == 2, out
                for host in hosts:
                    assert host.mac in out
                assert all(host.status().ip is None for host in hosts)
                # ETH1 never carries another device's MAC (serials are consecutive), and a
                # port answers ARP only for its own address.
                assert rt.network.kind == "netns"
                first = rt.network.namespace_of(hosts[0])
                assert first is not None
                code, out = await ns_run(first, "cat", "/sys/class/net/eth1/address")
                assert out.strip() == "02" + hosts[0].mac[2:]
                code, out = await ns_run(first, "cat", "/proc/sys/net/ipv4/conf/eth1/arp_ignore")
                assert out.strip() == "1"

    run(main(), timeout=60)


#: Run in a mount namespace of its own, whose /run/netns holds only what it makes: a
#: runtime with two devices (their links in a lab namespace), killed; then `ipgwsim
#: cleanup`. It prints what there was before and after, as JSON.
KILLED_RUNTIME = """
import json, subprocess, sys
from pyroute2 import IPRoute, netns

def links(space):
    with IPRoute(netns=space) as ns:
        return sorted(link.get_attr("IFLA_IFNAME") for link in ns.get_links())

cli = [sys.executable, "-m", "ipgwsim.tools.cli"]
netns.create("lab")
try:
    proc = subprocess.Popen(
        [*cli, "run", "IP6000", "--netns", "--attach", "netns:lab", "--count", "2",
         "--state", sys.argv[1], "--no-console-tcp"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen = ""
    while "ip6000-2" not in seen:
        line = proc.stdout.readline()
        if not line:
            sys.exit("the runtime ended: " + seen)
        seen += line
    report = {
        "pid": proc.pid,
        "listing": seen,
        "before": sorted(netns.listnetns()),
        "lab_before": links("lab"),
    }
    proc.kill()
    proc.wait()
    cleanup = subprocess.run([*cli, "cleanup"], capture_output=True, text=True)
    report.update(
        cleanup=cleanup.stdout + cleanup.stderr,
        status=cleanup.returncode,
        after=sorted(netns.listnetns()),
        lab_after=links("lab"),
    )
    print(json.dumps(report))
finally:
    netns.remove("lab")
"""


def test_cleanup_removes_what_a_killed_runtime_left(tmp_path: Path) -> None:
    """`ipgwsim cleanup` removes every namespace of a runtime that is gone, on the whole
    host: two test runs' cleanups would remove each other's killed runtimes' namespaces
    (and this test's assertions would meet the other run's). So the runtime and the
    cleanup run in a mount namespace of their own, whose /run/netns (where named network
    namespaces live) shows only theirs; the links go into a lab namespace there."""
    private_netns = 'mkdir -p /run/netns && mount -t tmpfs ipgwsim-test /run/netns && exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", private_netns, "sh",
         sys.executable, "-c", KILLED_RUNTIME, str(tmp_path / "state")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    mine = [f"{PREFIX}{report['pid']}-ip6000-1", f"{PREFIX}{report['pid']}-ip6000-2"]
    assert report["before"] == sorted(["lab", *mine])
    # The links are named after the devices' MACs (ip6000-100001 for 00:90:33:10:00:01).
    macs = [
        line.split()[2] for line in report["listing"].splitlines() if line.startswith("ip6000-")
    ]
    assert len(macs) == 2, report["listing"]
    links = [f"ip6000-{mac.replace(':', '')[-6:]}{port}" for mac in macs for port in ("", ".1")]
    assert report["lab_before"] == sorted([*links, "lo"])
    assert report["status"] == 0, report["cleanup"]
    for name in mine:
        assert f"removed namespace {name}" in report["cleanup"]
    assert report["after"] == ["lab"]
    # The lab's ends of the veth pairs went with the devices' namespaces.
    assert report["lab_after"] == ["lo"]


def test_a_device_on_a_macvlan_of_a_nic(tmp_path: Path) -> None:
    """The device rides a NIC through a macvlan with its own MAC (a veth as the lab's NIC)."""

    def lab_nic(lab: str) -> None:
        with IPRoute(netns=lab) as ns:
            ns.link("add", ifname="nic0", kind="veth", peer={"ifname": "nic0p"})
            for name in ("nic0", "nic0p"):
                (index,) = ns.link_lookup(ifname=name)
                ns.link("set", index=index, state="up")
            (nic,) = ns.link_lookup(ifname="nic0")
            # The lab's own port on the same segment: macvlans in bridge mode see each other.
            ns.link("add", ifname="lab0", kind="macvlan", link=nic, macvlan_mode="bridge")

    async def main() -> None:
        with lab_namespace() as lab:
            netlink(lab_nic, lab)
            add_address(lab, "lab0", "10.77.0.1/24")
            async with runtime(tmp_path, f"macvlan:nic0@{lab}") as (rt, (host,)):
                await tftp_mode(rt, host)
                code, out = await ns_run(
                    lab, *GWLOAD, "/gwtype", "6000", "/i", "10.77.0.5", "/setip", "/if", "lab0"
                )
                assert code == 0, out
                assert f"IP6000 {host.mac} has 10.77.0.5" in out

    run(main(), timeout=60)


async def _until(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    """Wait for a file another program writes (dnsmasq's lease file): look again every
    50 ms, up to ``seconds`` of real time. A poll, since dnsmasq tells no one when it has
    written the file (it does so after it has answered, in its own time); a real-time
    bound, since dnsmasq's pace is its own."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.requires("dnsmasq")
def test_dhcp_automatic_with_dnsmasq_then_the_factory_address_after_a_press(
    tmp_path: Path,
) -> None:
    """ETH0 /dhcp auto (the factory setting): a DHCP client after power-up, the factory
    address 192.168.0.1 after a restart by the reset button (Reference11r2:IP4/ETH/DHCP)."""

    async def main() -> None:
        with lab_namespace() as lab:
            async with runtime(tmp_path, f"netns:{lab}") as (rt, (host,)):
                add_address(lab, link_of(host), "10.77.0.1/24")
                leases = tmp_path / "leases"
                dnsmasq = await asyncio.create_subprocess_exec(
                    "ip", "netns", "exec", lab, DNSMASQ, "--no-daemon", "--conf-file=/dev/null",
                    "--port=0", f"--interface={link_of(host)}", "--bind-interfaces",
                    "--dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,10m",
                    "--dhcp-option=3,10.77.0.1",
                    f"--dhcp-leasefile={leases}", "--log-dhcp",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                try:
                    await until_devices(rt, lambda: host.status().ip is not None, "a DHCP lease")
                    ip = host.status().ip
                    assert ip is not None
                    assert 50 <= int(ip.rsplit(".", 1)[1]) <= 99
                    await _until(lambda: leases.exists() and ip in leases.read_text(), "the lease")
                    lease = leases.read_text()
                    assert host.mac in lease
                    assert old_name(host) in lease  # the hostname the client sent
                    assert await host.web_settled() is not None
                    code, out = await ns_run(lab, "curl", "-s", f"http://{ip}/CMD0/box_info.xml")
                    assert code == 0, out
                    assert 'type="IP6000"' in out
                    # The lease's router is the device's default route.
                    assert rt.network.kind == "netns"
                    space = rt.network.namespace_of(host)
                    assert space is not None
                    code, out = await ns_run(space, "ip", "-4", "route", "show", "default")
                    assert out.startswith("default via 10.77.0.1 dev eth0"), out
                finally:
                    dnsmasq.terminate()
                    await dnsmasq.wait()
                # A restart by the reset button: the factory address, no DHCP.
                await asyncio.wait_for(rt.press(host.name, 0.3), 10)
                await until_devices(
                    rt, lambda: host.status().ip == "192.168.0.1", "the factory address"
                )
                add_address(lab, link_of(host), "192.168.0.2/24")
                assert await host.web_settled() is not None
                code, out = await ns_run(lab, "curl", "-s", "http://192.168.0.1/CMD0/box_info.xml")
                assert code == 0, out
                assert 'type="IP6000"' in out
                # Off: the firmware's sockets (DHCP, NetBIOS) go with it.
                host.power(False)
                assert rt.network.open_sockets == 0

    run(main(), timeout=90)


#: The update-server script of Howto:Config or Password Recovery, with a password of its own.
PASSWORD_RESET_SCRIPT = (
    "# reset password\r\n"
    "config change CMD0 /name mydevicehostname /log on /user admin,r3cover\r\n"
    "config write\r\n"
    "# encrypt it\r\n"
    "config activate\r\n"
    "# remove from visible config\r\n"
    "config change CMD0 /name mydevicehostname /log on\r\n"
    "# done\r\n"
)


@pytest.mark.requires("dnsmasq", "curl")
def test_the_update_server_recovery_with_the_url_from_dnsmasq(tmp_path: Path) -> None:
    """Howto:Config or Password Recovery: "In case one of ETH interfaces is configured as DHCP
    client, you can provide Update Server URL to device via DHCP". A factory-fresh device (no
    UP1 /url) gets its address and the URL (option 215 in option 43, innovaphone's vendor
    class) from dnsmasq, fetches the password-reset script of Howto:Config or Password
    Recovery from python's http.server, runs it and takes the new password."""

    async def main() -> None:
        with lab_namespace() as lab:
            async with runtime(tmp_path, f"netns:{lab}") as (rt, (host,)):
                firmware = host.device.firmware
                assert firmware is not None
                assert firmware.active.get("UP1", "url") is None
                add_address(lab, link_of(host), "10.77.0.1/24")
                www = tmp_path / "www"
                www.mkdir()
                (www / "update-ip6000.htm").write_bytes(PASSWORD_RESET_SCRIPT.encode())
                web = await asyncio.create_subprocess_exec(
                    "ip", "netns", "exec", lab, sys.executable, "-m", "http.server",
                    "--bind", "10.77.0.1", "--directory", str(www), "8080",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                dnsmasq = await asyncio.create_subprocess_exec(
                    "ip", "netns", "exec", lab, DNSMASQ, "--no-daemon", "--conf-file=/dev/null",
                    "--port=0", f"--interface={link_of(host)}", "--bind-interfaces",
                    "--dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,10m",
                    "--dhcp-option=vendor:1.3.6.1.4.1.6666,215,http://10.77.0.1:8080/",
                    f"--dhcp-leasefile={tmp_path / 'leases'}",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    await until_devices(rt, lambda: host.status().ip is not None, "a DHCP lease")
                    ip = host.status().ip
                    firmware = host.device.firmware
                    assert firmware is not None
                    assert firmware.update.script_url() == (
                        "http://10.77.0.1:8080/update-ip6000.htm"
                    )
                    # A new device polls a minute (device time) after its start.
                    await until_devices(
                        rt, lambda: firmware.update.outcome is not None, "the script's run"
                    )
                    assert firmware.update.outcome == "complete"
                    assert await host.web_settled() is not None
                    url = f"http://{ip}/!config%20show"
                    code, out = await ns_run(lab, "curl", "-s", "-u", "admin:r3cover", url)
                    assert code == 0, out
                    assert "config change CMD0 /name mydevicehostname /log on" in out
                    assert "/user" not in out  # removed from the visible config
                    code, out = await ns_run(
                        lab, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "-u", "admin:ip6000", url,
                    )  # fmt: skip
                    assert out == "401"  # the factory password no longer logs in
                finally:
                    dnsmasq.terminate()
                    web.terminate()
                    await dnsmasq.wait()
                    _, log = await web.communicate()
                assert b'"GET /update-ip6000.htm?ver=' in log

    run(main(), timeout=90)


@pytest.mark.requires("nmblookup")
def test_nmblookup_finds_the_device_by_both_names(tmp_path: Path) -> None:
    """Course pages: the plain MAC is the NetBIOS name; the old IP6000-xx-xx-xx form too."""

    async def main() -> None:
        with lab_namespace() as lab:
            async with runtime(tmp_path, f"netns:{lab}") as (rt, (host,)):
                await asyncio.wait_for(rt.press(host.name, 0.3), 10)  # factory address
                await until_devices(
                    rt, lambda: host.status().ip == "192.168.0.1", "the factory address"
                )
                add_address(lab, link_of(host), "192.168.0.2/24")
                serial = host.record.instance.serial.upper()
                code, out = await ns_run(lab, NMBLOOKUP, "-B", "192.168.0.255", serial)
                assert code == 0, out
                assert f"192.168.0.1 {serial}<00>" in out
                old = old_name(host).lower()
                code, out = await ns_run(lab, NMBLOOKUP, "-U", "192.168.0.1", old)
                assert code == 0, out
                assert f"192.168.0.1 {old}<00>" in out
                code, out = await ns_run(lab, NMBLOOKUP, "-A", "192.168.0.1")
                assert code == 0, out
                assert f"MAC Address = {host.mac.replace(':', '-').upper()}" in out
                code, out = await ns_run(lab, NMBLOOKUP, "-B", "192.168.0.255", "OTHERNAME")
                assert "name_query failed to find name OTHERNAME" in out

    run(main(), timeout=60)


def _link_alias(namespace: str, name: str) -> str | None:
    """The alias of link ``name`` in ``namespace``, or None if there is no such link."""

    def look() -> str | None:
        with IPRoute(netns=namespace) as ns:
            found = ns.link_lookup(ifname=name)
            if not found:
                return None
            alias: str = ns.get_links(found[0])[0].get_attr("IFLA_IFALIAS") or ""
            return alias

    return netlink(look)


def test_two_namespace_runtimes_name_their_links_apart(tmp_path: Path) -> None:
    """Both have an ip6000-1: their links are named after their MACs, unique on the host."""

    async def main() -> None:
        with lab_namespace() as lab:
            async with (
                runtime(tmp_path / "a", f"netns:{lab}") as (rt_a, (a,)),
                runtime(tmp_path / "b", f"netns:{lab}") as (rt_b, (b,)),
            ):
                assert a.name == b.name == "ip6000-1"
                links = [link_of(a), link_of(b)]
                assert links[0] != links[1]
                for rt, host in ((rt_a, a), (rt_b, b)):
                    assert rt.entry is not None
                    link = link_of(host)
                    assert rt.entry.links == {link: "ip6000-1", f"{link}.1": "ip6000-1"}
                    alias = f"ipgwsim {os.getpid()} ip6000-1 {rt.state.path}"
                    assert _link_alias(lab, link) == alias
                    assert _link_alias(lab, f"{link}.1") == alias  # ETH1's
                    # `ipgwsim run` and `ipgwsim status` show it.
                    header, row = device_lines([host])
                    assert header.split()[:4] == ["NAME", "MODEL", "MAC", "LINK"]
                    assert row.split()[:4] == ["ip6000-1", "IP6000", host.mac, link]
                    assert device_json(host)["link"] == link
                    assert status_table([device_json(host)])[1].split()[3] == link
            assert [_link_alias(lab, link) for link in links] == [None, None]  # gone at stop

    run(main(), timeout=60)


def test_a_link_name_that_exists_already_is_refused_naming_its_owner(tmp_path: Path) -> None:
    async def main() -> None:
        with lab_namespace() as lab:
            async with runtime(tmp_path, f"netns:{lab}") as (_rt, (host,)):
                link = link_of(host)  # this state directory's, unique on the host
            # Something else took the name meanwhile, e.g. a runtime killed with kill -9.
            other = f"ipgwsim {os.getpid()} ip6000-1 /srv/other-lab"

            def squat() -> None:
                with IPRoute(netns=lab) as ns:
                    ns.link("add", ifname=link, kind="bridge")
                    (index,) = ns.link_lookup(ifname=link)
                    ns.link("set", index=index, ifalias=other)

            netlink(squat)
            with pytest.raises(RuntimeSetupError) as info:
                async with runtime(tmp_path, f"netns:{lab}"):
                    pass
            assert str(info.value) == (
                f"ip6000-1: a link {link} exists already in namespace {lab}: it belongs to "
                f"device ip6000-1 of the ipgwsim runtime (state directory /srv/other-lab, "
                f"pid {os.getpid()})"
            )
            assert _link_alias(lab, f"{link}.1") is None  # nothing of the refused device stays

    run(main(), timeout=60)


def test_the_impairment_and_the_capture_apply_in_namespaces_too(tmp_path: Path) -> None:
    pcap = tmp_path / "netns.pcapng"
    dead = Impairment(loss=100, direction="out", seed=1)

    async def main() -> None:
        with lab_namespace() as lab:
            async with Runtime(
                tmp_path / "state",
                clock=ScaledClock(SPEED),
                network="netns",
                attachment=Attachment.parse(f"netns:{lab}"),
                control=False,
                console_tcp=False,
                impairment=dead,
                pcap=pcap,
            ) as rt:
                (host,) = rt.add_devices("IP6000", 1)
                await tftp_mode(rt, host)
                add_address(lab, link_of(host), "10.77.0.1/24")
                scan = (*GWLOAD, "/scan", "/if", link_of(host), "/tries", "2", "/timeout", "0.3")
                code, out = await ns_run(lab, *scan)
                assert code == 2, out  # every HELLO was lost on the device's link
                sent = host.link.counters().sent
                assert sent.datagrams == sent.dropped >= 1
                rt.impair(host.name, None)
                code, out = await ns_run(lab, *scan)
                assert code == 0, out
                assert host.mac in out

    run(main(), timeout=60)
    packets = rdpcap(str(pcap))
    assert {p.sniffed_on for p in packets} == {"ip6000-1"}
    outbound = [p for p in packets if p.direction == 2]
    assert outbound[0].comments == [b"impairment: dropped"]
    assert outbound[-1].comments is None  # the HELLO after the impairment went

"""Helpers for tests that run devices in network namespaces (root only).

- :func:`lab_namespace`: a network namespace of the test's own (a name unique on the
  host: ``ipgwsim-<pid>-lab<n>-<random>``), removed afterwards with everything in it:
  the lab side, where the tools run. Tests make their links and bridges only in
  namespaces of their own, never in the host's: there a fixed name (``br0``, the
  simulator's ``lab0``) is unique to the run, since the namespace is.
- :func:`ns_run`: run a program in a namespace (``ip netns exec``), as a user would.
- :func:`netlink`: run pyroute2 work (``IPRoute``, ``IPRoute(netns=...)``) on the runtime's netlink
  thread, off the event loop (pyroute2's synchronous API runs an event loop of its own).
- :func:`add_address`, :func:`add_bridge`, :func:`open_tap`: the lab's links.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import secrets
import struct
from collections.abc import Iterator

from pyroute2 import IPRoute, netns

from ipgwsim.runtime.netlink import PREFIX, in_namespace
from ipgwsim.runtime.netlink import netlink_call as netlink
from ipgwsim.testing.needs import namespaces_work

__all__ = [
    "add_address",
    "add_bridge",
    "lab_namespace",
    "netlink",
    "ns_run",
    "open_tap",
    "root",
]

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def root() -> bool:
    """Whether namespace tests can run here (root with /dev/net/tun)."""
    return namespaces_work()


#: Lab namespaces made in this process so far.
_made = itertools.count(1)


@contextlib.contextmanager
def lab_namespace(prefix: str | None = None) -> Iterator[str]:
    """A new network namespace (its loopback up) for the lab side; removed afterwards.

    Its name is unique on the host: ``prefix`` (default ``ipgwsim-<pid>-lab``, which
    ``ipgwsim cleanup`` removes once this process is gone), a number and a random tag.
    """
    if prefix is None:
        prefix = f"{PREFIX}{os.getpid()}-lab"
    name = f"{prefix}{next(_made)}-{secrets.token_hex(3)}"

    def create() -> None:
        netns.create(name)
        with IPRoute(netns=name) as ns:
            (lo,) = ns.link_lookup(ifname="lo")
            ns.link("set", index=lo, state="up")

    netlink(create)
    try:
        yield name
    finally:
        netlink(netns.remove, name)


def add_address(namespace: str, ifname: str, cidr: str) -> None:
    """Put ``cidr`` (``10.77.0.1/24``) on ``ifname`` in ``namespace`` and set it up."""
    address, _, prefix = cidr.partition("/")

    def add() -> None:
        with IPRoute(netns=namespace) as ns:
            (index,) = ns.link_lookup(ifname=ifname)
            ns.addr("add", index=index, address=address, prefixlen=int(prefix))
            ns.link("set", index=index, state="up")

    netlink(add)


def add_bridge(namespace: str, name: str) -> None:
    """A Linux bridge ``name`` in ``namespace``, up."""

    def add() -> None:
        with IPRoute(netns=namespace) as ns:
            ns.link("add", ifname=name, kind="bridge")
            (index,) = ns.link_lookup(ifname=name)
            ns.link("set", index=index, state="up")

    netlink(add)


def open_tap(namespace: str, name: str, bridge: str) -> int:
    """A TAP interface ``name`` in ``namespace`` on ``bridge``; the fd (frames, no header).

    The fd is what a VM's NIC is: every frame written goes onto the bridge, every frame
    the bridge sends out of the TAP can be read. The caller closes it (the TAP goes).
    """

    def make() -> int:
        with in_namespace(namespace):
            fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        with IPRoute(netns=namespace) as ns:
            (index,) = ns.link_lookup(ifname=name)
            (master,) = ns.link_lookup(ifname=bridge)
            ns.link("set", index=index, master=master, state="up")
        return fd

    return netlink(make)


async def ns_run(namespace: str, *command: str, timeout: float = 60.0) -> tuple[int, str]:
    """Run ``command`` in ``namespace``; (exit status, stdout and stderr together)."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", namespace, *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace")

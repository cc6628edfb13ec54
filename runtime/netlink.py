"""Netlink work for the namespace network, with pyroute2, on a thread of its own.

pyroute2's synchronous API runs an event loop of its own, which cannot run inside the
runtime's: every netlink call (setup and teardown; datagrams never) goes to one thread
(:func:`netlink_call`), which enters a namespace only to make a socket there
(:func:`in_namespace`, :func:`route`). pyroute2 0.9's own way into a namespace,
``IPRoute(netns=...)``, forks a child for every socket it makes there, several times slower
per device, and its asynchronous interface would need the network's calls to be
coroutines: the runtime keeps its thread, and the test helpers
(:mod:`ipgwsim.testing.netns`) use ``IPRoute(netns=...)``.

Everything the namespace network makes is tagged: namespaces by their name
(:data:`PREFIX`), links by their alias (:data:`ALIAS`), so that :func:`cleanup` can remove
what a killed runtime left (``ipgwsim cleanup``) and a link name that exists already can
name its owner (:func:`describe_owner`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from ipgwsim.runtime.errors import RuntimeSetupError, describe_error
from ipgwsim.runtime.registry import pid_alive

__all__ = [
    "ALIAS",
    "PREFIX",
    "cleanup",
    "describe_owner",
    "in_namespace",
    "link_index",
    "netlink_call",
    "netlink_error",
    "route",
]

#: Every namespace the namespace network makes is called ``ipgwsim-<pid>-<device name>``.
PREFIX = "ipgwsim-"
#: Links get the alias ``ipgwsim <pid> <device name> <state directory>``.
ALIAS = "ipgwsim"

#: The calling thread's network namespace.
THREAD_NAMESPACE = "/proc/thread-self/ns/net"

T = TypeVar("T")


@contextlib.contextmanager
def in_namespace(name: str) -> Iterator[None]:
    """Run the block in network namespace ``name`` (this thread only), then come back.

    The thread's own namespace is held open for the way back, so that threads entering
    namespaces at the same time (the event loop's and the netlink thread) never meet:
    nothing is kept in a stack shared by the process (pyroute2's ``pushns``/``popns``).
    """
    home = os.open(THREAD_NAMESPACE, os.O_RDONLY)
    try:
        netns.setns(name)
        try:
            yield
        finally:
            netns.setns(home)
    finally:
        os.close(home)


#: pyroute2's synchronous API runs an event loop of its own, which cannot run inside the
#: runtime's: netlink work goes to this thread (setup and teardown; datagrams never).
_NETLINK = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipgwsim-netlink")


def describe_owner(alias: str) -> str:
    """Who made a link, from its alias:
    ``device ip6000-1 of the ipgwsim runtime (state directory /s, pid 7)``.

    ``ipgwsim <pid> <device> [<state directory>]`` is ipgwsim's (a gone pid says so and
    names ``ipgwsim cleanup``); anything else is another program's.
    """
    words = alias.split(" ", 3)
    if len(words) >= 3 and words[0] == ALIAS and words[1].isdigit():
        pid = int(words[1])
        state = f"state directory {words[3]}, " if len(words) == 4 else ""
        owner = f"device {words[2]} of the ipgwsim runtime ({state}pid {pid})"
        if not pid_alive(pid):
            owner += ", which is gone: `ipgwsim cleanup` removes it"
        return owner
    return f"another program (alias {alias!r})" if alias else "another program (no alias)"


def _quiet_child() -> None:
    """In a child pyroute2 forks (to enter a namespace): no signal reaches our event loop.

    The child inherits the loop's signal wakeup fd: a SIGTERM pyroute2 sends its child
    would otherwise be read by the parent's loop as its own (``ipgwsim run`` stopped).
    """
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            signal.signal(number, signal.SIG_DFL)


os.register_at_fork(after_in_child=_quiet_child)


def netlink_call(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the netlink thread and wait for it."""
    return _NETLINK.submit(fn, *args).result()


def route(namespace: str | None) -> IPRoute:
    """A netlink handle in ``namespace`` (None: this thread's).

    Made on the netlink thread, which enters the namespace for the socket's creation
    (pyroute2's
    ``IPRoute(netns=...)`` forks a child for that: several times slower per device).
    """
    if not namespace:
        return IPRoute()
    with in_namespace(namespace):
        return IPRoute()


def link_index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def netlink_error(what: str, exc: NetlinkError) -> RuntimeSetupError:
    return RuntimeSetupError(
        f"{what}: {os.strerror(exc.code) if exc.code else describe_error(exc)}"
    )


def cleanup(*, all_runtimes: bool = False) -> list[str]:
    """Remove the namespaces and links of runtimes that are gone; what was removed.

    With ``all_runtimes`` also those of running ones (they lose their network).
    """
    return netlink_call(_cleanup, all_runtimes)


def _cleanup(all_runtimes: bool) -> list[str]:
    removed: list[str] = []
    for name in netns.listnetns():
        if not name.startswith(PREFIX):
            continue
        pid_text = name[len(PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        if all_runtimes or not pid_alive(int(pid_text)):
            with contextlib.suppress(OSError):
                netns.remove(name)
                removed.append(f"namespace {name}")
    spaces: list[str | None] = [None, *(n for n in netns.listnetns() if not n.startswith(PREFIX))]
    for space in spaces:
        with contextlib.suppress(NetlinkError, OSError), route(space) as ipr:
            for link in ipr.get_links():
                alias = link.get_attr("IFLA_IFALIAS") or ""
                words = alias.split()
                if len(words) < 3 or words[0] != ALIAS or not words[1].isdigit():
                    continue
                if all_runtimes or not pid_alive(int(words[1])):
                    ipr.link("del", index=link["index"])
                    where = f" in {space}" if space else ""
                    removed.append(f"link {link.get_attr('IFLA_IFNAME')}{where}")
    return removed

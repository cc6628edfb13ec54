"""The netlink helpers: entering a namespace is this thread's business alone."""

from __future__ import annotations

import os
import threading

import pytest

from ipgwsim.runtime.netlink import THREAD_NAMESPACE, in_namespace
from ipgwsim.testing.netns import lab_namespace

pytestmark = [pytest.mark.netns, pytest.mark.requires("netns")]


def _here() -> int:
    return os.stat(THREAD_NAMESPACE).st_ino


def test_in_namespace_enters_and_leaves_for_this_thread_only() -> None:
    home = _here()
    with lab_namespace() as first, lab_namespace() as second:
        inside: dict[str, int] = {}
        entered = threading.Barrier(2)

        def visit(name: str) -> None:
            with in_namespace(name):
                entered.wait(10)  # both threads are inside at the same time
                inside[name] = _here()
                entered.wait(10)
            inside[name + " after"] = _here()

        threads = [threading.Thread(target=visit, args=(name,)) for name in (first, second)]
        for thread in threads:
            thread.start()
        with in_namespace(first):
            assert _here() == os.stat(f"/run/netns/{first}").st_ino
        for thread in threads:
            thread.join(10)
        assert _here() == home
        assert inside[first] == os.stat(f"/run/netns/{first}").st_ino
        assert inside[second] == os.stat(f"/run/netns/{second}").st_ino
        assert inside[first + " after"] == inside[second + " after"] == home

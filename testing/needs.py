"""What a test needs of the host, and the rule for a test that cannot have it.

The rule: a test that cannot run here (no root, no ``/dev/net/tun``, a missing program)
is skipped, with the reason, on a developer's machine, and fails in CI, where everything
a test needs is installed and a skip would hide a test that never ran. CI is said by the
``CI`` environment variable (``.ci/run`` sets it; so do the usual CI services).

- :func:`in_ci`: whether the ``CI`` variable says this is CI.
- :func:`unavailable`: skip (or, in CI, fail) the running test, with the reason.
- :func:`find_program`: a program on ``PATH`` or in the ``sbin`` folders (Debian puts
  ``in.tftpd``, ``dnsmasq`` and ``kamailio`` in ``/usr/sbin``, which the ``PATH`` of a
  user who is not root lacks).
- :func:`namespaces_work`: whether network namespaces can be made here.

Nothing here imports more than the standard library and :mod:`ipgwsim.runtime.extras`:
the pytest plugin loads it with every test run, and the Simulator
(:mod:`ipgwsim.testing.simulator`, through :mod:`ipgwsim.testing.netns`) in plain scripts
without pytest. Only :func:`unavailable` needs pytest, and imports it when called (without
it: the one line that names ``ipgwsim[testing]``).
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

from ipgwsim.runtime.extras import extra_imports

__all__ = ["CHROMIUM", "SBIN", "find_program", "in_ci", "namespaces_work", "unavailable"]

#: Where Debian's system programs live; searched after ``PATH``.
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
#: Values of ``CI`` that do not mean CI.
_NOT_CI = ("", "0", "false", "no", "off")


def in_ci() -> bool:
    """Whether this runs in CI: the ``CI`` environment variable is set to something
    other than empty, ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def unavailable(reason: str, *, fail_in_ci: bool = True) -> NoReturn:
    """End the running test that cannot run here: a skip with ``reason``, or in CI (with
    ``fail_in_ci``) a failure that says what CI lacks."""
    with extra_imports(f"{__name__}.unavailable"):
        import pytest  # noqa: PLC0415 (only a test ends this way; plain scripts need no pytest)

    if fail_in_ci and in_ci():
        pytest.fail(
            f"{reason}: CI runs every test (a skip would hide it); give CI what the test "
            f"needs (root, /dev/net/tun, the programs scripts/setup installs as root)",
            pytrace=False,
        )
    pytest.skip(reason)


#: Debian's chromium (package ``chromium``), the browser of the front panel's tests: the
#: launcher (:mod:`ipgwsim.testing.browser`) runs it, and ``requires("chromium")`` looks
#: for it here.
CHROMIUM = "/usr/bin/chromium"


def find_program(name: str) -> str | None:
    """The path of program ``name``: on ``PATH``, else in :data:`SBIN`; None if neither."""
    found = shutil.which(name)
    if found is not None:
        return found
    return shutil.which(name, path=os.pathsep.join(SBIN))


def namespaces_work() -> bool:
    """Whether network namespace tests can run here (root, with ``/dev/net/tun``)."""
    return os.geteuid() == 0 and os.path.exists("/dev/net/tun")

"""``python -m ipgwsim.runtime.serialurl.miniterm ipgwsim://ip6000-1 [OPTIONS]``.

pyserial's miniterm (``python -m serial.tools.miniterm``) imports nothing of ipgwsim and
has no way to load a URL handler, so it does not know ``ipgwsim://``. This module registers
the URL (importing its package does) and runs miniterm's own ``main`` with the same
arguments: every miniterm option works as documented by pyserial, and Ctrl-] leaves.
"""

from __future__ import annotations

from serial.tools import miniterm

from ipgwsim.runtime.serialurl import register


def main() -> None:
    register()
    miniterm.main()


if __name__ == "__main__":
    main()

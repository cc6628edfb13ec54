"""``python -m ipgwsim``: the ``ipgwsim`` command (``ipgwsim.tools.cli``), under that name."""

from __future__ import annotations

import sys

from ipgwsim.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())

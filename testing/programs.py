"""Where ipgwsim's own programs (``gwload``, ``ipgwsim``) are, wherever it is installed.

pip puts them next to the interpreter it installed ipgwsim for (a virtual environment's
``bin``), which is on ``PATH`` only in a shell that activated it: a script run as
``.venv/bin/python recover.py`` or a test run as ``.venv/bin/pytest`` would not find
them by name. :func:`program_argv` finds them where this interpreter's installation put
them, or runs them as modules of this interpreter when they are not there (an install
without scripts, a checkout on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: ipgwsim's programs and the module each one runs as (``[project.scripts]``).
PROGRAMS = {
    "gwload": "ipgwsim.tools.gwload_cmd",
    "ipgwsim": "ipgwsim.tools.cli",
}


def program_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with an ipgwsim program named by its bare name (``gwload``, ``ipgwsim``)
    replaced by the one installed next to this interpreter (``Path(sys.executable).parent
    / name``) or, when there is none, by ``[sys.executable, "-m", module]``. Any other
    name, and a path, is left as it is (found on ``PATH`` as usual)."""
    if not argv:
        return []
    name, *rest = argv
    module = PROGRAMS.get(name)
    if module is None:
        return list(argv)
    installed = Path(sys.executable).parent / name
    if installed.is_file() and os.access(installed, os.X_OK):
        return [str(installed), *rest]
    return [sys.executable, "-m", module, *rest]

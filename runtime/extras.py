"""What a missing optional dependency says: the extra of ipgwsim that brings it.

ipgwsim's own commands need only its runtime dependencies. A few modules need more, and
pip installs that with an extra (``pyproject.toml``, ``[project.optional-dependencies]``):

- ``ipgwsim[testing]``: hypothesis and pytest, for ``ipgwsim.testing`` (strategies, state
  machines, the kit behind the pytest plugin's fixtures);
- ``ipgwsim[scapy]``: scapy, for the scapy layers of gwload captures
  (``ipgwsim.runtime.capture``);
- ``ipgwsim[completion]``: shtab, for ``ipgwsim``'s shell completion
  (``ipgwsim completion``; ``gwload``'s needs nothing);
- ``ipgwsim[man]``: argparse-manpage (imported as ``argparse_manpage``), for the manual
  pages of ``ipgwsim`` and its subcommands (``ipgwsim man``; ``gwload(1)`` needs nothing).
- ``ipgwsim[fast]``: uvloop, a faster event loop for ``ipgwsim run --loop uvloop``
  (:mod:`ipgwsim.runtime.loops`; the default is asyncio's);
- ``ipgwsim[test]``, the project's own suite: playwright, for the front panel's browser
  tests and screenshots (``ipgwsim.testing.browser``, ``ipgwsim.testing.screenshots``).

A module that needs one imports it inside :func:`extra_imports`::

    with extra_imports(__name__):
        from hypothesis import strategies as st

Without hypothesis that import raises :class:`ModuleNotFoundError` (an ``ImportError``)
in one line that names the module, the missing package and the command that installs it:
``ipgwsim.testing.strategies needs hypothesis, which is not installed: pip install
'ipgwsim[testing]'``. Any other import error goes through unchanged.

A command that needs one says the same line after its own name (``ipgwsim completion: the
completion of ipgwsim needs shtab, which is not installed: pip install
'ipgwsim[completion]'``), from :func:`missing_extra_message`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["EXTRAS", "extra_imports", "missing_extra_message"]

#: The extra of ipgwsim that installs each optional top-level package, by its import name
#: (the name pip knows may differ in ``-``, ``_``, ``.``: ``argparse-manpage``).
EXTRAS = {
    "hypothesis": "testing",
    "pytest": "testing",
    "scapy": "scapy",
    "shtab": "completion",
    "argparse_manpage": "man",
    "playwright": "test",
    "uvloop": "fast",
}


def missing_extra_message(module: str, package: str) -> str:
    """The one-line error for ``module``, which needs ``package`` of an extra."""
    return (
        f"{module} needs {package}, which is not installed: "
        f"pip install 'ipgwsim[{EXTRAS[package]}]'"
    )


@contextlib.contextmanager
def extra_imports(module: str) -> Iterator[None]:
    """Imports of optional packages for ``module`` (its ``__name__``): a package of
    :data:`EXTRAS` that is not installed is reported with the extra that brings it."""
    try:
        yield
    except ModuleNotFoundError as exc:
        package = (exc.name or "").partition(".")[0]
        if package not in EXTRAS:
            raise
        raise ModuleNotFoundError(missing_extra_message(module, package), name=package) from exc

"""Owner-only files and folders, whatever the umask.

A state directory holds what only its owner may see: flash images (the admin password's
scrypt record, and a ``/user`` password in clear until the firmware moves it into the
crypted var), the control socket (which presses buttons and cuts power) and the instance
files. Its folders are made ``0700`` and its files ``0600`` here, not by the umask, so a
umask of 022 or 000 changes nothing (``docs/runtime.md``, *State directory*).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The mode of every folder of a state directory.
PRIVATE_DIR = 0o700
#: The mode of every file (and socket) of a state directory.
PRIVATE_FILE = 0o600


def private_dir(path: Path, *, parents: bool = False) -> None:
    """Make ``path`` (if it is not there) and give it owner-only access."""
    path.mkdir(mode=PRIVATE_DIR, parents=parents, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)  # an existing folder, or the umask took bits away


def open_private(path: Path) -> int:
    """A new (or emptied) file at ``path`` for writing, owner-only; the descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # it existed with other bits
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically (a temporary file beside it, then a rename), owner-only."""
    tmp = path.with_name(path.name + ".tmp")
    with os.fdopen(open_private(tmp), "wb") as out:
        out.write(data)
    tmp.replace(path)

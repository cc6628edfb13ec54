"""What gwload shows: the progress bar of an upload, and ``/v``'s one-line messages."""

from __future__ import annotations

import dataclasses
import time
from enum import Enum
from typing import TextIO

from ipgwsim.proto import gwload


def describe(message: gwload.Message) -> str:
    """One line for ``/v``: ``HELLO xid=0x... mac=00:90:33:... gwtype=6000 ip=... ...``."""
    parts = [
        type(message).__name__.upper(),
        f"xid={message.xid:#010x}",
        f"mac={gwload.format_mac(message.mac)}",
        f"gwtype={message.gwtype}",
    ]
    for item in dataclasses.fields(message):
        if item.name in ("xid", "mac", "gwtype", "flags"):
            continue
        value = getattr(message, item.name)
        if isinstance(value, Enum):
            parts.append(f"{item.name}={value.name}")
        elif isinstance(value, str):
            parts.append(f"{item.name}={value!r}")
        else:
            parts.append(f"{item.name}={value}")
    return " ".join(parts)


class Progress:
    """A progress bar with speed on a terminal; nothing in scripts."""

    def __init__(self, stream: TextIO, label: str, total: int) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.start = time.monotonic()
        self.shown = stream.isatty()
        self.last = 0.0

    def update(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if not self.shown or now - self.last < 0.1:
            return
        self.last = now
        total = total or self.total
        share = done / total if total else 1.0
        speed = done / max(now - self.start, 1e-6) / 2**20
        bar = "#" * int(share * 30)
        self.stream.write(
            f"\r  {self.label:<8} [{bar:<30}] {share:4.0%} "
            f"{done / 2**20:7.2f}/{total / 2**20:.2f} MiB {speed:6.1f} MiB/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()

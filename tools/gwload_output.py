"""What gwload shows: a line per step, or with ``/json`` one JSON document; the progress
bar of an upload, and ``/v``'s one-line messages.

:class:`Report` is the one place that renders a step's result, for people and as JSON
(the shapes are documented in ``docs/gwload.md``, *JSON output*).
"""

from __future__ import annotations

import dataclasses
import json
import time
from enum import Enum
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, TextIO

from ipgwsim.proto import gwload

#: What a device with no address says it has.
_NO_ADDRESS = IPv4Address("0.0.0.0")


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


def device_json(hello: gwload.Hello) -> dict[str, Any]:
    """DEVICE: what a device in TFTP mode says of itself in its HELLO."""
    return {
        "mac": gwload.format_mac(hello.mac),
        "model": hello.model,
        "gwtype": hello.gwtype,
        "boot_build": hello.boot_build,
        "firmware_build": hello.firmware_build or None,
        "ip": None if hello.ip == _NO_ADDRESS else str(hello.ip),
    }


class Report:
    """What one gwload run tells: for people a line per step on ``out`` (``gwload: ...``);
    with ``as_json`` one JSON document on ``out`` when the run ends (:meth:`close`), the
    lines for people then on ``err``, so that ``out`` holds nothing but the document."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool, command: str | None) -> None:
        self.out = out
        self.err = err
        self.as_json = as_json
        self.doc: dict[str, Any] = {"command": command, "ok": True, "status": 0, "error": None}

    def where(self, port: int, bcast: str, *, scan: bool) -> None:
        """The command line is understood: what it is, and where gwload sends."""
        self.doc.update(
            command="scan" if scan else "load", port=port, broadcast=bcast, notes=[], capture=None
        )
        if scan:
            self.doc["devices"] = []
        else:
            self.doc.update(steps=[], done=[])

    def say(self, line: str) -> None:
        """A line for people."""
        print(f"gwload: {line}", file=self.err if self.as_json else self.out, flush=True)

    def note(self, text: str) -> None:
        """Something worth knowing on the way (a torn generation, a busy device)."""
        self.say(text)
        self.doc.setdefault("notes", []).append(text)

    def _step(self, line: str, record: dict[str, Any]) -> None:
        self.say(line)
        self.doc.setdefault("steps", []).append(record)

    # -- the steps ------------------------------------------------------------------

    def devices(self, found: list[gwload.Hello]) -> None:
        """``/scan``'s table (on ``out``, or the document's ``devices``)."""
        self.doc["devices"] = [device_json(item) for item in found]
        if not self.as_json:
            header = f"{'MAC':<18}{'MODEL':<9}{'GWTYPE':<8}{'BOOT':<6}{'FIRMWARE':<20}ADDRESS"
            print(header, file=self.out)
            for item in self.doc["devices"]:
                print(
                    f"{item['mac']:<18}{item['model']:<9}{item['gwtype']:<8}"
                    f"{item['boot_build']:<6}{item['firmware_build'] or '-':<20}"
                    f"{item['ip'] or '(none)'}",
                    file=self.out,
                )
        self.say(f"{len(found)} device(s) in TFTP mode")

    def setip(self, hello: gwload.Hello) -> None:
        firmware = hello.firmware_build or "none valid"
        self._step(
            f"setip: {hello.model} {gwload.format_mac(hello.mac)} has {hello.ip} "
            f"(boot code {hello.boot_build}, firmware {firmware})",
            {"step": "setip", **device_json(hello)},
        )

    def getcfg(
        self,
        *,
        name: str,
        path: Path,
        dump: Path,
        size: int,
        generations: int,
        newest_line: int,
        torn: tuple[int, str] | None,
    ) -> None:
        if torn is not None:
            self.say(
                f"getcfg: the last generation (line {torn[0]} of {dump}) is taken "
                f"for a write cut by a power loss: {torn[1]}"
            )
        self._step(
            f"getcfg: {size} bytes of config ring, {generations} "
            f"generation(s); the newest (from line {newest_line}) written to {path}, "
            f"the dump to {dump}",
            {
                "step": "getcfg",
                "name": name,
                "file": str(path),
                "dump": str(dump),
                "bytes": size,
                "generations": generations,
                "newest_line": newest_line,
                "torn": None if torn is None else {"line": torn[0], "reason": torn[1]},
            },
        )

    def uploaded(
        self, name: str, path: Path, size: int, seconds: float, granted: dict[str, str]
    ) -> None:
        speed = size / max(seconds, 1e-6) / 2**20
        options = ", ".join(f"{k} {v}" for k, v in granted.items()) or "plain RFC 1350"
        self._step(
            f"{name}: {path} sent, {size} bytes in {seconds:.2f} s ({speed:.1f} MiB/s; {options})",
            {
                "step": "upload",
                "name": name,
                "file": str(path),
                "bytes": size,
                "seconds": round(seconds, 6),
                "options": dict(granted),
            },
        )

    def go(self, mac: bytes) -> None:
        self._step(
            "go: the device starts its firmware", {"step": "go", "mac": gwload.format_mac(mac)}
        )

    def reset(self, mac: bytes) -> None:
        self._step("reset: the device restarts", {"step": "reset", "mac": gwload.format_mac(mac)})

    def capture(self, path: Path, problem: str | None) -> None:
        """The ``/pcap`` file written, or why not."""
        if problem is not None:
            self.note(f"cannot write the capture {path}: {problem}")
            return
        self.doc["capture"] = str(path)
        self.say(f"capture written to {path}")

    # -- the end --------------------------------------------------------------------

    def done(self, done: list[str]) -> None:
        self.doc["done"] = list(done)
        self.say("done: " + ("; ".join(done) if done else "nothing changed"))

    def failed(
        self,
        status: int,
        message: str,
        *,
        step: str | None,
        hint: str | None = None,
        usage: bool = False,
        lead: str = "failed: ",
    ) -> None:
        """The run ends with ``status``; ``message`` says why (a usage error: on ``err``;
        otherwise as a line ``gwload: failed: MESSAGE``, ``lead`` being ``failed: ``)."""
        self.doc.update(
            ok=False, status=status, error={"step": step, "message": message, "hint": hint}
        )
        if usage:
            print(f"gwload: {message}", file=self.err)
            return
        self.say(f"{lead}{message}")
        if hint is not None:
            self.say(f"hint: {hint}")

    def close(self) -> None:
        """With ``as_json``: the document, on ``out``."""
        if self.as_json:
            print(json.dumps(self.doc, indent=2), file=self.out, flush=True)

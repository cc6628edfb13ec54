"""``gwload``: load config, firmware and boot code into a device in TFTP mode.

The vendor's command lines work as they are (options start with ``/``, any
case, any order)::

    gwload /gwtype 6000 /i 192.168.0.1 /setip
    gwload /gwtype 6000 /i 192.168.0.1 /setip /cfg config.txt
    gwload /setip /i 192.168.0.1 /gwtype 800 /boot boot800.bin

It speaks docs/gwload-protocol.md. Order of work: discover (when SETIP has no
MAC) -> SETIP -> GETCFG -> boot -> altboot -> prot -> cfg -> RESET after an
upload (unless /noreset), or GO with /go. Exit status: 0 done, 1 usage,
2 no device answered or several did, 3 a transfer failed, 4 the device
refused (NAK or TFTP ERROR), with the reason printed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ipgwsim import __version__
from ipgwsim.flash.dumptext import read_dump
from ipgwsim.hw_profiles import load_profiles
from ipgwsim.proto import gwload
from ipgwsim.proto.net import Datagram
from ipgwsim.proto.tftp import SEND_AGAIN, ErrorCode, TimerPolicy
from ipgwsim.runtime import gwloadclient
from ipgwsim.runtime.errors import describe_error
from ipgwsim.runtime.pcapng import write_datagrams
from ipgwsim.runtime.ports import DEFAULT_PORT
from ipgwsim.runtime.tftpclient import TftpClientError, TransferResult, tftp_get, tftp_put
from ipgwsim.tools.closedpipe import guard
from ipgwsim.tools.gwload_output import Progress, Report, describe
from ipgwsim.tools.gwload_where import (
    DEFAULT_BCAST,
    SettingError,
    check_address,
    check_port,
    loopback_hint,
    resolve,
)

EXIT_OK, EXIT_USAGE, EXIT_NO_DEVICE, EXIT_TRANSFER, EXIT_REFUSED = 0, 1, 2, 3, 4
#: Ctrl-C (SIGINT), as a shell gives it: 128 + 2.
EXIT_INTERRUPTED = 130

#: (name, argument, documented by the vendor, help)
OPTIONS: tuple[tuple[str, str | None, bool, str], ...] = (
    ("gwtype", "N", True, "device type: 800, 6000, 811, ... or a model (IP6000); 0 or absent: any"),
    ("i", "IP", True, "the device's IP address (given to it with /setip)"),
    ("setip", None, True, "give the device in TFTP mode the address of /i"),
    ("cfg", "FILE", True, "send a config text; it is effective after the restart"),
    ("boot", "FILE", True, "load boot code"),
    ("altboot", "FILE", True, "load the rescue copy of the boot code (IP800, boot code 358+)"),
    ("go", None, True, "leave TFTP mode and start the firmware"),
    ("prot", "FILE", False, "load a firmware image"),
    ("mac", "MAC", False, "the device's MAC: needed when several are in TFTP mode"),
    ("mask", "MASK", False, "netmask for /setip (default 255.255.255.0)"),
    ("port", "N", False, "UDP port of the devices (default 69)"),
    ("bcast", "ADDR", False, "broadcast address (default 255.255.255.255; 127.255.255.255 "
     "for simulated devices on loopback)"),
    ("if", "NAME", False, "send on this network interface only (needs root)"),
    ("tries", "N", False, "tries per request (default 5)"),
    ("timeout", "S", False, "seconds between tries (default 1)"),
    ("getcfg", "FILE", False, "download the config: newest generation to FILE, the raw "
     "ring dump to FILE.dump"),
    ("scan", None, False, "list every device in TFTP mode, then stop"),
    ("noreset", None, False, "do not restart the device after an upload"),
    ("pcap", "FILE", False, "write what gwload sent and received to a pcapng file"),
    ("v", None, False, "verbose: every request and answer"),
    ("state", "DIR", False, "take /port and /bcast from the ipgwsim runtime running on "
     "state directory DIR"),
    ("json", None, False, "one JSON document on stdout instead of lines (docs/gwload.md)"),
)  # fmt: skip
_BY_NAME = {name: (arg, documented) for name, arg, documented, _ in OPTIONS}
#: How long gwload waits for a device that is busy programming flash.
BUSY_WAIT = 600.0
#: Transfers a request is sent in when the device answers that it should be sent again
#: (its transfer port could not be opened: ``SEND_AGAIN``).
AGAIN_TRIES = 3
#: The options that may go with /scan.
SCAN_OPTIONS = frozenset(
    {"scan", "gwtype", "port", "bcast", "if", "tries", "timeout", "pcap", "v", "state", "json"}
)


def transfer_timers(tries: int = 5, timeout: float = 1.0) -> TimerPolicy:
    """The transfers retry as the gwload requests do (``/tries``, ``/timeout``), the wait
    doubling up to 8 s; with the defaults, the device's own timers (gwload-protocol.md 6)."""
    return TimerPolicy(timeout=timeout, retries=tries, max_timeout=max(8.0, timeout))


class UsageError(Exception):
    pass


class Failure(Exception):
    """A step failed; ``status`` is the exit status, ``str()`` the reason."""

    def __init__(self, status: int, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        #: What the user may try (where the loopback runtimes listen), or None.
        self.hint = hint


@dataclass
class Options:
    gwtype: int = 0
    ip: str | None = None
    setip: bool = False
    cfg: Path | None = None
    boot: Path | None = None
    altboot: Path | None = None
    prot: Path | None = None
    go: bool = False
    mac: bytes | None = None
    mask: str = "255.255.255.0"
    port: int = DEFAULT_PORT
    bcast: str = DEFAULT_BCAST
    interface: str | None = None
    tries: int = 5
    timeout: float = 1.0
    getcfg: Path | None = None
    scan: bool = False
    noreset: bool = False
    pcap: Path | None = None
    verbose: bool = False
    state: Path | None = None
    as_json: bool = False
    given: list[str] = field(default_factory=list)
    #: The upload files' bytes, read when the command line is checked.
    data: dict[str, bytes] = field(default_factory=dict)

    @property
    def uploads(self) -> list[tuple[str, Path]]:
        """(TFTP name, file) in the contract's order of work."""
        order = (("boot", self.boot), ("altboot", self.altboot), ("prot", self.prot))
        files = [(name, path) for name, path in order if path is not None]
        if self.cfg is not None:
            files.append(("config", self.cfg))
        return files


def help_text() -> str:
    lines = [
        "usage: gwload /option [value] ...   (options in any order, any case)",
        "",
        "Loads config, firmware and boot code into an innovaphone device in TFTP mode",
        "(ipgwsim's gwload, speaking docs/gwload-protocol.md).",
        "",
        "Options of the vendor's gwload:",
    ]
    for documented in (True, False):
        if not documented:
            lines += ["", "Extensions of ipgwsim's gwload:"]
        for name, arg, doc, text in OPTIONS:
            if doc is documented:
                left = f"  /{name}" + (f" {arg}" if arg else "")
                lines.append(f"{left:<18}{text}")
    lines += [
        "",
        "Order of work: discover -> setip -> getcfg -> boot -> altboot -> prot -> cfg ->",
        "RESET after an upload (unless /noreset), or GO with /go.",
        "Port and broadcast: /port and /bcast, else $IPGWSIM_GWLOAD_PORT and",
        "$IPGWSIM_GWLOAD_BCAST, else the runtime of /state DIR (or $IPGWSIM_STATE),",
        "else 69 and 255.255.255.255.",
        "Exit status: 0 done, 1 usage, 2 no device answered or several did,",
        "3 a transfer failed, 4 the device refused (NAK or TFTP ERROR).",
    ]
    return "\n".join(lines)


def _gwtype(text: str) -> int:
    """``/gwtype``: a model whose profile gives it (``IP6000``, ``ip811``)."""
    profiles = load_profiles()
    profile = profiles.get(text.strip().upper())
    if profile is None:
        raise UsageError(
            f"/gwtype: {text!r} is neither a number nor a known model "
            f"(known: {', '.join(sorted(profiles))})"
        )
    return profile.gwtype


def _value(name: str, text: str) -> object:
    # the port and the addresses: checked as the environment's values are
    checks = {"port": check_port, "i": check_address, "bcast": check_address}
    if name in checks or name == "mask":
        try:
            return checks.get(name, check_address)(text)
        except ValueError as exc:
            raise UsageError(f"/{name}: {exc}") from None
    try:
        if name == "gwtype" and any(c.isalpha() for c in text):
            text = str(_gwtype(text))
        if name in ("gwtype", "tries"):
            number = int(text)
            low, high = {"gwtype": (0, 65535), "tries": (1, 1000)}[name]
            if not low <= number <= high:
                raise UsageError(f"/{name}: {text!r} is not between {low} and {high}")
            return number
        if name == "timeout":
            seconds = float(text)
            if not 0.01 <= seconds <= 3600:
                raise UsageError(f"/{name}: {text!r} is not between 0.01 and 3600 seconds")
            return seconds
        if name == "mac":
            return gwload.parse_mac(text)
    except ValueError:
        raise UsageError(f"/{name}: {text!r} is not a valid value") from None
    if not text:
        raise UsageError(f"/{name} needs a value, not an empty one")
    if name in ("cfg", "boot", "altboot", "prot", "getcfg", "pcap", "state"):
        return Path(text)
    return text


_ATTRIBUTE = {"i": "ip", "if": "interface", "v": "verbose", "json": "as_json"}


def parse(argv: Sequence[str]) -> Options:
    """The options of a vendor-style command line; :class:`UsageError` says what is wrong."""
    options = Options()
    args = list(argv)
    while args:
        word = args.pop(0)
        if not word.startswith(("/", "-")) or len(word) < 2:
            raise UsageError(f"{word!r} is not an option (options start with /, e.g. /setip)")
        name = word.lstrip("/-").lower()
        if name not in _BY_NAME:
            raise UsageError(f"unknown option {word!r} (gwload /help lists them)")
        if name in options.given:
            raise UsageError(f"/{name} is given twice")
        options.given.append(name)
        arg, _ = _BY_NAME[name]
        attribute = _ATTRIBUTE.get(name, name)
        if arg is None:
            setattr(options, attribute, True)
            continue
        if not args:
            raise UsageError(f"/{name} needs a value ({arg})")
        setattr(options, attribute, _value(name, args.pop(0)))
    _check(options)
    return options


def _check(options: Options) -> None:
    if not options.given:
        raise UsageError("nothing to do (gwload /help lists the options)")
    for name, path in options.uploads:
        option = "cfg" if name == "config" else name
        if not path.is_file():
            raise UsageError(f"/{option}: no file {str(path)!r}")
        try:
            options.data[name] = path.read_bytes()
        except OSError as exc:
            raise UsageError(
                f"/{option}: cannot read {str(path)!r}: {describe_error(exc)}"
            ) from None
    for option, output in (("getcfg", options.getcfg), ("pcap", options.pcap)):
        if output is None:
            continue
        if output.is_dir():
            raise UsageError(f"/{option}: {str(output)!r} is a directory, not a file")
        if not output.absolute().parent.is_dir():
            raise UsageError(f"/{option}: the folder of {str(output)!r} does not exist")
    if options.scan:
        others = [g for g in options.given if g not in SCAN_OPTIONS]
        if others:
            raise UsageError(f"/scan only lists devices: /{others[0]} cannot go with it")
        return
    needs_ip = options.setip or options.uploads or options.go or options.getcfg is not None
    if needs_ip and options.ip is None:
        raise UsageError("/i IP is needed: the address the device has or gets with /setip")
    if not needs_ip:
        raise UsageError("nothing to do: give /setip, an upload, /getcfg, /go or /scan")
    if options.go and options.noreset:
        raise UsageError("/go and /noreset contradict each other")


class Job:
    """One gwload command line, worked off step by step."""

    def __init__(self, options: Options, report: Report) -> None:
        self.options = options
        self.report = report
        self.err = report.err
        #: The step at work, named in a JSON error (``scan``, ``setip``, ``getcfg``, ...).
        self.step = "scan" if options.scan else "setip"
        #: What gwload sent and received, for /pcap: (datagram, direction, when).
        self.capture: list[tuple[Datagram, str, float]] | None = None
        if options.pcap is not None:
            self.capture = []
        hook = self._on_datagram if options.pcap is not None or options.verbose else None
        self.hook = hook
        self.lab = gwloadclient.Lab(
            port=options.port,
            broadcast=options.bcast,
            tries=options.tries,
            interval=options.timeout,
            interface=options.interface,
            on_datagram=hook,
        )
        self.hello: gwload.Hello | None = None
        self.done: list[str] = []
        self.timers = transfer_timers(options.tries, options.timeout)

    def _on_datagram(
        self, direction: str, data: bytes, src: tuple[str, int], dst: tuple[str, int]
    ) -> None:
        if self.capture is not None:
            self.capture.append((Datagram(data, src, dst), direction, time.time()))
        if not self.options.verbose or not gwload.is_gwload(data):
            return
        try:
            text = describe(gwload.parse_message(data))
        except gwload.MalformedMessage as exc:
            text = f"{len(data)} bytes, not understood: {describe_error(exc)}"
        arrow = "->" if direction == "sent" else "<-"
        print(f"  {arrow} {src[0]}:{src[1]} > {dst[0]}:{dst[1]} {text}", file=self.err)

    # -- the steps -------------------------------------------------------------------

    def run(self) -> int:
        """Work off the command line; the exit status (the report says the rest)."""
        try:
            if self.options.scan:
                return self.scan()
            mac = self.options.mac
            if self.options.setip:
                mac = self.setip()
            elif self.options.gwtype:
                self.step = "check"
                self.check_device()
            if self.options.getcfg is not None:
                self.step = "getcfg"
                self.getcfg(self.options.getcfg)
            for name, path in self.options.uploads:
                self.step = "upload"
                self.upload(name, path)
            self.finish(mac)
        except Failure as failure:
            self.report.failed(failure.status, str(failure), step=self.step, hint=failure.hint)
            return failure.status
        finally:
            self.write_pcap()
        self.report.done(self.done)
        return EXIT_OK

    def write_pcap(self) -> None:
        if self.capture is not None and self.options.pcap is not None:
            try:
                write_datagrams(
                    self.options.pcap,
                    self.capture,
                    interface="gwload",
                    description=f"what gwload sent and received (UDP port {self.options.port})",
                )
            except OSError as exc:
                self.report.capture(self.options.pcap, describe_error(exc))
                return
            self.report.capture(self.options.pcap, None)

    def _gwload(self, step: Callable[[], object], what: str) -> object:
        try:
            return step()
        except (gwloadclient.Refused, gwloadclient.NotUnderstood) as exc:
            raise Failure(EXIT_REFUSED, f"{what}: {describe_error(exc)}") from None
        except gwloadclient.NoAnswer as exc:
            raise Failure(EXIT_NO_DEVICE, f"{what}: {describe_error(exc)}", self._hint()) from None
        except gwloadclient.Ambiguous as exc:
            raise Failure(EXIT_NO_DEVICE, f"{what}: {describe_error(exc)}") from None
        except gwloadclient.BadInterface as exc:
            raise Failure(EXIT_USAGE, f"{what}: {describe_error(exc)}") from None
        except gwloadclient.GwloadError as exc:
            raise Failure(EXIT_TRANSFER, f"{what}: {describe_error(exc)}") from None
        except OSError as exc:
            hint = self._hint() if self.step in ("scan", "setip") else None
            raise Failure(EXIT_TRANSFER, f"{what}: {describe_error(exc)}", hint) from None

    def _hint(self) -> str | None:
        """Where the ipgwsim runtimes on loopback listen, when gwload's broadcast missed
        them (``/i`` and a unicast request are not looked at: a broadcast only)."""
        if self.step not in ("scan", "setip"):
            return None
        return loopback_hint(self.options.port, self.options.bcast)

    def scan(self) -> int:
        found = self._gwload(
            lambda: gwloadclient.discover(self.lab, gwtype=self.options.gwtype), "scan"
        )
        assert isinstance(found, list)
        if not found:
            where = f"{self.options.bcast}:{self.options.port}"
            self.report.failed(
                EXIT_NO_DEVICE,
                f"no device in TFTP mode answered a broadcast to {where}",
                step="scan",
                hint=self._hint(),
                lead="",
            )
            return EXIT_NO_DEVICE
        self.report.devices(found)
        return EXIT_OK

    def setip(self) -> bytes:
        ip = self.options.ip
        assert ip is not None
        hello = self._gwload(
            lambda: gwloadclient.setip(
                self.lab,
                ip,
                gwtype=self.options.gwtype,
                mac=self.options.mac,
                mask=self.options.mask,
                busy_wait=BUSY_WAIT,
            ),
            "setip",
        )
        assert isinstance(hello, gwload.Hello)
        self.hello = hello
        self.report.setip(hello)
        self.done.append(f"address {hello.ip}")
        return hello.mac

    def check_device(self) -> None:
        """Without /setip: is the device at /i the /gwtype (and /mac) asked for?"""
        ip = self.options.ip
        assert ip is not None
        found = self._gwload(
            lambda: gwloadclient.hello(
                self.lab,
                ip,
                mac=self.options.mac or gwload.ANY_MAC,
                gwtype=self.options.gwtype,
            ),
            f"is {ip} a gwtype {self.options.gwtype} device in TFTP mode",
        )
        assert isinstance(found, gwload.Hello)
        self.hello = found

    def _server(self) -> tuple[str, int]:
        assert self.options.ip is not None
        return (self.options.ip, self.options.port)

    def _config_name(self) -> str:
        if self.hello is None:
            assert self.options.ip is not None
            try:
                self.hello = gwloadclient.hello(self.lab, self.options.ip)
            except gwloadclient.GwloadError:
                return "config"  # not told: the newer boot code's name
        return self.hello.config_name

    def _transfer(self, what: str, run: Callable[[], TransferResult]) -> TransferResult:
        """Run a transfer; one the device asks to send again (``SEND_AGAIN``: its transfer
        port could not be opened) is sent again, up to ``AGAIN_TRIES`` times in all."""
        for attempt in range(1, AGAIN_TRIES + 1):
            try:
                return run()
            except TftpClientError as exc:
                again = exc.code is not None and SEND_AGAIN in str(exc)
                if again and attempt < AGAIN_TRIES:
                    why = describe_error(exc)
                    self.report.note(
                        f"{what}: the device asks for the request again ({why}); sending it"
                    )
                    continue
                raise _transfer_failure(what, exc) from None
            except OSError as exc:
                raise Failure(EXIT_TRANSFER, f"{what}: {describe_error(exc)}") from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def getcfg(self, path: Path) -> None:
        name = self._config_name()
        result = self._transfer(
            f"getcfg {name}",
            lambda: tftp_get(
                self._server(),
                name,
                options=_OPTIONS,
                timers=self.timers,
                on_datagram=self.hook,
                interface=self.options.interface,
            ),
        )
        dump = result.data or b""
        raw = path.with_name(path.name + ".dump")
        raw.write_bytes(dump)
        reading = read_dump(dump)
        newest = reading.newest
        if newest is None:
            raise Failure(EXIT_TRANSFER, f"getcfg: no complete config generation in {raw}")
        path.write_bytes(newest.data)
        torn = reading.torn
        self.report.getcfg(
            name=name,
            path=path,
            dump=raw,
            size=len(dump),
            generations=len(reading.generations),
            newest_line=newest.line,
            torn=None if torn is None else (torn.line, str(reading.torn_reason)),
        )
        self.done.append(f"config read to {path}")

    def upload(self, name: str, path: Path) -> None:
        if name == "config":
            name = self._config_name()
        data = self.options.data[name if name in self.options.data else "config"]
        options = dict(_OPTIONS, tsize=str(len(data)))
        give_up = time.monotonic() + BUSY_WAIT
        while True:
            progress = Progress(self.err, name, len(data))
            try:
                result = self._transfer(
                    f"{name} {path}", partial(self._put, name, data, options, progress)
                )
            except Failure as failure:
                # A device still programming the previous image says "busy": wait for it.
                if "busy" not in str(failure) or time.monotonic() >= give_up:
                    raise
                self.report.note(f"{name}: the device is busy ({failure}); waiting")
                time.sleep(self.options.timeout)
                continue
            finally:
                progress.close()
            break
        self.report.uploaded(name, path, len(data), result.seconds, dict(result.options))
        self.done.append(f"{name} loaded")

    def _put(
        self, name: str, data: bytes, options: dict[str, str], progress: Progress
    ) -> TransferResult:
        return tftp_put(
            self._server(),
            name,
            data,
            options=options,
            timers=self.timers,
            progress=progress.update,
            on_datagram=self.hook,
            interface=self.options.interface,
        )

    def _mac(self, mac: bytes | None) -> bytes:
        if mac is not None:
            return mac
        if self.hello is None:
            assert self.options.ip is not None
            found = self._gwload(
                lambda: gwloadclient.hello(self.lab, self.options.ip or ""), "discover"
            )
            assert isinstance(found, gwload.Hello)
            self.hello = found
        return self.hello.mac

    def finish(self, mac: bytes | None) -> None:
        ip = self.options.ip
        assert ip is not None or not (self.options.go or self.options.uploads)
        if self.options.go:
            self.step = "go"
            target = self._mac(mac)
            self._gwload(
                lambda: gwloadclient.go(
                    self.lab, ip or "", target, self.options.gwtype, busy_wait=BUSY_WAIT
                ),
                "go",
            )
            self.report.go(target)
            self.done.append("firmware started")
        elif self.options.uploads and not self.options.noreset:
            self.step = "reset"
            target = self._mac(mac)
            self._gwload(
                lambda: gwloadclient.reset(
                    self.lab, ip or "", target, self.options.gwtype, busy_wait=BUSY_WAIT
                ),
                "reset",
            )
            self.report.reset(target)
            self.done.append("device restarted")


#: The TFTP options gwload asks for; a device that refuses them gets plain RFC 1350.
_OPTIONS = {"blksize": "1468", "windowsize": "16"}


def _transfer_failure(what: str, exc: TftpClientError) -> Failure:
    """How a failed transfer ends gwload: refused by the device, or the transfer broke."""
    if exc.code == ErrorCode.ILLEGAL_OPERATION:
        return Failure(
            EXIT_REFUSED,
            f"{what}: retry errors: the boot code does not know this request "
            f"({describe_error(exc)})",
        )
    if exc.code is not None:
        return Failure(EXIT_REFUSED, f"{what}: the device refused: {describe_error(exc)}")
    return Failure(EXIT_TRANSFER, f"{what}: {describe_error(exc)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run gwload; output into a closed pipe ends it quietly
    (:mod:`ipgwsim.tools.closedpipe`)."""
    return guard(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a.lower() in ("/help", "/?", "-h", "--help", "/h") for a in args):
        print(help_text())
        return EXIT_OK if args else EXIT_USAGE
    if args[0].lower() in ("/version", "--version"):
        print(f"gwload (ipgwsim {__version__})")
        return EXIT_OK
    as_json = any(a.lower() in ("/json", "-json") for a in args)
    # (until the command line is understood, for a usage error's document)
    command = "scan" if any(a.lower() in ("/scan", "-scan") for a in args) else "load"
    report = Report(sys.stdout, sys.stderr, as_json=as_json, command=command)
    try:
        return _run(args, report)
    finally:
        report.close()


def _run(args: list[str], report: Report) -> int:
    try:
        options = parse(args)
        where = resolve(
            options.port if "port" in options.given else None,
            options.bcast if "bcast" in options.given else None,
            options.state,
            os.environ,
        )
    except (UsageError, SettingError) as exc:
        report.failed(EXIT_USAGE, describe_error(exc), step=None, usage=True)
        return EXIT_USAGE
    options.port, options.bcast = where.port, where.bcast
    report.where(where.port, where.bcast, scan=options.scan)
    if options.verbose:
        print(
            f"  port {where.port} ({where.port_from}), broadcast {where.bcast} "
            f"({where.bcast_from})",
            file=report.err,
        )
        if where.passed_over is not None:
            print(f"  {where.passed_over}", file=report.err)
    job = Job(options, report)
    try:
        return job.run()
    except KeyboardInterrupt:
        # the step at work, as for any failure (null is for a usage error only)
        report.failed(EXIT_INTERRUPTED, "interrupted", step=job.step)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

"""``gwload`` against a minimal device written from docs/gwload-protocol.md alone.

The device below uses nothing of ipgwsim: only ``socket``, ``struct`` and
``threading``, coded from the contract's text (sections 2-4, and the loopback
rules of section 6). It is the "independent implementation" the contract asks
both sides to work with:

- a socket bound to ``(127.255.255.255, P)`` (``SO_REUSEADDR``) hears the
  broadcasts; while the device has no address it answers through that socket
  to ``127.255.255.255:<client port>`` (the loopback stand-in for a limited
  broadcast from ``0.0.0.0``);
- after SETIP it binds ``(ip, P)`` and answers from there, by unicast;
- DISCOVER -> HELLO, SETIP -> HELLO from the new address, GO/RESET -> ACK,
  a request naming its MAC with a wrong gwtype -> NAK 1, anything else for
  another MAC or gwtype -> silence;
- a plain RFC 1350 TFTP server: options in a request are ignored (no OACK),
  a WRQ is answered with ACK 0 from a new port, blocks are 512 bytes; RRQ
  ``config`` serves the ring dump the test gives it.

gwload runs with ``main([...])`` in the test thread, the device in a background
thread. Nothing sleeps to wait: the device records what it saw in a list that is
complete before it answers the request that ends a gwload run.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ipgwsim.testing.loopback import Ports, free_loopback_ip
from ipgwsim.tools.gwload_cmd import main

pytestmark = pytest.mark.integration

BROADCAST = "127.255.255.255"
MAC = bytes.fromhex("0090331a2b3c")
MAC_TEXT = "00:90:33:1a:2b:3c"
GWTYPE = 6000
MODEL = "IP6000"
BOOT_BUILD = 145
FIRMWARE_BUILD = "08-6000.08"

# gwload control opcodes (contract section 3).
DISCOVER, HELLO, SETIP, GO, RESET, ACK, NAK = range(0x4701, 0x4708)
HEADER = struct.Struct("!HBBI6sH")  # opcode, version, flags, xid, mac, gwtype
# TFTP opcodes (RFC 1350).
RRQ, WRQ, DATA, TACK, ERROR = 1, 2, 3, 4, 5
BLOCK = 512
#: The device's sockets wake up this often to see whether the test stopped it (seconds).
TICK = 0.05
#: Ticks the TFTP side waits for the next packet before it repeats its last one (0.5 s).
RETRANSMIT_TICKS = 10
RETRIES = 5
#: Waits of the test thread for the device; generous: they only matter when something fails.
LIMIT = 10.0


def string(text: str) -> bytes:
    data = text.encode("ascii")
    return bytes([len(data)]) + data


def ipv4(text: str) -> bytes:
    return socket.inet_aton(text)


def tftp_error(code: int, text: str) -> bytes:
    return struct.pack("!HH", ERROR, code) + text.encode("ascii") + b"\0"


@dataclass
class Transfer:
    """One TFTP request the device served."""

    kind: str  # "wrq" or "rrq"
    name: str
    mode: str
    #: The options the client asked for (lower-case names); the device grants none.
    options: dict[str, str]
    data: bytes = b""
    #: Payload size of every DATA block received (WRQ) or sent (RRQ), in order.
    blocks: list[int] = field(default_factory=list)
    #: DATA a client sent before the ACK of the previous block was out (not lock-step).
    early: int = 0
    complete: bool = False


class ContractDevice:
    """A device in TFTP mode, written from the contract; runs in a background thread."""

    def __init__(self, port: int, ip: str, dump: bytes = b"") -> None:
        self.port = port
        #: The address a test will give it (free on ``port``).
        self.planned_ip = ip
        self.dump = dump
        self.ip: str | None = None
        self.mask = "0.0.0.0"
        self.tftp_mode = True
        #: ("discover"|"setip"|"go"|"reset"|"nak", detail) and Transfer, in order.
        self.log: list[tuple[str, str] | Transfer] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.failure: BaseException | None = None
        self.last_setip: tuple[tuple[str, int], bytes] | None = None
        self.broadcast_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.broadcast_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.broadcast_sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.broadcast_sock.bind((BROADCAST, port))
        self.unicast_sock: socket.socket | None = None
        #: Serialises the handling of control messages (one listener thread per socket).
        self.state_lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=self._guard, args=(target, *args), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        except BaseException as exc:
            self.failure = exc

    def start(self) -> None:
        self._spawn(self._listen, self.broadcast_sock, True)

    def stop(self) -> None:
        self.stop_event.set()
        index = 0
        while index < len(self.threads):  # a listener may still start a transfer thread
            self.threads[index].join(LIMIT)
            index += 1
        self.broadcast_sock.close()
        if self.unicast_sock is not None:
            self.unicast_sock.close()
        assert not any(t.is_alive() for t in self.threads), "a device thread did not stop"
        if self.failure is not None:
            raise AssertionError("a device thread failed") from self.failure

    def record(self, entry: tuple[str, str] | Transfer) -> None:
        with self.lock:
            self.log.append(entry)

    def entries(self) -> list[tuple[str, str] | Transfer]:
        with self.lock:
            return list(self.log)

    def transfers(self) -> list[Transfer]:
        return [entry for entry in self.entries() if isinstance(entry, Transfer)]

    def _listen(self, sock: socket.socket, broadcast: bool) -> None:
        sock.settimeout(TICK)
        while not self.stop_event.is_set():
            try:
                data, src = sock.recvfrom(65536)
            except TimeoutError:
                continue
            with self.state_lock:
                self._datagram(data, src, broadcast)

    # -- gwload control messages (contract section 3) ---------------------------------

    def _send(self, reply: bytes, to: tuple[str, int], *, from_new: bool = False) -> None:
        """With an address: unicast from (ip, P). Without: 'broadcast' to the client's port."""
        if self.unicast_sock is not None and (self.ip is not None or from_new):
            self.unicast_sock.sendto(reply, to)
        else:
            self.broadcast_sock.sendto(reply, (BROADCAST, to[1]))

    def _header(self, opcode: int, xid: int) -> bytes:
        return HEADER.pack(opcode, 1, 0, xid, MAC, GWTYPE)

    def _hello(self, xid: int) -> bytes:
        body = ipv4(self.ip or "0.0.0.0") + ipv4(self.mask)
        body += struct.pack("!BH", 1, BOOT_BUILD)
        body += string(MODEL) + string(FIRMWARE_BUILD) + string("config")
        return self._header(HELLO, xid) + body

    def _datagram(self, data: bytes, src: tuple[str, int], broadcast: bool) -> None:
        if len(data) < 2:
            return
        (opcode,) = struct.unpack_from("!H", data)
        if opcode in (RRQ, WRQ):
            if not broadcast and self.ip is not None and self.tftp_mode:
                self._tftp_request(opcode, data, src)
            return
        if not 0x4701 <= opcode <= 0x47FF or len(data) < HEADER.size or not self.tftp_mode:
            return
        _, version, _flags, xid, mac, gwtype = HEADER.unpack_from(data)
        if version != 1:
            return
        if mac not in (bytes(6), MAC):
            return
        if gwtype not in (0, GWTYPE):
            if mac == MAC:  # names this device but the wrong type: say so
                text = f"wrong gwtype {gwtype}: this is an {MODEL}, gwtype {GWTYPE}"
                self.record(("nak", text))
                nak = self._header(NAK, xid) + struct.pack("!H", 1) + string(text)
                self._send(nak, src)
            return
        body = data[HEADER.size :]
        if opcode == DISCOVER:
            self.record(("discover", "broadcast" if broadcast else "unicast"))
            self._send(self._hello(xid), src)
        elif opcode == SETIP and len(body) >= 12:
            self._setip(xid, body, src, data)
        elif opcode in (GO, RESET):
            self.record(("go" if opcode == GO else "reset", ""))
            self._send(self._header(ACK, xid) + struct.pack("!H", opcode), src)
            self.tftp_mode = False  # GO starts the firmware, RESET restarts: no more answers

    def _setip(self, xid: int, body: bytes, src: tuple[str, int], raw: bytes) -> None:
        ip = socket.inet_ntoa(body[0:4])
        mask = socket.inet_ntoa(body[4:8])
        if self.last_setip == (src, raw):  # the same SETIP again: answer again, change nothing
            self._send(self._hello(xid), src)
            return
        if ip != self.planned_ip:
            text = f"bad address {ip}: this test device can only take {self.planned_ip}"
            self.record(("nak", text))
            self._send(self._header(NAK, xid) + struct.pack("!H", 2) + string(text), src)
            return
        if self.unicast_sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ip, self.port))
            self.unicast_sock = sock
            self._spawn(self._listen, sock, False)
        self.ip, self.mask = ip, mask
        self.last_setip = (src, raw)
        self.record(("setip", ip))
        self._send(self._hello(xid), src, from_new=True)

    # -- TFTP (RFC 1350, no options) ---------------------------------------------------

    def _tftp_request(self, opcode: int, data: bytes, src: tuple[str, int]) -> None:
        fields = data[2:].split(b"\0")
        assert self.ip is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.ip, 0))  # a new port: the server's transfer ID
        if len(fields) < 3:
            sock.sendto(tftp_error(4, "malformed request"), src)
            sock.close()
            return
        name, mode = fields[0].decode("ascii"), fields[1].decode("ascii").lower()
        pairs = fields[2:-1]
        options = {
            pairs[i].decode("ascii").lower(): pairs[i + 1].decode("ascii")
            for i in range(0, len(pairs) - 1, 2)
        }
        kind = "wrq" if opcode == WRQ else "rrq"
        transfer = Transfer(kind, name, mode, options)
        known = ("config", "prot", "boot") if kind == "wrq" else ("config",)
        if name not in known:
            sock.sendto(tftp_error(1, f"file not found: {name}"), src)
            sock.close()
            return
        self._spawn(self._receive if kind == "wrq" else self._serve, sock, src, transfer)

    def _wait(self, sock: socket.socket, peer: tuple[str, int]) -> bytes | None:
        """The next datagram from ``peer`` (others get ERROR 5), or None after a while."""
        sock.settimeout(TICK)
        for _ in range(RETRANSMIT_TICKS):
            if self.stop_event.is_set():
                return None
            try:
                data, src = sock.recvfrom(65536)
            except TimeoutError:
                continue
            if src != peer:
                sock.sendto(tftp_error(5, "unknown transfer ID"), src)
                continue
            return data
        return None

    def _receive(self, sock: socket.socket, peer: tuple[str, int], transfer: Transfer) -> None:
        """WRQ: ACK 0 (not OACK), then lock-step 512-byte DATA blocks."""
        try:
            block = 0
            last = struct.pack("!HH", TACK, 0)
            sock.sendto(last, peer)
            chunks: list[bytes] = []
            tries = 0
            while tries < RETRIES:
                data = self._wait(sock, peer)
                if data is None:
                    tries += 1
                    sock.sendto(last, peer)
                    continue
                opcode, number = struct.unpack_from("!HH", data)
                if opcode == ERROR:
                    return
                if opcode != DATA:
                    sock.sendto(tftp_error(4, "expected DATA"), peer)
                    return
                if number != (block + 1) & 0xFFFF:
                    continue  # a repeated block: the ACK below is not lost, nothing to do
                tries = 0
                payload = data[4:]
                if len(payload) > BLOCK:
                    sock.sendto(tftp_error(4, f"block of {len(payload)} bytes"), peer)
                    return
                if _queued(sock):
                    transfer.early += 1
                block = number
                chunks.append(payload)
                transfer.blocks.append(len(payload))
                last = struct.pack("!HH", TACK, block)
                if len(payload) < BLOCK:
                    transfer.data = b"".join(chunks)
                    transfer.complete = True
                    self.record(transfer)  # before the final ACK: gwload goes on after it
                    sock.sendto(last, peer)
                    return
                sock.sendto(last, peer)
            self.record(transfer)
        finally:
            sock.close()

    def _serve(self, sock: socket.socket, peer: tuple[str, int], transfer: Transfer) -> None:
        """RRQ: DATA 1 from the new port (not OACK), each block after the previous ACK."""
        try:
            block = 1
            offset = 0
            while True:
                payload = self.dump[offset : offset + BLOCK]
                packet = struct.pack("!HH", DATA, block & 0xFFFF) + payload
                sock.sendto(packet, peer)
                transfer.blocks.append(len(payload))
                tries = 0
                while True:
                    data = self._wait(sock, peer)
                    if data is None:
                        tries += 1
                        if tries >= RETRIES:
                            self.record(transfer)
                            return
                        sock.sendto(packet, peer)
                        continue
                    opcode, number = struct.unpack_from("!HH", data)
                    if opcode == ERROR:
                        self.record(transfer)
                        return
                    if opcode == TACK and number == block & 0xFFFF:
                        break
                if len(payload) < BLOCK:
                    transfer.data = self.dump
                    transfer.complete = True
                    self.record(transfer)
                    return
                offset += BLOCK
                block += 1
        finally:
            sock.close()


def _queued(sock: socket.socket) -> bool:
    """Whether a datagram is queued on ``sock`` right now (looked at, not taken)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    finally:
        sock.settimeout(timeout)
    return True


# -- the config ring dump (flash/SPEC.md section 2) ---------------------------------------


def config_lines(name: str, count: int) -> bytes:
    return b"".join(
        b"config change M%d /%s%d value-%d\r\n" % (i, name.encode(), i, i) for i in range(count)
    )


# -- fixtures ---------------------------------------------------------------------------


@dataclass
class Setup:
    device: ContractDevice
    port: int
    ip: str

    def argv(self, *extra: str) -> list[str]:
        return [*extra, "/port", str(self.port), "/bcast", BROADCAST]


def start_device(ports: Ports, dump: bytes = b"") -> Setup:
    port = ports.udp()
    ip = free_loopback_ip(port)
    device = ContractDevice(port, ip, dump)
    device.start()
    return Setup(device, port, ip)


@pytest.fixture
def setup(ports: Ports) -> Iterator[Setup]:
    made = start_device(ports)
    try:
        yield made
    finally:
        made.device.stop()


# -- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [3000, 3 * BLOCK], ids=["partial-last-block", "empty-last-block"])
def test_setip_cfg_uploads_the_file_then_resets(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str], size: int
) -> None:
    text = config_lines("param", 200)[:size]
    assert len(text) == size
    cfg = tmp_path / "new.txt"
    cfg.write_bytes(text)

    status = main(setup.argv("/gwtype", "6000", "/i", setup.ip, "/setip", "/cfg", str(cfg)))

    out = capsys.readouterr().out
    assert status == 0, out
    entries = setup.device.entries()
    kinds = [e.kind if isinstance(e, Transfer) else e[0] for e in entries]
    assert kinds == ["discover", "setip", "wrq", "reset"], entries
    assert ("setip", setup.ip) in entries
    (upload,) = setup.device.transfers()
    assert upload.name == "config"
    assert upload.mode == "octet"
    assert upload.complete
    assert upload.data == text
    assert f"has {setup.ip}" in out
    assert "done:" in out


def test_fallback_to_plain_rfc1350_when_options_are_ignored(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gwload asks for blksize/windowsize; ACK 0 instead of OACK means 512 bytes, lock-step."""
    text = config_lines("fallback", 300)  # about 10 KiB: 20-odd blocks
    cfg = tmp_path / "big.txt"
    cfg.write_bytes(text)

    status = main(setup.argv("/gwtype", "6000", "/i", setup.ip, "/setip", "/cfg", str(cfg)))

    out = capsys.readouterr().out
    assert status == 0, out
    (upload,) = setup.device.transfers()
    # What gwload asked for (contract section 4: RFC 2347/2348/2349/7440 options) ...
    assert "blksize" in upload.options
    assert "windowsize" in upload.options
    assert upload.options.get("tsize") == str(len(text))
    # ... and what it did when the device answered as plain RFC 1350.
    assert upload.data == text
    assert all(size == BLOCK for size in upload.blocks[:-1])
    assert upload.blocks[-1] < BLOCK
    assert len(upload.blocks) == len(text) // BLOCK + 1
    assert upload.early == 0, "gwload sent DATA before the previous block's ACK"
    assert "plain RFC 1350" in out


@pytest.mark.parametrize("pad", [0, 1], ids=["dump-multiple-of-512", "dump-odd-size"])
def test_getcfg_writes_the_newest_generation_and_the_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pad: int, ports: Ports
) -> None:
    older = config_lines("old", 20)
    newer = config_lines("new", 25)
    # Config text only, oldest first: the generation starts where M0 comes again.
    filler = b"config change PAD /pad " + b"p" * ((-len(older + newer) - 25) % BLOCK) + b"\r\n"
    older += filler + b"# x\r\n"[: 5 * pad]
    dump = older + newer
    assert (len(dump) % BLOCK == 0) == (pad == 0)
    made = start_device(ports, dump)
    try:
        out_path = tmp_path / "cfg.txt"
        status = main(
            made.argv("/gwtype", "6000", "/i", made.ip, "/setip", "/getcfg", str(out_path))
        )
        out = capsys.readouterr().out
        assert status == 0, out
        (read,) = made.device.transfers()
        assert (read.kind, read.name, read.complete) == ("rrq", "config", True)
        assert "blksize" in read.options  # asked for, not granted
        assert read.blocks[-1] == (0 if pad == 0 else len(dump) % BLOCK)
        assert (tmp_path / "cfg.txt.dump").read_bytes() == dump
        assert out_path.read_bytes() == newer
        first = len(older.splitlines()) + 1
        assert f"2 generation(s); the newest (from line {first})" in out
        # Reading is not an upload: no RESET.
        assert [e[0] for e in made.device.entries() if not isinstance(e, Transfer)] == [
            "discover",
            "setip",
        ]
    finally:
        made.device.stop()


def test_no_device_exits_2(capsys: pytest.CaptureFixture[str], ports: Ports) -> None:
    port = ports.udp()  # nobody listens on it
    ip = free_loopback_ip(port)
    argv = ["/gwtype", "6000", "/i", ip, "/setip", "/tries", "2", "/timeout", "0.2"]
    status = main([*argv, "/port", str(port), "/bcast", BROADCAST])
    out = capsys.readouterr().out
    assert status == 2, out
    assert "no device" in out


def test_wrong_gwtype_with_mac_gets_nak_1_exit_4(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = setup.argv("/gwtype", "800", "/mac", MAC_TEXT, "/i", setup.ip, "/setip")
    status = main([*argv, "/tries", "2", "/timeout", "0.2"])
    out = capsys.readouterr().out
    assert status == 4, out
    assert "wrong gwtype 800: this is an IP6000, gwtype 6000" in out
    assert setup.device.entries() == [("nak", "wrong gwtype 800: this is an IP6000, gwtype 6000")]
    assert setup.device.ip is None  # refused: nothing changed

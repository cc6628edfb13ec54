"""TFTP mode: the gwload responder and the TFTP file table (gwload-protocol.md 2-4).

In TFTP mode the device has no address: it hears the limited broadcast on its
control port and answers by limited broadcast from ``0.0.0.0``. ``SETIP`` gives
it an address; from then on it answers from that address, accepts unicast, and
serves TFTP: ``RRQ config`` (or ``c``) returns the config ring dump, ``WRQ``
of the config stores a new generation, ``WRQ prot|boot|altboot`` uploads an
image that is checked completely before anything is erased. A firmware image
(``prot``) is checked against the firmware pool's fit rule
(:meth:`~ipgwsim.flash.flashman.FlashMan.check_firmware`) as soon as its size is
known: from ``tsize``, from its header, and once more when it is complete. The boot code
(:class:`~ipgwsim.boot.bootcode.BootCode`) drains :attr:`TftpMode.requests` for
what only it may do: start the firmware, restart, program an image.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from ipaddress import IPv4Address

from ipgwsim.boot.checks import bad_address, not_config_text
from ipgwsim.events import (
    AddressAssigned,
    AddressReleased,
    ConsoleOutput,
    Event,
    FlashChanged,
    PortClosed,
    PortOpened,
)
from ipgwsim.flash.bootslots import slot_size
from ipgwsim.flash.dumptext import several_generations
from ipgwsim.flash.errors import NO_SPACE_EVENT, NoSpace
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import (
    ImageError,
    ImageInfo,
    ImageKind,
    SlotStatus,
    Truncated,
    parse_header,
    verify_image,
)
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing, ConfigTextError, check_config_text
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, UNSPECIFIED, Address, Datagram
from ipgwsim.proto.tftp import (
    SEND_AGAIN,
    Error,
    ErrorCode,
    MalformedPacket,
    OptionPolicy,
    Progress,
    ReadRequest,
    ServerRead,
    ServerWrite,
    TimerPolicy,
    TransferComplete,
    TransferFailed,
    UploadComplete,
    WriteRequest,
    encode_packet,
    option_number,
    parse_packet,
)

#: Says why an address cannot be taken (``None``: it can). The runtime passes one
#: in: on loopback only 127.0.0.0/8 addresses no other device has.
AddressPolicy = Callable[[IPv4Address], "str | None"]
#: Whether the network can open a transfer port at an address now. The runtime passes one
#: in on loopback, where other programs of the host may hold ports of the device's address.
PortPolicy = Callable[[Address], bool]

#: The transfer ports a device picks for its TFTP transfers (RFC 1350 TIDs).
TID_RANGE = (49152, 65535)
#: Transfer ports that could not be opened are not picked again (up to this many).
MAX_FAILED_PORTS = 1024
#: Transfers a device runs at once (DECISION: boot code serves one or a few at a time;
#: more would let a flood of requests that are never acknowledged take every port).
MAX_TRANSFERS = 8
#: Running transfers one client address may have at once (DECISION, as above).
MAX_TRANSFERS_PER_CLIENT = 2
#: Transfers a device keeps open, dallying ones included: past it the oldest dallying one
#: ends early (it only waits to answer a lost last ACK again), so ports stay bounded.
MAX_OPEN_TRANSFERS = 64
#: Device seconds after which a running transfer whose client has sent nothing on it (its
#: first answer is due for a retransmission) may be ended to serve a new request when the
#: device or that client is at its limit; the oldest such one goes first. DECISION: a real
#: client answers within a round trip, the requests of a flood never; so a flood takes the
#: places of its own earlier requests, not those of the clients that answer.
UNANSWERED_GRACE = 1.0
#: Client addresses remembered as having answered a transfer (the newest ones). DECISION:
#: a request from one of them may end an unanswered transfer at once, without the grace,
#: as a device prefers the clients it has worked with to strangers under a flood.
KNOWN_CLIENTS = 256
#: Random picks of a transfer port before the range is searched in order.
PORT_PICKS = 64


@dataclass(frozen=True)
class RunningBoot:
    """Which boot code runs: its build, and whether it is the rescue copy."""

    build: int
    rescue: bool = False


@dataclass(frozen=True)
class StartRequested:
    """gwload GO was acknowledged: start the firmware."""


@dataclass(frozen=True)
class RestartRequested:
    """gwload RESET was acknowledged: restart."""


@dataclass(frozen=True)
class ImageUploaded:
    """An image arrived and passed every check; the boot code programs it."""

    kind: ImageKind
    region: str
    data: bytes
    info: ImageInfo


Request = StartRequested | RestartRequested | ImageUploaded


@dataclass(frozen=True)
class _Slot:
    """Where an uploaded file name goes."""

    region: str
    kinds: tuple[ImageKind, ...]


class Refusal(Exception):
    """A request or upload the device refuses, with the TFTP error to send."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Transfer:
    local: Address
    peer: Address
    name: str
    engine: ServerRead | ServerWrite
    #: Device time of the request.
    opened: float
    header_checked: bool = False
    #: The last block is confirmed; only dallying is left (not busy any more).
    complete: bool = False
    #: The client has sent something on the transfer port.
    answered: bool = False

    @property
    def running(self) -> bool:
        return not self.complete and not self.engine.finished


class TftpMode:
    """The boot code's TFTP mode for one device (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        *,
        mac: bytes,
        port: int,
        rng: random.Random,
        boot: RunningBoot,
        partitions: PartitionTable,
        firmware: SlotStatus,
        state: gwload.DeviceState,
        address_policy: AddressPolicy | None = None,
        port_policy: PortPolicy | None = None,
        timers: TimerPolicy | None = None,
    ) -> None:
        self.profile = profile
        self.mac = mac
        self.port = port
        self.rng = rng
        self.boot = boot
        self.partitions = partitions
        #: What the boot code found in the firmware region (HELLO, GO).
        self.firmware = firmware
        self.state = state
        self.address_policy = address_policy
        self.port_policy = port_policy
        self.options = OptionPolicy(supported=frozenset(profile.boot.tftp_options))
        self.timers = timers if timers is not None else TimerPolicy()
        #: Set by the boot code while it programs flash: everything new is refused.
        self.busy: str | None = None
        self.ip: IPv4Address | None = None
        self.mask = IPv4Address("0.0.0.0")
        self.gateway = IPv4Address("0.0.0.0")
        self._last_setip: tuple[Address, gwload.SetIp] | None = None
        self._transfers: dict[Address, _Transfer] = {}
        #: Addresses of clients that answered a transfer, the newest last.
        self._known: dict[str, None] = {}
        #: Transfer ports the network could not open (not picked again).
        self._failed_ports: set[int] = set()
        self._ring: ConfigRing | None = None
        self.outgoing: list[Datagram] = []
        self.events: list[Event] = []
        self.requests: list[Request] = []

    # -- life ----------------------------------------------------------------

    def start(self) -> None:
        self._open((LIMITED_BROADCAST, self.port))

    def stop(self) -> None:
        """Leave TFTP mode: drop transfers, the address and every port."""
        for local in list(self._transfers):
            self._close_transfer(local)
        if self.ip is not None:
            self._set_address(None)
        self.events.append(PortClosed((LIMITED_BROADCAST, self.port)))

    def _open(self, address: Address) -> None:
        self.events.append(PortOpened(address))

    def _print(self, line: str) -> None:
        self.events.append(ConsoleOutput(line))

    @property
    def transfers_running(self) -> int:
        return len(self._transfers)

    def accepts(self, dst: Address) -> bool:
        if dst == (LIMITED_BROADCAST, self.port):
            return True
        if self.ip is None or dst[0] != str(self.ip):
            return False
        return dst[1] == self.port or dst in self._transfers

    def flashman(self) -> FlashMan:
        """The firmware pool, read afresh (the boot code may have programmed in between)."""
        return FlashMan(self.partitions)

    @property
    def ring(self) -> ConfigRing:
        if self._ring is None:
            self._ring = ConfigRing(self.partitions["config"])
        return self._ring

    # -- input -----------------------------------------------------------------

    def receive(self, datagram: Datagram, now: float) -> None:
        if datagram.dst in self._transfers and datagram.dst[1] != self.port:
            transfer = self._transfers[datagram.dst]
            if datagram.src == transfer.peer:
                self._answered(transfer)
            self._pump(transfer, datagram, now)
            return
        if datagram.dst[1] != self.port:
            return
        data = datagram.data
        if gwload.is_gwload(data):
            self._control(datagram)
        elif datagram.is_broadcast or self.ip is None:
            return  # TFTP is unicast only, and needs an address
        else:
            self._request(datagram, now)

    def get_timer(self) -> float | None:
        deadlines = [t.engine.get_timer() for t in self._transfers.values()]
        pending = [d for d in deadlines if d is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        for transfer in list(self._transfers.values()):
            deadline = transfer.engine.get_timer()
            if deadline is not None and deadline <= now:
                transfer.engine.handle_timer(now)
                self._drain(transfer, now)

    # -- gwload control messages --------------------------------------------

    def _reply(self, message: gwload.Message, to: Address) -> None:
        data = gwload.encode_message(message)
        if self.ip is None:
            self.outgoing.append(
                Datagram(data, (UNSPECIFIED, self.port), (LIMITED_BROADCAST, to[1]))
            )
        else:
            self.outgoing.append(Datagram(data, (str(self.ip), self.port), to))

    def _control(self, datagram: Datagram) -> None:
        target = datagram.data[8:14]
        if len(target) == 6 and target not in (gwload.ANY_MAC, self.mac):
            return  # for another device: not even parsed (a fleet hears every broadcast)
        try:
            message = gwload.parse_message(datagram.data)
        except gwload.MalformedMessage as exc:
            # Garbage changes nothing; a unicast one learns why (as a TFTP server would say).
            if not datagram.is_broadcast and self.ip is not None:
                self._tftp_error(datagram.src, ErrorCode.ILLEGAL_OPERATION, str(exc))
            return
        if message.mac not in (gwload.ANY_MAC, self.mac):
            return
        if message.gwtype not in (gwload.ANY_GWTYPE, self.profile.gwtype):
            if message.mac == self.mac:
                self._reply(
                    gwload.Nak(
                        message.xid,
                        self.mac,
                        self.profile.gwtype,
                        code=gwload.NakCode.WRONG_GWTYPE,
                        text=f"this device is an {self.profile.model}, "
                        f"gwtype {self.profile.gwtype}, not {message.gwtype}",
                    ),
                    datagram.src,
                )
            return
        if isinstance(message, gwload.Discover):
            self._reply(self._hello(message.xid), datagram.src)
        elif isinstance(message, gwload.SetIp):
            self._setip(message, datagram.src)
        elif isinstance(message, gwload.Go):
            self._go_or_reset(message, datagram.src, StartRequested())
        elif isinstance(message, gwload.Reset):
            self._go_or_reset(message, datagram.src, RestartRequested())
        # HELLO, ACK and NAK are the device's own words: a device ignores them.

    def _hello(self, xid: int) -> gwload.Hello:
        info = self.firmware.info if self.firmware.valid else None
        return gwload.Hello(
            xid,
            self.mac,
            self.profile.gwtype,
            ip=self.ip if self.ip is not None else IPv4Address(UNSPECIFIED),
            mask=self.mask,
            state=self.state,
            boot_build=self.boot.build,
            model=self.profile.model,
            firmware_build=info.build if info is not None else "",
            config_name=self.profile.boot.tftp_config_name,
        )

    def _nak(self, xid: int, code: gwload.NakCode, text: str, to: Address) -> None:
        self._reply(gwload.Nak(xid, self.mac, self.profile.gwtype, code=code, text=text), to)

    def _busy_reason(self) -> str | None:
        if self.busy is not None:
            return self.busy
        running = [t for t in self._transfers.values() if not t.complete]
        if running:
            return f"busy: a transfer is running ({running[0].name})"
        return None

    def _setip(self, message: gwload.SetIp, src: Address) -> None:
        if self._last_setip == (src, message):
            self._reply(self._hello(message.xid), src)  # a repeat: answer again, change nothing
            return
        busy = self._busy_reason()
        if busy is not None:
            self._nak(message.xid, gwload.NakCode.BUSY, busy, src)
            return
        problem = bad_address(message.ip, message.mask)
        if problem is None and self.address_policy is not None and message.ip != self.ip:
            problem = self.address_policy(message.ip)
        if problem is not None:
            self._nak(message.xid, gwload.NakCode.BAD_ADDRESS, problem, src)
            return
        self.mask, self.gateway = message.mask, message.gateway
        self._set_address(message.ip)
        self._last_setip = (src, message)
        self._print(f"gwload: address {message.ip} mask {message.mask} from {src[0]}")
        self._reply(self._hello(message.xid), src)

    def _set_address(self, ip: IPv4Address | None) -> None:
        if ip == self.ip:
            return
        if self.ip is not None:
            self.events.append(PortClosed((str(self.ip), self.port)))
            self.events.append(AddressReleased(str(self.ip)))
        self.ip = ip
        if ip is not None:
            self.events.append(AddressAssigned(str(ip), str(self.mask), str(self.gateway)))
            self._open((str(ip), self.port))

    def _go_or_reset(
        self, message: gwload.Go | gwload.Reset, src: Address, request: Request
    ) -> None:
        busy = self._busy_reason()
        if busy is not None:
            self._nak(message.xid, gwload.NakCode.BUSY, busy, src)
            return
        if isinstance(request, StartRequested) and not self.firmware.valid:
            text = f"no valid firmware to start: {self.firmware.problem}"
            self._nak(message.xid, gwload.NakCode.NOTHING_TO_START, text, src)
            return
        opcode = gwload.Opcode.GO if isinstance(request, StartRequested) else gwload.Opcode.RESET
        self._reply(gwload.Ack(message.xid, self.mac, self.profile.gwtype, acked=opcode), src)
        self.requests.append(request)

    # -- TFTP requests -------------------------------------------------------------

    def _tftp_error(self, to: Address, code: ErrorCode, message: str) -> None:
        src = (str(self.ip) if self.ip is not None else UNSPECIFIED, self.port)
        self.outgoing.append(Datagram(encode_packet(Error(code, message)), src, to))

    def _request(self, datagram: Datagram, now: float) -> None:
        try:
            packet = parse_packet(datagram.data)
        except MalformedPacket as exc:
            self._tftp_error(datagram.src, ErrorCode.ILLEGAL_OPERATION, str(exc))
            return
        if isinstance(packet, Error):
            return  # an ERROR is never answered (RFC 1350): no ping-pong between devices
        if not isinstance(packet, ReadRequest | WriteRequest):
            # DATA, ACK, ... to the control port belong to no transfer.
            self._tftp_error(datagram.src, ErrorCode.UNKNOWN_TID, "unknown transfer ID")
            return
        verb = "RRQ" if isinstance(packet, ReadRequest) else "WRQ"
        running = self._transfer_for(packet, datagram.src)
        if running is not None:
            # The same request again from the same sender: it missed the first answer
            # (which is sent again), or the network repeated it (nothing happens).
            if running.engine.request_again(now):
                self._print(
                    f"tftp: {verb} {packet.filename} from {datagram.src[0]} again: answered again"
                )
                self._drain(running, now)
            return
        try:
            transfer = self._open_transfer(packet, datagram.src, now)
        except Refusal as refusal:
            self._print(f"tftp: {verb} {packet.filename} from {datagram.src[0]} refused: {refusal}")
            self._tftp_error(datagram.src, refusal.code, str(refusal))
            return
        self._drain(transfer, now)

    def _transfer_for(self, packet: ReadRequest | WriteRequest, peer: Address) -> _Transfer | None:
        """The running transfer that ``packet`` from ``peer`` started, if it is a repeat."""
        for transfer in self._transfers.values():
            if transfer.peer == peer and transfer.running and transfer.engine.request == packet:
                return transfer
        return None

    def _port_free(self, port: int) -> bool:
        assert self.ip is not None
        address = (str(self.ip), port)
        return (
            address not in self._transfers
            and port != self.port
            and port not in self._failed_ports
            and (self.port_policy is None or self.port_policy(address))
        )

    def _pick_port(self) -> int:
        """A random free transfer port; after :data:`PORT_PICKS` misses the range is searched
        in order from a random start, so the search always ends."""
        low, high = TID_RANGE
        for _ in range(PORT_PICKS):
            port = self.rng.randint(low, high)
            if self._port_free(port):
                return port
        span = high - low + 1
        start = self.rng.randrange(span)
        for offset in range(span):
            port = low + (start + offset) % span
            if self._port_free(port):
                return port
        raise Refusal(ErrorCode.NOT_DEFINED, "busy: no transfer port is free; try again later")

    def _check_capacity(self, peer: Address, now: float, *, upload: bool) -> None:
        """Refuse a transfer past :data:`MAX_TRANSFERS` or :data:`MAX_TRANSFERS_PER_CLIENT`
        running ones (or a second upload), unless an unanswered one can make room
        (:data:`UNANSWERED_GRACE`); end the oldest dallying ones past
        :data:`MAX_OPEN_TRANSFERS`."""
        running = [t for t in self._transfers.values() if t.running]
        if len(running) >= MAX_TRANSFERS and not self._make_room(running, peer, now):
            raise Refusal(
                ErrorCode.NOT_DEFINED,
                f"busy: {len(running)} transfers are running, the most this device serves "
                "at once; try again when one has ended",
            )
        mine = [t for t in self._transfers.values() if t.running and t.peer[0] == peer[0]]
        if len(mine) >= MAX_TRANSFERS_PER_CLIENT and not self._make_room(mine, peer, now):
            raise Refusal(
                ErrorCode.NOT_DEFINED,
                f"busy: {peer[0]} has {len(mine)} transfers running, the most one client may "
                "have at once; finish one first",
            )
        uploads = [
            t for t in self._transfers.values() if t.running and isinstance(t.engine, ServerWrite)
        ]
        if upload and uploads and not self._make_room(uploads, peer, now):
            raise Refusal(ErrorCode.NOT_DEFINED, "busy: another upload is running")
        done = [local for local, t in self._transfers.items() if not t.running]
        for local in done[: max(0, len(self._transfers) - MAX_OPEN_TRANSFERS + 1)]:
            self._close_transfer(local)  # the oldest first: dicts keep their order

    def _answered(self, transfer: _Transfer) -> None:
        transfer.answered = True
        client = transfer.peer[0]
        self._known.pop(client, None)
        self._known[client] = None
        if len(self._known) > KNOWN_CLIENTS:
            del self._known[next(iter(self._known))]

    def _make_room(self, transfers: list[_Transfer], peer: Address, now: float) -> bool:
        """End the oldest of ``transfers`` whose client has not answered for
        :data:`UNANSWERED_GRACE` (at once for a request of a :data:`KNOWN_CLIENTS` one);
        whether there was one. Its client is told, from the transfer's port, to send its
        request again."""
        grace = 0.0 if peer[0] in self._known else UNANSWERED_GRACE
        for transfer in transfers:  # the oldest first: dicts keep their order
            waited = now - transfer.opened
            if transfer.answered or waited < grace:
                continue
            reason = (
                f"busy: no answer for {waited:.3g} s, so this transfer made room for another "
                "request; send the request again"
            )
            self._print(f"tftp: {transfer.name} with {transfer.peer[0]} ended: {reason}")
            error = Datagram(
                encode_packet(Error(ErrorCode.NOT_DEFINED, reason)), transfer.local, transfer.peer
            )
            self.outgoing.append(error)
            self._close_transfer(transfer.local)
            return True
        return False

    def port_failed(self, address: Address, reason: str, now: float) -> None:
        """The transfer port ``address`` could not be opened: end that transfer now.

        The client gets a TFTP ERROR (code 0, saying why and to send the request again)
        from the port its request came to, since the transfer port does not exist; the
        port is not picked again while in TFTP mode. So a retry gets a new port at once
        instead of "busy: another upload is running" while a transfer that cannot run
        waits for its timeouts (DECISION: the vendor documents no such case).
        """
        transfer = self._transfers.get(address)
        if transfer is None:
            return
        self._failed_ports.add(address[1])
        if len(self._failed_ports) > MAX_FAILED_PORTS:
            self._failed_ports = {address[1]}
        self.outgoing = [d for d in self.outgoing if d.src != address]
        text = f"transfer port {address[1]} cannot be opened ({reason}); {SEND_AGAIN}"
        self._print(f"tftp: {transfer.name} with {transfer.peer[0]} ended: {text}")
        self._tftp_error(transfer.peer, ErrorCode.NOT_DEFINED, text)
        self._close_transfer(address)

    def _open_transfer(
        self, packet: ReadRequest | WriteRequest, peer: Address, now: float
    ) -> _Transfer:
        name = packet.filename
        if "/" in name or "\\" in name:
            raise Refusal(ErrorCode.ACCESS_VIOLATION, f"no paths here: {name!r}")
        if self.busy is not None:
            raise Refusal(ErrorCode.NOT_DEFINED, f"busy: {self.busy}")
        self._check_capacity(peer, now, upload=isinstance(packet, WriteRequest))
        config_name = self.profile.boot.tftp_config_name
        engine: ServerRead | ServerWrite
        if isinstance(packet, ReadRequest):
            if name != config_name:
                raise Refusal(ErrorCode.FILE_NOT_FOUND, self._not_found(name, reading=True))
            self._check_recovery()
            dump = self.ring.dump()
            engine = ServerRead(packet, peer, dump, now, policy=self.options, timers=self.timers)
            self._print(f"tftp: RRQ {name} from {peer[0]}: config ring dump, {len(dump)} bytes")
        else:
            max_size, too_large = self._upload_limit(name, packet)
            engine = ServerWrite(
                packet,
                peer,
                now,
                policy=self.options,
                timers=self.timers,
                max_size=max_size,
                too_large=too_large,
            )
            self._print(f"tftp: WRQ {name} from {peer[0]}")
        assert self.ip is not None
        local = (str(self.ip), self._pick_port())
        transfer = _Transfer(local, peer, name, engine, now)
        self._transfers[local] = transfer
        self._open(local)
        return transfer

    def _not_found(self, name: str, *, reading: bool) -> str:
        if reading and name in self._slots():
            return f"file not found: {name!r} can only be written"
        return f"file not found: {name!r}"

    def _check_recovery(self) -> None:
        needed = self.profile.boot.min_recovery_build
        if needed is not None and self.boot.build < needed:
            raise Refusal(
                ErrorCode.ILLEGAL_OPERATION,
                f"not supported by this boot code: build {self.boot.build}, "
                f"config recovery needs {needed}",
            )

    def _slots(self) -> dict[str, _Slot]:
        slots = {
            "prot": _Slot("prot", (ImageKind.FIRMWARE,)),
            "boot": _Slot("boot", (ImageKind.BOOT,)),
        }
        if "altboot" in self.partitions:
            slots["altboot"] = _Slot("altboot", (ImageKind.BOOT, ImageKind.RESCUE_BOOT))
        return slots

    def _upload_limit(self, name: str, packet: WriteRequest) -> tuple[int, str]:
        config_name = self.profile.boot.tftp_config_name
        if name == config_name:
            self._check_recovery()
            return (
                self.ring.max_text,
                f"config is larger than the ring takes ({self.ring.max_text} bytes)",
            )
        if name == "altboot":
            self._check_altboot()
        slot = self._slots().get(name)
        if slot is None:
            raise Refusal(ErrorCode.FILE_NOT_FOUND, self._not_found(name, reading=False))
        size = self._region_size(slot.region)
        where = self._region_name(slot.region)
        too_large = f"{NO_SPACE_EVENT}: image is larger than the {where} region ({size} bytes)"
        tsize = option_number(packet.options.get("tsize", ""))
        if tsize is not None and tsize > size:
            raise Refusal(
                ErrorCode.DISK_FULL,
                f"{NO_SPACE_EVENT}: image of {tsize} bytes is larger than the "
                f"{where} region ({size} bytes)",
            )
        if tsize is not None and slot.region == "prot":
            try:
                self.flashman().check_firmware(tsize)
            except NoSpace as exc:
                raise Refusal(ErrorCode.DISK_FULL, str(exc)) from None
        return size, too_large

    def _region_size(self, region: str) -> int:
        """The largest image the region takes (a boot code slot is half the boot region).

        A firmware image may continue from ``prot`` into ``flashdir`` (the firmware
        pool): its bound is the window over both; whether it fits is the fit rule's
        decision (with the reason), checked on top.
        """
        if region == "prot":
            return self.flashman().firmware_window().size
        partition = self.partitions[region]
        return slot_size(partition) if region == "boot" else partition.size

    def _region_name(self, region: str) -> str:
        """The region's name in messages (``prot+flashdir`` for the firmware pool)."""
        return self.flashman().firmware_window().name if region == "prot" else region

    def _check_altboot(self) -> None:
        rescue_from = self.profile.boot.rescue_from_build
        if not self.profile.boot.rescue_copy or rescue_from is None:
            raise Refusal(
                ErrorCode.ILLEGAL_OPERATION,
                f"not supported by this boot code: the {self.profile.model} has no rescue copy",
            )
        if self.boot.build < rescue_from:
            raise Refusal(
                ErrorCode.ILLEGAL_OPERATION,
                f"not supported by this boot code: build {self.boot.build} does not know "
                f"altboot (needs {rescue_from} or later)",
            )
        if self.boot.rescue:
            raise Refusal(
                ErrorCode.ACCESS_VIOLATION,
                "the rescue copy of the boot code cannot overwrite itself: load boot first",
            )

    # -- transfers -------------------------------------------------------------------

    def _pump(self, transfer: _Transfer, datagram: Datagram, now: float) -> None:
        transfer.engine.receive_datagram(datagram, now)
        self._drain(transfer, now)

    def _drain(self, transfer: _Transfer, now: float) -> None:
        engine = transfer.engine
        while (event := engine.next_event()) is not None:
            if engine.finished and not isinstance(event, TransferFailed | TransferComplete):
                continue  # refused while earlier events were still queued
            if isinstance(event, Progress) and isinstance(engine, ServerWrite):
                self._check_header(transfer, engine, now)
            elif isinstance(event, UploadComplete) and isinstance(engine, ServerWrite):
                self._complete_upload(transfer, engine, event.data, now)
            elif isinstance(event, TransferComplete):
                transfer.complete = True
                if isinstance(engine, ServerRead):
                    self._print(f"tftp: RRQ {transfer.name} to {transfer.peer[0]} done")
            elif isinstance(event, TransferFailed):
                self._print(f"tftp: {transfer.name} with {transfer.peer[0]} failed: {event.reason}")
        for data, to in engine.datagrams_to_send():
            self.outgoing.append(Datagram(data, transfer.local, to))
        if engine.finished:
            self._close_transfer(transfer.local)

    def _close_transfer(self, local: Address) -> None:
        del self._transfers[local]
        self.events.append(PortClosed(local))

    def _check_header(self, transfer: _Transfer, engine: ServerWrite, now: float) -> None:
        """Refuse an image by its header as soon as the header is in: before any erase."""
        slot = self._slots().get(transfer.name)
        if slot is None or transfer.header_checked or len(engine.received) < IMAGE_HEADER_SIZE:
            return
        transfer.header_checked = True
        try:
            info = parse_header(engine.received[:IMAGE_HEADER_SIZE])
            # Truncated is the normal case: the header is fine and the rest is on its way.
            with suppress(Truncated):
                verify_image(
                    engine.received[:IMAGE_HEADER_SIZE],
                    model=self.profile.model,
                    kinds=slot.kinds,
                    region_size=self._region_size(slot.region),
                    region_name=self._region_name(slot.region),
                )
            if slot.region == "prot":
                self.flashman().check_firmware(info.total_length)
        except NoSpace as exc:
            self._refuse(transfer, engine, ErrorCode.DISK_FULL, str(exc), now)
        except ImageError as exc:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, str(exc), now)
        else:
            self._print(f"tftp: {transfer.name}: {info.kind.label} {info.build} for {info.model}")

    def _refuse(
        self, transfer: _Transfer, engine: ServerWrite, code: ErrorCode, text: str, now: float
    ) -> None:
        self._print(f"tftp: WRQ {transfer.name} refused: {text}")
        engine.refuse(code, text, now)

    def _complete_upload(
        self, transfer: _Transfer, engine: ServerWrite, data: bytes, now: float
    ) -> None:
        if transfer.name == self.profile.boot.tftp_config_name:
            self._store_config(transfer, engine, data, now)
            return
        slot = self._slots()[transfer.name]
        try:
            if slot.region == "prot":
                # The same checks as FlashMan.store_firmware: image, then the fit rule.
                info = self.flashman().verify_firmware(data, boot_build=self.boot.build)
            else:
                info = verify_image(
                    data,
                    model=self.profile.model,
                    kinds=slot.kinds,
                    region_size=self._region_size(slot.region),
                    region_name=slot.region,
                )
        except NoSpace as exc:
            self._refuse(transfer, engine, ErrorCode.DISK_FULL, str(exc), now)
            return
        except ImageError as exc:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, str(exc), now)
            return
        engine.accept(now)
        self._print(f"tftp: {transfer.name}: {len(data)} bytes received, image verified")
        self.requests.append(ImageUploaded(info.kind, slot.region, data, info))

    def _store_config(
        self, transfer: _Transfer, engine: ServerWrite, data: bytes, now: float
    ) -> None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._refuse(
                transfer,
                engine,
                ErrorCode.NOT_DEFINED,
                f"config is not text: byte {data[exc.start]:#04x} at offset {exc.start}",
                now,
            )
            return
        problem = not_config_text(text) or several_generations(data)
        if problem is not None:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, problem, now)
            return
        try:
            check_config_text(text)
            generation = self.ring.write(text)  # PowerLost goes up: the device is off
        except ConfigTextError as exc:
            self._refuse(transfer, engine, ErrorCode.NOT_DEFINED, f"config refused: {exc}", now)
            return
        except NoSpace as exc:
            self._refuse(transfer, engine, ErrorCode.DISK_FULL, str(exc), now)
            return
        engine.accept(now)
        self.events.append(FlashChanged("config"))
        self._print(f"tftp: config stored as generation {generation.number} ({len(data)} bytes)")

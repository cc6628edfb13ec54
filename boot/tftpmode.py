"""TFTP mode: what the boot code does while it does not start the firmware.

It answers gwload (:mod:`~ipgwsim.boot.gwloadresponder`, gwload-protocol.md 2-3) and,
once ``SETIP`` gave it an address, serves TFTP (section 4): the names of the file table
(:mod:`~ipgwsim.boot.filetable`), each request on a transfer port of its own
(:mod:`~ipgwsim.boot.transfers`), uploads checked completely before anything is erased
(:mod:`~ipgwsim.boot.uploads`). The boot code
(:class:`~ipgwsim.boot.bootcode.BootCode`) drains :attr:`TftpMode.requests` for what
only it may do: start the firmware, restart, program an image
(:mod:`~ipgwsim.boot.requests`).
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

from ipgwsim.boot.filetable import FileTable
from ipgwsim.boot.gwloadresponder import GwloadResponder
from ipgwsim.boot.requests import AddressPolicy, PortPolicy, Refusal, Request, RunningBoot
from ipgwsim.boot.transfers import Transfer, Transfers
from ipgwsim.boot.uploads import Uploads
from ipgwsim.events import ConsoleOutput, Event, PortClosed, PortOpened
from ipgwsim.flash.flashman import FlashMan
from ipgwsim.flash.image import SlotStatus
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, Address, Datagram
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
    parse_packet,
)

__all__ = ["AddressPolicy", "FastReplies", "PortPolicy", "RunningBoot", "TftpMode"]

#: What a transfer's DATA or ACK led to on the per-datagram path
#: (:meth:`TftpMode.receive_fast`): the datagrams to send from the transfer's port, as
#: ``(payload, destination)`` in order, and the transfer's deadline after it.
FastReplies = tuple[list[tuple[bytes, Address]], float | None]


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
        self.boot = boot
        self.partitions = partitions
        self.options = OptionPolicy(supported=frozenset(profile.boot.tftp_options))
        self.timers = timers if timers is not None else TimerPolicy()
        #: Set by the boot code while it programs flash: everything new is refused.
        self.busy: str | None = None
        self.outgoing: list[Datagram] = []
        self.events: list[Event] = []
        self.requests: list[Request] = []
        self.gwload = GwloadResponder(
            profile,
            mac=mac,
            port=port,
            boot=boot,
            firmware=firmware,
            state=state,
            address_policy=address_policy,
            busy=self._busy_reason,
            events=self.events,
            outgoing=self.outgoing,
            requests=self.requests,
        )
        self.transfers = Transfers(
            port=port,
            rng=rng,
            port_policy=port_policy,
            events=self.events,
            outgoing=self.outgoing,
        )
        self.files = FileTable(profile, boot, partitions)
        self.uploads = Uploads(self.files, self.events, self.requests)

    # -- what the boot code reads and sets -------------------------------------------

    @property
    def ip(self) -> IPv4Address | None:
        return self.gwload.ip

    @property
    def firmware(self) -> SlotStatus:
        """What the boot code found in the firmware region (HELLO, GO)."""
        return self.gwload.firmware

    @firmware.setter
    def firmware(self, status: SlotStatus) -> None:
        self.gwload.firmware = status

    @property
    def state(self) -> gwload.DeviceState:
        return self.gwload.state

    @state.setter
    def state(self, state: gwload.DeviceState) -> None:
        self.gwload.state = state

    @property
    def transfers_running(self) -> int:
        return len(self.transfers)

    def flashman(self) -> FlashMan:
        """The firmware pool, read afresh (the boot code may have programmed in between)."""
        return self.files.flashman()

    @property
    def ring(self) -> ConfigRing:
        return self.files.ring

    # -- life ----------------------------------------------------------------

    def start(self) -> None:
        self.events.append(PortOpened((LIMITED_BROADCAST, self.port)))

    def stop(self) -> None:
        """Leave TFTP mode: drop transfers, the address and every port."""
        self.transfers.close_all()
        if self.ip is not None:
            self.gwload.set_address(None)
        self.events.append(PortClosed((LIMITED_BROADCAST, self.port)))

    def _print(self, line: str) -> None:
        self.events.append(ConsoleOutput(line))

    def accepts(self, dst: Address) -> bool:
        if dst == (LIMITED_BROADCAST, self.port):
            return True
        if self.ip is None or dst[0] != str(self.ip):
            return False
        return dst[1] == self.port or dst in self.transfers

    def _busy_reason(self) -> str | None:
        if self.busy is not None:
            return self.busy
        return self.transfers.busy_reason()

    # -- the node protocol ---------------------------------------------------------

    def next_event(self) -> Event | None:
        return self.events.pop(0) if self.events else None

    def datagrams_to_send(self) -> list[Datagram]:
        out = self.outgoing[:]  # the parts hold this list: empty it, keep it
        self.outgoing.clear()
        return out

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        transfer = self.transfers.get(datagram.dst)
        if transfer is not None and datagram.dst[1] != self.port:
            if datagram.src == transfer.peer:
                self.transfers.answered(transfer)
            transfer.engine.receive_datagram(datagram, now)
            self._drain(transfer, now)
            return
        if datagram.dst[1] != self.port:
            return
        if gwload.is_gwload(datagram.data):
            self.gwload.receive(datagram)
        elif datagram.is_broadcast or self.ip is None:
            return  # TFTP is unicast only, and needs an address
        else:
            self._request(datagram, now)

    def receive_fast(
        self, data: bytes, src: Address, dst: Address, now: float
    ) -> FastReplies | None:
        """:meth:`receive_datagram` of ``Datagram(data, src, dst)``, the per-datagram path
        of a running transfer: when all it leads to is datagrams from the transfer's port
        ``dst`` (a DATA or ACK in the middle of a transfer), they are returned, as
        ``(payload, destination)`` in order, instead of being queued, with the transfer's
        deadline after it; nothing else is queued then. Otherwise (anything else, or an
        event: the transfer ended, an image's header is to be checked, ...) the datagram
        is taken the ordinary way and None is returned: what it led to is queued as
        always.
        """
        transfer = self.transfers.get(dst)
        if (
            transfer is None
            or dst[1] == self.port
            or self.events
            or self.outgoing
            or self.requests
            or (transfer.image and not transfer.header_checked)
        ):
            self.receive_datagram(Datagram(data, src, dst), now)
            return None
        if src == transfer.peer:
            self.transfers.answered(transfer)
        engine = transfer.engine
        engine.receive(data, src, now)
        if engine.finished or not engine.drop_progress():
            self._drain(transfer, now)
            return None
        return engine.datagrams_to_send(), engine.get_timer()

    def get_timer(self) -> float | None:
        deadlines = [t.engine.get_timer() for t in self.transfers]
        pending = [d for d in deadlines if d is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        for transfer in self.transfers:
            deadline = transfer.engine.get_timer()
            if deadline is not None and deadline <= now:
                transfer.engine.handle_timer(now)
                self._drain(transfer, now)

    def port_failed(self, address: Address, reason: str, now: float) -> None:
        """The transfer port ``address`` could not be opened: end that transfer now.

        The client gets a TFTP ERROR (code 0, saying why and to send the request again)
        from the port its request came to, since the transfer port does not exist; the
        port is not picked again while in TFTP mode. So a retry gets a new port at once
        instead of "busy: another upload is running" while a transfer that cannot run
        waits for its timeouts (DECISION: the vendor documents no such case).
        """
        transfer = self.transfers.get(address)
        if transfer is None:
            return
        self.transfers.port_failed(address)
        self.outgoing[:] = [d for d in self.outgoing if d.src != address]
        text = f"transfer port {address[1]} cannot be opened ({reason}); {SEND_AGAIN}"
        self._print(f"tftp: {transfer.name} with {transfer.peer[0]} ended: {text}")
        self.gwload.tftp_error(transfer.peer, ErrorCode.NOT_DEFINED, text)
        self.transfers.close(address)

    # -- TFTP requests -------------------------------------------------------------

    def _request(self, datagram: Datagram, now: float) -> None:
        try:
            packet = parse_packet(datagram.data)
        except MalformedPacket as exc:
            self.gwload.tftp_error(datagram.src, ErrorCode.ILLEGAL_OPERATION, str(exc))
            return
        if isinstance(packet, Error):
            return  # an ERROR is never answered (RFC 1350): no ping-pong between devices
        if not isinstance(packet, ReadRequest | WriteRequest):
            # DATA, ACK, ... to the control port belong to no transfer.
            self.gwload.tftp_error(datagram.src, ErrorCode.UNKNOWN_TID, "unknown transfer ID")
            return
        verb = "RRQ" if isinstance(packet, ReadRequest) else "WRQ"
        running = self.transfers.transfer_for(packet, datagram.src)
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
            self.gwload.tftp_error(datagram.src, refusal.code, str(refusal))
            return
        self._drain(transfer, now)

    def _open_transfer(
        self, packet: ReadRequest | WriteRequest, peer: Address, now: float
    ) -> Transfer:
        name = packet.filename
        if "/" in name or "\\" in name:
            raise Refusal(ErrorCode.ACCESS_VIOLATION, f"no paths here: {name!r}")
        if self.busy is not None:
            raise Refusal(ErrorCode.NOT_DEFINED, f"busy: {self.busy}")
        self.transfers.check_capacity(peer, now, upload=isinstance(packet, WriteRequest))
        engine: ServerRead | ServerWrite
        if isinstance(packet, ReadRequest):
            self.files.check_read(name)
            dump = self.ring.dump()
            engine = ServerRead(packet, peer, dump, now, policy=self.options, timers=self.timers)
            self._print(f"tftp: RRQ {name} from {peer[0]}: config ring dump, {len(dump)} bytes")
        else:
            max_size, too_large = self.files.upload_limit(name, packet)
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
        local = (str(self.ip), self.transfers.pick_port(str(self.ip)))
        transfer = Transfer(local, peer, name, engine, now)
        # An image's header is checked as soon as it is in (Uploads.check_header).
        transfer.image = isinstance(engine, ServerWrite) and name in self.files.slots()
        self.transfers.add(transfer)
        return transfer

    # -- transfers -------------------------------------------------------------------

    def _drain(self, transfer: Transfer, now: float) -> None:
        engine = transfer.engine
        while (event := engine.next_event()) is not None:
            if engine.finished and not isinstance(event, TransferFailed | TransferComplete):
                continue  # refused while earlier events were still queued
            if isinstance(event, Progress) and isinstance(engine, ServerWrite):
                self.uploads.check_header(transfer, engine, now)
            elif isinstance(event, UploadComplete) and isinstance(engine, ServerWrite):
                self.uploads.complete(transfer, engine, event.data, now)
            elif isinstance(event, TransferComplete):
                transfer.complete = True
                if isinstance(engine, ServerRead):
                    self._print(f"tftp: RRQ {transfer.name} to {transfer.peer[0]} done")
            elif isinstance(event, TransferFailed):
                self._print(f"tftp: {transfer.name} with {transfer.peer[0]} failed: {event.reason}")
        for data, to in engine.datagrams_to_send():
            self.outgoing.append(Datagram(data, transfer.local, to))
        if engine.finished:
            self.transfers.close(transfer.local)

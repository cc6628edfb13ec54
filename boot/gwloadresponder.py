"""The gwload responder of TFTP mode (gwload-protocol.md 2-3).

In TFTP mode the device has no address: it hears the limited broadcast on its
control port and answers by limited broadcast from ``0.0.0.0``. ``SETIP`` gives it
an address; from then on it answers from that address and accepts unicast.
``DISCOVER`` gets HELLO; ``GO`` and ``RESET`` are acknowledged and handed to the boot
code as requests, or refused with NAK (busy, nothing to start, wrong gwtype).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

from ipgwsim.boot.checks import bad_address
from ipgwsim.boot.requests import (
    AddressPolicy,
    Request,
    RestartRequested,
    RunningBoot,
    StartRequested,
)
from ipgwsim.events import (
    AddressAssigned,
    AddressReleased,
    ConsoleOutput,
    Event,
    PortClosed,
    PortOpened,
)
from ipgwsim.flash.image import SlotStatus
from ipgwsim.hw_profiles import Profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, UNSPECIFIED, Address, Datagram
from ipgwsim.proto.tftp import Error, ErrorCode, encode_packet


class GwloadResponder:
    """Answers gwload for one device and holds the address SETIP gave it.

    It appends to the ``events``, ``outgoing`` and ``requests`` lists it is given
    (those of :class:`~ipgwsim.boot.tftpmode.TftpMode`); ``busy`` says why the device
    cannot take SETIP, GO or RESET now (``None``: it can).
    """

    def __init__(
        self,
        profile: Profile,
        *,
        mac: bytes,
        port: int,
        boot: RunningBoot,
        firmware: SlotStatus,
        state: gwload.DeviceState,
        address_policy: AddressPolicy | None,
        busy: Callable[[], str | None],
        events: list[Event],
        outgoing: list[Datagram],
        requests: list[Request],
    ) -> None:
        self.profile = profile
        self.mac = mac
        self.port = port
        self.boot = boot
        #: What the boot code found in the firmware region (HELLO, GO).
        self.firmware = firmware
        self.state = state
        self.address_policy = address_policy
        self._busy = busy
        self._events = events
        self._outgoing = outgoing
        self._requests = requests
        self.ip: IPv4Address | None = None
        self.mask = IPv4Address("0.0.0.0")
        self.gateway = IPv4Address("0.0.0.0")
        self._last_setip: tuple[Address, gwload.SetIp] | None = None

    def tftp_error(self, to: Address, code: ErrorCode, message: str) -> None:
        """A TFTP ERROR from the control port (from ``0.0.0.0`` before SETIP)."""
        src = (str(self.ip) if self.ip is not None else UNSPECIFIED, self.port)
        self._outgoing.append(Datagram(encode_packet(Error(code, message)), src, to))

    def _reply(self, message: gwload.Message, to: Address) -> None:
        data = gwload.encode_message(message)
        if self.ip is None:
            self._outgoing.append(
                Datagram(data, (UNSPECIFIED, self.port), (LIMITED_BROADCAST, to[1]))
            )
        else:
            self._outgoing.append(Datagram(data, (str(self.ip), self.port), to))

    def receive(self, datagram: Datagram) -> None:
        """A gwload message to the control port."""
        target = datagram.data[8:14]
        if len(target) == 6 and target not in (gwload.ANY_MAC, self.mac):
            return  # for another device: not even parsed (a fleet hears every broadcast)
        try:
            message = gwload.parse_message(datagram.data)
        except gwload.MalformedMessage as exc:
            # Garbage changes nothing; a unicast one learns why (as a TFTP server would say).
            if not datagram.is_broadcast and self.ip is not None:
                self.tftp_error(datagram.src, ErrorCode.ILLEGAL_OPERATION, str(exc))
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

    def _setip(self, message: gwload.SetIp, src: Address) -> None:
        if self._last_setip == (src, message):
            self._reply(self._hello(message.xid), src)  # a repeat: answer again, change nothing
            return
        busy = self._busy()
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
        self.set_address(message.ip)
        self._last_setip = (src, message)
        self._events.append(
            ConsoleOutput(f"gwload: address {message.ip} mask {message.mask} from {src[0]}")
        )
        self._reply(self._hello(message.xid), src)

    def set_address(self, ip: IPv4Address | None) -> None:
        """Take ``ip`` (``None``: give the address up), with its control port."""
        if ip == self.ip:
            return
        if self.ip is not None:
            self._events.append(PortClosed((str(self.ip), self.port)))
            self._events.append(AddressReleased(str(self.ip)))
        self.ip = ip
        if ip is not None:
            self._events.append(AddressAssigned(str(ip), str(self.mask), str(self.gateway)))
            self._events.append(PortOpened((str(ip), self.port)))

    def _go_or_reset(
        self, message: gwload.Go | gwload.Reset, src: Address, request: Request
    ) -> None:
        busy = self._busy()
        if busy is not None:
            self._nak(message.xid, gwload.NakCode.BUSY, busy, src)
            return
        if isinstance(request, StartRequested) and not self.firmware.valid:
            text = f"no valid firmware to start: {self.firmware.problem}"
            self._nak(message.xid, gwload.NakCode.NOTHING_TO_START, text, src)
            return
        opcode = gwload.Opcode.GO if isinstance(request, StartRequested) else gwload.Opcode.RESET
        self._reply(gwload.Ack(message.xid, self.mac, self.profile.gwtype, acked=opcode), src)
        self._requests.append(request)

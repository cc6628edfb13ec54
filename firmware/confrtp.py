"""CONF's RTP demultiplexing: which call an RTP port belongs to, and what reaches the mixer.

Call ``i`` of the channels gets ``RTP_PORT_BASE + 2 * i`` (the first free one); a datagram
on a call's port counts only from the remote its SDP negotiated (others move no one and are
counted in :attr:`RtpPorts.foreign`), and only once the call is in the mixer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipgwsim.firmware.media import Mixer
from ipgwsim.proto.net import Datagram

if TYPE_CHECKING:
    from ipgwsim.firmware.confcalls import Call

__all__ = ["RTP_PORT_BASE", "RtpPorts"]

#: The first RTP port; call ``i`` of the channels uses ``RTP_PORT_BASE + 2 * i``.
RTP_PORT_BASE = 16384


class RtpPorts:
    """The RTP ports of the calls, and the mixer their media go to."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer
        self.by_port: dict[int, Call] = {}
        #: RTP datagrams from another source than the call's negotiated remote, dropped.
        self.foreign = 0

    def __contains__(self, port: int) -> bool:
        return port in self.by_port

    def free(self, channels: int) -> int:
        """The first port no call has, of the ``channels`` calls' ports."""
        return next(
            p
            for p in range(RTP_PORT_BASE, RTP_PORT_BASE + 2 * channels, 2)
            if p not in self.by_port
        )

    def add(self, call: Call) -> None:
        self.by_port[call.rtp_port] = call

    def remove(self, call: Call) -> None:
        self.by_port.pop(call.rtp_port, None)

    def deliver(self, datagram: Datagram, now: float) -> bool:
        """Hand ``datagram`` (to one of the ports) to the mixer; whether it went there."""
        call = self.by_port[datagram.dst[1]]
        if datagram.src != call.media.remote:  # not the caller's: its digits move no one
            self.foreign += 1
            return False
        if not call.joined:
            return False
        call.heard_at = now
        self.mixer.receive_datagram(datagram, now)  # to the call's port: its participant
        return True

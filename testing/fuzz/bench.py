"""A device on a virtual segment in virtual time, with a hostile peer beside it.

The device-level surfaces share it: :class:`Bench` makes a factory device (TFTP mode with
an address, or running firmware with services), the peer sends what the fuzzer drew,
and the checks ask whether the device still does its job afterwards.
"""

from __future__ import annotations

import functools
import random

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import Mode
from ipgwsim.firmware.config import defaults
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, Address, Datagram, NetworkCapabilities
from ipgwsim.proto.tftp import TransferComplete
from ipgwsim.testing.fuzz.seeds import DEVICE_IP, PEER_IP
from ipgwsim.testing.lab import DeviceNode, Lab
from ipgwsim.testing.vnet import Endpoint

__all__ = ["MAX_REPLIES", "Bench"]

#: Datagrams a device may send for one hostile datagram (a transfer it opened resends
#: its first packet a few times; more is a flood the input caused).
MAX_REPLIES = 64
#: Device seconds after the input in which every transfer it opened ends.
SETTLE = 300.0
#: The peer's port.
PEER_PORT = 50000
#: The hostile peer's second port (another transfer id).
OTHER_PORT = 50001


@functools.cache
def profile(model: str) -> Profile:
    return find_profile(model)


@functools.cache
def _flash(model: str, config: str) -> NorFlash:
    prof = profile(model)
    flash = factory_flash(prof)
    if config:
        ConfigRing(PartitionTable(flash, prof)["config"]).write(defaults(prof).render() + config)
    return flash


class Bench:
    """One device of ``model`` on a fresh lab; ``config`` is added to its factory config."""

    def __init__(
        self, model: str = "IP6000", *, config: str = "", dhcp: bool = False, netbios: bool = False
    ) -> None:
        self.lab = Lab()
        prof = profile(model)
        device = Device(
            prof,
            _flash(model, config).clone(),
            Instance.numbered(f"{model.lower()}-1", 1),
            rng=random.Random(1),
            network=NetworkCapabilities(dhcp=dhcp, netbios=netbios),
        )
        self.gw = DeviceNode(device, self.lab.net)
        self.lab.net.attach(self.gw)
        self.lab.power_on(self.gw)
        self.lab.run(5.0)
        self.peer = Endpoint(PEER_IP, PEER_PORT)
        self.other = Endpoint(PEER_IP, OTHER_PORT)
        self.lab.net.attach(self.peer)
        self.lab.net.attach(self.other)
        self.sent = 0

    @property
    def device(self) -> Device:
        return self.gw.device

    def tftp_mode(self) -> None:
        """The way in of Howto:Config or Password Recovery: 1.8 s on the button, then
        gwload's SETIP."""
        self.lab.press(self.gw, 1.8)
        self.lab.setip(self.gw, DEVICE_IP)

    def send(self, data: bytes, dst: Address, *, other: bool = False, wait: float = 0.0) -> None:
        """``data`` from the peer (``other``: from its second port) to ``dst``; then the
        lab runs ``wait`` device seconds."""
        (self.other if other else self.peer).sendto(data, dst)
        self.sent += 1
        self.lab.run(wait)

    def replies(self) -> list[Datagram]:
        return self.peer.received + self.other.received

    def check_bounded(self) -> None:
        """The device sent at most :data:`MAX_REPLIES` datagrams per hostile one."""
        got = len(self.replies())
        assert got <= MAX_REPLIES * max(1, self.sent), f"{got} replies to {self.sent} datagrams"

    def settle(self) -> None:
        """Let every transfer, programming or restart the input began run its course."""
        self.lab.run(SETTLE)
        mode = self.gw.mode
        assert mode in (Mode.FIRMWARE, Mode.TFTP_MODE), f"the device is {mode.value} after input"

    def check_tftp_mode_serves(self) -> None:
        """In TFTP mode the device still answers gwload and serves its config by TFTP."""
        if self.gw.mode is not Mode.TFTP_MODE:
            return
        mac, gwtype = self.device.instance.mac, self.device.profile.gwtype
        hellos = [
            m
            for m, _ in self.lab.ask(gwload.Discover(self.lab.probe.next_xid(), mac, gwtype))
            if isinstance(m, gwload.Hello)
        ]
        assert hellos, "no HELLO to a DISCOVER after the input"
        ip = self.device.ip
        if ip is None:
            self.lab.setip(self.gw, DEVICE_IP)
            ip = DEVICE_IP
        result = self.lab.get(ip, "config")
        assert isinstance(result, TransferComplete), f"GET config after the input: {result}"


BROADCAST_69: Address = (LIMITED_BROADCAST, 69)
DEVICE_69: Address = (DEVICE_IP, 69)

"""A lab bench in virtual time: simulated devices and lab tools on one virtual segment.

For tests that read like the recovery procedures::

    lab = Lab()
    gw = lab.add("IP6000")
    lab.press(gw, hold=1.8)                 # three blinks, then TFTP mode
    hello = lab.setip(gw, "10.0.0.5")
    dump = lab.get("10.0.0.5", "config")

Everything runs on :class:`~ipgwsim.testing.vnet.VirtualNetwork` time: a 15 s
press costs nothing.
"""

from __future__ import annotations

import itertools
import random
from ipaddress import IPv4Address
from typing import TypeVar

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import ConsoleOutput, Event, Led, LedChanged, Mode
from ipgwsim.flash.nor import NorFlash
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import LIMITED_BROADCAST, Address
from ipgwsim.proto.tftp import TimerPolicy, TransferComplete, TransferFailed
from ipgwsim.testing.clients import GwloadProbe, TftpClientNode
from ipgwsim.testing.recorder import Recorder
from ipgwsim.testing.vnet import VirtualNetwork

E = TypeVar("E")


class DeviceNode(Recorder[Event]):
    """A :class:`Device` on the virtual network, keeping every event with its time."""

    def __init__(self, device: Device, net: VirtualNetwork) -> None:
        self.device = device
        self.net = net
        super().__init__(device, lambda: net.now)

    # -- what a test reads ------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        self.take()
        return self.device.mode

    @property
    def led(self) -> Led:
        self.take()
        return self.device.led

    def leds(self) -> list[Led]:
        """Every LED change so far, in order."""
        return [e.led for e in self.of_type(LedChanged)]

    def console(self) -> list[str]:
        return [e.line for e in self.of_type(ConsoleOutput)]

    def of_type(self, kind: type[E]) -> list[E]:
        """Every event of one kind so far, in order."""
        self.take()
        return [e for _, e in self.events if isinstance(e, kind)]


class Lab:
    """Devices and lab tools on one virtual segment (see the module docstring)."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        port: int = 69,
    ) -> None:
        self.rng = rng if rng is not None else random.Random(0)
        self.net = VirtualNetwork(rng=self.rng, loss=loss, duplicate=duplicate, reorder=reorder)
        self.port = port
        self._numbers = itertools.count(1)
        self._client_ports = itertools.count(40000)
        self.probe = GwloadProbe("10.0.0.100", next(self._client_ports), device_port=port)
        self.net.attach(self.probe)

    @property
    def now(self) -> float:
        return self.net.now

    def add(
        self,
        profile: str | Profile,
        *,
        firmware: bool = True,
        flash: NorFlash | None = None,
        power_on: bool = True,
        timers: TimerPolicy | None = None,
    ) -> DeviceNode:
        """A device of ``profile`` (factory flash unless ``flash`` is given), powered on."""
        prof = find_profile(profile) if isinstance(profile, str) else profile
        number = next(self._numbers)
        instance = Instance.numbered(f"{prof.model.lower()}-{number}", number)
        device = Device(
            prof,
            flash if flash is not None else factory_flash(prof, firmware=firmware),
            instance,
            port=self.port,
            rng=random.Random(self.rng.random()),
            timers=timers,
        )
        node = DeviceNode(device, self.net)
        self.net.attach(node)
        if power_on:
            self.power_on(node)
        return node

    def run(self, seconds: float) -> None:
        self.net.run(self.net.now + seconds)

    def power_on(self, node: DeviceNode) -> None:
        node.device.power_on(self.net.now)
        node.take()

    def power_off(self, node: DeviceNode) -> None:
        node.device.power_off(self.net.now)
        node.take()

    def press(self, node: DeviceNode, hold: float) -> None:
        """Hold the reset button for ``hold`` seconds of device time, then let go."""
        node.device.press(self.net.now)
        node.take()
        self.run(hold)
        node.device.release(self.net.now)
        node.take()
        self.run(0.0)

    # -- gwload ----------------------------------------------------------------------

    def ask(
        self, message: gwload.Message, *, to: str = LIMITED_BROADCAST, timeout: float = 1.0
    ) -> list[tuple[gwload.Message, Address]]:
        """Send one gwload message; every reply within ``timeout`` (virtual seconds)."""
        before = len(self.probe.replies)
        self.probe.send(message, to)
        self.run(timeout)
        return self.probe.replies[before:]

    def setip(
        self,
        node: DeviceNode,
        ip: str,
        *,
        mask: str = "255.255.255.0",
        gwtype: int | None = None,
    ) -> tuple[gwload.Message, Address]:
        """SETIP ``ip`` for the device (by its MAC); its one reply."""
        device = node.device
        message = gwload.SetIp(
            self.probe.next_xid(),
            device.instance.mac,
            device.profile.gwtype if gwtype is None else gwtype,
            ip=IPv4Address(ip),
            mask=IPv4Address(mask),
            gateway=IPv4Address("0.0.0.0"),
        )
        replies = self.ask(message)
        assert len(replies) == 1, f"expected one reply to SETIP, got {replies}"
        return replies[0]

    # -- TFTP ------------------------------------------------------------------------

    def _transfer(
        self, client: TftpClientNode, timeout: float
    ) -> TransferComplete | TransferFailed:
        self.net.attach(client)
        try:
            self.net.run_until(lambda: client.done, timeout=timeout)
            self.net.run(self.net.now)  # what the devices do at that same moment
        finally:
            self.net.detach(client)
        result = client.result
        assert result is not None, f"transfer did not end within {timeout} s"
        return result

    def get(
        self,
        ip: str,
        filename: str,
        *,
        options: dict[str, str] | None = None,
        timeout: float = 120.0,
    ) -> TransferComplete | TransferFailed:
        client = TftpClientNode.get(
            (ip, self.port), filename, port=next(self._client_ports), now=self.now, options=options
        )
        return self._transfer(client, timeout)

    def put(
        self,
        ip: str,
        filename: str,
        data: bytes,
        *,
        options: dict[str, str] | None = None,
        timeout: float = 120.0,
    ) -> TransferComplete | TransferFailed:
        client = TftpClientNode.put(
            (ip, self.port),
            filename,
            data,
            port=next(self._client_ports),
            now=self.now,
            options=options,
        )
        return self._transfer(client, timeout)

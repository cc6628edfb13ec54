"""The blocking gwload helpers (ipgwsim.runtime.gwloadclient) against devices on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ipgwsim.events import Mode
from ipgwsim.proto import gwload
from ipgwsim.runtime import gwloadclient
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.loopback import LOOPBACK_BROADCAST
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, enter_tftp_mode, free_loopback_ip, run

pytestmark = pytest.mark.integration


def test_setip_go_and_the_refusals(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)
    lab = gwloadclient.Lab(port=port, broadcast=LOOPBACK_BROADCAST, tries=2, interval=0.3)

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(tmp_path / "state", port=port, http_port=ports.tcp(), clock=clock) as rt:
            first, second = rt.add_devices("IP6000", 2)
            [other] = rt.add_devices("IP800", 1)
            # All run their firmware: nobody answers gwload.
            with pytest.raises(gwloadclient.NoAnswer, match="no device of gwtype 6000 in TFTP"):
                await asyncio.to_thread(gwloadclient.setip, lab, ip, gwtype=6000)
            # Only a device of another type is in TFTP mode: say which one answered.
            await enter_tftp_mode(rt, clock, other.name)
            with pytest.raises(gwloadclient.NoAnswer, match="other types did: IP800") as only:
                await asyncio.to_thread(gwloadclient.setip, lab, ip, gwtype=6000)
            assert f"gwtype 800, {other.status().mac}" in str(only.value)
            released = rt.press(other.name, 0.2)  # a short press: back to its firmware
            await clock.advance(0.2)
            await asyncio.wait_for(released, 5)
            assert other.status().mode is Mode.FIRMWARE
            await enter_tftp_mode(rt, clock, first.name)
            await enter_tftp_mode(rt, clock, second.name)
            found = await asyncio.to_thread(gwloadclient.discover, lab, gwtype=6000)
            assert sorted(h.mac for h in found) == sorted(
                [first.device.instance.mac, second.device.instance.mac]
            )
            # Two answer: no guessing, both MACs named.
            with pytest.raises(gwloadclient.Ambiguous) as ambiguous:
                await asyncio.to_thread(gwloadclient.setip, lab, ip, gwtype=6000)
            assert first.status().mac in str(ambiguous.value)
            assert second.status().mac in str(ambiguous.value)
            # A wrong gwtype for a named device: NAK 1, said as the device says it.
            mac = first.device.instance.mac
            with pytest.raises(gwloadclient.Refused, match="not 800") as refused:
                await asyncio.to_thread(gwloadclient.setip, lab, ip, gwtype=800, mac=mac)
            assert refused.value.nak.code == gwload.NakCode.WRONG_GWTYPE
            # An address the loopback runtime cannot give: NAK 2.
            with pytest.raises(
                gwloadclient.Refused,
                match=r"bad address: 10\.1\.2\.3 is not on the loopback network 127\.0\.0\.0/8",
            ):
                await asyncio.to_thread(gwloadclient.setip, lab, "10.1.2.3", gwtype=6000, mac=mac)
            hello = await asyncio.to_thread(
                gwloadclient.setip, lab, ip, gwtype=6000, mac=mac, mask="255.0.0.0"
            )
            assert str(hello.ip) == ip
            await asyncio.to_thread(gwloadclient.go, lab, ip, mac, 6000)
            await clock.advance(0.0)
            assert first.status().mode is Mode.FIRMWARE
            assert second.status().mode is Mode.TFTP_MODE

    run(main())

"""The CONF interface with real SIP peers: kamailio as the PBX, sipp and tone callers.

A device on loopback registers its CONF interface (number 87) to kamailio with digest
authentication, from an ETH0 address of the test's own (served at a random loopback
address, so that two test runs on one host never meet on port 5060); callers dial ``870#``
(the example of Howto:Create Conference facility). Mixing is proven with tones: A sends
440 Hz, B (sipp) 1000 Hz and C nothing; C hears both, A hears B's and not its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from ipgwsim.firmware.conf import SIP_PORT, ConfInterface
from ipgwsim.proto.rtp import alaw_decode
from ipgwsim.runtime.clock import ScaledClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run, until_devices
from ipgwsim.testing.sip import kamailio, python_caller, sipp_caller, tone
from ipgwsim.testing.web import curl

pytestmark = pytest.mark.integration

needs_peers = pytest.mark.requires("kamailio", "sipp", "curl")


def _conf(host: DeviceHost) -> ConfInterface:
    firmware = host.device.firmware
    assert firmware is not None
    (conf,) = [s for s in firmware.services if isinstance(s, ConfInterface)]
    return conf


def _own_address() -> tuple[str, str]:
    """An ETH0 address for the device and the loopback address that serves it: a random
    127.b.c.d that nothing on this host has on port 5060, and 10.b.c.d (loopback serves
    a.b.c.d at 127.b.c.d)."""
    served = free_loopback_ip(SIP_PORT)
    return "10." + served.split(".", 1)[1], served


async def _configure(
    rt: Runtime, host: DeviceHost, registrar: int, http: int, address: str
) -> None:
    """A fixed ETH0 and the CONF interface, set over HTTP, then a restart."""
    released = rt.press(host.name, 0.3)  # the factory address, to reach the web server
    await asyncio.wait_for(released, 5)
    server = await host.web_settled()
    assert server is not None
    url = f"http://127.168.0.1:{http}"
    for line in (
        f"config change ETH0 /addr {address} /mask 255.255.255.0",
        f"config change CONF /registrar 127.0.0.1:{registrar} /number 87 /user 87 /pwd s3cret",
        "config write",
        "reset",
    ):
        password = host.profile.firmware.default_password
        status, body = await curl("-u", f"admin:{password}", f"{url}/!{quote(line)}")
        assert status == 200, (line, body)

    def registered() -> bool:
        firmware = host.device.firmware
        return firmware is not None and any(
            isinstance(s, ConfInterface) and s.registered for s in firmware.services
        )

    # The restart, then the REGISTER with its challenge (the device logs each step).
    await until_devices(rt, registered, f"CONF to register: {list(host.console.lines)[-10:]}")


def _level(heard: bytes, hz: float) -> float:
    """The amplitude of ``hz`` in the A-law audio ``heard`` (the last second of it)."""
    pcm = alaw_decode(heard)[-8000:].astype(np.float64)
    assert len(pcm) == 8000, f"only {len(pcm)} samples heard"
    spectrum = np.abs(np.fft.rfft(pcm)) * 2 / len(pcm)
    return float(spectrum[int(hz)])  # 1 Hz bins over one second


@needs_peers
def test_callers_in_room_0_hear_each_other_and_not_themselves(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        http, registrar = ports.tcp(), ports.udp()
        async with (
            kamailio(tmp_path, registrar),
            Runtime(tmp_path / "s", port=ports.udp(), clock=ScaledClock(), http_port=http) as rt,
        ):
            (host,) = rt.add_devices("IP811", 1)
            address, served = _own_address()
            await _configure(rt, host, registrar, http, address)
            assert host.status().ip == served
            device = (served, SIP_PORT)
            conf = _conf(host)
            b_audio = tmp_path / "b.alaw"
            b_audio.write_bytes(tone(1000, 5.0))
            b = asyncio.create_task(
                sipp_caller(
                    tmp_path / "b", registrar=("127.0.0.1", registrar), service="870%23",
                    local_port=ports.udp(), media_port=ports.udp(4), audio=b_audio, seconds=4.0,
                )
            )  # fmt: skip
            # The device logs the caller joining the room.
            await until_devices(
                rt, lambda: bool(conf.mixer.participants(0)), "sipp's call to reach room 0"
            )
            a, c = await asyncio.gather(
                python_caller(device, "870%23", send=tone(440, 2.5), seconds=2.5),
                python_caller(device, "870%23", send=b"", seconds=2.5),
            )
            code, out = await b
            assert code == 0, out[-1500:]
            assert (a.status, c.status) == (200, 200)
            # C hears both tones; A hears B's and (nearly) nothing of its own.
            assert _level(bytes(c.heard), 440) > 3000
            assert _level(bytes(c.heard), 1000) > 3000
            assert _level(bytes(a.heard), 1000) > 3000
            assert _level(bytes(a.heard), 440) < 100
            assert conf.mixer.rooms() == {} or all(not v for v in conf.mixer.rooms().values())

    run(main(), timeout=90)

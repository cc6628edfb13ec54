"""Real SIP peers for tests of the CONF interface: kamailio as the registrar, sipp as callers.

- :func:`kamailio`: a minimal registrar (Debian ``kamailio``) on ``127.0.0.1:port`` that
  challenges REGISTER with digest authentication (one password for every user), keeps the
  location, and routes an INVITE for ``<number><room>#`` to the contact registered for
  ``<number>`` (the PBX's user object of Howto:Create Conference facility); in-dialog
  requests are relayed.
- :func:`sipp_caller`: a sipp (Debian ``sip-tester``) UAC that calls ``service`` through
  the registrar, offers PCMA (and telephone-event), sends ``audio`` (raw A-law bytes) as
  RTP with sipp's ``rtp_stream`` for ``seconds``, then hangs up; sipp's exit status says
  whether the call went as the scenario expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ipgwsim.proto.rtp import alaw_encode
from ipgwsim.testing.loopback import udp_bound
from ipgwsim.testing.needs import find_program

__all__ = [
    "KAMAILIO",
    "SIPP",
    "Leg",
    "kamailio",
    "python_caller",
    "sipp_caller",
    "sipp_scenario",
    "tone",
]

#: kamailio (in /usr/sbin) and sipp, or None when they are not installed.
KAMAILIO = find_program("kamailio")
SIPP = find_program("sipp")
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
listen=udp:{ip}:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "{password}", "0")) {{ www_challenge("$td", "0"); exit; }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (has_totag()) {{ t_relay(); exit; }}
    if (is_method("INVITE") && $rU =~ "^{number}") {{
        $var(orig) = $rU;
        $rU = "{number}";
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
        $rU = $var(orig);
        t_relay();
        exit;
    }}
    if (is_method("CANCEL|ACK|BYE")) {{ t_relay(); exit; }}
    sl_send_reply("404", "Not Here");
}}
"""


@contextlib.asynccontextmanager
async def kamailio(
    folder: Path, port: int, *, number: str = "87", password: str = "s3cret", ip: str = "127.0.0.1"
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run kamailio as the registrar on ``ip:port`` until the block ends."""
    assert KAMAILIO is not None, "kamailio is not installed (scripts/setup installs it)"
    config = folder / "kamailio.cfg"
    config.write_text(
        _CONFIG.format(ip=ip, port=port, modules=MODULES, number=number, password=password)
    )
    proc = await asyncio.create_subprocess_exec(
        KAMAILIO, "-f", str(config), "-DD", "-E", "-P", str(folder / "kamailio.pid"),
        "-Y", str(folder), "-w", str(folder),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(folder / "kamailio.log").open("wb"),
    )  # fmt: skip
    try:
        # It listens once its children run, and tells no one: its bound port is what
        # shows it. A poll with a real-time bound (200 x 20 ms): kamailio's pace is its own.
        for _ in range(200):
            if udp_bound((ip, port)):
                break
            if proc.returncode is not None:
                raise RuntimeError((folder / "kamailio.log").read_text()[-2000:])
            await asyncio.sleep(0.02)
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


def sipp_scenario(folder: Path, audio: Path | None, seconds: float) -> Path:
    """A UAC scenario: INVITE (PCMA, telephone-event), ACK, audio, BYE."""
    play = (
        f'  <nop><action><exec rtp_stream="{audio},-1,8"/></action></nop>\n'
        if audio is not None
        else ""
    )
    scenario = folder / "caller.xml"
    scenario.write_text(
        f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="conference caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: caller <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=ptime:20

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: caller <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

  ]]></send>
{play}  <pause milliseconds="{int(seconds * 1000)}"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: caller <sip:caller[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:caller@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

  ]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""
    )
    return scenario


async def sipp_caller(
    folder: Path,
    *,
    registrar: tuple[str, int],
    service: str,
    local_port: int,
    media_port: int,
    audio: Path | None = None,
    seconds: float = 2.0,
    ip: str = "127.0.0.1",
) -> tuple[int, str]:
    """One call by sipp; (exit status, what sipp printed). 0: the call went as scripted."""
    assert SIPP is not None, "sipp is not installed (scripts/setup installs sip-tester)"
    folder.mkdir(parents=True, exist_ok=True)
    scenario = sipp_scenario(folder, audio, seconds)
    proc = await asyncio.create_subprocess_exec(
        SIPP, f"{registrar[0]}:{registrar[1]}", "-sf", str(scenario), "-s", service,
        "-i", ip, "-p", str(local_port), "-mp", str(media_port), "-m", "1",
        "-nostdin", "-timeout", "30s", "-trace_err", "-nd",
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace")


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


def tone(hz: float, seconds: float, amplitude: int = 8000, rate: int = 8000) -> bytes:
    """A sine tone as 16-bit samples, A-law coded (what an RTP stream of PCMA carries)."""
    t = np.arange(int(seconds * rate)) / rate
    return alaw_encode((amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16))


@dataclass
class Leg:
    """A caller written here (not sipp): it sends a tone (or silence) and keeps what it hears."""

    heard: bytearray = field(default_factory=bytearray)
    status: int | None = None


async def _stream(
    transport: asyncio.DatagramTransport,
    receiver: _Receiver,
    remote: tuple[str, int],
    *,
    send: bytes,
    seconds: float,
    leg: Leg,
) -> None:
    """Send ``send`` as PCMA RTP, 20 ms a packet in real time; keep every payload heard."""
    ssrc, frames = random.getrandbits(32), max(1, int(seconds / 0.02))
    start = time.monotonic()
    for n in range(frames):
        chunk = send[n * 160 : n * 160 + 160].ljust(160, b"\xd5")  # A-law silence
        header = struct.pack("!BBHII", 0x80, 8, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, ssrc)
        transport.sendto(header + chunk, remote)
        while not receiver.queue.empty():
            leg.heard += receiver.queue.get_nowait()[0][12:]
        await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
    while not receiver.queue.empty():
        leg.heard += receiver.queue.get_nowait()[0][12:]


async def python_caller(
    device: tuple[str, int],
    service: str,
    *,
    send: bytes,
    seconds: float,
    ip: str = "127.0.0.1",
) -> Leg:
    """INVITE ``service`` at ``device`` (PCMA), send ``send`` as RTP in 20 ms packets in real
    time for ``seconds``, record the A-law payloads that come back, then BYE."""
    loop = asyncio.get_running_loop()
    sip_transport, sip = await loop.create_datagram_endpoint(_Receiver, local_addr=(ip, 0))
    rtp_transport, rtp = await loop.create_datagram_endpoint(_Receiver, local_addr=(ip, 0))
    leg = Leg()
    try:
        sip_port = sip_transport.get_extra_info("sockname")[1]
        media_port = rtp_transport.get_extra_info("sockname")[1]
        call_id = f"{random.getrandbits(64):x}@{ip}"
        tag = f"{random.getrandbits(32):x}"
        uri = f"sip:{service}@{device[0]}:{device[1]}"
        sdp = (
            f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {media_port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\n"
        )

        def request(method: str, cseq: int, to_tag: str = "", body: str = "") -> bytes:
            branch = f"z9hG4bK{random.getrandbits(48):x}"
            to = f"<{uri}>" + (f";tag={to_tag}" if to_tag else "")
            lines = [
                f"{method} {uri} SIP/2.0",
                f"Via: SIP/2.0/UDP {ip}:{sip_port};branch={branch}",
                f"From: <sip:tester@{ip}:{sip_port}>;tag={tag}",
                f"To: {to}",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} {method}",
                f"Contact: <sip:tester@{ip}:{sip_port}>",
                "Max-Forwards: 70",
            ]
            if body:
                lines.append("Content-Type: application/sdp")
            lines.append(f"Content-Length: {len(body.encode())}")
            return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

        sip_transport.sendto(request("INVITE", 1, body=sdp), device)
        to_tag, remote = "", None
        while True:
            data, _ = await asyncio.wait_for(sip.queue.get(), 10)
            text = data.decode("utf-8", "replace")
            status = int(text.split(" ", 2)[1])
            leg.status = status
            if status < 200:
                continue
            if status != 200:
                return leg
            head, _, body = text.partition("\r\n\r\n")
            for line in head.split("\r\n"):
                if line.lower().startswith(("to:", "t:")) and ";tag=" in line:
                    to_tag = line.split(";tag=", 1)[1].split(";")[0].strip()
            media_ip = next(x.split()[-1] for x in body.split("\r\n") if x.startswith("c="))
            media = next(int(x.split()[1]) for x in body.split("\r\n") if x.startswith("m="))
            remote = (media_ip, media)
            break
        sip_transport.sendto(request("ACK", 1, to_tag), device)
        await _stream(rtp_transport, rtp, remote, send=send, seconds=seconds, leg=leg)
        sip_transport.sendto(request("BYE", 2, to_tag), device)
        return leg
    finally:
        sip_transport.close()
        rtp_transport.close()

"""Real SIP peers for tests of the CONF interface: kamailio as the registrar, sipp as callers.

- :func:`kamailio`: a minimal registrar (Debian ``kamailio``) on ``127.0.0.1:port`` that
  challenges REGISTER with digest authentication (one password for every user), keeps the
  location, and routes an INVITE for ``<number><room>#`` to the contact registered for
  ``<number>`` (the PBX's user object of the seed); in-dialog requests are relayed.
- :func:`sipp_caller`: a sipp (Debian ``sip-tester``) UAC that calls ``service`` through
  the registrar, offers PCMA (and telephone-event), sends ``audio`` (raw A-law bytes) as
  RTP with sipp's ``rtp_stream`` for ``seconds``, then hangs up; sipp's exit status says
  whether the call went as the scenario expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["KAMAILIO", "SIPP", "kamailio", "sipp_caller", "sipp_scenario"]

KAMAILIO = shutil.which("kamailio") or (
    "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
)
SIPP = shutil.which("sipp")
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


def _udp_bound(ip: str, port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((ip, port))
    except OSError:
        return True
    finally:
        probe.close()
    return False


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
        for _ in range(200):  # it listens once its children run
            if _udp_bound(ip, port):
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

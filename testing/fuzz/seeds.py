"""Valid messages of each protocol, as strategies: what the mutations start from.

Where the project has a strategy already (gwload messages, DHCP messages) it is used;
the others are built here with the protocols' own encoders.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import strategies as st

from ipgwsim.proto import dhcp, gwload, netbios, rtp
from ipgwsim.proto.tftp import packets as tftp
from ipgwsim.testing.strategies import dhcp_messages, gwload_messages

__all__ = [
    "DEVICE_IP",
    "PEER_IP",
    "dhcp_bytes",
    "gwload_bytes",
    "invite",
    "netbios_bytes",
    "rtp_bytes",
    "sdp_body",
    "sip_bytes",
    "tftp_in_transfer",
    "tftp_requests",
]

#: The device's address on the fuzzed segment, and the hostile peer's.
DEVICE_IP = "10.0.0.5"
PEER_IP = "10.0.0.20"

_tokens = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


def gwload_bytes() -> st.SearchStrategy[bytes]:
    return gwload_messages().map(gwload.encode_message)


def dhcp_bytes() -> st.SearchStrategy[bytes]:
    return dhcp_messages(long_values=False).map(dhcp.encode_message)


# -- TFTP ------------------------------------------------------------------------------

_FILES = ["config", "c", "prot", "boot", "altboot", "CONFIG", "x", "../config"]
_MODES = ["octet", "netascii", "OCTET", "mail", "binary"]
_OPTION_NAMES = ["blksize", "tsize", "timeout", "windowsize", "BLKSIZE", "multicast", "x"]
_OPTION_VALUES = ["0", "1", "8", "512", "1428", "65464", "65535", "255", "-1", "1e9", "", "x"]


def _text(choices: list[str]) -> st.SearchStrategy[str]:
    """One of ``choices`` or other ASCII text without NUL (what the encoder takes)."""
    other = st.text(st.characters(max_codepoint=0x7F, exclude_characters="\0"), min_size=1)
    return st.sampled_from(choices) | other.filter(lambda t: len(t) <= 20)


#: Options, their names unique whatever the case (the encoder refuses a repeat).
_options = st.lists(
    st.tuples(_text(_OPTION_NAMES), _text(_OPTION_VALUES)),
    max_size=5,
    unique_by=lambda option: option[0].lower(),
).map(dict)


def tftp_requests() -> st.SearchStrategy[bytes]:
    """RRQs and WRQs of the file table's names and others, any mode, any options."""
    request = st.builds(tftp.ReadRequest, _text(_FILES), _text(_MODES), _options) | st.builds(
        tftp.WriteRequest, _text(_FILES), _text(_MODES), _options
    )
    return request.map(tftp.encode_packet)


def tftp_in_transfer() -> st.SearchStrategy[bytes]:
    """What a peer sends during a transfer: DATA, ACK, ERROR, OACK, another request."""
    block = st.sampled_from([0, 1, 2, 65535]) | st.integers(0, 65535)
    packet = st.one_of(
        st.builds(tftp.Data, block, st.binary(max_size=600)),
        st.builds(tftp.Ack, block),
        st.builds(tftp.Error, st.integers(0, 65535), _text(["busy", "disk full"])),
        st.builds(tftp.OptionAck, _options),
    )
    return packet.map(tftp.encode_packet) | tftp_requests()


# -- NetBIOS and RTP ----------------------------------------------------------------------

_nb_names = st.builds(
    netbios.NetbiosName,
    st.sampled_from(["*", "IP6000-10-00-01", "009033100001", "FRED"]) | _tokens,
    st.sampled_from([0x00, 0x20, 0x1D]) | st.integers(0, 255),
    st.sampled_from(["", "lab.example"]),
)


def netbios_bytes() -> st.SearchStrategy[bytes]:
    packet = st.one_of(
        st.builds(netbios.NameQueryRequest, st.integers(0, 0xFFFF), _nb_names),
        st.builds(netbios.NodeStatusRequest, st.integers(0, 0xFFFF), _nb_names),
        st.builds(
            netbios.NameQueryResponse,
            st.integers(0, 0xFFFF),
            _nb_names,
            st.lists(
                st.builds(netbios.NbAddress, st.ip_addresses(v=4).map(IPv4Address)),
                max_size=3,
                min_size=1,
            ).map(tuple),
            ttl=st.integers(0, 2**32 - 1),
        ),
    )
    return packet.map(netbios.encode_packet)


def rtp_bytes() -> st.SearchStrategy[bytes]:
    packet = st.builds(
        rtp.RtpPacket,
        payload_type=st.sampled_from([0, 8, 101]) | st.integers(0, 127),
        sequence=st.integers(0, 0xFFFF),
        timestamp=st.integers(0, 2**32 - 1),
        ssrc=st.integers(0, 2**32 - 1),
        payload=st.binary(max_size=200),
        marker=st.booleans(),
        csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=3).map(tuple),
    )
    return packet.map(rtp.encode_packet)


# -- SIP and SDP --------------------------------------------------------------------------


def sdp_body(ip: str = PEER_IP, port: int = 40002) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=ptime:20\r\na=sendrecv\r\n"
    )


def invite(call_id: str, user: str = "870#", *, method: str = "INVITE", cseq: int = 1) -> bytes:
    """A request to the device's CONF interface as a caller behind the registrar sends it."""
    body = sdp_body() if method == "INVITE" else ""
    return (
        f"{method} sip:{user}@{DEVICE_IP} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {PEER_IP}:5062;branch=z9hG4bK{call_id}{cseq};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:caller@{PEER_IP}>;tag=t1\r\n"
        f"To: <sip:{user}@{DEVICE_IP}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:caller@{PEER_IP}:5062>\r\n"
        "Record-Route: <sip:10.0.0.1;lr>\r\n"
        "Expires: 60\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def _challenge(call_id: str) -> bytes:
    return (
        "SIP/2.0 401 Unauthorized\r\n"
        f"Via: SIP/2.0/UDP {DEVICE_IP}:5060;branch=z9hG4bK{call_id};rport\r\n"
        f"From: <sip:conf87@10.0.0.1>;tag=r1\r\nTo: <sip:conf87@10.0.0.1>;tag=s1\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n"
        'WWW-Authenticate: Digest realm="lab", nonce="abc", qop="auth", algorithm=MD5\r\n'
        "Content-Length: 0\r\n\r\n"
    ).encode()


def sip_bytes() -> st.SearchStrategy[bytes]:
    """Requests to the CONF interface (INVITE, ACK, BYE, CANCEL, OPTIONS) and responses."""
    methods = st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"])
    users = st.sampled_from(["870#", "87", "87#", "8", "x"])
    request = st.builds(
        lambda call, user, method, cseq: invite(call, user, method=method, cseq=cseq),
        _tokens,
        users,
        methods,
        st.integers(1, 3),
    )
    return request | _tokens.map(_challenge)

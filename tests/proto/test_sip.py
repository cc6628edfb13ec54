"""The SIP codec (``ipgwsim.proto.sip``) and the SDP offer/answer (``ipgwsim.proto.sdp``).

scapy has no SIP layer, so the oracle is golden bytes: messages as RFC 3261 section 24
and RFC 3665 section 2.1 print them (folded lines included), and digest responses from
RFC 2617's worked example.
"""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.proto.sdp import (
    NotAcceptable,
    SdpError,
    negotiate,
    parse_sdp,
    render_answer,
)
from ipgwsim.proto.sip import (
    CSeq,
    MalformedSip,
    NameAddr,
    SipRequest,
    SipResponse,
    Via,
    make_response,
    parse_message,
    parse_name_addr,
    parse_uri,
    parse_via,
    split_list,
)
from ipgwsim.proto.sipdigest import (
    DigestChallenge,
    authorization,
    digest_response,
    parse_auth_params,
    parse_challenge,
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


# RFC 3261 24.2 F1 (Alice's INVITE, as it leaves her phone); body of 4 bytes here.
INVITE = crlf(
    "INVITE sip:bob@biloxi.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.com>\n"
    "From: Alice <sip:alice@atlanta.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:alice@pc33.atlanta.com>\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 5\n"
    "\n"
    "v=0\n"
)

# RFC 3261 24.2 F9 style: a 200 OK with three Vias, each folded onto a second line.
OK_THREE_VIAS = crlf(
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP server10.biloxi.com\n"
    "   ;branch=z9hG4bKnashds8;received=192.0.2.3\n"
    "Via: SIP/2.0/UDP bigbox3.site3.atlanta.com\n"
    "   ;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\n"
    "Via: SIP/2.0/UDP pc33.atlanta.com\n"
    "   ;branch=z9hG4bK776asdhds ;received=192.0.2.1\n"
    "To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\n"
    "From: Alice <sip:alice@atlanta.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.com\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:bob@192.0.2.4>\n"
    "Content-Length: 0\n"
    "\n"
)

# RFC 3665 2.1 F1 and F2: a REGISTER and its 401 (the challenge folded over three lines).
REGISTER = crlf(
    "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7\n"
    "Max-Forwards: 70\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\n"
    "To: Bob <sips:bob@biloxi.example.com>\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 1 REGISTER\n"
    "Contact: <sips:bob@client.biloxi.example.com>\n"
    "Content-Length: 0\n"
    "\n"
)
UNAUTHORIZED = crlf(
    "SIP/2.0 401 Unauthorized\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7\n"
    " ;received=192.0.2.201\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\n"
    "To: Bob <sips:bob@biloxi.example.com>;tag=1410948204\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 1 REGISTER\n"
    'WWW-Authenticate: Digest realm="atlanta.example.com", qop="auth",\n'
    ' nonce="ea9c8e88df84f1cec4341ae6cbe5a359",\n'
    ' opaque="", stale=FALSE, algorithm=MD5\n'
    "Content-Length: 0\n"
    "\n"
)
# RFC 3261 24.1: a registration's 200 with Expires.
REGISTERED = crlf(
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bKnashds7\n"
    " ;received=192.0.2.4\n"
    "To: Bob <sip:bob@biloxi.com>;tag=2493k59kd\n"
    "From: Bob <sip:bob@biloxi.com>;tag=456248\n"
    "Call-ID: 843817637684230@998sdasdh09\n"
    "CSeq: 1826 REGISTER\n"
    "Contact: <sip:bob@192.0.2.4>\n"
    "Expires: 7200\n"
    "Content-Length: 0\n"
    "\n"
)
GOLDEN = [INVITE, OK_THREE_VIAS, REGISTER, UNAUTHORIZED, REGISTERED]


# -- parsing golden messages --------------------------------------------------------------


def test_rfc3261_invite() -> None:
    m = parse_message(INVITE)
    assert isinstance(m, SipRequest)
    assert (m.method, m.uri) == ("INVITE", "sip:bob@biloxi.com")
    assert m.request_uri == parse_uri("sip:bob@biloxi.com")
    assert m.call_id == "a84b4c76e66710"
    assert m.cseq == CSeq(314159, "INVITE")
    assert m.from_ == NameAddr("sip:alice@atlanta.com", "Alice", (("tag", "1928301774"),))
    assert m.from_.tag == "1928301774"
    assert m.to.tag is None
    assert m.to.display == "Bob"
    assert m.via == Via("pc33.atlanta.com", None, (("branch", "z9hG4bKnashds8"),))
    assert m.branch == "z9hG4bKnashds8"
    assert [c.uri for c in m.contacts] == ["sip:alice@pc33.atlanta.com"]
    assert m.content_type == "application/sdp"
    assert m.int_header("Max-Forwards") == 70
    assert m.body == b"v=0\r\n"
    assert m.expires is None


def test_three_folded_vias_in_order() -> None:
    m = parse_message(OK_THREE_VIAS)
    assert isinstance(m, SipResponse)
    assert (m.status, m.reason) == (200, "OK")
    assert [(v.host, v.branch, v.param("received")) for v in m.vias] == [
        ("server10.biloxi.com", "z9hG4bKnashds8", "192.0.2.3"),
        ("bigbox3.site3.atlanta.com", "z9hG4bK77ef4c2312983.1", "192.0.2.2"),
        ("pc33.atlanta.com", "z9hG4bK776asdhds", "192.0.2.1"),
    ]
    assert m.to.tag == "a6c85cf"
    # folding is undone with one blank
    assert (
        m.header("Via")
        == "SIP/2.0/UDP server10.biloxi.com ;branch=z9hG4bKnashds8;received=192.0.2.3"
    )


def test_vias_in_one_header_separated_by_commas() -> None:
    two = b"SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example:5070;branch=z9hG4bK2"
    data = OK_THREE_VIAS.replace(
        b"Via: SIP/2.0/UDP server10.biloxi.com\r\n   ;branch=z9hG4bKnashds8;received=192.0.2.3",
        b"Via: " + two,
    )
    m = parse_message(data)
    assert [(v.host, v.port) for v in m.vias] == [
        ("a.example", None),
        ("b.example", 5070),
        ("bigbox3.site3.atlanta.com", None),
        ("pc33.atlanta.com", None),
    ]
    assert m.branch == "z9hG4bK1"


def test_rfc3665_register_and_its_challenge() -> None:
    register = parse_message(REGISTER)
    assert isinstance(register, SipRequest)
    assert register.uri == "sips:ss2.biloxi.example.com"
    assert register.via == Via(
        "client.biloxi.example.com", 5061, (("branch", "z9hG4bKnashds7"),), "TLS"
    )
    assert register.contacts[0].sip_uri().scheme == "sips"
    challenge_msg = parse_message(UNAUTHORIZED)
    assert isinstance(challenge_msg, SipResponse)
    assert challenge_msg.status == 401
    assert challenge_msg.via.param("received") == "192.0.2.201"
    value = challenge_msg.header("WWW-Authenticate")
    assert value is not None
    assert parse_challenge(value) == DigestChallenge(
        realm="atlanta.example.com",
        nonce="ea9c8e88df84f1cec4341ae6cbe5a359",
        opaque="",
        algorithm="MD5",
        qop=("auth",),
        stale=False,
    )


def test_registration_200_expires() -> None:
    m = parse_message(REGISTERED)
    assert m.expires == 7200
    assert m.contacts[0].param("expires") is None
    with_param = parse_message(
        REGISTERED.replace(b"<sip:bob@192.0.2.4>", b"<sip:bob@192.0.2.4>;expires=3600")
    )
    assert with_param.contacts[0].param("expires") == "3600"


@pytest.mark.parametrize("data", GOLDEN)
def test_golden_messages_render_back_to_the_same_bytes_once_unfolded(data: bytes) -> None:
    m = parse_message(data)
    rendered = m.render()
    assert parse_message(rendered) == m
    assert rendered.replace(b"\r\n ", b" ").replace(b"\r\n   ", b" ") == rendered
    if b"\r\n " not in data:  # no folding: byte for byte
        assert rendered == data


def test_render_builds_exact_bytes_and_sets_content_length() -> None:
    request = SipRequest(
        "OPTIONS",
        "sip:87@10.0.0.5",
        (
            ("Via", "SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bKx;rport"),
            ("From", "<sip:c@10.0.0.20>;tag=1"),
            ("To", "<sip:87@10.0.0.5>"),
            ("Call-ID", "abc"),
            ("CSeq", "7 OPTIONS"),
            ("Content-Length", "99"),
        ),
        b"hello",
    )
    assert request.render() == crlf(
        "OPTIONS sip:87@10.0.0.5 SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bKx;rport\n"
        "From: <sip:c@10.0.0.20>;tag=1\n"
        "To: <sip:87@10.0.0.5>\n"
        "Call-ID: abc\n"
        "CSeq: 7 OPTIONS\n"
        "Content-Length: 5\n"
        "\n"
        "hello"
    )
    without = request.without_header("content-length")
    assert without.render().endswith(b"CSeq: 7 OPTIONS\r\nContent-Length: 5\r\n\r\nhello")
    assert parse_message(without.render()) == request.replacing_header("l", "5")


def test_compact_forms_are_read_as_long_names() -> None:
    data = crlf(
        "INVITE sip:bob@biloxi.com SIP/2.0\n"
        "v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\n"
        "t: Bob <sip:bob@biloxi.com>\n"
        "f: Alice <sip:alice@atlanta.com>;tag=1928301774\n"
        "i: a84b4c76e66710\n"
        "m: <sip:alice@pc33.atlanta.com>\n"
        "c: application/sdp\n"
        "k: timer\n"
        "s: lunch\n"
        "CSEQ: 1 INVITE\n"
        "max-forwards: 70\n"
        "l: 4\n"
        "\n"
        "v=0\n"
    )  # l: 4 of the 5 bytes that follow
    m = parse_message(data)
    assert [n for n, _ in m.headers] == [
        "Via", "To", "From", "Call-ID", "Contact", "Content-Type", "Supported", "Subject",
        "CSeq", "Max-Forwards", "Content-Length",
    ]  # fmt: skip
    assert m.call_id == "a84b4c76e66710"
    assert m.header("i") == m.header("CALL-ID") == "a84b4c76e66710"
    assert m.header_values("Supported") == ["timer"]
    assert m.body == b"v=0\r"
    assert b"Via: SIP/2.0/UDP" in m.render()


def test_lf_line_ends_leading_crlf_and_header_whitespace_are_tolerated() -> None:
    head, body = INVITE.split(b"\r\n\r\n", 1)
    head = head.replace(b"\r\n", b"\n").replace(b"Max-Forwards: 70", b"Max-Forwards  :70")
    m = parse_message(b"\r\n\r\n" + head + b"\n\n" + body)
    assert m == parse_message(INVITE)


def test_content_length_is_respected() -> None:
    longer = INVITE + b"trailing junk of the datagram"
    assert parse_message(longer).body == b"v=0\r\n"
    no_length = longer.replace(b"Content-Length: 5\r\n", b"")
    assert parse_message(no_length).body == b"v=0\r\ntrailing junk of the datagram"  # to the end
    with pytest.raises(MalformedSip, match="only 5 bytes follow"):
        parse_message(INVITE.replace(b"Content-Length: 5", b"Content-Length: 50"))
    zero = parse_message(INVITE.replace(b"Content-Length: 5", b"Content-Length: 0"))
    assert zero.body == b""


def test_make_response_copies_what_rfc3261_says() -> None:
    request = parse_message(
        OK_THREE_VIAS.replace(b"SIP/2.0 200 OK", b"BYE sip:bob@192.0.2.4 SIP/2.0").replace(
            b"CSeq: 314159 INVITE", b"CSeq: 314160 BYE"
        )
    )
    assert isinstance(request, SipRequest)
    response = make_response(request, 200, headers=[("Server", "x")], to_tag="zz")
    assert response.status == 200
    assert response.reason == "OK"
    assert response.vias == request.vias
    assert response.header("From") == request.header("From")
    assert response.to.tag == "a6c85cf"  # it had one: kept
    assert response.call_id == request.call_id
    assert response.cseq == CSeq(314160, "BYE")
    assert response.header("Contact") is None
    assert response.header("Server") == "x"
    invite = parse_message(INVITE)
    assert isinstance(invite, SipRequest)
    ok = make_response(invite, 200, to_tag="a6c85cf")
    assert ok.header("To") == "Bob <sip:bob@biloxi.com>;tag=a6c85cf"
    assert make_response(invite, 100, to_tag="a6c85cf").to.tag is None
    assert make_response(invite, 486).reason == "Busy Here"
    assert make_response(invite, 487).reason == "Request Terminated"
    assert make_response(invite, 299, "Odd").reason == "Odd"
    assert parse_message(ok.render()) == ok.replacing_header("Content-Length", "0")


# -- URIs, addresses, Via -------------------------------------------------------------------


def test_uris() -> None:
    uri = parse_uri("sip:870%23@10.0.0.5:5060;user=phone;lr")
    assert (uri.user, uri.user_text, uri.host, uri.port) == ("870%23", "870#", "10.0.0.5", 5060)
    assert uri.param("user") == "phone"
    assert uri.param("lr") is None
    assert uri.render() == "sip:870%23@10.0.0.5:5060;user=phone;lr"
    assert parse_uri("sip:870#@10.0.0.5").user_text == "870#"  # as some PBXs send it
    assert parse_uri("SIPS:Bob:pw@Biloxi.COM?subject=x").host == "biloxi.com"
    assert parse_uri("sip:[2001:db8::1]:5070").port == 5070
    assert parse_uri("sip:registrar.biloxi.com").user is None
    for bad in ("tel:+123", "sip:", "sip:a b@c", "sip:@host", "sip:h:99999", "http://x", "sip:h:x"):
        with pytest.raises(MalformedSip):
            parse_uri(bad)


def test_name_addr_forms() -> None:
    quoted = parse_name_addr('"Conf \\"A\\", 1" <sip:87@10.0.0.1>;tag=x;expires=60')
    assert quoted.display == 'Conf "A", 1'
    assert (quoted.tag, quoted.param("expires")) == ("x", "60")
    assert parse_name_addr(quoted.render()) == quoted
    # without <>: the parameters are the header's (RFC 3261 20.10)
    bare = parse_name_addr("sip:alice@atlanta.com;tag=88sja8x")
    assert (bare.uri, bare.tag) == ("sip:alice@atlanta.com", "88sja8x")
    assert parse_name_addr("<sip:a@b;transport=udp>").uri == "sip:a@b;transport=udp"
    assert parse_name_addr("Bob   Smith <sip:b@c>").display == "Bob Smith"
    for bad in ("<sip:a@b", "<sip:a@b> junk", '"open <sip:a@b>', "nothing"):
        with pytest.raises(MalformedSip):
            parse_name_addr(bad)


def test_via_forms() -> None:
    via = parse_via("SIP / 2.0 / udp 10.0.0.5:5060 ;branch=z9hG4bKab;rport;received=1.2.3.4")
    assert via == Via(
        "10.0.0.5", 5060, (("branch", "z9hG4bKab"), ("rport", None), ("received", "1.2.3.4"))
    )
    assert via.has_param("rport")
    assert parse_via(via.render()) == via
    for bad in ("SIP/2.0 host", "SIP/3.0/UDP host", "SIP/2.0/UDP", "SIP/2.0/UDP h:0"):
        with pytest.raises(MalformedSip):
            parse_via(bad)


def test_split_list_keeps_quoted_and_bracketed_commas() -> None:
    assert split_list('a, "b,c" <sip:x,y>;p=1 ,d') == ["a", '"b,c" <sip:x,y>;p=1', "d"]
    with pytest.raises(MalformedSip):
        split_list('"open')


# -- digest authentication ------------------------------------------------------------------

# RFC 2617 section 3.5 (and RFC 2069's example, whose password has no blanks)
NONCE = "dcd98b7102dd2f0e8b11d0f600bfb0c093"


def mufasa(
    password: str = "Circle Of Life",
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    algorithm: str = "MD5",
) -> str:
    return digest_response(
        username="Mufasa",
        password=password,
        realm="testrealm@host.com",
        nonce=NONCE,
        method="GET",
        uri="/dir/index.html",
        qop=qop,
        nc=nc,
        cnonce=cnonce,
        algorithm=algorithm,
    )


def test_digest_rfc2617_worked_example() -> None:
    assert mufasa(qop="auth", nc="00000001", cnonce="0a4f113b") == (
        "6629fae49393a05397450978507c4ef1"
    )


def test_digest_without_qop_is_rfc2069() -> None:
    # RFC 2069's example, with the value of its erratum
    assert mufasa("CircleOfLife") == "1949323746fe6a43ef61f9606e7febea"

    def md5(s: str) -> str:
        return hashlib.md5(s.encode()).hexdigest()

    ha1 = md5("Mufasa:testrealm@host.com:CircleOfLife")
    ha2 = md5("GET:/dir/index.html")
    assert mufasa("CircleOfLife") == md5(f"{ha1}:{NONCE}:{ha2}")
    sess = mufasa("CircleOfLife", qop="auth", nc="00000002", cnonce="c", algorithm="MD5-sess")
    ha1s = md5(f"{ha1}:{NONCE}:c")
    assert sess == md5(f"{ha1s}:{NONCE}:00000002:c:auth:{ha2}")
    with pytest.raises(ValueError, match="SHA-256"):
        mufasa(algorithm="SHA-256")


def test_authorization_header_answers_the_challenge() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = authorization(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
    )
    scheme, params = parse_auth_params(value)
    assert scheme == "Digest"
    assert params == {
        "username": "Mufasa",
        "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "/dir/index.html",
        "response": "6629fae49393a05397450978507c4ef1",
        "algorithm": "MD5",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "0a4f113b",
    }
    plain = parse_challenge('Digest realm="r", nonce="n"')
    _, params = parse_auth_params(
        authorization(plain, username="u", password="p", method="REGISTER", uri="sip:r", cnonce="c")
    )
    assert "qop" not in params
    assert "nc" not in params
    assert params["response"] == digest_response(
        username="u", password="p", realm="r", nonce="n", method="REGISTER", uri="sip:r"
    )


def test_bad_challenges() -> None:
    assert not parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-256').supported
    assert parse_challenge('Digest realm="r", nonce="n", stale=true').stale
    for bad in ('Basic realm="r"', 'Digest realm="r"', "Digest realm", "", 'Digest x="open'):
        with pytest.raises(MalformedSip):
            parse_challenge(bad)


# -- garbage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "no empty line"),
        (b"hello", "no empty line"),
        (b"hello\r\n\r\n", "bad request line"),
        (b"\x00\xff\xfe\r\n\r\n", "not UTF-8"),
        (INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), "bad request line"),
        (OK_THREE_VIAS.replace(b"200 OK", b"20 OK"), "bad status line"),
        (OK_THREE_VIAS.replace(b"200 OK", b"700 OK"), "bad status line"),
        (OK_THREE_VIAS.replace(b"SIP/2.0 200", b"SIP/2.1 200"), "not SIP/2.0"),
        (INVITE.replace(b"Call-ID: a84b4c76e66710\r\n", b""), "no Call-ID"),
        (INVITE.replace(b"Call-ID: a84b4c76e66710", b"Call-ID: "), "empty Call-ID"),
        (
            INVITE.replace(b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n", b""),
            "no Via",
        ),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: x INVITE"), "bad CSeq"),
        (INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), "CSeq method BYE"),
        (
            INVITE.replace(b"To: Bob <sip:bob@biloxi.com>", b"To: Bob <sip:bob@biloxi.com"),
            "missing '>'",
        ),
        (INVITE.replace(b"Max-Forwards: 70", b"Max Forwards 70"), "bad header line"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 7\x010"), "control character"),
        (INVITE.replace(b"Content-Length: 5", b"Content-Length: four"), "bad Content-Length"),
        (INVITE.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 4"), "given twice"),
        (INVITE.replace(b"Via: SIP/2.0/UDP pc33", b"Via: SIP/2.0 pc33"), "bad Via"),
        (b" INVITE sip:a@b SIP/2.0\r\n\r\n", "continuation line"),
        (b"INVITE sip:a@b SIP/2.0\r\n folded: first\r\n\r\n", "continuation line"),
        (b"INVITE nocolon SIP/2.0\r\n\r\n", "bad request line"),
    ],
)
def test_garbage_is_malformed_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedSip, match=reason) as info:
        parse_message(data)
    assert reason in info.value.reason


def test_every_truncation_of_a_golden_message_parses_or_is_malformed() -> None:
    for data in GOLDEN:
        for end in range(len(data)):
            with contextlib.suppress(MalformedSip):
                parse_message(data[:end])


@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedSip):
        parse_message(data)


@given(st.integers(0, len(INVITE) - 1), st.binary(min_size=1, max_size=3))
def test_mutated_invites_parse_or_are_malformed(at: int, junk: bytes) -> None:
    data = INVITE[:at] + junk + INVITE[at + len(junk) :]
    try:
        m = parse_message(data)
    except MalformedSip:
        return
    assert parse_message(m.render()) == m


# -- SDP ------------------------------------------------------------------------------------

OFFER = crlf(
    "v=0\n"
    "o=- 53655765 2353687637 IN IP4 10.0.0.20\n"
    "s=-\n"
    "c=IN IP4 10.0.0.20\n"
    "t=0 0\n"
    "m=audio 40000 RTP/AVP 0 8 101\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=fmtp:101 0-15\n"
    "a=ptime:20\n"
    "a=sendrecv\n"
)


def test_offer_is_parsed() -> None:
    sdp = parse_sdp(OFFER)
    assert sdp.origin == "- 53655765 2353687637 IN IP4 10.0.0.20"
    assert sdp.connection == "10.0.0.20"
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        40000,
        "RTP/AVP",
        ("0", "8", "101"),
    )
    assert audio.encoding(8) == "PCMA/8000"
    assert audio.encoding(101) == "telephone-event/8000"
    assert (audio.ptime, audio.direction) == (20, "sendrecv")


def test_answer_prefers_pcma_and_takes_telephone_event() -> None:
    offer = parse_sdp(OFFER)
    chosen = negotiate(offer)
    assert (chosen.payload_type, chosen.event_type, chosen.remote) == (8, 101, ("10.0.0.20", 40000))
    answer = render_answer(offer, chosen, ip="10.0.0.5", port=16384, session_id=42)
    assert answer == crlf(
        "v=0\n"
        "o=- 42 1 IN IP4 10.0.0.5\n"
        "s=-\n"
        "c=IN IP4 10.0.0.5\n"
        "t=0 0\n"
        "m=audio 16384 RTP/AVP 8 101\n"
        "a=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:101 telephone-event/8000\n"
        "a=fmtp:101 0-15\n"
        "a=ptime:20\n"
        "a=sendrecv\n"
    )
    back = negotiate(parse_sdp(answer))
    assert (back.payload_type, back.remote) == (8, ("10.0.0.5", 16384))


def test_pcmu_only_and_other_lines_refused_in_order() -> None:
    offer = parse_sdp(
        crlf(
            "v=0\no=x 1 1 IN IP4 10.0.0.20\ns=-\nt=0 0\n"
            "m=video 5000 RTP/AVP 96\nc=IN IP4 10.0.0.21\n"
            "m=audio 0 RTP/AVP 8\n"
            "m=audio 6000 RTP/AVP 18 0 96\nc=IN IP4 10.0.0.22\na=rtpmap:96 telephone-event/8000\n"
            "a=sendonly\n"
        )
    )
    chosen = negotiate(offer)
    assert (chosen.index, chosen.payload_type, chosen.event_type) == (2, 0, None)
    assert chosen.remote == ("10.0.0.22", 6000)
    assert chosen.direction == "recvonly"
    lines = render_answer(offer, chosen, ip="10.0.0.5", port=16386, session_id=1).split(b"\r\n")
    assert [line for line in lines if line.startswith(b"m=")] == [
        b"m=video 0 RTP/AVP 96",
        b"m=audio 0 RTP/AVP 8",
        b"m=audio 16386 RTP/AVP 0",
    ]


@pytest.mark.parametrize(
    "media",
    [
        "m=audio 40000 RTP/AVP 18 9\n",  # G.729, G.722
        "m=audio 40000 RTP/SAVP 8\n",
        "m=audio 0 RTP/AVP 8\n",
        "m=audio 40000 RTP/AVP 8\na=rtpmap:8 G729/8000\n",
        "m=video 40000 RTP/AVP 8\n",
    ],
)
def test_no_common_codec_is_not_acceptable(media: str) -> None:
    offer = parse_sdp(crlf(f"v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\n{media}"))
    with pytest.raises(NotAcceptable):
        negotiate(offer)


def test_bad_sdp() -> None:
    for bad in (
        b"",
        b"hello",
        b"v=0\r\ns=-\r\n",
        b"v=0\r\no=x\r\nm=audio x RTP/AVP 8\r\n",
        b"\xff",
    ):
        with pytest.raises(SdpError):
            parse_sdp(bad)
    with pytest.raises(NotAcceptable):
        parse_sdp(b"v=0\r\no=- 1 1 IN IP6 ::1\r\nc=IN IP6 ::1\r\n")
    no_c = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 8\r\n")
    with pytest.raises(NotAcceptable, match="no c= line"):
        negotiate(no_c)


@pytest.mark.parametrize("name", ["To", "From", "Call-ID", "CSeq", "Expires", "Content-Type"])
def test_single_valued_headers_given_twice_are_malformed(name: str) -> None:
    head, body = INVITE.split(b"\r\n\r\n", 1)
    extra = {"To": "<<garbage", "CSeq": "1 INVITE", "Expires": "5"}.get(name, "x")
    line = f"\r\n{name}: {extra}".encode()
    twice = line if f"\r\n{name}:".encode() in head else line + line
    data = head + twice + b"\r\n\r\n" + body
    with pytest.raises(MalformedSip, match="more than once"):
        parse_message(data)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("pc33.atlanta.com;", "pc33.atlanta.com:" + "5" * 5000 + ";"),
        ("CSeq: 314159", "CSeq: " + "1" * 5000),
        ("CSeq: 314159", "CSeq: \u00b2"),
        ("CSeq: 314159", "CSeq: \u0663"),
        ("Content-Length: ", "Content-Length: " + "0" * 5000),
        ("Max-Forwards: 70", "Max-Forwards: " + "7" * 5000),
        ("Max-Forwards: 70", "Max-Forwards: \u0667\u0660"),
    ],
)
def test_hostile_numbers_are_malformed_not_value_errors(old: str, new: str) -> None:
    data = INVITE.decode().replace(old, new, 1).encode()
    assert data != INVITE
    with pytest.raises(MalformedSip):
        parse_message(data)


def test_hostile_int_headers_in_a_response_are_malformed() -> None:
    request = parse_message(INVITE)
    assert isinstance(request, SipRequest)
    response = make_response(request, 423)
    for value in ("9" * 5000, "\u00b2"):
        with pytest.raises(MalformedSip):
            response.with_header("Min-Expires", value).int_header("Min-Expires")
        with pytest.raises(MalformedSip):
            parse_message(response.with_header("Min-Expires", value).render())

"""innovaphone's update server URL option (215), alone or inside option 43 (sans-I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.proto.dhcp import DhcpMessage, MessageType, encode_message, parse_message
from ipgwsim.proto.dhcpvendor import (
    UPDATE_URL,
    VENDOR_SPECIFIC,
    encode_suboptions,
    parse_suboptions,
    update_url,
)
from ipgwsim.proto.errors import LocalProtocolError

URL = b"http://10.0.0.9/up/"


def _ack(*options: tuple[int, bytes]) -> DhcpMessage:
    return DhcpMessage(
        kind=MessageType.ACK, xid=7, chaddr=bytes(6), yiaddr="10.0.0.50", other=options
    )


def test_the_codes() -> None:
    assert (UPDATE_URL, VENDOR_SPECIFIC) == (215, 43)


def test_suboptions_golden_bytes() -> None:
    data = encode_suboptions(((215, b"http://a/"), (216, b"1")))
    assert data == bytes([215, 9]) + b"http://a/" + bytes([216, 1]) + b"1"
    assert parse_suboptions(data) == ((215, b"http://a/"), (216, b"1"))
    # PAD skipped, END ends the list, what follows END is ignored
    assert parse_suboptions(b"\0\0" + data + b"\xff\x07junk") == parse_suboptions(data)


@pytest.mark.parametrize("data", [bytes([215]), bytes([215, 5]) + b"abc", bytes([1, 2, 3])])
def test_a_suboption_running_past_the_end_is_malformed(data: bytes) -> None:
    assert parse_suboptions(data) is None


@pytest.mark.parametrize(
    ("pairs", "why"),
    [
        (((0, b""),), "not in 1..254"),
        (((255, b""),), "not in 1..254"),
        (((1, bytes(256)),), "at most 255"),
    ],
)
def test_encoding_refuses_what_does_not_fit(pairs: tuple[tuple[int, bytes], ...], why: str) -> None:
    with pytest.raises(LocalProtocolError, match=why):
        encode_suboptions(pairs)


@given(st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=255)), max_size=4).map(tuple))
def test_suboptions_round_trip(pairs: tuple[tuple[int, bytes], ...]) -> None:
    assert parse_suboptions(encode_suboptions(pairs)) == pairs


def test_the_url_on_the_wire_alone_and_encapsulated() -> None:
    alone = encode_message(_ack((215, URL)))
    assert bytes([215, len(URL)]) + URL in alone
    assert update_url(parse_message(alone)) == URL.decode()
    inside = encode_message(_ack((43, encode_suboptions(((215, URL),)))))
    assert bytes([43, len(URL) + 2, 215, len(URL)]) + URL in inside
    assert update_url(parse_message(inside)) == URL.decode()


def test_option_215_of_its_own_comes_before_option_43() -> None:
    msg = _ack((43, encode_suboptions(((215, b"http://b/"),))), (215, b"http://a/"))
    assert update_url(msg) == "http://a/"


@pytest.mark.parametrize(
    "options",
    [
        (),
        ((215, b""),),
        ((215, b"\0\0"),),
        ((215, b"http://\xe4/"),),
        ((43, bytes([215, 9]) + b"http"),),  # runs past the end
        ((43, encode_suboptions(((216, b"1"),))),),
    ],
)
def test_no_url(options: tuple[tuple[int, bytes], ...]) -> None:
    assert update_url(_ack(*options)) is None


def test_trailing_nuls_are_dropped() -> None:
    assert update_url(_ack((215, URL + b"\0"))) == URL.decode()

"""The sans-I/O gwload client engine in virtual time: retries, xid matching, the
collect window, busy waits and TFTP ERROR answers (gwload-protocol.md 3)."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address

import pytest

from ipgwsim.proto import gwload
from ipgwsim.proto.gwloadclient import (
    Answered,
    GwloadRequest,
    NoAnswer,
    NotUnderstood,
    Refused,
    Unanswered,
    classify,
    the_reply,
)
from ipgwsim.proto.net import Datagram
from ipgwsim.proto.tftp import Error, ErrorCode, encode_packet

LOCAL = ("0.0.0.0", 40_000)
DEVICE = ("10.0.0.5", 69)
OTHER = ("10.0.0.6", 69)
MAC = bytes.fromhex("009033000001")
MAC2 = bytes.fromhex("009033000002")


def _request(**kwargs: object) -> GwloadRequest:
    xids = itertools.count(100)
    return GwloadRequest(
        lambda xid: gwload.Go(xid, MAC, 6000),
        DEVICE,
        LOCAL,
        0.0,
        xids=lambda: next(xids),
        what="GO",
        **kwargs,  # type: ignore[arg-type]
    )


def _sent(request: GwloadRequest) -> list[gwload.Message]:
    out = []
    for datagram in request.datagrams_to_send():
        assert datagram.src == LOCAL
        assert datagram.dst == DEVICE
        out.append(gwload.parse_message(datagram.data))
    return out


def _reply(message: gwload.Message, src: tuple[str, int] = DEVICE) -> Datagram:
    return Datagram(gwload.encode_message(message), src, LOCAL)


def _ack(xid: int) -> gwload.Ack:
    return gwload.Ack(xid, MAC, 6000, acked=gwload.Opcode.GO)


def _hello(xid: int, mac: bytes = MAC) -> gwload.Hello:
    return gwload.Hello(
        xid,
        mac,
        6000,
        ip=IPv4Address("10.0.0.5"),
        mask=IPv4Address("255.0.0.0"),
        state=gwload.DeviceState.TFTP_MODE,
        boot_build=1000,
        model="IP6000",
        firmware_build="",
        config_name="config",
    )


def _busy(xid: int) -> gwload.Nak:
    return gwload.Nak(xid, MAC, 6000, code=gwload.NakCode.BUSY, text="busy: programming prot")


def test_a_request_is_repeated_interval_apart_until_the_tries_run_out() -> None:
    request = _request(tries=3, interval=1.0)
    assert [m.xid for m in _sent(request)] == [100]
    times = []
    while (deadline := request.get_timer()) is not None:
        request.handle_timer(deadline)
        times.append(deadline)
        for message in _sent(request):
            assert message.xid == 100  # the repeats of one request keep its xid
    assert times == [1.0, 2.0, 3.0]  # sent at 0, 1, 2; given up 1 s after the last
    assert request.finished
    outcome = request.next_event()
    assert outcome == Unanswered("GO", None)
    assert request.next_event() is None
    with pytest.raises(NoAnswer, match=r"^no answer to GO \(retry errors\)$"):
        the_reply(outcome)


def test_an_early_timer_call_changes_nothing() -> None:
    request = _request()
    _sent(request)
    request.handle_timer(0.5)
    assert request.datagrams_to_send() == []
    assert request.get_timer() == 1.0


def test_a_reply_with_another_xid_or_a_request_is_ignored() -> None:
    request = _request()
    _sent(request)
    request.receive_datagram(_reply(_ack(99)), 0.1)  # a late answer to an earlier request
    request.receive_datagram(_reply(gwload.Go(100, MAC, 6000)), 0.1)  # another client's GO
    request.receive_datagram(Datagram(b"\x47\x01garbage", DEVICE, LOCAL), 0.1)
    assert not request.finished
    request.receive_datagram(_reply(_ack(100)), 0.2)
    assert request.finished
    assert request.next_event() == Answered(((_ack(100), DEVICE),))
    assert request.get_timer() is None


def test_accept_filters_replies() -> None:
    request = _request(accept=lambda reply, src: src == OTHER)
    _sent(request)
    request.receive_datagram(_reply(_ack(100)), 0.1)
    assert not request.finished
    request.receive_datagram(_reply(_ack(100), OTHER), 0.1)
    assert request.outcome == Answered(((_ack(100), OTHER),))


def test_the_collect_window_takes_every_reply_after_the_first() -> None:
    request = _request(collect=0.25)
    _sent(request)
    first = _hello(100)
    second = _hello(100, MAC2)
    request.receive_datagram(_reply(first), 0.5)
    assert not request.finished
    assert request.get_timer() == 0.75  # the window, not the 1 s of the try
    request.receive_datagram(_reply(second, OTHER), 0.7)
    assert request.get_timer() == 0.75  # a later reply does not stretch it
    request.handle_timer(0.75)
    assert request.next_event() == Answered(((first, DEVICE), (second, OTHER)))
    assert request.datagrams_to_send() == []  # answered: no repeat


def test_the_collect_window_ends_with_the_try() -> None:
    request = _request(collect=0.25)
    _sent(request)
    request.receive_datagram(_reply(_hello(100)), 0.9)
    assert request.get_timer() == 1.0


def test_a_busy_device_is_asked_again_with_a_new_xid_until_the_wait_ends() -> None:
    request = _request(busy_wait=2.5, interval=1.0)
    assert [m.xid for m in _sent(request)] == [100]
    request.receive_datagram(_reply(_busy(100)), 0.1)
    assert not request.finished
    assert request.get_timer() == 1.1  # one interval later
    request.receive_datagram(_reply(_ack(100)), 0.5)  # between rounds: not listened to
    request.handle_timer(1.1)
    assert [m.xid for m in _sent(request)] == [101]
    request.receive_datagram(_reply(_busy(101)), 1.2)
    request.handle_timer(2.2)
    assert [m.xid for m in _sent(request)] == [102]
    request.receive_datagram(_reply(_busy(102)), 2.6)  # past the wait: refused
    outcome = request.next_event()
    assert outcome == Answered(((_busy(102), DEVICE),))
    with pytest.raises(Refused, match=r"^device 00:90:33:00:00:01 refused: busy: programming"):
        the_reply(outcome)


def test_a_busy_device_that_becomes_free_is_answered() -> None:
    request = _request(busy_wait=5.0)
    _sent(request)
    request.receive_datagram(_reply(_busy(100)), 0.1)
    request.handle_timer(1.1)
    _sent(request)
    request.receive_datagram(_reply(_ack(101)), 1.2)
    assert the_reply(request.outcome) == _ack(101)  # type: ignore[arg-type]


def test_without_a_busy_wait_busy_is_a_refusal_at_once() -> None:
    request = _request()
    _sent(request)
    request.receive_datagram(_reply(_busy(100)), 0.1)
    assert isinstance(request.outcome, Answered)
    with pytest.raises(Refused):
        the_reply(request.outcome)


def test_a_tftp_error_is_reported_when_the_tries_run_out() -> None:
    request = _request(tries=1)
    _sent(request)
    error = encode_packet(Error(ErrorCode.ILLEGAL_OPERATION, "illegal TFTP operation"))
    request.receive_datagram(Datagram(error, DEVICE, LOCAL), 0.1)
    assert not request.finished  # a device that does understand may still answer
    request.handle_timer(1.0)
    outcome = request.next_event()
    assert outcome == Unanswered("GO", "illegal TFTP operation")
    with pytest.raises(NotUnderstood, match=r"TFTP ERROR: illegal TFTP operation\)$"):
        the_reply(outcome)


def test_classify() -> None:
    hello = _hello(1)
    assert classify(gwload.encode_message(hello)) == hello
    assert classify(encode_packet(Error(4, "no"))) == Error(4, "no")
    assert classify(b"\x00\x03\x00\x01data") is None  # TFTP, but no ERROR
    assert classify(b"\x47\x01") is None  # gwload, but malformed
    assert classify(b"") is None


def test_accepts_what_a_wildcard_socket_hears() -> None:
    request = _request()
    assert request.accepts(("10.0.0.100", 40_000))
    assert not request.accepts(("10.0.0.100", 40_001))
    bound = GwloadRequest(
        lambda xid: gwload.Discover(xid, gwload.ANY_MAC, 0),
        ("255.255.255.255", 69),
        ("10.0.0.100", 40_000),
        0.0,
        xids=lambda: 1,
        what="DISCOVER",
    )
    assert bound.accepts(("255.255.255.255", 40_000))
    assert bound.accepts(("10.0.0.100", 40_000))
    assert not bound.accepts(("10.0.0.101", 40_000))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tries": 0}, r"^tries must be at least 1, not 0$"),
        ({"interval": 0.0}, r"^interval must be more than 0 s, not 0.0$"),
        ({"collect": -1.0}, r"^collect must not be negative, not -1.0$"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _request(**kwargs)

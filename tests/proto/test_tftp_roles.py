"""The TFTP roles driven by hand: the owner's accept and refuse, dally, modes, peers.

These tests play one side of a conversation with crafted packets, or pair a
client with a server transfer directly, in virtual time.
"""

from __future__ import annotations

import pytest

from ipgwsim.proto.errors import LocalProtocolError
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.tftp import (
    Ack,
    ClientRead,
    ClientWrite,
    Data,
    ErrorCode,
    OptionAck,
    OptionsNegotiated,
    Progress,
    ReadRequest,
    ServerRead,
    ServerWrite,
    TimerPolicy,
    Transfer,
    TransferComplete,
    TransferFailed,
    UploadComplete,
    WriteRequest,
    encode_packet,
    error_packet,
    parse_packet,
)
from ipgwsim.testing.tftp_pair import (
    ALL_OPTIONS,
    CLIENT,
    SERVER,
    TID,
    drain,
    exchange,
    payload,
)


def test_undrained_progress_events_merge() -> None:
    client = ClientRead("f", SERVER, 0.0)
    client.datagrams_to_send()
    assert drain(client) == []
    for block in (1, 2, 3):
        client.receive_datagram(Datagram(encode_packet(Data(block, bytes(512))), TID, CLIENT), 0.0)
    assert drain(client) == [OptionsNegotiated({}, 512, 1), Progress(1536, None)]


def test_a_client_refuses_bad_arguments() -> None:
    with pytest.raises(LocalProtocolError, match="not ASCII"):
        ClientRead("f\u00fcr", SERVER, 0.0)
    with pytest.raises(LocalProtocolError, match="repeat a name"):
        ClientWrite("f", SERVER, b"", 0.0, options={"blksize": "8", "BLKSIZE": "9"})
    with pytest.raises(LocalProtocolError, match="filename is empty"):
        ClientRead("", SERVER, 0.0)


def test_netascii_is_served_byte_for_byte() -> None:
    data = b"line one\nline two\r\n\x00\xff"
    server = ServerRead(ReadRequest("cfg", "NetAscii"), CLIENT, data, 0.0, policy=ALL_OPTIONS)
    assert server.datagrams_to_send() == [(encode_packet(Data(1, data)), CLIENT)]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("mail", "mail mode is not supported"),
        ("MAIL", "mail mode is not supported"),
        ("binary", "unknown transfer mode 'binary'"),
    ],
)
def test_other_modes_are_refused(mode: str, reason: str) -> None:
    transfers: list[Transfer] = [
        ServerRead(ReadRequest("f", mode), CLIENT, b"x", 0.0, policy=ALL_OPTIONS),
        ServerWrite(WriteRequest("f", mode), CLIENT, 0.0, policy=ALL_OPTIONS),
    ]
    for server in transfers:
        assert server.datagrams_to_send() == [(error_packet(4, reason), CLIENT)]
        assert drain(server) == [TransferFailed(reason, 4, False)]
        assert server.finished
        assert server.get_timer() is None


def test_octet_in_capitals_is_served() -> None:
    server = ServerWrite(WriteRequest("f", "OCTET"), CLIENT, 0.0, policy=ALL_OPTIONS)
    assert server.datagrams_to_send() == [(encode_packet(Ack(0)), CLIENT)]


def start_upload(data: bytes, **options: str) -> tuple[ClientWrite, ServerWrite]:
    client = ClientWrite("fw.bin", SERVER, data, 0.0, options=options or None)
    [(request, dst)] = client.datagrams_to_send()
    assert dst == SERVER
    parsed = parse_packet(request)
    assert isinstance(parsed, WriteRequest)
    server = ServerWrite(parsed, CLIENT, 0.0, policy=ALL_OPTIONS)
    return client, server


def test_the_owner_accepts_an_upload() -> None:
    data = payload(1300)
    client, server = start_upload(data)
    exchange(client, server, 0.0)
    events = drain(server)
    assert events[0] == OptionsNegotiated({}, 512, 1)
    assert events[-1] == UploadComplete(data)
    assert server.received == data
    assert server.get_timer() is None  # no timer while the owner decides
    assert not server.finished
    # the client retransmits its last DATA; the server stays silent
    client.handle_timer(1.0)
    assert exchange(client, server, 1.0) == [(encode_packet(Data(3, data[1024:])), TID)]
    server.accept(2.0)
    assert exchange(client, server, 2.0) == [(encode_packet(Ack(3)), CLIENT)]
    assert drain(server) == [TransferComplete(None)]
    assert drain(client)[-1] == TransferComplete(None)
    assert client.finished
    assert server.get_timer() == 33.0  # dally: the client's retry schedule, 31 s
    server.handle_timer(33.0)
    assert server.finished


def test_the_owner_peeks_at_the_first_block_and_refuses() -> None:
    data = b"NOT AN IMAGE" + payload(2000)
    client, server = start_upload(data)
    client.datagrams_to_send()  # unused: the WRQ went to start_upload
    [(ack0, _)] = server.datagrams_to_send()
    client.receive_datagram(Datagram(ack0, TID, CLIENT), 0.0)
    [(data1, _)] = client.datagrams_to_send()
    server.receive_datagram(Datagram(data1, CLIENT, TID), 0.0)
    events = drain(server)
    assert events[-1] == Progress(512, None)
    assert server.received[:12] == b"NOT AN IMAGE"
    server.refuse(ErrorCode.ACCESS_VIOLATION, "not an image for this model", 0.0)
    moved = exchange(client, server, 0.0)
    assert (error_packet(2, "not an image for this model"), CLIENT) in moved
    assert drain(server) == [TransferFailed("not an image for this model", 2, False)]
    assert drain(client)[-1] == TransferFailed("not an image for this model", 2, True)
    assert server.finished
    assert client.finished


def test_refuse_after_the_upload() -> None:
    client, server = start_upload(b"tiny")
    exchange(client, server, 0.0)
    server.refuse(ErrorCode.DISK_FULL, "flash full", 0.5)
    assert exchange(client, server, 0.5) == [(error_packet(3, "flash full"), CLIENT)]
    assert drain(client)[-1] == TransferFailed("flash full", 3, True)


def test_accept_and_refuse_at_the_wrong_time() -> None:
    client, server = start_upload(payload(1000))
    with pytest.raises(LocalProtocolError, match="only after UploadComplete"):
        server.accept(0.0)
    exchange(client, server, 0.0)
    server.accept(0.0)
    with pytest.raises(LocalProtocolError, match="only after UploadComplete"):
        server.accept(0.0)
    with pytest.raises(LocalProtocolError, match="already over or accepted"):
        server.refuse(ErrorCode.NOT_DEFINED, "too late", 0.0)


def test_a_client_giving_up_while_the_owner_decides_fails_the_upload() -> None:
    client, server = start_upload(payload(100))
    exchange(client, server, 0.0)
    server.receive_datagram(Datagram(error_packet(0, "user abort"), CLIENT, TID), 3.0)
    assert drain(server)[-1] == TransferFailed("user abort", 0, True)
    assert server.finished


def test_the_reader_dallies_and_re_acks_the_final_data() -> None:
    client = ClientRead("f", SERVER, 0.0, timers=TimerPolicy(dally=3.0))
    client.datagrams_to_send()
    last = encode_packet(Data(1, b"abc"))
    client.receive_datagram(Datagram(last, TID, CLIENT), 0.5)
    assert client.datagrams_to_send() == [(encode_packet(Ack(1)), TID)]
    assert drain(client)[-1] == TransferComplete(b"abc")
    assert not client.finished
    assert client.get_timer() == 3.5
    client.receive_datagram(Datagram(last, TID, CLIENT), 2.0)  # the server missed the final ACK
    assert client.datagrams_to_send() == [(encode_packet(Ack(1)), TID)]
    assert client.get_timer() == 5.0
    client.receive_datagram(
        Datagram(encode_packet(Ack(9)), TID, CLIENT), 2.5
    )  # anything else: ignored
    client.receive_datagram(Datagram(error_packet(0, "late"), TID, CLIENT), 2.5)
    assert client.datagrams_to_send() == []
    client.handle_timer(4.9)
    assert not client.finished
    client.handle_timer(5.0)
    assert client.finished
    assert client.get_timer() is None
    assert drain(client) == []
    client.receive_datagram(Datagram(last, TID, CLIENT), 6.0)  # finished: nothing more
    assert client.datagrams_to_send() == []


def test_the_sender_does_not_dally() -> None:
    server = ServerRead(ReadRequest("f"), CLIENT, b"abc", 0.0, policy=ALL_OPTIONS)
    server.datagrams_to_send()
    server.receive_datagram(Datagram(encode_packet(Ack(1)), CLIENT, TID), 0.1)
    assert server.finished
    assert server.get_timer() is None
    assert drain(server)[-1] == TransferComplete(b"abc")


def test_the_client_locks_onto_the_first_answer() -> None:
    broadcast = ("255.255.255.255", 69)
    first: Address = ("192.168.0.7", 1024)
    second: Address = ("192.168.0.8", 1024)
    client = ClientRead("config", broadcast, 0.0)
    assert client.datagrams_to_send() == [(encode_packet(ReadRequest("config")), broadcast)]
    client.receive_datagram(
        Datagram(b"\x00\x09garbage", second, CLIENT), 0.1
    )  # ignored before the lock
    client.receive_datagram(
        Datagram(encode_packet(Ack(1)), second, CLIENT), 0.1
    )  # no answer to an RRQ
    assert client.datagrams_to_send() == []
    assert client.peer is None
    client.receive_datagram(Datagram(encode_packet(Data(1, bytes(512))), first, CLIENT), 0.2)
    client.receive_datagram(Datagram(encode_packet(Data(1, bytes(512))), second, CLIENT), 0.2)
    assert client.peer == first
    assert client.datagrams_to_send() == [
        (encode_packet(Ack(1)), first),
        (error_packet(5, "unknown transfer ID"), second),
    ]
    client.receive_datagram(Datagram(encode_packet(Data(2, b"end")), first, CLIENT), 0.3)
    assert drain(client)[-1] == TransferComplete(bytes(512) + b"end")


def test_a_repeated_request_is_ignored_by_a_live_transfer() -> None:
    request = ReadRequest("f", "octet", {"blksize": "1024"})
    server = ServerRead(request, CLIENT, b"abc", 0.0, policy=ALL_OPTIONS)
    assert server.datagrams_to_send() == [(encode_packet(OptionAck({"blksize": "1024"})), CLIENT)]
    server.receive_datagram(Datagram(encode_packet(request), CLIENT, TID), 0.2)
    assert server.datagrams_to_send() == []
    assert server.get_timer() == 1.0


def test_an_error_from_the_peer_ends_the_transfer() -> None:
    server = ServerRead(ReadRequest("f"), CLIENT, payload(2000), 0.0, policy=ALL_OPTIONS)
    server.datagrams_to_send()
    server.receive_datagram(
        Datagram(error_packet(ErrorCode.DISK_FULL, "client disk full"), CLIENT, TID), 0.1
    )
    assert server.datagrams_to_send() == []
    assert drain(server)[-1] == TransferFailed("client disk full", 3, True)
    assert server.finished


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"\x00\x04\x00", "ACK must be 4 bytes long, not 3"),
        (b"\x00\x09", "unknown opcode 9"),
        (encode_packet(Data(1, b"x")), "DATA sent to the side that sends the file"),
    ],
)
def test_a_broken_packet_from_the_peer_gets_error_4(packet: bytes, reason: str) -> None:
    server = ServerRead(ReadRequest("f"), CLIENT, payload(2000), 0.0, policy=ALL_OPTIONS)
    server.datagrams_to_send()
    server.receive_datagram(Datagram(packet, CLIENT, TID), 0.1)
    assert server.datagrams_to_send() == [(error_packet(4, reason), CLIENT)]
    assert drain(server)[-1] == TransferFailed(reason, 4, False)


def test_the_reader_refuses_acks_and_oversized_blocks() -> None:
    for packet, reason in [
        (encode_packet(Ack(1)), "ACK sent to the side that receives the file"),
        (
            encode_packet(Data(1, bytes(513))),
            "DATA block 1 carries 513 bytes, more than blksize 512",
        ),
    ]:
        server = ServerWrite(WriteRequest("f"), CLIENT, 0.0, policy=ALL_OPTIONS)
        server.datagrams_to_send()
        server.receive_datagram(Datagram(packet, CLIENT, TID), 0.1)
        assert server.datagrams_to_send() == [(error_packet(4, reason), CLIENT)]
        assert drain(server)[-1] == TransferFailed(reason, 4, False)


def test_a_malformed_error_from_the_peer_is_not_answered() -> None:
    server = ServerWrite(WriteRequest("f"), CLIENT, 0.0, policy=ALL_OPTIONS)
    server.datagrams_to_send()
    server.receive_datagram(Datagram(b"\x00\x05\x00\x02no terminator", CLIENT, TID), 0.1)
    assert server.datagrams_to_send() == []
    [*_, failed] = drain(server)
    assert failed == TransferFailed(
        "malformed ERROR from the peer: ERROR: error message is not NUL-terminated", None, True
    )


def test_a_request_again_before_the_first_answer_was_heard_gets_it_again() -> None:
    request = WriteRequest("config", "octet", {"blksize": "1024"})
    upload = ServerWrite(request, CLIENT, 0.0, policy=ALL_OPTIONS)
    oack = encode_packet(OptionAck({"blksize": "1024"}))
    assert upload.datagrams_to_send() == [(oack, CLIENT)]
    assert upload.request_again(0.3)
    assert upload.datagrams_to_send() == [(oack, CLIENT)]
    upload.receive_datagram(Datagram(encode_packet(Data(1, bytes(1024))), CLIENT, TID), 0.4)
    upload.datagrams_to_send()
    assert not upload.request_again(0.5)  # it heard the answer: a stray copy
    assert upload.datagrams_to_send() == []

    plain = ServerRead(ReadRequest("f"), CLIENT, b"abc", 0.0, policy=ALL_OPTIONS)
    data = encode_packet(Data(1, b"abc"))
    assert plain.datagrams_to_send() == [(data, CLIENT)]
    assert plain.request_again(0.2)
    assert plain.datagrams_to_send() == [(data, CLIENT)]
    assert plain.get_timer() == 1.2  # as a timeout would, without a try counted


def test_a_request_again_after_the_transfer_ended_changes_nothing() -> None:
    read = ServerRead(ReadRequest("f"), CLIENT, b"abc", 0.0, policy=ALL_OPTIONS)
    read.datagrams_to_send()
    read.receive_datagram(Datagram(encode_packet(Ack(1)), CLIENT, TID), 0.1)
    assert read.finished
    assert not read.request_again(0.2)
    assert read.datagrams_to_send() == []

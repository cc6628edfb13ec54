"""TFTP conversations: a client and a server transfer on a virtual network.

Each test pairs a client of :mod:`ipgwsim.proto.tftp` with the server
transfers a port-69 owner creates, in the small delivery loop of
:mod:`ipgwsim.testing.tftp_pair`, which moves a virtual clock to the next
deadline when nothing is in flight. No sockets, no sleeps.
"""

from __future__ import annotations

import pytest

from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.tftp import (
    SEND_AGAIN,
    Ack,
    ClientRead,
    ClientWrite,
    Data,
    Error,
    ErrorCode,
    FallbackToPlain,
    Opcode,
    OptionAck,
    OptionPolicy,
    OptionsNegotiated,
    Packet,
    Progress,
    ReadRequest,
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
    CLIENT,
    SERVER,
    STRANGER,
    TID,
    Net,
    Sent,
    Serve,
    outcome,
    payload,
    serving,
)

WINDOWED = {"blksize": "1468", "windowsize": "16"}


def blocks_of(net: Net, opcode: int) -> list[int]:
    return [sent.block for sent in net.datagrams(opcode)]


# -------------------- whole files, both directions ----------------------------

SIZES = [0, 1, 511, 512, 513, 1024, 5000]
OPTION_SETS = [None, WINDOWED, {"blksize": "8", "windowsize": "3"}]


@pytest.mark.parametrize("options", OPTION_SETS, ids=["plain", "windowed", "tiny"])
@pytest.mark.parametrize("size", SIZES)
def test_read(size: int, options: dict[str, str] | None) -> None:
    data = payload(size)
    net = Net(ClientRead("boot.bin", SERVER, 0.0, options=options), serving({"boot.bin": data}))
    net.run()
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    assert net.client.finished
    assert net.server.finished
    blksize = int((options or {}).get("blksize", "512"))
    assert blocks_of(net, Opcode.DATA) == [n & 0xFFFF for n in range(1, size // blksize + 2)]
    # the client dallied the server's whole retry schedule after its final ACK at 0
    assert net.now == 31.0  # 1 + 2 + 4 + 8 + 8 + 8


@pytest.mark.parametrize("options", OPTION_SETS, ids=["plain", "windowed", "tiny"])
@pytest.mark.parametrize("size", SIZES)
def test_write(size: int, options: dict[str, str] | None) -> None:
    data = payload(size, seed=5)
    net = Net(ClientWrite("fw.bin", SERVER, data, 0.0, options=options), serving({})).run()
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]
    assert outcome(net.server_events) == TransferComplete(None)
    assert outcome(net.client_events) == TransferComplete(None)
    assert net.client.finished
    assert net.server.finished
    blksize = int((options or {}).get("blksize", "512"))
    assert len(net.datagrams(Opcode.DATA)) == size // blksize + 1


def test_windows_are_acknowledged_at_their_ends() -> None:
    data = payload(1468 * 40 + 100)  # 41 blocks: windows of 16, 16 and 9
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), serving({"f": data})).run()
    assert blocks_of(net, Opcode.ACK) == [0, 16, 32, 41]
    assert outcome(net.client_events) == TransferComplete(data)
    progress = [e for e in net.client_events if isinstance(e, Progress)]
    assert [p.done for p in progress] == [1468 * 16, 1468 * 32, len(data)]

    net = Net(ClientWrite("f", SERVER, data, 0.0, options=WINDOWED), serving({})).run()
    assert len(net.datagrams(Opcode.OACK)) == 1
    assert blocks_of(net, Opcode.ACK) == [16, 32, 41]
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]


def test_windowsize_16_blksize_1468_moves_a_megabyte() -> None:
    data = payload(1 << 20)
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), serving({"f": data})).run()
    assert outcome(net.client_events) == TransferComplete(data)
    blocks = len(data) // 1468 + 1
    assert len(net.datagrams(Opcode.DATA)) == blocks
    assert len(net.datagrams(Opcode.ACK)) == 1 + -(-blocks // 16)


def test_progress_of_a_lock_step_read() -> None:
    data = payload(1100)
    net = Net(ClientRead("f", SERVER, 0.0, options={"tsize": "0"}), serving({"f": data})).run()
    client = [(e.done, e.total) for e in net.client_events if isinstance(e, Progress)]
    assert client == [(512, 1100), (1024, 1100), (1100, 1100)]
    server = [(e.done, e.total) for e in net.server_events if isinstance(e, Progress)]
    assert server == [(512, 1100), (1024, 1100)]


@pytest.mark.parametrize("windowsize", ["1", "16"])
def test_block_numbers_roll_over_to_zero(windowsize: str) -> None:
    data = payload(8 * 70000 + 3)  # 70001 blocks of 8 bytes
    options = {"blksize": "8", "windowsize": windowsize}
    net = Net(ClientRead("big", SERVER, 0.0, options=options), serving({"big": data})).run()
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    blocks = blocks_of(net, Opcode.DATA)
    assert len(blocks) == 70001
    assert blocks[65534:65538] == [65535, 0, 1, 2]
    assert blocks[-1] == 70001 - 65536


def test_upload_rolls_over_too() -> None:
    data = payload(8 * 66000, seed=9)  # 66001 blocks, the last one empty
    options = {"blksize": "8", "windowsize": "8"}
    net = Net(ClientWrite("big", SERVER, data, 0.0, options=options), serving({})).run()
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]
    assert outcome(net.client_events) == TransferComplete(None)
    acks = blocks_of(net, Opcode.ACK)
    assert acks[-1] == 66001 - 65536
    assert 0 in acks


# -------------------- option negotiation ---------------------------------------


def test_all_options_granted() -> None:
    data = payload(9000)
    asked = {"blksize": "1468", "windowsize": "16", "tsize": "0", "timeout": "2"}
    net = Net(ClientRead("f", SERVER, 0.0, options=asked), serving({"f": data})).run()
    first = parse_packet(net.datagrams(Opcode.OACK)[0].data)
    granted = {"blksize": "1468", "windowsize": "16", "tsize": "9000", "timeout": "2"}
    assert first == OptionAck(granted)
    assert net.client_events[0] == OptionsNegotiated(granted, 1468, 16)
    assert net.server_events[0] == OptionsNegotiated(granted, 1468, 16)
    assert outcome(net.client_events) == TransferComplete(data)
    assert net.now == 38.0  # dally: the retry schedule from a timeout of 2 s, 2 + 4 + 8 * 4


def test_policy_grants_a_subset() -> None:
    data = payload(3000)
    policy = OptionPolicy(supported=frozenset({"blksize", "tsize"}))
    asked = {"blksize": "1024", "windowsize": "16", "tsize": "0"}
    net = Net(ClientRead("f", SERVER, 0.0, options=asked), serving({"f": data}, policy)).run()
    assert parse_packet(net.datagrams(Opcode.OACK)[0].data) == OptionAck(
        {"blksize": "1024", "tsize": "3000"}
    )
    assert net.client_events[0] == OptionsNegotiated({"blksize": "1024", "tsize": "3000"}, 1024, 1)
    assert blocks_of(net, Opcode.ACK) == [0, 1, 2, 3]  # windowsize 1: every block
    assert outcome(net.client_events) == TransferComplete(data)


def test_policy_limits_are_granted() -> None:
    policy = OptionPolicy(max_blksize=1024, max_windowsize=4)
    asked = {"blksize": "65464", "windowsize": "64"}
    data = payload(10000)
    net = Net(ClientRead("f", SERVER, 0.0, options=asked), serving({"f": data}, policy)).run()
    assert net.client_events[0] == OptionsNegotiated(
        {"blksize": "1024", "windowsize": "4"}, 1024, 4
    )
    assert outcome(net.client_events) == TransferComplete(data)


def test_no_granted_option_means_a_plain_read() -> None:
    data = payload(600)
    policy = OptionPolicy(supported=frozenset())
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), serving({"f": data}, policy)).run()
    server_first = next(s for s in net.sent if s.src != CLIENT)
    assert parse_packet(server_first.data) == Data(1, data[:512])
    assert not net.datagrams(Opcode.OACK)
    assert net.client_events[0] == OptionsNegotiated({}, 512, 1)
    assert outcome(net.client_events) == TransferComplete(data)


def test_no_granted_option_means_a_plain_write() -> None:
    data = payload(600)
    policy = OptionPolicy(supported=frozenset({"timeout"}))
    net = Net(ClientWrite("f", SERVER, data, 0.0, options=WINDOWED), serving({}, policy)).run()
    server_first = next(s for s in net.sent if s.src != CLIENT)
    assert parse_packet(server_first.data) == Ack(0)
    assert net.client_events[0] == OptionsNegotiated({}, 512, 1)
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]


def test_option_names_are_case_insensitive() -> None:
    data = payload(3000)
    net = Net(ClientRead("f", SERVER, 0.0, options={"BlkSize": "1000"}), serving({"f": data}))
    net.run()
    assert parse_packet(net.datagrams(Opcode.OACK)[0].data) == OptionAck({"BlkSize": "1000"})
    assert net.client_events[0] == OptionsNegotiated({"blksize": "1000"}, 1000, 1)
    assert outcome(net.client_events) == TransferComplete(data)


def test_tsize_of_a_read() -> None:
    data = payload(5000)
    options = {"tsize": "123"}  # a client always asks with 0
    net = Net(ClientRead("f", SERVER, 0.0, options=options), serving({"f": data})).run()
    assert parse_packet(net.sent[0].data) == ReadRequest("f", "octet", {"tsize": "0"})
    assert net.client_events[0] == OptionsNegotiated({"tsize": "5000"}, 512, 1)
    assert {e.total for e in net.client_events if isinstance(e, Progress)} == {5000}


def test_tsize_of_a_write() -> None:
    data = payload(5000)
    net = Net(ClientWrite("f", SERVER, data, 0.0, options={"tsize": "0"}), serving({})).run()
    assert parse_packet(net.sent[0].data) == WriteRequest("f", "octet", {"tsize": "5000"})
    assert net.server_events[0] == OptionsNegotiated({"tsize": "5000"}, 512, 1)
    assert {e.total for e in net.server_events if isinstance(e, Progress)} == {5000}
    assert {e.total for e in net.client_events if isinstance(e, Progress)} == {5000}


# -------------------- fallback and OACK checks -----------------------------------


def refusing(code: int, files: dict[str, bytes]) -> Serve:
    """A port-69 owner that refuses every request with options."""
    plain = serving(files)

    def serve(request: Packet, peer: Address, now: float) -> Transfer | bytes | None:
        if isinstance(request, ReadRequest | WriteRequest) and request.options:
            return error_packet(code, "options not supported")
        return plain(request, peer, now)

    return serve


@pytest.mark.parametrize("code", [ErrorCode.OPTION_REFUSED, ErrorCode.NOT_DEFINED, 4])
def test_fallback_to_a_plain_read(code: int) -> None:
    data = payload(1500)
    net = Net(ClientRead("f", SERVER, 0.0, options=WINDOWED), refusing(code, {"f": data})).run()
    requests = [parse_packet(s.data) for s in net.sent if s.dst == SERVER]
    assert requests == [ReadRequest("f", "octet", WINDOWED), ReadRequest("f", "octet", {})]
    reason = f"the server refused the options with ERROR {code}: options not supported"
    assert net.client_events[:2] == [FallbackToPlain(reason), OptionsNegotiated({}, 512, 1)]
    assert outcome(net.client_events) == TransferComplete(data)


def test_fallback_to_a_plain_write() -> None:
    data = payload(1500)
    net = Net(ClientWrite("f", SERVER, data, 0.0, options=WINDOWED), refusing(8, {})).run()
    assert isinstance(net.client_events[0], FallbackToPlain)
    assert [e for e in net.server_events if isinstance(e, UploadComplete)] == [UploadComplete(data)]


def test_no_fallback_when_disabled() -> None:
    client = ClientRead("f", SERVER, 0.0, options=WINDOWED, fallback=False)
    net = Net(client, refusing(8, {"f": b"x"})).run()
    assert net.client_events == [TransferFailed("options not supported", 8, True)]
    assert len([s for s in net.sent if s.dst == SERVER]) == 1


def test_no_fallback_for_other_errors_or_plain_requests() -> None:
    net = Net(ClientRead("missing", SERVER, 0.0, options=WINDOWED), serving({})).run()
    assert net.client_events == [TransferFailed("file not found", 1, True)]
    net = Net(ClientRead("f", SERVER, 0.0), lambda *_: error_packet(8, "no")).run()
    assert net.client_events == [TransferFailed("no", 8, True)]


def test_an_error_asking_to_send_again_is_no_refusal_of_the_options() -> None:
    """A server that could not set the transfer up asks for the request again (ERROR 0):
    the client fails the transfer, so that its caller sends it again with the options."""
    text = f"transfer port 50000 cannot be opened (address in use); {SEND_AGAIN}"
    net = Net(
        ClientRead("f", SERVER, 0.0, options=WINDOWED), lambda *_: error_packet(0, text)
    ).run()
    assert net.client_events == [TransferFailed(text, 0, True)]
    assert len([s for s in net.sent if s.dst == SERVER]) == 1


@pytest.mark.parametrize("text", ["busy: another upload is running", "Busy, try later"])
def test_a_busy_server_is_no_refusal_of_the_options(text: str) -> None:
    """ERROR 0 "busy" (a server that serves nothing new now, e.g. a request it took for a
    second upload) fails the transfer: asked again without options, the client would
    meet a late OACK of its first request, or the same refusal."""
    for client in (
        ClientRead("f", SERVER, 0.0, options=WINDOWED),
        ClientWrite("f", SERVER, b"abc", 0.0, options=WINDOWED),
    ):
        net = Net(client, lambda *_: error_packet(0, text)).run()
        assert net.client_events == [TransferFailed(text, 0, True)]
        assert len([s for s in net.sent if s.dst == SERVER]) == 1


def test_fallback_happens_once() -> None:
    net = Net(
        ClientRead("f", SERVER, 0.0, options=WINDOWED), lambda *_: error_packet(8, "no")
    ).run()
    assert [type(e) for e in net.client_events] == [FallbackToPlain, TransferFailed]
    assert net.client_events[1] == TransferFailed("no", 8, True)


@pytest.mark.parametrize(
    ("oack", "reason"),
    [
        ({"blksize": "2048"}, "the server granted blksize 2048, asked 1024"),
        ({"windowsize": "4"}, "the server granted option 'windowsize', which was not asked"),
        ({"blksize": "x"}, "the server granted blksize 'x', which is no number"),
    ],
)
@pytest.mark.parametrize("direction", ["read", "write"])
def test_a_bad_oack_is_refused(oack: dict[str, str], reason: str, direction: str) -> None:
    client: Transfer
    if direction == "read":
        client = ClientRead("f", SERVER, 0.0, options={"blksize": "1024"})
    else:
        client = ClientWrite("f", SERVER, b"abc", 0.0, options={"blksize": "1024"})
    net = Net(client, lambda *_: encode_packet(OptionAck(oack))).run()
    assert net.client_events == [TransferFailed(reason, 8, False)]
    error = net.sent[-1]
    assert (error.dst, parse_packet(error.data)) == (TID, Error(8, reason))


def test_an_oack_to_a_request_without_options_is_refused() -> None:
    net = Net(ClientRead("f", SERVER, 0.0), lambda *_: encode_packet(OptionAck({"tsize": "1"})))
    net.run()
    assert net.client_events == [
        TransferFailed("the server granted option 'tsize', which was not asked", 8, False)
    ]


# -------------------- ServerWrite: size limit ------------------------------------


def test_upload_larger_than_max_size_gets_error_3() -> None:
    data = payload(3000)
    net = Net(ClientWrite("f", SERVER, data, 0.0), serving({}, max_size=2000)).run()
    assert outcome(net.server_events) == TransferFailed("too big", 3, False)
    assert outcome(net.client_events) == TransferFailed("too big", 3, True)
    assert net.server.received_size == 1536  # type: ignore[attr-defined]
    assert blocks_of(net, Opcode.ACK) == [0, 1, 2, 3]


def test_upload_of_exactly_max_size_is_taken() -> None:
    data = payload(2000)
    net = Net(ClientWrite("f", SERVER, data, 0.0), serving({}, max_size=2000)).run()
    assert outcome(net.server_events) == TransferComplete(None)


def test_tsize_above_max_size_is_refused_at_once() -> None:
    data = payload(3000)
    client = ClientWrite("f", SERVER, data, 0.0, options={"tsize": "0", "blksize": "1024"})
    net = Net(client, serving({}, max_size=2999)).run()
    server_sent = [parse_packet(s.data) for s in net.sent if s.src == TID]
    assert server_sent == [Error(ErrorCode.DISK_FULL, "too big")]
    assert net.server_events == [TransferFailed("too big", 3, False)]
    assert net.client_events == [TransferFailed("too big", 3, True)]


# -------------------- dally ------------------------------------------------------


def test_lost_final_ack_is_repeated_during_the_dally() -> None:
    data = payload(1100)

    def fate(index: int, sent: Sent) -> str:
        is_final_ack = sent.opcode == Opcode.ACK and sent.block == 3
        return "drop" if is_final_ack and sent.src == CLIENT and sent.index < 8 else "deliver"

    net = Net(ClientRead("f", SERVER, 0.0), serving({"f": data}), fate=fate).run()
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    assert blocks_of(net, Opcode.ACK) == [1, 2, 3, 3]
    assert blocks_of(net, Opcode.DATA) == [1, 2, 3, 3]
    assert net.now == 32.0  # the dally restarted at 1.0, when the final DATA came again


# -------------------- strangers ---------------------------------------------------


def test_stray_packets_get_error_5_and_the_transfer_goes_on() -> None:
    data = payload(3000)

    def fate(index: int, sent: Sent) -> str:
        if index == 6:
            net.client.receive_datagram(
                Datagram(encode_packet(Data(4, b"evil")), STRANGER, CLIENT), net.now
            )
            net.server.receive_datagram(Datagram(encode_packet(Ack(4)), STRANGER, TID), net.now)
            net.server.receive_datagram(
                Datagram(error_packet(0, "stray error"), STRANGER, TID), net.now
            )
        return "deliver"

    net = Net(ClientRead("f", SERVER, 0.0), serving({"f": data}), fate=fate)
    net.run()
    to_stranger = [(s.src, parse_packet(s.data)) for s in net.sent if s.dst == STRANGER]
    unknown = Error(ErrorCode.UNKNOWN_TID, "unknown transfer ID")
    assert to_stranger == [(CLIENT, unknown), (TID, unknown)]
    assert outcome(net.client_events) == TransferComplete(data)
    assert outcome(net.server_events) == TransferComplete(data)
    assert len(net.datagrams(Opcode.DATA)) == 6

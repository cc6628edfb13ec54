"""The real-socket TFTP client dallies after its last ACK (RFC 1350)."""

from __future__ import annotations

import socket
import struct
import threading

from ipgwsim.runtime.tftpclient import TransferResult, tftp_get


def test_a_lost_final_ack_is_sent_again_while_the_client_dallies() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    results: list[TransferResult] = []
    client = threading.Thread(
        target=lambda: results.append(tftp_get(("127.0.0.1", port), "config", dally=1.0))
    )
    client.start()
    try:
        request, peer = server.recvfrom(600)
        assert request.startswith(b"\x00\x01config\x00")
        last = struct.pack("!HH", 3, 1) + b"short file"
        server.sendto(last, peer)
        first_ack, _ = server.recvfrom(600)
        assert first_ack == struct.pack("!HH", 4, 1)
        # As if that ACK was lost: the server sends its last DATA again.
        server.sendto(last, peer)
        second_ack, _ = server.recvfrom(600)
        assert second_ack == struct.pack("!HH", 4, 1)
    finally:
        client.join(timeout=10)
        server.close()
    assert results
    assert results[0].data == b"short file"

"""Port reservations for tests on a shared host (``ipgwsim.testing.loopback``)."""

from __future__ import annotations

import socket

from ipgwsim.testing.loopback import _claim, reserved_ports


def test_a_block_from_a_base_needs_every_port_of_it_free() -> None:
    with reserved_ports("tcp", 2) as (base, _):
        # The block is held: from its base, nothing can be claimed.
        assert _claim(socket.SOCK_STREAM, 2, base) is None
    # Released, the same base gives both ports.
    probes = _claim(socket.SOCK_STREAM, 2, base)
    assert probes is not None
    try:
        assert [p.getsockname()[1] for p in probes] == [base, base + 1]
    finally:
        for probe in probes:
            probe.close()


def test_blocks_of_ports_are_held_against_everyone_else() -> None:
    with reserved_ports("tcp", 4) as ports:
        assert ports == list(range(ports[0], ports[0] + 4))
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                try:
                    sock.bind(("0.0.0.0", port))
                except OSError:
                    continue  # held, as it should be
                raise AssertionError(f"port {port} of the block was free for others")
            finally:
                sock.close()

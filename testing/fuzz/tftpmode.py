"""The boot code's TFTP mode as fuzz targets: gwload, TFTP requests, and packets in the
middle of a transfer, each on a device driven in virtual time.

A crash: any exception out of the device (it must never raise on network input); more
than :data:`~ipgwsim.testing.fuzz.bench.MAX_REPLIES` datagrams per hostile one; a device
that is neither in TFTP mode nor running firmware once what the input began has run its
course; or, in TFTP mode, a device that no longer answers DISCOVER or serves ``GET config``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ipgwsim.testing.fuzz import Surface
from ipgwsim.testing.fuzz import seeds as seed
from ipgwsim.testing.fuzz.bench import BROADCAST_69, DEVICE_69, Bench
from ipgwsim.testing.fuzz.mutate import hostile
from ipgwsim.testing.fuzz.seeds import DEVICE_IP

__all__ = ["SURFACES"]

MODELS = ["IP6000", "IP800", "IP811"]
#: Device seconds between two hostile datagrams.
_waits = st.sampled_from([0.0, 0.001, 0.5, 3.0, 30.0])

CRASH = (
    "an exception out of the device; more than 64 datagrams out per datagram in; a mode "
    "other than TFTP mode or firmware afterwards; no HELLO to DISCOVER or no GET config"
)


def _datagrams(payloads: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[Any]]:
    """One to eight ``(payload, to the broadcast address, from the second port, wait)``."""
    one = st.tuples(payloads, st.booleans(), st.booleans(), _waits)
    return st.lists(one, min_size=1, max_size=8)


def _to_port_69(_: None, case: tuple[str, list[Any]]) -> None:
    model, datagrams = case
    bench = Bench(model)
    bench.tftp_mode()
    for data, broadcast, other, wait in datagrams:
        bench.send(data, BROADCAST_69 if broadcast else DEVICE_69, other=other, wait=wait)
    bench.check_bounded()
    bench.settle()
    bench.check_tftp_mode_serves()


def _in_transfer(_: None, case: tuple[str, str, list[Any]]) -> None:
    """A transfer the peer began (a read or a config write), then the hostile packets to
    its port, from the peer's own port or another."""
    model, request, datagrams = case
    bench = Bench(model)
    bench.tftp_mode()
    bench.send(request.encode("latin-1"), DEVICE_69, wait=0.5)
    assert bench.peer.received, "no answer to the request that begins the transfer"
    port = bench.peer.received[-1].src[1]
    for data, _, other, wait in datagrams:
        bench.send(data, (DEVICE_IP, port), other=other, wait=wait)
    bench.check_bounded()
    bench.settle()
    bench.check_tftp_mode_serves()


_REQUESTS = [
    "\0\x01config\0octet\0",  # RRQ config
    "\0\x01config\0octet\0blksize\x001428\0windowsize\x004\0",
    "\0\x02config\0octet\0",  # WRQ config
    "\0\x02prot\0octet\0tsize\x00100000\0",
]


def _one_datagram(data: bytes) -> list[Any]:
    return [(data, False, False, 0.0)]


SURFACES = [
    Surface(
        name="gwload",
        entry="Device.receive_datagram on port 69 in TFTP mode (gwload messages)",
        crash=CRASH,
        inputs=st.tuples(st.sampled_from(MODELS), _datagrams(hostile(seed.gwload_bytes()))),
        check=_to_port_69,
        from_bytes=lambda data: ("IP6000", _one_datagram(data)),
    ),
    Surface(
        name="tftp-request",
        entry="Device.receive_datagram on port 69 in TFTP mode (RRQ, WRQ)",
        crash=CRASH,
        inputs=st.tuples(st.sampled_from(MODELS), _datagrams(hostile(seed.tftp_requests()))),
        check=_to_port_69,
        from_bytes=lambda data: ("IP6000", _one_datagram(data)),
    ),
    Surface(
        name="tftp-transfer",
        entry="Device.receive_datagram on a transfer's port in TFTP mode",
        crash=CRASH,
        inputs=st.tuples(
            st.sampled_from(MODELS),
            st.sampled_from(_REQUESTS),
            _datagrams(hostile(seed.tftp_in_transfer())),
        ),
        check=_in_transfer,
        from_bytes=lambda data: ("IP6000", _REQUESTS[0], _one_datagram(data)),
    ),
]

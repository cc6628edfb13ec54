"""The per-datagram path of a transfer (``Device.receive_fast``, which the runtime's device
host takes for a datagram to a unicast port) against the ordinary one
(``receive_datagram`` and a pump that drains the device).

Two devices made alike take the same datagrams at the same virtual times, one each way,
while a TFTP client (the project's sans-I/O engine) reads or writes a file through a
network that drops and repeats datagrams: every datagram they send, every event, every
deadline and the flash at the end must be the same; and the per-datagram path must be
what carries the blocks of an undisturbed transfer.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipgwsim.device import Device, Instance, factory_flash
from ipgwsim.events import Event, Mode
from ipgwsim.flash.formats import IMAGE_HEADER_SIZE
from ipgwsim.flash.image import ImageKind, build_image
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto import gwload
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.node import Pump
from ipgwsim.proto.tftp import ClientRead, ClientWrite, TimerPolicy
from ipgwsim.proto.tftp.transfer import Transfer

IP = "10.0.0.5"
CLIENT = ("10.0.0.9", 40001)
CONTROL = (IP, 69)
#: Short timeouts, so that a test with losses ends after few virtual seconds.
TIMERS = TimerPolicy(timeout=1.0, retries=8)
CONFIG = b"".join(f"config change MOD{n} /param{n} {n * 7919:08x}\r\n".encode() for n in range(120))
Sent = tuple[bytes, Address, Address]


def _device() -> Device:
    """An IP6000 without firmware (so in TFTP mode from power-on) that took ``IP``."""
    profile = find_profile("IP6000")
    device = Device(
        profile,
        factory_flash(profile, firmware=False),
        Instance.numbered("ip6000-1", 1),
        rng=random.Random(5),
    )
    device.power_on(0.0)
    assert device.mode is Mode.TFTP_MODE
    setip = gwload.SetIp(
        1,
        gwload.ANY_MAC,
        6000,
        ip=IPv4Address(IP),
        mask=IPv4Address("255.0.0.0"),
        gateway=IPv4Address("0.0.0.0"),
    )
    Pump(device, send=lambda d: None, sink=lambda e: None).receive(
        Datagram(gwload.encode_message(setip), (CLIENT[0], 40000), ("255.255.255.255", 69)), 1.0
    )
    assert device.ip == IP
    return device


class Side:
    """One device, given its datagrams one way; what it sends and emits, in order."""

    def __init__(self, fast: bool) -> None:
        self.device = _device()
        self.fast = fast
        self.sent: list[Sent] = []
        self.events: list[Event] = []
        self.pump: Pump[Event] = Pump(
            self.device,
            send=lambda d: self.sent.append((d.data, d.src, d.dst)),
            sink=self.events.append,
        )
        #: Datagrams the per-datagram path answered by itself.
        self.taken = 0

    def receive(self, data: bytes, src: Address, dst: Address, now: float) -> list[Sent]:
        start = len(self.sent)
        if not self.fast:
            self.pump.receive(Datagram(data, src, dst), now)
            return self.sent[start:]
        result = self.device.receive_fast(data, src, dst, now)
        if result is None:
            self.pump.flush()
            return self.sent[start:]
        out, deadline = result
        # Nothing but these datagrams: no event, nothing else queued.
        assert self.device.next_event() is None
        assert self.device.datagrams_to_send() == []
        device_deadline = self.device.get_timer()
        assert device_deadline is not None
        assert deadline is not None
        assert device_deadline <= deadline
        self.taken += 1
        self.sent.extend((payload, dst, to) for payload, to in out)
        return self.sent[start:]

    def timer(self, now: float) -> list[Sent]:
        start = len(self.sent)
        self.pump.timer(now)
        return self.sent[start:]


def _run(
    client: Transfer,
    fates: list[str],
    *,
    sides: tuple[Side, Side] | None = None,
    now: float = 2.0,
    steps: int = 20_000,
) -> tuple[Side, Side, float]:
    """Run ``client`` against an ordinary and a fast device until both are idle; each
    datagram on the way (either direction) meets the next fate: ``ok``, ``drop`` or
    ``dup`` (delivered twice), ``ok`` once they are used up. Checks that both devices
    answer alike at every step; returns them and the virtual time at the end."""
    ordinary, fast = sides if sides is not None else (Side(False), Side(True))
    fate = iter(fates)

    def copies() -> int:
        return {"ok": 1, "drop": 0, "dup": 2}[next(fate, "ok")]

    to_client: list[tuple[bytes, Address]] = []

    def devices_sent(a: list[Sent], b: list[Sent]) -> None:
        assert a == b
        to_client.extend((payload, src) for payload, src, dst in a if dst == CLIENT)

    for _ in range(steps):
        busy = False
        for data, to in client.datagrams_to_send():
            for _copy in range(copies()):
                busy = True
                devices_sent(
                    ordinary.receive(data, CLIENT, to, now), fast.receive(data, CLIENT, to, now)
                )
        while to_client:
            payload, src = to_client.pop(0)
            for _copy in range(copies()):
                busy = True
                client.receive(payload, src, now)
        while client.next_event() is not None:
            pass
        assert ordinary.device.get_timer() == fast.device.get_timer()
        if busy:
            continue
        deadlines = [d for d in (client.get_timer(), ordinary.device.get_timer()) if d is not None]
        if not deadlines:
            break
        now = max(now, min(deadlines))
        device_deadline = ordinary.device.get_timer()
        if device_deadline is not None and device_deadline <= now:
            devices_sent(ordinary.timer(now), fast.timer(now))
        client.handle_timer(now)
    else:
        raise AssertionError(f"still running after {steps} steps")
    assert ordinary.sent == fast.sent
    assert ordinary.events == fast.events
    assert list(ordinary.device.flash.written_sectors()) == list(
        fast.device.flash.written_sectors()
    )
    assert ordinary.device.mode is fast.device.mode
    return ordinary, fast, now


def _options(blksize: int, windowsize: int) -> dict[str, str]:
    return {"blksize": str(blksize), "windowsize": str(windowsize)}


def _image(size: int, model: str = "IP6000") -> bytes:
    payload = random.Random(size).randbytes(size - IMAGE_HEADER_SIZE)
    return build_image(ImageKind.FIRMWARE, model, "90-6000.01", payload)


FATES = st.lists(st.sampled_from(["ok", "ok", "ok", "ok", "drop", "dup"]), max_size=60)
SHAPES = st.tuples(st.sampled_from([512, 1468, 8192]), st.sampled_from([1, 1, 4, 16]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=SHAPES,
    fates=FATES,
    what=st.sampled_from(["read", "config", "image", "wrong image"]),
)
def test_the_per_datagram_path_answers_as_the_ordinary_one(
    shape: tuple[int, int], fates: list[str], what: str
) -> None:
    options = _options(*shape)
    size = shape[0] * 6 + 100
    if what == "read":
        # A config of several blocks first, undisturbed; then it is read.
        sides = _run(ClientWrite("config", CONTROL, CONFIG, 2.0, timers=TIMERS), [])
        read = ClientRead("config", CONTROL, sides[2], options=options, timers=TIMERS)
        _run(read, fates, sides=sides[:2], now=sides[2])
    elif what == "config":
        _run(ClientWrite("config", CONTROL, CONFIG, 2.0, options=options, timers=TIMERS), fates)
    elif what == "image":
        _run(ClientWrite("prot", CONTROL, _image(size), 2.0, options=options, timers=TIMERS), fates)
    else:  # refused by its header, as soon as that is in
        wrong = _image(size, model="IP811")
        _run(ClientWrite("prot", CONTROL, wrong, 2.0, options=options, timers=TIMERS), fates)


def test_the_blocks_of_an_undisturbed_transfer_take_the_per_datagram_path() -> None:
    image = _image(512 * 40 + 7)
    client = ClientWrite("prot", CONTROL, image, 2.0, options=_options(512, 1), timers=TIMERS)
    _ordinary, fast, _now = _run(client, [])
    blocks = len(image) // 512 + 1
    # All but the first (the header is checked), the last (the upload is complete) and
    # the request, which the device answers the ordinary way.
    assert fast.taken == blocks - 2
    assert client.finished

    config = ClientWrite("config", CONTROL, CONFIG, 2.0, timers=TIMERS)
    sides = _run(config, [])
    taken = sides[1].taken
    read = ClientRead("config", CONTROL, sides[2], options=_options(512, 1), timers=TIMERS)
    _ordinary, fast, _now = _run(read, [], sides=sides[:2], now=sides[2])
    fast.taken -= taken
    # Every ACK is answered on the fast path (ACK 0 to the OACK too) but the last one,
    # which completes the transfer.
    blocks = len(read.received) // 512 + 1
    assert blocks > 5
    assert fast.taken == blocks

"""The lab's gwload probe runs the client engine of the blocking ``gwload`` against
simulated devices on the virtual network (virtual time): the collect window of a
broadcast DISCOVER, repeats through a lossy link, a refusal, a busy wait."""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from ipgwsim.events import Mode
from ipgwsim.proto import gwload
from ipgwsim.proto.gwloadclient import Answered, GwloadRequest, Refused, the_reply
from ipgwsim.testing.lab import Lab


def _finish(lab: Lab, request: GwloadRequest, timeout: float = 30.0) -> Answered:
    assert lab.net.run_until(lambda: request.finished, timeout=timeout)
    assert isinstance(request.outcome, Answered), request.outcome
    return request.outcome


def test_a_broadcast_discover_collects_every_device() -> None:
    lab = Lab()
    first, second = lab.add("IP6000", firmware=False), lab.add("IP6000", firmware=False)
    request = lab.probe.request(
        lambda xid: gwload.Discover(xid, gwload.ANY_MAC, 6000),
        lab.now,
        what="DISCOVER",
        collect=0.25,
    )
    outcome = _finish(lab, request)
    macs = {reply.mac for reply, _ in outcome.replies}
    assert macs == {first.device.instance.mac, second.device.instance.mac}
    assert request.datagrams_to_send() == []


def test_a_request_is_repeated_through_a_lossy_link_until_answered() -> None:
    lab = Lab(rng=random.Random(5), loss=0.6)
    node = lab.add("IP6000", firmware=False)
    request = lab.probe.request(
        lambda xid: gwload.SetIp(
            xid,
            node.device.instance.mac,
            6000,
            ip=IPv4Address("10.0.0.5"),
            mask=IPv4Address("255.0.0.0"),
            gateway=IPv4Address("0.0.0.0"),
        ),
        lab.now,
        what="SETIP",
        tries=30,
    )
    reply = the_reply(_finish(lab, request))
    assert isinstance(reply, gwload.Hello)
    assert reply.ip == IPv4Address("10.0.0.5")


def test_go_without_firmware_is_refused() -> None:
    lab = Lab()
    node = lab.add("IP6000", firmware=False)
    request = lab.probe.request(
        lambda xid: gwload.Go(xid, node.device.instance.mac, 6000), lab.now, what="GO"
    )
    with pytest.raises(Refused, match="no valid firmware to start"):
        the_reply(_finish(lab, request))
    assert node.mode is Mode.TFTP_MODE


def test_a_busy_device_is_asked_again_until_it_is_free() -> None:
    lab = Lab()
    node = lab.add("IP6000", firmware=False)
    tftp = node.device.boot.tftp
    assert tftp is not None
    tftp.busy = "programming prot"
    request = lab.probe.request(
        lambda xid: gwload.Reset(xid, node.device.instance.mac, 6000),
        lab.now,
        what="RESET",
        busy_wait=10.0,
    )
    lab.run(2.5)
    busy = [r for r, _ in lab.probe.replies if isinstance(r, gwload.Nak)]
    assert [r.code for r in busy] == [gwload.NakCode.BUSY] * 3  # at 0, 1 and 2 s
    assert len({r.xid for r in busy}) == 3  # each round with an xid of its own
    assert not request.finished
    tftp.busy = None
    reply = the_reply(_finish(lab, request))
    assert isinstance(reply, gwload.Ack)
    assert reply.acked == gwload.Opcode.RESET

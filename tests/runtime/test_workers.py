"""The split of ``--workers``: which worker runs which device, what each is handed, how
the parent merges their answers, what is refused, and what a worker's runtime does
differently (no processes here)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ipgwsim.device import Instance
from ipgwsim.runtime import statedir
from ipgwsim.runtime import workers as workers_module
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.devicespec import DeviceSpec
from ipgwsim.runtime.errors import RuntimeSetupError, StateDirBusy, UnknownDevice
from ipgwsim.runtime.labfile import LabError, parse_lab
from ipgwsim.runtime.registry import Registry
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.runtime.statedir import DeviceRecord, StateDir
from ipgwsim.runtime.workerapi import WorkerApi, merge_status
from ipgwsim.runtime.workers import Workers, _Worker, check_workers, place, round_robin
from ipgwsim.testing.loopback import Ports, run


def record(name: str, serial: str, model: str = "IP6000") -> DeviceRecord:
    return DeviceRecord(Path("/state") / name, model, Instance(name, serial))


def test_round_robin_in_order() -> None:
    assert round_robin(5, 2) == [1, 2, 1, 2, 1]
    assert round_robin(3, 3) == [1, 2, 3]
    assert round_robin(4, 1) == [1, 1, 1, 1]


def test_each_device_becomes_a_named_spec_with_its_mac_on_its_worker() -> None:
    six = DeviceSpec("IP6000", 2, empty_firmware=True, console_port=7000)
    eleven = DeviceSpec("IP811", 1, http_port=8081)
    chosen = [
        (six, record("ip6000-1", "009033100001")),
        (six, record("ip6000-2", "009033100002")),
        (eleven, record("ip811-1", "009033100003", "IP811")),
    ]
    placed = place(chosen, 2)
    assert [(p.order, p.name, p.worker) for p in placed] == [
        (0, "ip6000-1", 1),
        (1, "ip6000-2", 2),
        (2, "ip811-1", 1),
    ]
    first, second, third = (p.spec for p in placed)
    assert (first.count, first.name, first.mac) == (1, "ip6000-1", "009033100001")
    assert first.empty_firmware
    assert second.empty_firmware
    # The spec's console ports, two a device, as one process gives them.
    assert (first.console_port, second.console_port) == (7000, 7002)
    assert (third.model, third.http_port, third.console_port) == ("IP811", 8081, None)


def test_the_runtimes_console_base_counts_devices_over_all_workers() -> None:
    spec = DeviceSpec("IP6000", 3)
    chosen = [(spec, record(f"ip6000-{n}", f"00903310000{n}")) for n in (1, 2, 3)]
    placed = place(chosen, 2, console_port_base=9000)
    assert [p.spec.console_port for p in placed] == [9000, 9002, 9004]
    assert [p.spec.console_port for p in place(chosen, 2)] == [None, None, None]


@pytest.mark.parametrize(
    ("workers", "network", "pcap", "refusal"),
    [
        (0, "loopback", None, "--workers must be 1 or more, not 0"),
        (-2, "loopback", None, "--workers must be 1 or more, not -2"),
        (
            4,
            "loopback",
            None,
            "--workers 4 is more than the 3 devices to run: each worker needs one at least",
        ),
        (2, "netns", None, "--workers runs on the loopback network only"),
        (2, "loopback", Path("x.pcapng"), "--workers cannot record a capture file"),
    ],
)
def test_refusals(workers: int, network: str, pcap: Path | None, refusal: str) -> None:
    specs = [DeviceSpec("IP6000", 2), DeviceSpec("IP811", 1)]
    with pytest.raises(RuntimeSetupError) as caught:
        check_workers(specs, workers, network, pcap)
    assert str(caught.value).startswith(refusal)
    assert "\n" not in str(caught.value)


def test_one_worker_is_one_process_as_ever() -> None:
    """--workers 1 refuses nothing that one runtime takes."""
    check_workers([DeviceSpec("IP6000", 1)], 1, "netns", Path("x.pcapng"))


def test_a_devices_own_capture_is_refused_too() -> None:
    specs = [DeviceSpec("IP6000", 1), DeviceSpec("IP6000", 1, pcap=Path("one.pcapng"))]
    with pytest.raises(RuntimeSetupError, match="--workers cannot record a capture file"):
        check_workers(specs, 2, "loopback", None)


def test_status_merges_the_devices_in_lab_order() -> None:
    def device(name: str) -> dict[str, Any]:
        return {"name": name, "mode": "TFTP mode"}

    first = {
        "ok": True,
        "devices": [device("ip6000-1"), device("ip811-1")],
        "network": {"kind": "loopback", "port": 6969},
        "clock": {"speed": 1.0, "now": 3.0},
        "ui": None,
    }
    second = {**first, "devices": [device("ip6000-2")], "clock": {"speed": 1.0, "now": 3.1}}
    order = {"ip6000-1": 0, "ip6000-2": 1, "ip811-1": 2}
    merged = merge_status([first, second], order, {"ui": "http://x/", "workers": [1, 2]})
    assert [d["name"] for d in merged["devices"]] == ["ip6000-1", "ip6000-2", "ip811-1"]
    assert merged["network"] == first["network"]
    assert merged["clock"] == first["clock"]
    assert (merged["ui"], merged["workers"]) == ("http://x/", [1, 2])


def test_the_lab_files_workers_key(tmp_path: Path) -> None:
    devices = '[[device]]\nmodel = "IP6000"\ncount = 2\n'
    lab = parse_lab(f"schema = 1\n[runtime]\nworkers = 2\n{devices}", "lab", tmp_path)
    assert lab.workers == 2
    assert parse_lab(f"schema = 1\n{devices}", "lab", tmp_path).workers is None
    with pytest.raises(LabError, match=r"workers.*must be 1 or more, not 0"):
        parse_lab(f"schema = 1\n[runtime]\nworkers = 0\n{devices}", "lab", tmp_path)


def test_a_device_is_found_by_name_or_mac_as_in_one_runtime(tmp_path: Path) -> None:
    rt = Workers(tmp_path / "state", [DeviceSpec("IP6000", 2)], workers=2, http_port=8080)
    spec = DeviceSpec("IP6000", 2)
    rt.devices = place(
        [(spec, record("ip6000-1", "009033100001")), (spec, record("ip6000-2", "009033100002"))],
        2,
    )
    rt._by_key = {key: d for d in rt.devices for key in (d.name, d.mac)}
    assert rt.device("IP6000-2").worker == 2
    assert rt.device("00-90-33-10-00-01").name == "ip6000-1"
    with pytest.raises(UnknownDevice) as caught:
        rt.device("ip6000-9")
    assert str(caught.value) == (
        "no device 'ip6000-9' in this runtime (devices: ip6000-1, ip6000-2)"
    )


def test_a_worker_runtime_leaves_the_lock_and_the_identities_to_its_parent(
    tmp_path: Path, ports: Ports, private_registry: Path
) -> None:
    """A worker starts in a state directory its parent has locked, takes the folders the
    parent chose (by name and MAC), serves its control API where it is told, and claims
    no MAC in the registry (the parent's entry holds them)."""
    state = tmp_path / "state"
    parent = StateDir(state)
    parent.lock()
    try:
        with parent.registry.locked():
            parent.hold_serials()
            (made,) = parent.choose_records(DeviceSpec("IP6000", 1), "IP6000", set())
        record, _ = made
        port = ports.udp()

        async def main() -> None:
            async with Runtime(
                state,
                port=port,
                share_port=True,
                http_port=ports.tcp(),
                clock=ManualClock(),
                registry=Registry(tmp_path / "private"),
                control_socket=tmp_path / "worker.sock",
                worker=True,
            ) as rt:
                named = DeviceSpec("IP6000", 1, name="ip6000-1", mac=record.instance.serial)
                (host,) = rt.add_many([named])
                assert host.record.folder == record.folder
                assert rt.entry is not None
                assert rt.entry.macs == {}
                assert (tmp_path / "worker.sock").exists()
                assert not (state / "control.sock").exists()
                with pytest.raises(StateDirBusy):  # the parent's lock holds
                    StateDir(state).lock()

        run(main())
    finally:
        parent.unlock()


def test_named_devices_with_folders_are_found_without_reading_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_registry: Path
) -> None:
    """A worker adds its devices one named spec each: each finds its own folder only, so
    starting n devices reads n instance files, not n x n."""
    state = StateDir(tmp_path / "state")
    state.lock()  # makes the directory
    with state.registry.locked():
        state.hold_serials()
        made = state.choose_records(DeviceSpec("IP6000", 5), "IP6000", set())
    reads: list[Path] = []
    real = statedir.read_instance

    def counted(folder: Path) -> DeviceRecord:
        reads.append(folder)
        return real(folder)

    monkeypatch.setattr(statedir, "read_instance", counted)
    state.unlock()  # as in a worker: its parent holds the lock
    record = made[3][0]
    spec = DeviceSpec("IP6000", 1, name=record.instance.name, mac=record.instance.serial)
    assert state.choose_records(spec, "IP6000", set()) == [(record, False)]
    assert reads == [record.folder]
    # A new name still needs every folder (the next number and MAC): a MAC none of them has.
    state.lock()
    with state.registry.locked():
        [(new, is_new)] = state.choose_records(DeviceSpec("IP6000", 1, name="new"), "IP6000", set())
    assert is_new
    assert new.instance.serial not in {r.instance.serial for r, _ in made}
    state.unlock()


def test_workers_is_in_the_runtimes_python_api() -> None:
    import ipgwsim.runtime  # noqa: PLC0415 (the package's lazy names)

    assert ipgwsim.runtime.Workers is Workers
    assert "Workers" in ipgwsim.runtime.__all__


def test_a_worker_that_does_not_answer_is_a_503_line(tmp_path: Path) -> None:
    """The parent's API in front of a worker whose socket is gone (a worker that just
    died, before the parent stops): one line, 503, not a traceback."""
    rt = Workers(tmp_path / "state", [DeviceSpec("IP6000", 2)], workers=2, http_port=8080)
    spec = DeviceSpec("IP6000", 2)
    rt.devices = place(
        [(spec, record("ip6000-1", "009033100001")), (spec, record("ip6000-2", "009033100002"))],
        2,
    )
    rt._by_key = {d.name: d for d in rt.devices}
    rt.workers = [
        _Worker(k, tmp_path / f"gone-{k}.sock", [d for d in rt.devices if d.worker == k])
        for k in (1, 2)
    ]
    rt._started = True

    async def main() -> None:
        api = WorkerApi(rt)
        async with TestClient(TestServer(api.app())) as client:
            for path in ("/v1/devices/ip6000-2", "/v1/status"):
                answer = await client.get(path)
                assert answer.status == 503
                error = (await answer.json())["error"]
                assert error.startswith("a worker of this runtime did not answer: "), error
                assert "\n" not in error
            answer = await client.get("/v1/devices/ip6000-7/panel")
            assert answer.status == 404
        await api.stop()

    run(main())


def test_the_workers_sockets_go_where_a_socket_path_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / ("x" * 80)))
    assert workers_module._socket_dir() == "/tmp"
    monkeypatch.setattr(tempfile, "tempdir", "/var/tmp")
    assert workers_module._socket_dir() == "/var/tmp"


def two_fake_workers(tmp_path: Path) -> Workers:
    """A parent of two workers (ip6000-1, ip6000-2) whose sockets are ``tmp_path/w-K.sock``."""
    rt = Workers(tmp_path / "state", [DeviceSpec("IP6000", 2)], workers=2, http_port=8080)
    spec = DeviceSpec("IP6000", 2)
    rt.devices = place(
        [(spec, record("ip6000-1", "009033100001")), (spec, record("ip6000-2", "009033100002"))],
        2,
    )
    rt._by_key = {d.name: d for d in rt.devices}
    rt.workers = [
        _Worker(k, tmp_path / f"w-{k}.sock", [d for d in rt.devices if d.worker == k])
        for k in (1, 2)
    ]
    rt._started = True
    return rt


def test_a_watch_client_that_stops_reading_is_cut_off(tmp_path: Path) -> None:
    """Workers that stream events as fast as they can to a parent whose watch client
    reads nothing: the parent holds only a bounded queue, so the workers' writes stall,
    and its write to the client, not taken in time, cuts the client off: the workers'
    streams end."""
    rt = two_fake_workers(tmp_path)
    line = b'{"device":"ip6000-1","event":"led","detail":"' + b"x" * 1000 + b'"}\n'
    lines = 50_000  # 50 MB a worker: far more than the parent's queue and the buffers
    ended: list[asyncio.Event] = []
    sent_all: list[int] = []

    def flood(done: asyncio.Event) -> Any:
        async def watch(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            try:
                for _ in range(lines):
                    await response.write(line)
                sent_all.append(1)  # the parent took it all: nothing held it back
            except (ConnectionError, RuntimeError):
                pass  # the parent let go of this stream
            done.set()
            return response

        return watch

    async def main() -> None:
        runners = []
        for worker in rt.workers:
            done = asyncio.Event()
            ended.append(done)
            app = web.Application()
            app.router.add_get("/v1/watch", flood(done))
            runner = web.AppRunner(app)
            await runner.setup()
            await web.UnixSite(runner, str(worker.socket)).start()
            runners.append(runner)
        api = WorkerApi(rt)
        api.send_timeout = 0.2
        async with TestServer(api.app()) as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(b"GET /v1/watch HTTP/1.1\r\nHost: ipgwsim\r\n\r\n")
            await writer.drain()  # and nothing read from here on
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ended)), 60)
            assert sent_all == []
            try:  # the client was cut off: its connection ends after what was sent
                while await asyncio.wait_for(reader.read(1 << 20), 60):
                    pass
            except ConnectionResetError:
                pass
            writer.close()
        await api.stop()
        for runner in runners:
            await runner.cleanup()

    run(main())


def test_a_request_in_flight_when_the_runtime_stops_is_a_409(tmp_path: Path) -> None:
    """The stop ends the workers while a request waits for one: its connection ends
    unanswered, which then says the runtime stops, not that the worker failed."""
    rt = two_fake_workers(tmp_path)
    arrived, stopped = asyncio.Event(), asyncio.Event()

    async def panel(request: web.Request) -> web.Response:
        arrived.set()
        await stopped.wait()
        assert request.transport is not None
        request.transport.abort()  # the worker ends: no answer
        return web.Response()

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v1/devices/{device}/panel", panel)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.UnixSite(runner, str(rt.workers[1].socket)).start()
        api = WorkerApi(rt)
        async with TestClient(TestServer(api.app())) as client:
            asking = asyncio.ensure_future(client.get("/v1/devices/ip6000-2/panel"))
            await asyncio.wait_for(arrived.wait(), 30)
            rt._stopping = True
            await api.stop()
            stopped.set()
            answer = await asyncio.wait_for(asking, 30)
            assert answer.status == 409
            assert (await answer.json())["error"] == "the runtime is stopping"
        await runner.cleanup()

    run(main())


def test_a_worker_that_never_says_ready_is_one_line_and_killed(
    tmp_path: Path, private_registry: Path
) -> None:
    """A worker that hangs at its start (here: one that only reads its stdin) does not
    hang the run: after the start timeout it is killed and the start fails in one line
    naming it; the state directory is free again and the workers' folder gone."""
    state = tmp_path / "state"
    rt = Workers(state, [DeviceSpec("IP6000", 2)], workers=2, http_port=8080)
    rt.start_timeout = 0.5
    rt.worker_command = [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"]

    async def main() -> None:
        with pytest.raises(RuntimeSetupError) as refused:
            await rt.start()
        text = str(refused.value)
        assert re.fullmatch(
            r"worker [12] \(pid \d+; devices ip6000-[12]\) did not say it was ready in "
            r"0\.5 s: killed",
            text,
        ), text
        assert all(w.process is not None and w.process.returncode is not None for w in rt.workers)

    run(main())
    assert rt._private is not None
    assert not rt._private.exists()
    again = StateDir(state, Registry(private_registry))
    again.lock()
    again.unlock()


def test_a_worker_whose_parent_is_gone_before_its_config_says_so_and_cleans_up(
    tmp_path: Path,
) -> None:
    private = tmp_path / f"{workers_module.PRIVATE_PREFIX}x"
    private.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", workers_module.WORKER_MODULE, str(private), "1", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "ipgwsim worker: the parent closed the worker's stdin before its config: stopping\n"
    )
    assert not private.exists()

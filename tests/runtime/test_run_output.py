"""What ``ipgwsim run``, ``status``, ``watch``, ``profiles`` and ``imageinfo`` print for
people and scripts: the JSON shapes of docs/runtime.md, the log options, the web
servers' URLs and errors, the default ports without root (real processes, real ports)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import product
from pathlib import Path
from typing import Any

import psutil
import pytest

from ipgwsim.hw_profiles import find_profile, load_profiles
from ipgwsim.runtime.ports import (
    DEFAULT_HTTP_PORT,
    DEFAULT_PORT,
    UNPRIVILEGED_HTTP_PORT,
    UNPRIVILEGED_PORT,
    default_http_port,
    default_port,
)
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.processes import IPGWSIM, ipgwsim, read_line, read_until, running, stop
from ipgwsim.tools import run_cmd

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "runtime.md"


# -- helpers ----------------------------------------------------------------------------


def documented_fields(heading: str) -> set[str]:
    """The fields of the table under ``heading`` in docs/runtime.md, braces expanded
    (``counters.{sent,received}.x`` is two fields)."""
    text = DOCS.read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    fields: set[str] = set()
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        match = re.match(r"\| `([^`]+)` \|", line)
        if match is None:
            continue
        parts = re.split(r"(\{[^}]*\})", match.group(1))
        choices = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
        fields |= {"".join(combo) for combo in product(*choices)}
    assert fields, f"no fields under {heading!r}"
    return fields


def leaves(fields: set[str]) -> set[str]:
    """The documented fields without those of objects whose fields are listed too."""
    return {f for f in fields if not any(g.startswith((f"{f}.", f"{f}[]")) for g in fields)}


def flat(value: Any, prefix: str = "") -> set[str]:
    """The dotted names of a JSON object's leaves: ``a.b``, ``a[].b`` (of objects in
    lists)."""
    names: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            names |= flat(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for item in value:
            names |= flat(item, f"{prefix}[]")
    else:
        names.add(prefix)
    return names


def top_level(fields: set[str]) -> set[str]:
    return {f for f in fields if "." not in f and "[" not in f}


# -- profiles and imageinfo -------------------------------------------------------------


def test_profiles_json_is_every_profile_in_the_documented_shape() -> None:
    async def main() -> None:
        rc, out, err = await ipgwsim("profiles", "--json")
        assert rc == 0, err
        profiles = json.loads(out)
        shipped = sorted(load_profiles().values(), key=lambda p: (p.gwtype, p.model))
        assert [p["model"] for p in profiles] == [p.model for p in shipped]
        documented = documented_fields("### `ipgwsim profiles --json`")
        for entry in profiles:
            assert flat(entry) == leaves(documented), entry["model"]

        rc, out, err = await ipgwsim("profiles", "811", "--json")
        assert rc == 0, err
        one = json.loads(out)
        assert one == next(p for p in profiles if p["model"] == "IP811")
        profile = find_profile("IP811")
        assert one["flash"] == {
            "size": profile.flash.size,
            "sector_size": profile.flash.sector_size,
            "program_unit": profile.flash.program_unit,
            "sector_count": profile.flash.sector_count,
        }
        assert one["regions"][0] == {
            "name": profile.regions[0].name,
            "offset": profile.regions[0].offset,
            "size": profile.regions[0].size,
        }
        assert one["conference"]["mode"] == profile.conference.mode.value
        assert one["placeholders"] == sorted(profile.placeholders)
        assert one["boot"]["tftp_options"] == list(profile.boot.tftp_options)

        rc, out, err = await ipgwsim("profiles", "IP9999", "--json")
        assert (rc, out) == (2, "")
        assert err.startswith("ipgwsim profiles: ")
        assert "IP9999" in err
        assert len(err.splitlines()) == 1

    run(main())


def test_imageinfo_json_says_valid_or_why_not(tmp_path: Path) -> None:
    image = tmp_path / "ip811.bin"

    async def main() -> None:
        rc, _, err = await ipgwsim("mkimage", "--model", "IP811", "--size", "4K", "-o", str(image))
        assert rc == 0, err
        documented = documented_fields("### `ipgwsim imageinfo FILE --json`")

        rc, out, err = await ipgwsim("imageinfo", str(image), "--model", "IP811", "--json")
        assert rc == 0, err
        info = json.loads(out)
        assert flat(info) == leaves(documented)
        assert info["valid"] is True
        assert info["problem"] is None
        assert info["file"] == str(image)
        assert info["file_length"] == image.stat().st_size == info["header"]["image_length"]
        assert info["header"]["kind"] == "firmware"
        assert info["header"]["model"] == "IP811"
        assert info["header"]["payload_length"] == 4096
        assert info["checked_against"].startswith("IP811, region ")

        rc, out, err = await ipgwsim("imageinfo", str(image), "--model", "IP6000", "--json")
        assert rc == 1, err
        info = json.loads(out)
        assert info["valid"] is False
        assert info["problem"] == "image is for IP811, this device is an IP6000"

        garbage = tmp_path / "garbage.bin"
        garbage.write_bytes(b"not an image")
        rc, out, err = await ipgwsim("imageinfo", str(garbage), "--json")
        assert rc == 1, err
        info = json.loads(out)
        assert top_level(flat(info)) == top_level(documented)
        assert info["header"] is None
        assert info["checked_against"] is None
        assert info["valid"] is False
        assert info["problem"] == "not an image: no image header"

    run(main())


# -- a running runtime: watch, status, web URLs, logs ------------------------------------


async def press_watched(state: str, w: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    """Hold ip6000-1's button 1.8 s: ``watch --json`` prints the six events as JSON."""
    rc, _, err = await ipgwsim("press", "ip6000-1", "--hold", "1.8", "--state", state)
    assert rc == 0, err
    events = [json.loads(await read_line(w.stdout)) for _ in range(6)]
    assert [{k: v for k, v in e.items() if k != "time"} for e in events] == [
        {"device": "ip6000-1", "event": "led",
         "led": "blinking while the button is held"},
        {"device": "ip6000-1", "event": "blink", "count": 1},
        {"device": "ip6000-1", "event": "blink", "count": 2},
        {"device": "ip6000-1", "event": "blink", "count": 3},
        {"device": "ip6000-1", "event": "led", "led": "steady orange"},
        {"device": "ip6000-1", "event": "mode", "mode": "TFTP mode",
         "reason": "reset button held 1.8 s"},
    ]  # fmt: skip
    times = [e["time"] for e in events]
    assert times == sorted(times)
    assert all(isinstance(t, float) for t in times)
    return events


async def check_web(state: str, url: str) -> None:
    """status and status --json show the web server's URL, and it answers."""
    rc, out, err = await ipgwsim("status", "--json", "--state", state)
    assert rc == 0, err
    (device,) = json.loads(out)
    assert (device["web"], device["web_error"]) == (url, None)
    rc, out, err = await ipgwsim("status", "--state", state)
    assert out.splitlines()[0].split()[6] == "WEB"
    assert out.splitlines()[1].split()[8] == url
    box_info = f"{url}CMD0/box_info.xml"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(box_info, timeout=10).read())
    assert b"08-6000.08" in body, body


@pytest.mark.usefixtures("private_registry")
def test_watch_and_status_json_and_the_web_url(tmp_path: Path, ports: Ports) -> None:
    """watch --json gives the runtime's JSON events; when the firmware takes an address,
    run prints the web server's URL, status shows it, and it answers."""
    state = str(tmp_path / "state")
    http = ports.tcp()
    argv = [
        *IPGWSIM, "run", "IP6000", "--state", state, "--port", str(ports.udp()),
        "--http-port", str(http), "--speed", "1000", "--no-console-tcp",
        "--log-level", "debug", "--log-format", "json",
    ]  # fmt: skip

    async def main() -> None:
        async with running(*argv) as runner:
            await read_until(runner.stdout, "ip6000-1  web:")  # the listing's last line
            rc, out, err = await ipgwsim("status", "--json", "--state", state)
            assert rc == 0, err
            (device,) = json.loads(out)
            assert flat(device) == documented_fields("### `ipgwsim status --json`")
            assert (device["http_port"], device["web"], device["web_error"]) == (http, None, None)
            rc, out, err = await ipgwsim("status", "--state", state)
            assert rc == 0, err
            assert f"- (port {http})" in out.splitlines()[1]

            async with running(*IPGWSIM, "watch", "ip6000-1", "--json", "--state", state) as w:
                assert "watching ip6000-1" in await read_line(w.stderr)
                events = await press_watched(state, w)
                # a short press: the firmware restarts with the factory address
                rc, out, err = await ipgwsim("press", "ip6000-1", "--hold", "0.3", "--state", state)
                assert rc == 0, err
                url = f"http://127.168.0.1:{http}/"
                assert await read_until(runner.stdout, "ip6000-1") == f"ip6000-1  web:  {url}"
                await check_web(state, url)

                rc, out, err = await ipgwsim("power", "ip6000-1", "off", "--state", state)
                assert rc == 0, err
                seen = [json.loads(await read_line(w.stdout))]
                while seen[-1]["event"] != "power":
                    seen.append(json.loads(await read_line(w.stdout)))
                assert seen[-1] == {
                    "device": "ip6000-1", "time": seen[-1]["time"], "event": "power",
                    "on": False, "cause": "switched off",
                }  # fmt: skip
                fields = set().union(*(flat(e) for e in events + seen))
                assert fields == documented_fields("### `ipgwsim watch --json`")
                w.send_signal(signal.SIGINT)
                assert await asyncio.wait_for(w.wait(), 10) == 0

            _, err = await stop(runner)
            logs = [json.loads(line) for line in err.splitlines()]
            listening = [log for log in logs if "web server listening" in log["message"]]
            assert listening, err
            assert listening[0] == {
                "time": listening[0]["time"],
                "level": "DEBUG",
                "logger": "ipgwsim.runtime",
                "message": f"ip6000-1: web server listening on {url}",
                "device": "ip6000-1",
            }
            assert datetime.fromisoformat(listening[0]["time"]).utcoffset() is not None
            assert set(listening[0]) == documented_fields("## Logging") - {"exc_info"}

    run(main(), timeout=120)


@contextmanager
def listening(ip: str, port: int) -> Iterator[socket.socket]:
    """A TCP listener of the test's own on ``(ip, port)`` (0: the kernel picks)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((ip, port))
        sock.listen()
        yield sock
    finally:
        sock.close()


THIS_PROCESS = f"{psutil.Process().name()} (pid {os.getpid()})"


@pytest.mark.usefixtures("private_registry")
@pytest.mark.parametrize(
    ("form", "level"), [("json", "info"), ("text", "warning"), ("text", "error")]
)
def test_a_web_port_taken_on_the_device_address(
    tmp_path: Path, ports: Ports, form: str, level: str
) -> None:
    """Another program on the device's address and port: run goes on, says so on its
    output and (from the level on) in its log, and status marks the device."""
    state = str(tmp_path / "state")
    http = ports.tcp()
    argv = [
        *IPGWSIM, "run", "IP6000", "--state", state, "--port", str(ports.udp()),
        "--http-port", str(http), "--speed", "1000", "--no-console-tcp",
        "--log-format", form, "--log-level", level,
    ]  # fmt: skip
    problem = f"cannot serve HTTP on 127.168.0.1:{http}: address in use by {THIS_PROCESS}"

    async def main() -> None:
        with listening("127.168.0.1", http):
            async with running(*argv) as runner:
                await read_until(runner.stdout, "ip6000-1  web:")
                rc, out, err = await ipgwsim("press", "ip6000-1", "--hold", "0.3", "--state", state)
                assert rc == 0, err
                line = await read_until(runner.stdout, "ip6000-1")
                assert line == f"ip6000-1  web:  none ({problem})"
                rc, out, err = await ipgwsim("status", "--json", "--state", state)
                assert rc == 0, err
                (device,) = json.loads(out)
                assert (device["web"], device["web_error"]) == (None, problem)
                assert device["mode"] == "running firmware"
                rc, out, err = await ipgwsim("status", "--state", state)
                lines = out.splitlines()
                assert lines[1].split()[8:10] == ["error", "(below)"]
                assert lines[2] == f"ip6000-1: {problem}"
                _, err = await stop(runner)
        if level == "error":
            assert problem not in err
        elif form == "text":
            assert f"ipgwsim run: ip6000-1: {problem}\n" in err
        else:
            logs = [json.loads(line) for line in err.splitlines()]
            warning = next(log for log in logs if problem in log["message"])
            assert warning == {
                "time": warning["time"],
                "level": "WARNING",
                "logger": "ipgwsim.runtime",
                "message": f"ip6000-1: {problem}",
                "device": "ip6000-1",
            }

    run(main(), timeout=90)


@pytest.mark.usefixtures("private_registry")
def test_a_web_port_held_on_every_address_is_refused_at_start(tmp_path: Path, ports: Ports) -> None:
    with listening("0.0.0.0", 0) as held:
        port = held.getsockname()[1]

        async def main() -> tuple[int, str, str]:
            return await ipgwsim(
                "run", "IP6000", "--state", str(tmp_path / "state"), "--port", str(ports.udp()),
                "--http-port", str(port),
            )  # fmt: skip

        rc, out, err = run(main())
    assert (rc, out) == (2, "")
    assert err == (
        f"ipgwsim run: TCP port {port} is in use on every address by {THIS_PROCESS}: the "
        f"devices' web servers cannot listen on it; use another --http-port\n"
    )
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())


# -- default ports: as root and not --------------------------------------------------------


def test_one_rule_for_both_default_ports() -> None:
    assert (default_port(0), default_http_port(0)) == (DEFAULT_PORT, DEFAULT_HTTP_PORT) == (69, 80)
    for uid in (1, 1000, 65534):
        assert (default_port(uid), default_http_port(uid)) == (6969, 8080)
    assert (UNPRIVILEGED_PORT, UNPRIVILEGED_HTTP_PORT) == (6969, 8080)


def in_own_network(*argv: str, user: bool) -> list[str]:
    """``argv`` in a network namespace of its own with ``lo`` up (so that the default
    ports are the test's alone), as root or (``user``) as uid 65534 without capabilities
    (a user namespace: the files stay readable as the test's)."""
    inner = ["unshare", "--user", "--map-user=65534", *argv] if user else list(argv)
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *inner]


RUN_PRIVATE = pytest.mark.requires("netns")


@RUN_PRIVATE
@pytest.mark.usefixtures("private_registry")
def test_run_without_root_takes_the_unprivileged_ports_and_says_so(tmp_path: Path) -> None:
    state = str(tmp_path / "state")

    async def main() -> None:
        argv = in_own_network(
            *IPGWSIM, "run", "IP6000", "--state", state, "--speed", "1000", user=True
        )
        async with running(*argv) as runner:
            summary = await read_line(runner.stdout)
            assert summary.startswith("ipgwsim: 1 x IP6000 on loopback, broadcast "
                                      "127.255.255.255:6969,"), summary  # fmt: skip
            assert await read_line(runner.stdout) == (
                "ipgwsim: not root (ports below 1024 need root): gwload and TFTP on UDP port "
                "6969 (as root 69), web servers on TCP port 8080 (as root 80); --port and "
                "--http-port choose others"
            )
            assert (await read_line(runner.stdout)).startswith("NAME")
            rc, out, err = await ipgwsim("status", "--json", "--state", state)
            assert rc == 0, err
            assert json.loads(out)[0]["http_port"] == 8080
            await stop(runner)

        for args, said in [
            (["--http-port", "80"], "ipgwsim run: cannot serve HTTP on TCP port 80: ports "
             "below 1024 need root (or CAP_NET_BIND_SERVICE); use an unprivileged one, e.g. "
             "--http-port 8080\n"),
            (["--port", "69"], "ipgwsim run: cannot bind UDP 127.255.255.255:69: permission "
             "denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); use an "
             "unprivileged port, e.g. --port 6969\n"),
        ]:  # fmt: skip
            argv = in_own_network(*IPGWSIM, "run", "IP6000", "--state", state, *args, user=True)
            async with running(*argv) as refused:
                out_bytes, err_bytes = await asyncio.wait_for(refused.communicate(), 30)
            assert (refused.returncode, out_bytes, err_bytes.decode()) == (2, b"", said)

    run(main(), timeout=90)


@RUN_PRIVATE
@pytest.mark.usefixtures("private_registry")
def test_run_as_root_keeps_port_69(tmp_path: Path) -> None:
    state = str(tmp_path / "state")

    async def main() -> None:
        argv = in_own_network(
            *IPGWSIM, "run", "IP6000", "--state", state, "--speed", "1000", user=False
        )
        async with running(*argv) as runner:
            summary = await read_line(runner.stdout)
            assert "broadcast 127.255.255.255:69," in summary, summary
            assert (await read_line(runner.stdout)).startswith("NAME")  # nothing to say
            await stop(runner)

    run(main(), timeout=60)


def test_a_second_run_in_one_process_logs_at_its_own_level_and_format() -> None:
    log = logging.getLogger("ipgwsim.runtime")
    saved = (list(log.handlers), log.level, log.propagate)
    try:
        for handler in saved[0]:
            log.removeHandler(handler)
        run_cmd._log_to_stderr("warning", "text")
        run_cmd._log_to_stderr("debug", "json")
        (handler,) = log.handlers
        assert log.level == logging.DEBUG
        assert type(handler.formatter).__name__ == "JsonFormatter"
        # A handler of the embedding program's own stays; only the level is set.
        log.removeHandler(handler)
        theirs = logging.NullHandler()
        log.addHandler(theirs)
        run_cmd._log_to_stderr("error", "json")
        assert log.handlers == [theirs]
        assert log.level == logging.ERROR
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
        for handler in saved[0]:
            log.addHandler(handler)
        log.setLevel(saved[1])
        log.propagate = saved[2]

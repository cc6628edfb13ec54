"""The firmware's admin interfaces as fuzz targets: the web server's requests
(``Device.http_refusal`` then ``Device.http``, as the runtime's web server calls them)
and the console (``ConsoleSession.feed``), on a device driven in virtual time.

A crash: any exception; a response whose status is no HTTP status, an error (400 or
more) without a text, a response or console output beyond :data:`MAX_OUTPUT`; a device no
longer running firmware (or in TFTP mode) once what the input began has run its course;
a web server that no longer answers ``/CMD0/box_info.xml`` (200) and ``/`` without
credentials (401), or a console that no longer prompts after a line end.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

from hypothesis import strategies as st

from ipgwsim.events import Mode
from ipgwsim.firmware.console import LOGIN_PROMPT, ConsoleSession
from ipgwsim.firmware.logins import PasswordCheck
from ipgwsim.flash.image import ImageKind
from ipgwsim.proto.http import HttpRequest, HttpResponse
from ipgwsim.testing.fuzz import Surface
from ipgwsim.testing.fuzz.bench import Bench, profile
from ipgwsim.testing.fuzz.mutate import hostile, mutated
from ipgwsim.testing.strategies import images

__all__ = ["MAX_OUTPUT", "SURFACES"]

#: The most one response or one chunk's console output may hold.
MAX_OUTPUT = 1 << 20
MODEL = "IP6000"

_COMMANDS = [
    "config show",
    "config change CMD0 /name fuzz",
    "config change ETH0 /addr 10.0.0.9 /mask 255.255.255.0",
    "config write",
    "config activate",
    "config reset",
    "mod cmd FLASHMAN0 info state",
    "mod cmd FLASHDIR0 view",
    "mod cmd UP0 scfg http://10.0.0.1/x",
    "vars create CMD0/x p 1",
    "reset",
    "help",
    "logout",
    "",
]
_PATHS = [
    "/",
    "/CMD0/box_info.xml",
    "/cfg.txt",
    "/log.txt",
    "/upload/prot",
    "/upload/boot",
    "/upload/config",
    "/upload/config?force=1",
    *(f"/!{quote(c)}" for c in _COMMANDS),
]


@functools.cache
def _password() -> str:
    return profile(MODEL).firmware.default_password


def _ascii(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(max_codepoint=0xFF), max_size=max_size)


def _targets() -> st.SearchStrategy[str]:
    paths = st.sampled_from(_PATHS).map(str.encode)
    return st.one_of(
        st.sampled_from(_PATHS), mutated(paths).map(lambda b: b.decode("latin-1")), _ascii(200)
    )


def _bodies() -> st.SearchStrategy[bytes]:
    config = st.sampled_from(
        [
            b"",
            b"config change CMD0 /name fuzzed\r\n",
            b"config change ETH0 /addr 10.0.0.5 /mask 255.255.255.0\r\nvars create CMD0/a p 1\r\n",
        ]
    )
    image = images(MODEL, ImageKind.FIRMWARE, max_size=1024)
    return st.one_of(hostile(config), mutated(image))


def _requests() -> st.SearchStrategy[HttpRequest]:
    credentials = st.one_of(
        st.just(("admin", _password())),
        st.none(),
        st.tuples(_ascii(20), _ascii(20)),
    )
    return st.builds(
        HttpRequest,
        method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]) | _ascii(10),
        target=_targets(),
        credentials=credentials,
        body=_bodies(),
        content_type=st.sampled_from(["", "text/plain", "application/octet-stream"]),
    )


def _check_response(response: HttpResponse) -> None:
    assert 100 <= response.status <= 599, f"status {response.status}"
    assert len(response.body) <= MAX_OUTPUT, f"a response of {len(response.body)} bytes"
    if response.status >= 400:
        assert response.body.strip(), f"{response.status} without a text"


def _settled_firmware(bench: Bench) -> bool:
    """Run the device until what the input began is over; whether it runs firmware."""
    bench.settle()
    return bench.gw.mode is Mode.FIRMWARE


def _http(_: None, requests: list[HttpRequest]) -> None:
    bench = Bench(MODEL)
    for request in requests:
        now = bench.lab.now
        # As the web server asks: a refusal, or a password check to make, then the answer.
        refusal = bench.device.http_refusal(request, now)
        if isinstance(refusal, PasswordCheck):
            refusal = bench.device.http_checked(request, refusal, refusal.verify(), now)
        response = refusal or bench.device.http(request, now)
        _check_response(response)
        bench.lab.run(1.0)
    if not _settled_firmware(bench):
        return
    info = bench.device.http(HttpRequest("GET", "/CMD0/box_info.xml"), bench.lab.now)
    assert info.status == 200, info
    home = bench.device.http(HttpRequest("GET", "/"), bench.lab.now)
    assert home.status == 401, home


def _lines() -> st.SearchStrategy[bytes]:
    words = st.sampled_from(["admin", _password(), *_COMMANDS])
    ends = st.sampled_from(["\r", "\n", "\r\n", "\x1b[A", "\x7f", "\x08", "\t", ""])
    line = st.tuples(words, ends).map(lambda t: (t[0] + t[1]).encode("ascii"))
    return st.lists(line, max_size=8).map(b"".join)


def _console(_: None, chunks: list[bytes]) -> None:
    bench = Bench(MODEL)
    firmware = bench.device.firmware
    assert firmware is not None
    session = ConsoleSession(firmware)
    session.start()
    for chunk in chunks:
        if firmware.reset_pending or bench.device.firmware is not firmware:
            break  # the device restarts: this session's firmware is gone
        out = session.feed(chunk, bench.lab.now)
        assert len(out) <= MAX_OUTPUT, f"{len(out)} bytes of console output"
        bench.lab.run(0.5)
    if not _settled_firmware(bench):
        return
    firmware = bench.device.firmware
    assert firmware is not None
    fresh = ConsoleSession(firmware)
    assert fresh.start() + fresh.feed(b"\r") == (LOGIN_PROMPT + "\r\n" + LOGIN_PROMPT).encode()
    if session.firmware is firmware and not firmware.reset_pending:
        # CR LF: a CR may end an escape sequence the input began; the LF then ends the line.
        out = session.feed(b"\r\n")
        assert firmware.reset_pending or out.endswith(session.prompt.encode()), out


def _one_request(data: bytes) -> list[HttpRequest]:
    head, _, body = data.partition(b"\n")
    return [HttpRequest("GET", head.decode("latin-1"), ("admin", _password()), body)]


SURFACES = [
    Surface(
        name="http-admin",
        entry="Device.http_refusal and Device.http (the admin web server, firmware/admin.py)",
        crash="an exception; no HTTP status; an error without text; more than 1 MiB; "
        "no box_info.xml (200) or no 401 for / after",
        inputs=st.lists(_requests(), min_size=1, max_size=4),
        check=_http,
        from_bytes=_one_request,
    ),
    Surface(
        name="console",
        entry="ConsoleSession.feed (the firmware's console: login, then commands)",
        crash="an exception; more than 1 MiB out per chunk; no prompt after a line end",
        inputs=st.lists(st.one_of(_lines(), hostile(_lines())), min_size=1, max_size=6),
        check=_console,
        from_bytes=lambda data: [data],
    ),
]

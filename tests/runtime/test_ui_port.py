"""``ipgwsim run --ui``: the control API and the front panel's files on a TCP port, with
its guards (Host header, Content-Type, a token off loopback). Real runtime processes on
port 0; the off-loopback address lives in a network namespace the test makes."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ipgwsim.runtime.apiserver import FRONT_PANEL, UiServer
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.ports import parse_ui
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.needs import find_program
from ipgwsim.testing.netns import add_address, lab_namespace, ns_run
from ipgwsim.testing.processes import IPGWSIM, ipgwsim, read_until, running, stop
from ipgwsim.tools.cli import build_parser
from ipgwsim.tools.cli import main as cli_main
from ipgwsim.tools.run_cmd import plan

pytestmark = pytest.mark.integration

UI_LINE = re.compile(r"^ui: (http://(\S+):(\d+)/)( \(token required off loopback: see (\S+)\))?$")


async def get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET", data: Any = None
) -> tuple[int, str, dict[str, str]]:
    """One request on a connection of its own: status, body, headers."""
    async with (
        aiohttp.ClientSession() as client,
        client.request(method, url, headers=headers, data=data) as response,
    ):
        return response.status, await response.text(), dict(response.headers)


async def check_guards(url: str, port: int) -> None:
    """The UI port's Host, Origin and Content-Type guards (docs/control-api.md)."""
    # The Host header must name the address served: localhost too, on loopback.
    code, body, _ = await get(f"{url}v1/status", {"Host": f"localhost:{port}"})
    assert code == 200
    code, body, _ = await get(f"{url}v1/status", {"Host": f"attacker.example:{port}"})
    assert (code, json.loads(body)) == (
        403,
        {
            "ok": False,
            "error": f"this panel is served on 127.0.0.1:{port}, not on "
            f"'attacker.example:{port}' (Host header refused: DNS rebinding guard)",
        },
    )
    # A page of another site may open a WebSocket anywhere (no CORS): its Origin
    # is refused; the panel's own page is welcome.
    ws_url = f"ws://127.0.0.1:{port}/v1/devices/ip6000-1/console/ws"
    async with aiohttp.ClientSession() as client:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(ws_url, origin="http://attacker.example")
        assert refused.value.status == 403
        async with client.ws_connect(ws_url, origin=url.rstrip("/")) as ws:
            seen = b""
            while b"login: " not in seen:
                message = await asyncio.wait_for(ws.receive(), 10)
                assert message.type is aiohttp.WSMsgType.BINARY, message
                seen += message.data
    code, body, _ = await get(f"{url}v1/status", {"Origin": "http://attacker.example"})
    assert (code, json.loads(body)["error"]) == (
        403,
        "a page of http://attacker.example may not use this panel (only pages served "
        f"by http://127.0.0.1:{port} may)",
    )
    # A form's POST (another site's page can send one without asking): 415.
    code, body, _ = await get(
        f"{url}v1/devices/ip6000-1/power",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "POST",
        "on=false",
    )
    assert code == 415
    assert json.loads(body)["error"] == (
        "a POST needs Content-Type: application/json, not application/x-www-form-urlencoded"
    )


def test_run_serves_the_api_and_the_page_on_a_loopback_port(tmp_path: Path, ports: Ports) -> None:
    state = str(tmp_path / "state")

    async def main() -> None:
        argv = [
            "run", "IP6000", "--state", state, "--port", str(ports.udp()),
            "--http-port", str(ports.tcp()), "--ui", "0",
        ]  # fmt: skip
        async with running(*IPGWSIM, *argv) as runner:
            line = await read_until(runner.stdout, "ui: ")
            match = UI_LINE.match(line)
            assert match is not None, line
            url, host, port, token_note = match[1], match[2], int(match[3]), match[4]
            assert (host, token_note) == ("127.0.0.1", None)
            assert port != 0
            assert not Path(state, "ui-token").exists()

            code, body, _ = await get(f"{url}v1/status")
            status = json.loads(body)
            assert (code, status["ui"]) == (200, url)
            assert status["devices"][0]["name"] == "ip6000-1"
            await check_guards(url, port)
            # The page: what runtime/frontpanel/ holds, never cached.
            code, body, headers = await get(url)
            assert headers["Cache-Control"] == "no-store"
            index = FRONT_PANEL / "index.html"
            if index.is_file():
                assert (code, body) == (200, index.read_text())
            else:
                assert (code, body) == (
                    404,
                    f"the front panel is not installed: no index.html in {FRONT_PANEL}\n",
                )
            rc, out, err = await ipgwsim("status", "--state", state)
            assert rc == 0, err
            assert out.splitlines()[-1] == f"ui: {url}"
            # A second runtime asking for the same port is stopped at its start, naming
            # the holder.
            rc, out, err = await ipgwsim(
                "run", "IP6000", "--state", str(tmp_path / "other"), "--port",
                str(ports.udp()), "--http-port", str(ports.tcp()), "--ui", f"127.0.0.1:{port}",
            )  # fmt: skip
            assert rc == 2
            assert err.startswith(
                f"ipgwsim run: cannot serve the front panel on 127.0.0.1:{port}: address in use by "
            ), err
            assert f"(pid {runner.pid}); choose another --ui port (0: any free one)\n" in err
            await stop(runner)

    run(main(), timeout=120)


def test_the_page_and_its_static_files(tmp_path: Path, ports: Ports) -> None:
    """``/`` is index.html, ``/static/...`` the files beside it, nothing outside them;
    no index.html: 404 and a clear line."""
    panel = tmp_path / "panel"
    (panel / "vendor").mkdir(parents=True)
    (panel / "panel.js").write_text("// js\n")
    (panel / "vendor" / "x.css").write_text("/* css */\n")
    (tmp_path / "secret").write_text("not served\n")

    async def main() -> None:
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            assert rt.api is not None
            server = UiServer(rt, "127.0.0.1", 0, rt.api, static=panel)
            await server.start()
            try:
                url = server.url
                missing = await get(url)
                (panel / "index.html").write_text("<title>panel</title>\n")
                index = await get(url)
                js = await get(f"{url}static/panel.js")
                css = await get(f"{url}static/vendor/x.css")
                outside = await get(f"{url}static/..%2Fsecret")
                absent = await get(f"{url}static/nothing.js")
            finally:
                await server.close()
        assert missing[:2] == (404, f"the front panel is not installed: no index.html in {panel}\n")
        assert index[:2] == (200, "<title>panel</title>\n")
        assert index[2]["Content-Type"].startswith("text/html")
        assert js[:2] == (200, "// js\n")
        assert css[:2] == (200, "/* css */\n")
        assert all(r[2]["Cache-Control"] == "no-store" for r in (missing, index, js, css))
        assert outside[:2] == (404, "no file '../secret' in the front panel\n")
        assert absent[:2] == (404, "no file 'nothing.js' in the front panel\n")

    run(main())


def test_ui_addresses() -> None:
    assert parse_ui("8088") == ("127.0.0.1", 8088)
    assert parse_ui("0") == ("127.0.0.1", 0)
    assert parse_ui("localhost:9000") == ("127.0.0.1", 9000)
    assert parse_ui("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_ui("[::1]:9000") == ("::1", 9000)
    for text, error in [
        ("", "'' is not a TCP port"),
        ("panel.example:80", "'panel.example' is not an IP address"),
        ("::1:80", "write an IPv6 address in brackets: [::1]:PORT"),
        ("127.0.0.1:http", "'http' is not a TCP port (0-65535; 0: any free one)"),
        ("70000", "'70000' is not a TCP port (0-65535; 0: any free one)"),
    ]:
        with pytest.raises(Exception, match=re.escape(error)):
            parse_ui(text)


@pytest.mark.requires("netns", "curl")
def test_off_loopback_every_api_request_needs_the_token(tmp_path: Path, ports: Ports) -> None:
    """Bound to 10.77.0.1 in a namespace of the test's own: the runtime says where the
    token is (never the token), writes it owner-only, and refuses /v1 without it or with
    a wrong one (401); the page needs none. Header and query both carry it."""
    curl = str(find_program("curl"))
    state = tmp_path / "state"

    async def main() -> None:
        with lab_namespace() as lab:
            add_address(lab, "lo", "10.77.0.1/24")
            argv = [
                "ip", "netns", "exec", lab, *IPGWSIM, "run", "IP6000", "--state", str(state),
                "--port", str(ports.udp()), "--http-port", str(ports.tcp()),
                "--ui", "10.77.0.1:0",
            ]  # fmt: skip
            async with running(*argv) as runner:
                line = await read_until(runner.stdout, "ui: ")
                match = UI_LINE.match(line)
                assert match is not None, line
                url, host = match[1], match[2]
                assert (host, match[5]) == ("10.77.0.1", str(state / "ui-token"))
                token_file = state / "ui-token"
                assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
                token = token_file.read_text().strip()
                assert len(token) == 32

                async def curl_in_lab(*args: str) -> tuple[int, Any]:
                    rc, out = await ns_run(lab, curl, "-sS", "-w", "\n%{http_code}", *args)
                    assert rc == 0, out
                    body, _, code = out.rpartition("\n")
                    return int(code), json.loads(body) if body.startswith("{") else body

                status = f"{url}v1/status"
                none = await curl_in_lab(status)
                wrong = await curl_in_lab("-H", "Authorization: Bearer nope", status)
                bearer = await curl_in_lab("-H", f"Authorization: Bearer {token}", status)
                query = await curl_in_lab(f"{status}?token={token}")
                page = await curl_in_lab(url)
                out, err = await stop(runner)
            where = url.removeprefix("http://").rstrip("/")
            assert none == (
                401,
                {
                    "ok": False,
                    "error": f"this panel is served on {where}, off loopback: a token is "
                    f"required (Authorization: Bearer T or ?token=T; it is in {token_file})",
                },
            )
            assert wrong == (
                401,
                {"ok": False, "error": f"the token is wrong: the right one is in {token_file}"},
            )
            assert bearer[0] == query[0] == 200
            assert bearer[1]["ui"] == url
            assert page[0] in (200, 404)  # whatever runtime/frontpanel/ holds, no token
            assert token not in line + out + err
            assert not token_file.exists()  # gone with the runtime

    run(main(), timeout=120)


def test_run_takes_the_ui_port_from_the_command_line_or_the_lab_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text('schema = 1\n[runtime]\nui = "127.0.0.2:0"\n[[device]]\nmodel = "IP6000"\n')
    parser = build_parser()

    def planned(*argv: str) -> tuple[str, int] | None:
        return plan(parser.parse_args(["run", *argv])).ui

    assert planned("IP6000") is None
    assert planned("IP6000", "--ui", "8088") == ("127.0.0.1", 8088)
    assert planned("--lab", str(lab)) == ("127.0.0.2", 0)
    assert planned("--lab", str(lab), "--ui", "[::1]:0") == ("::1", 0)
    assert planned("IP6000", "--http-port", "8081", "--ui", "0.0.0.0:8080") == ("0.0.0.0", 8080)
    with pytest.raises(RuntimeSetupError) as taken:
        planned("IP6000", "--http-port", "8080", "--ui", "0.0.0.0:8080")
    assert str(taken.value) == (
        "--ui 0.0.0.0:8080 takes TCP port 8080 on every address, and the devices' web "
        "servers listen on it on theirs: choose another --ui port (0: any free one)"
    )
    assert cli_main(["run", "IP6000", "--state", str(tmp_path / "s"), "--ui", "x:1"]) == 2
    assert capsys.readouterr().err == (
        "ipgwsim run: --ui x:1: 'x' is not an IP address (give [HOST:]PORT, "
        "e.g. 127.0.0.1:8088 or 0)\n"
    )

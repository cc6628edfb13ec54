"""The page's console when the device's console connections are all taken: the page says
why (the runtime's reason, WebSocket close code 1013) and connects when asked again once
one is free."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from ipgwsim.runtime.connlimit import MAX_DEVICE_CONNECTIONS
from ipgwsim.testing.browser import chromium_page, ui_runtime
from ipgwsim.testing.loopback import Ports, run

pytestmark = [pytest.mark.integration, pytest.mark.requires("chromium")]

expect.set_options(timeout=30_000)


@pytest.mark.usefixtures("private_registry")
def test_a_full_console_budget_is_said_and_a_freed_place_taken(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        async with (
            ui_runtime(
                tmp_path / "state", ["IP6000"], port=ports.udp(), http_port=ports.tcp(),
                speed=1,
            ) as (_, url),
            aiohttp.ClientSession() as session,
            chromium_page(tmp_path / "chromium") as page,
        ):  # fmt: skip
            ws_url = url.replace("http://", "ws://") + "v1/devices/ip6000-1/console/ws"
            taken = [await session.ws_connect(ws_url) for _ in range(MAX_DEVICE_CONNECTIONS)]
            await page.goto(url)
            console = page.locator('[data-device="ip6000-1"] [data-element="console"]')
            status = console.locator(".console-status")
            await expect(status).to_have_attribute("data-state", "closed")
            await expect(status).to_contain_text("console closed: ")
            await expect(status).to_contain_text(str(MAX_DEVICE_CONNECTIONS))
            connect = console.locator("button.connect")
            await expect(connect).to_be_visible()

            await taken.pop().close()
            await connect.click()
            await expect(status).to_have_attribute("data-state", "open")
            await expect(connect).to_be_hidden()
            for ws in taken:
                await ws.close()

    run(main(), timeout=120)

"""The front panel in a real browser: ``ipgwsim run --ui`` as a process and Debian's
chromium driven by Playwright, for the page's tests and its screenshots.

- :func:`ui_runtime`: ``ipgwsim run MODELS --ui 127.0.0.1:0`` (or another address) on a
  state directory and ports of the caller's; yields the process and the page's URL, read
  from run's ``ui:`` line (the kernel picked the port).
- :func:`chromium_page`: a headless chromium (``/usr/bin/chromium``, never a browser
  Playwright downloads) with a fresh profile in a folder of the caller's, and a page.
- :func:`rendered_elements`: the ``data-element`` names the page shows now.
- :func:`type_line`: type a line into a device's console on the page, and wait for an
  answer.

Needs Playwright (in ``ipgwsim[test]``, the project's own suite) and the ``chromium``
package; imported without Playwright it says which extra brings it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from ipgwsim.runtime.extras import extra_imports
from ipgwsim.testing.needs import CHROMIUM
from ipgwsim.testing.processes import IPGWSIM, read_line, running

with extra_imports(__name__):
    from playwright.async_api import Page, async_playwright

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "chromium_page",
    "console_text",
    "rendered_elements",
    "type_line",
    "ui_runtime",
]

#: Headless, and quiet: no sandbox (root in CI), no GPU, no calls home of its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_UI_LINE = re.compile(r"^ui: (http://\S+/)")


@asynccontextmanager
async def ui_runtime(
    state: Path,
    models: Sequence[str],
    *,
    port: int,
    http_port: int,
    speed: float,
    ui: str = "127.0.0.1:0",
    extra: Sequence[str] = (),
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``ipgwsim run MODELS`` with the front panel on ``ui`` (default 127.0.0.1, a port the
    kernel picks): the process, and the page's URL once run has said it. Stopped with
    SIGTERM at the end."""
    async with running(
        *IPGWSIM, "run", *models, "--state", str(state), "--port", str(port),
        "--http-port", str(http_port), "--speed", f"{speed:g}", "--ui", ui, *extra,
    ) as proc:  # fmt: skip
        seen = []
        while True:
            line = await read_line(proc.stdout, timeout=60)
            seen.append(line)
            found = _UI_LINE.match(line)
            if found:
                yield proc, found.group(1)
                return
            assert len(seen) < 200, f"ipgwsim run said no ui: line: {seen}"


@asynccontextmanager
async def chromium_page(
    profile: Path, *, width: int = 1280, height: int = 900
) -> AsyncIterator[Page]:
    """A page of a headless chromium whose profile (user data dir) is ``profile``, a
    folder of the caller's that is not used yet: every run starts afresh."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            yield page
        finally:
            await context.close()


async def rendered_elements(page: Page, within: str = "body") -> list[str]:
    """The ``data-element`` names of the elements under ``within`` (a CSS selector) that
    the page shows now (laid out and not hidden), sorted, each once."""
    names: list[str] = await page.evaluate(
        """(within) => {
            const names = new Set();
            for (const node of document.querySelectorAll(`${within} [data-element]`)) {
                const box = node.getBoundingClientRect();
                if (box.width > 0 && box.height > 0 && node.closest("[hidden]") === null) {
                    names.add(node.dataset.element);
                }
            }
            return [...names].sort();
        }""",
        within,
    )
    return names


async def console_text(page: Page, device: str) -> str:
    """What the console of ``device`` on the page holds (the terminal's lines, scrollback
    included)."""
    text: str = await page.evaluate("(name) => window.ipgwsimPanel.consoleText(name)", device)
    return text


async def type_line(page: Page, device: str, line: str, wanted: str, timeout: float = 30) -> str:
    """Type ``line`` and Enter into the console of ``device`` on the page, then wait until
    its terminal holds ``wanted`` once more than before (a prompt already there counts
    only when it comes again). Returns what came after the line was typed."""
    count = """([name, wanted]) =>
        window.ipgwsimPanel.consoleText(name).split(wanted).length - 1"""
    before = await console_text(page, device)
    await page.locator(f'[data-device="{device}"] [data-element="console"] .term').click()
    await page.keyboard.type(line)
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        f"([name, wanted, before]) => ({count})([name, wanted]) > before",
        arg=[device, wanted, before.count(wanted)],
        timeout=timeout * 1000,
    )
    after = await console_text(page, device)
    return after[len(before.rstrip()) :] if after.startswith(before.rstrip()) else after

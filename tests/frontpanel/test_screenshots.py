"""The front panel's screenshots in docs/images are PNGs, and their manifest lists every
``data-element`` the page renders now: a new element fails here until
``scripts/screenshots`` is run again."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ipgwsim.testing.browser import chromium_page, rendered_elements, ui_runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.screenshots import MANIFEST

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "docs" / "images"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def manifest() -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = json.loads((IMAGES / MANIFEST).read_text("utf-8"))
    return loaded


def test_every_picture_of_the_manifest_is_a_png_and_none_is_left_out() -> None:
    pictures = manifest()
    assert len(pictures) >= 5
    for name, entry in pictures.items():
        data = (IMAGES / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE, name
        # The first chunk is IHDR: width and height, neither 0.
        length, kind, width, height = struct.unpack(">I4sII", data[8:24])
        assert (length, kind) == (13, b"IHDR"), name
        assert min(width, height) > 0, name
        assert entry["shows"], name
        assert entry["elements"], name
    on_disk = {p.name for p in IMAGES.glob("front-panel-*.png")}
    assert on_disk == set(pictures)


@pytest.mark.integration
@pytest.mark.requires("chromium")
@pytest.mark.usefixtures("private_registry")
def test_the_manifest_lists_every_element_the_page_renders(tmp_path: Path, ports: Ports) -> None:
    shown: set[str] = set()
    for entry in manifest().values():
        elements = entry["elements"]
        assert isinstance(elements, list)
        shown.update(elements)

    async def main() -> list[str]:
        async with (
            ui_runtime(
                tmp_path / "state", ["IP6000"], port=ports.udp(), http_port=ports.tcp(),
                speed=1,
            ) as (_, url),
            chromium_page(tmp_path / "chromium") as page,
        ):  # fmt: skip
            await page.goto(url)
            await page.wait_for_selector('[data-device="ip6000-1"] [data-part="ring"]')
            return await rendered_elements(page)

    rendered = run(main(), timeout=120)
    assert {"ready-led", "button", "power", "console", "flash"} <= set(rendered)
    assert sorted(set(rendered) - shown) == [], "run scripts/screenshots again"

"""The dashboard app as the production server builds it: its pages, its <head> icons and its assets folder.

No frontend build: compiles are dry runs, which evaluate every page and write nothing.
"""

from __future__ import annotations

import logging
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
sys.path.insert(0, str(ROOT / "scripts"))


@pytest.fixture(scope="module")
def dashboard():
    from esa_admin.esa_admin import app

    return app


def test_compiling_the_dashboard_again_redefines_no_page(dashboard, caplog):
    # Given the app compiled once, as `reflex run --env prod` does before it forks the granian worker
    caplog.set_level(logging.DEBUG)
    dashboard._compile(dry_run=True, use_rich=False)
    # When the worker compiles the same app object again
    dashboard._compile(dry_run=True, use_rich=False)
    # Then no page was added twice, and every page is there once
    redefined = [r.getMessage() for r in caplog.records if "redefined" in r.getMessage()]
    assert redefined == []
    assert set(dashboard._unevaluated_pages) == {
        "404",
        "index",
        "login",
        "stuck",
        "orders",
        "orders/[id]",
        "suppliers",
        "fx",
        "catalog",
        "alerts",
        "close",
        "invoices",
        "customers/[id]",
        "operators",
        "setup",
        "pricing",
        "promos",
    }


def test_every_dashboard_page_links_the_esa_icons_in_its_head(dashboard):
    links = {(c.rel._var_value, c.href._var_value) for c in dashboard.head_components}  # type: ignore[attr-defined]
    assert ("icon", "/favicon.ico") in links
    assert ("icon", "/favicon.svg") in links
    assert ("apple-touch-icon", "/apple-touch-icon.png") in links
    for _, href in links:
        assert (ASSETS / href.lstrip("/")).is_file(), f"{href} is linked but not in assets/"


def test_reflex_publishes_the_top_level_assets_folder():
    from reflex_base import constants

    # Reflex copies <cwd>/assets to the site root at compile; the app runs from the folder of rxconfig.py
    assert (ROOT / "rxconfig.py").is_file()
    assert (ROOT / constants.Dirs.APP_ASSETS) == ASSETS


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_favicon_ico_holds_16_32_and_48_pixel_icons():
    data = (ASSETS / "favicon.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1)
    sizes = []
    for i in range(count):
        width, _, _, _, _, _, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i : 22 + 16 * i])
        assert _png_size(data[offset : offset + length]) == (width, width)
        sizes.append(width)
    assert sorted(sizes) == [16, 32, 48]


@pytest.mark.parametrize(
    ("name", "size"), [("icon-192.png", 192), ("icon-512.png", 512), ("apple-touch-icon.png", 180)]
)
def test_app_icons_have_their_sizes(name, size):
    assert _png_size((ASSETS / name).read_bytes()) == (size, size)


def test_committed_svg_and_manifest_match_the_icon_script():
    import make_icons

    assert (ASSETS / "favicon.svg").read_text() == make_icons.svg()
    assert (ASSETS / "site.webmanifest").read_text() == make_icons.manifest()

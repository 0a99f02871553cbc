"""Draw the ESA mark (white block letters on a teal rounded square) into assets/: favicon.ico and .svg, the
app icons (192, 512, apple-touch-icon 180) and site.webmanifest. Pure Python, no network, no Pillow.

Run from the repository root: `python scripts/make_icons.py`. The output is committed; rerun after a change.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"

TEAL = (0x12, 0xA5, 0x94)  # Radix teal 9: the dashboard's accent colour (rxconfig.py)
WHITE = (0xFF, 0xFF, 0xFF)
CANVAS = 14.0  # the mark is drawn on a 14 x 14 unit square
RADIUS = 3.0  # corner radius of the rounded square, in units

# Each letter is 3 x 5 units, made of non-overlapping rectangles (x, y, w, h) so coverage adds up exactly.
_LETTERS = {
    "E": [(0, 0, 1, 5), (1, 0, 2, 1), (1, 2, 2, 1), (1, 4, 2, 1)],
    "S": [(0, 0, 3, 1), (0, 1, 1, 1), (0, 2, 3, 1), (2, 3, 1, 1), (0, 4, 3, 1)],
    "A": [(0, 0, 3, 1), (0, 1, 1, 4), (2, 1, 1, 4), (1, 2, 1, 1)],
}
_ORIGIN = (1.5, 4.5)  # "ESA" is 11 units wide and 5 high: centred on the canvas


def letter_rects() -> list[tuple[float, float, float, float]]:
    """The rectangles of "ESA" in canvas units."""
    rects = []
    for i, letter in enumerate("ESA"):
        x0 = _ORIGIN[0] + 4 * i
        rects += [(x0 + x, _ORIGIN[1] + y, w, h) for x, y, w, h in _LETTERS[letter]]
    return rects


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _inside_rounded(x: float, y: float, radius: float, side: float) -> bool:
    cx = min(max(x, radius), side - radius)
    cy = min(max(y, radius), side - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _pixel_rects(size: int) -> list[tuple[float, float, float, float]]:
    """The letters in pixels; small icons snap to whole pixels so 16 px stays sharp."""
    if size > 48:
        k = size / CANVAS
        return [(x * k, y * k, w * k, h * k) for x, y, w, h in letter_rects()]
    unit = max(1, int(size * 11 / CANVAS) // 11)
    ox, oy = (size - 11 * unit) // 2, (size - 5 * unit) // 2
    return [
        (ox + (x - _ORIGIN[0]) * unit, oy + (y - _ORIGIN[1]) * unit, w * unit, h * unit)
        for x, y, w, h in letter_rects()
    ]


def render(size: int, *, radius: float = RADIUS) -> bytes:
    """RGBA pixels of the mark at `size` x `size`; `radius` 0 gives a full, opaque square."""
    r = radius * size / CANVAS  # in pixels
    rects = _pixel_rects(size)
    out = bytearray()
    for py in range(size):
        for px in range(size):
            near_x = min(px, size - 1 - px) < r + 1
            near_y = min(py, size - 1 - py) < r + 1
            if r and near_x and near_y:  # 4 x 4 samples near a rounded corner
                hits = sum(
                    _inside_rounded(px + (i + 0.5) / 4, py + (j + 0.5) / 4, r, size)
                    for i in range(4)
                    for j in range(4)
                )
                alpha = hits / 16
            else:
                alpha = 1.0
            ink = sum(
                _overlap(px, px + 1, rx, rx + rw) * _overlap(py, py + 1, ry, ry + rh)
                for rx, ry, rw, rh in rects
            )
            ink = min(1.0, ink)
            rgb = [round(t + (w - t) * ink) for t, w in zip(TEAL, WHITE, strict=True)]
            out += bytes([*rgb, round(255 * alpha)])
    return bytes(out)


def png(size: int, pixels: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    stride = size * 4
    raw = b"".join(b"\x00" + pixels[row * stride : (row + 1) * stride] for row in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(images: dict[int, bytes]) -> bytes:
    """An .ico holding PNG-encoded images (every current browser reads these)."""
    head = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, data = b"", b""
    for size, blob in images.items():
        entries += struct.pack(
            "<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(blob), offset + len(data)
        )
        data += blob
    return head + entries + data


def svg() -> str:
    path = "".join(f"M{x:g} {y:g}h{w:g}v{h:g}h{-w:g}z" for x, y, w, h in letter_rects())
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CANVAS:g} {CANVAS:g}">'
        f"<title>ESA</title>"
        f'<rect width="{CANVAS:g}" height="{CANVAS:g}" rx="{RADIUS:g}" fill="#{"".join(f"{c:02x}" for c in TEAL)}"/>'
        f'<path fill="#fff" d="{path}"/></svg>\n'
    )


def manifest() -> str:
    icons = [{"src": f"/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png"} for s in (192, 512)]
    body = {
        "name": "ESA operations",
        "short_name": "ESA",
        "icons": icons,
        "theme_color": "#12a594",
        "background_color": "#ffffff",
        "display": "standalone",
        "start_url": "/",
    }
    return json.dumps(body, indent=2) + "\n"


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    (ASSETS / "favicon.ico").write_bytes(ico({s: png(s, render(s)) for s in (16, 32, 48)}))
    (ASSETS / "favicon.svg").write_text(svg())
    for s in (192, 512):
        (ASSETS / f"icon-{s}.png").write_bytes(png(s, render(s)))
    # iOS rounds the corners itself and shows transparency as black: a full square
    (ASSETS / "apple-touch-icon.png").write_bytes(png(180, render(180, radius=0)))
    (ASSETS / "site.webmanifest").write_text(manifest())
    print(f"wrote the ESA icons to {ASSETS}")


if __name__ == "__main__":
    main()

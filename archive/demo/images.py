"""Procedural, deterministic images for the demo collection (one JPEG per file name)."""

from __future__ import annotations

import csv
import hashlib
import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageDraw, ImageFont, ImageOps

BIG_IMAGE = "CAM-0001-panorama.jpg"
BIG_SIZE = (8192, 4096)
_LONG_SIDES = (2048, 2304, 2560, 2800, 3000)
_JPEG_QUALITY = 88

Color = tuple[int, int, int]
T = TypeVar("T")
Draw = ImageDraw.ImageDraw

# Palettes per collection: (sky top, sky horizon, hills, silhouette, ground, accent)
_PALETTES: dict[str, list[tuple[Color, Color, Color, Color, Color, Color]]] = {
    "GZ": [
        ((122, 24, 30), (244, 186, 96), (178, 92, 60), (52, 20, 24), (92, 48, 34), (226, 180, 64)),
        ((24, 64, 72), (196, 222, 200), (88, 140, 120), (24, 38, 40), (56, 84, 70), (214, 72, 56)),
        ((60, 30, 90), (250, 200, 150), (150, 90, 120), (36, 18, 44), (80, 50, 70), (240, 200, 90)),
    ],
    "OAX": [
        (
            (40, 90, 170),
            (250, 214, 160),
            (120, 150, 110),
            (64, 40, 36),
            (150, 96, 60),
            (200, 40, 110),
        ),
        (
            (150, 40, 90),
            (252, 176, 110),
            (170, 110, 80),
            (50, 26, 40),
            (120, 70, 50),
            (90, 170, 120),
        ),
        (
            (30, 110, 120),
            (240, 230, 190),
            (110, 160, 120),
            (40, 50, 40),
            (100, 120, 80),
            (232, 120, 40),
        ),
    ],
    "CAM": [
        (
            (20, 110, 170),
            (230, 244, 236),
            (90, 170, 170),
            (70, 64, 58),
            (210, 190, 150),
            (236, 120, 90),
        ),
        (
            (250, 130, 90),
            (255, 226, 170),
            (200, 150, 110),
            (60, 40, 40),
            (190, 160, 120),
            (40, 140, 170),
        ),
        (
            (16, 60, 110),
            (140, 200, 220),
            (60, 120, 130),
            (26, 32, 40),
            (80, 110, 100),
            (250, 210, 110),
        ),
    ],
}
_CITY = {"GZ": "Guangzhou", "OAX": "Oaxaca", "CAM": "Campeche"}
_HOUSE_COLOURS: list[Color] = [
    (240, 200, 120),
    (230, 150, 140),
    (150, 200, 210),
    (200, 220, 150),
    (240, 240, 225),
    (190, 160, 210),
    (250, 180, 90),
]


def demo_dir() -> Path:
    """Return the folder holding records.csv and mapping.toml."""
    return Path(__file__).resolve().parent


class _Rng:
    """Small deterministic generator (xorshift64*) seeded from a string."""

    def __init__(self, key: str) -> None:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        self.state = int.from_bytes(digest[:8], "big") | 1

    def random(self) -> float:
        x = self.state
        x ^= (x >> 12) & 0xFFFFFFFFFFFFFFFF
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= (x >> 27) & 0xFFFFFFFFFFFFFFFF
        self.state = x
        return ((x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) / 2.0**64

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]


def _records_by_image() -> dict[str, dict[str, str]]:
    with (demo_dir() / "records.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        for name in (row.get("images") or "").split("|"):
            if name.strip():
                out[name.strip()] = row
    return out


def image_names() -> list[str]:
    """Return every image file name listed in records.csv, in file order."""
    return list(_records_by_image())


def image_size(name: str) -> tuple[int, int]:
    """Return the (width, height) that generate_images uses for a file name."""
    return _size(name, _records_by_image().get(name))


def _size(name: str, row: dict[str, str] | None) -> tuple[int, int]:
    if name == BIG_IMAGE:
        return BIG_SIZE
    rng = _Rng("size:" + name)
    long_side = rng.choice(_LONG_SIDES)
    ratio = rng.choice((4 / 3, 3 / 2, 16 / 10))
    short = round(long_side / ratio)
    if _motif_for(name, row) in ("pagoda", "minaret", "tree"):
        return short, long_side
    return long_side, short


def _ascii(text: str) -> str:
    """Fold text to ASCII, as Pillow's default font has no accented glyphs."""
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if ord(c) < 128 and not unicodedata.combining(c))


def _motif_for(name: str, row: dict[str, str] | None) -> str:
    stem = Path(name).stem.lower()
    if stem.endswith("-detail"):
        return "fret"
    if stem.endswith("-panorama"):
        return "walls"
    if row is None:
        return _Rng("motif:" + name).choice(("hall", "church", "pyramid", "walls", "vessel"))
    text = (row.get("subjects_en", "") + "|" + row.get("title_en", "")).lower()
    rules = [
        ("pagoda", ("pagodas", "towers", "buddhist")),
        ("tree", ("trees",)),
        ("mask", ("masks",)),
        ("minaret", ("mosques", "minarets")),
        ("walls", ("city walls", "bastions", "city gates", "forts", "fortifications")),
        ("pyramid", ("pyramids", "archaeological sites")),
        ("church", ("cathedrals", "churches", "basilicas", "theatres", "convents")),
        ("vessel", ("pottery", "porcelain", "ceramics", "figurines", "alebrijes")),
        ("fret", ("embroidery", "festivals", "textiles")),
    ]
    for motif, words in rules:
        if any(w in text for w in words):
            return motif
    return "hall"


# --------------------------------------------------------------------------- drawing helpers


def _shade(c: Color, f: float) -> Color:
    if f >= 1:
        return tuple(int(v + (255 - v) * (f - 1)) for v in c)  # type: ignore[return-value]
    return tuple(int(v * f) for v in c)  # type: ignore[return-value]


def _sky(size: tuple[int, int], top: Color, horizon: Color) -> Image.Image:
    grad = Image.linear_gradient("L").resize(size, Image.Resampling.BILINEAR)
    return ImageOps.colorize(grad, top, horizon)


def _hills(draw: Draw, w: int, base: float, amp: float, colour: Color, rng: _Rng) -> None:
    phase = [rng.uniform(0, math.tau) for _ in range(3)]
    freq = [rng.uniform(1.0, 2.5), rng.uniform(3, 6), rng.uniform(8, 14)]
    step = max(4, w // 400)
    pts = [(0, base + amp)]
    for x in range(0, w + step, step):
        t = x / w
        y = sum(
            math.sin(t * f * math.tau + p) / (i + 1)
            for i, (f, p) in enumerate(zip(freq, phase, strict=True))
        )
        pts.append((x, base - amp * (0.6 + 0.4 * y)))
    pts.append((w, base + amp))
    draw.polygon(pts, fill=colour)


def _eave(draw: Draw, cx: float, y: float, half: float, th: float, colour: Color) -> None:
    """A Chinese roof eave with upturned corners."""
    lift = th * 1.2
    draw.polygon(
        [
            (cx - half - th, y - lift),
            (cx - half * 0.55, y - th * 0.2),
            (cx - half * 0.35, y - th * 1.6),
            (cx + half * 0.35, y - th * 1.6),
            (cx + half * 0.55, y - th * 0.2),
            (cx + half + th, y - lift),
            (cx + half * 0.7, y + th * 0.6),
            (cx - half * 0.7, y + th * 0.6),
        ],
        fill=colour,
    )


def _pagoda(
    draw: Draw, cx: float, ground: float, height: float, dark: Color, accent: Color, rng: _Rng
) -> None:
    tiers = rng.randint(5, 9)
    base_w = height * 0.36
    tier_h = height * 0.85 / tiers
    y = ground
    for i in range(tiers):
        w = base_w * (1 - 0.55 * i / tiers)
        draw.rectangle([cx - w / 2, y - tier_h, cx + w / 2, y], fill=dark)
        win = w * 0.12
        draw.rectangle(
            [cx - win / 2, y - tier_h * 0.75, cx + win / 2, y - tier_h * 0.25], fill=accent
        )
        _eave(draw, cx, y - tier_h, w * 0.62, tier_h * 0.18, dark)
        y -= tier_h
    draw.rectangle([cx - height * 0.008, y - height * 0.15, cx + height * 0.008, y], fill=dark)
    for k in range(3):
        r = height * (0.02 - k * 0.004)
        yy = y - height * (0.03 + k * 0.04)
        draw.ellipse([cx - r, yy - r, cx + r, yy + r], fill=dark)


def _hall(
    draw: Draw,
    x0: float,
    x1: float,
    ground: float,
    height: float,
    dark: Color,
    accent: Color,
    rng: _Rng,
) -> None:
    w = x1 - x0
    draw.rectangle([x0, ground - height * 0.12, x1, ground], fill=_shade(dark, 1.25))
    draw.rectangle(
        [x0 + w * 0.05, ground - height * 0.62, x1 - w * 0.05, ground - height * 0.12], fill=dark
    )
    cols = rng.randint(4, 8)
    for i in range(cols + 1):
        cx = x0 + w * 0.08 + i * (w * 0.84) / cols
        draw.rectangle(
            [cx - w * 0.006, ground - height * 0.6, cx + w * 0.006, ground - height * 0.12],
            fill=accent,
        )
    _eave(draw, (x0 + x1) / 2, ground - height * 0.62, w * 0.5, height * 0.1, dark)
    # ridge with "wok-handle" gables at each end
    ry = ground - height * 0.86
    draw.rectangle([x0 + w * 0.2, ry, x1 - w * 0.2, ry + height * 0.06], fill=dark)
    for gx in (x0 + w * 0.14, x1 - w * 0.14):
        r = height * 0.16
        draw.pieslice([gx - r, ry - r * 0.2, gx + r, ry + r * 1.8], 180, 360, fill=dark)
    for k in range(rng.randint(2, 4)):
        fx = x0 + w * (0.3 + 0.4 * k / 3)
        draw.ellipse([fx - height * 0.03, ry - height * 0.08, fx + height * 0.03, ry], fill=accent)


def _minaret(
    draw: Draw, cx: float, ground: float, height: float, dark: Color, light: Color
) -> None:
    w = height * 0.08
    draw.rectangle([cx - w / 2, ground - height * 0.82, cx + w / 2, ground], fill=dark)
    draw.polygon(
        [
            (cx - w * 0.6, ground - height * 0.82),
            (cx + w * 0.6, ground - height * 0.82),
            (cx, ground - height),
        ],
        fill=dark,
    )
    for k in range(5):
        y = ground - height * (0.15 + 0.13 * k)
        draw.rectangle([cx - w * 0.12, y - w * 0.4, cx + w * 0.12, y], fill=light)
    for side in (-1, 1):
        hx = cx + side * height * 0.35
        _hall_block(draw, hx, ground, height * 0.3, dark)


def _hall_block(draw: Draw, cx: float, ground: float, h: float, dark: Color) -> None:
    draw.rectangle([cx - h * 0.9, ground - h * 0.6, cx + h * 0.9, ground], fill=dark)
    _eave(draw, cx, ground - h * 0.6, h * 0.95, h * 0.12, dark)


def _church(
    draw: Draw, cx: float, ground: float, height: float, dark: Color, light: Color, rng: _Rng
) -> None:
    fw = height * rng.uniform(0.45, 0.6)
    tw = fw * 0.24
    # dome behind the façade
    dr = fw * 0.22
    dy = ground - height * 0.62
    draw.rectangle([cx - dr, dy, cx + dr, dy + height * 0.2], fill=_shade(dark, 1.2))
    draw.pieslice([cx - dr, dy - dr, cx + dr, dy + dr], 180, 360, fill=_shade(dark, 1.2))
    draw.rectangle([cx - dr * 0.1, dy - dr * 1.5, cx + dr * 0.1, dy - dr * 0.9], fill=dark)
    # façade
    draw.rectangle([cx - fw / 2, ground - height * 0.5, cx + fw / 2, ground], fill=dark)
    draw.polygon(
        [
            (cx - fw * 0.3, ground - height * 0.5),
            (cx + fw * 0.3, ground - height * 0.5),
            (cx, ground - height * 0.6),
        ],
        fill=dark,
    )
    # towers with belfries and cupolas
    for side in (-1, 1):
        tx = cx + side * (fw / 2 - tw / 2)
        top = ground - height * 0.78
        draw.rectangle([tx - tw / 2, top, tx + tw / 2, ground], fill=dark)
        draw.rectangle([tx - tw * 0.42, top - height * 0.1, tx + tw * 0.42, top], fill=dark)
        aw = tw * 0.18
        draw.rectangle([tx - aw, top - height * 0.085, tx + aw, top - height * 0.02], fill=light)
        draw.pieslice(
            [tx - tw * 0.4, top - height * 0.18, tx + tw * 0.4, top - height * 0.02],
            180,
            360,
            fill=dark,
        )
        draw.rectangle(
            [tx - tw * 0.03, top - height * 0.22, tx + tw * 0.03, top - height * 0.14], fill=dark
        )
    # door and window
    doorw = fw * 0.16
    draw.rectangle([cx - doorw / 2, ground - height * 0.16, cx + doorw / 2, ground], fill=light)
    draw.pieslice(
        [
            cx - doorw / 2,
            ground - height * 0.16 - doorw / 2,
            cx + doorw / 2,
            ground - height * 0.16 + doorw / 2,
        ],
        180,
        360,
        fill=light,
    )
    rr = fw * 0.07
    wy = ground - height * 0.36
    draw.ellipse([cx - rr, wy - rr, cx + rr, wy + rr], fill=light)


def _pyramid(
    draw: Draw, cx: float, ground: float, height: float, dark: Color, light: Color, rng: _Rng
) -> None:
    levels = rng.randint(4, 7)
    base = height * rng.uniform(1.4, 2.0)
    top = base * 0.28
    lh = height * 0.8 / levels
    for i in range(levels):
        w0 = base - (base - top) * i / levels
        w1 = base - (base - top) * (i + 0.8) / levels
        y0 = ground - i * lh
        draw.polygon(
            [(cx - w0 / 2, y0), (cx + w0 / 2, y0), (cx + w1 / 2, y0 - lh), (cx - w1 / 2, y0 - lh)],
            fill=_shade(dark, 1 + 0.04 * i),
        )
        draw.line(
            [(cx - w0 / 2, y0 - lh * 0.5), (cx + w0 / 2, y0 - lh * 0.5)],
            fill=_shade(dark, 0.8),
            width=max(1, int(lh * 0.04)),
        )
    sw = base * 0.09
    draw.polygon(
        [
            (cx - sw, ground),
            (cx + sw, ground),
            (cx + sw * 0.7, ground - lh * levels),
            (cx - sw * 0.7, ground - lh * levels),
        ],
        fill=_shade(light, 0.9),
    )
    for i in range(levels * 6):
        y = ground - i * lh / 6
        draw.line(
            [(cx - sw, y), (cx + sw, y)], fill=_shade(dark, 1.1), width=max(1, int(lh * 0.03))
        )
    ty = ground - lh * levels
    draw.rectangle([cx - top * 0.35, ty - height * 0.16, cx + top * 0.35, ty], fill=dark)
    draw.rectangle([cx - top * 0.08, ty - height * 0.1, cx + top * 0.08, ty], fill=light)


def _walls(
    draw: Draw, w: int, ground: float, height: float, dark: Color, light: Color, rng: _Rng
) -> None:
    stone = _shade(light, 0.82)
    wall_top = ground - height * 0.55
    # houses and towers of the town behind the wall
    x = 0.0
    while x < w:
        hw = height * rng.uniform(0.35, 0.7)
        hh = height * rng.uniform(0.62, 0.85)
        colour = rng.choice(_HOUSE_COLOURS)
        draw.rectangle([x, ground - hh, x + hw, ground], fill=colour)
        for k in range(int(hw // (height * 0.12))):
            wx = x + height * 0.05 + k * height * 0.12
            draw.rectangle(
                [wx, ground - hh + height * 0.06, wx + height * 0.04, ground - hh + height * 0.14],
                fill=_shade(colour, 0.6),
            )
        if rng.random() < 0.08:
            _church(
                draw,
                x + hw / 2,
                ground - height * 0.3,
                height * 0.9,
                _shade(colour, 0.85),
                _shade(colour, 0.55),
                rng,
            )
        x += hw + height * rng.uniform(0.0, 0.08)
    # the curtain wall with merlons
    draw.rectangle([0, wall_top, w, ground], fill=stone)
    merlon = height * 0.06
    mx = 0.0
    while mx < w:
        draw.rectangle([mx, wall_top - merlon, mx + merlon, wall_top], fill=stone)
        mx += merlon * 2
    for k in range(int(w // (height * 0.25)) + 1):
        y = wall_top + (k % 5 + 1) * (ground - wall_top) / 6
        draw.line([(0, y), (w, y)], fill=_shade(stone, 0.92), width=max(1, int(height * 0.004)))
    # bastions with sentry boxes (garitas)
    spacing = height * rng.uniform(2.2, 3.2)
    bx = spacing * rng.uniform(0.3, 0.7)
    while bx < w + spacing:
        bw = height * rng.uniform(0.7, 1.0)
        bt = ground - height * 0.72
        draw.polygon(
            [
                (bx - bw * 0.62, ground),
                (bx + bw * 0.62, ground),
                (bx + bw * 0.5, bt),
                (bx - bw * 0.5, bt),
            ],
            fill=_shade(stone, 0.9),
        )
        draw.rectangle(
            [bx - bw * 0.5, bt - merlon * 0.8, bx + bw * 0.5, bt], fill=_shade(stone, 0.9)
        )
        for side in (-1, 1):
            gx = bx + side * bw * 0.5
            gw = height * 0.06
            draw.rectangle([gx - gw, bt - height * 0.16, gx + gw, bt], fill=_shade(stone, 0.75))
            draw.pieslice(
                [gx - gw * 1.1, bt - height * 0.22, gx + gw * 1.1, bt - height * 0.1],
                180,
                360,
                fill=dark,
            )
            draw.rectangle(
                [gx - gw * 0.3, bt - height * 0.12, gx + gw * 0.3, bt - height * 0.06], fill=dark
            )
        bx += spacing
    # gate
    gx = w * rng.uniform(0.3, 0.7)
    gw = height * 0.18
    draw.rectangle([gx - gw, ground - height * 0.34, gx + gw, ground], fill=dark)
    draw.pieslice(
        [gx - gw, ground - height * 0.34 - gw, gx + gw, ground - height * 0.34 + gw],
        180,
        360,
        fill=dark,
    )


def _sea(draw: Draw, w: int, top: float, bottom: float, colour: Color, rng: _Rng) -> None:
    draw.rectangle([0, top, w, bottom], fill=colour)
    lines = int((bottom - top) // max(6, (bottom - top) / 40))
    for _ in range(lines * 3):
        y = rng.uniform(top + 4, bottom)
        x = rng.uniform(-0.1, 1.0) * w
        length = w * rng.uniform(0.02, 0.12) * (0.4 + (y - top) / (bottom - top))
        draw.line(
            [(x, y), (x + length, y)],
            fill=_shade(colour, 1.25),
            width=max(1, int((bottom - top) * 0.006)),
        )


def _tree(
    draw: Draw, cx: float, ground: float, height: float, dark: Color, leaf: Color, rng: _Rng
) -> None:
    tw = height * 0.34
    draw.polygon(
        [
            (cx - tw * 0.8, ground),
            (cx + tw * 0.8, ground),
            (cx + tw * 0.45, ground - height * 0.45),
            (cx - tw * 0.45, ground - height * 0.45),
        ],
        fill=dark,
    )
    for _ in range(70):
        a = rng.uniform(0, math.tau)
        r = rng.uniform(0, 1) ** 0.5
        x = cx + math.cos(a) * r * height * 0.55
        y = ground - height * 0.68 + math.sin(a) * r * height * 0.28
        s = height * rng.uniform(0.08, 0.16)
        draw.ellipse(
            [x - s, y - s * 0.8, x + s, y + s * 0.8], fill=_shade(leaf, rng.uniform(0.7, 1.15))
        )


def _vessel(
    draw: Draw, cx: float, ground: float, height: float, body: Color, band: Color, rng: _Rng
) -> None:
    belly = rng.uniform(0.28, 0.4)
    neck = rng.uniform(0.08, 0.14)
    pts_l, pts_r = [], []
    steps = 60
    for i in range(steps + 1):
        t = i / steps
        r = neck + (belly - neck) * math.sin(math.pi * min(1.0, t * 1.15)) ** 1.4
        if t > 0.85:
            r = max(r, neck * (1 + (t - 0.85) * 4))
        y = ground - t * height
        pts_l.append((cx - r * height, y))
        pts_r.append((cx + r * height, y))
    draw.polygon(pts_l + pts_r[::-1], fill=body)
    for k in range(3):
        y = ground - height * (0.3 + 0.18 * k)
        t = (ground - y) / height
        r = (neck + (belly - neck) * math.sin(math.pi * min(1.0, t * 1.15)) ** 1.4) * height
        draw.rectangle(
            [cx - r * 0.97, y - height * 0.012, cx + r * 0.97, y + height * 0.012], fill=band
        )
    draw.ellipse(
        [cx - height * 0.3, ground - height * 0.02, cx + height * 0.3, ground + height * 0.03],
        fill=_shade(body, 0.6),
    )


def _mask(draw: Draw, cx: float, cy: float, size: float, rng: _Rng) -> None:
    w, h = size * 0.7, size
    draw.ellipse([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=(20, 60, 40))
    n = 22
    for i in range(n):
        for j in range(n):
            x = cx - w / 2 + (i + 0.5) * w / n
            y = cy - h / 2 + (j + 0.5) * h / n
            if ((x - cx) / (w / 2)) ** 2 + ((y - cy) / (h / 2)) ** 2 > 0.9:
                continue
            g = (rng.randint(40, 90), rng.randint(130, 190), rng.randint(90, 140))
            d = w / n * rng.uniform(0.35, 0.48)
            draw.polygon(
                [
                    (x - d, y - d * rng.uniform(0.7, 1)),
                    (x + d, y - d),
                    (x + d * rng.uniform(0.7, 1), y + d),
                    (x - d, y + d),
                ],
                fill=g,
            )
    for side in (-1, 1):
        ex = cx + side * w * 0.2
        draw.ellipse(
            [ex - w * 0.1, cy - h * 0.12, ex + w * 0.1, cy - h * 0.04], fill=(240, 236, 220)
        )
        draw.ellipse(
            [ex - w * 0.035, cy - h * 0.11, ex + w * 0.035, cy - h * 0.05], fill=(20, 20, 20)
        )
    draw.rectangle([cx - w * 0.14, cy + h * 0.2, cx + w * 0.14, cy + h * 0.25], fill=(160, 40, 30))


def _fret(draw: Draw, w: int, h: float, dark: Color, light: Color, rng: _Rng) -> None:
    """Step-fret / lattice pattern over the whole image (used for detail views)."""
    cell = max(24, int(min(w, h) / rng.randint(7, 12)))
    lw = max(3, cell // 9)
    for row, y in enumerate(range(0, int(h), cell)):
        for col, x in enumerate(range(0, w, cell)):
            flip = (row + col) % 2
            c = dark if flip else _shade(dark, 1.35)
            draw.rectangle([x, y, x + cell, y + cell], fill=c)
            a, b = x + cell * 0.15, y + cell * 0.15
            s = cell * 0.7
            path = [
                (a, b + s),
                (a, b),
                (a + s, b),
                (a + s, b + s * 0.7),
                (a + s * 0.3, b + s * 0.7),
                (a + s * 0.3, b + s * 0.35),
                (a + s * 0.6, b + s * 0.35),
            ]
            if flip:
                path = [(2 * x + cell - px, py) for px, py in path]
            draw.line(path, fill=light, width=lw, joint="curve")


# --------------------------------------------------------------------------- composition


def _caption(img: Image.Image, identifier: str, title: str, city: str) -> None:
    w, h = img.size
    band_h = int(h * 0.16)
    box = (0, h - band_h, w, h)
    band = img.crop(box)
    band = Image.blend(band, Image.new("RGB", band.size, (12, 12, 16)), 0.62)
    img.paste(band, box)
    draw = ImageDraw.Draw(img)
    margin = int(min(w, h) * 0.04)
    big = ImageFont.load_default(size=max(12, int(band_h * 0.36)))
    small = ImageFont.load_default(size=max(10, int(band_h * 0.22)))
    draw.text(
        (margin, h - band_h + band_h * 0.12), _ascii(identifier), font=big, fill=(250, 246, 236)
    )
    room = w - 2 * margin
    line = f"{_ascii(title)}  -  {city}" if city else _ascii(title)
    if city and draw.textlength(line, font=small) > room:
        line = _ascii(title)
    size = int(band_h * 0.22)
    while size > 10 and draw.textlength(line, font=small) > room:
        size = int(size * 0.9)
        small = ImageFont.load_default(size=size)
    draw.text((margin, h - band_h + band_h * 0.6), line, font=small, fill=(236, 226, 200))
    draw.rectangle(
        [margin // 2, margin // 2, w - margin // 2, h - margin // 2],
        outline=(250, 246, 236),
        width=max(2, int(min(w, h) * 0.004)),
    )


def _render(name: str, row: dict[str, str] | None) -> Image.Image:
    w, h = _size(name, row)
    rng = _Rng("image:" + name)
    identifier = row["identifier"] if row else Path(name).stem
    prefix = identifier.split("-")[0].upper()
    palette = rng.choice(_PALETTES.get(prefix, _PALETTES["CAM"]))
    top, horizon, hill, dark, ground_c, accent = palette
    motif = _motif_for(name, row)
    img = _sky((w, h), top, horizon)
    draw = ImageDraw.Draw(img)
    ground = h * rng.uniform(0.72, 0.78)
    scale = min(w, h)
    if motif == "fret":
        _fret(draw, w, h, dark, accent, rng)
    else:
        sr = scale * rng.uniform(0.05, 0.09)
        sx, sy = w * rng.uniform(0.1, 0.9), h * rng.uniform(0.1, 0.3)
        draw.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=_shade(horizon, 1.3))
        _hills(draw, w, ground - scale * 0.12, scale * 0.08, _shade(hill, 1.1), rng)
        _hills(draw, w, ground - scale * 0.04, scale * 0.06, hill, rng)
        draw.rectangle([0, ground, w, h], fill=ground_c)
        cx = w * rng.uniform(0.42, 0.58)
        drawers: dict[str, Callable[[], None]] = {
            "pagoda": lambda: _pagoda(draw, cx, ground, h * 0.62, dark, accent, rng),
            "minaret": lambda: _minaret(draw, cx, ground, h * 0.6, dark, accent),
            "hall": lambda: _hall(
                draw, w * 0.12, w * 0.88, ground, scale * 0.42, dark, accent, rng
            ),
            "church": lambda: _church(
                draw, cx, ground, scale * 0.62, dark, _shade(horizon, 1.1), rng
            ),
            "pyramid": lambda: _pyramid(draw, cx, ground, scale * 0.42, dark, horizon, rng),
            "tree": lambda: _tree(draw, cx, ground, h * 0.55, dark, hill, rng),
            "vessel": lambda: _vessel(draw, cx, ground, scale * 0.55, dark, accent, rng),
            "mask": lambda: _mask(draw, cx, h * 0.45, scale * 0.58, rng),
        }
        if motif == "walls":
            wall_h = scale * (0.3 if name == BIG_IMAGE else 0.34)
            _walls(draw, w, ground, wall_h, dark, horizon, rng)
            _sea(draw, w, ground, h, _shade(top, 0.9), rng)
        else:
            drawers[motif]()
    city = _CITY.get(prefix, "")
    _caption(img, identifier, row["title_en"] if row else Path(name).stem, city)
    return img


def generate_images(dest: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Write one procedural JPEG per file name (default: all names in records.csv) into dest."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rows = _records_by_image()
    todo = list(rows) if names is None else list(names)
    written: list[Path] = []
    for name in todo:
        if Path(name).name != name or not name.lower().endswith((".jpg", ".jpeg")):
            raise ValueError(f"not a plain .jpg file name: {name!r}")
        img = _render(name, rows.get(name))
        path = dest / name
        img.save(path, "JPEG", quality=_JPEG_QUALITY)
        img.close()
        written.append(path)
    return written

"""Parsing and geometry of IIIF image requests (3.0 and 2.1), including hostile input."""

from __future__ import annotations

import random
import string

import pytest

from iiif.image_request import (
    BadRequest,
    IIIFError,
    Limits,
    NotImplementedFeature,
    ResolvedRequest,
    parse_request,
)

W, H = 1000, 800


def resolve(
    version: str,
    region: str,
    size: str,
    rotation: str = "0",
    qf: str = "default.jpg",
    limits: Limits | None = None,
    w: int = W,
    h: int = H,
) -> ResolvedRequest:
    """Parse and resolve against a w x h image."""
    return parse_request(version, region, size, rotation, qf).resolve(w, h, limits)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("full", (0, 0, 1000, 800)),
        ("square", (100, 0, 800, 800)),
        ("0,0,100,50", (0, 0, 100, 50)),
        ("900,700,500,500", (900, 700, 100, 100)),
        ("pct:10,10,50,50", (100, 80, 500, 400)),
        ("pct:0,0,100,100", (0, 0, 1000, 800)),
        ("pct:99.95,0,10,10", (999, 0, 1, 80)),
        ("pct:.5,0.25,1.5,2", (5, 2, 15, 16)),
    ],
)
def test_region(region: str, expected: tuple[int, int, int, int]) -> None:
    """Regions resolve to pixel boxes, clipped at the image edge."""
    assert resolve("3", region, "max").region == expected


def test_square_portrait() -> None:
    """square takes the centred shorter side."""
    assert resolve("3", "square", "max", w=300, h=1000).region == (0, 350, 300, 300)


@pytest.mark.parametrize(
    "region",
    [
        "1000,0,10,10",
        "0,800,10,10",
        "0,0,0,10",
        "0,0,10,0",
        "pct:100,0,10,10",
        "pct:0,0,0,5",
        "pct:0,0,0.01,0.01",
        "-1,0,10,10",
        "0,0,10",
        "pct:1,2,3",
        "FULL",
        "full ",
        "1e3,0,1,1",
        "0x10,0,1,1",
        "1,2,3,4,5",
        "",
        "pct:",
        "square!",
        "1.5,0,10,10",
    ],
)
def test_bad_region(region: str) -> None:
    """Bad, zero-size and outside regions are 400."""
    with pytest.raises(BadRequest) as err:
        resolve("3", region, "max")
    assert err.value.status == 400


@pytest.mark.parametrize(
    ("version", "size", "expected"),
    [
        ("3", "max", (1000, 800)),
        ("3", "500,", (500, 400)),
        ("3", ",400", (500, 400)),
        ("3", "pct:50", (500, 400)),
        ("3", "pct:33.3", (333, 266)),
        ("3", "200,300", (200, 300)),
        ("3", "!500,500", (500, 400)),
        ("3", "!2000,400", (500, 400)),
        ("3", "^2000,", (2000, 1600)),
        ("3", "^,1600", (2000, 1600)),
        ("3", "^pct:200", (2000, 1600)),
        ("3", "^!2000,2000", (2000, 1600)),
        ("3", "^!500,500", (500, 400)),
        ("3", "^max", (1000, 800)),
        ("3", "^1200,900", (1200, 900)),
        ("2", "full", (1000, 800)),
        ("2", "max", (1000, 800)),
        ("2", "2000,", (2000, 1600)),
        ("2", "pct:150", (1500, 1200)),
        ("2", "!2000,2000", (2000, 1600)),
    ],
)
def test_size(version: str, size: str, expected: tuple[int, int]) -> None:
    """Sizes resolve against the region; 2.1 upscales freely, 3.0 only with ^."""
    assert resolve(version, "full", size).size == expected


@pytest.mark.parametrize(
    ("version", "size"),
    [
        ("3", "full"),
        ("3", "1001,"),
        ("3", ",801"),
        ("3", "pct:101"),
        ("3", "1001,800"),
        ("3", "!2000,3000"),
        ("3", "0,"),
        ("3", ",0"),
        ("3", "pct:0"),
        ("3", "^0,"),
        ("3", "^full"),
        ("3", "^^max"),
        ("3", "!,100"),
        ("3", "pct:0.01"),
        ("2", "^max"),
        ("2", "^100,"),
        ("3", ","),
        ("3", "max,"),
        ("3", "100,100,"),
        ("3", "-10,"),
    ],
)
def test_bad_size(version: str, size: str) -> None:
    """Zero, malformed and (3.0) un-careted upscaling sizes are 400."""
    with pytest.raises(BadRequest):
        resolve(version, "full", size)


def test_limits() -> None:
    """max is scaled into maxWidth/maxHeight/maxArea; explicit sizes beyond them are 400."""
    limits = Limits(max_width=500, max_height=500, max_area=None)
    assert resolve("3", "full", "max", limits=limits).size == (500, 400)
    assert resolve("3", "0,0,100,100", "^max", limits=limits).size == (500, 500)
    area = Limits(max_area=200_000)
    assert resolve("3", "full", "max", limits=area).size == (500, 400)
    # Only maxArea: ^max does not blow a region up to the area cap.
    assert resolve("3", "0,0,10,10", "^max", limits=area).size == (10, 10)
    with pytest.raises(BadRequest):
        resolve("3", "full", "600,", limits=limits)
    with pytest.raises(BadRequest):
        resolve("3", "full", "^pct:1000", limits=area)
    with pytest.raises(BadRequest):
        resolve("2", "full", "pct:1000", limits=area)


@pytest.mark.parametrize(
    ("rotation", "mirror", "degrees"),
    [
        ("0", False, 0.0),
        ("90", False, 90.0),
        ("!0", True, 0.0),
        ("!180", True, 180.0),
        ("22.5", False, 22.5),
        ("360", False, 0.0),
        ("0.5", False, 0.5),
        (".5", False, 0.5),
    ],
)
def test_rotation(rotation: str, mirror: bool, degrees: float) -> None:
    """Rotation with optional mirroring and arbitrary degrees."""
    r = resolve("3", "full", "max", rotation)
    assert (r.mirror, r.rotation) == (mirror, degrees)


@pytest.mark.parametrize("rotation", ["-90", "361", "abc", "!!90", "90!", "", "1e2", "90.", "+9"])
def test_bad_rotation(rotation: str) -> None:
    """Bad rotations are 400."""
    with pytest.raises(BadRequest):
        resolve("3", "full", "max", rotation)


@pytest.mark.parametrize(
    "qf", ["default.jpg", "color.png", "gray.webp", "bitonal.tif", "default.gif"]
)
def test_quality_format(qf: str) -> None:
    """All supported qualities and formats parse."""
    r = resolve("3", "full", "max", "0", qf)
    assert f"{r.quality}.{r.format}" == qf


@pytest.mark.parametrize(
    "qf",
    [
        "grey.jpg",
        "native.jpg",
        "default.bmp",
        "default",
        "default.",
        ".jpg",
        "default.JPG",
        "default.jpg.png",
        "colour.png",
    ],
)
def test_bad_quality_format(qf: str) -> None:
    """Unknown qualities or formats are 400."""
    with pytest.raises(BadRequest):
        resolve("3", "full", "max", "0", qf)


@pytest.mark.parametrize("qf", ["default.jp2", "default.pdf"])
def test_known_but_unsupported_format(qf: str) -> None:
    """Formats the spec names but we do not produce are 501."""
    with pytest.raises(NotImplementedFeature) as err:
        resolve("3", "full", "max", "0", qf)
    assert err.value.status == 501


def test_error_order() -> None:
    """Parameters are checked region, size, rotation, quality, format."""
    cases = [
        (("bad", "bad", "bad", "bad.bad"), "region"),
        (("full", "bad", "bad", "bad.bad"), "size"),
        (("full", "max", "bad", "bad.bad"), "rotation"),
        (("full", "max", "0", "bad.jpg"), "quality"),
        (("full", "max", "0", "default.bad"), "format"),
    ]
    for params, parameter in cases:
        with pytest.raises(IIIFError) as err:
            parse_request("3", *params)
        assert err.value.parameter == parameter


@pytest.mark.parametrize(
    ("version", "params", "canonical"),
    [
        ("3", ("full", "max", "0", "default.jpg"), "full/max/0/default.jpg"),
        ("3", ("square", "pct:50", "!90", "gray.png"), "100,0,800,800/400,400/!90/gray.png"),
        ("3", ("pct:0,0,100,100", "1000,", "22.50", "color.jpg"), "full/max/22.5/color.jpg"),
        ("2", ("full", "full", "0", "default.jpg"), "full/full/0/default.jpg"),
        ("2", ("0,0,500,400", "250,", "0", "default.jpg"), "0,0,500,400/250,/0/default.jpg"),
        ("2", ("full", "100,100", "0", "default.jpg"), "full/100,100/0/default.jpg"),
    ],
)
def test_canonical(version: str, params: tuple[str, str, str, str], canonical: str) -> None:
    """Canonical URI paths per version."""
    assert parse_request(version, *params).resolve(W, H).canonical_path() == canonical


def test_bad_version() -> None:
    """Only 2 and 3 are served."""
    with pytest.raises(BadRequest):
        parse_request("1", "full", "max", "0", "default.jpg")


ALPHABET = (
    string.printable + "\x00\u00e9\u202e\ufffd%^!,.:/\\" + "".join(map(chr, range(0x80, 0x90)))
)
PIECES = [
    "full",
    "max",
    "square",
    "pct:",
    "^",
    "!",
    ",",
    ".",
    "0",
    "1",
    "9" * 12,
    "-1",
    "1e9",
    "nan",
    "inf",
    "default",
    "jpg",
    "%2e",
    "..",
    "/",
    "\x00",
    "999999999",
    "0.0000001",
]


def _fuzz_string(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))


def test_fuzz_never_raises_anything_else() -> None:
    """Random strings in every parameter raise only IIIFError subclasses."""
    rng = random.Random(20261121)
    for _ in range(20000):
        params = [_fuzz_string(rng) for _ in range(4)]
        version = rng.choice(["2", "3", _fuzz_string(rng)])
        try:
            req = parse_request(version, *params)
            req.resolve(
                rng.randint(1, 50000),
                rng.randint(1, 50000),
                rng.choice([None, Limits(max_width=rng.randint(1, 5000))]),
            )
        except IIIFError as exc:
            assert exc.status in (400, 404, 501)


def test_fuzz_valid_shapes_give_sane_geometry() -> None:
    """Random well-formed requests resolve inside the image with positive sizes."""
    rng = random.Random(7)
    for _ in range(5000):
        w, h = rng.randint(1, 20000), rng.randint(1, 20000)
        x, y = rng.randint(0, w + 10), rng.randint(0, h + 10)
        region = rng.choice(
            [
                "full",
                "square",
                f"{x},{y},{rng.randint(0, w)},{rng.randint(0, h)}",
                f"pct:{rng.uniform(0, 120):.3f},{rng.uniform(0, 120):.3f},"
                f"{rng.uniform(0, 120):.3f},{rng.uniform(0, 120):.3f}",
            ]
        )
        size = rng.choice(
            [
                "max",
                "^max",
                f"{rng.randint(0, 3000)},",
                f",{rng.randint(0, 3000)}",
                f"pct:{rng.uniform(0, 300):.2f}",
                f"^pct:{rng.uniform(0, 300):.2f}",
                f"!{rng.randint(0, 3000)},{rng.randint(0, 3000)}",
                f"^{rng.randint(0, 3000)},{rng.randint(0, 3000)}",
            ]
        )
        try:
            r = parse_request("3", region, size, "0", "default.jpg").resolve(w, h)
        except BadRequest:
            continue
        rx, ry, rw, rh = r.region
        assert 0 <= rx < w and 0 <= ry < h and rw > 0 and rh > 0
        assert rx + rw <= w and ry + rh <= h
        assert r.size[0] >= 1 and r.size[1] >= 1
        assert r.size[0] * r.size[1] <= 25_000_000

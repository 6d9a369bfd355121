"""Rendering resolved requests from real pyramids."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from iiif.image_request import parse_request
from iiif.pyramid import Pyramid, build_pyramid, open_pyramid
from iiif.render import encode, passthrough_tile, render, render_image
from tests.iiif.conftest import FERNS
from tests.iiif.masters import quadrants


@pytest.fixture(scope="module")
def quad(tmp_path_factory: pytest.TempPathFactory) -> Pyramid:
    """Pyramid of a 1200x800 four-colour image."""
    d = tmp_path_factory.mktemp("quad")
    quadrants(1200, 800).save(d / "q.png")
    build_pyramid(d / "q.png", d / "p")
    return open_pyramid(d / "p")


@pytest.fixture(scope="module")
def ferns(tmp_path_factory: pytest.TempPathFactory) -> Pyramid:
    """Pyramid of the corpus' Indian Ferns title page."""
    d = tmp_path_factory.mktemp("ferns")
    build_pyramid(FERNS, d)
    return open_pyramid(d)


def _img(
    pyramid: Pyramid, region: str, size: str, rotation: str = "0", qf: str = "default.png"
) -> Image.Image:
    req = parse_request("3", region, size, rotation, qf).resolve(
        pyramid.info.width, pyramid.info.height
    )
    return Image.open(io.BytesIO(render(pyramid, req)))


def _close(px: object, want: tuple[int, int, int], tol: int = 40) -> bool:
    assert isinstance(px, tuple)
    return all(abs(a - b) <= tol for a, b in zip(px, want, strict=False))


def test_quadrants_region_and_size(quad: Pyramid) -> None:
    """Crop and scale put the right colours in the right places."""
    im = _img(quad, "full", "120,")
    assert im.size == (120, 80)
    assert _close(im.getpixel((10, 10)), (255, 0, 0))
    assert _close(im.getpixel((110, 10)), (0, 255, 0))
    assert _close(im.getpixel((10, 70)), (0, 0, 255))
    im = _img(quad, "600,0,600,400", "max")
    assert im.size == (600, 400) and _close(im.getpixel((300, 200)), (0, 255, 0))


@pytest.mark.parametrize(
    ("rotation", "corner_colour"),
    [
        ("90", (0, 0, 255)),
        ("180", (255, 255, 255)),
        ("270", (0, 255, 0)),
        ("!0", (0, 255, 0)),
        ("!90", (255, 255, 255)),
        ("!180", (0, 0, 255)),
    ],
)
def test_rotation_and_mirror(
    quad: Pyramid, rotation: str, corner_colour: tuple[int, int, int]
) -> None:
    """Quarter turns are clockwise, mirroring happens before rotation."""
    im = _img(quad, "full", "120,", rotation)
    assert im.size == ((80, 120) if rotation.lstrip("!") in ("90", "270") else (120, 80))
    assert _close(im.getpixel((5, 5)), corner_colour)


def test_arbitrary_rotation(quad: Pyramid) -> None:
    """Non-90 rotation expands the canvas; transparent for PNG, white for JPEG."""
    im = _img(quad, "full", "120,", "45", "default.png")
    assert im.mode == "RGBA" and im.size[0] > 120
    assert im.getpixel((0, 0))[3] == 0  # type: ignore[index]
    jpg = _img(quad, "full", "120,", "45", "default.jpg")
    assert min(jpg.getpixel((0, 0))) > 230  # type: ignore[arg-type]


def test_qualities(quad: Pyramid) -> None:
    """gray gives one channel, bitonal only black and white."""
    assert _img(quad, "full", "120,", "0", "gray.png").mode == "L"
    bit = _img(quad, "full", "120,", "0", "bitonal.png")
    assert bit.mode == "1"
    assert {v for _, v in bit.convert("L").getcolors()} <= {0, 255}  # type: ignore[union-attr]
    assert _img(quad, "full", "120,", "0", "color.png").mode == "RGB"


@pytest.mark.parametrize(
    ("fmt", "magic", "pil_format"),
    [
        ("jpg", b"\xff\xd8", "JPEG"),
        ("png", b"\x89PNG", "PNG"),
        ("webp", b"RIFF", "WEBP"),
        ("tif", b"II*\x00", "TIFF"),
        ("gif", b"GIF8", "GIF"),
    ],
)
@pytest.mark.parametrize("quality", ["default", "gray", "bitonal"])
def test_formats(quad: Pyramid, fmt: str, magic: bytes, pil_format: str, quality: str) -> None:
    """Every format encodes every quality."""
    req = parse_request("3", "full", "60,", "10", f"{quality}.{fmt}").resolve(1200, 800)
    data = render(quad, req)
    assert data.startswith(magic)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == pil_format


def test_aligned_tile_served_without_reencoding(ferns: Pyramid) -> None:
    """A tile-aligned request returns the stored bytes verbatim, in 2.1 and 3.0."""
    for version, size in [("3", "512,512"), ("3", "512,"), ("2", "512,")]:
        req = parse_request(version, "512,1024,512,512", size, "0", "default.jpg").resolve(
            2626, 3620
        )
        assert render(ferns, req) == ferns.tile_bytes(1, 1, 2)
    req = parse_request("3", "2048,2048,578,1024", "289,", "0", "default.jpg").resolve(2626, 3620)
    assert render(ferns, req) == ferns.tile_bytes(2, 2, 2)
    req = parse_request("3", "full", "329,453", "0", "color.jpg").resolve(2626, 3620)
    assert render(ferns, req) == ferns.tile_bytes(8, 0, 0)
    for qf, rot in [("gray.jpg", "0"), ("default.png", "0"), ("default.jpg", "!0")]:
        req = parse_request("3", "512,1024,512,512", "512,", rot, qf).resolve(2626, 3620)
        assert passthrough_tile(ferns, req) is None


def test_upscaled_render(quad: Pyramid) -> None:
    """^ sizes render above full size from level 0."""
    im = _img(quad, "0,0,100,100", "^400,")
    assert im.size == (400, 400) and _close(im.getpixel((200, 200)), (255, 0, 0))


def test_encode_rejects_unknown_format() -> None:
    """encode refuses formats outside the list."""
    with pytest.raises(ValueError):
        encode(Image.new("RGB", (2, 2)), "bmp")


def test_render_image_region_pixels(ferns: Pyramid, tmp_path: Path) -> None:
    """An odd-sized region at an odd scale has the exact requested size."""
    req = parse_request("3", "13,17,1001,999", "333,", "0", "default.jpg").resolve(2626, 3620)
    assert render_image(ferns, req).size == (333, 332)

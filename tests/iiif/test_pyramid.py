"""Building and reading pyramids from real corpus images and generated masters."""

from __future__ import annotations

import io
import math
import struct
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from iiif.pyramid import (
    PYRAMID_FILE,
    ImageTooLarge,
    PyramidError,
    UnsupportedImage,
    build_pyramid,
    jpeg2000_supported,
    open_pyramid,
)
from tests.iiif.conftest import BRUEGEL, FERNS, HIBISCUS, PEMBROKE, VALIDATOR_JP2, VALIDATOR_PNG
from tests.iiif.masters import (
    exif_rotated_jpeg,
    quadrants,
    swapped_primaries_icc,
    write_rgb16_tiff,
)


def _mean_diff(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def _rgb(im: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    px = im.convert("RGB").getpixel(xy)
    assert isinstance(px, tuple)
    return (int(px[0]), int(px[1]), int(px[2]))


@pytest.mark.parametrize("master", [BRUEGEL, HIBISCUS, FERNS, PEMBROKE, VALIDATOR_PNG])
def test_corpus_pyramid_levels(master: Path, tmp_path: Path) -> None:
    """Every power-of-two level down to one tile; tiles are JPEG of the right size."""
    info = build_pyramid(master, tmp_path / "p")
    with Image.open(master) as src:
        assert (info.width, info.height) == src.size
    assert info.tile_size == 512 and info.format == "jpg"
    factors = info.scale_factors
    assert factors == [2**i for i in range(len(factors))]
    last = info.levels[-1]
    assert last.columns == last.rows == 1
    if len(info.levels) > 1:
        before = info.levels[-2]
        assert before.columns > 1 or before.rows > 1
    pyramid = open_pyramid(tmp_path / "p")
    for lv in info.levels:
        assert (lv.width, lv.height) == (
            math.ceil(info.width / lv.scale_factor),
            math.ceil(info.height / lv.scale_factor),
        )
        for col, row in [(0, 0), (lv.columns - 1, lv.rows - 1)]:
            data = pyramid.tile_bytes(lv.scale_factor, col, row)
            assert data[:2] == b"\xff\xd8"
            with Image.open(io.BytesIO(data)) as tile:
                assert tile.size == (
                    min(512, lv.width - col * 512),
                    min(512, lv.height - row * 512),
                )
    assert list(tmp_path.joinpath("p").iterdir()) == [tmp_path / "p" / PYRAMID_FILE]


def test_render_matches_master(tmp_path: Path) -> None:
    """A region rendered from the pyramid looks like the same region of the master."""
    build_pyramid(FERNS, tmp_path / "p")
    pyramid = open_pyramid(tmp_path / "p")
    with Image.open(FERNS) as src:
        src.load()
        master = src.convert("RGB")
    box = (700, 900, 1900, 2500)
    region = (box[0], box[1], box[2] - box[0], box[3] - box[1])
    for size in [(1200, 1600), (600, 800), (150, 200), (97, 130)]:
        got = pyramid.render_region(region, size)
        want = master.resize(size, Image.Resampling.LANCZOS, box=box)
        assert got.size == size
        assert _mean_diff(got, want) < 4.0, size


def test_choose_level_never_below_needed_resolution(tmp_path: Path) -> None:
    """The chosen level has at least as many pixels as the output needs."""
    build_pyramid(FERNS, tmp_path / "p")
    pyramid = open_pyramid(tmp_path / "p")
    region = (0, 0, 2626, 3620)
    assert pyramid.choose_level(region, (2626, 3620)).scale_factor == 1
    assert pyramid.choose_level(region, (1313, 1810)).scale_factor == 2
    assert pyramid.choose_level(region, (1314, 1810)).scale_factor == 1
    assert pyramid.choose_level(region, (100, 100)).scale_factor == 8


def test_aligned_tile(tmp_path: Path) -> None:
    """Exact tile requests map to stored tiles; anything else does not."""
    build_pyramid(FERNS, tmp_path / "p")
    pyramid = open_pyramid(tmp_path / "p")
    assert pyramid.aligned_tile((0, 0, 512, 512), (512, 512)) == (1, 0, 0)
    assert pyramid.aligned_tile((2560, 3584, 66, 36), (66, 36)) == (1, 5, 7)
    assert pyramid.aligned_tile((2048, 2048, 578, 1024), (289, 512)) == (2, 2, 2)
    assert pyramid.aligned_tile((0, 0, 2626, 3620), (329, 453)) == (8, 0, 0)
    assert pyramid.aligned_tile((0, 0, 512, 512), (256, 256)) is None
    assert pyramid.aligned_tile((1, 0, 512, 512), (512, 512)) is None
    with pytest.raises(KeyError):
        pyramid.tile_bytes(1, 99, 0)
    with pytest.raises(KeyError):
        pyramid.tile_bytes(3, 0, 0)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    """Orientation 6 turns a 300x200 stored image into 200x300 with red on top."""
    master = tmp_path / "rot.jpg"
    exif_rotated_jpeg(master, 6)
    info = build_pyramid(master, tmp_path / "p")
    assert (info.width, info.height) == (200, 300)
    im = open_pyramid(tmp_path / "p").render_region((0, 0, 200, 300), (200, 300))
    r, _g, b = im.getpixel((100, 20))  # type: ignore[misc]
    assert r > 200 and b < 50
    r, _g, b = im.getpixel((100, 280))  # type: ignore[misc]
    assert b > 200 and r < 50


def test_icc_profile_converted_to_srgb(tmp_path: Path) -> None:
    """Pixels are converted through the embedded profile: swapped primaries make red blue."""
    master = tmp_path / "icc.png"
    Image.new("RGB", (64, 64), (255, 0, 0)).save(master, icc_profile=swapped_primaries_icc())
    build_pyramid(master, tmp_path / "p")
    im = open_pyramid(tmp_path / "p").render_region((0, 0, 64, 64), (64, 64))
    r, _g, b = _rgb(im, (32, 32))
    assert b > 200 and r < 40


def test_sixteen_bit_gray_tiff(tmp_path: Path) -> None:
    """16-bit gray values are scaled to 8 bits, not clipped."""
    master = tmp_path / "g16.tif"
    row = struct.pack("<300H", *[20000] * 300) + struct.pack("<300H", *[60000] * 300)
    im = Image.frombytes("I;16", (600, 40), row * 40)
    assert im.getpixel((500, 0)) == 60000
    im.save(master)
    info = build_pyramid(master, tmp_path / "p")
    assert info.mode == "L" and info.scale_factors == [1, 2]
    out = open_pyramid(tmp_path / "p").render_region((0, 0, 600, 40), (600, 40))
    assert abs(int(out.getpixel((100, 20))) - 20000 // 256) <= 2  # type: ignore[arg-type]
    assert abs(int(out.getpixel((500, 20))) - 60000 // 256) <= 2  # type: ignore[arg-type]


def test_sixteen_bit_rgb_tiff(tmp_path: Path) -> None:
    """48-bit RGB TIFF masters are read."""
    master = tmp_path / "rgb16.tif"
    write_rgb16_tiff(master, 700, 300, (65535, 0, 32768))
    info = build_pyramid(master, tmp_path / "p")
    assert (info.width, info.height, info.mode) == (700, 300, "RGB")
    px = open_pyramid(tmp_path / "p").render_region((0, 0, 700, 300), (70, 30)).getpixel((5, 5))
    assert px[0] > 245 and px[1] < 10 and 118 < px[2] < 138  # type: ignore[index]


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_cmyk_master(tmp_path: Path, fmt: str) -> None:
    """CMYK masters become RGB."""
    master = tmp_path / f"cmyk.{fmt.lower()}"
    Image.new("CMYK", (300, 300), (0, 255, 255, 0)).save(master, fmt)  # pure red in CMYK
    info = build_pyramid(master, tmp_path / "p")
    assert info.mode == "RGB"
    im = open_pyramid(tmp_path / "p").render_region((0, 0, 300, 300), (30, 30))
    r, g, b = _rgb(im, (15, 15))
    assert r > 200 and g < 60 and b < 60


def test_alpha_and_palette_flattened_on_white(tmp_path: Path) -> None:
    """Transparent pixels become white; palette images are expanded."""
    master = tmp_path / "alpha.png"
    im = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    im.paste((0, 0, 255, 255), (0, 0, 50, 100))
    im.save(master)
    build_pyramid(master, tmp_path / "p")
    out = open_pyramid(tmp_path / "p").render_region((0, 0, 100, 100), (100, 100))
    assert out.getpixel((90, 50)) == (255, 255, 255) or min(out.getpixel((90, 50))) > 250  # type: ignore[arg-type]
    pal = tmp_path / "pal.gif"
    quadrants(200, 200).convert("P").save(pal)
    assert build_pyramid(pal, tmp_path / "q").mode == "RGB"


def test_multipage_tiff_uses_first_frame(tmp_path: Path) -> None:
    """The 6-frame corpus TIFF yields a pyramid of its first frame."""
    info = build_pyramid(FERNS, tmp_path / "p")
    with Image.open(FERNS) as src:
        assert getattr(src, "n_frames", 1) > 1
        assert (info.width, info.height) == src.size


@pytest.mark.skipif(not jpeg2000_supported(), reason="Pillow built without OpenJPEG")
def test_jpeg2000_master(tmp_path: Path) -> None:
    """The validator's JPEG 2000 image builds the same pyramid as its PNG."""
    a = build_pyramid(VALIDATOR_JP2, tmp_path / "jp2")
    b = build_pyramid(VALIDATOR_PNG, tmp_path / "png")
    assert (a.width, a.height, a.scale_factors) == (b.width, b.height, b.scale_factors)
    full = (0, 0, a.width, a.height)
    assert (
        _mean_diff(
            open_pyramid(tmp_path / "jp2").render_region(full, (500, 500)),
            open_pyramid(tmp_path / "png").render_region(full, (500, 500)),
        )
        < 3
    )


def test_too_large_rejected_without_warning(tmp_path: Path) -> None:
    """Above max_pixels: ImageTooLarge, no DecompressionBombWarning, global limit restored."""
    master = tmp_path / "big.png"
    Image.new("L", (3000, 1000)).save(master)
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLarge, match="exceeds the limit"):
            build_pyramid(master, tmp_path / "a", max_pixels=2_000_000)  # warning band
        with pytest.raises(ImageTooLarge):
            build_pyramid(master, tmp_path / "b", max_pixels=1_000_000)  # error band
        with pytest.raises(ImageTooLarge):
            build_pyramid(master, tmp_path / "c", max_pixels=2_999_999)  # our own check
        info = build_pyramid(master, tmp_path / "d", max_pixels=3_000_000)
    assert info.width == 3000
    assert Image.MAX_IMAGE_PIXELS == before
    assert not (tmp_path / "a" / PYRAMID_FILE).exists()


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_master_above_pillow_default_limit(tmp_path: Path, fmt: str) -> None:
    """A 100 Mpx master (above Pillow's default 89 Mpx) builds under the 500 Mpx default."""
    master = tmp_path / f"big.{fmt.lower()}"
    Image.new("L", (10_000, 10_000), 128).save(master, fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = build_pyramid(master, tmp_path / "p")
    assert info.scale_factors == [1, 2, 4, 8, 16, 32]


@pytest.mark.slow
def test_large_jpeg_pyramid(tmp_path: Path) -> None:
    """A 72 Mpx colour JPEG gives correct levels and colours."""
    master = tmp_path / "big.jpg"
    quadrants(9000, 8000).save(master, quality=85)
    info = build_pyramid(master, tmp_path / "p")
    assert info.levels[1].width == 4500 and info.levels[1].height == 4000
    pyramid = open_pyramid(tmp_path / "p")
    img = pyramid.render_region((0, 0, 9000, 8000), (900, 800))
    assert _mean_diff(img, quadrants(900, 800)) < 6


@pytest.mark.parametrize("content", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 50])
def test_unreadable_master(tmp_path: Path, content: bytes) -> None:
    """Garbage and truncated masters raise UnsupportedImage."""
    master = tmp_path / "bad.jpg"
    master.write_bytes(content)
    with pytest.raises(UnsupportedImage):
        build_pyramid(master, tmp_path / "p")


def test_truncated_jpeg_master(tmp_path: Path) -> None:
    """A JPEG cut in half raises UnsupportedImage, not a crash."""
    master = tmp_path / "cut.jpg"
    master.write_bytes(BRUEGEL.read_bytes()[:100_000])
    with pytest.raises(UnsupportedImage):
        build_pyramid(master, tmp_path / "p")


def test_open_broken_pyramids(tmp_path: Path) -> None:
    """Missing, empty, foreign and truncated pyramid files raise PyramidError."""
    with pytest.raises(PyramidError):
        open_pyramid(tmp_path / "nothing")
    build_pyramid(HIBISCUS, tmp_path / "ok")
    data = (tmp_path / "ok" / PYRAMID_FILE).read_bytes()
    for i, bad in enumerate([b"", b"x" * 100, data[:24] + data[24:50], b"MEMPYR01" + b"\xff" * 16]):
        d = tmp_path / f"bad{i}"
        d.mkdir()
        (d / PYRAMID_FILE).write_bytes(bad)
        with pytest.raises(PyramidError):
            open_pyramid(d)


def test_rebuild_replaces_atomically(tmp_path: Path) -> None:
    """An open pyramid keeps reading its own file after a rebuild replaces it."""
    build_pyramid(HIBISCUS, tmp_path / "p")
    old = open_pyramid(tmp_path / "p")
    first = old.tile_bytes(1, 0, 0)
    build_pyramid(BRUEGEL, tmp_path / "p")
    assert old.tile_bytes(1, 0, 0) == first
    assert open_pyramid(tmp_path / "p").info.width == 1165
    assert [p.name for p in (tmp_path / "p").iterdir()] == [PYRAMID_FILE]


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_uncompressed_tiff_read_in_bands_matches_full_decode(tmp_path: Path, mode: str) -> None:
    """Strip-by-strip reading of an uncompressed TIFF gives byte-identical tiles."""
    from iiif.pyramid import _raw_tiff_bands

    src = quadrants(3000, 2500).convert(mode)
    src.paste(Image.open(BRUEGEL).convert(mode), (700, 600))
    src.save(tmp_path / "m.tif", "TIFF")  # Pillow writes ~64 KB strips
    src.save(tmp_path / "m.png")
    bands = _raw_tiff_bands(tmp_path / "m.tif", 10**9, 1024)
    assert bands is not None
    assert [b.height for b in bands] == [1024, 1024, 452]
    assert _raw_tiff_bands(tmp_path / "m.png", 10**9, 1024) is None
    a = build_pyramid(tmp_path / "m.tif", tmp_path / "a")
    b = build_pyramid(tmp_path / "m.png", tmp_path / "b")
    assert a == b
    pa, pb = open_pyramid(tmp_path / "a"), open_pyramid(tmp_path / "b")
    for lv in a.levels:
        for row in range(lv.rows):
            for col in range(lv.columns):
                assert pa.tile_bytes(lv.scale_factor, col, row) == pb.tile_bytes(
                    lv.scale_factor, col, row
                )


def test_odd_sizes_and_small_tiles(tmp_path: Path) -> None:
    """Odd dimensions with a small tile size still give ceil-sized levels and full coverage."""
    master = tmp_path / "odd.png"
    quadrants(1001, 333).save(master)
    info = build_pyramid(master, tmp_path / "p", tile_size=64)
    assert [(lv.width, lv.height) for lv in info.levels] == [
        (1001, 333),
        (501, 167),
        (251, 84),
        (126, 42),
        (63, 21),
    ]
    p = open_pyramid(tmp_path / "p")
    img = p.render_region((0, 0, 1001, 333), (1001, 333))
    assert _mean_diff(img, quadrants(1001, 333)) < 2


@pytest.mark.slow
def test_large_colour_jpeg_split_decode_matches_full_decode(tmp_path: Path) -> None:
    """Large 4:2:0 JPEGs decoded as luma + chroma planes match a plain decode within 3 levels."""
    from iiif.pyramid import _decode, _jpeg_split_bands, _pixel_limit

    master = tmp_path / "big.jpg"
    with Image.open(BRUEGEL) as src:
        big = src.convert("RGB").resize((7001, 5163), Image.Resampling.BICUBIC)
    big.save(master, quality=90)  # Pillow's default sampling is 4:2:0
    with _pixel_limit(10**9):
        assert _jpeg_split_bands(master, 10**9, 1024) is None  # below the default threshold
        bands = _jpeg_split_bands(master, 10**9, 1024, min_pixels=0)
        assert bands is not None
        joined = Image.new("RGB", big.size)
        top = 0
        for band in bands:
            joined.paste(band, (0, top))
            top += band.height
        full = _decode(master, 10**9)
    assert top == big.height
    diff = ImageChops.difference(joined, full)
    assert max(hi for _, hi in diff.getextrema()) <= 6  # type: ignore[misc]
    assert max(ImageStat.Stat(diff).mean) < 1.0

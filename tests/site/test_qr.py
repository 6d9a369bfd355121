"""QR codes: the PNG and the SVG decode back to the item's permanent URI with a real decoder."""

from __future__ import annotations

import io
from collections.abc import Iterator

import cairosvg
import pytest
import segno
import zxingcpp
from flask import Flask
from lxml import etree
from PIL import Image

from archive.site.qr import BORDER, PNG_SCALE, qr_inline_svg
from tests.conftest import BASE_URL
from tests.site.item_fixtures import make_loaded_app

URI = f"{BASE_URL}/item/museo-I1"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_loaded_app(tmp_path_factory.mktemp("qr"), images=False)
    yield app
    app.extensions["memoria"].close()


def decode(image: Image.Image) -> zxingcpp.Barcode:
    """The one QR code zxing-cpp finds in an image."""
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, found
    return found[0]


def rasterise(svg: bytes, scale: float = 1.0) -> Image.Image:
    """An SVG drawn by Cairo, flattened on white."""
    png = cairosvg.svg2png(bytestring=svg, scale=scale)
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", image.size, "white")
    return Image.alpha_composite(white, image).convert("L")


def test_png_decodes_to_the_permanent_uri(app: Flask) -> None:
    resp = app.test_client().get("/item/museo-I1/qr.png")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    code = decode(Image.open(io.BytesIO(resp.data)))
    assert code.text == URI
    assert code.ec_level == "M"
    assert code.valid


def test_svg_is_well_formed_and_decodes_to_the_same_uri(app: Flask) -> None:
    resp = app.test_client().get("/item/museo-I1/qr.svg")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    root = etree.fromstring(resp.data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert decode(rasterise(resp.data)).text == URI


def test_svg_draws_exactly_segnos_module_matrix(app: Flask) -> None:
    svg = app.test_client().get("/item/museo-I1/qr.svg").data
    image = rasterise(svg)
    matrix = segno.make(URI, error="m", micro=False, boost_error=False).matrix
    size = len(matrix)
    assert image.size == ((size + 2 * BORDER) * PNG_SCALE,) * 2
    drawn = [[image.getpixel(((c + BORDER) * PNG_SCALE + PNG_SCALE // 2,
                              (r + BORDER) * PNG_SCALE + PNG_SCALE // 2)) < 128
              for c in range(size)] for r in range(size)]
    assert drawn == [[bool(v) for v in row] for row in matrix]
    # the quiet zone is white all round
    assert all(image.getpixel((x, 2)) > 200 for x in range(image.size[0]))


def test_inline_svg_for_pages_decodes_too() -> None:
    markup = str(qr_inline_svg(URI))
    assert markup.startswith("<svg") and "<?xml" not in markup and 'class="qr"' in markup
    assert decode(rasterise(markup.encode(), scale=8)).text == URI


def test_cache_headers_and_conditional_requests(app: Flask) -> None:
    client = app.test_client()
    png = client.get("/item/museo-I1/qr.png")
    svg = client.get("/item/museo-I1/qr.svg")
    assert png.cache_control.public and png.cache_control.max_age >= 86400
    assert png.headers["ETag"] and png.headers["ETag"] != svg.headers["ETag"]
    again = client.get("/item/museo-I1/qr.png", headers={"If-None-Match": png.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/item/museo-I2/qr.png")
    assert other.headers["ETag"] != png.headers["ETag"]
    assert decode(Image.open(io.BytesIO(other.data))).text == f"{BASE_URL}/item/museo-I2"


def test_item_page_shows_the_qr_code(app: Flask) -> None:
    html = app.test_client().get("/item/museo-I1").get_data(as_text=True)
    assert 'src="/item/museo-I1/qr.svg"' in html and 'href="/item/museo-I1/qr.png"' in html


@pytest.mark.parametrize("path", ["/item/museo-nope/qr.svg", "/item/museo-I1/qr.jpg",
                                  "/item/..%2Fetc/qr.png"])
def test_unknown_records_and_formats_are_404(app: Flask, path: str) -> None:
    assert app.test_client().get(path).status_code == 404

"""QR codes of items' permanent URIs, as PNG and SVG at /item/<id>/qr.png and /qr.svg."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import segno
from flask import Flask, Response, abort, request
from markupsafe import Markup

from archive.ids import is_record_id
from archive.site.pages import get_archive

MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
# Error correction M survives a scratched or weathered plaque (15 %) at a modest size.
ERROR = "m"
# Module size in pixels of the PNG, and the quiet zone the standard asks for, in modules.
PNG_SCALE = 8
BORDER = 4
# The code depends only on the URI, which never changes: caches may keep it a long time.
MAX_AGE = 7 * 24 * 3600


def make_qr(uri: str) -> segno.QRCode:
    """The QR code (never a Micro QR) of a URI, error correction M."""
    return segno.make(uri, error=ERROR, micro=False, boost_error=False)


@lru_cache(maxsize=1024)
def qr_bytes(uri: str, fmt: str) -> bytes:
    """The QR code of a URI as PNG or standalone SVG bytes (dark on white)."""
    out = io.BytesIO()
    qr = make_qr(uri)
    if fmt == "png":
        qr.save(out, kind="png", scale=PNG_SCALE, border=BORDER)
    else:
        qr.save(out, kind="svg", scale=PNG_SCALE, border=BORDER, dark="#000", light="#fff",
                xmldecl=True, svgns=True, nl=False)
    return out.getvalue()


@lru_cache(maxsize=1024)
def qr_inline_svg(uri: str) -> Markup:
    """The QR code as an <svg> element to put in a page; it scales with its CSS box."""
    out = io.BytesIO()
    make_qr(uri).save(out, kind="svg", border=BORDER, dark="#000", light="#fff",
                      xmldecl=False, svgns=True, omitsize=True, svgclass="qr",
                      lineclass=None, nl=False)
    # segno writes only path data here, never the URI itself: nothing to escape.
    return Markup(out.getvalue().decode("ascii"))  # noqa: S704


def etag_of(uri: str, fmt: str) -> str:
    """A strong ETag for one URI in one format (the drawing settings are part of it)."""
    key = f"{uri}\n{fmt}\n{ERROR}\n{PNG_SCALE}\n{BORDER}\n{segno.__version__}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def register(app: Flask) -> None:
    """Attach /item/<id>/qr.png and /item/<id>/qr.svg."""

    @app.get("/item/<name>/qr.<fmt>", endpoint="item_qr")
    def item_qr(name: str, fmt: str) -> Response:
        if fmt not in MEDIA_TYPES:
            abort(404)
        archive = get_archive()
        # Only whether the record is there matters: its graph is not read.
        if not is_record_id(name) or archive.storage.head(name) is None:
            abort(404, description=f"no record {name}")
        if archive.is_withdrawn(name):
            abort(410, description=f"record {name} has been withdrawn")
        uri = archive.minter.item(name)
        resp = Response(qr_bytes(uri, fmt), mimetype=MEDIA_TYPES[fmt])
        resp.set_etag(etag_of(uri, fmt))
        resp.cache_control.public = True
        resp.cache_control.max_age = MAX_AGE
        resp.headers["Content-Disposition"] = f'inline; filename="{name}-qr.{fmt}"'
        resp.make_conditional(request)
        return resp

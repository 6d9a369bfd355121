"""Render a resolved IIIF image request from a pyramid with Pillow."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from iiif.image_request import ResolvedRequest
from iiif.pyramid import Pyramid

MEDIA_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tif": "image/tiff",
    "gif": "image/gif",
}
_TRANSPARENT_FORMATS = ("png", "webp", "tif")
_QUARTER_TURNS = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def passthrough_tile(pyramid: Pyramid, req: ResolvedRequest) -> bytes | None:
    """Stored tile bytes when the request is exactly one pyramid tile, else None."""
    if req.rotation or req.mirror or req.format != "jpg":
        return None
    native = "gray" if pyramid.info.mode == "L" else "color"
    if req.quality not in ("default", native):
        return None
    found = pyramid.aligned_tile(req.region, req.size)
    if found is None:
        return None
    return pyramid.tile_bytes(*found)


def render_image(pyramid: Pyramid, req: ResolvedRequest) -> Image.Image:
    """Crop, scale, mirror, rotate and apply the quality of a request; returns a Pillow image."""
    im = pyramid.render_region(req.region, req.size)
    if req.quality == "gray" and im.mode != "L":
        im = im.convert("L")
    elif req.quality == "bitonal":
        im = im.convert("L").point(lambda v: 255 if v >= 128 else 0).convert("1")
    if req.mirror:
        im = ImageOps.mirror(im)
    if req.rotation:
        quarter = _QUARTER_TURNS.get(int(req.rotation)) if req.rotation.is_integer() else None
        if quarter is not None:
            im = im.transpose(quarter)
        else:
            im = _rotate_arbitrary(im, req.rotation, transparent=req.format in _TRANSPARENT_FORMATS)
    return im


def _rotate_arbitrary(im: Image.Image, degrees: float, *, transparent: bool) -> Image.Image:
    if im.mode == "1":
        im = im.convert("L")
    if transparent:
        im = im.convert("LA" if im.mode == "L" else "RGBA")
        fill: tuple[int, ...] = (0,) * len(im.getbands())
    else:
        fill = (255,) * len(im.getbands())
    # IIIF rotates clockwise, Pillow counter-clockwise.
    return im.rotate(-degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def encode(im: Image.Image, fmt: str, *, jpeg_quality: int = 85) -> bytes:
    """Encode an image in one of the IIIF output formats."""
    buf = io.BytesIO()
    if fmt == "jpg":
        if im.mode not in ("L", "RGB"):
            im = im.convert("L" if im.mode in ("1", "LA") else "RGB")
        im.save(buf, "JPEG", quality=jpeg_quality)
    elif fmt == "png":
        im.save(buf, "PNG", compress_level=3)
    elif fmt == "webp":
        if im.mode in ("1", "L"):
            im = im.convert("RGB")
        elif im.mode == "LA":
            im = im.convert("RGBA")
        im.save(buf, "WEBP", quality=80, method=4)
    elif fmt == "tif":
        im.save(buf, "TIFF", compression="tiff_deflate")
    elif fmt == "gif":
        if im.mode in ("RGB", "RGBA", "LA"):
            im = im.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
        im.save(buf, "GIF")
    else:
        raise ValueError(f"unsupported format {fmt!r}")
    return buf.getvalue()


def render(pyramid: Pyramid, req: ResolvedRequest, *, jpeg_quality: int = 85) -> bytes:
    """The encoded bytes answering a resolved request (stored tile bytes when aligned)."""
    tile = passthrough_tile(pyramid, req)
    if tile is not None:
        return tile
    return encode(render_image(pyramid, req), req.format, jpeg_quality=jpeg_quality)

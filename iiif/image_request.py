"""Parse and resolve IIIF Image API 3.0 and 2.1 request parameters (pure, no Pillow)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Version = Literal["2", "3"]

QUALITIES = ("default", "color", "gray", "bitonal")
FORMATS = ("jpg", "png", "webp", "tif", "gif")
# Formats the spec names that this server knowingly does not produce: 501, not 400.
KNOWN_UNSUPPORTED_FORMATS = ("jp2", "pdf")

_INT = r"\d{1,9}"
_NUM = r"(?:\d{1,9}(?:\.\d{1,12})?|\.\d{1,12})"
_REGION_PX = re.compile(rf"({_INT}),({_INT}),({_INT}),({_INT})")
_REGION_PCT = re.compile(rf"pct:({_NUM}),({_NUM}),({_NUM}),({_NUM})")
_SIZE_W = re.compile(rf"({_INT}),")
_SIZE_H = re.compile(rf",({_INT})")
_SIZE_WH = re.compile(rf"(!?)({_INT}),({_INT})")
_SIZE_PCT = re.compile(rf"pct:({_NUM})")
_ROTATION = re.compile(rf"(!?)({_NUM})")
_QUALITY_FORMAT = re.compile(r"([a-z]{1,16})\.([a-z0-9]{1,8})")


class IIIFError(Exception):
    """Base of all request errors; carries the HTTP status and the offending parameter."""

    status = 400

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


class BadRequest(IIIFError):
    """Malformed or out-of-range request (HTTP 400)."""

    status = 400


class NotFound(IIIFError):
    """Unknown identifier (HTTP 404)."""

    status = 404


class NotImplementedFeature(IIIFError):
    """Valid request for a feature this server does not implement (HTTP 501)."""

    status = 501


@dataclass(frozen=True)
class Limits:
    """Server-imposed output limits (advertised in info.json as maxWidth/maxHeight/maxArea)."""

    max_width: int | None = None
    max_height: int | None = None
    max_area: int | None = 25_000_000


@dataclass(frozen=True)
class ImageRequest:
    """A syntactically valid image request, not yet related to an image's dimensions."""

    version: Version
    region: str
    size: str
    rotation: str
    quality: str
    format: str

    def resolve(self, width: int, height: int, limits: Limits | None = None) -> ResolvedRequest:
        """Apply the request to an image of the given size; raises IIIFError subclasses."""
        limits = limits or Limits()
        region = _resolve_region(self.region, width, height)
        size = _resolve_size(self.version, self.size, region[2], region[3], limits)
        mirror, degrees = _parse_rotation(self.rotation)
        return ResolvedRequest(
            version=self.version,
            image_width=width,
            image_height=height,
            region=region,
            size=size,
            rotation=degrees,
            mirror=mirror,
            quality=self.quality,
            format=self.format,
        )


@dataclass(frozen=True)
class ResolvedRequest:
    """A request resolved against an image: pixel region, output size, rotation, quality."""

    version: Version
    image_width: int
    image_height: int
    region: tuple[int, int, int, int]
    size: tuple[int, int]
    rotation: float
    mirror: bool
    quality: str
    format: str

    @property
    def is_full_region(self) -> bool:
        """True when the region covers the whole image."""
        return self.region == (0, 0, self.image_width, self.image_height)

    def canonical_path(self) -> str:
        """The canonical region/size/rotation/quality.format path for this request."""
        x, y, w, h = self.region
        region = "full" if self.is_full_region else f"{x},{y},{w},{h}"
        ow, oh = self.size
        if self.version == "3":
            size = "max" if (ow, oh) == (w, h) else f"{ow},{oh}"
        else:
            size = "full" if (ow, oh) == (w, h) else f"{ow},"
            if (ow, oh) != (w, h) and round(h * ow / w) != oh:
                size = f"{ow},{oh}"
        rot = _format_number(self.rotation)
        rotation = f"!{rot}" if self.mirror else rot
        return f"{region}/{size}/{rotation}/{self.quality}.{self.format}"


def parse_request(
    version: str, region: str, size: str, rotation: str, quality_format: str
) -> ImageRequest:
    """Check request syntax in the order region, size, rotation, quality, format."""
    if version not in ("2", "3"):
        raise BadRequest(f"unsupported API version {version!r}", "version")
    v: Version = "3" if version == "3" else "2"
    _check_region_syntax(region)
    _check_size_syntax(v, size)
    _parse_rotation(rotation)
    quality, fmt = _parse_quality_format(quality_format)
    return ImageRequest(v, region, size, rotation, quality, fmt)


def _check_region_syntax(region: str) -> None:
    if region in ("full", "square"):
        return
    m = _REGION_PX.fullmatch(region) or _REGION_PCT.fullmatch(region)
    if m is None:
        raise BadRequest(f"invalid region {region[:64]!r}", "region")
    if float(m.group(3)) <= 0 or float(m.group(4)) <= 0:
        raise BadRequest("region width and height must be greater than zero", "region")


def _resolve_region(region: str, width: int, height: int) -> tuple[int, int, int, int]:
    _check_region_syntax(region)
    if region == "full":
        return (0, 0, width, height)
    if region == "square":
        side = min(width, height)
        return ((width - side) // 2, (height - side) // 2, side, side)
    m = _REGION_PX.fullmatch(region)
    if m is not None:
        x, y, w, h = (int(g) for g in m.groups())
    else:
        m = _REGION_PCT.fullmatch(region)
        assert m is not None
        px, py, pw, ph = (float(g) for g in m.groups())
        x = math.floor(px * width / 100)
        y = math.floor(py * height / 100)
        # Round the far edge, not the extent, so adjacent pct regions tile without gaps.
        w = round((px + pw) * width / 100) - x
        h = round((py + ph) * height / 100) - y
    if x >= width or y >= height:
        raise BadRequest("region lies entirely outside the image", "region")
    w = min(w, width - x)
    h = min(h, height - y)
    if w <= 0 or h <= 0:
        raise BadRequest("region has zero width or height", "region")
    return (x, y, w, h)


def _check_size_syntax(version: Version, size: str) -> None:
    body = size
    if size.startswith("^"):
        if version != "3":
            raise BadRequest("'^' upscaling syntax is only defined in Image API 3.0", "size")
        body = size[1:]
    if body == "max":
        return
    if body == "full":
        if version == "3" or size != body:
            raise BadRequest("size 'full' was replaced by 'max' in Image API 3.0", "size")
        return
    m = _SIZE_PCT.fullmatch(body)
    if m is not None:
        if float(m.group(1)) <= 0:
            raise BadRequest("size percentage must be greater than zero", "size")
        return
    for pattern in (_SIZE_W, _SIZE_H):
        m = pattern.fullmatch(body)
        if m is not None:
            if int(m.group(1)) == 0:
                raise BadRequest("size must be greater than zero", "size")
            return
    m = _SIZE_WH.fullmatch(body)
    if m is None:
        raise BadRequest(f"invalid size {size[:64]!r}", "size")
    if int(m.group(2)) == 0 or int(m.group(3)) == 0:
        raise BadRequest("size must be greater than zero", "size")


def _resolve_size(version: Version, size: str, rw: int, rh: int, limits: Limits) -> tuple[int, int]:
    _check_size_syntax(version, size)
    # 2.1 always allows upscaling; 3.0 only with the caret.
    upscale = size.startswith("^") or version == "2"
    body = size.lstrip("^")
    if body in ("max", "full"):
        return _max_size(rw, rh, limits, upscale=size.startswith("^"))
    m = _SIZE_PCT.fullmatch(body)
    if m is not None:
        pct = float(m.group(1))
        out = (round(rw * pct / 100), round(rh * pct / 100))
    elif (m := _SIZE_W.fullmatch(body)) is not None:
        w = int(m.group(1))
        out = (w, round(rh * w / rw))
    elif (m := _SIZE_H.fullmatch(body)) is not None:
        h = int(m.group(1))
        out = (round(rw * h / rh), h)
    else:
        m = _SIZE_WH.fullmatch(body)
        assert m is not None
        w, h = int(m.group(2)), int(m.group(3))
        if m.group(1):
            scale = min(w / rw, h / rh)
            out = (min(w, round(rw * scale)), min(h, round(rh * scale)))
        else:
            out = (w, h)
    if out[0] <= 0 or out[1] <= 0:
        raise BadRequest("requested size rounds to zero pixels", "size")
    if not upscale and (out[0] > rw or out[1] > rh):
        raise BadRequest("size larger than the region needs the '^' prefix in 3.0", "size")
    _check_limits(out, limits)
    return out


def _max_size(rw: int, rh: int, limits: Limits, *, upscale: bool) -> tuple[int, int]:
    side_scales = []
    if limits.max_width is not None:
        side_scales.append(limits.max_width / rw)
    if limits.max_height is not None:
        side_scales.append(limits.max_height / rh)
    # With only maxArea set, '^max' stays at the region's size rather than blowing a
    # thumbnail up to maxArea, which no client wants.
    scale = min(side_scales) if side_scales else 1.0
    if not upscale:
        scale = min(scale, 1.0)
    if limits.max_area is not None and rw * rh * scale * scale > limits.max_area:
        scale = math.sqrt(limits.max_area / (rw * rh))
    return (max(1, math.floor(rw * scale + 1e-9)), max(1, math.floor(rh * scale + 1e-9)))


def _check_limits(out: tuple[int, int], limits: Limits) -> None:
    w, h = out
    if limits.max_width is not None and w > limits.max_width:
        raise BadRequest(f"width {w} exceeds maxWidth {limits.max_width}", "size")
    if limits.max_height is not None and h > limits.max_height:
        raise BadRequest(f"height {h} exceeds maxHeight {limits.max_height}", "size")
    if limits.max_area is not None and w * h > limits.max_area:
        raise BadRequest(f"area {w * h} exceeds maxArea {limits.max_area}", "size")


def _parse_rotation(rotation: str) -> tuple[bool, float]:
    m = _ROTATION.fullmatch(rotation)
    if m is None:
        raise BadRequest(f"invalid rotation {rotation[:64]!r}", "rotation")
    degrees = float(m.group(2))
    if degrees > 360:
        raise BadRequest("rotation must be between 0 and 360", "rotation")
    return bool(m.group(1)), degrees % 360


def _parse_quality_format(quality_format: str) -> tuple[str, str]:
    m = _QUALITY_FORMAT.fullmatch(quality_format)
    if m is None:
        raise BadRequest(f"invalid quality.format {quality_format[:64]!r}", "quality")
    quality, fmt = m.groups()
    if quality not in QUALITIES:
        raise BadRequest(f"unknown quality {quality!r}", "quality")
    if fmt in KNOWN_UNSUPPORTED_FORMATS:
        raise NotImplementedFeature(f"format {fmt!r} is not supported", "format")
    if fmt not in FORMATS:
        raise BadRequest(f"unknown format {fmt!r}", "format")
    return quality, fmt


def _format_number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")

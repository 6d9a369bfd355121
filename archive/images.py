"""Probing image files at ingest: what they are and how big, without decoding the pixels."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MEDIA_TYPES = {
    "JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff", "JPEG2000": "image/jp2",
    "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp",
}
# EXIF orientations that turn the picture a quarter, so width and height swap once applied.
_QUARTER_TURNS = {5, 6, 7, 8}


class ImageRejected(ValueError):
    """A file that cannot be taken as an image, with the reason."""


@dataclass(frozen=True)
class ImageProbe:
    """What an image file is: media type and displayed size (EXIF orientation applied)."""

    media_type: str
    width: int
    height: int


def probe_image(path: Path, max_pixels: int) -> ImageProbe:
    """Identify an image and its displayed size; reject what is not an image or too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format or ""
                width, height = img.size
                orientation = img.getexif().get(0x0112, 1)
    except FileNotFoundError:
        raise ImageRejected(f"image file {path.name} not found") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRejected(
            f"{path.name}: more pixels than Pillow's limit (setting max_image_pixels)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"{path.name} is not a readable image: {exc}") from None
    if fmt not in MEDIA_TYPES:
        raise ImageRejected(f"{path.name}: image format {fmt or 'unknown'} is not supported")
    if width <= 0 or height <= 0:
        raise ImageRejected(f"{path.name}: image has no pixels")
    if width * height > max_pixels:
        raise ImageRejected(
            f"{path.name}: {width}x{height} = {width * height:,} pixels is above the limit of "
            f"{max_pixels:,} (setting max_image_pixels)"
        )
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    return ImageProbe(MEDIA_TYPES[fmt], width, height)


def set_pixel_limit(max_pixels: int) -> None:
    """Set Pillow's decompression-bomb limit deliberately, from the max_image_pixels setting."""
    Image.MAX_IMAGE_PIXELS = max_pixels

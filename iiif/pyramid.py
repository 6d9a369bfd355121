"""Build and read tiled image pyramids kept in one container file per image."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import struct
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, ImageCms, ImageOps, JpegImagePlugin, features

PYRAMID_FILE = "pyramid.mpt"
MAGIC = b"MEMPYR01"
_HEADER = struct.Struct("<8sQQ")  # magic, index offset, index length
DEFAULT_MAX_PIXELS = 500_000_000
DEFAULT_TILE_QUALITY = 90
_MAX_INDEX_BYTES = 64 * 1024 * 1024
# Colour JPEGs from this size up are decoded as luma + chroma planes (see _jpeg_split_bands):
# it halves peak memory but takes about twice as long, which only pays for really big masters.
_JPEG_SPLIT_PIXELS = 150_000_000

_PIL_LIMIT_LOCK = threading.Lock()
_WARNINGS_LOCK = threading.Lock()  # warnings.catch_warnings is not thread-safe
_ACTIVE_LIMITS: list[int] = []
_SAVED_LIMIT: list[int | None] = [None]


class PyramidError(Exception):
    """The master cannot be made into a pyramid, or a pyramid file is unreadable."""


class ImageTooLarge(PyramidError):
    """The master has more pixels than the configured maximum."""


class UnsupportedImage(PyramidError):
    """The master's format or pixel layout cannot be read."""


@dataclass(frozen=True)
class Level:
    """One resolution level: a scale factor and its pixel and tile-grid size."""

    scale_factor: int
    width: int
    height: int
    columns: int
    rows: int


@dataclass(frozen=True)
class PyramidInfo:
    """Dimensions and layout of a built pyramid."""

    width: int
    height: int
    tile_size: int
    levels: tuple[Level, ...]
    format: str
    mode: str

    @property
    def scale_factors(self) -> list[int]:
        """Scale factors of all levels, smallest first."""
        return [lv.scale_factor for lv in self.levels]


def jpeg2000_supported() -> bool:
    """True when this Pillow can decode JPEG 2000 masters."""
    return bool(features.check("jpg_2000"))


@contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    """Hold Image.MAX_IMAGE_PIXELS at (at least) max_pixels while a build opens and decodes."""
    # The limit is process-global and Pillow checks it again while loading (TIFF does), so
    # it stays raised for the whole build; concurrent builds get the largest active limit,
    # and each build enforces its own max_pixels itself in _open_master.
    with _PIL_LIMIT_LOCK:
        if not _ACTIVE_LIMITS:
            _SAVED_LIMIT[0] = Image.MAX_IMAGE_PIXELS
        _ACTIVE_LIMITS.append(max_pixels)
        Image.MAX_IMAGE_PIXELS = max(_ACTIVE_LIMITS)
    try:
        yield
    finally:
        with _PIL_LIMIT_LOCK:
            _ACTIVE_LIMITS.remove(max_pixels)
            Image.MAX_IMAGE_PIXELS = max(_ACTIVE_LIMITS) if _ACTIVE_LIMITS else _SAVED_LIMIT[0]


def _open_master(master: Path, max_pixels: int) -> Image.Image:
    try:
        with _pixel_limit(max_pixels), _WARNINGS_LOCK, warnings.catch_warnings():
            # Pillow warns between the limit and twice the limit: make that an error too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(master)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLarge(f"{master.name} exceeds the limit of {max_pixels} pixels") from exc
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedImage(f"cannot read {master.name}: {exc}") from exc
    if im.width * im.height > max_pixels:
        im.close()
        raise ImageTooLarge(
            f"{master.name}: {im.width}x{im.height} = {im.width * im.height} pixels "
            f"exceeds the limit of {max_pixels}"
        )
    if im.format == "JPEG2000" and not jpeg2000_supported():
        im.close()
        raise UnsupportedImage("this Pillow build cannot decode JPEG 2000")
    return im


def _stored_orientation_swaps(im: Image.Image) -> bool:
    return im.getexif().get(0x0112, 1) in (5, 6, 7, 8)


def _icc_transform(im: Image.Image) -> ImageCms.ImageCmsTransform | None:
    """A transform from the image's embedded ICC profile to sRGB, if it has a usable one."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK", "LAB"):
        return None
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.buildTransform(
            src, dst, im.mode, out_mode, renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None  # A broken profile must not block ingest; fall back to a naive conversion.


def _make_converter(im: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """A function turning pixels of this master (whole or in bands) into sRGB RGB or L."""
    transform = _icc_transform(im)
    transparency = "transparency" in im.info

    def convert(part: Image.Image) -> Image.Image:
        if transform is not None:
            part = ImageCms.applyTransform(part, transform) or part
        if part.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
            # convert("L") clips 16-bit values; scale them down instead.
            return part.convert("I").point(lambda v: v * (1 / 256)).convert("L")
        if part.mode in ("1", "L", "F"):
            return part.convert("L")
        if part.mode == "P":
            part = part.convert("RGBA" if transparency else "RGB")
        if part.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            base = "L" if part.mode in ("LA", "La") else "RGB"
            rgba = part.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            background.alpha_composite(rgba)
            return background.convert(base)
        if part.mode != "RGB":
            return part.convert("RGB")
        return part

    return convert


def _decode(master: Path, max_pixels: int) -> Image.Image:
    """Decode a master's first frame to one upright sRGB RGB or L image."""
    with _open_master(master, max_pixels) as im:
        try:
            im.seek(0)
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UnsupportedImage(f"cannot decode {master.name}: {exc}") from exc
        # in_place: the default returns a copy even when nothing turns, doubling memory.
        ImageOps.exif_transpose(im, in_place=True)
        return _make_converter(im)(im)


def _raw_tiff_bands(master: Path, max_pixels: int, rows: int) -> Iterator[Image.Image] | None:
    """Bands of >= rows rows of an uncompressed TIFF, read strip by strip; None if not one."""
    with _open_master(master, max_pixels) as im:
        if im.format != "TIFF" or getattr(im, "use_load_libtiff", True) or not im.tile:
            return None
        if any(t.codec_name != "raw" for t in im.tile):
            return None
        if im.getexif().get(0x0112, 1) != 1:
            return None
        width, height = im.size
        if im.tag_v2.get(284, 1) != 1:  # planar (band-separate) layout: not worth the bother
            return None
        bits = im.tag_v2.get(258) or (1,)
        counts = im.tag_v2.get(279) or ()
        tiles = list(im.tile)
    if not isinstance(bits, tuple):
        bits = (bits,)
    if not isinstance(counts, tuple):
        counts = (counts,)
    row_bytes = len(bits) * ((width * int(bits[0]) + 7) // 8)
    if len(counts) == len(tiles):
        # Writers (Pillow's among them) often store one strip for the whole image: cut full-width
        # strips into row bands ourselves, as uncompressed rows are contiguous.
        split = []
        for t, count in zip(tiles, counts, strict=True):
            x0, y0, x1, y1 = t.extents or (0, 0, 0, 0)
            if x0 != 0 or x1 != width or count != row_bytes * (y1 - y0) or y1 - y0 <= rows:
                split.append(t)
                continue
            for y in range(y0, y1, rows):
                split.append(
                    t._replace(
                        extents=(0, y, width, min(y + rows, y1)),
                        offset=t.offset + (y - y0) * row_bytes,
                    )
                )
        tiles = split
    starts = sorted({(t.extents or (0, 0, 0, 0))[1] for t in tiles})
    bounds = [0]
    for y in starts:
        if y >= bounds[-1] + rows:
            bounds.append(y)
    bounds.append(height)

    def bands() -> Iterator[Image.Image]:
        convert: Callable[[Image.Image], Image.Image] | None = None
        for top, bottom in itertools.pairwise(bounds):
            with _open_master(master, max_pixels) as band:
                if convert is None:
                    convert = _make_converter(band)
                # Pillow decodes only the tiles listed: shift this band's strips to row 0.
                band._size = (width, bottom - top)
                band._tile_size = band._size  # else TIFF's load_prepare allocates the whole image
                band.tile = [
                    t._replace(
                        extents=(t.extents[0], t.extents[1] - top, t.extents[2], t.extents[3] - top)
                    )
                    for t in tiles
                    if top <= t.extents[1] < bottom
                ]
                try:
                    band.load()
                except (OSError, SyntaxError, ValueError) as exc:
                    raise UnsupportedImage(f"cannot decode {master.name}: {exc}") from exc
                yield convert(band)

    return bands()


def _jpeg_split_bands(
    master: Path, max_pixels: int, rows: int, min_pixels: int = _JPEG_SPLIT_PIXELS
) -> Iterator[Image.Image] | None:
    """Bands of a large 4:2:0 colour JPEG, decoded as full-size luma plus native-size chroma.

    Pillow holds RGB at 4 bytes per pixel, so a plain decode of 400 Mpx needs 1.6 GB. Luma at
    1 byte per pixel plus the two half-size chroma planes the file actually stores need
    1.5 bytes per pixel, and bands are put back together as they are written.
    """
    with _open_master(master, max_pixels) as im:
        if (
            im.format != "JPEG"
            or im.mode != "RGB"
            or im.width * im.height < min_pixels
            or JpegImagePlugin.get_sampling(im) != 2
            or im.getexif().get(0x0112, 1) != 1
        ):
            return None
        width, height = im.size
        convert = _make_converter(im)
    try:
        with _open_master(master, max_pixels) as im:
            # At scale 1/2 libjpeg decodes 4:2:0 chroma with its full 8x8 IDCT: the stored planes.
            im.draft("YCbCr", (max(1, width // 2), max(1, height // 2)))
            im.load()
            _, cb, cr = im.split()
        del im
        with _open_master(master, max_pixels) as luma:
            luma.draft("L", (width, height))
            luma.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedImage(f"cannot decode {master.name}: {exc}") from exc
    if luma.size != (width, height) or cb.size != ((width + 1) // 2, (height + 1) // 2):
        return None

    def bands() -> Iterator[Image.Image]:
        for top in range(0, height, rows):
            bottom = min(top + rows, height)
            size = (width, bottom - top)
            box = (0.0, top / 2, width / 2, bottom / 2)
            planes = (
                luma.crop((0, top, width, bottom)),
                cb.resize(size, Image.Resampling.BILINEAR, box=box),
                cr.resize(size, Image.Resampling.BILINEAR, box=box),
            )
            yield convert(Image.merge("YCbCr", planes).convert("RGB"))

    return bands()


def _oriented_size(master: Path, max_pixels: int) -> tuple[int, int]:
    with _open_master(master, max_pixels) as im:
        if _stored_orientation_swaps(im):
            return (im.height, im.width)
        return im.size


def _level_for(scale: int, width: int, height: int, tile_size: int) -> Level:
    lw, lh = math.ceil(width / scale), math.ceil(height / scale)
    return Level(scale, lw, lh, math.ceil(lw / tile_size), math.ceil(lh / tile_size))


def _encode_tile(tile: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    tile.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


class _LevelWriter:
    """Receives a level's rows top to bottom, writes its tile rows, feeds the next level."""

    def __init__(
        self,
        level: Level,
        tile_size: int,
        out: IO[bytes],
        quality: int,
        below: _LevelWriter | None,
    ) -> None:
        self.level = level
        self.tile_size = tile_size
        self.out = out
        self.quality = quality
        self.below = below
        self.pending: Image.Image | None = None
        self.tile_row = 0
        self.offsets: list[int] = [0] * (2 * level.columns * level.rows)

    def push(self, rows: Image.Image) -> None:
        if rows.width != self.level.width:
            raise UnsupportedImage(f"band width {rows.width} != level width {self.level.width}")
        if self.pending is not None:
            joined = Image.new(rows.mode, (rows.width, self.pending.height + rows.height))
            joined.paste(self.pending, (0, 0))
            joined.paste(rows, (0, self.pending.height))
            rows = joined
        ts = self.tile_size
        top = 0
        while rows.height - top >= ts:
            self._emit(rows, top, ts)
            top += ts
        self.pending = rows.crop((0, top, rows.width, rows.height)) if top < rows.height else None

    def push_level(self, image: Image.Image) -> None:
        """Take the whole level at once, cutting tiles straight out of it without band copies."""
        if self.pending is not None or image.size != (self.level.width, self.level.height):
            raise UnsupportedImage(f"image size {image.size} does not match level {self.level}")
        for top in range(0, image.height, self.tile_size):
            self._emit(image, top, min(self.tile_size, image.height - top))

    def finish(self) -> None:
        if self.pending is not None:
            self._emit(self.pending, 0, self.pending.height)
            self.pending = None
        if self.tile_row != self.level.rows:
            raise UnsupportedImage(
                f"level {self.level.scale_factor}: got {self.tile_row} tile rows"
            )
        if self.below is not None:
            self.below.finish()

    def _emit(self, src: Image.Image, top: int, height: int) -> None:
        ts = self.tile_size
        for col in range(self.level.columns):
            box = (col * ts, top, min((col + 1) * ts, src.width), top + height)
            data = _encode_tile(src.crop(box), self.quality)
            i = 2 * (self.tile_row * self.level.columns + col)
            self.offsets[i], self.offsets[i + 1] = self.out.tell(), len(data)
            self.out.write(data)
        self.tile_row += 1
        if self.below is not None:
            # Tile rows are even, so reducing them one by one equals reducing the whole level.
            self.below.push(src.reduce(2, box=(0, top, src.width, top + height)))


def build_pyramid(
    master: Path,
    dest: Path,
    *,
    tile_size: int = 512,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quality: int = DEFAULT_TILE_QUALITY,
) -> PyramidInfo:
    """Build a JPEG-tiled pyramid of `master` into directory `dest` (one container file)."""
    if tile_size < 16 or tile_size > 4096 or tile_size % 2:
        raise ValueError("tile_size must be an even number between 16 and 4096")
    with _pixel_limit(max_pixels):
        return _build(Path(master), Path(dest), tile_size, max_pixels, quality)


def _build(master: Path, dest: Path, tile_size: int, max_pixels: int, quality: int) -> PyramidInfo:
    width, height = _oriented_size(master, max_pixels)
    levels = [_level_for(1, width, height, tile_size)]
    while levels[-1].columns > 1 or levels[-1].rows > 1:
        levels.append(_level_for(levels[-1].scale_factor * 2, width, height, tile_size))
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".pyramid-", dir=dest)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_HEADER.pack(MAGIC, 0, 0))
            writers: list[_LevelWriter] = []
            below: _LevelWriter | None = None
            for lv in reversed(levels):
                below = _LevelWriter(lv, tile_size, out, quality, below)
                writers.insert(0, below)
            top = writers[0]
            mode = "RGB"
            bands = _raw_tiff_bands(master, max_pixels, 2 * tile_size) or _jpeg_split_bands(
                master, max_pixels, 2 * tile_size
            )
            if bands is not None:
                for band in bands:
                    mode = band.mode
                    top.push(band)
                del bands
            else:
                image = _decode(master, max_pixels)
                if image.size != (width, height):
                    raise UnsupportedImage(f"decoded {image.size}, header says {(width, height)}")
                mode = image.mode
                top.push_level(image)
                del image
            top.finish()
            index = json.dumps(
                {
                    "width": width,
                    "height": height,
                    "tile_size": tile_size,
                    "format": "jpg",
                    "mode": mode,
                    "levels": [
                        {"scale": w.level.scale_factor, "tiles": w.offsets} for w in writers
                    ],
                },
                separators=(",", ":"),
            ).encode()
            index_offset = out.tell()
            out.write(index)
            out.seek(0)
            out.write(_HEADER.pack(MAGIC, index_offset, len(index)))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest / PYRAMID_FILE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return open_pyramid(dest).info


class Pyramid:
    """A read-only pyramid: raw tile bytes and region rendering from the best level."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        self._finalizer = weakref.finalize(self, os.close, self._fd)
        try:
            stat = os.fstat(self._fd)
            self.mtime = stat.st_mtime
            self.etag_base = f"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"
            header = os.pread(self._fd, _HEADER.size, 0)
            if len(header) != _HEADER.size:
                raise PyramidError(f"{path}: truncated header")
            magic, index_offset, index_length = _HEADER.unpack(header)
            if magic != MAGIC or index_length > _MAX_INDEX_BYTES:
                raise PyramidError(f"{path}: not a pyramid file")
            raw = os.pread(self._fd, index_length, index_offset)
            index = json.loads(raw)
            tile_size = int(index["tile_size"])
            width, height = int(index["width"]), int(index["height"])
            levels = []
            self._tiles: dict[int, list[int]] = {}
            for entry in index["levels"]:
                scale = int(entry["scale"])
                levels.append(_level_for(scale, width, height, tile_size))
                self._tiles[scale] = [int(v) for v in entry["tiles"]]
            self.info = PyramidInfo(
                width, height, tile_size, tuple(levels), str(index["format"]), str(index["mode"])
            )
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            self.close()
            raise PyramidError(f"{path}: unreadable pyramid: {exc}") from exc
        except PyramidError:
            self.close()
            raise

    def close(self) -> None:
        """Release the file descriptor."""
        self._finalizer()

    def level(self, scale_factor: int) -> Level | None:
        """The level with this scale factor, if any."""
        for lv in self.info.levels:
            if lv.scale_factor == scale_factor:
                return lv
        return None

    def tile_bytes(self, scale_factor: int, column: int, row: int) -> bytes:
        """The stored JPEG bytes of one tile; raises KeyError if there is no such tile."""
        lv = self.level(scale_factor)
        if lv is None or not (0 <= column < lv.columns and 0 <= row < lv.rows):
            raise KeyError((scale_factor, column, row))
        i = 2 * (row * lv.columns + column)
        offsets = self._tiles[scale_factor]
        offset, length = offsets[i], offsets[i + 1]
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise PyramidError(f"{self.path}: truncated tile {(scale_factor, column, row)}")
        return data

    def aligned_tile(
        self, region: tuple[int, int, int, int], size: tuple[int, int]
    ) -> tuple[int, int, int] | None:
        """(scale_factor, column, row) of a stored tile matching region and size exactly."""
        x, y, w, h = region
        ts = self.info.tile_size
        for lv in self.info.levels:
            span = ts * lv.scale_factor
            if x % span or y % span:
                continue
            col, row = x // span, y // span
            if col >= lv.columns or row >= lv.rows:
                continue
            if (w, h) != (min(span, self.info.width - x), min(span, self.info.height - y)):
                continue
            if size == (min(ts, lv.width - col * ts), min(ts, lv.height - row * ts)):
                return (lv.scale_factor, col, row)
        return None

    def choose_level(self, region: tuple[int, int, int, int], size: tuple[int, int]) -> Level:
        """The smallest level whose pixels still cover the requested output resolution."""
        _, _, w, h = region
        best = self.info.levels[0]
        for lv in self.info.levels:
            s = lv.scale_factor
            if w / s >= size[0] - 1e-9 and h / s >= size[1] - 1e-9:
                best = lv
        return best

    def render_region(
        self, region: tuple[int, int, int, int], size: tuple[int, int]
    ) -> Image.Image:
        """Render a full-resolution pixel region at the given output size."""
        x, y, w, h = region
        lv = self.choose_level(region, size)
        s = lv.scale_factor
        ts = self.info.tile_size
        lx0, ly0 = x / s, y / s
        lx1, ly1 = min((x + w) / s, lv.width), min((y + h) / s, lv.height)
        ix0, iy0 = math.floor(lx0), math.floor(ly0)
        ix1, iy1 = max(ix0 + 1, math.ceil(lx1)), max(iy0 + 1, math.ceil(ly1))
        canvas = Image.new(self.info.mode, (ix1 - ix0, iy1 - iy0))
        for row in range(iy0 // ts, min(lv.rows, (iy1 - 1) // ts + 1)):
            for col in range(ix0 // ts, min(lv.columns, (ix1 - 1) // ts + 1)):
                with Image.open(io.BytesIO(self.tile_bytes(s, col, row))) as tile:
                    tile.load()
                    canvas.paste(tile.convert(self.info.mode), (col * ts - ix0, row * ts - iy0))
        box = (lx0 - ix0, ly0 - iy0, lx1 - ix0, ly1 - iy0)
        if canvas.size == size and box == (0, 0, canvas.width, canvas.height):
            return canvas
        return canvas.resize(size, Image.Resampling.LANCZOS, box=box)


def open_pyramid(dest: Path) -> Pyramid:
    """Open the pyramid kept in directory `dest`; raises PyramidError if missing or broken."""
    path = Path(dest) / PYRAMID_FILE
    try:
        return Pyramid(path)
    except OSError as exc:
        raise PyramidError(f"no readable pyramid in {dest}: {exc.strerror}") from exc

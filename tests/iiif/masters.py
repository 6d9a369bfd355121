"""Generate test masters with Pillow (and two hand-built binary formats Pillow cannot write)."""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image, ImageDraw


def quadrants(width: int, height: int) -> Image.Image:
    """RGB image: red top-left, green top-right, blue bottom-left, white bottom-right."""
    im = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(im)
    hw, hh = width // 2, height // 2
    draw.rectangle((0, 0, hw - 1, hh - 1), fill=(255, 0, 0))
    draw.rectangle((hw, 0, width - 1, hh - 1), fill=(0, 255, 0))
    draw.rectangle((0, hh, hw - 1, height - 1), fill=(0, 0, 255))
    return im


def write_rgb16_tiff(path: Path, width: int, height: int, rgb: tuple[int, int, int]) -> None:
    """An uncompressed 48-bit (16 bits per sample) RGB TIFF filled with one colour."""
    pixel = struct.pack("<HHH", *rgb)
    data = pixel * (width * height)
    entries: list[tuple[int, int, int, int]] = []
    n_tags = 10
    ifd_offset = 8
    ifd_size = 2 + 12 * n_tags + 4
    bps_offset = ifd_offset + ifd_size
    data_offset = bps_offset + 6
    entries = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 3, bps_offset),  # BitsPerSample -> 16,16,16
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 2),  # Photometric: RGB
        (273, 4, 1, data_offset),  # StripOffsets
        (277, 3, 1, 3),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, len(data)),  # StripByteCounts
        (284, 3, 1, 1),  # PlanarConfiguration: chunky
    ]
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3 and count == 1:
            out += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, value)
    out += struct.pack("<I", 0)
    out += struct.pack("<HHH", 16, 16, 16)
    out += data
    path.write_bytes(bytes(out))


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(x: float, y: float, z: float) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _s15f16(x) + _s15f16(y) + _s15f16(z)


def swapped_primaries_icc() -> bytes:
    """A minimal ICC v2 RGB profile whose red and blue primaries are swapped relative to sRGB."""
    red = (0.4361, 0.2225, 0.0139)
    green = (0.3851, 0.7169, 0.0971)
    blue = (0.1431, 0.0606, 0.7141)
    desc_text = b"swapped primaries\x00"
    desc = (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(desc_text))
        + desc_text
        + b"\x00" * 8  # unicode language code and count
        + b"\x00" * 3  # scriptcode code and count
        + b"\x00" * 67
    )
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0233) + b"\x00\x00"
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz_tag(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz_tag(*blue)),
        (b"gXYZ", _xyz_tag(*green)),
        (b"bXYZ", _xyz_tag(*red)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00public domain\x00\x00\x00"),
    ]
    table = bytearray(struct.pack(">I", len(tags)))
    body = bytearray()
    offset = 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
        while len(body) % 4:
            body += b"\x00"
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\x00\x00\x00\x00"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\x00" * 12
        + b"acsp"
        + b"\x00" * 24
        + struct.pack(">I", 0)
        + _s15f16(0.9642)
        + _s15f16(1.0)
        + _s15f16(0.8249)
        + b"\x00" * 4
        + b"\x00" * 16
        + b"\x00" * 28
    )
    assert len(header) == 128
    return header + bytes(table) + bytes(body)


def exif_rotated_jpeg(path: Path, orientation: int = 6) -> None:
    """A 300x200 stored JPEG (red left half, blue right half) with an EXIF Orientation tag."""
    im = Image.new("RGB", (300, 200), (0, 0, 255))
    ImageDraw.Draw(im).rectangle((0, 0, 149, 199), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, "JPEG", quality=95, exif=exif.tobytes())

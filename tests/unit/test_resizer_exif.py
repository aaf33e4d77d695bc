"""EXIF Orientation values a file can carry that are not orientations: never an error."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from resizer.thumbnail import ThumbnailSpec, exif_orientation, make_thumbnail


def exif_app1(tag_type: int, count: int, value: bytes) -> bytes:
    """Raw little-endian EXIF with one IFD0 entry, Orientation (0x0112), of the given TIFF type."""
    entry = struct.pack("<HHI", 0x0112, tag_type, count) + value.ljust(4, b"\0")
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + struct.pack("<I", 0)


def jpeg_with(exif: bytes) -> bytes:
    """A 40x20 JPEG, red on the left half and blue on the right, carrying ``exif``."""
    im = Image.new("RGB", (40, 20), (220, 30, 30))
    im.paste((30, 40, 220), (20, 0, 40, 20))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


@pytest.mark.parametrize("tag_type, count, value", [
    (2, 2, b"6\0"),               # ASCII "6"
    (2, 8, b"6,6,6,6"),           # ASCII list (does not fit inline: any bytes will do, it is ignored)
    (7, 1, b"\x06"),              # UNDEFINED
    (3, 1, struct.pack("<H", 9)),  # SHORT 9: no such orientation
], ids=["ascii", "ascii-list", "undefined", "nine"])
def test_an_unusable_orientation_renders_upright(tag_type, count, value):
    data = jpeg_with(exif_app1(tag_type, count, value))
    assert exif_orientation(Image.open(io.BytesIO(data))) == 1
    thumb = make_thumbnail(io.BytesIO(data), ThumbnailSpec(40, 20, "cover"))
    out = Image.open(io.BytesIO(thumb.data)).convert("RGB")
    assert out.size == (40, 20)
    assert out.getpixel((5, 10))[0] > 150 and out.getpixel((35, 10))[2] > 150  # not rotated


def test_a_real_orientation_6_still_rotates():
    data = jpeg_with(exif_app1(3, 1, struct.pack("<H", 6)))
    assert exif_orientation(Image.open(io.BytesIO(data))) == 6
    thumb = make_thumbnail(io.BytesIO(data), ThumbnailSpec(20, 40, "cover"))
    out = Image.open(io.BytesIO(thumb.data)).convert("RGB")
    assert out.size == (20, 40)
    assert out.getpixel((10, 5))[0] > 150 and out.getpixel((10, 35))[2] > 150  # rotated 90° clockwise

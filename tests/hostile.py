"""Generators of hostile inputs: small files, under the byte and pixel limits, that cost a
naive thumbnailer minutes of CPU, gigabytes of memory or an unexpected exception.

Each generator returns the file's bytes. :data:`CORPUS` names one instance of every kind
(the tests, ``make fuzz``'s seeds and ``benchmarks/hostile.py`` use it); the tests also
build other sizes of the same kinds.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Callable

from PIL import Image


def _save(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """Split a JPEG into (marker, whole segment bytes); an SOS segment includes its entropy-coded data."""
    segments, i = [], 2
    while i < len(data) - 1:
        marker = data[i + 1]
        if marker == 0xD9:
            segments.append((marker, data[i:i + 2]))
            break
        length = int.from_bytes(data[i + 2:i + 4], "big")
        end = i + 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or RSTn
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
        segments.append((marker, data[i:end]))
        i = end
    return segments


def jpeg_scan_flood(scans: int = 20_000, size: int = 2048) -> bytes:
    """A progressive JPEG of ``size`` x ``size`` grey pixels whose last refinement scan is
    repeated until it has ``scans`` scans (libjpeg-turbo's LJT-01-004: every scan walks the
    whole coefficient buffer, so CPU time grows with scans x pixels while the file stays small)."""
    base = _save(Image.linear_gradient("L").resize((size, size)), "JPEG", progressive=True, quality=20)
    segments = jpeg_segments(base)
    sos = [s for m, s in segments if m == 0xDA]
    extra = [sos[-1]] * (scans - len(sos))
    return b"\xff\xd8" + b"".join(s for m, s in segments[:-1]) + b"".join(extra) + b"\xff\xd9"


def tiff_page_chain(pages: int = 20_000) -> bytes:
    """A little-endian TIFF of ``pages`` 1x1 grey pages, each IFD pointing to the next."""
    entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (278, 3, 1, 1), (279, 4, 1, 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\0" + struct.pack("<I", 8))
    for page in range(pages):
        start = len(out)
        pixel = start + ifd_size
        nxt = pixel + 2 if page < pages - 1 else 0  # 1 pixel byte + 1 pad byte: IFDs on word boundaries
        out += struct.pack("<H", len(entries))
        for tag, typ, count, value in entries:
            out += struct.pack("<HHI", tag, typ, count)
            out += struct.pack("<I", pixel) if tag == 273 else struct.pack("<HH", value, 0) if typ == 3 \
                else struct.pack("<I", value)
        out += struct.pack("<I", nxt) + bytes([page % 256, 0])
    return bytes(out)


def tiff_without_dimensions(page: int = 0) -> bytes:
    """A two-page TIFF whose page ``page`` (0 or 1) has no ImageWidth tag (a structurally broken page)."""
    pages = [Image.new("L", (8, 8), 200), Image.new("L", (8, 8), 50)]
    data = bytearray(_save(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    offset = struct.unpack_from("<I", data, 4)[0]
    for _ in range(page):
        count = struct.unpack_from("<H", data, offset)[0]
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    count = struct.unpack_from("<H", data, offset)[0]
    for n in range(count):
        at = offset + 2 + 12 * n
        if struct.unpack_from("<H", data, at)[0] == 256:
            struct.pack_into("<H", data, at, 0xFFFE)  # ImageWidth becomes a private tag nobody knows
    return bytes(data)


def _gif_frame_data(size: tuple[int, int], colour: int) -> bytes:
    """The LZW minimum code size and data sub-blocks of one ``size`` GIF frame of palette index ``colour``."""
    frame = Image.new("P", size, colour)
    frame.putpalette(bytes(12))
    data = _save(frame, "GIF", optimize=False)  # optimize would renumber the palette
    i = data.index(b",", 13 + 3 * 2 ** ((data[10] & 7) + 1))
    flags = data[i + 9]
    i += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    return data[i:-1]


def gif_with_frames(screen: tuple[int, int], frames: list[tuple[int, int, int, int]], delay_cs: int = 5) -> bytes:
    """An animated GIF with a logical ``screen`` (w, h) and ``frames`` as (left, top, width, height),
    each frame one solid colour from a 4-colour palette; frames may lie outside the screen."""
    palette = bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    out = bytearray(b"GIF89a" + struct.pack("<HH", *screen) + bytes([0x81, 0, 0]) + palette)
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for n, (left, top, w, h) in enumerate(frames):
        out += b"\x21\xf9\x04" + bytes([0x04]) + struct.pack("<H", delay_cs) + b"\x00\x00"
        out += b"," + struct.pack("<HHHH", left, top, w, h) + b"\x00"
        out += _gif_frame_data((w, h), 1 + n % 3)
    return bytes(out + b";")


def gif_frame_outside_screen(offset: int = 12_000) -> bytes:
    """A 16x16 animation whose second frame sits at (``offset``, ``offset``): Pillow grows the
    canvas to cover it, so a 12,000 offset asks for a 144-megapixel canvas (over the pixel
    limit, under twice it, where Pillow only warns) from a 200-byte file."""
    return gif_with_frames((16, 16), [(0, 0, 16, 16), (offset, offset, 16, 16), (0, 0, 16, 16)])


def gif_many_frames(frames: int = 200, size: int = 16) -> bytes:
    """A ``size`` x ``size`` animation of ``frames`` solid frames (a few KB): cheap to read,
    expensive to upscale to 4096x4096 and hold every frame."""
    return gif_with_frames((size, size), [(0, 0, size, size)] * frames)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, body)."""
    chunks, i = [], 8
    while i < len(data):
        length = struct.unpack_from(">I", data, i)[0]
        chunks.append((data[i + 4:i + 8], data[i + 8:i + 8 + length]))
        i += 12 + length
    return chunks


def apng_invalid_frame() -> bytes:
    """A 3-frame APNG whose second frame control (fcTL) declares a frame larger than the canvas."""
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "green", "blue")]
    data = _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50, loop=0)
    out, seen = [], 0
    for kind, body in png_chunks(data):
        if kind == b"fcTL":
            seen += 1
            if seen == 2:
                body = body[:4] + struct.pack(">II", 4000, 4000) + body[12:]
        out.append(_png_chunk(kind, body))
    return data[:8] + b"".join(out)


def _exif(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """Raw little-endian EXIF (APP1 body) with IFD0 ``entries`` of (tag, type, count, value<=4 bytes)."""
    body = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        body += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + body + struct.pack("<I", 0)


def jpeg_with_exif(entries: list[tuple[int, int, int, bytes]], size: tuple[int, int] = (40, 20)) -> bytes:
    """A JPEG, red on its left half and blue on its right, carrying EXIF IFD0 ``entries``."""
    im = Image.new("RGB", size, (220, 30, 30))
    im.paste((30, 40, 220), (size[0] // 2, 0, size[0], size[1]))
    return _save(im, "JPEG", quality=95, exif=_exif(entries))


#: EXIF tags of integer types stored as FLOAT (11) or DOUBLE-sized values: Orientation, the
#: Exif IFD pointer and the GPS IFD pointer (their IFD offsets become floats).
FLOAT_EXIF = {
    "orientation-float": [(0x0112, 11, 1, struct.pack("<f", 6.0))],
    "orientation-float-nan": [(0x0112, 11, 1, struct.pack("<f", float("nan")))],
    "exif-ifd-pointer-float": [(0x8769, 11, 1, struct.pack("<f", 26.0))],
    "gps-ifd-pointer-float": [(0x8825, 11, 1, struct.pack("<f", 26.0))],
    "orientation-rational": [(0x0112, 5, 1, struct.pack("<I", 0))],  # points at offset 0: 8 bytes of header
    "orientation-text": [(0x0112, 2, 2, b"6\0")],
    "orientation-negative": [(0x0112, 8, 1, struct.pack("<h", -3))],
}


def float_tiff(low: float = 0.0, high: float = 1.0, size: tuple[int, int] = (64, 64)) -> bytes:
    """A 32-bit float greyscale TIFF (mode ``F``, SampleFormat 3): a left-to-right ramp from ``low`` to ``high``."""
    ramp = Image.linear_gradient("L").rotate(90).resize(size).convert("F")
    return _save(ramp.point(lambda v: low + (high - low) * v / 255.0), "TIFF")


def grey16(fmt: str, mode: str = "I;16", size: tuple[int, int] = (64, 64)) -> bytes:
    """A 16-bit greyscale ramp (0 on the left to 65535 on the right) as ``fmt`` in ``mode``."""
    ramp = Image.linear_gradient("L").rotate(90).resize(size).convert("I").point(lambda v: v * 257)
    if fmt == "PNG":
        return _save(ramp.convert(mode) if mode != "I" else ramp, "PNG")
    return _save(ramp.convert(mode), fmt)


def int32_tiff(signed: bool, size: tuple[int, int] = (64, 64)) -> bytes:
    """A 32-bit integer greyscale TIFF (Pillow opens it as mode ``I``): a left-to-right ramp over the
    type's whole non-negative range, 0 to 2**31-1 (signed, SampleFormat 2) or 2**32-1 (unsigned, 1)."""
    w, h = size
    top = 2**31 - 1 if signed else 2**32 - 1
    row = b"".join(struct.pack("<i" if signed else "<I", round(top * x / (w - 1))) for x in range(w))
    pixels = row * h
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 32), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, h), (279, 4, 1, len(pixels)),
               (339, 3, 1, 2 if signed else 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        value = data_offset if tag == 273 else value
        ifd += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3
                                                       else struct.pack("<I", value))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + pixels

def jpeg_cut_with_eoi(keep: float = 0.3) -> bytes:
    """A photo's JPEG cut to ``keep`` of its bytes, with an end-of-image marker appended: libjpeg
    only warns (premature end of data segment) and fills the rest grey."""
    photo = _save(Image.linear_gradient("L").resize((256, 256)).convert("RGB").rotate(30), "JPEG", quality=95)
    return photo[: int(len(photo) * keep)] + b"\xff\xd9"


def jpeg_header_larger_than_data(size: int = 4000) -> bytes:
    """A 64x64 JPEG whose frame header (SOF0) claims ``size`` x ``size``: the data runs out after
    64x64 pixels' worth of blocks, and libjpeg fills the rest grey."""
    data = bytearray(_save(Image.linear_gradient("L").resize((64, 64)).convert("RGB"), "JPEG", quality=90))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", size, size)
    return bytes(data)


def jpeg_solid_mid_grey() -> bytes:
    """An intact JPEG that is mid-grey (128) to its last pixel: must render, not be taken for cut short."""
    return _save(Image.new("RGB", (64, 64), (128, 128, 128)), "JPEG", quality=95)


def png_icc_profile_bomb(inflated: int = 5_000_000) -> bytes:
    """An 8x8 PNG whose iCCP chunk (the ICC profile, zlib-compressed) inflates to ``inflated`` bytes."""
    png = _save(Image.new("RGB", (8, 8)), "PNG")
    icc = _png_chunk(b"iCCP", b"big\x00\x00" + zlib.compress(b"\x00" * inflated))
    return png[:33] + icc + png[33:]  # right after IHDR


#: One instance of each kind: name -> (generator, the reason it must give, or None for "renders").
CORPUS: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "jpeg-scan-flood": (jpeg_scan_flood, "TooComplex"),
    "tiff-page-chain": (tiff_page_chain, None),
    "gif-frame-outside-screen": (gif_frame_outside_screen, "ImageTooLarge"),
    "gif-frame-outside-screen-within-limit": (lambda: gif_frame_outside_screen(3000), None),
    # 1.5 MB: 200 frames of 3000x3000 spent the whole CPU budget; the decode budget cuts it at 44.
    "gif-long-animation-of-huge-frames": (lambda: gif_many_frames(200, 3000), None),
    # Found by a fresh user: a cut JPEG that still ends in FFD9 came out half grey, "succeeded".
    "jpeg-cut-with-eoi": (jpeg_cut_with_eoi, "TruncatedImage"),
    "jpeg-header-larger-than-data": (jpeg_header_larger_than_data, "TruncatedImage"),
    "jpeg-solid-mid-grey": (jpeg_solid_mid_grey, None),
    "png-icc-profile-bomb": (png_icc_profile_bomb, "MetadataTooLarge"),
    "gif-frame-past-bomb-limit": (lambda: gif_frame_outside_screen(20_000), "ImageTooLarge"),
    "apng-invalid-frame": (apng_invalid_frame, "CorruptImage"),
    "tiff-first-page-without-width": (lambda: tiff_without_dimensions(0), "CorruptImage"),
    "tiff-second-page-without-width": (lambda: tiff_without_dimensions(1), None),
    **{f"exif-{name}": ((lambda e=e: jpeg_with_exif(e)), None) for name, e in FLOAT_EXIF.items()},
    "float-tiff-0-1": (float_tiff, None),
    "grey16-png": (lambda: grey16("PNG"), None),
    "grey16-tiff-big-endian": (lambda: grey16("TIFF", "I;16B"), None),
    "gif-200-frames": (gif_many_frames, None),
}

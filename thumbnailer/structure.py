"""Cheap looks at a file's structure, before any decoder runs: magic numbers and JPEG scans.

Nothing here decodes pixels or trusts a length beyond the file: each walk costs
a fraction of a second on the largest accepted upload.
"""

from __future__ import annotations

import re
from typing import BinaryIO

#: Most scans a JPEG may have. A progressive JPEG from libjpeg(-turbo)'s default script has
#: 10 and mozjpeg's optimised ones about as many; every scan makes libjpeg walk the whole
#: coefficient buffer, so thousands of cheap scans cost minutes (libjpeg-turbo's LJT-01-004,
#: which its ``djpeg -maxscans`` and TurboJPEG's ``TJPARAM_SCANLIMIT`` exist to stop).
MAX_JPEG_SCANS = 100

#: The end of entropy-coded data: an 0xFF that is not a stuffed 0xFF00, a restart marker or a fill byte.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")

#: (offset, magic bytes) -> the Pillow format those bytes announce.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"), (0, b"\x89PNG\r\n\x1a\n", "PNG"), (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"), (0, b"II*\x00", "TIFF"), (0, b"MM\x00*", "TIFF"), (0, b"BM", "BMP"),
    (8, b"WEBP", "WEBP"), (4, b"ftypavif", "AVIF"), (4, b"ftypavis", "AVIF"),
)


def announced_format(head: bytes) -> str | None:
    """The format a file's first bytes announce (its magic number), or None.

    Used to tell a damaged file of a known format (``CorruptImage``) from a file
    that is no image at all (``NotAnImage``) when Pillow identifies neither.
    """
    for offset, magic, fmt in _MAGIC:
        if head[offset:offset + len(magic)] == magic and (fmt != "WEBP" or head[:4] == b"RIFF"):
            return fmt
    return None


def count_jpeg_scans(fp: BinaryIO, limit: int = MAX_JPEG_SCANS) -> int:
    """The number of start-of-scan (SOS) markers in the JPEG ``fp``, counting stops past ``limit``.

    Walks the marker segments (ITU-T T.81 Annex B): a segment's length is
    skipped; after an SOS the entropy-coded data runs to the next ``0xFF`` that
    is neither a stuffed ``0xFF00`` nor a restart marker ``RST0``..``RST7``.
    Reads the whole file once (at most ``MAX_BYTES``), leaves ``fp`` rewound.
    A damaged structure ends the count early; the decoder reports the damage.
    """
    fp.seek(0)
    data = fp.read()
    fp.seek(0)
    scans, i, end = 0, 2, len(data)
    while i + 4 <= end and scans <= limit:
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill bytes before a marker
            i += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if marker != 0xDA:
            continue
        scans += 1
        found = _NEXT_MARKER.search(data, i)  # in C: a file of stuffed bytes costs no Python loop
        if not found:
            break
        i = found.start()
    return scans


def count_gif_frames(fp: BinaryIO, limit: int) -> int:
    """The number of images (frames) in the GIF ``fp``, counting stops at ``limit``.

    Walks the blocks (GIF89a sections 17-27): extensions and image data are
    skipped sub-block by sub-block, nothing is decompressed. Reads the file
    once; ``fp`` is left rewound. A damaged structure ends the count early.
    """
    fp.seek(0)
    data = fp.read()
    fp.seek(0)
    if len(data) < 13:
        return 0
    i = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # header, screen, global colour table
    frames = 0

    def skip_sub_blocks(at: int) -> int:
        while at < len(data) and data[at]:
            at += 1 + data[at]
        return at + 1

    while i < len(data) and frames < limit:
        block = data[i]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            i = skip_sub_blocks(i + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW minimum code size, sub-blocks
            if i + 10 > len(data):
                break
            flags = data[i + 9]
            i += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
            i = skip_sub_blocks(i + 1)
            frames += 1
        else:
            break
    return frames

"""Reading an upload: bounded, spooled to disk past a threshold, sniffed from its bytes."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Iterable

from thumbnailer.sniff import open_image, source_frame_count
from thumbnailer.structure import count_gif_frames

_CHUNK = 64 * 1024

#: Pillow format -> (MIME type, file extension) for stored sources.
MEDIA_TYPES = {
    "JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"), "TIFF": ("image/tiff", "tif"), "BMP": ("image/bmp", "bmp"),
    "AVIF": ("image/avif", "avif"), "HEIF": ("image/heic", "heic"),
}


class TooLarge(Exception):
    """The upload is over the byte limit (HTTP 413)."""


@dataclass
class Upload:
    """A received upload: ``file`` (rewound) holds ``size`` bytes of a ``format`` image
    of ``width`` x ``height`` pixels, playing ``frames`` frames (counted up to the frame limit)."""

    file: BinaryIO
    size: int
    sha256: str
    format: str
    media_type: str
    extension: str
    width: int
    height: int
    frames: int = 1


def spool(chunks: Iterable[bytes], max_bytes: int, memory_bytes: int) -> tuple[BinaryIO, int, str]:
    """Copy ``chunks`` into a temporary file (memory up to ``memory_bytes``, then disk).

    Raises :class:`TooLarge` as soon as more than ``max_bytes`` arrive; the rest
    is not read. An error reading ``chunks`` (e.g. :class:`TimeoutError`) is
    raised as it is; either way the temporary file is gone. Returns (the rewound file, its size in
    bytes, its SHA-256 hex digest).
    """
    out = tempfile.SpooledTemporaryFile(max_size=memory_bytes)
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"the upload is over the limit of {max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
    except BaseException:  # over the limit, or reading failed (a stalled client: TimeoutError)
        out.close()
        raise
    out.seek(0)
    return out, size, digest.hexdigest()


def read_chunks(stream: BinaryIO) -> Iterable[bytes]:
    """Yield a stream's content in 64 KiB chunks."""
    while chunk := stream.read(_CHUNK):
        yield chunk


class CountingInput:
    """A WSGI ``wsgi.input`` that counts the bytes it hands out (``received``).

    A server such as gunicorn returns a short read, not an error, when the client
    closes its side before sending Content-Length bytes, and falcon's
    ``BoundedStream`` counts what was asked for rather than what arrived; this
    count is what tells an upload cut off by the client.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.received += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        line = self._stream.readline(size)
        self.received += len(line)
        return line

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = self._stream.readlines(hint)
        self.received += sum(map(len, lines))
        return lines

    def __iter__(self):
        return iter(self.readline, b"")


def inspect(file: BinaryIO, size: int, sha256: str, max_pixels: int, max_frames: int = 200) -> Upload:
    """Identify the image from its bytes, check its declared size and count its frames; decodes no pixels.

    Frames are counted up to ``max_frames`` (what the resizer keeps): a GIF by
    walking its blocks (:func:`thumbnailer.structure.count_gif_frames`, no LZW
    decoding), an APNG or animated WebP from its header. Raises
    :class:`thumbnailer.api.ImageRejected` (see ``open_image``).
    """
    img = open_image(file, max_pixels)
    fmt = img.format or ""
    width, height = img.size
    if fmt == "GIF":
        frames = max(1, count_gif_frames(file, max_frames))
    else:
        frames = min(source_frame_count(img, max_pixels), max_frames)
    del img  # not close(): that would close the caller's file
    file.seek(0)
    media_type, ext = MEDIA_TYPES.get(fmt, ("application/octet-stream", "bin"))
    return Upload(file, size, sha256, fmt, media_type, ext, width, height, frames)


"""Identify an image from its bytes and check it against the limits, decoding no pixels.

Shared by the uploader (which refuses what it can before storing anything) and the
resizer (which checks again before decoding), so that neither imports the other and
the uploader never loads the resizer's image pipeline. Importing this module changes
no Pillow setting: :func:`apply_pillow_limits` does, called once by each program at
start (the uploader's app factory, the resizer's thumbnailing module).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import struct
import warnings
from typing import BinaryIO, Iterator

from PIL import Image, ImageFile, PngImagePlugin

from .api import DEFAULT_MAX_PIXELS, ImageRejected
from .structure import announced_format

#: Decoders Pillow may use. Everything else (SVG, PDF, EPS, PSD, ...) is refused.
#: HEIF (HEIC from iPhones) comes from the pillow-heif wheel, AVIF from Pillow itself.
INPUT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF", "HEIF")
#: ISO-BMFF major brands that mean HEIF/HEIC (ISO/IEC 23008-12); AVIF's are "avif"/"avis".
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")

#: Pillow's plugin module for each format here that ``Image.preinit()`` does not load (it loads BMP,
#: GIF, JPEG, PNG and PPM); HEIF is pillow-heif's (:func:`_register_heif`).
_PLUGINS = {"WEBP": "WebPImagePlugin", "TIFF": "TiffImagePlugin", "AVIF": "AvifImagePlugin"}

#: Output formats that hold one frame: an animation requested in one becomes a still of its first frame.
STILL_FORMATS = frozenset({"jpeg"})

#: The most text Pillow may inflate from a PNG's tEXt/zTXt/iTXt chunks, bytes (Pillow's
#: default is 64 MB in total); a thumbnail never needs them, and a zTXt bomb stops here.
PNG_TEXT_LIMIT = 1024 * 1024


def apply_pillow_limits() -> None:
    """Set Pillow's process-wide limits for untrusted input: :data:`PNG_TEXT_LIMIT`, and
    truncated data an error, never a silent grey half (``LOAD_TRUNCATED_IMAGES``, Pillow's
    default, made explicit). Idempotent; call it at start, before serving."""
    PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_LIMIT
    ImageFile.LOAD_TRUNCATED_IMAGES = False


def _sniff_text(head: bytes) -> str | None:
    """Name a text format (SVG, HTML, XML) from the first bytes, or None."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head.lower()):
        return "SVG"
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if text.startswith(b"<?xml"):
        return "XML"
    return None


def load_plugins(*formats: str) -> None:
    """Import Pillow's plugins for ``formats`` (Pillow's names: ``"WEBP"``) and the common ones, no others.

    ``Image.init()`` imports all of Pillow's ~45 plugins (about 100 million instructions, some
    20 ms of a cold start; the AVIF one loads libavif), and ``Image.open``/``Image.save`` call it
    for a format not registered yet; registering the one a file needs first keeps them from it. A plugin that cannot be
    imported leaves its format unregistered, as ``Image.init()`` does.
    """
    Image.preinit()
    for fmt in formats:
        if fmt in _PLUGINS:
            with contextlib.suppress(ImportError):
                importlib.import_module(f"PIL.{_PLUGINS[fmt]}")


def _open(fp: BinaryIO, head: bytes) -> Image.Image:
    """``Image.open`` with only the accepted decoders, importing only the plugin the file needs.

    That is the plugin of the format its magic number announces; a file announcing none, or one
    its announced decoder cannot identify (a polyglot), is offered to every accepted format, as
    when every plugin was loaded up front. Raises what ``Image.open`` raises.
    """
    announced = announced_format(head)
    load_plugins(*([announced] if announced else INPUT_FORMATS))
    try:
        return Image.open(fp, formats=[f for f in INPUT_FORMATS if f in Image.OPEN])
    except Image.UnidentifiedImageError:
        if not announced:
            raise
    load_plugins(*INPUT_FORMATS)
    fp.seek(0)
    return Image.open(fp, formats=[f for f in INPUT_FORMATS if f in Image.OPEN])


def _register_heif() -> bool:
    """Register pillow-heif's decoder on first need (it costs ~6 MB and 30 ms to import)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def open_image(fp: BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Identify ``fp`` from its bytes and check its declared size; decodes no pixels.

    Raises :class:`ImageRejected` with reason ``EmptyFile``, ``UnsupportedFormat``
    (SVG and other vector or text formats: they can carry scripts and external
    references), ``NotAnImage``, ``MetadataTooLarge`` or ``ImageTooLarge``
    (width x height over ``max_pixels``, read from the header).
    """
    head = fp.read(512)
    fp.seek(0)
    if not head:
        raise ImageRejected("EmptyFile", "the file is empty (0 bytes)")
    kind = _sniff_text(head)
    if kind == "SVG":
        raise ImageRejected("UnsupportedFormat", "SVG is not supported: only raster images are accepted "
                                                 "(vector files can carry scripts and external references)")
    if kind:
        raise ImageRejected("NotAnImage", f"the file is {kind}, not an image")
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS and not _register_heif():
        raise ImageRejected("UnsupportedFormat", "HEIC/HEIF images are not supported by this installation "
                                                 "(the pillow-heif decoder is missing)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; we decide below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = _open(fp, head)
    except Image.DecompressionBombError as e:  # Pillow's hard stop at 2x MAX_IMAGE_PIXELS
        declared = re.search(r"\((\d+) pixels\)", str(e))
        size = (f"{int(declared.group(1)) / 1e6:.1f} megapixels" if declared
                else f"more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels")
        raise ImageRejected(
            "ImageTooLarge",
            f"the image declares {size}, over the limit of {max_pixels / 1e6:.1f} megapixels "
            "(decompression bomb protection)",
        ) from e
    except Image.UnidentifiedImageError as e:
        announced = announced_format(head)
        if announced:  # Pillow's plugin for it failed (e.g. a TIFF page without ImageWidth): damaged
            raise ImageRejected("CorruptImage", f"the file starts as a {announced} image but its structure "
                                                "is damaged (no decoder can read its header)") from e
        raise ImageRejected("NotAnImage", "cannot identify an image format in the file (accepted: "
                                          + ", ".join(INPUT_FORMATS) + ")") from e
    except ValueError as e:  # PNG zTXt/iTXt/iCCP chunks that inflate past Pillow's cap
        if "MAX_TEXT_CHUNK" in str(e):  # Pillow's cap for every compressed PNG chunk, the ICC profile's too
            limit = PngImagePlugin.MAX_TEXT_CHUNK / 1024**2
            raise ImageRejected("MetadataTooLarge", "a compressed metadata chunk (text or ICC profile) inflates "
                                                    f"past {limit:g} MB, the most the PNG reader takes") from e
        raise ImageRejected("MetadataTooLarge", f"the image's metadata is too large to read ({e})") from e
    except DECODER_ERRORS as e:
        raise ImageRejected("CorruptImage", f"the image header is damaged ({describe(e)})") from e
    w, h = img.size
    if w * h > max_pixels:
        screen = gif_screen(head) if img.format == "GIF" else None
        what = (f"its first frame lies outside its {screen[0]}x{screen[1]} logical screen and grows the canvas to"
                if screen and screen != (w, h) else "the image declares")
        raise ImageRejected(
            "ImageTooLarge",
            f"{what} {w}x{h} pixels ({w * h / 1e6:.1f} megapixels), over the limit of "
            f"{max_pixels / 1e6:.1f} megapixels (decompression bomb protection)",
        )
    if w <= 0 or h <= 0:
        raise ImageRejected("CorruptImage", f"the image declares an empty size {w}x{h}")
    return img


def gif_screen(head: bytes) -> tuple[int, int] | None:
    """A GIF's logical screen (width, height) from its first bytes (bytes 6-9, GIF89a section 18).

    Browsers paint only the logical screen; Pillow grows its canvas to cover a frame
    placed outside it, so the resizer cuts the canvas back to this.
    """
    if len(head) < 10 or not head.startswith((b"GIF87a", b"GIF89a")):
        return None
    screen = (int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little"))
    return screen if screen[0] > 0 and screen[1] > 0 else None


#: What Pillow's decoders and plugins raise on a malformed file. Besides the documented
#: OSError/SyntaxError (a damaged structure), plugins let through the errors of the code
#: that parses the structure: a missing tag (KeyError, TypeError "Missing dimensions"),
#: a short field (struct.error, IndexError), an absurd value (ZeroDivisionError, OverflowError).
DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, KeyError, TypeError, IndexError,
                  struct.error, ZeroDivisionError, OverflowError)


def describe(error: BaseException) -> str:
    """``<ExceptionType>: <text>`` on one line, the text cut to 200 characters."""
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def decoding(what: str, max_pixels: int) -> Iterator[None]:
    """Map what Pillow raises while reading ``what`` (e.g. "frame 3") to :class:`ImageRejected`.

    ``Image.DecompressionBombError`` (Pillow's own stop at twice ``MAX_IMAGE_PIXELS``, raised
    when a frame grows the canvas) is ``ImageTooLarge``; a truncated stream ``TruncatedImage``;
    any other :data:`DECODER_ERRORS` ``CorruptImage``. ``MemoryError`` and bugs pass through.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked by us
            yield
    except ImageRejected:
        raise
    except Image.DecompressionBombError as e:
        raise ImageRejected("ImageTooLarge", f"{what} is over the limit of {max_pixels / 1e6:.1f} megapixels "
                                             f"(decompression bomb protection): {describe(e)}") from e
    except OSError as e:
        if "truncated" in str(e) or "not enough data" in str(e).lower():
            raise ImageRejected("TruncatedImage", f"{what} is truncated: the file ends before its image data does") from e
        raise ImageRejected("CorruptImage", f"{what} cannot be decoded ({describe(e)})") from e
    except DECODER_ERRORS as e:
        raise ImageRejected("CorruptImage", f"{what} cannot be decoded ({describe(e)})") from e


#: Formats whose frames are an animation (TIFF pages are separate images: the first is rendered).
ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG"})


def source_frame_count(img: Image.Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """How many frames an opened image plays: 1 for a still, and for every TIFF.

    TIFF pages are never walked: the first page is the image, and Pillow's page
    count follows every IFD from the start each time (quadratic: 40,000 one-pixel
    pages cost 12 s of CPU). A GIF's frames are counted by reading every frame's
    header (linear, about 0.1 s of CPU per MB of tiny frames); an APNG's and an
    animated WebP's count comes from their headers. Raises :class:`ImageRejected`
    (``ImageTooLarge`` for a frame past Pillow's own bomb limit, ``CorruptImage``).
    """
    if img.format not in ANIMATED_FORMATS:
        return 1
    with decoding("the animation", max_pixels):
        if not getattr(img, "is_animated", False):
            return 1
        return max(1, int(img.n_frames))


def check_output_budget(width: int, height: int, frames: int, max_output_pixels: int) -> None:
    """Raise :class:`ImageRejected` ``OutputTooLarge`` when ``width`` x ``height`` x ``frames``
    (pixels) of the thumbnail is over ``max_output_pixels`` (every output frame is held until
    encoded). The uploader asks before storing anything, the resizer before decoding."""
    pixels = width * height * frames
    if pixels > max_output_pixels:
        shape = f"{width}x{height}" + (f" x {frames} frames" if frames > 1 else "")
        raise ImageRejected("OutputTooLarge", f"the thumbnail would be {shape} ({pixels / 1e6:.1f} megapixels), "
                                              f"over the output budget of {max_output_pixels / 1e6:.1f} "
                                              "megapixels (MAX_OUTPUT_PIXELS): ask for a smaller size"
                                              + (" or fewer frames" if frames > 1 else ""))

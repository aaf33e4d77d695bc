"""The thumbnailing core: an image file in, an encoded thumbnail out. No I/O beyond the file.

The path every image takes (each step names the fault it prevents):

1. **Sniff and open** from the bytes, never the name, with only the allowed
   decoders (:data:`thumbnailer.sniff.INPUT_FORMATS`, :func:`thumbnailer.sniff.open_image`). SVG and other
   non-rasters are refused.
2. **Decompression bomb**: the declared width x height is checked against the
   pixel limit from the header, before any pixel is decoded, and again for every
   animation frame as it is reached (a frame may grow the canvas).
   **Cost bombs**: a JPEG with more than :data:`~thumbnailer.structure.MAX_JPEG_SCANS`
   scans is refused from its markers (``TooComplex``); a TIFF's later pages are never
   walked; the output (width x height x frames) has a budget (``OutputTooLarge``);
   and the program runs under a CPU-time budget (:mod:`resizer.budget`).
3. **Decode** (JPEG via ``draft`` at the smallest DCT scale that still covers
   the target, which Pillow documents as lossless for quality at 2x the
   target); a truncated or corrupt file fails with a reason (a JPEG also when its
   data stops early before an end marker, which libjpeg only warns about).
4. **EXIF orientation** applied (:func:`exif_orientation`, then a transpose; the
   source's EXIF is never re-serialised), so phone photos are upright and the crop
   is taken from the displayed image. An unusable EXIF value counts as upright.
5. **Colour**: an embedded ICC profile (Adobe RGB, Display P3, CMYK press
   profiles) is converted to sRGB with LittleCMS; CMYK without a profile uses
   Pillow's conversion; 16-bit greyscale is scaled (value/257), not clipped, and a
   32-bit integer TIFF by its type's range (unsigned to 2**32-1, signed to 2**31-1);
   32-bit float greyscale in 0..1 (the TIFF convention, SampleFormat 3) is scaled x255;
   1-bit and palette images are widened so resampling can antialias.
6. **Resample** per :mod:`resizer.geometry` with Lanczos on premultiplied alpha
   (no dark fringes around transparent edges).
7. **Encode** with no metadata at all (no EXIF, XMP, GPS, comments, no ICC:
   the pixels are sRGB). Default format: JPEG for opaque stills, PNG for
   stills with transparency, GIF for animations.
"""

from __future__ import annotations

import contextlib
import functools
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Iterator

from PIL import Image, ImageFile

from thumbnailer.api import (DEFAULT_FIT, DEFAULT_HEIGHT, DEFAULT_MAX_ANIMATION_PIXELS, DEFAULT_MAX_FRAMES,
                             DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_MAX_PIXELS, DEFAULT_WIDTH, OUTPUT_EXTENSIONS,
                             ImageRejected)
from thumbnailer.sniff import (DECODER_ERRORS, STILL_FORMATS, apply_pillow_limits, check_output_budget, decoding,
                               gif_screen, load_plugins, open_image, source_frame_count)
from thumbnailer.structure import MAX_JPEG_SCANS, count_jpeg_scans

from .geometry import Fit, plan

if TYPE_CHECKING:  # imported where an image carries an ICC profile (_to_srgb), not for every image
    from PIL import ImageCms

#: Output formats: name -> (Pillow format, content type, file extension, carries alpha).
OUTPUT_FORMATS = {
    "jpeg": ("JPEG", "image/jpeg", OUTPUT_EXTENSIONS["jpeg"], False),
    "png": ("PNG", "image/png", OUTPUT_EXTENSIONS["png"], True),
    "webp": ("WEBP", "image/webp", OUTPUT_EXTENSIONS["webp"], True),
    "gif": ("GIF", "image/gif", OUTPUT_EXTENSIONS["gif"], True),
}
apply_pillow_limits()  # the resizer is a single-threaded program: its limits are set once, here


@dataclass(frozen=True)
class ThumbnailSpec:
    """What to make: ``width`` x ``height`` pixels, a fit mode, an output format
    (``None`` = chosen from the source) and the safety limits."""

    width: int = DEFAULT_WIDTH
    height: int = DEFAULT_HEIGHT
    fit: Fit = DEFAULT_FIT  # type: ignore[assignment]
    format: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_frames: int = DEFAULT_MAX_FRAMES
    #: Decode budget: canvas pixels summed over the frames decoded; the animation is cut before the frame that would pass it.
    max_animation_pixels: int = DEFAULT_MAX_ANIMATION_PIXELS
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    #: Render what is there of a truncated file instead of failing (the missing part stays grey).
    accept_truncated: bool = False


@dataclass(frozen=True)
class Thumbnail:
    """An encoded thumbnail: ``data`` (bytes), its size in pixels, and how to serve it.

    ``frames`` is how many source frames it shows; ``source_frames`` how many
    the source animation has (1 for a still). ``frames < source_frames`` when
    the animation was cut at ``max_frames`` or ``max_animation_pixels``, or rendered as a still (JPEG).
    The GIF file itself can hold fewer frames: Pillow's GIF writer stores a run
    of identical frames once with their durations summed, so playback time is kept.
    """

    data: bytes
    width: int
    height: int
    format: str
    content_type: str
    extension: str
    frames: int = 1
    source_format: str = ""
    source_frames: int = 1


def _load(img: Image.Image, max_pixels: int, what: str = "the image data") -> None:
    with decoding(what, max_pixels):
        img.load()


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert to 8-bit sRGB in one of L, RGB, LA or RGBA (premultiplication comes later)."""
    icc = img.info.get("icc_profile")
    mode = img.mode
    if mode == "I" and (signed := _int32_samples(img)) is not None:
        img = _int32_to_grey(img, signed)
    elif mode.startswith("I;16") or mode == "I":
        # 16-bit: map 0..65535 to 0..255 (value/257). Pillow's convert("L") clips instead.
        img = img.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    elif mode == "F":
        # Float samples: 0..1 is the convention (TIFF SampleFormat 3, OpenEXR-style data); a file
        # whose values exceed 1 is taken as 0..255. Pillow's convert("L") clips, so 0..1 went black.
        low, high = img.getextrema()
        scale = 255.0 if high <= 1.0 else 1.0
        img = img.point(lambda v: v * scale).convert("L")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("P", "PA"):
        img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
    elif mode == "LA" or mode == "La":
        img = img.convert("LA")
    elif mode not in ("L", "RGB", "RGBA", "CMYK"):
        img = img.convert("RGBA" if "A" in mode else "RGB")
    if icc and img.mode in ("RGB", "RGBA", "CMYK"):
        from PIL import ImageCms  # LittleCMS: imported only for an image that carries a profile

        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
            img = ImageCms.profileToProfile(img, src, _srgb_profile(), outputMode=out_mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile: fall back to treating the pixels as sRGB
    if img.mode == "CMYK":
        img = img.convert("RGB")
    return img


@functools.cache
def _srgb_profile() -> ImageCms.core.CmsProfile:
    """The sRGB profile every ICC conversion targets, made once per process on first need."""
    from PIL import ImageCms

    return ImageCms.createProfile("sRGB")


#: TIFF tags (TIFF 6.0): BitsPerSample, and SampleFormat (1 unsigned integer, the default; 2 signed).
_BITS_PER_SAMPLE, _SAMPLE_FORMAT = 258, 339


def _int32_samples(img: Image.Image) -> bool | None:
    """For a TIFF of 32-bit integer samples (Pillow's mode ``I``): True if signed, False if unsigned;
    None for anything else (mode ``I`` from 16-bit data)."""
    tags = getattr(img, "tag_v2", None)
    if img.format != "TIFF" or tags is None:
        return None

    def first(tag: int, default: int) -> object:
        value = tags.get(tag, default)  # a tuple per sample, or one value
        return value[0] if isinstance(value, tuple) and value else value

    return first(_SAMPLE_FORMAT, 1) == 2 if first(_BITS_PER_SAMPLE, 0) == 32 else None


def _int32_to_grey(img: Image.Image, signed: bool) -> Image.Image:
    """32-bit integer grey to 8 bits, scaled by the type's range (BlackIsZero: 0 is black, the
    largest value white; a signed image's negative values are black).

    Pillow keeps 32-bit samples in mode ``I`` (signed 32-bit), so unsigned values past 2**31 wrap
    negative there, and ``convert("L")`` clips at 255: a whole 32-bit ramp came out white. The same
    bytes are read again as floats of the right signedness (raw modes ``F;32NS`` / ``F;32N``), then scaled.
    """
    top = 2**31 - 1 if signed else 2**32 - 1
    floats = Image.frombytes("F", img.size, img.tobytes(), "raw", "F;32NS" if signed else "F;32N")
    return floats.point(lambda v: v * (255 / top)).convert("L")


def _drop_unused_alpha(img: Image.Image) -> Image.Image:
    """``img`` as RGB or L when its alpha channel is fully opaque, else unchanged; afterwards
    an RGBA or LA mode means some pixel is (partly) transparent."""
    if img.mode in ("RGBA", "LA") and img.getchannel("A").getextrema()[0] == 255:
        return img.convert("RGB" if img.mode == "RGBA" else "L")
    return img


def _render(img: Image.Image, spec: ThumbnailSpec, transparent_pad: bool) -> Image.Image:
    """Resample an sRGB L/RGB/LA/RGBA image to exactly ``spec.width`` x ``spec.height``."""
    p = plan(img.size, (spec.width, spec.height), spec.fit)
    premultiplied = {"RGBA": "RGBa", "LA": "La"}.get(img.mode)
    work = img.convert(premultiplied) if premultiplied else img
    out = work.resize(p.scaled, Image.Resampling.LANCZOS, box=p.crop, reducing_gap=3.0)
    if premultiplied:
        out = out.convert(img.mode)
    if p.scaled != p.box:
        if transparent_pad:
            canvas = Image.new("RGBA", p.box, (0, 0, 0, 0))
            out = out.convert("RGBA")
        else:
            canvas = Image.new("RGB" if out.mode != "L" else "L", p.box, "white")
            out = _flatten(out)
        canvas.paste(out, p.offset, out if out.mode == "RGBA" else None)
        out = canvas
    return out


def _flatten(img: Image.Image) -> Image.Image:
    """Composite onto white, for formats without alpha."""
    if img.mode not in ("RGBA", "LA"):
        return img
    bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
    bg.alpha_composite(img.convert("RGBA"))
    return bg.convert("RGB" if img.mode == "RGBA" else "L")


def _duration(info: dict) -> int:
    """A frame's display time in ms from Pillow's ``info["duration"]``: 100 when absent, zero or unusable."""
    value = info.get("duration", 100)
    try:
        ms = int(value)
    except (TypeError, ValueError, OverflowError):  # NaN, text, a tuple from a damaged chunk
        return 100
    return ms if 0 < ms <= 65535 * 10 else 100


def _frames(img: Image.Image, spec: ThumbnailSpec, count: int,
            screen: tuple[int, int] | None = None) -> Iterator[tuple[Image.Image, int]]:
    """Yield (frame, duration ms) for the first ``count`` frames, each fully composited.

    The frame is ``img`` itself at that position (no copy: one decoded frame in
    memory); it is only valid until the caller asks for the next one. Each frame's
    canvas is checked against ``spec.max_pixels`` after the seek and before the
    decode: a GIF frame placed outside the logical screen makes Pillow grow the
    canvas to cover it (only a warning below twice ``MAX_IMAGE_PIXELS``). With
    ``screen`` (a GIF's logical screen, w x h), a grown canvas is cut back to it,
    as browsers paint only the logical screen.

    The first frame is always decoded; a later one only while the canvas pixels decoded so far plus
    its own stay within ``spec.max_animation_pixels`` (the decode budget): the animation is cut
    there, as at ``count``, so a long animation of huge frames ends in seconds instead of costing
    the whole CPU budget.
    """
    decoded = 0
    for i in range(count):
        what = f"frame {i + 1}"
        with decoding(what, spec.max_pixels):
            try:
                img.seek(i)
            except EOFError:  # fewer frames than announced (APNG's acTL can say anything)
                return
        w, h = img.size
        if w * h > spec.max_pixels:
            raise ImageRejected("ImageTooLarge", f"{what} grows the canvas to {w}x{h} pixels "
                                                 f"({w * h / 1e6:.1f} megapixels), over the limit of "
                                                 f"{spec.max_pixels / 1e6:.1f} megapixels (decompression bomb "
                                                 "protection)")
        if i and decoded + w * h > spec.max_animation_pixels:
            return
        decoded += w * h
        _load(img, spec.max_pixels, what)
        yield _on_screen(img, screen), _duration(img.info)


def _on_screen(img: Image.Image, screen: tuple[int, int] | None) -> Image.Image:
    """``img`` cut back to a GIF's logical ``screen`` (w x h) when Pillow grew the canvas past it, as
    browsers paint only the logical screen; otherwise ``img`` itself."""
    return img.crop((0, 0, *screen)) if screen and img.size != screen else img


def _render_animation(img: Image.Image, spec: ThumbnailSpec, carries_alpha: bool,
                      screen: tuple[int, int] | None = None) -> tuple[list[Image.Image], list[int]]:
    """Render the first ``spec.max_frames`` frames of an animation one at a time.

    Returns (thumbnail frames, durations in ms). Memory holds the frame being
    decoded and the small rendered ones, never every frame at source size: a
    300-frame 4000x4000 GIF is 4 MB on disk and would be 19 GB decoded at once.
    A frame without transparent pixels is resampled as opaque (RGB or L).
    """
    rendered, durations = [], []
    for frame, duration in _frames(img, spec, spec.max_frames, screen):
        r = _render(_drop_unused_alpha(_to_srgb(frame)), spec, transparent_pad=carries_alpha)
        rendered.append(r if carries_alpha else _flatten(r))
        durations.append(duration)
    # One mode for every frame: Pillow's APNG writer converts later frames to the first one's
    # mode, which would drop the transparency of a frame after an opaque first frame.
    modes = {r.mode for r in rendered}
    mode = "RGBA" if modes & {"RGBA", "LA"} else "RGB" if "RGB" in modes else "L"
    return [r if r.mode == mode else r.convert(mode) for r in rendered], durations


#: Longest GIF frame delay, ms: the Graphic Control Extension stores it in 16 bits of centiseconds (GIF89a, 23.c.iv).
GIF_MAX_DELAY_MS = 65535 * 10


def gif_run_durations(frames: list[Image.Image], durations: list[int]) -> list[int]:
    """``durations`` (ms) with every run of identical consecutive frames summing to at most
    :data:`GIF_MAX_DELAY_MS`.

    Pillow's GIF writer stores such a run once, with the durations summed, and raises
    OverflowError when the sum does not fit the 16-bit delay; the rest of a run that would
    overflow is cut (the run plays for 10.9 minutes, the format's limit).
    """
    if sum(durations) <= GIF_MAX_DELAY_MS:  # no run can overflow: no frame need be compared
        return durations
    out: list[int] = []
    run, previous = 0, None
    for frame, duration in zip(frames, durations, strict=True):
        pixels = frame.convert("RGBA").tobytes()
        if pixels == previous:
            duration = min(duration, GIF_MAX_DELAY_MS - run)
            run += duration
        else:
            run = duration
        previous = pixels
        out.append(duration)
    return out


def _encode(frames: list[Image.Image], durations: list[int], fmt: str, loop: int | None) -> bytes:
    pil_format = OUTPUT_FORMATS[fmt][0]
    out = io.BytesIO()
    for f in frames:
        # Nothing from the source reaches the output (EXIF, XMP, ICC, comments); only the GIF
        # transparency index that _prepare_gif_frames set is kept.
        f.info = {k: v for k, v in f.info.items() if k == "transparency"}
    first = frames[0]
    load_plugins(pil_format)  # else Image.save imports every plugin to find a writer not loaded yet (WebP)
    params: dict = {}
    if pil_format == "JPEG":
        params = {"quality": 85, "optimize": True, "progressive": True}
    elif pil_format == "PNG":
        params = {"optimize": True}
    elif pil_format == "WEBP":
        params = {"quality": 85, "method": 4}
    if len(frames) > 1:
        params.update(save_all=True, append_images=frames[1:], duration=durations)
        if loop is not None:  # no loop count in the source means "play once": keep it that way
            params["loop"] = loop
        if pil_format == "GIF":
            params["disposal"] = 2  # each output frame is complete: clear before drawing the next
            params["duration"] = gif_run_durations(frames, durations)
    first.save(out, pil_format, **params)
    return out.getvalue()


def _prepare_gif_frames(frames: list[Image.Image]) -> list[Image.Image]:
    """Map RGB(A) frames to one shared 255-colour palette; index 255 marks transparent pixels.

    One palette for the whole animation (from up to 16 sampled frames) keeps
    colours steady from frame to frame and costs one quantisation instead of one
    per frame. Pixels under 50% opacity become transparent (GIF has 1-bit alpha).
    ``frames`` is emptied as it is mapped: each RGB(A) frame (4 bytes a pixel) is
    released once its palette copy (1 byte a pixel) exists, so the peak is one
    extra frame, not a second copy of the animation.
    """
    sample = frames[:: max(1, len(frames) // 16)]
    w, h = frames[0].size
    sheet = Image.new("RGB", (w, h * len(sample)))
    for i, f in enumerate(sample):
        sheet.paste(f.convert("RGB"), (0, i * h))
    del sample
    # Fast octree: ~30x faster than median cut here, mean error 2.6 vs 2.3 levels (measured).
    palette = sheet.quantize(255, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    del sheet
    result = []
    frames.reverse()
    while frames:
        f = frames.pop()
        p = f.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
        if f.mode in ("RGBA", "LA"):
            mask = f.getchannel("A").point(lambda a: 255 if a < 128 else 0)
            p.paste(255, mask=mask)
            p.info["transparency"] = 255
        result.append(p)
    return result


#: Bytes Pillow hands libjpeg per decode call (its default is 64 KiB, ``PIL.ImageFile.MAXBLOCK``).
#: Python, and so the CPU budget's ``SIGXCPU`` handler (:mod:`resizer.budget`), runs only
#: between calls, and libjpeg works through a progressive JPEG's scans as their bytes arrive:
#: one 64 KiB read of a crafted file held about 3,800 scans of a 2048x2048 image, 13 s of CPU
#: in one call, longer than the hard limit's grace (so the pod would be killed with no reason
#: given). 4 KiB hold about 240 such scans, about 1 s.
JPEG_READ_BYTES = 4096


def make_thumbnail(fp: BinaryIO, spec: ThumbnailSpec = ThumbnailSpec()) -> Thumbnail:
    """Make a thumbnail of the image file ``fp`` (binary, seekable) as ``spec`` says.

    Returns a :class:`Thumbnail` of exactly ``spec.width`` x ``spec.height``
    pixels. An animation keeps its first ``spec.max_frames`` frames (with their
    durations and the loop count); in a still format (:data:`STILL_FORMATS`)
    it becomes its first frame. ``frames``/``source_frames`` on the result
    tell either cut. Raises :class:`ImageRejected` when the file is not a supported,
    intact image within the limits (see :func:`open_image`).

    A JPEG that lacks only its end-of-image marker is rendered (browsers do):
    the marker is added and libjpeg-turbo (simplejpeg, strict mode) must then
    decode every scan without a warning. Anything truncated further is
    ``TruncatedImage`` unless ``spec.accept_truncated``, including a JPEG whose
    image data stops early although an end-of-image marker follows (a cut file
    with ``FFD9`` appended, a header claiming more pixels than the data holds:
    libjpeg only warns and paints the rest grey; :func:`_check_jpeg_complete`).
    """
    try:
        return _make(fp, spec)
    except ImageRejected as e:
        if e.reason != "TruncatedImage":
            raise
        completed = _complete_jpeg(fp)
        if completed is not None:
            return _make(completed, spec)
        if not spec.accept_truncated:
            raise
    fp.seek(0)
    with _truncated_allowed():
        return _make(fp, spec)


@contextlib.contextmanager
def _truncated_allowed() -> Iterator[None]:
    """Let Pillow render truncated data (a process-wide Pillow switch; the resizer is single-threaded)."""
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _complete_jpeg(fp: BinaryIO) -> BinaryIO | None:
    """The JPEG in ``fp`` with its missing end-of-image marker added, if that is all it lacks; else None."""
    fp.seek(0)
    data = fp.read()
    if not data.startswith(b"\xff\xd8") or data.endswith(b"\xff\xd9"):
        return None
    candidate = data + b"\xff\xd9"
    try:
        _strict_jpeg_decode(candidate)
    except (ValueError, RuntimeError):
        return None  # libjpeg hit the end inside a scan: truly truncated
    return io.BytesIO(candidate)


def _strict_jpeg_decode(data: bytes) -> None:
    """Decode the JPEG ``data`` at 1/8 scale with libjpeg-turbo (simplejpeg) in strict mode, where
    libjpeg's warnings are errors: raises ``ValueError`` or ``RuntimeError`` with libjpeg's text.
    About 1 ms per megapixel; only on rare paths, since simplejpeg brings numpy (~125 ms, ~15 MB
    to import)."""
    import simplejpeg

    _, _, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    simplejpeg.decode_jpeg(data, colorspace="CMYK" if colorspace in ("CMYK", "YCCK") else "GRAY"
                           if colorspace == "Gray" else "RGB", strict=True, min_width=1, min_height=1,
                           min_factor=8.0)


#: libjpeg's warnings for entropy-coded data that stops early (jerror.h: JWRN_HIT_MARKER, JWRN_JPEG_EOF).
_CUT_SHORT_WARNINGS = ("premature end of data segment", "premature end of jpeg file")


def _unfilled_corner(img: Image.Image) -> bool:
    """Whether the decoded JPEG's bottom-right pixel is libjpeg's fill for missing data.

    When the entropy-coded data ends early but an end-of-image marker follows (a cut file with
    ``FFD9`` appended, or a header that claims more pixels than the data holds), libjpeg only
    warns ("premature end of data segment"), Pillow does not surface warnings, and every block not
    decoded comes out flat mid-grey: 128 in each component (127 after Pillow inverts Adobe CMYK).
    The last block is decoded last, so it is grey in every such file; the trigger for
    :func:`_check_jpeg_complete`, which decides.
    """
    corner = img.getpixel((img.width - 1, img.height - 1))
    return all(v in (127, 128) for v in (corner if isinstance(corner, tuple) else (corner,)))


def _check_jpeg_complete(fp: BinaryIO) -> None:
    """Raise ``TruncatedImage`` if libjpeg-turbo (simplejpeg, strict: warnings are errors) finds the
    JPEG's image data cut short; other warnings (extraneous bytes before a marker) are let pass,
    as Pillow renders those files whole. Called only when the corner looks unfilled."""
    fp.seek(0)
    data = fp.read()
    fp.seek(0)
    try:
        _strict_jpeg_decode(data)
    except (ValueError, RuntimeError) as e:
        if any(w in str(e).lower() for w in _CUT_SHORT_WARNINGS):
            raise ImageRejected("TruncatedImage", "the JPEG's image data ends before the picture does "
                                                  f"(libjpeg-turbo: {e}); the rest would be grey") from None


def _loop(info: dict) -> int | None:
    """The animation's loop count (0 = forever) if the source has a usable one, else None (play once)."""
    value = info.get("loop")
    return value if isinstance(value, int) and 0 <= value <= 65535 else None


def _make(fp: BinaryIO, spec: ThumbnailSpec) -> Thumbnail:
    check_output_budget(spec.width, spec.height, 1, spec.max_output_pixels)
    img = open_image(fp, spec.max_pixels)
    source_format = img.format or ""
    if source_format == "JPEG":
        if count_jpeg_scans(fp) > MAX_JPEG_SCANS:
            raise ImageRejected("TooComplex", f"the JPEG has more than {MAX_JPEG_SCANS} scans (a progressive "
                                              "JPEG has about 10): decoding it would cost minutes of CPU")
        img.decodermaxblock = JPEG_READ_BYTES
        _draft(img, spec)
    source_frames = source_frame_count(img, spec.max_pixels)
    # A still output format (JPEG) holds one frame: render the first, never decode the rest.
    animated = source_frames > 1 and spec.format not in STILL_FORMATS
    kept = min(source_frames, spec.max_frames) if animated else 1
    check_output_budget(spec.width, spec.height, kept, spec.max_output_pixels)
    loop = _loop(img.info)
    fp.seek(0)
    screen = gif_screen(fp.read(10)) if source_format == "GIF" else None
    fp.seek(0)
    fmt = spec.format or ("gif" if kept > 1 else None)
    if kept > 1:
        rendered, durations = _render_animation(img, spec, OUTPUT_FORMATS[fmt][3], screen)
    else:
        if source_frames > 1:  # an animation cut to its first frame (MAX_FRAMES 1, or a still format)
            frame, duration = next(_frames(img, spec, 1, screen))
            first, durations = _drop_unused_alpha(_to_srgb(frame)), [duration]
        else:
            _load(img, spec.max_pixels)
            if source_format == "JPEG" and not ImageFile.LOAD_TRUNCATED_IMAGES and _unfilled_corner(img):
                _check_jpeg_complete(fp)
            first, durations = _drop_unused_alpha(_to_srgb(_upright(_on_screen(img, screen)))), [0]
        alpha = first.mode in ("RGBA", "LA")
        if fmt is None:
            pads = plan(first.size, (spec.width, spec.height), spec.fit).scaled != (spec.width, spec.height)
            fmt = "png" if alpha or pads else "jpeg"
        carries_alpha = OUTPUT_FORMATS[fmt][3]
        r = _render(first, spec, transparent_pad=carries_alpha)
        rendered = [r if carries_alpha else _flatten(r)]
    if fmt == "gif":
        rendered = _prepare_gif_frames(rendered)
    data = _encode(rendered, durations, fmt, loop if animated else None)
    _, content_type, ext, _ = OUTPUT_FORMATS[fmt]
    return Thumbnail(data=data, width=spec.width, height=spec.height, format=fmt, content_type=content_type,
                     extension=ext, frames=len(rendered), source_format=source_format, source_frames=source_frames)


#: EXIF Orientation -> the transpose that makes the image upright (as ``ImageOps.exif_transpose``).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def _upright(img: Image.Image) -> Image.Image:
    """``img`` turned as its EXIF Orientation says (a new image), or ``img`` itself when upright.

    Not ``ImageOps.exif_transpose``: that re-serialises the source's EXIF for the
    result, and a tag of an integer type stored as a float (``ImageWidth`` as
    DOUBLE) makes it raise ``struct.error``; the output never carries EXIF anyway.
    """
    method = _UPRIGHT.get(exif_orientation(img))
    return img.transpose(method) if method is not None else img  # FLIP_LEFT_RIGHT is 0


def exif_orientation(img: Image.Image) -> int:
    """The EXIF Orientation (tag 0x0112; Pillow also reads XMP's ``tiff:Orientation``): 1 to 8.

    Anything else a file may store there (text ``"6"``, bytes, a list, 9, a negative
    rational, NaN) is not an orientation: Pillow leaves such an image as it is, so this
    answers 1 (upright) instead of letting the comparison raise, and so does EXIF that
    cannot be parsed at all. A float equal to 1..8 (``6.0``) counts, since Pillow's
    table lookup matches it too.
    """
    try:
        value = img.getexif().get(0x0112, 1)
    except DECODER_ERRORS:
        return 1
    try:
        return int(value) if isinstance(value, (int, float)) and value in range(1, 9) else 1
    except (TypeError, ValueError, OverflowError):
        return 1


def _draft(img: Image.Image, spec: ThumbnailSpec) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale (DCT scaling) while keeping at
    least 2x the pixels the crop needs, so Lanczos still has real detail."""
    oriented = img.size if exif_orientation(img) < 5 else img.size[::-1]
    p = plan(oriented, (spec.width, spec.height), spec.fit)
    crop_w, crop_h = p.crop[2] - p.crop[0], p.crop[3] - p.crop[1]
    k = min(crop_w / p.scaled[0], crop_h / p.scaled[1]) / 2
    if k > 1:
        img.draft(img.mode if img.mode in ("RGB", "L", "CMYK") else "RGB",
                  (int(img.size[0] / k), int(img.size[1] / k)))

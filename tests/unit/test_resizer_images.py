"""The resizer on real encoded files of every kind people upload.

Each input is encoded here with Pillow (or libjpeg-turbo via simplejpeg for
YCCK) into a real file, then thumbnailed through :func:`make_thumbnail`, and
the output is judged as a browser shows it (tests/casecheck.py).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import Image, ImageCms

from casecheck import browser_frames
from iccprofiles import ADOBE_RGB, DISPLAY_P3, rgb_profile
from thumbnailer.api import ImageRejected
from resizer.thumbnail import Thumbnail, ThumbnailSpec, make_thumbnail

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
BLUE, RED, YELLOW, GREEN = (20, 40, 220), (220, 30, 30), (240, 220, 20), (30, 160, 60)


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def thumb(data: bytes, **spec) -> Thumbnail:
    return make_thumbnail(io.BytesIO(data), ThumbnailSpec(**spec))


def near(got, want, tol=24) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(got, want, strict=False))  # RGBA against RGB: the first three


def quadrants(w=200, h=300) -> Image.Image:
    """Displayed (upright) image: top-left blue, top-right red, bottom-left yellow, bottom-right green."""
    img = Image.new("RGB", (w, h))
    for box, colour in (((0, 0, w // 2, h // 2), BLUE), ((w // 2, 0, w, h // 2), RED),
                        ((0, h // 2, w // 2, h), YELLOW), ((w // 2, h // 2, w, h), GREEN)):
        img.paste(colour, box)
    return img


# EXIF orientation n: how to store the upright image so that a viewer applying n shows it upright.
_STORE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
          4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
          7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied_before_the_crop_and_not_left_in_the_output(orientation, fmt):
    upright = quadrants()
    stored = upright.transpose(_STORE[orientation]) if _STORE[orientation] is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = thumb(encode(stored, fmt, exif=exif.tobytes()))
    shown = browser_frames(out.data)[0]
    for xy, colour in (((20, 20), BLUE), ((80, 20), RED), ((20, 80), YELLOW), ((80, 80), GREEN)):
        assert near(shown.getpixel(xy), colour), (orientation, xy, shown.getpixel(xy))
    assert Image.open(io.BytesIO(out.data)).getexif().get(0x0112) is None


def test_adobe_inverted_cmyk_jpeg_is_converted_correctly():
    data = encode(Image.new("CMYK", (120, 80), (255, 0, 0, 0)), "JPEG", quality=95)  # Pillow writes Adobe-inverted
    assert b"Adobe" in data
    assert near(browser_frames(thumb(data).data)[0].getpixel((50, 50)), (0, 255, 255), 16)


def test_ycck_jpeg_is_converted_correctly():
    inverted = np.zeros((80, 120, 4), dtype=np.uint8)
    inverted[...] = (0, 255, 255, 255)  # libjpeg-turbo takes CMYK inverted: full cyan, no other ink
    data = simplejpeg.encode_jpeg(inverted, quality=95, colorspace="CMYK")
    assert simplejpeg.decode_jpeg_header(data)[2] == "YCCK"
    assert near(browser_frames(thumb(data).data)[0].getpixel((50, 50)), (0, 255, 255), 16)


@pytest.mark.parametrize("profile", [("Display P3", DISPLAY_P3), ("Adobe RGB (1998)", ADOBE_RGB)],
                         ids=["display-p3", "adobe-rgb"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_icc_tagged_images_are_converted_to_srgb(profile, fmt):
    icc = rgb_profile(*profile)
    device = (60, 160, 60)
    data = encode(Image.new("RGB", (120, 80), device), fmt, icc_profile=icc, quality=95)
    expected = ImageCms.profileToProfile(Image.new("RGB", (1, 1), device), ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                         ImageCms.createProfile("sRGB")).getpixel((0, 0))
    assert not near(expected, device, 8)  # the test would notice an ignored profile
    out = thumb(data)
    assert near(browser_frames(out.data)[0].getpixel((50, 50)), expected, 6)
    assert "icc_profile" not in Image.open(io.BytesIO(out.data)).info


def test_16_bit_greyscale_is_scaled_not_clipped():
    arr = np.zeros((80, 120), dtype=np.uint16)
    arr[:, :60], arr[:, 60:] = 0xC000, 0x3000
    data = encode(Image.fromarray(arr), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    shown = browser_frames(thumb(data, fit="fill").data)[0]
    assert near(shown.getpixel((10, 50)), (192,) * 3, 4) and near(shown.getpixel((90, 50)), (48,) * 3, 4)


@pytest.mark.parametrize("mode", ["L", "1", "LA", "RGBA", "P"])
def test_every_common_mode_gives_a_thumbnail(mode):
    img = Image.new("RGB", (120, 80), (200, 200, 200))
    data = encode(img.convert(mode), "PNG")
    out = thumb(data)
    assert (out.width, out.height) == (100, 100) and browser_frames(out.data)[0].size == (100, 100)


def test_palette_png_with_an_alpha_table_keeps_its_partial_transparency():
    p = Image.new("P", (100, 100), 0)
    p.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    p.paste(1, (50, 0, 100, 100))
    data = encode(p, "PNG", transparency=bytes([128, 255]))  # entry 0: half-transparent red
    out = thumb(data)
    assert out.format == "png"
    rgba = Image.open(io.BytesIO(out.data)).convert("RGBA")
    r, g, b, a = rgba.getpixel((20, 50))
    assert 110 <= a <= 146 and r > 200 and b < 40
    assert rgba.getpixel((80, 50))[3] == 255


def test_transparency_is_kept_and_opaque_images_become_jpeg():
    rgba = Image.new("RGBA", (120, 80), (255, 120, 0, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 60, 80))
    out = thumb(encode(rgba, "PNG"))
    assert out.format == "png" and out.content_type == "image/png"
    decoded = Image.open(io.BytesIO(out.data)).convert("RGBA")
    assert decoded.getpixel((5, 50))[3] == 0 and decoded.getpixel((95, 50))[3] == 255
    assert thumb(encode(Image.new("RGBA", (50, 50), (1, 2, 3, 255)), "PNG")).format == "jpeg"  # alpha unused
    assert thumb(encode(Image.new("RGB", (50, 50)), "PNG")).format == "jpeg"


def test_requested_format_overrides_and_jpeg_flattens_onto_white():
    rgba = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    as_jpeg = thumb(encode(rgba, "PNG"), format="jpeg")
    assert as_jpeg.format == "jpeg" and near(Image.open(io.BytesIO(as_jpeg.data)).getpixel((50, 50)), (255,) * 3, 2)
    as_webp = thumb(encode(rgba, "PNG"), format="webp")
    assert as_webp.content_type == "image/webp" and Image.open(io.BytesIO(as_webp.data)).mode == "RGBA"


def animated_gif(colours, durations, loop=0, size=(60, 40)) -> bytes:
    frames = [Image.new("RGB", size, c) for c in colours]
    params = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if loop is not None:
        params["loop"] = loop
    return encode(frames[0], "GIF", **params)


def frame_info(data: bytes) -> tuple[int, list[int], int | None]:
    im = Image.open(io.BytesIO(data))
    durations = []
    for i in range(im.n_frames):
        im.seek(i)
        im.load()  # WebP sets a frame's duration when it is decoded
        durations.append(im.info["duration"])
    return im.n_frames, durations, im.info.get("loop")


def test_animated_gif_keeps_frames_durations_and_loop_count():
    out = thumb(animated_gif([(255, 0, 0), (0, 255, 0), (0, 0, 255)], [100, 200, 300], loop=3))
    assert out.format == "gif" and out.frames == 3
    assert frame_info(out.data) == (3, [100, 200, 300], 3)
    shown = browser_frames(out.data)
    assert [near(f.getpixel((50, 50)), c, 10)
            for f, c in zip(shown, [(255, 0, 0), (0, 255, 0), (0, 0, 255)], strict=True)] == [True] * 3


def test_an_animation_that_plays_once_still_plays_once():
    out = thumb(animated_gif([(255, 0, 0), (0, 0, 255)], [50, 50], loop=None))
    assert frame_info(out.data)[2] is None


def test_animated_webp_stays_animated():
    frames = [Image.new("RGBA", (60, 40), c) for c in ((255, 0, 0, 255), (0, 0, 255, 128))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=[120, 80], loop=0,
                  lossless=True)
    for fmt, want in ((None, "gif"), ("webp", "webp")):
        out = thumb(data, format=fmt)
        assert out.format == want and out.frames == 2
        n, durations, _ = frame_info(out.data)
        assert n == 2 and durations == [120, 80]


def test_frame_cap_keeps_the_first_frames():
    colours = [((i * 37) % 256, (i * 91) % 256, (i * 53) % 256) for i in range(250)]
    out = thumb(animated_gif(colours, [20] * 250, size=(16, 16)))
    assert out.frames == 200


def test_partial_gif_frames_do_not_smear_or_blacken():
    # Frame 1 only redraws a small patch (GIF frame optimisation); frame 2 clears with disposal 2.
    base = Image.new("RGBA", (80, 80), (255, 0, 0, 255))
    patch = base.copy()
    patch.paste((0, 0, 255, 255), (0, 0, 20, 20))
    sprite_a, sprite_b = Image.new("RGBA", (80, 80), (0, 0, 0, 0)), Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    sprite_a.paste((0, 200, 0, 255), (0, 0, 40, 80))
    sprite_b.paste((0, 200, 0, 255), (40, 0, 80, 80))
    data = encode(base, "GIF", save_all=True, append_images=[patch], duration=[100, 100], loop=0)
    shown = browser_frames(thumb(data).data)
    assert near(shown[1].getpixel((90, 90)), (255, 0, 0), 10) and near(shown[1].getpixel((5, 5)), (0, 0, 255), 10)
    data = encode(sprite_a, "GIF", save_all=True, append_images=[sprite_b], duration=[100, 100], loop=0,
                  disposal=2)
    shown = browser_frames(thumb(data).data)
    assert near(shown[1].getpixel((10, 50)), (255, 255, 255), 10)  # frame 1's sprite is gone, not smeared
    assert near(shown[1].getpixel((90, 50)), (0, 200, 0), 12)


@pytest.mark.parametrize("src", [(1, 1), (1, 10000), (10000, 1), (640, 480), (3, 7)])
@pytest.mark.parametrize("box", [(100, 100), (64, 32), (1, 1)])
@pytest.mark.parametrize("fit", ["cover", "contain", "fill"])
def test_output_is_exactly_the_requested_size(src, box, fit):
    data = encode(Image.new("RGB", src, (90, 120, 200)), "PNG")
    out = thumb(data, width=box[0], height=box[1], fit=fit)
    assert Image.open(io.BytesIO(out.data)).size == box


def test_contain_pads_transparent_where_the_format_allows_and_white_otherwise():
    wide = encode(Image.new("RGB", (400, 100), (0, 0, 255)), "PNG")
    png = Image.open(io.BytesIO(thumb(wide, fit="contain").data)).convert("RGBA")
    assert png.getpixel((50, 5))[3] == 0 and near(png.getpixel((50, 50)), (0, 0, 255, 255), 4)
    jpg = Image.open(io.BytesIO(thumb(wide, fit="contain", format="jpeg").data))
    assert near(jpg.getpixel((50, 5)), (255, 255, 255), 6)


def test_fill_stretches_and_cover_crops_the_centre():
    img = Image.new("RGB", (300, 100), (255, 0, 0))
    img.paste((0, 255, 0), (100, 0, 200, 100))
    img.paste((0, 0, 255), (200, 0, 300, 100))
    data = encode(img, "PNG")
    fill = Image.open(io.BytesIO(thumb(data, fit="fill").data))
    assert near(fill.getpixel((10, 50)), (255, 0, 0), 30) and near(fill.getpixel((90, 50)), (0, 0, 255), 30)
    cover = Image.open(io.BytesIO(thumb(data, fit="cover").data))
    assert near(cover.getpixel((10, 50)), (0, 255, 0), 30) and near(cover.getpixel((90, 50)), (0, 255, 0), 30)


def patched_jpeg_dimensions(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def gif_with_screen(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("P", (4, 4)), "GIF"))
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize("data", [patched_jpeg_dimensions(60000, 60000), gif_with_screen(65535, 65535),
                                  (CASES / "c17_bomb_png_ihdr.png").read_bytes(),
                                  (CASES / "c19_bomb_png_1bit_100mp.png").read_bytes()],
                         ids=["jpeg-sof", "gif-screen", "png-ihdr", "png-inflating"])
def test_decompression_bombs_are_refused_from_the_header(data):
    with pytest.raises(ImageRejected) as err:
        thumb(data)
    assert err.value.reason == "ImageTooLarge" and "megapixel" in err.value.message


def test_the_pixel_limit_is_configurable():
    data = encode(Image.new("RGB", (200, 100)), "PNG")
    with pytest.raises(ImageRejected) as err:
        thumb(data, max_pixels=19_999)
    assert err.value.reason == "ImageTooLarge"
    assert thumb(data, max_pixels=20_000).width == 100


def test_truncated_files_fail_clearly_unless_accepted():
    data = (CASES / "c15_jpeg_truncated.jpg").read_bytes()
    with pytest.raises(ImageRejected) as err:
        thumb(data)
    assert err.value.reason == "TruncatedImage"
    partial = thumb(data, accept_truncated=True)
    assert near(browser_frames(partial.data)[0].getpixel((50, 5)), (220, 30, 30), 45)
    png = encode(Image.new("RGB", (300, 300), (9, 9, 9)), "PNG", compress_level=0)
    with pytest.raises(ImageRejected) as err:
        thumb(png[: len(png) // 2])
    assert err.value.reason in ("TruncatedImage", "CorruptImage")


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_missing_only_its_end_marker_is_rendered(progressive):
    data = encode(quadrants(), "JPEG", progressive=progressive, quality=92)
    assert data.endswith(b"\xff\xd9")
    shown = browser_frames(thumb(data[:-2]).data)[0]
    assert near(shown.getpixel((20, 20)), BLUE) and near(shown.getpixel((80, 80)), GREEN)


@pytest.mark.parametrize("body,reason", [
    (b"Just some text, not an image.\n", "NotAnImage"),
    (b"<!DOCTYPE html><html><body>hi</body></html>", "NotAnImage"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "NotAnImage"),
    (b"", "EmptyFile"),
    ((CASES / "c31_svg_script.svg").read_bytes(), "UnsupportedFormat"),
    (b"<?xml version='1.0'?>\n<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>\n<svg>&e;</svg>",
     "UnsupportedFormat"),
])
def test_non_images_are_refused_with_a_reason(body, reason):
    with pytest.raises(ImageRejected) as err:
        thumb(body)
    assert err.value.reason == reason and err.value.message


def test_huge_xmp_and_exif_do_not_pass_through_or_blow_up():
    exif = Image.Exif()
    exif[0x010E] = "x" * 60000  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[2] = (52.0, 22.0, 1.0)
    gps[1] = "N"
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           + b"<secret>" + b"y" * 60000 + b"</secret></rdf:RDF></x:xmpmeta>")
    data = encode(quadrants(), "JPEG", exif=exif.tobytes(), xmp=xmp, comment=b"taken at home")
    out = thumb(data)
    decoded = Image.open(io.BytesIO(out.data))
    assert len(out.data) < 20_000
    for needle in (b"Exif", b"xmpmeta", b"taken at home", b"secret"):
        assert needle not in out.data
    assert not decoded.getexif() and not set(decoded.info) & {"exif", "xmp", "comment", "icc_profile"}


@pytest.mark.parametrize("fmt,params", [("JPEG", {}), ("PNG", {}), ("GIF", {}), ("WEBP", {"lossless": True}),
                                        ("TIFF", {}), ("BMP", {}), ("AVIF", {"quality": 90})])
def test_every_supported_input_format_decodes(fmt, params):
    img = quadrants(240, 240)
    data = encode(img.convert("P") if fmt == "GIF" else img, fmt, **params)
    shown = browser_frames(thumb(data).data)[0]
    assert near(shown.getpixel((20, 20)), BLUE, 30) and near(shown.getpixel((80, 80)), GREEN, 30)


def test_heic_from_an_iphone_decodes():
    shown = browser_frames(thumb((CASES / "c29_heic.heic").read_bytes()).data)[0]
    assert near(shown.getpixel((12, 12)), (240, 120, 20), 30)


def test_known_but_unaccepted_formats_are_refused():
    for fmt in ("ICO", "PPM", "TGA"):
        with pytest.raises(ImageRejected) as err:
            thumb(encode(Image.new("RGB", (32, 32)), fmt))
        assert "accepted" in err.value.message


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_transparency_that_starts_after_an_opaque_first_frame_is_kept(fmt):
    # Not GIF here: its frame 2 is right for browsers (disposal 2 clears to transparent), but
    # Pillow's reader, which browser_frames uses, restores an opaque frame 1 to its background colour.
    opaque = Image.new("RGBA", (60, 60), (255, 0, 0, 255))
    holed = opaque.copy()
    holed.paste((0, 0, 0, 0), (0, 0, 30, 60))  # the left half turns transparent in frame 2
    data = encode(opaque, "WEBP", save_all=True, append_images=[holed], duration=[100, 100], loop=0, lossless=True)
    out = thumb(data, format=fmt)
    shown = browser_frames(out.data)  # painted on white
    assert near(shown[0].getpixel((10, 50)), (255, 0, 0), 10)
    assert near(shown[1].getpixel((10, 50)), (255, 255, 255), 10)  # transparent: the page shows through
    assert near(shown[1].getpixel((90, 50)), (255, 0, 0), 10)


def test_an_animation_is_rendered_frame_by_frame_within_a_memory_limit(tmp_path):
    """20 frames of 3000x3000 take 720 MB as RGBA all at once; the resizer renders them under a
    400 MiB address-space limit (standing in for the pod's memory limit) because it keeps only
    the frame being decoded and the 100x100 results."""
    palette = [c for k in range(256) for c in ((k * 37) % 256, (k * 91) % 256, (k * 53) % 256)]
    frames = []
    for i in range(20):
        frame = Image.new("P", (3000, 3000), i)
        frame.putpalette(palette)
        frame.paste(100 + i, (i * 100, i * 100, i * 100 + 500, i * 100 + 500))
        frames.append(frame)
    source = tmp_path / "long.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=50, loop=0)
    del frames
    program = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20)); "
               "from resizer.thumbnail import make_thumbnail; "
               "t = make_thumbnail(open(sys.argv[1], 'rb')); print(t.frames, t.width, t.height)")
    run = subprocess.run([sys.executable, "-c", program, str(source)], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["20", "100", "100"]

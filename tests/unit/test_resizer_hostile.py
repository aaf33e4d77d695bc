"""Hostile inputs (tests/hostile.py): each kind is bounded in CPU and memory and ends with a reason, never InternalError."""

from __future__ import annotations

import io
import struct
from pathlib import Path
import subprocess
import sys

import pytest
from PIL import Image

import hostile
from resizer import thumbnail
from resizer.budget import cpu_budget, cpu_used
from thumbnailer.api import ImageRejected
from thumbnailer.structure import MAX_JPEG_SCANS, announced_format, count_gif_frames, count_jpeg_scans
from resizer.thumbnail import ThumbnailSpec, make_thumbnail
from uploader.intake import inspect

DATA = Path(__file__).resolve().parent.parent / "data"


DEFAULT = ThumbnailSpec()


def outcome(data: bytes, spec: ThumbnailSpec = DEFAULT):
    """(thumbnail, None) or (None, reason); any other exception fails the test."""
    try:
        return make_thumbnail(io.BytesIO(data), spec), None
    except ImageRejected as e:
        return None, e.reason


def rgb(thumb, xy, frame=0) -> tuple[int, int, int]:
    im = Image.open(io.BytesIO(thumb.data))
    im.seek(frame)
    return im.convert("RGB").getpixel(xy)


@pytest.mark.parametrize("name", sorted(hostile.CORPUS))
def test_every_hostile_kind_ends_with_its_outcome_within_a_cpu_budget(name):
    generate, reason = hostile.CORPUS[name]
    data = generate()
    before = cpu_used()
    with cpu_budget(10):  # the test fails with TooComplex where the resizer would spin
        thumb, got = outcome(data)
    assert got == reason, (name, got)
    if reason is None:
        assert (thumb.width, thumb.height) == (100, 100)
    assert cpu_used() - before < 10


@pytest.mark.parametrize("scans, reason", [(MAX_JPEG_SCANS, None), (MAX_JPEG_SCANS + 1, "TooComplex"),
                                           (20_000, "TooComplex")])
def test_jpeg_scans_are_counted_from_the_markers_before_decoding(scans, reason):
    data = hostile.jpeg_scan_flood(scans, size=64)
    assert count_jpeg_scans(io.BytesIO(data), limit=10**6) == scans
    thumb, got = outcome(data)
    assert got == reason
    if thumb:
        assert rgb(thumb, (50, 2))[0] + 100 < rgb(thumb, (50, 97))[0]  # the top-to-bottom gradient survives


def test_ordinary_jpegs_have_a_handful_of_scans():
    for path in ("rocket.jpg", "grace_hopper.jpg"):
        with open(DATA / "photos" / path, "rb") as f:
            assert 1 <= count_jpeg_scans(f) <= 12, path


def test_a_marker_walk_of_stuffed_bytes_is_linear():
    """50 MB of 0xFF00 after a start of scan is one regex search, not a Python loop per byte."""
    data = b"\xff\xd8\xff\xda\x00\x02" + b"\xff\x00" * 10_000_000 + b"\xff\xd9"
    before = cpu_used()
    assert count_jpeg_scans(io.BytesIO(data)) == 1
    assert cpu_used() - before < 2


def test_the_cpu_budget_stops_a_decode_that_has_no_cheap_pre_check(monkeypatch):
    monkeypatch.setattr(thumbnail, "MAX_JPEG_SCANS", 10**9)  # as if the scan count did not exist
    data = hostile.jpeg_scan_flood(20_000)
    before = cpu_used()
    with pytest.raises(ImageRejected) as err, cpu_budget(1):
        make_thumbnail(io.BytesIO(data))
    assert err.value.reason == "TooComplex" and "CPU" in err.value.message
    # Budget 1 s, plus the decode call that was running when it ran out: about 1 s of scans with
    # JPEG_READ_BYTES (4 KiB); 9 to 13 s more with Pillow's default 64 KiB reads.
    assert cpu_used() - before < 5


def test_the_program_s_budget_also_lowers_the_hard_limit():
    code = ("import resource; from resizer.budget import cpu_budget, HARD_LIMIT_GRACE\n"
            "with cpu_budget(7, hard=True):\n"
            "    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)\n"
            "print(soft, hard, HARD_LIMIT_GRACE)")
    soft, hard, grace = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                check=True).stdout.split())
    assert 7 <= soft <= 10 and hard == soft + grace


def test_the_budget_restores_the_limit_after_the_block():
    import resource
    before = resource.getrlimit(resource.RLIMIT_CPU)
    with cpu_budget(3):
        assert resource.getrlimit(resource.RLIMIT_CPU)[0] != before[0]
    assert resource.getrlimit(resource.RLIMIT_CPU) == before


def test_tiff_pages_after_the_first_are_never_walked():
    data = hostile.tiff_page_chain(50_000)  # Pillow's page count is quadratic: minutes for this file
    before = cpu_used()
    thumb, reason = outcome(data)
    assert reason is None and thumb.source_frames == 1
    assert cpu_used() - before < 2


@pytest.mark.parametrize("offset, limit, reason", [
    (12_000, thumbnail.DEFAULT_MAX_PIXELS, "ImageTooLarge"),   # canvas 144 MP: over our limit, under Pillow's error
    (20_000, thumbnail.DEFAULT_MAX_PIXELS, "ImageTooLarge"),   # canvas 400 MP: Pillow's DecompressionBombError
    (2_000, 1_000_000, "ImageTooLarge"),               # a configured limit holds for frames too
])
def test_a_frame_that_grows_the_canvas_past_the_limit_is_refused_before_it_is_decoded(offset, limit, reason):
    before = cpu_used()
    thumb, got = outcome(hostile.gif_frame_outside_screen(offset), ThumbnailSpec(max_pixels=limit))
    assert got == reason
    assert cpu_used() - before < 1


def test_a_frame_outside_the_logical_screen_is_cut_away_as_browsers_do():
    thumb, reason = outcome(hostile.gif_frame_outside_screen(3000))
    assert reason is None and thumb.frames == 3
    colours = [rgb(thumb, (50, 50), i) for i in range(Image.open(io.BytesIO(thumb.data)).n_frames)]
    assert colours[0][0] > 200 and colours[-1][2] > 200  # red, then blue: not a blank animation


def test_an_apng_frame_larger_than_its_canvas_is_corrupt():
    assert outcome(hostile.apng_invalid_frame()) == (None, "CorruptImage")


@pytest.mark.parametrize("size, frames, fmt, reason", [
    (4096, 200, None, "OutputTooLarge"),
    (289, 200, None, None),            # 200 x 289 x 289 = 16.70 MP: just inside the budget
    (300, 200, None, "OutputTooLarge"),
    (4096, 200, "jpeg", None),         # a still of the first frame: one frame
    (2048, 4, None, None),
])
def test_the_output_budget_counts_width_height_and_frames(size, frames, fmt, reason):
    thumb, got = outcome(hostile.gif_many_frames(frames), ThumbnailSpec(size, size, format=fmt))
    assert got == reason
    if thumb:
        assert (thumb.width, thumb.height) == (size, size)


@pytest.mark.parametrize("name", sorted(hostile.FLOAT_EXIF))
def test_exif_values_of_the_wrong_type_are_ignored(name):
    thumb, reason = outcome(hostile.jpeg_with_exif(hostile.FLOAT_EXIF[name]), ThumbnailSpec(40, 20, "cover"))
    assert reason is None
    if name != "orientation-float":
        assert rgb(thumb, (5, 10))[0] > 150 and rgb(thumb, (35, 10))[2] > 150  # upright


@pytest.mark.parametrize("entries", [
    [(0x0100, 11, 1, struct.pack("<f", 40.0)), (0x0112, 3, 1, struct.pack("<H", 6))],   # ImageWidth as FLOAT
    [(0x0112, 3, 1, struct.pack("<H", 6)), (0x0100, 12, 1, struct.pack("<I", 0))],      # ImageWidth as DOUBLE
], ids=["width-float", "width-double"])
def test_an_integer_tag_stored_as_a_float_still_lets_orientation_6_rotate(entries):
    thumb, reason = outcome(hostile.jpeg_with_exif(entries), ThumbnailSpec(20, 40, "cover"))
    assert reason is None
    assert rgb(thumb, (10, 5))[0] > 150 and rgb(thumb, (10, 35))[2] > 150  # rotated 90° clockwise


def test_a_tiff_without_dimensions_is_corrupt_not_unknown():
    assert announced_format(hostile.tiff_without_dimensions(0)[:16]) == "TIFF"
    assert outcome(hostile.tiff_without_dimensions(0)) == (None, "CorruptImage")
    thumb, reason = outcome(hostile.tiff_without_dimensions(1))  # only page 1 is the image
    assert reason is None and rgb(thumb, (50, 50))[0] > 150


@pytest.mark.parametrize("data", [
    hostile.float_tiff(0.0, 1.0), hostile.float_tiff(0.0, 255.0), hostile.grey16("PNG"),
    hostile.grey16("TIFF", "I;16"), hostile.grey16("TIFF", "I;16B"), hostile.int32_tiff(signed=False),
    hostile.int32_tiff(signed=True),
], ids=["float-0-1", "float-0-255", "png-16", "tiff-I;16", "tiff-I;16B", "tiff-uint32", "tiff-int32"])
def test_high_bit_depth_and_float_greys_keep_their_tones(data):
    thumb, reason = outcome(data, ThumbnailSpec(64, 64, "fill"))
    assert reason is None
    left, middle, right = (rgb(thumb, (x, 32))[0] for x in (1, 32, 62))
    assert left < 20 and 100 < middle < 160 and right > 235, (left, middle, right)


@pytest.mark.parametrize("info, ms", [({}, 100), ({"duration": 0}, 100), ({"duration": 40}, 40),
                                      ({"duration": float("nan")}, 100), ({"duration": "x"}, 100),
                                      ({"duration": 10**12}, 100), ({"duration": 80.6}, 80)])
def test_unusable_frame_durations_become_100_ms(info, ms):
    assert thumbnail._duration(info) == ms


def test_gif_frames_are_counted_from_the_blocks():
    for frames in (1, 7, 200):
        data = hostile.gif_many_frames(frames)
        assert count_gif_frames(io.BytesIO(data), 10**6) == frames == Image.open(io.BytesIO(data)).n_frames
    assert count_gif_frames(io.BytesIO(hostile.gif_many_frames(500)), 200) == 200  # stops at the limit


def test_the_uploader_counts_frames_up_to_the_frame_limit_without_decoding():
    data = hostile.gif_many_frames(300, size=2000)  # decoding 300 frames of 2000x2000 takes seconds
    before = cpu_used()
    upload = inspect(io.BytesIO(data), len(data), "0" * 64, thumbnail.DEFAULT_MAX_PIXELS, max_frames=200)
    assert upload.frames == 200 and (upload.width, upload.height) == (2000, 2000)
    assert cpu_used() - before < 0.5


def test_a_first_frame_outside_the_logical_screen_is_cut_away_too():
    """Pillow grows the canvas at open for frame 1 as well; the thumbnail shows the 10x10 screen."""
    thumb, reason = outcome(hostile.gif_with_frames((10, 10), [(100, 100, 10, 10)]))
    assert reason is None and thumb.source_frames == 1
    assert rgb(thumb, (99, 99))[0] < 50  # the red frame lies outside the screen: nothing of it shows
    with pytest.raises(ImageRejected) as err:
        make_thumbnail(io.BytesIO(hostile.gif_with_frames((10, 10), [(12_000, 12_000, 10, 10)])))
    assert err.value.reason == "ImageTooLarge" and "10x10 logical screen" in err.value.message


@pytest.mark.parametrize("budget, kept", [(1, 1), (19_999, 1), (20_000, 2), (55_000, 5), (100_000, 10),
                                          (10**9, 10)])
def test_an_animation_is_cut_before_the_frame_that_would_pass_the_decode_budget(budget, kept):
    """Ten frames on a 100x100 canvas (10,000 pixels each): the budget counts canvas pixels decoded,
    the first frame always renders, and the cut shows as frames of sourceFrames."""
    frames = [Image.new("RGB", (100, 100), (i * 25, 0, 0)) for i in range(10)]
    src = io.BytesIO()
    frames[0].save(src, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    thumb = make_thumbnail(io.BytesIO(src.getvalue()), ThumbnailSpec(20, 20, max_animation_pixels=budget))
    assert (thumb.frames, thumb.source_frames) == (kept, 10)
    assert getattr(Image.open(io.BytesIO(thumb.data)), "n_frames", 1) == kept


def test_identical_output_frames_whose_delays_sum_past_the_gif_limit_still_encode():
    """Found by `make fuzz`: frames that differ only where `cover` crops come out identical, Pillow's
    GIF writer stores them once with their delays summed, and 2 x 600 s overflowed its 16-bit delay."""
    frames = []
    for i in range(3):
        im = Image.new("RGB", (400, 40), "navy")
        im.putpixel((0, 0), (i * 80, 0, 0))  # cropped away by cover to a square
        frames.append(im)
    src = io.BytesIO()
    frames[0].save(src, "GIF", save_all=True, append_images=frames[1:], duration=600_000, loop=0)
    thumb = make_thumbnail(io.BytesIO(src.getvalue()), ThumbnailSpec(20, 20, "cover"))
    out = Image.open(io.BytesIO(thumb.data))
    assert out.format == "GIF" and out.size == (20, 20)
    assert out.info["duration"] == thumbnail.GIF_MAX_DELAY_MS  # the run plays for the format's longest delay


def test_an_icc_profile_bomb_is_named_as_metadata_not_as_pillows_text_limit():
    with pytest.raises(ImageRejected) as err:
        make_thumbnail(io.BytesIO(hostile.png_icc_profile_bomb()))
    assert err.value.reason == "MetadataTooLarge" and "ICC profile" in err.value.message
    assert "MAX_TEXT_CHUNK" not in err.value.message

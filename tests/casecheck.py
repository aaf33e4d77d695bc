"""Judge a thumbnail against an expectation from ``tests/data/cases/cases.json``.

The output is judged the way a browser shows it (the corpus's contract): apply
the output's own EXIF orientation, convert with its own ICC profile to sRGB,
composite onto white.
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms, ImageOps, ImageSequence, ImageStat

_SRGB = ImageCms.createProfile("sRGB")


def browser_frames(data: bytes) -> list[Image.Image]:
    """Every frame of ``data`` as the RGB image a browser would paint on white."""
    im = Image.open(io.BytesIO(data))
    out = []
    for frame in ImageSequence.Iterator(im):
        f = ImageOps.exif_transpose(frame.copy())
        icc = frame.info.get("icc_profile") or im.info.get("icc_profile")
        f = f.convert("RGBA")
        if icc:
            f = ImageCms.profileToProfile(f, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB, outputMode="RGBA")
        bg = Image.new("RGBA", f.size, (255, 255, 255, 255))
        bg.alpha_composite(f)
        out.append(bg.convert("RGB"))
    return out


def failures(expectation: dict, thumbnail=None, rejection: Exception | None = None) -> list[str]:
    """What is wrong with the outcome (empty list = it meets ``expectation``).

    ``thumbnail`` is a :class:`resizer.thumbnail.Thumbnail` or None;
    ``rejection`` the :class:`ImageRejected` raised instead.
    """
    if "accept_any_of" in expectation:
        tried = [failures(alt, thumbnail, rejection) for alt in expectation["accept_any_of"]]
        return [] if any(not t for t in tried) else [f"no alternative met: {tried}"]
    if expectation["outcome"] == "rejected":
        if rejection is None:
            return ["expected a rejection, got a thumbnail"]
        text = str(rejection).lower()
        words = expectation.get("reject_reason_any", [])
        return [] if not words or any(w.lower() in text for w in words) else [f"reason {text!r} names none of {words}"]
    if rejection is not None:
        return [f"expected a thumbnail, got rejected: {rejection}"]
    problems = []
    data = thumbnail.data
    im = Image.open(io.BytesIO(data))
    frames = browser_frames(data)
    if "size" in expectation and list(frames[0].size) != list(expectation["size"]):
        problems.append(f"size {frames[0].size} != {expectation['size']}")
    if "frames" in expectation and len(frames) != expectation["frames"]:
        problems.append(f"{len(frames)} frames != {expectation['frames']}")
    for px in expectation.get("pixels", []):
        got = frames[px.get("frame", 0)].getpixel(tuple(px["xy"]))
        if any(abs(a - b) > px["tol"] for a, b in zip(got, px["rgb"], strict=True)):
            problems.append(f"pixel {px['xy']} is {got}, want {px['rgb']}±{px['tol']}")
    for rs in expectation.get("region_stats", []):
        stat = ImageStat.Stat(frames[0].convert("L").crop(tuple(rs["box"])))
        lo, hi = rs["mean_between"]
        if not lo <= stat.mean[0] <= hi or stat.stddev[0] > rs["max_std"]:
            problems.append(f"region {rs['box']} mean {stat.mean[0]:.1f} std {stat.stddev[0]:.1f}")
    if "output_mode_in" in expectation and im.mode not in expectation["output_mode_in"]:
        problems.append(f"mode {im.mode} not in {expectation['output_mode_in']}")
    if "max_bytes" in expectation and len(data) > expectation["max_bytes"]:
        problems.append(f"{len(data)} bytes > {expectation['max_bytes']}")
    for needle in expectation.get("bytes_must_not_contain", []):
        if needle.encode() in data:
            problems.append(f"output contains {needle!r}")
    if expectation.get("no_gps") and im.getexif().get_ifd(0x8825):
        problems.append("output carries EXIF GPS data")
    return problems

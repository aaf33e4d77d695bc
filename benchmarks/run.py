"""Resizer benchmark: our pipeline against baselines measured in the same run.

Inputs are made here from tests/data/photos by upscaling with Lanczos and
re-encoding (as the photos' README suggests):

* ``12mp.jpg`` (4000x3000) and ``24mp.jpg`` (6000x4000) from grace_hopper.jpg, quality 90;
* ``4mp-alpha.png`` (2400x1680, RGBA) from horse.png;
* ``60-frames.gif`` (480x360, 60 frames) from shifted crops of coffee.png.

Variants, each in a fresh subprocess so its peak RSS (``VmHWM``) is its own:

* ``ours``: :func:`resizer.thumbnail.make_thumbnail` (100x100 cover, encoded);
* ``naive``: ``Image.open().convert("RGB").resize((100, 100))`` of the full image (all frames for the GIF);
* ``pyvips``: ``pyvips.Image.thumbnail(path, 100, height=100, crop="centre")`` encoded
  (libvips from the pyvips-binary wheel), when it is installed;
* ``floor``: a bare 1/8-scale JPEG decode (Pillow ``draft``), the least any JPEG path can do.

Then the cold start every Job's pod pays (:func:`cold_process_ms`), against issue 12's target
(:data:`COLD_START_TARGET_MS`) and its baseline (:data:`COLD_START_ISSUE_BASELINE_MS`).

Figures are printed, never asserted. ``python benchmarks/run.py`` (``make bench``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"
REPEAT = 7
#: Issue 12's target for the cold start of one resizer pod, ms.
COLD_START_TARGET_MS = 120
#: The cold start issue 12 measured before its work (``import resizer.__main__``, ms): fixed, not of
#: this run; the bare interpreter is measured in this run, to tell a slower machine from slower code.
COLD_START_ISSUE_BASELINE_MS = 256

#: What one resizer pod does but the S3 round trips: settings from the environment, the store client
#: made, one JPEG thumbnail made and encoded. What it imports on the way (the decoder the image needs,
#: LittleCMS for a profile) is counted, which ``import resizer.__main__`` alone does not see.
POD_RUN = f"""
import resizer.__main__
from resizer.settings import ResizerSettings
from resizer.store import ResizerStore
from resizer.thumbnail import make_thumbnail
settings = ResizerSettings.from_env({{"S3_ENDPOINT": "127.0.0.1:9", "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "s",
                                     "SOURCE_BUCKET": "uploads", "SOURCE_KEY": "a.jpg", "OUTPUT_KEY": "t/a"}})
ResizerStore(settings)
with open({str(PHOTOS / "grace_hopper.jpg")!r}, "rb") as f:
    make_thumbnail(f, settings.spec)
"""
#: The cold-start figures issue 12 judges: what one pod imports at start, and one pod's run (:data:`POD_RUN`).
POD_START_FIGURE = "import resizer.__main__ (what one pod imports at start)"
POD_RUN_FIGURE = "one resizer run without its S3 round trips (a JPEG thumbnail)"


def make_inputs(directory: Path) -> dict[str, Path]:
    from PIL import Image

    out = {}
    src = Image.open(PHOTOS / "grace_hopper.jpg").convert("RGB")
    for name, size in (("12mp.jpg", (4000, 3000)), ("24mp.jpg", (6000, 4000))):
        out[name] = directory / name
        src.resize(size, Image.Resampling.LANCZOS).save(out[name], "JPEG", quality=90)
    out["4mp-alpha.png"] = directory / "4mp-alpha.png"
    Image.open(PHOTOS / "horse.png").convert("RGBA").resize((2400, 1680), Image.Resampling.LANCZOS).save(
        out["4mp-alpha.png"], "PNG")
    coffee = Image.open(PHOTOS / "coffee.png").convert("RGB")
    frames = [coffee.crop((i * 2, i, i * 2 + 480, i + 360)).quantize(256) for i in range(60)]
    out["60-frames.gif"] = directory / "60-frames.gif"
    frames[0].save(out["60-frames.gif"], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    return out


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_variant(variant: str, path: str) -> dict:
    """Child process: time REPEAT runs of one variant on ``path``; report median seconds and peak RSS."""
    from PIL import Image, ImageSequence

    if variant == "ours":
        from resizer.thumbnail import ThumbnailSpec, make_thumbnail

        def fn() -> None:
            with open(path, "rb") as f:
                make_thumbnail(f, ThumbnailSpec(100, 100, "cover"))
    elif variant == "naive":
        def fn() -> None:
            with Image.open(path) as im:
                for frame in ImageSequence.Iterator(im):
                    frame.convert("RGB").resize((100, 100), Image.Resampling.LANCZOS)
    elif variant == "pyvips":
        import pyvips

        def fn() -> None:
            animated = path.endswith(".gif")  # all pages: libvips thumbnails each frame
            img = pyvips.Image.thumbnail(path + ("[n=-1]" if animated else ""), 100, height=100, crop="centre")
            img.write_to_buffer(".gif" if animated else ".png" if img.hasalpha() else ".jpg")
    elif variant == "floor":
        def fn() -> None:
            with Image.open(path) as im:
                im.draft("RGB", (im.width // 8, im.height // 8))
                im.load()
    else:
        raise SystemExit(f"unknown variant {variant}")
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_ms": statistics.median(times) * 1000, "peak_rss_mib": _peak_rss_mib()}


def cold_process_ms() -> dict[str, float]:
    """Median wall time, ms, of a bare interpreter, of the imaging and the S3 halves of the resizer's
    imports on their own, of what one resizer pod imports at start, and of one pod's run without
    the S3 round trips (:data:`POD_RUN`: what every Job's pod pays before its first request)."""
    def median_run(code: str) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    return {"python -c pass": median_run("pass"),
            "import resizer.thumbnail (Pillow, the imaging core)": median_run("import resizer.thumbnail"),
            "import resizer.s3 (obstore, the resizer's S3 client)": median_run("import resizer.s3"),
            "import thumbnailer.objectstore (minio, urllib3: the uploader's, not in a pod)":
                median_run("import thumbnailer.objectstore"),
            POD_START_FIGURE: median_run("import resizer.__main__"),
            POD_RUN_FIGURE: median_run(POD_RUN)}


def print_cold_start(cold: dict[str, float]) -> None:
    """The cold process figures, then issue 12's acceptance lines: one pod's start and its run
    against the target and the issue's baseline, with the bare interpreter of this run."""
    for what, ms in cold.items():
        print(f"cold process: {what}: {ms:.0f} ms")
    bare = cold["python -c pass"]
    for what in (POD_START_FIGURE, POD_RUN_FIGURE):
        ms = cold[what]
        verdict = "met" if ms <= COLD_START_TARGET_MS else f"{ms - COLD_START_TARGET_MS:.0f} ms over"
        print(f"cold start (issue 12): {what}: {ms:.0f} ms; target {COLD_START_TARGET_MS} ms ({verdict}); "
              f"issue baseline {COLD_START_ISSUE_BASELINE_MS} ms; bare interpreter {bare:.0f} ms (this run)")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(run_variant(sys.argv[2], sys.argv[3])))
        return 0
    try:
        import pyvips  # noqa: F401

        variants = ["ours", "naive", "pyvips", "floor"]
    except ImportError:
        variants = ["ours", "naive", "floor"]
        print("(pyvips not installed: pip install 'pyvips[binary]' to compare with libvips)")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp))
        print(f"{'input':15} {'variant':8} {'median ms':>10} {'peak RSS MiB':>13} {'vs ours':>8}")
        for name, path in inputs.items():
            results = {}
            for variant in variants:
                if variant == "floor" and not name.endswith(".jpg"):
                    continue
                out = subprocess.run([sys.executable, __file__, "--child", variant, str(path)],
                                     capture_output=True, text=True, check=True)
                results[variant] = json.loads(out.stdout)
            for variant, r in results.items():
                ratio = r["median_ms"] / results["ours"]["median_ms"]
                print(f"{name:15} {variant:8} {r['median_ms']:10.1f} {r['peak_rss_mib']:13.1f} {ratio:7.2f}x")
    print()
    print_cold_start(cold_process_ms())
    return 0


if __name__ == "__main__":
    sys.exit(main())

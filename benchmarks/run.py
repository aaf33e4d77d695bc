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
    imports on their own, and of everything one resizer run imports (what every Job's pod pays)."""
    def median_run(code: str) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    return {"python -c pass": median_run("pass"),
            "import resizer.thumbnail (Pillow, the imaging core)": median_run("import resizer.thumbnail"),
            "import thumbnailer.objectstore (minio, urllib3)": median_run("import thumbnailer.objectstore"),
            "import resizer.__main__ (everything one run imports)": median_run("import resizer.__main__")}


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
    for what, ms in cold_process_ms().items():
        print(f"cold process: {what}: {ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Resizer benchmark: our pipeline against a plain-Pillow baseline measured in the same run.

Inputs are made here from tests/data/photos (upscaled with Lanczos and
re-encoded, as the photos' README suggests): a 12-megapixel JPEG (phone
photo), a 12-megapixel PNG with alpha, and a 24-megapixel JPEG. Each variant
runs in its own subprocess, so peak RSS (ru_maxrss) is that variant's alone.

Baseline: ``Image.open(); im.thumbnail((100, 100))`` then a centre crop, Pillow's
own fastest path (JPEG draft + reducing_gap); it skips what ours adds (EXIF
orientation, ICC to sRGB, premultiplied alpha, exact cover geometry).

    python benchmarks/run.py            # prints a table; exit 0
"""

from __future__ import annotations

import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"
REPEAT = 5


def make_inputs(directory: Path) -> dict[str, Path]:
    from PIL import Image

    out = {}
    src = Image.open(PHOTOS / "grace_hopper.jpg").convert("RGB")
    for name, size in (("12mp.jpg", (4000, 3000)), ("24mp.jpg", (6000, 4000))):
        path = directory / name
        src.resize(size, Image.Resampling.LANCZOS).save(path, "JPEG", quality=90)
        out[name] = path
    horse = Image.open(PHOTOS / "horse.png").convert("RGBA").resize((4000, 3000), Image.Resampling.LANCZOS)
    out["12mp-alpha.png"] = directory / "12mp-alpha.png"
    horse.save(out["12mp-alpha.png"], "PNG", compress_level=1)
    return out


def run_variant(variant: str, path: str) -> dict:
    """Child process: time REPEAT thumbnails of ``path``; report seconds and peak RSS."""
    from PIL import Image, ImageOps

    from resizer.thumbnail import ThumbnailSpec, make_thumbnail

    def ours() -> None:
        with open(path, "rb") as f:
            make_thumbnail(f, ThumbnailSpec(100, 100, "cover"))

    def baseline() -> None:
        with Image.open(path) as im:
            im.thumbnail((178, 178))  # short side >= 100 for typical aspects, then crop
            ImageOps.fit(im, (100, 100)).save(io.BytesIO(), "PNG" if im.mode == "RGBA" else "JPEG")

    fn = ours if variant == "ours" else baseline
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(run_variant(sys.argv[2], sys.argv[3])))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp))
        print(f"{'input':16} {'variant':9} {'median ms':>10} {'peak RSS MiB':>13} {'vs baseline':>12}")
        for name, path in inputs.items():
            results = {}
            for variant in ("baseline", "ours"):
                out = subprocess.run([sys.executable, __file__, "--child", variant, str(path)],
                                     capture_output=True, text=True, check=True)
                results[variant] = json.loads(out.stdout)
            for variant, r in results.items():
                ratio = r["median_s"] / results["baseline"]["median_s"]
                print(f"{name:16} {variant:9} {r['median_s'] * 1000:10.1f} {r['peak_rss_mib']:13.1f} {ratio:11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every resizer pod pays for what its process imports: it loads the decoder the image at hand needs, not all of Pillow.

Each check runs in a fresh interpreter (an import made by another test would hide one made here)
and looks at ``sys.modules``: what is loaded, never how long it took (the time is
``benchmarks/run.py``'s figure).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, features

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"

#: Pillow's plugins that ``Image.preinit()`` imports for any open or save: BMP, GIF, JPEG, PNG and PPM.
COMMON_PLUGINS = {"PIL.BmpImagePlugin", "PIL.GifImagePlugin", "PIL.JpegImagePlugin", "PIL.PngImagePlugin",
                  "PIL.PpmImagePlugin"}
#: Loaded only when a file needs them: LittleCMS (an ICC profile), libjpeg-turbo and numpy (the strict
#: JPEG check), pillow-heif (HEIC).
ON_DEMAND = {"PIL.ImageCms", "simplejpeg", "numpy", "pillow_heif"}


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def thumbnail_code(path: Path, fmt: str | None = None) -> str:
    return ("import resizer.__main__\nfrom resizer.thumbnail import ThumbnailSpec, make_thumbnail\n"
            f"with open({str(path)!r}, 'rb') as f:\n    make_thumbnail(f, ThumbnailSpec(format={fmt!r}))\n")


def plugins(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("PIL.") and m.endswith("ImagePlugin")}


def test_starting_the_resizer_loads_no_decoder_and_no_colour_engine():
    modules = loaded_after("import resizer.__main__")
    assert plugins(modules) <= {"PIL.PngImagePlugin"}  # its text limit is set at start (apply_pillow_limits)
    assert not modules & ON_DEMAND


def test_a_jpeg_photo_loads_only_the_common_plugins():
    modules = loaded_after(thumbnail_code(PHOTOS / "grace_hopper.jpg"))
    assert plugins(modules) <= COMMON_PLUGINS
    assert not modules & ON_DEMAND


def test_only_an_image_with_an_icc_profile_loads_littlecms():
    modules = loaded_after(thumbnail_code(CASES / "c36_jpeg_adobergb_icc.jpg"))
    assert "PIL.ImageCms" in modules
    assert plugins(modules) <= COMMON_PLUGINS


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP support")
def test_a_webp_loads_the_webp_plugin_and_no_other():
    modules = loaded_after(thumbnail_code(CASES / "c28_webp_alpha.webp"))
    assert plugins(modules) == COMMON_PLUGINS | {"PIL.WebPImagePlugin"}


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP support")
def test_a_webp_thumbnail_of_a_png_loads_the_webp_writer_and_no_other_plugin():
    modules = loaded_after(thumbnail_code(PHOTOS / "horse.png", "webp"))
    assert plugins(modules) == COMMON_PLUGINS | {"PIL.WebPImagePlugin"}


def test_a_tiff_loads_the_tiff_plugin_and_no_other():
    modules = loaded_after(thumbnail_code(CASES / "c10_tiff_multipage_16bit.tif"))
    assert plugins(modules) == COMMON_PLUGINS | {"PIL.TiffImagePlugin"}


#: Per file: what open_image says (format, size, mode) or the reason it refuses.
_IDENTIFY = """
import json, sys
from pathlib import Path
from PIL import Image
from thumbnailer.api import ImageRejected
from thumbnailer.sniff import open_image
if sys.argv[1] == "all-plugins":
    Image.init()
out = {}
for path in sorted(Path(sys.argv[2]).iterdir()):
    try:
        with open(path, "rb") as f:
            img = open_image(f)
            out[path.name] = [img.format, list(img.size), img.mode]
    except ImageRejected as e:
        out[path.name] = [e.reason, e.message]
print(json.dumps(out))
"""


def test_every_case_is_identified_as_when_every_plugin_was_loaded(tmp_path):
    for case in CASES.iterdir():
        (tmp_path / case.name).write_bytes(case.read_bytes())
    picture = Image.new("RGB", (24, 16), (200, 40, 40))
    picture.save(tmp_path / "bitmap.bmp", "BMP")
    if features.check("avif"):
        picture.save(tmp_path / "photo.avif", "AVIF")
    # Files whose magic number is not one structure.announced_format knows: every accepted plugin is offered.
    (tmp_path / "bigtiff.tif").write_bytes(b"II+\x00\x08\x00\x00\x00" + bytes(32))
    (tmp_path / "noise.bin").write_bytes(bytes(range(256)) * 4)
    # A polyglot: TIFF magic, then an AVIF file type box (the TIFF decoder refuses it, then every plugin is tried).
    (tmp_path / "polyglot.tif").write_bytes(b"II*\x00ftypavif" + bytes(64))

    def identify(mode: str) -> dict:
        out = subprocess.run([sys.executable, "-c", _IDENTIFY, mode, str(tmp_path)], capture_output=True,
                             text=True, timeout=120, check=True)
        return json.loads(out.stdout)

    lazily = identify("lazy")
    assert lazily == identify("all-plugins")
    assert lazily["c28_webp_alpha.webp"][0] == "WEBP" and lazily["c10_tiff_multipage_16bit.tif"][0] == "TIFF"
    assert lazily["bitmap.bmp"][0] == "BMP" and lazily.get("photo.avif", ["AVIF"])[0] == "AVIF"

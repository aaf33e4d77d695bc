"""The repository layout must not break the standard library: `operator/` holds the package
`thumbnail_operator` and is never itself importable as `operator`.

The interpreter has the standard `operator` module loaded before any test (or `python -c`)
runs, so importing it proves nothing; these tests ask the path finder instead, as a fresh
import from the repository root (`python -m`, gunicorn and pytest put the working directory
first on sys.path) would.
"""

import importlib
import importlib.machinery
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def found_operator(first: Path):
    """The spec a fresh ``import operator`` would use with ``first`` at the front of sys.path."""
    import sys

    return importlib.machinery.PathFinder.find_spec("operator", [str(first), *sys.path])


def test_a_fresh_import_of_operator_from_the_repository_root_is_the_standard_library():
    spec = found_operator(REPO_ROOT)
    assert spec is not None and spec.origin and Path(spec.origin).parent == STDLIB, spec


def test_the_check_sees_a_shadowing_package(tmp_path):
    """The test above can fail: an `operator/__init__.py` first on the path is found instead."""
    (tmp_path / "operator").mkdir()
    (tmp_path / "operator" / "__init__.py").write_text("")
    spec = found_operator(tmp_path)
    assert spec.origin == str(tmp_path / "operator" / "__init__.py")


def test_operator_code_imports_under_its_own_name():
    module = importlib.import_module("thumbnail_operator")
    assert Path(module.__file__).parent == REPO_ROOT / "operator" / "thumbnail_operator"


def test_the_uploader_and_the_operator_import_no_resizer_code_and_set_no_pillow_limit_on_import():
    """The uploader's image pipeline is thumbnailer.sniff (headers only); Pillow's process-wide
    limits are set by the app factory at start, never as a side effect of an import."""
    import subprocess
    import sys

    code = ("import sys\nfrom PIL import ImageFile, PngImagePlugin\n"
            "before = (PngImagePlugin.MAX_TEXT_MEMORY, ImageFile.LOAD_TRUNCATED_IMAGES)\n"
            "import uploader.app, uploader.resources, uploader.intake, thumbnail_operator.handlers\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'resizer'))\n"
            "print((PngImagePlugin.MAX_TEXT_MEMORY, ImageFile.LOAD_TRUNCATED_IMAGES) == before)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["[]", "True"], out

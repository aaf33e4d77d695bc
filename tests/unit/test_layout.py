"""The repository layout must not break the standard library."""

import importlib
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_stdlib_operator_module_is_not_shadowed_by_the_operator_folder():
    import operator

    assert operator.itemgetter(1)(["a", "b"]) == "b"
    assert "site-packages" in operator.__file__ or "lib/python" in operator.__file__


def test_stdlib_operator_is_intact_when_python_runs_from_the_repository_root():
    # `python -m`, gunicorn and pytest all put the working directory first on sys.path.
    out = subprocess.run(
        [sys.executable, "-c", "import operator; print(operator.itemgetter(0)('xy'), operator.__file__)"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert out.startswith("x ")
    assert str(REPO_ROOT / "operator") not in out


def test_operator_code_imports_under_its_own_name():
    module = importlib.import_module("thumbnail_operator")
    assert Path(module.__file__).parent == REPO_ROOT / "operator" / "thumbnail_operator"

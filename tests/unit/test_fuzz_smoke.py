"""A short run of `make fuzz` (fuzz/thumbnail_fuzz.py): the harness works and finds nothing in its seeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_fuzzing_run_finds_no_bug(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "fuzz" / "thumbnail_fuzz.py"), "--seconds", "20",
                          "--corpus", str(tmp_path / "corpus"), f"-artifact_prefix={tmp_path}/"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done" in run.stderr and "seeds" in run.stdout
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))


def test_the_harness_reports_an_unexpected_exception_as_a_crash(tmp_path):
    """The smoke run above can only pass if a bug would fail it: a non-image error is a crash."""
    code = ("import sys; sys.argv = ['x']; sys.path.insert(0, %r)\n"
            "import thumbnail_fuzz as f\n"
            "import resizer.thumbnail as t\n"
            "def boom(*a, **k): raise KeyError('bug')\n"
            "f.make_thumbnail = boom\n"
            "try:\n    f.one_input(b'\\0abc')\nexcept KeyError:\n    print('crash')\n") % str(ROOT / "fuzz")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "crash", out.stderr

"""The cost of every hostile input: CPU seconds and peak resident memory per case, and the worst.

Each case of ``tests/hostile.py``'s corpus and of ``tests/data/cases`` runs through
``resizer.thumbnail.make_thumbnail`` in a child process of its own (so ``ru_maxrss``
is that case's peak), under a CPU ceiling (``--ceiling``, seconds) so that a case the
resizer does not bound is reported as ``>ceiling`` instead of hanging the run. The
child applies the resizer's own CPU budget (``resizer.budget``) exactly as the
program does.

    python benchmarks/hostile.py [--ceiling 60] [--only NAME ...]

Prints one line per case (outcome, CPU s, peak RSS MiB) and the worst of each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CHILD = r"""
import io, json, sys
from thumbnailer.api import ImageRejected
from resizer.thumbnail import ThumbnailSpec, make_thumbnail
try:
    from resizer.budget import cpu_budget
except ImportError:  # before the budget existed
    import contextlib
    cpu_budget = lambda seconds: contextlib.nullcontext()
spec = ThumbnailSpec(**json.loads(sys.argv[2]))
try:
    with cpu_budget(20), open(sys.argv[1], "rb") as f:
        t = make_thumbnail(f, spec)
    print(json.dumps({"outcome": f"ok {t.width}x{t.height} {t.format} {t.frames}f"}))
except ImageRejected as e:
    print(json.dumps({"outcome": e.reason}))
except Exception as e:
    print(json.dumps({"outcome": f"InternalError {type(e).__name__}: {str(e)[:80]}"}))
"""


def cases() -> list[tuple[str, bytes, dict]]:
    """(name, file bytes, ThumbnailSpec keywords) for every case measured."""
    import hostile

    out = [(name, gen(), {}) for name, (gen, _) in hostile.CORPUS.items()]
    out.append(("gif-200-frames@4096", hostile.gif_many_frames(), {"width": 4096, "height": 4096}))
    out.append(("gif-200-frames@289", hostile.gif_many_frames(), {"width": 289, "height": 289}))  # at the budget
    out.append(("gif-200-frames@4096-jpeg", hostile.gif_many_frames(), {"width": 4096, "height": 4096,
                                                                       "format": "jpeg"}))
    index = json.loads((ROOT / "tests/data/cases/cases.json").read_text())
    for case in index:
        out.append((case["id"], (ROOT / "tests/data/cases" / Path(case["file"]).name).read_bytes(), {}))
    return out


def measure(data: bytes, spec: dict, ceiling: int) -> tuple[str, float, float]:
    """Run one case in a child; returns (outcome, CPU seconds, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(data)
        f.flush()

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_CPU, (ceiling, ceiling))

        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen([sys.executable, "-c", CHILD, f.name, json.dumps(spec)], cwd=ROOT,
                                    stdout=out, stderr=err, text=True, preexec_fn=limit)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0), err.seek(0)
            stdout, stderr = out.read(), err.read()
    cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode < 0:
        outcome = f">{ceiling}s CPU (killed by signal {-proc.returncode})"
    else:
        lines = stdout.strip().splitlines()
        outcome = json.loads(lines[-1])["outcome"] if lines else f"exit {proc.returncode}: {stderr[-200:]}"
    return outcome, cpu, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ceiling", type=int, default=60, help="CPU seconds after which a case is killed")
    parser.add_argument("--only", nargs="*", help="case names to run")
    args = parser.parse_args()
    rows = []
    for name, data, spec in cases():
        if args.only and name not in args.only:
            continue
        outcome, cpu, rss = measure(data, spec, args.ceiling)
        rows.append((name, len(data), outcome, cpu, rss))
        print(f"{name:40} {len(data):>9} B  {cpu:7.2f} s CPU  {rss:8.1f} MiB  {outcome}", flush=True)
    if rows:
        worst_cpu = max(rows, key=lambda r: r[3])
        worst_rss = max(rows, key=lambda r: r[4])
        print(f"worst CPU: {worst_cpu[3]:.2f} s ({worst_cpu[0]}); worst peak RSS: {worst_rss[4]:.1f} MiB "
              f"({worst_rss[0]}); {sum('InternalError' in r[2] for r in rows)} InternalError of {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

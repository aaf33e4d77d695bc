"""Coverage-guided fuzzing of the resizer's core (``make_thumbnail``) with atheris (libFuzzer).

    python fuzz/thumbnail_fuzz.py [--seconds 300] [--corpus DIR] [libFuzzer flags ...]

Seeds: every file of ``tests/data/cases`` and every kind of ``tests/hostile.py``,
written to ``<corpus>/seeds`` (the corpus grows in ``<corpus>/found``; default
``.local/fuzz``). Pillow's plugins and the resizer are instrumented, so inputs that
reach new branches of the decoders are kept and mutated further.

A bug is any of:
- an exception other than :class:`thumbnailer.api.ImageRejected` (what becomes ``InternalError``);
- an input over the CPU budget (libFuzzer ``-timeout``, seconds, default 20: the resizer's
  own ``MAX_CPU_SECONDS`` is 15, so an input past it was not stopped by the budget);
- a memory blow-up (libFuzzer ``-rss_limit_mb``, default 2048).

libFuzzer writes the input that found it to ``crash-*``, ``timeout-*`` or ``oom-*`` in
the working directory and exits non-zero; replay one with ``python fuzz/thumbnail_fuzz.py FILE``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

with atheris.instrument_imports(include=["PIL", "resizer"]):
    from PIL import Image  # noqa: F401  (instrumented: its plugins are what the fuzzer explores)

    from resizer.budget import cpu_budget
    from thumbnailer.api import ImageRejected
    from resizer.thumbnail import ThumbnailSpec, make_thumbnail

#: The spec each input is made with: the first byte picks one (the default, contain, fill, an
#: animation-friendly size, each output format), so the encoders are reached too.
SPECS = [ThumbnailSpec(), ThumbnailSpec(fit="contain"), ThumbnailSpec(64, 32, "fill"),
         ThumbnailSpec(300, 300), *(ThumbnailSpec(format=f) for f in ("jpeg", "png", "webp", "gif"))]


def one_input(data: bytes) -> None:
    """Make a thumbnail of ``data[1:]`` with ``SPECS[data[0]]``; only :class:`ImageRejected` may be raised."""
    if not data:
        return
    spec = SPECS[data[0] % len(SPECS)]
    try:
        with cpu_budget(15):
            make_thumbnail(io.BytesIO(data[1:]), spec)
    except ImageRejected:
        pass


def write_seeds(directory: Path) -> int:
    """Write every case and every hostile kind as a seed (a spec byte, then the file); returns how many."""
    import hostile

    directory.mkdir(parents=True, exist_ok=True)
    seeds = {name: generate() for name, (generate, _) in hostile.CORPUS.items()}
    for case in json.loads((ROOT / "tests/data/cases/cases.json").read_text()):
        seeds[case["id"]] = (ROOT / "tests/data/cases" / Path(case["file"]).name).read_bytes()
    for name, data in seeds.items():
        (directory / name).write_bytes(b"\0" + data)
    return len(seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=300, help="total fuzzing time (libFuzzer -max_total_time)")
    parser.add_argument("--corpus", type=Path, default=ROOT / ".local" / "fuzz")
    args, rest = parser.parse_known_args()
    replay = [a for a in rest if not a.startswith("-")]
    flags = [a for a in rest if a.startswith("-")]
    if replay:  # run the given inputs once each (a crash-* file, say)
        argv = [sys.argv[0], *flags, *replay]
    else:
        count = write_seeds(args.corpus / "seeds")
        (args.corpus / "found").mkdir(parents=True, exist_ok=True)
        print(f"fuzz: {count} seeds, {args.seconds} s", flush=True)
        argv = [sys.argv[0], f"-max_total_time={args.seconds}", "-timeout=20", "-rss_limit_mb=2048",
                "-max_len=400000", *flags, str(args.corpus / "found"), str(args.corpus / "seeds")]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

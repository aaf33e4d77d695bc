"""``python -m resizer``: one thumbnail (or a batch of them, :mod:`resizer.batch`), as a Kubernetes Job's container.

Reads the source object, makes the thumbnail, writes it back, and reports
through the exit code and the termination message (what the operator reads):

* success: exit 0; the message is JSON ``{"bucket", "key", "width", "height",
  "contentType", "bytes", "frames", "sourceFrames"}`` (``frames`` <
  ``sourceFrames``: an animation cut at ``MAX_FRAMES``, or a still of its first
  frame when the output format cannot animate).
* a bad image: exit 65 (EX_DATAERR, permanent); message ``<Reason>: <text>``.
* the store unreachable: exit 75 (EX_TEMPFAIL, retried); message ``StoreUnavailable: <text>``.
* unusable settings: exit 78 (EX_CONFIG, permanent).
* anything else (a bug): exit 70 (EX_SOFTWARE, permanent); the message is one
  line ``InternalError: <ExceptionType>: <text>``, the traceback goes to stderr
  (``kubectl logs``), never into the message.

Failure messages are always one line of at most :data:`MAX_MESSAGE` characters.
With ``BATCH_ITEMS`` set, the program renders each item in turn and reports each
one's outcome on a line of its own (:mod:`resizer.batch`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile

from thumbnailer.api import (EXIT_BAD_IMAGE, EXIT_CONFIG, EXIT_INTERNAL, EXIT_OK, EXIT_RETRYABLE, ImageRejected,
                             ResizerEnv)
from thumbnailer.storetypes import StoreRefused, StoreUnavailable

from .budget import cpu_budget
from .settings import ResizerSettings, SettingsError
from .store import ResizerStore, SourceMissing
from .thumbnail import make_thumbnail

log = logging.getLogger("resizer")

#: Longest failure message written, in characters (a condition message should fit on a screen).
MAX_MESSAGE = 1000


def run(settings: ResizerSettings, hard_cpu_limit: bool = False, store: ResizerStore | None = None) -> dict:
    """Make and store one thumbnail; returns the JSON-able result.

    The thumbnail is made within ``settings.max_cpu_seconds`` of CPU time
    (:func:`resizer.budget.cpu_budget`; ``hard_cpu_limit`` adds the kernel's SIGKILL
    backstop, for the program only). ``store``: a client to reuse (a batch), else one
    is made from ``settings``. Raises :class:`ImageRejected` (``TooComplex``
    past the budget), :class:`SourceMissing`, or the store's
    :class:`~thumbnailer.storetypes.StoreRefused` or :class:`~thumbnailer.storetypes.StoreUnavailable`.
    """
    store = store or ResizerStore(settings)
    with tempfile.TemporaryFile() as spool:
        store.download(settings.source_bucket, settings.source_key, spool, settings.max_bytes)
        spool.seek(0)
        with cpu_budget(settings.max_cpu_seconds, hard=hard_cpu_limit):
            thumb = make_thumbnail(spool, settings.spec)
    key = f"{settings.output_key}.{thumb.extension}"
    store.upload(settings.output_bucket, key, thumb.data, thumb.content_type)
    if settings.previous_output_key and settings.previous_output_key != key:
        store.remove(settings.output_bucket, settings.previous_output_key)
    if thumb.frames < thumb.source_frames:
        log.warning("the thumbnail has %d of the source's %d frames (MAX_FRAMES, or a still output format)",
                    thumb.frames, thumb.source_frames)
    return {"bucket": settings.output_bucket, "key": key, "width": thumb.width, "height": thumb.height,
            "contentType": thumb.content_type, "bytes": len(thumb.data), "frames": thumb.frames,
            "sourceFrames": thumb.source_frames}


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with every run of whitespace (newlines included) made one space, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def internal_error_message(error: BaseException) -> str:
    """The termination message for an unexpected exception: ``InternalError: <Type>: <text>``, one line.

    Only the exception's type and its own text: no traceback, so no source
    file paths (the traceback is logged to stderr for ``kubectl logs``).
    """
    text = one_line(str(error))
    name = type(error).__name__
    return one_line(f"InternalError: {name}: {text}" if text else f"InternalError: {name}")


def classify(error: BaseException) -> tuple[int, str]:
    """The exit code and the one-line ``<Reason>: <text>`` message for a failure (see the module docstring)."""
    if isinstance(error, SettingsError):
        code, message = EXIT_CONFIG, f"InvalidConfiguration: {error}"
    elif isinstance(error, ImageRejected):
        code, message = EXIT_BAD_IMAGE, f"{error.reason}: {error.message}"
    elif isinstance(error, SourceMissing):
        code, message = EXIT_BAD_IMAGE, f"SourceNotFound: {error}"
    elif isinstance(error, StoreRefused):
        code, message = EXIT_CONFIG, f"{error.reason}: {error.message}"
    elif isinstance(error, StoreUnavailable):
        code, message = EXIT_RETRYABLE, f"StoreUnavailable: {error}"
    else:  # the last resort: a one-line reason, the traceback only in the log
        log.error("unexpected error", exc_info=error)
        code, message = EXIT_INTERNAL, internal_error_message(error)
    return code, one_line(message)


def report(path: str, message: str) -> None:
    """Write ``message`` to the termination-message file ``path`` (the kubelet keeps 4096 bytes of it)."""
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(message[:4000])
    except OSError as e:  # not in a pod (no /dev/termination-log): the log still has it
        log.debug("cannot write termination message to %s: %s", path, e)


def main(hard_cpu_limit: bool = False) -> int:
    """Entry point; returns the process exit code (see the module docstring).

    ``hard_cpu_limit``: also lower the hard ``RLIMIT_CPU`` (irreversible; ``python -m resizer`` does).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s resizer %(levelname)s %(message)s")
    # Known before the other settings are parsed, so a settings error is reported too.
    path = os.environ.get(ResizerEnv.TERMINATION_MESSAGE_PATH, "").strip() or "/dev/termination-log"
    if ResizerEnv.BATCH_ITEMS in os.environ:
        from .batch import run_batch

        return run_batch(os.environ, path, run, classify, hard_cpu_limit)
    try:
        result = run(ResizerSettings.from_env(), hard_cpu_limit)
    except Exception as e:  # noqa: BLE001 - classify() logs the traceback of anything unexpected
        code, message = classify(e)
    else:
        code, message = EXIT_OK, json.dumps(result, separators=(",", ":"))
    (log.info if code == EXIT_OK else log.error)("%s", message)
    report(path, message)
    return code


if __name__ == "__main__":
    sys.exit(main(hard_cpu_limit=True))

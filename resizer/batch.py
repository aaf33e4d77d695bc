"""A batch: several thumbnails made one after another in one pod, each with its own outcome.

The operator gives a batch Job the variables every item shares (the store, the limits) and
``BATCH_ITEMS``, a JSON array whose items set the per-item ones
(:data:`thumbnailer.api.BATCH_ITEM_FIELDS`). The outcome goes to the termination message, the
one channel from a pod to the operator that needs no ServiceAccount token and no extra object
in the store. It is rewritten after every item (:class:`BatchReport`), so when the pod is killed
midway (OOM, deadline, eviction) the kubelet still hands over what finished, and only the
rest is rendered again.

Per item: a bad image, a refusing store or an unusable item is that item's final ``failed``
line and the batch goes on; the store unreachable is a ``retry`` line and the batch stops there
(exit 75: the operator runs the unfinished items again). Exit 0 once every item has a line.
"""

from __future__ import annotations

import json
import logging
from typing import Callable, Mapping

from thumbnailer.api import (BATCH_ITEM_FIELDS, BATCH_REPORT_HEADER, EXIT_OK, EXIT_RETRYABLE, HARD_BATCH_GRACE_SECONDS,
                             ResizerEnv)

from .budget import cap_process_cpu
from .settings import ResizerSettings, SettingsError
from .store import ResizerStore

log = logging.getLogger("resizer")

#: The kubelet's limit for a termination message, bytes.
MESSAGE_BYTES = 4096
#: A failure's text is cut to this many characters when the batch's lines would not fit otherwise.
MIN_FAILURE_TEXT = 60


def batch_items(env: Mapping[str, str]) -> list[dict[str, str]]:
    """One environment per item of ``env[BATCH_ITEMS]``: the shared variables with the item's own on top.

    The per-item variables are never inherited from the shared ones (an item without
    ``previousOutputKey`` has none). Raises :class:`SettingsError` if ``BATCH_ITEMS`` is not
    a non-empty JSON array of objects whose keys are in :data:`~thumbnailer.api.BATCH_ITEM_FIELDS`.
    """
    try:
        items = json.loads(env.get(ResizerEnv.BATCH_ITEMS, ""))
    except ValueError as e:
        raise SettingsError(f"{ResizerEnv.BATCH_ITEMS} is not JSON: {e}") from None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise SettingsError(f"{ResizerEnv.BATCH_ITEMS} must be a non-empty JSON array of objects")
    shared = {k: v for k, v in env.items() if k not in BATCH_ITEM_FIELDS.values() and k != ResizerEnv.BATCH_ITEMS}
    out = []
    for index, item in enumerate(items):
        unknown = sorted(set(item) - set(BATCH_ITEM_FIELDS))
        if unknown:
            raise SettingsError(f"{ResizerEnv.BATCH_ITEMS}[{index}] has unknown keys: {', '.join(unknown)}")
        out.append({**shared, **{BATCH_ITEM_FIELDS[k]: str(v) for k, v in item.items() if v is not None}})
    return out


class BatchReport:
    """The batch's termination message: :data:`~thumbnailer.api.BATCH_REPORT_HEADER`, then one line per item.

    Lines (``index`` counts from 0 in ``BATCH_ITEMS`` order):
    ``<index> ok <extension> <contentType> <width> <height> <bytes> <frames> <sourceFrames>``,
    ``<index> failed <Reason>: <text>`` and ``<index> retry <Reason>: <text>``. The texts of
    failures are shortened (to no less than :data:`MIN_FAILURE_TEXT` characters) so that every
    line fits in :data:`MESSAGE_BYTES`; :data:`~thumbnailer.api.MAX_BATCH_ITEMS` keeps that possible.
    """

    def __init__(self, path: str):
        self.path = path
        self.lines: list[tuple[int, str, str]] = []  # (index, outcome, rest of the line)

    def add(self, index: int, outcome: str, rest: str) -> None:
        """Record item ``index``'s outcome and rewrite the file at once."""
        self.lines.append((index, outcome, " ".join(rest.split())))
        self.write()

    def text(self) -> str:
        """The message as written: every line, failure texts cut to share the bytes left."""
        fixed = [f"{i} {o} {r}" for i, o, r in self.lines if o == "ok"]
        failures = [(i, o, r) for i, o, r in self.lines if o != "ok"]
        room = MESSAGE_BYTES - len(BATCH_REPORT_HEADER) - 1 - sum(len(line.encode()) + 1 for line in fixed)
        room -= sum(len(f"{i} {o} ".encode()) + 1 for i, o, _ in failures)
        share = max(MIN_FAILURE_TEXT, room // len(failures)) if failures else 0
        lines = {i: f"{i} {o} {r}" for i, o, r in self.lines if o == "ok"}
        for i, o, r in failures:
            cut = r if len(r.encode()) <= share else r.encode()[: share - 3].decode("utf-8", "ignore") + "..."
            lines[i] = f"{i} {o} {cut}"
        return "\n".join([BATCH_REPORT_HEADER, *(lines[i] for i in sorted(lines))])

    def write(self, text: str | None = None) -> None:
        """Rewrite the file with :meth:`text` (or ``text`` instead, for a batch that cannot start)."""
        try:
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(self.text() if text is None else text)
        except OSError as e:  # not in a pod: the log has every line too
            log.debug("cannot write termination message to %s: %s", self.path, e)


def run_batch(env: Mapping[str, str], path: str, render: Callable[..., dict],
              classify: Callable[[BaseException], tuple[int, str]], hard_cpu_limit: bool = False) -> int:
    """Render every item of ``env``'s ``BATCH_ITEMS`` in order; returns the exit code.

    ``render(settings, store=...)`` makes one thumbnail and returns its result dict,
    ``classify(error)`` maps a failure to (exit code, one-line message): the single-item
    program's own (:func:`resizer.__main__.run`, :func:`resizer.__main__.classify`).

    0: every item has its final line; 75: the store became unreachable (this item is a
    ``retry`` line, the later ones have none); 78: ``BATCH_ITEMS`` itself is unusable (the
    message is one ``InvalidConfiguration`` line, no item line). ``hard_cpu_limit``: the
    kernel's SIGKILL backstop for the whole batch, every item's ``MAX_CPU_SECONDS`` plus
    one second each, plus :data:`~thumbnailer.api.HARD_BATCH_GRACE_SECONDS`.
    """
    out = BatchReport(path)
    try:
        items = batch_items(env)
    except SettingsError as e:
        code, message = classify(e)
        log.error("%s", message)
        out.write(message)
        return code
    out.write()
    store = None
    budgets = 0
    for index, item in enumerate(items):
        try:
            settings = ResizerSettings.from_env(item)
            if hard_cpu_limit and not budgets:
                budgets = len(items) * (settings.max_cpu_seconds + 1) + HARD_BATCH_GRACE_SECONDS
                cap_process_cpu(budgets)
            store = store or ResizerStore(settings)  # one client (and its connection pool) for the batch
            result = render(settings, store=store)
        except Exception as e:  # noqa: BLE001 - each item's own outcome; classify() logs anything unexpected
            code, message = classify(e)
            log.error("item %d: %s", index, message)
            if code == EXIT_RETRYABLE:
                out.add(index, "retry", message)
                return EXIT_RETRYABLE
            out.add(index, "failed", message)
            continue
        extension = result["key"].rsplit(".", 1)[-1]
        log.info("item %d: %s %dx%d, %d bytes", index, result["key"], result["width"], result["height"],
                 result["bytes"])
        out.add(index, "ok", f"{extension} {result['contentType']} {result['width']} {result['height']} "
                             f"{result['bytes']} {result['frames']} {result['sourceFrames']}")
    return EXIT_OK

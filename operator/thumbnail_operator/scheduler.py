"""The concurrency cap: at most ``max_running`` unfinished resizer Jobs, oldest ThumbnailJob first."""

from __future__ import annotations

import threading
from typing import Callable

from .kube import Kube


class Scheduler:
    """Admits ThumbnailJobs to a Job slot, in order of creation.

    The count of unfinished Jobs is read from the API server on every
    admission (a consistent list), and a Job is created while the scheduler's
    lock is held, so no two admissions can overshoot the cap. A single active
    operator is assumed (the Deployment runs one replica with Recreate).
    ``max_running`` 0 means no cap.
    """

    def __init__(self, kube: Kube, max_running: int, namespaces: Callable[[], list[str]],
                 watched: Callable[[str], bool] = lambda namespace: True):
        self.kube, self.max_running, self._namespaces, self._watched = kube, max_running, namespaces, watched
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], tuple[str, str]] = {}  # key -> (creationTimestamp, name)

    def admit(self, tj: dict, create: Callable[[], dict]) -> tuple[dict | None, int]:
        """Run ``create()`` if ``tj`` may start now; returns (its result or None, queue position).

        The position counts the ThumbnailJobs ahead of ``tj`` (0 = next).
        """
        meta = tj["metadata"]
        key = (meta["namespace"], meta["name"])
        if not self.max_running:
            return create(), 0
        with self._lock:
            self._waiting[key] = (meta.get("creationTimestamp", ""), meta["name"])
            order = sorted(self._waiting, key=self._waiting.__getitem__)
            position = order.index(key)
            free = self.max_running - self.kube.count_unfinished_jobs(self._namespaces(), self._watched)
            if position >= free:
                return None, max(0, position - max(free, 0))
            result = create()
            del self._waiting[key]
            return result, 0

    def forget(self, namespace: str, name: str) -> None:
        """Drop a ThumbnailJob from the queue (it has a Job, finished, or is gone)."""
        with self._lock:
            self._waiting.pop((namespace, name), None)

    def next_up(self) -> list[tuple[str, str]]:
        """The queued ThumbnailJobs that fit in the free slots now, oldest first."""
        if not self.max_running:
            return []
        with self._lock:
            if not self._waiting:
                return []
            free = self.max_running - self.kube.count_unfinished_jobs(self._namespaces(), self._watched)
            return sorted(self._waiting, key=self._waiting.__getitem__)[:max(free, 0)]

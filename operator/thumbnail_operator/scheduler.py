"""The concurrency cap: at most ``max_running`` unfinished resizer Jobs, oldest ThumbnailJob first,
and the batches: what is queued when a slot frees goes into one Job, up to ``batch_max_items``."""

from __future__ import annotations

import threading
from typing import Callable

from .jobs import claimed_members
from .kube import Kube
from .status import job_finished


class Scheduler:
    """Admits ThumbnailJobs to a Job slot, in order of creation.

    The unrecorded Jobs are listed from the API server on every admission (a consistent
    list), and a Job is created while the admission lock is held, so no two admissions
    can overshoot the cap or put one ThumbnailJob into two Jobs. Which ThumbnailJobs a Job
    serves is read off the Job itself (:func:`~.jobs.claimed_members`), never kept in
    memory: an operator killed and started again sees exactly what the last one created.
    A single active operator is assumed (leader election). ``max_running`` 0 means no cap
    (and so no queue, and no batches).
    """

    def __init__(self, kube: Kube, max_running: int, namespaces: Callable[[], list[str]],
                 watched: Callable[[str], bool] = lambda namespace: True, batch_max_items: int = 1):
        self.kube, self.max_running, self._namespaces, self._watched = kube, max_running, namespaces, watched
        self.batch_max_items = batch_max_items
        # _admitting: one admission at a time (the Jobs are read and one is created under it).
        # _state: the fields below, held only briefly, so that an arrival joins the queue while
        # an admission is under way, and that admission can take it into its batch.
        self._admitting = threading.Lock()
        self._state = threading.Lock()
        # key -> (creationTimestamp, name, the ThumbnailJob as its last reconcile read it)
        self._waiting: dict[tuple[str, str], tuple[str, str, dict]] = {}
        # Free slots as last counted (after what this scheduler created since), and the
        # ThumbnailJobs it has put into Jobs (until forgotten): see admit().
        self._free = 1
        self._taken: set[tuple[str, str]] = set()
        # key -> the Job another admission put it into, handed to its own admission once.
        self._handed: dict[tuple[str, str], dict] = {}

    def _order(self) -> list[tuple[str, str]]:
        return sorted(self._waiting, key=lambda k: self._waiting[k][:2])

    def admit(self, tj: dict, create: Callable[[list[dict]], dict],
              seen: frozenset[str] = frozenset()) -> tuple[dict | None, int]:
        """Run ``create(members)`` if ``tj`` may start now; returns (its result or None, queue position).

        ``members`` is ``tj`` and, when the queue holds more, up to ``batch_max_items - 1``
        other queued ThumbnailJobs of its namespace, oldest first. The position counts the
        ThumbnailJobs ahead of ``tj`` (0 = next). ``seen``: the names of the Jobs the caller
        already knows serve ``tj``; if an unrecorded Job not among them serves it (another
        admission took it meanwhile), that Job is returned and nothing is created. Without
        batches that cannot happen (a Job's name is its ThumbnailJob's and generation's), and
        the check is left out.

        ``tj`` joins the queue before it waits for the admission under way, if any: that
        admission may take it into its batch, and then hands it that Job (once) instead of
        it reading the Jobs. Under a burst of 300, arrivals that waited outside the queue
        each got a Job of their own, one admission (a list and a create) at a time.

        While older ThumbnailJobs wait and no slot was free at the last count, ``tj`` joins the
        queue without the Jobs being read: it cannot start before those, which start (oldest
        first) when a Job's end frees a slot (:meth:`next_up`). One that this scheduler has put
        into a Job is always checked. Under a burst of 300, reading the Jobs under the lock for
        every arrival was what the operator's workers waited on most.
        """
        meta = tj["metadata"]
        key = (meta["namespace"], meta["name"])
        if not self.max_running:
            return create([tj]), 0
        entry = (meta.get("creationTimestamp", ""), meta["name"], tj)
        with self._state:
            self._waiting[key] = entry
            position = self._order().index(key)
            if position > 0 and self._free <= 0 and key not in self._taken:
                return None, position
        with self._admitting:
            with self._state:
                handed = self._handed.pop(key, None)
                position = self._order().index(key) if key in self._waiting else 0
                if handed is None and position > 0 and self._free <= 0 and key not in self._taken:
                    return None, position  # the admissions it waited for took the last slots
            if handed is not None and handed["metadata"]["name"] not in seen:
                return handed, 0
            jobs = self.kube.unrecorded_jobs(self._namespaces(), self._watched)
            for job in jobs if self.batch_max_items > 1 else []:
                if job["metadata"]["name"] not in seen and key in claimed_members(job):
                    with self._state:
                        self._waiting.pop(key, None)
                    return job, 0
            running = [job for job in jobs if not job_finished(job)]
            free = self.max_running - len(running)
            busy = set().union(*(claimed_members(job) for job in running))
            with self._state:
                self._free = free
                self._waiting.setdefault(key, entry)
                order = self._order()
                position = order.index(key)
                if position >= free:
                    return None, max(0, position - max(free, 0))
                more = [k for k in order if k != key and k[0] == key[0] and k not in busy][: self.batch_max_items - 1]
                taken = {k: self._waiting.pop(k) for k in [key, *more]}
                self._taken.update(taken)
            try:
                result = create([tj] + [taken[k][2] for k in more])
            except BaseException:
                with self._state:
                    self._taken.difference_update(taken)
                    self._waiting.update(taken)
                raise
            with self._state:
                self._free = free - 1
                self._handed.update((k, result) for k in more if k in self._taken)
            return result, 0

    def queued(self, namespace: str, name: str) -> bool:
        """Whether the ThumbnailJob waits in the queue."""
        with self._state:
            return (namespace, name) in self._waiting

    def forget(self, namespace: str, name: str) -> None:
        """Drop a ThumbnailJob from the queue (it has a Job, finished, or is gone)."""
        with self._state:
            self._waiting.pop((namespace, name), None)
            self._taken.discard((namespace, name))
            self._handed.pop((namespace, name), None)

    def forget_job(self, name: str) -> None:
        """A Job is gone: hand it to no admission (its members are admitted again)."""
        with self._state:
            for key in [k for k, job in self._handed.items() if job["metadata"]["name"] == name]:
                del self._handed[key]

    def next_up(self) -> list[tuple[str, str]]:
        """The queued ThumbnailJobs that fit in the free slots now, oldest first."""
        if not self.max_running:
            return []
        with self._state:
            if not self._waiting:
                return []
        free = self.max_running - self.kube.count_unfinished_jobs(self._namespaces(), self._watched)
        with self._state:
            self._free = free
            return self._order()[:max(free, 0)]

"""One level-based reconcile of a ThumbnailJob: read the world, converge, write status once."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import defaultdict

from thumbnailer import api
from thumbnailer.api import LABEL_GENERATION, LABEL_THUMBNAILJOB
from thumbnailer.objectstore import StoreError

from .cleanup import cleanup_store, objects_to_delete
from .jobs import build_job, job_name, label_value
from .kube import Kube
from .metrics import JOBS_CREATED, QUEUED, RECONCILE_ERRORS, THUMBNAILJOBS, TIME_TO_SUCCEEDED
from .scheduler import Scheduler
from .settings import OperatorSettings, namespace_patterns, namespace_watched, plain_namespaces
from .status import desired_status, status_changed

log = logging.getLogger("thumbnail_operator")
_TERMINAL = (api.PHASE_SUCCEEDED, api.PHASE_FAILED)
#: Holds a deleted ThumbnailJob until its objects are removed (the Delete policy).
FINALIZER = f"{api.GROUP}/finalizer"


def finished_for_generation(tj: dict) -> bool:
    """Whether ``tj``'s status is terminal for its current generation."""
    status = tj.get("status") or {}
    return status.get("observedGeneration") == tj["metadata"].get("generation") and status.get("phase") in _TERMINAL


def utcnow() -> str:
    """Now as an RFC 3339 UTC timestamp (seconds), as Kubernetes writes times."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reconciler:
    """Converges ThumbnailJobs; safe to call from many threads and any number of times.

    Calls for the same object are serialized by a per-object lock; status is
    written with a resourceVersion precondition, so a stale view never
    overwrites a newer one.
    """

    def __init__(self, kube: Kube, settings: OperatorSettings):
        self.kube, self.settings = kube, settings
        self._locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._patterns = namespace_patterns(settings.watch_namespace)
        self.scheduler = Scheduler(kube, settings.max_running_jobs, self._listing_scope,
                                   lambda namespace: namespace_watched(namespace, self._patterns))

    def _listing_scope(self) -> list[str]:
        """Namespaces to list one by one (a namespaced Role suffices), or [""] for one cluster-wide list."""
        plain = plain_namespaces(self._patterns)
        return plain if self._patterns and plain == self._patterns else [""]

    def reconcile(self, namespace: str, name: str) -> str | None:
        """Reconcile one ThumbnailJob; returns the phase it is in afterwards (None if it is gone)."""
        with self._locks[(namespace, name)]:
            return self._reconcile(namespace, name)

    def _reconcile(self, namespace: str, name: str) -> str | None:
        tj = self.kube.get_thumbnailjob(namespace, name)
        if tj is None or tj["metadata"].get("deletionTimestamp"):
            self._locks.pop((namespace, name), None)
            self.scheduler.forget(namespace, name)
            if tj is not None and FINALIZER in (tj["metadata"].get("finalizers") or []):
                self._clean_up(tj)
            return None
        wants_finalizer = self.settings.object_deletion_policy == "Delete"
        if wants_finalizer != (FINALIZER in (tj["metadata"].get("finalizers") or [])):
            if not self.kube.set_finalizer(tj, FINALIZER, wants_finalizer):
                return (tj.get("status") or {}).get("phase")  # changed meanwhile: its next event reconciles
            tj = self.kube.get_thumbnailjob(namespace, name)
            if tj is None:
                return None
        gen = tj["metadata"]["generation"]
        status = tj.get("status") or {}
        jname = job_name(name, gen)
        if finished_for_generation(tj):
            # Final for this generation. Let the TTL controller remove the Job now that its
            # outcome is recorded, and leave it out of the running count (it may be gone already).
            self.kube.mark_recorded(namespace, jname, self.settings.job_ttl_seconds_after_finished)
            self.scheduler.forget(namespace, name)
            return status["phase"]
        job = self.kube.get_job(namespace, jname)
        position = None
        if job is None:
            job, position = self.scheduler.admit(tj, lambda: self._start(tj, jname))
        else:
            self.scheduler.forget(namespace, name)
        pods = self.kube.job_pods(namespace, jname) if job is not None else []
        new = desired_status(tj, job, pods, utcnow(), queue_position=position)
        if status_changed(status, new) and self.kube.patch_status(tj, new):
            log.info("%s/%s: %s (%s)", namespace, name, new["phase"], new["reason"],
                     extra={"thumbnailjob": f"{namespace}/{name}"})
            if new["phase"] != status.get("phase") or status.get("observedGeneration") != gen:
                self._announce(tj, new)
            elif new["reason"] == "Queued" and status.get("reason") != "Queued":
                self.kube.event(tj, "Normal", "Queued", new["message"])
            if new["phase"] in _TERMINAL:
                self.kube.mark_recorded(namespace, jname, self.settings.job_ttl_seconds_after_finished)
        return new["phase"]

    def _clean_up(self, tj: dict) -> None:
        """Delete policy: remove the ThumbnailJob's objects, then release the finalizer.

        Bounded: after ``cleanup_attempts`` failed tries (1, 2, 4, ... s apart) a
        Warning event is recorded and the finalizer is released anyway, so a lost
        store never blocks deletion forever.
        """
        attempts = self.settings.cleanup_attempts
        for attempt in range(attempts):
            try:
                store = cleanup_store(self.settings)
                for bucket, key in objects_to_delete(tj, self.settings):
                    store.remove(bucket, key)
                break
            except StoreError as e:
                if attempt + 1 == attempts:
                    self.kube.event(tj, "Warning", "CleanupFailed",
                                    f"gave up removing the thumbnail after {attempts} tries: {e}")
                else:
                    time.sleep(min(2 ** attempt, 30))
        meta = tj["metadata"]
        for _ in range(3):  # the object may have changed meanwhile (resourceVersion guard)
            fresh = self.kube.get_thumbnailjob(meta["namespace"], meta["name"])
            if fresh is None or self.kube.set_finalizer(fresh, FINALIZER, False):
                return

    def _start(self, tj: dict, jname: str) -> dict:
        """Create the Job for ``tj``'s generation (stopping Jobs of older generations first)."""
        meta = tj["metadata"]
        namespace, name, gen = meta["namespace"], meta["name"], meta["generation"]
        status = tj.get("status") or {}
        if (status.get("observedGeneration") or gen) != gen:
            superseded = self.kube.delete_jobs(
                namespace, f"{LABEL_THUMBNAILJOB}={label_value(name)},{LABEL_GENERATION}!={gen}")
            if superseded:
                self.kube.event(tj, "Normal", "SpecChanged",
                                f"generation {gen}: rendering again; removed the Jobs of earlier generations: "
                                f"{', '.join(superseded)}")
        job = self.kube.create_job(build_job(tj, self.settings))
        JOBS_CREATED.inc()
        log.info("created Job %s/%s for generation %s", namespace, jname, gen,
                 extra={"thumbnailjob": f"{namespace}/{name}"})
        self.kube.event(tj, "Normal", "JobCreated", f"created Job {jname} for generation {gen}")
        return job

    def fill(self) -> None:
        """Start the queued ThumbnailJobs that fit in the free slots (after a Job finished)."""
        for namespace, name in self.scheduler.next_up():
            try:
                self.reconcile(namespace, name)
            except Exception:  # the resync retries it
                RECONCILE_ERRORS.inc()
                log.exception("starting %s/%s failed", namespace, name)

    def _announce(self, tj: dict, new: dict) -> None:
        """An Event (and a metric) for a phase the ThumbnailJob just entered."""
        if new["phase"] == api.PHASE_SUCCEEDED:
            created = tj["metadata"].get("creationTimestamp")
            if created and new.get("completionTime"):  # counted before the Event, which readers may wait on
                TIME_TO_SUCCEEDED.observe(max(0.0, _seconds(new["completionTime"]) - _seconds(created)))
            self.kube.event(tj, "Normal", new["reason"], new["message"])
        elif new["phase"] == api.PHASE_FAILED:
            self.kube.event(tj, "Warning", new["reason"], new["message"])
        elif new["phase"] == api.PHASE_RUNNING:
            self.kube.event(tj, "Normal", "Started", new["message"])

    def resync(self) -> int:
        """Reconcile every unfinished ThumbnailJob in the watched namespaces; returns how many.

        Also refreshes the ThumbnailJobs-by-phase gauge.
        """
        listing = [tj for ns in self._listing_scope() for tj in self.kube.list_thumbnailjobs(ns)]
        # Oldest first, so queued ThumbnailJobs are admitted in order of creation.
        listing.sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))
        count = 0
        phases = dict.fromkeys(api.PHASES, 0)
        queued = 0
        for tj in listing:
            meta, status = tj["metadata"], tj.get("status") or {}
            if not namespace_watched(meta["namespace"], self._patterns):
                continue
            queued += status.get("reason") == "Queued"
            phases[status.get("phase") or api.PHASE_PENDING] += 1
            if finished_for_generation(tj) and not meta.get("deletionTimestamp"):  # a deleted one may still owe its cleanup
                continue
            try:
                self.reconcile(meta["namespace"], meta["name"])
                count += 1
            except Exception:  # one bad object must not stop the others
                RECONCILE_ERRORS.inc()
                log.exception("reconcile of %s/%s failed", meta["namespace"], meta["name"])
        for phase, n in phases.items():
            THUMBNAILJOBS.labels(phase).set(n)
        QUEUED.set(queued)
        self.fill()
        return count


def _seconds(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()

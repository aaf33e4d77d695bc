"""One level-based reconcile of a ThumbnailJob: read the world, converge, write status once."""

from __future__ import annotations

import concurrent.futures
import datetime
import logging
import secrets
import threading
import time
from collections import defaultdict
from typing import Any, Callable

from thumbnailer import api
from thumbnailer.api import LABEL_GENERATION, LABEL_THUMBNAILJOB
from thumbnailer.storetypes import StoreError

from .cleanup import cleanup_store, objects_to_delete
from .jobs import batch_members, build_batch_job, claimed_members, build_job, job_name, label_value, member_label, output_key
from .kube import Kube
from .metrics import BATCH_ITEMS, JOBS_CREATED, QUEUED, RECONCILE_ERRORS, THUMBNAILJOBS, TIME_TO_SUCCEEDED
from .scheduler import Scheduler
from .settings import OperatorSettings, namespace_patterns, namespace_watched, plain_namespaces
from .status import batch_failure, batch_outcome, desired_status, job_finished, status_changed

log = logging.getLogger("thumbnail_operator")
_TERMINAL = (api.PHASE_SUCCEEDED, api.PHASE_FAILED)
#: Requests for a batch's members made at once (their reconciles when it has finished, their
#: JobCreated Events when it is created): each mostly waits on the API server.
MEMBER_THREADS = 4
#: Our own latest writes remembered per ThumbnailJob (their echoes may arrive after the next write).
OWN_WRITES_KEPT = 3
#: Holds a deleted ThumbnailJob until its objects are removed (the Delete policy).
FINALIZER = f"{api.GROUP}/finalizer"


class _Conflict(Exception):
    """A write to the ThumbnailJob was refused: it changed since it was read (resourceVersion)."""

    def __init__(self, phase: str | None):
        super().__init__(phase)
        self.phase = phase


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
        # key -> resourceVersions of our latest writes (finalizer, status), newest last
        self._own_writes: dict[tuple[str, str], list[str]] = {}
        self._job_states: dict[str, tuple] = {}  # Job uid -> what its last handled event showed
        # key -> the unsettled ThumbnailJob as its latest watch event showed it (see observe())
        self._latest: dict[tuple[str, str], dict] = {}
        self._patterns = namespace_patterns(settings.watch_namespace)
        self.scheduler = Scheduler(kube, settings.max_running_jobs, self._listing_scope,
                                   lambda namespace: namespace_watched(namespace, self._patterns),
                                   batch_max_items=settings.batch_max_items)
        self.batching = settings.batch_max_items > 1

    def _listing_scope(self) -> list[str]:
        """Namespaces to list one by one (a namespaced Role suffices), or [""] for one cluster-wide list."""
        plain = plain_namespaces(self._patterns)
        return plain if self._patterns and plain == self._patterns else [""]

    def own_write(self, namespace: str, name: str, resource_version: str) -> bool:
        """Whether a ThumbnailJob event shows exactly the object one of our latest writes made.

        Such an event says nothing new (the status was computed from the world as it was, and
        any change to that world has events of its own), so the handler skips it: under a
        burst these echoes were a third of the operator's reconciles. resourceVersions are only
        compared for equality, as the API conventions allow.
        """
        return resource_version in self._own_writes.get((namespace, name), ())

    def _remember_write(self, namespace: str, name: str, resource_version: str) -> None:
        writes = self._own_writes.setdefault((namespace, name), [])
        writes.append(resource_version)
        del writes[:-OWN_WRITES_KEPT]

    def job_event_news(self, job: dict, deleted: bool = False) -> bool:
        """Whether a Job event shows anything the ThumbnailJobs it serves could see differently
        from its last handled event: its pod counts, its conditions, its recorded label.

        The Job controller writes a Job's status several times per pod (uncounted terminated
        pods, ready counts, ...); with a batch each event would reconcile every member. After
        a restart nothing is known, so every Job's first event is news.
        """
        meta, status = job["metadata"], job.get("status") or {}
        if deleted:
            self._job_states.pop(meta.get("uid", ""), None)
            return True
        state = (status.get("active"), status.get("ready"), status.get("succeeded"), status.get("failed"),
                 job_finished(job), (meta.get("labels") or {}).get(api.LABEL_RECORDED))
        if self._job_states.get(meta.get("uid", "")) == state:
            return False
        self._job_states[meta.get("uid", "")] = state
        return True

    def observe(self, tj: dict, deleted: bool = False) -> None:
        """Keep ``tj`` as a watch event showed it (``deleted``: the event said it is gone).

        An informer's cache, kept only while a ThumbnailJob is unsettled: a reconcile started by
        one of its Jobs' events (:meth:`follow`, :meth:`settle`) reads it here instead of from the
        API server. Under a burst those reads were most of the operator's requests: each event of
        a batch Job reconciled all its members. A stale copy only costs a refused write (its
        resourceVersion precondition) and one read (:meth:`reconcile`). Watch events of one
        object arrive in order, so the copy is never older than one already seen.
        """
        key = (tj["metadata"]["namespace"], tj["metadata"]["name"])
        if deleted or (finished_for_generation(tj) and not tj["metadata"].get("deletionTimestamp")):
            self._latest.pop(key, None)
        else:
            self._latest[key] = tj

    def finalizer_as_wanted(self, tj: dict) -> bool:
        """Whether ``tj`` has the finalizer exactly when the object-deletion policy is ``Delete``."""
        return (self.settings.object_deletion_policy == "Delete") == (FINALIZER in (tj["metadata"].get("finalizers")
                                                                                   or []))

    def reconcile(self, namespace: str, name: str, seen: dict | None = None,
                  serving: tuple[dict, list[dict]] | None = None) -> str | None:
        """Reconcile one ThumbnailJob; returns the phase it is in afterwards (None if it is gone).

        ``seen``: the ThumbnailJob as a watch event, the cache (:meth:`observe`) or a listing
        showed it, used instead of reading it again. One that has changed since is safe: every
        write is guarded by its resourceVersion, and a refused write reads it again and
        reconciles once more. ``serving``: a Job that serves it, as an event showed it, and that
        Job's pods, read once for all its members (see :meth:`_member_state`).
        """
        with self._locks[(namespace, name)]:
            if seen is not None:
                try:
                    return self._reconcile(namespace, name, seen, serving)
                except _Conflict:
                    pass  # changed since: read it again
            try:
                return self._reconcile(namespace, name, self.kube.get_thumbnailjob(namespace, name), serving)
            except _Conflict as e:  # changed again meanwhile: that change's own event reconciles it
                return e.phase

    def _reconcile(self, namespace: str, name: str, tj: dict | None,
                   serving: tuple[dict, list[dict]] | None = None) -> str | None:
        if tj is None or tj["metadata"].get("deletionTimestamp"):
            if tj is None:
                self._latest.pop((namespace, name), None)
            self._locks.pop((namespace, name), None)
            self._own_writes.pop((namespace, name), None)
            self.scheduler.forget(namespace, name)
            if tj is not None and FINALIZER in (tj["metadata"].get("finalizers") or []):
                # A batch still rendering it would write the thumbnail after the cleanup: wait for
                # its end (the batch's Job event reconciles its owners, this one included).
                if not (self.batching and any(not job_finished(j) for j in self.kube.member_jobs(namespace, name))):
                    self._clean_up(tj)
            return None
        # Never reconciled (no status, no finalizer yet): no Job can serve it, since a Job is only
        # created once the finalizer is in place, and the Jobs are not read.
        wants_finalizer = self.settings.object_deletion_policy == "Delete"
        new = wants_finalizer and not tj.get("status") and FINALIZER not in (tj["metadata"].get("finalizers") or [])
        if not self.finalizer_as_wanted(tj):
            written = self.kube.set_finalizer(tj, FINALIZER, wants_finalizer)
            if not written:
                raise _Conflict((tj.get("status") or {}).get("phase"))
            tj = written if isinstance(written, dict) else self.kube.get_thumbnailjob(namespace, name)
            if tj is None:
                return None
            self._remember_write(namespace, name, tj["metadata"]["resourceVersion"])
        gen = tj["metadata"]["generation"]
        status = tj.get("status") or {}
        jname = job_name(name, gen)
        if finished_for_generation(tj):
            # Final for this generation. Let the TTL controller remove the Job now that its
            # outcome is recorded, and leave it out of the running count (it may be gone already).
            # A batch Job is marked once all its members are settled (settle()).
            if status.get("jobName") == jname:
                self.kube.mark_recorded(namespace, jname, self.settings.job_ttl_seconds_after_finished)
            self.scheduler.forget(namespace, name)
            return status["phase"]
        if self.batching:
            return self._write(tj, *self._member_state(tj, new, serving))
        if serving is not None and serving[0]["metadata"]["name"] == jname:
            job, pods = serving
            self.scheduler.forget(namespace, name)
            return self._write(tj, job, pods, None)
        job = None if new else self.kube.get_job(namespace, jname)
        position = None
        if job is None:
            job, position = self._admit(tj, lambda members, events: self._start(tj, jname, events))
        else:
            self.scheduler.forget(namespace, name)
        pods = self.kube.job_pods(namespace, jname) if job is not None else []
        return self._write(tj, job, pods, position)

    def _member_state(self, tj: dict, new: bool = False, serving: tuple[dict, list[dict]] | None = None
                      ) -> tuple[dict | None, list[dict], int | None, tuple | None, str | None]:
        """With batches: (the Job that decides, its pods, queue position, outcome, queue message) for ``tj``.

        Read off every Job with ``tj``'s member label, single or batch: a running one serves
        it (one rendering an earlier generation makes the edited member wait, since no
        ThumbnailJob is ever in two running Jobs; an earlier generation's single Job is stopped,
        as without batches); a finished single Job's conditions are its outcome; a finished
        batch's report has a line for it or not. Without a final outcome, ``tj`` is admitted
        again, until it has failed ``job_backoff_limit + 1`` batches. ``new``: ``tj`` was never
        reconciled, so no Job serves it (they are not read). ``serving``: a Job and its pods,
        from an event; when it renders ``tj``'s current generation and decides on its own
        (it runs, it is a finished single Job, or its report has a final line for ``tj``),
        ``tj``'s other Jobs are not listed. No other Job can decide then: no ThumbnailJob is
        ever in two running Jobs, an edit made meanwhile is a newer generation, and a later Job
        for this generation exists only after a retry line.
        """
        meta = tj["metadata"]
        namespace, name, gen = meta["namespace"], meta["name"], meta["generation"]
        bucket, key = self.settings.s3_bucket, output_key(self.settings, namespace, name)
        if serving is not None and serving[0]["metadata"].get("labels", {}).get(member_label(name)) == str(gen):
            job, pods = serving
            outcome = batch_outcome(job, pods, meta, bucket, key) if job_finished(job) and batch_members(job) else None
            if not job_finished(job) or not batch_members(job) or (outcome and outcome[0] != "retry"):
                self.scheduler.forget(namespace, name)
                return job, pods, None, outcome, None
        jobs = [] if new else sorted(self.kube.member_jobs(namespace, name),
                                     key=lambda j: j["metadata"].get("creationTimestamp", ""))
        running = [j for j in jobs if not job_finished(j)]
        if running:
            job = running[-1]
            self.scheduler.forget(namespace, name)
            rendering = int(job["metadata"].get("labels", {}).get(member_label(name), 0))
            if rendering == gen:
                return job, self.kube.job_pods(namespace, job["metadata"]["name"]), None, None, None
            if not batch_members(job):  # an earlier generation's own Job: stopped, as without batches
                self._stop_superseded(tj)
                return None, [], 0, None, f"generation {gen}: rendering again"
            if (tj.get("status") or {}).get("observedGeneration") != gen:
                self.kube.event(tj, "Normal", "SpecChanged", f"generation {gen} renders once batch Job "
                                f"{job['metadata']['name']} (generation {rendering}) has finished")
            return None, [], 0, None, (f"generation {gen} waits for batch Job {job['metadata']['name']} "
                                       f"(generation {rendering}) to finish")
        failed_batches: list[tuple[dict, list[dict], tuple | None]] = []
        for job in reversed([j for j in jobs if j["metadata"].get("labels", {}).get(member_label(name)) == str(gen)]):
            pods = self.kube.job_pods(namespace, job["metadata"]["name"])
            if not batch_members(job):
                return job, pods, None, None, None
            outcome = batch_outcome(job, pods, meta, bucket, key)
            if outcome and outcome[0] != "retry":
                return job, pods, None, outcome, None
            failed_batches.append((job, pods, outcome))
        if len(failed_batches) > self.settings.job_backoff_limit:
            job, pods, retry = failed_batches[0]
            return job, pods, None, ("failed", retry[1] if retry else batch_failure(job, pods)), None
        job, position = self._admit(tj, self._start_members, seen=frozenset(j["metadata"]["name"] for j in jobs))
        if job is not None and job_finished(job):  # another admission's Job, already done: its settling decides
            return None, [], 0, None, None
        return job, [], position, None, None

    def _write(self, tj: dict, job: dict | None, pods: list[dict], position: int | None,
               outcome: tuple | None = None, queue_message: str | None = None) -> str:
        """Write the status that ``job`` and its ``pods`` give ``tj`` (if it changes), with its Events."""
        meta, status = tj["metadata"], tj.get("status") or {}
        namespace, name, gen = meta["namespace"], meta["name"], meta["generation"]
        new = desired_status(tj, job, pods, utcnow(), queue_position=position, outcome=outcome,
                             queue_message=queue_message)
        if not status_changed(status, new):
            return new["phase"]
        written = self.kube.patch_status(tj, new)
        if not written:
            raise _Conflict(status.get("phase"))
        self._remember_write(namespace, name, written)
        log.info("%s/%s: %s (%s)", namespace, name, new["phase"], new["reason"],
                 extra={"thumbnailjob": f"{namespace}/{name}"})
        if new["phase"] != status.get("phase") or status.get("observedGeneration") != gen:
            self._announce(tj, new)
        elif new["reason"] == "Queued" and status.get("reason") != "Queued":
            self.kube.event(tj, "Normal", "Queued", new["message"])
        if new["phase"] in _TERMINAL and job is not None and not batch_members(job):
            # A batch Job is handed to the TTL controller once all its members are settled.
            self.kube.mark_recorded(namespace, job["metadata"]["name"], self.settings.job_ttl_seconds_after_finished)
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

    def _stop_superseded(self, tj: dict) -> None:
        """Delete the single Jobs of ``tj``'s earlier generations (a SpecChanged Event names them)."""
        meta = tj["metadata"]
        namespace, name, gen = meta["namespace"], meta["name"], meta["generation"]
        superseded = self.kube.delete_jobs(
            namespace, f"{LABEL_THUMBNAILJOB}={label_value(name)},{LABEL_GENERATION}!={gen}")
        if superseded:
            self.kube.event(tj, "Normal", "SpecChanged",
                            f"generation {gen}: rendering again; removed the Jobs of earlier generations: "
                            f"{', '.join(superseded)}")

    def _admit(self, tj: dict, create: Callable[[list[dict], list[tuple]], dict],
               seen: frozenset[str] = frozenset()) -> tuple[dict | None, int]:
        """:meth:`Scheduler.admit` with ``create(members, events)``: the Events ``create`` adds to
        ``events`` (``Kube.event`` arguments) are posted once the scheduler's lock is released,
        since every admission waits for that lock and each Event is a request."""
        events: list[tuple] = []
        try:
            return self.scheduler.admit(tj, lambda members: create(members, events), seen=seen)
        finally:
            _for_each(lambda args: self.kube.event(*args), events)

    def _start(self, tj: dict, jname: str, events: list[tuple]) -> dict:
        """Create the Job for ``tj``'s generation (stopping Jobs of older generations first); its
        JobCreated Event goes to ``events``."""
        meta = tj["metadata"]
        namespace, name, gen = meta["namespace"], meta["name"], meta["generation"]
        status = tj.get("status") or {}
        if (status.get("observedGeneration") or gen) != gen:
            self._stop_superseded(tj)
        job = self.kube.create_job(build_job(tj, self.settings))
        JOBS_CREATED.inc()
        BATCH_ITEMS.observe(1)
        log.info("created Job %s/%s for generation %s", namespace, jname, gen,
                 extra={"thumbnailjob": f"{namespace}/{name}"})
        events.append((tj, "Normal", "JobCreated", f"created Job {jname} for generation {gen}"))
        return job

    def _start_members(self, members: list[dict], events: list[tuple]) -> dict:
        """Create the Job for ``members`` (the first, then other queued ThumbnailJobs of its namespace):
        the first one's own Job when it is alone, else a batch Job with a fresh name. Their
        JobCreated Events go to ``events``."""
        if len(members) == 1:
            meta = members[0]["metadata"]
            return self._start(members[0], job_name(meta["name"], meta["generation"]), events)
        name = f"thumbnail-batch-{secrets.token_hex(5)}"
        job = self.kube.create_job(build_batch_job(members, self.settings, name))
        JOBS_CREATED.inc()
        BATCH_ITEMS.observe(len(members))
        namespace = members[0]["metadata"]["namespace"]
        log.info("created batch Job %s/%s for %d ThumbnailJobs", namespace, name, len(members))
        events += [(tj, "Normal", "JobCreated", f"created batch Job {name} for generation "
                    f"{tj['metadata']['generation']}, with {len(members) - 1} other ThumbnailJobs") for tj in members]
        return job

    def settle(self, job: dict) -> None:
        """A finished batch Job: reconcile each member (its outcome goes to its status, or it is
        queued again), then hand the Job to the TTL controller. Raises what a reconcile raises,
        leaving the Job unmarked for the next try (the resync)."""
        # A member's error is raised here: the Job stays unmarked.
        self.follow(job)
        meta = job["metadata"]
        self.kube.mark_recorded(meta["namespace"], meta["name"], self.settings.job_ttl_seconds_after_finished)

    def follow(self, job: dict, deleted: bool = False) -> None:
        """A Job changed (``deleted``: it is gone): reconcile every ThumbnailJob it serves, from
        the cache (:meth:`observe`), with the Job as the event showed it and its pods read once
        for all. Waits for all; raises the first error.

        A Job the Job controller has not started yet (no ``status.startTime``: the event of its
        creation) is skipped: it has no pods, and its first status update (which sets
        ``startTime``, before its pods run) has an event of its own. Reconciled on that first
        event, a batch's members were written twice: once without ``startTime``, once with it.
        """
        if not deleted and not (job.get("status") or {}).get("startTime"):
            return
        if deleted:
            self.scheduler.forget_job(job["metadata"]["name"])
        namespace = job["metadata"]["namespace"]
        serving = None if deleted else (job, self.kube.job_pods(namespace, job["metadata"]["name"]))
        names = sorted(name for ns, name in claimed_members(job))
        _for_each(lambda name: self.reconcile(namespace, name, self._latest.get((namespace, name)), serving), names)

    def fill(self) -> None:
        """Start queued ThumbnailJobs while there are free slots (after a Job finished).

        One at a time, the oldest not yet tried, with the free slots counted again after each:
        an admission may take many queued ThumbnailJobs into one batch, so the slots free at the
        start say nothing about which ThumbnailJobs are still queued after the first one.
        """
        tried: set[tuple[str, str]] = set()
        while True:
            key = next((k for k in self.scheduler.next_up() if k not in tried), None)
            if key is None:
                return
            tried.add(key)
            try:
                self.reconcile(*key)
            except Exception:  # the resync retries it
                RECONCILE_ERRORS.inc()
                log.exception("starting %s/%s failed", *key)

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
        """Reconcile every unfinished ThumbnailJob in the watched namespaces that events may have
        missed; returns how many. Settles finished batch Jobs left unsettled, fills free slots, and
        refreshes the ThumbnailJobs-by-phase gauge.

        Left out, at their current generation: ThumbnailJobs already in the queue (:meth:`fill`
        admits them as slots free) and ThumbnailJobs whose ``status.jobName`` is a Job still
        running (its events reconcile them). Reconciling those every period cost most of the
        API server's work during a 300-upload burst.
        """
        watched = lambda namespace: namespace_watched(namespace, self._patterns)  # noqa: E731
        jobs = self.kube.unrecorded_jobs(self._listing_scope(), watched)
        running = {(j["metadata"]["namespace"], j["metadata"]["name"]) for j in jobs if not job_finished(j)}
        listing = [tj for ns in self._listing_scope() for tj in self.kube.list_thumbnailjobs(ns)]
        # Oldest first, so queued ThumbnailJobs are admitted in order of creation.
        listing.sort(key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))
        count = 0
        phases = dict.fromkeys(api.PHASES, 0)
        queued = 0
        for tj in listing:
            meta, status = tj["metadata"], tj.get("status") or {}
            if not watched(meta["namespace"]):
                continue
            queued += status.get("reason") == "Queued"
            phases[status.get("phase") or api.PHASE_PENDING] += 1
            if meta.get("deletionTimestamp"):
                pass  # a deleted one may still owe its cleanup
            elif finished_for_generation(tj):
                continue
            elif status.get("observedGeneration") == meta.get("generation") and (
                    self.scheduler.queued(meta["namespace"], meta["name"])
                    or (meta["namespace"], status.get("jobName")) in running):
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
        for job in jobs:
            if batch_members(job) and job_finished(job):
                try:
                    self.settle(job)
                except Exception:
                    RECONCILE_ERRORS.inc()
                    log.exception("settling batch Job %s failed", job["metadata"]["name"])
        self.fill()
        return count


def _seconds(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _for_each(fn: Callable[[Any], object], items: list) -> None:
    """``fn(item)`` for every item, :data:`MEMBER_THREADS` at a time (in this thread when there is
    one); waits for all, then raises the first error."""
    if len(items) <= 1:
        for item in items:
            fn(item)
        return
    with concurrent.futures.ThreadPoolExecutor(min(MEMBER_THREADS, len(items))) as pool:
        for done in [pool.submit(fn, item) for item in items]:
            done.result()

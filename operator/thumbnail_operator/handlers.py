"""Kopf wiring, nothing else: every handler is one call into :mod:`.reconcile`.

Event handlers (not create/update handlers) keep the operator level-based and
leave ThumbnailJobs untouched: no progress annotations, so a manifest applied
by Argo CD or Flux shows no drift. The only thing written besides status is the
finalizer of the ``Delete`` object-deletion policy. A periodic resync catches
anything an event missed or a failed call left behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

import kopf
from kubernetes import client
from prometheus_client import start_http_server

from thumbnailer import api
from thumbnailer.kubeclient import load_api_client

from thumbnailer.api import LABEL_MANAGED_BY, LABEL_RECORDED, MANAGED_BY
from .jobs import batch_members
from .kube import Kube
from .leader import LeaderElector
from .metrics import RECONCILE_ERRORS
from .reconcile import MEMBER_THREADS, Reconciler, finished_for_generation
from .settings import OperatorSettings, namespace_patterns, plain_namespaces
from .status import job_finished

log = logging.getLogger("thumbnail_operator")
_state: dict = {}  # "reconciler": Reconciler, "elector": LeaderElector | None
#: Threads that reconcile ThumbnailJobs on their own events, and that follow Jobs (each
#: mostly waits on the API server). Two pools, so that a Job's end is seen at once however
#: many arrivals wait for the scheduler.
THUMBNAILJOB_WORKERS, JOB_WORKERS = 16, 4
THUMBNAILJOB_THREADS = concurrent.futures.ThreadPoolExecutor(THUMBNAILJOB_WORKERS, thread_name_prefix="thumbnailjob")
JOB_THREADS = concurrent.futures.ThreadPoolExecutor(JOB_WORKERS, thread_name_prefix="job")
#: Where the queue is filled after a Job's end (:func:`_request_fill`).
FILL_THREAD = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fill")
_fill_requested = threading.Event()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_) -> None:
    """Build the reconciler; scope Kopf's own bookkeeping to the project's group.

    With event handlers only, Kopf writes nothing on ThumbnailJobs; the storage
    settings just keep any future Kopf annotation under ``thumbnailer.dev/``.
    """
    # Kopf removes "its" finalizer from objects that need none for its handlers, so it must
    # not share a name with ours (reconcile.FINALIZER, owned by the Delete policy).
    settings.persistence.finalizer = f"{api.GROUP}/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=api.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=api.GROUP, key="last-handled-configuration")
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    ours = OperatorSettings()
    # A Job thread reconciles a batch's members MEMBER_THREADS at a time; plus the fill thread,
    # the resync and the leader election.
    api_client = load_api_client(connections=THUMBNAILJOB_WORKERS + JOB_WORKERS * MEMBER_THREADS + 4)
    reconciler = _state["reconciler"] = Reconciler(Kube(api_client), ours)
    _state["elector"] = None
    if ours.leader_election:
        plain = plain_namespaces(namespace_patterns(ours.watch_namespace))
        elector = _state["elector"] = LeaderElector(
            client.CoordinationV1Api(api_client), ours.leader_election_namespace or (plain[0] if plain else "default"),
            "thumbnailer-operator", lease_seconds=ours.leader_election_lease_seconds,
            renew_seconds=ours.leader_election_lease_seconds / 3,
            # A new leader catches up on everything the previous one left unfinished.
            on_elected=lambda: threading.Thread(target=reconciler.resync, daemon=True).start())
        elector.start()
    if ours.metrics_port:
        start_http_server(ours.metrics_port, addr=ours.liveness_host)


@kopf.on.cleanup()
def release_leadership(**_) -> None:
    """On a graceful stop, hand the Lease over at once instead of after it expires."""
    if _state.get("elector") is not None:
        _state["elector"].stop()


def _leading() -> bool:
    elector = _state.get("elector")
    return elector is None or elector.is_leader


@kopf.on.startup()
async def start_resync(**_) -> None:
    """Start the periodic resync of unfinished ThumbnailJobs (runs until the operator stops)."""
    asyncio.get_running_loop().create_task(_resync_forever())


async def _resync_forever() -> None:
    reconciler = _state["reconciler"]
    while True:
        await asyncio.sleep(reconciler.settings.resync_seconds)
        if not _leading():
            continue
        try:
            await asyncio.to_thread(reconciler.resync)
        except Exception:  # the API server may be briefly away; try next period
            log.exception("resync failed")


def _reconcile(namespace: str, name: str, seen: dict | None = None) -> None:
    if not _leading():
        return  # a standby replica: the leader acts (and a new leader resyncs everything)
    try:
        _state["reconciler"].reconcile(namespace, name, seen)
    except Exception:
        RECONCILE_ERRORS.inc()
        raise  # Kopf logs it; the periodic resync tries again


@kopf.on.event(api.GROUP, api.VERSION, api.PLURAL)
async def thumbnailjob_changed(type: str | None, body: kopf.Body, name: str, namespace: str, **_) -> None:
    """Any change to a ThumbnailJob (and the initial listing at start-up): reconcile it.

    One whose status is final for its generation is left alone (most such events are the
    operator's own status write coming back); its Job's own events hand that Job to the TTL
    controller, and a deletion is a change that is reconciled. Those checks run on Kopf's
    event loop; only a reconcile takes a thread (:data:`THUMBNAILJOB_THREADS`).
    """
    reconciler, tj = _state["reconciler"], dict(body)
    reconciler.observe(tj, deleted=type == "DELETED")
    if type == "DELETED":
        return
    settled = finished_for_generation(tj) and not body.metadata.get("deletionTimestamp")
    if settled and reconciler.finalizer_as_wanted(tj):
        return
    if reconciler.own_write(namespace, name, body.metadata.get("resourceVersion", "")):
        return  # the echo of our own status write
    await asyncio.get_running_loop().run_in_executor(THUMBNAILJOB_THREADS, _reconcile, namespace, name, tj)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_MANAGED_BY: MANAGED_BY})
async def job_changed(type: str | None, body: kopf.Body, **_) -> None:
    """A resizer Job changed: reconcile the ThumbnailJobs it serves (a finished batch Job is
    settled: every member's outcome recorded, then the Job handed to the TTL controller);
    a finished or deleted Job frees a slot for what is queued.

    In threads of their own (:data:`JOB_THREADS`): behind a burst of arrivals in a shared pool,
    a Job's end waited up to 12 s to be seen, and with it the queue's next batch."""
    job = dict(body)
    if not _leading() or not _state["reconciler"].job_event_news(job, deleted=type == "DELETED"):
        return
    await asyncio.get_running_loop().run_in_executor(JOB_THREADS, _job_changed, job, type == "DELETED")


def _job_changed(job: dict, deleted: bool) -> None:
    reconciler = _state["reconciler"]
    try:
        if batch_members(job) and job_finished(job) and not deleted:
            if not job["metadata"].get("labels", {}).get(LABEL_RECORDED):
                reconciler.settle(job)
        else:
            reconciler.follow(job, deleted=deleted)
    except Exception:
        RECONCILE_ERRORS.inc()
        raise  # Kopf logs it; the periodic resync settles or reconciles it again
    finally:
        if job_finished(job) or deleted:
            _request_fill()


def _request_fill() -> None:
    """Have :meth:`Reconciler.fill` run soon, in a thread of its own, once for any number of
    requests made before it starts: a fill waits for the admissions under way, and a Job
    thread that waited with it left the next Jobs' ends unseen."""
    if not _fill_requested.is_set():
        _fill_requested.set()
        FILL_THREAD.submit(_fill)


def _fill() -> None:
    _fill_requested.clear()  # a request from now on runs another fill after this one
    _state["reconciler"].fill()

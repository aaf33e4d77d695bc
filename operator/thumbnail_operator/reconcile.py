"""One level-based reconcile of a ThumbnailJob: read the world, converge, write status once."""

from __future__ import annotations

import datetime
import logging
import threading
from collections import defaultdict

from thumbnailer import api

from .jobs import build_job, job_name
from .kube import Kube
from .settings import OperatorSettings
from .status import desired_status, status_changed

log = logging.getLogger("thumbnail_operator")
_TERMINAL = (api.PHASE_SUCCEEDED, api.PHASE_FAILED)


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

    def reconcile(self, namespace: str, name: str) -> str | None:
        """Reconcile one ThumbnailJob; returns the phase it is in afterwards (None if it is gone)."""
        with self._locks[(namespace, name)]:
            return self._reconcile(namespace, name)

    def _reconcile(self, namespace: str, name: str) -> str | None:
        tj = self.kube.get_thumbnailjob(namespace, name)
        if tj is None or tj["metadata"].get("deletionTimestamp"):
            self._locks.pop((namespace, name), None)
            return None
        gen = tj["metadata"]["generation"]
        status = tj.get("status") or {}
        if status.get("observedGeneration") == gen and status.get("phase") in _TERMINAL:
            return status["phase"]  # final for this generation; its Job may be gone (TTL)
        jname = job_name(name, gen)
        job = self.kube.get_job(namespace, jname)
        if job is None:
            job = self.kube.create_job(build_job(tj, self.settings))
            log.info("created Job %s/%s for generation %s", namespace, jname, gen)
        pods = self.kube.job_pods(namespace, jname)
        new = desired_status(tj, job, pods, utcnow())
        if status_changed(status, new):
            if self.kube.patch_status(tj, new):
                log.info("%s/%s: %s (%s)", namespace, name, new["phase"], new["reason"])
            else:
                log.debug("%s/%s changed while reconciling; will retry", namespace, name)
        return new["phase"]

    def resync(self) -> int:
        """Reconcile every unfinished ThumbnailJob in the watched namespace(s); returns how many."""
        count = 0
        for tj in self.kube.list_thumbnailjobs(self.settings.watch_namespace):
            meta, status = tj["metadata"], tj.get("status") or {}
            if status.get("observedGeneration") == meta.get("generation") and status.get("phase") in _TERMINAL:
                continue
            try:
                self.reconcile(meta["namespace"], meta["name"])
                count += 1
            except Exception:  # noqa: BLE001 - one bad object must not stop the others
                log.exception("reconcile of %s/%s failed", meta["namespace"], meta["name"])
        return count

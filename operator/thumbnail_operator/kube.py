"""The operator's calls to the API server (kubernetes client), with dicts in and out."""

from __future__ import annotations

import datetime
import json
import logging

from kubernetes import client
from kubernetes.client.rest import ApiException

from thumbnailer import api

from thumbnailer.api import LABEL_MANAGED_BY, LABEL_RECORDED, MANAGED_BY
from .jobs import member_label
from .status import job_finished


def _json(answer) -> dict:
    """The JSON body of a call made with ``_preload_content=False``, as a dict.

    The typed calls of the kubernetes client build a model object of every answer, which the
    operator only turned back into a dict: that round trip was most of its CPU under load.
    Errors still raise :class:`ApiException` (the client checks the status before this).
    """
    return json.loads(answer.data)


class Kube:
    """Reads ThumbnailJobs, Jobs and pods; creates Jobs; writes ThumbnailJob status.

    Jobs and pods come and go as plain dicts in the API's JSON shape (camelCase), read without
    the client's models (:func:`_json`); answers nobody reads are not parsed at all.
    """

    def __init__(self, api_client: client.ApiClient):
        self._custom = client.CustomObjectsApi(api_client)
        self._batch = client.BatchV1Api(api_client)
        self._core = client.CoreV1Api(api_client)

    def get_thumbnailjob(self, namespace: str, name: str) -> dict | None:
        """The ThumbnailJob as a dict, or None if it does not exist."""
        try:
            return self._custom.get_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def list_thumbnailjobs(self, namespace: str = "") -> list[dict]:
        """Every ThumbnailJob in ``namespace`` (all namespaces when empty)."""
        if namespace:
            out = self._custom.list_namespaced_custom_object(api.GROUP, api.VERSION, namespace, api.PLURAL)
        else:
            out = self._custom.list_cluster_custom_object(api.GROUP, api.VERSION, api.PLURAL)
        return out.get("items", [])

    def get_job(self, namespace: str, name: str) -> dict | None:
        """The batch/v1 Job as a dict, or None if it does not exist."""
        try:
            return _json(self._batch.read_namespaced_job(name, namespace, _preload_content=False))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def create_job(self, manifest: dict) -> dict:
        """Create the Job; if it already exists (409), return the existing one."""
        ns, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            return _json(self._batch.create_namespaced_job(ns, manifest, _preload_content=False))
        except ApiException as e:
            if e.status != 409:
                raise
        existing = self.get_job(ns, name)
        if existing is None:  # deleted between the 409 and the read: the next reconcile creates it
            raise RuntimeError(f"Job {ns}/{name} vanished while being created")
        return existing

    def unrecorded_jobs(self, namespaces: list[str], keep=lambda namespace: True) -> list[dict]:
        """Resizer Jobs whose outcome is not yet recorded, in ``namespaces`` ([""]: all) and whose
        namespace passes ``keep``: the running ones and the finished ones not yet marked.

        Read on every admission, so it is kept cheap: Jobs labelled :data:`~thumbnailer.api.LABEL_RECORDED`
        (finished, outcome recorded, waiting for their TTL: an hour's worth by default) are left
        out by the label selector, and the list is read as JSON, not as the client's models (their
        deserialisation was 60% of the operator's CPU while 60 uploads drained).
        """
        selector = f"{LABEL_MANAGED_BY}={MANAGED_BY},!{LABEL_RECORDED}"
        jobs: list[dict] = []
        for ns in namespaces:
            answer = (self._batch.list_namespaced_job(ns, label_selector=selector, _preload_content=False) if ns
                      else self._batch.list_job_for_all_namespaces(label_selector=selector, _preload_content=False))
            jobs += [job for job in _json(answer)["items"] if keep(job["metadata"]["namespace"])]
        return jobs

    def count_unfinished_jobs(self, namespaces: list[str], keep=lambda namespace: True) -> int:
        """Resizer Jobs without a Complete or Failed condition (see :meth:`unrecorded_jobs`)."""
        return sum(not job_finished(job) for job in self.unrecorded_jobs(namespaces, keep))

    def member_jobs(self, namespace: str, name: str) -> list[dict]:
        """Every Job, single or batch, that serves or served the ThumbnailJob ``name`` (its member label)."""
        return _json(self._batch.list_namespaced_job(namespace, label_selector=member_label(name),
                                                     _preload_content=False))["items"]

    def mark_recorded(self, namespace: str, name: str, ttl_seconds: int) -> None:
        """After a Job's outcome is in status: label it :data:`~thumbnailer.api.LABEL_RECORDED` and set
        ``spec.ttlSecondsAfterFinished`` (both mutable), so the TTL controller removes it. A Job
        already gone is fine."""
        patch = {"metadata": {"labels": {LABEL_RECORDED: "true"}}, "spec": {"ttlSecondsAfterFinished": ttl_seconds}}
        try:
            self._batch.patch_namespaced_job(name, namespace, patch, _preload_content=False)
        except ApiException as e:
            if e.status != 404:
                raise

    def delete_jobs(self, namespace: str, label_selector: str) -> list[str]:
        """Delete the Jobs matching ``label_selector`` (and, in the background, their pods); returns their names."""
        names = [job["metadata"]["name"] for job in _json(self._batch.list_namespaced_job(
            namespace, label_selector=label_selector, _preload_content=False))["items"]]
        for name in names:
            try:
                self._batch.delete_namespaced_job(name, namespace, propagation_policy="Background",
                                                  _preload_content=False)
            except ApiException as e:
                if e.status != 404:
                    raise
        return names

    def event(self, tj: dict, type_: str, reason: str, message: str) -> None:
        """Record a core/v1 Event on the ThumbnailJob (``kubectl describe`` shows it). Best effort."""
        meta = tj["metadata"]
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {
            "metadata": {"generateName": f"{meta['name'][:200]}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": tj.get("apiVersion", api.API_VERSION), "kind": api.KIND,
                               "name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "type": type_, "reason": reason, "message": message[:1024],
            "source": {"component": "thumbnailer-operator"}, "reportingComponent": "thumbnailer-operator",
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self._core.create_namespaced_event(meta["namespace"], body, _preload_content=False)
        except ApiException as e:
            logging.getLogger("thumbnail_operator").warning("could not record event %s: %s", reason, e.reason)

    def job_pods(self, namespace: str, job_name: str) -> list[dict]:
        """The pods of a Job (by the ``job-name`` label the Job controller sets)."""
        return _json(self._core.list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}",
                                                    _preload_content=False))["items"]

    def set_finalizer(self, tj: dict, finalizer: str, present: bool) -> dict | bool:
        """Add or remove ``finalizer`` on the ThumbnailJob, if it is unchanged since read.

        A JSON patch guarded by a ``test`` of the resourceVersion; returns the object as
        written, True if there was nothing to change, or False on a conflict (reconcile
        again) or if the object is gone.
        """
        meta = tj["metadata"]
        current = meta.get("finalizers") or []
        guard = {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}
        if present:
            if finalizer in current:
                return True
            op = ({"op": "add", "path": "/metadata/finalizers/-", "value": finalizer} if current
                  else {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]})
        else:
            if finalizer not in current:
                return True
            op = {"op": "remove", "path": f"/metadata/finalizers/{current.index(finalizer)}"}
        try:
            written = self._custom.patch_namespaced_custom_object(api.GROUP, api.VERSION, meta["namespace"],
                                                                  api.PLURAL, meta["name"], [guard, op],
                                                                  _content_type="application/json-patch+json")
        except ApiException as e:
            if e.status in (404, 409, 422):
                logging.getLogger("thumbnail_operator").info(
                    "finalizer patch on %s/%s not applied (%s %s); will retry", meta["namespace"], meta["name"],
                    e.status, e.reason)
                return False
            raise
        return written

    def patch_status(self, tj: dict, status: dict) -> str | None:
        """Write ``status`` if ``tj`` is unchanged since it was read (resourceVersion precondition).

        Returns the resourceVersion written, or None on a conflict (someone changed it
        meanwhile: reconcile again) or if the ThumbnailJob is gone; raises other API errors.
        """
        meta = tj["metadata"]
        body = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
        try:
            written = self._custom.patch_namespaced_custom_object_status(
                api.GROUP, api.VERSION, meta["namespace"], api.PLURAL, meta["name"], body,
                _content_type="application/merge-patch+json")
        except ApiException as e:
            if e.status in (404, 409):
                return None
            raise
        return written["metadata"]["resourceVersion"]

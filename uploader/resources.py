"""Falcon resources: each responder parses the request, makes one call, and answers.

What each call can raise becomes its problem+json answer in :mod:`uploader.errors`; the OpenAPI
description of each operation is in :mod:`uploader.operations`.
"""

from __future__ import annotations

import falcon

from thumbnailer.objectstore import ObjectStore
from thumbnailer.storetypes import ObjectMissing, StoreError

from .errors import RETRY_AFTER_SECONDS
from .idempotency import check_key
from .params import list_query, upload_spec
from .problems import Problem
from .receive import receive
from .settings import UploaderSettings
from .thumbnailjobs import ClusterUnavailable, ThumbnailJobs
from .uploads import Uploads
from .views import job_view, not_modified, public_status


class JobsResource:
    """``POST /v1/jobs`` (upload) and ``GET /v1/jobs`` (list)."""

    def __init__(self, settings: UploaderSettings, uploads: Uploads):
        self.settings, self.uploads = settings, uploads

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Upload an image: store it, create its ThumbnailJob, answer 202 with the job."""
        spec = upload_spec(req)
        key = check_key(req.get_header("Idempotency-Key"))
        upload = receive(req, self.settings)
        with upload.file:
            accepted = self.uploads.accept(upload, spec, key)
        resp.status = falcon.HTTP_202
        resp.location = f"/v1/jobs/{accepted.job['metadata']['name']}"
        if accepted.replayed:
            resp.set_header("Idempotent-Replayed", "true")
        resp.media = job_view(accepted.job)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List one page of jobs, in name order (uploads newest first)."""
        items, token = self.uploads.page(*list_query(req))
        resp.media = {"items": [job_view(tj) for tj in items], "continue": token}

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers


class JobResource:
    """``GET`` and ``DELETE /v1/jobs/{job_id}``."""

    def __init__(self, uploads: Uploads):
        self.uploads = uploads

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Read one job."""
        resp.media = job_view(self.uploads.find(job_id))

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers

    def on_delete(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Delete a job's ThumbnailJob (Kubernetes garbage-collects its Job and pods): 204."""
        self.uploads.delete(job_id)
        resp.status = falcon.HTTP_204


class ThumbnailResource:
    """``GET /v1/jobs/{job_id}/thumbnail``: the thumbnail bytes once the job succeeded, with an ETag."""

    def __init__(self, uploads: Uploads):
        self.uploads = uploads

    def on_get(self, req: falcon.Request, resp: falcon.Response, job_id: str) -> None:
        """Fetch the thumbnail (409 while processing or after a failure; 304 on a matching If-None-Match)."""
        tj = self.uploads.find(job_id)
        state, st = public_status(tj), tj.get("status") or {}
        if state == "processing":
            raise Problem(falcon.HTTP_409, "job-not-finished", "Thumbnail not ready",
                          f"job {job_id} is still processing; poll /v1/jobs/{job_id}", retry_after=1,
                          status_of_job=state)
        if state == "failed":
            raise Problem(falcon.HTTP_409, "job-failed", "Job failed", f"job {job_id} failed: {st.get('message')}",
                          reason=st.get("reason"), status_of_job=state)
        out = st.get("output") or {}
        bucket, key = out.get("bucket", ""), out.get("key", "")
        store = self.uploads.store
        try:
            info = store.stat(bucket, key)
            opaque = info.etag.strip(chr(34))
            resp.etag = f'"{opaque}"'
            resp.cache_control = ["private", "max-age=60"]  # confidential images: no shared caches
            if not_modified(req.if_none_match, opaque):
                resp.status = falcon.HTTP_304
                return
            resp.content_type = out.get("contentType") or info.content_type
            resp.set_header("Content-Disposition", f'inline; filename="{job_id}.{key.rsplit(".", 1)[-1]}"')
            if req.method == "HEAD":  # the headers of GET, without reading the object
                resp.content_length = info.size
                return
            stream, info = store.open(bucket, key)
        except ObjectMissing as e:
            raise Problem(falcon.HTTP_404, "thumbnail-missing", "Thumbnail missing",
                          f"the thumbnail of job {job_id} is no longer in the store") from e
        resp.set_stream(stream, info.size)

    on_head = on_get  # HEAD: the same headers, from the object's metadata (see above)


class HealthResource:
    """``GET /healthz``: the process is alive."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Liveness: always ``{"status": "ok"}``."""
        resp.media = {"status": "ok"}

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers


class ReadyResource:
    """``GET /readyz``: the store's bucket and the API server both answer; 503 names the one that does not."""

    def __init__(self, settings: UploaderSettings, store: ObjectStore, jobs: ThumbnailJobs):
        self.settings, self.store, self.jobs = settings, store, jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Readiness: each check ``ok`` or why not."""
        checks = {}
        for name, check in (("object_store", self._store_ready), ("kubernetes_api", self.jobs.check)):
            try:
                check()
                checks[name] = "ok"
            except (StoreError, ClusterUnavailable) as e:
                checks[name] = str(e)
        failing = [k for k, v in checks.items() if v != "ok"]
        if failing:
            raise Problem(falcon.HTTP_503, "not-ready", "Not ready", f"unavailable: {', '.join(failing)}",
                          retry_after=RETRY_AFTER_SECONDS, checks=checks)
        resp.media = {"status": "ready", "checks": checks}

    on_head = on_get  # falcon drops the body of a HEAD answer and keeps its headers

    def _store_ready(self) -> None:
        """The bucket answers (created first when ``S3_CREATE_BUCKET`` is set)."""
        self.store.ensure_bucket(self.settings.s3_bucket, create=self.settings.s3_create_bucket)

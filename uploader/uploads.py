"""What the API does, free of HTTP: accept an upload (store its source, create its ThumbnailJob),
find a job, list a page of jobs. Failures are raised as the collaborators' own exceptions
(:class:`~thumbnailer.storetypes.StoreError`, :class:`~uploader.thumbnailjobs.ClusterUnavailable`,
:class:`~thumbnailer.api.ImageRejected`, :class:`~uploader.idempotency.KeyReused`, :class:`JobNotFound`);
:mod:`uploader.errors` turns each into its problem+json answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from thumbnailer import api
from thumbnailer.objectstore import ObjectStore
from thumbnailer.storetypes import StoreError
from thumbnailer.sniff import STILL_FORMATS, check_output_budget

from . import manifest
from .idempotency import check_same_request
from .intake import Upload
from .jobids import keyed_job_id, new_job_id, plausible_job_id
from .observability import UPLOAD_BYTES
from .settings import UploaderSettings
from .thumbnailjobs import AlreadyExists, ClusterUnavailable, ThumbnailJobs
from .views import STATUS_SELECTORS, deleting

log = logging.getLogger("uploader")


class JobNotFound(LookupError):
    """No ThumbnailJob by that name is visible (none exists, or it is being deleted); ``str()`` says which."""


@dataclass
class Accepted:
    """The ThumbnailJob ``job`` an upload made, or (``replayed``) the one an earlier request with
    the same Idempotency-Key made."""

    job: dict
    replayed: bool = False


class Uploads:
    """The uploader's operations, over one bucket of the store and one namespace's ThumbnailJobs."""

    def __init__(self, settings: UploaderSettings, store: ObjectStore, jobs: ThumbnailJobs):
        self.settings, self.store, self.jobs = settings, store, jobs

    def accept(self, upload: Upload, spec: dict, idempotency_key: str | None = None) -> Accepted:
        """Store ``upload`` and create its ThumbnailJob with ``spec`` (the thumbnail options); the
        source is stored first and removed again if the ThumbnailJob cannot be created.

        With ``idempotency_key`` the job ID is derived from the key: a job already made with it is
        replayed (:class:`~uploader.idempotency.KeyReused` if from other bytes or options), and of
        concurrent retries the API server lets exactly one create succeed. Raises
        :class:`~thumbnailer.api.ImageRejected` ``OutputTooLarge`` before anything is stored.
        """
        self._check_output_budget(upload, spec)
        prefix, namespace, bucket = self.settings.source_prefix, self.jobs.namespace, self.settings.s3_bucket
        if idempotency_key is None:
            job_id = new_job_id()
            key = manifest.source_key(prefix, namespace, job_id, upload.extension)
        else:
            job_id = keyed_job_id(idempotency_key)
            previous = self.jobs.get(job_id)
            if previous is not None:
                check_same_request(previous, upload.sha256, spec)
                return Accepted(previous, replayed=True)
            # A concurrent retry may be storing its source too: each writes its own object.
            key = manifest.source_key(prefix, namespace, job_id, upload.extension, unique=True)
        self.store.put(bucket, key, upload.file, upload.size, upload.media_type)
        try:
            tj = self.jobs.create(manifest.thumbnailjob(job_id, bucket, key, upload.sha256, spec))
        except AlreadyExists as e:
            self._forget(bucket, key)
            winner = self.jobs.get(job_id) if idempotency_key is not None else None
            if winner is None:
                raise ClusterUnavailable(f"a ThumbnailJob named {job_id} exists already: {e}") from e
            check_same_request(winner, upload.sha256, spec)  # a concurrent retry with this key won
            return Accepted(winner, replayed=True)
        except ClusterUnavailable:
            self._forget(bucket, key)
            raise
        UPLOAD_BYTES.observe(upload.size)
        log.info("accepted %s: %s %dx%d, %d bytes -> %s", job_id, upload.format, upload.width, upload.height,
                 upload.size, key, extra={"job_id": job_id})
        return Accepted(tj)

    def find(self, job_id: str) -> dict:
        """The ThumbnailJob ``job_id``; :class:`JobNotFound` if there is none or it is being deleted
        (a DELETE was answered 204; the finalizer is still cleaning the store)."""
        tj = self.jobs.get(job_id) if plausible_job_id(job_id) else None
        if tj is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        if deleting(tj):
            raise JobNotFound(f"job {job_id!r} has been deleted")
        return tj

    def delete(self, job_id: str) -> None:
        """Delete the visible ThumbnailJob ``job_id`` (:class:`JobNotFound` if there is none); its
        finalizer and Kubernetes' garbage collector do the rest."""
        self.find(job_id)
        self.jobs.delete(job_id)

    def page(self, limit: int, continue_token: str = "", status: str | None = None) -> tuple[list[dict], str | None]:
        """One page of at most ``limit`` visible ThumbnailJobs in name order, of the API's ``status``
        (``processing``, ``succeeded``, ``failed``; None: all), and the next page's continue token."""
        items, token = self.jobs.page(limit, continue_token, STATUS_SELECTORS.get(status or "", ""))
        return [tj for tj in items if not deleting(tj)], token

    def _check_output_budget(self, upload: Upload, spec: dict) -> None:
        """:class:`~thumbnailer.api.ImageRejected` ``OutputTooLarge`` when the thumbnail asked for
        (width x height x frames kept) is over ``MAX_OUTPUT_PIXELS``: known here, so refused before
        anything is stored."""
        size = spec.get("size", {})
        frames = 1 if spec.get("format") in STILL_FORMATS else upload.frames
        check_output_budget(size.get("width", api.DEFAULT_WIDTH), size.get("height", api.DEFAULT_HEIGHT), frames,
                            self.settings.max_output_pixels)

    def _forget(self, bucket: str, key: str) -> None:
        """Remove a source whose ThumbnailJob was not created (best effort: a failure is logged)."""
        try:
            self.store.remove(bucket, key)
        except StoreError:
            log.warning("could not remove orphaned source %s", key)

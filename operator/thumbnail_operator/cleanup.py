"""What to remove from the store when a ThumbnailJob is deleted, and removing it."""

from __future__ import annotations

from thumbnailer import api
from thumbnailer.objectstore import ObjectStore
from thumbnailer.storetypes import Endpoint, Tuning

from .jobs import output_key
from .settings import OperatorSettings

#: The uploader marks what it created; only such sources belong to the ThumbnailJob.
UPLOADER_LABEL = (api.LABEL_CREATED_BY, api.CREATED_BY_UPLOADER)


def objects_to_delete(tj: dict, settings: OperatorSettings) -> list[tuple[str, str]]:
    """(bucket, key) pairs a deleted ThumbnailJob leaves behind under the ``Delete`` policy.

    Always its thumbnail: the one ``status.output`` names, and the key of every output format
    under its name (:func:`~.jobs.output_key`), since a Job that finished after the deletion
    (the cleanup waits for a batch still rendering it) wrote a thumbnail no status names.
    Those keys are the operator's own. Its source only when the uploader stored it for this
    job: a manifest applied by hand or by GitOps may point at an object that other things
    use, so that source is never touched.
    """
    out = []
    output = (tj.get("status") or {}).get("output") or {}
    if output.get("key"):
        out.append((output.get("bucket") or settings.s3_bucket, output["key"]))
    base = output_key(settings, tj["metadata"]["namespace"], tj["metadata"]["name"])
    out += [(settings.s3_bucket, f"{base}.{ext}") for ext in dict.fromkeys(api.OUTPUT_EXTENSIONS.values())
            if (settings.s3_bucket, f"{base}.{ext}") not in out]
    labels = tj["metadata"].get("labels") or {}
    if labels.get(UPLOADER_LABEL[0]) == UPLOADER_LABEL[1]:
        source = tj.get("spec", {}).get("source") or {}
        if source.get("key"):
            out.append((source.get("bucket") or settings.s3_bucket, source["key"]))
    return out


#: A cleanup waits briefly and retries little: :meth:`Reconciler._clean_up` has its own bounded attempts.
TUNING = Tuning(connect=3, read=15, retries=1, backoff=0.2, pool_size=4)


def cleanup_store(settings: OperatorSettings) -> ObjectStore:
    """The store as the operator's own credentials (``S3_ACCESS_KEY``, ``S3_SECRET_KEY``) reach it."""
    return ObjectStore(Endpoint(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                                settings.s3_secure, settings.s3_region), TUNING)

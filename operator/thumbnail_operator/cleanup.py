"""What to remove from the store when a ThumbnailJob is deleted, and removing it."""

from __future__ import annotations

import urllib3
from minio import Minio
from minio.error import S3Error

from thumbnailer import api

from .settings import OperatorSettings

#: The uploader marks what it created; only such sources belong to the ThumbnailJob.
UPLOADER_LABEL = (api.LABEL_CREATED_BY, api.CREATED_BY_UPLOADER)


class CleanupFailed(Exception):
    """The store could not be reached or refused a deletion."""


def objects_to_delete(tj: dict, settings: OperatorSettings) -> list[tuple[str, str]]:
    """(bucket, key) pairs a deleted ThumbnailJob leaves behind under the ``Delete`` policy.

    Always its thumbnail (``status.output``). Its source only when the uploader
    stored it for this job: a manifest applied by hand or by GitOps may point
    at an object that other things use, so that source is never touched.
    """
    out = []
    output = (tj.get("status") or {}).get("output") or {}
    if output.get("key"):
        out.append((output.get("bucket") or settings.s3_bucket, output["key"]))
    labels = tj["metadata"].get("labels") or {}
    if labels.get(UPLOADER_LABEL[0]) == UPLOADER_LABEL[1]:
        source = tj.get("spec", {}).get("source") or {}
        if source.get("key"):
            out.append((source.get("bucket") or settings.s3_bucket, source["key"]))
    return out


class Store:
    """Deletes objects; raises :class:`CleanupFailed`."""

    def __init__(self, settings: OperatorSettings):
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=3, read=15),
                                   retries=urllib3.Retry(total=1, backoff_factor=0.2))
        self._client = Minio(settings.s3_endpoint, access_key=settings.s3_access_key,
                             secret_key=settings.s3_secret_key, secure=settings.s3_secure,
                             region=settings.s3_region, http_client=http)

    def delete(self, bucket: str, key: str) -> None:
        """Remove ``bucket/key``; a missing object is fine."""
        try:
            self._client.remove_object(bucket, key)
        except S3Error as e:
            if e.code not in ("NoSuchKey", "NoSuchBucket"):
                raise CleanupFailed(f"s3://{bucket}/{key}: {e.code}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise CleanupFailed(f"s3://{bucket}/{key}: {e}") from e

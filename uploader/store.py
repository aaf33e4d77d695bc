"""The uploader's S3 access through the ``minio`` client."""

from __future__ import annotations

from typing import BinaryIO

import urllib3
from minio import Minio
from minio.error import S3Error

from .settings import UploaderSettings


PART_SIZE = 8 * 1024 * 1024  # bytes per multipart part (S3's minimum is 5 MiB)


class StoreUnavailable(Exception):
    """The S3 store could not be reached or failed (HTTP 503 with Retry-After)."""


class ObjectNotFound(Exception):
    """The object does not exist."""


class Store:
    """Put, stream and delete objects in one bucket."""

    def __init__(self, settings: UploaderSettings):
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=3, read=30), maxsize=16,
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)))
        self.bucket = settings.s3_bucket
        self._create_bucket = settings.s3_create_bucket
        self._client = Minio(settings.s3_endpoint, access_key=settings.s3_access_key,
                             secret_key=settings.s3_secret_key, secure=settings.s3_secure,
                             region=settings.s3_region, http_client=http)

    def put(self, key: str, data: BinaryIO, length: int, content_type: str) -> None:
        """Upload ``length`` bytes from ``data`` to ``key``; raises :class:`StoreUnavailable`.

        Large files go up as a multipart upload, one 8 MiB part at a time: the
        minio client holds every part of a parallel upload in memory, so one
        upload thread keeps a worker's memory bounded.
        """
        try:
            self._client.put_object(self.bucket, key, data, length, content_type=content_type,
                                    part_size=PART_SIZE, num_parallel_uploads=1)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"cannot write to the store: {e}") from e

    def stat(self, bucket: str, key: str) -> tuple[str, int, str]:
        """(ETag unquoted, size in bytes, content type) of an object, without reading it.

        Raises :class:`ObjectNotFound` or :class:`StoreUnavailable`.
        """
        try:
            info = self._client.stat_object(bucket, key)
            return info.etag or "", info.size or 0, info.content_type or "application/octet-stream"
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                raise ObjectNotFound(f"s3://{bucket}/{key}") from e
            raise StoreUnavailable(f"cannot read from the store: {e.code}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"cannot read from the store: {e}") from e

    def open(self, bucket: str, key: str):
        """Stream ``bucket/key``: returns (urllib3 response, size in bytes, content type).

        The caller reads and closes the response. Raises :class:`ObjectNotFound`
        or :class:`StoreUnavailable`.
        """
        try:
            response = self._client.get_object(bucket, key)
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(f"s3://{bucket}/{key}") from e
            raise StoreUnavailable(f"cannot read from the store: {e.code}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"cannot read from the store: {e}") from e
        length = int(response.headers.get("Content-Length", 0))
        return response, length, response.headers.get("Content-Type", "application/octet-stream")

    def delete(self, key: str) -> None:
        """Remove ``key`` (best effort: errors are raised as :class:`StoreUnavailable`)."""
        try:
            self._client.remove_object(self.bucket, key)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"cannot delete from the store: {e}") from e

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` unless the bucket answers (creating it first
        when ``S3_CREATE_BUCKET`` is set)."""
        try:
            if not self._client.bucket_exists(self.bucket):
                if not self._create_bucket:
                    raise StoreUnavailable(f"bucket {self.bucket!r} does not exist")
                self._client.make_bucket(self.bucket)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"store unreachable: {e}") from e
